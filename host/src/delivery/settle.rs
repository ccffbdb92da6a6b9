//! After an attempt: one event per recipient, DSNs to the sender, the delivery-result hook,
//! and the spool brought up to date (the message completed, or rewritten with what is left).
//!
//! Every recipient not delivered gets a [`Category`] (see [`super::classify`]): in its
//! `deferred`, `bounced` or `expired` event (`category`, with the enhanced `status`; a
//! bounce also says whether it is `hard`), the `sluice_delivery_failures_total` metric, the
//! attempt recorded in the envelope, and the DSN.

use super::classify::{self, Category};
use super::dsn::{self, Entry, Kind};
use super::reply::{Cause, Response, Status};
use super::{Attempt, Deliverer, Held, RcptOutcome};
use crate::pipeline::{DeliveryResult, Outcome};
use crate::queue::envelope::{unix_now, ApiFields, AttemptLog, Envelope, RcptLog};
use crate::queue::schedule::retry_delay;
use crate::queue::{QueueId, Stored};
use std::sync::Arc;
use std::time::Duration;

/// The facts of this attempt that every recipient's outcome shares.
struct Round {
    attempt: u32,
    age: u64,
    max_age: Duration,
    expired: bool,
    delay: Duration,
    next_retry: u64,
    tags: String,
    /// What the application sent through the HTTP API, for its events (none for SMTP).
    api_tags: Option<String>,
    metadata: Option<String>,
}

/// What the recipients of one attempt add up to.
#[derive(Default)]
struct Tally {
    /// Recipients to try again, with why they wait.
    remaining: Vec<(String, Response, Category)>,
    /// DSN entries: failures and "relayed" reports.
    failed: Vec<Entry>,
    relayed: Vec<Entry>,
    /// For the delivery-result hook.
    results: Vec<DeliveryResult>,
    /// For the envelope's history.
    log: Vec<RcptLog>,
    /// Hard bounces (recipient, reply), for the tenant's suppression list.
    hard: Vec<(String, String)>,
}

impl Deliverer {
    /// Settles `attempts`; recipients shaping `held` stay for the next round, which comes
    /// no later than they may go.
    pub(super) async fn settle(
        &self,
        message: Stored,
        body: Arc<Vec<u8>>,
        attempts: Vec<Attempt>,
        held: Held,
    ) {
        let env = &message.envelope;
        let attempt = env.attempts + 1;
        let now = unix_now();
        let age = now.saturating_sub(env.received_at);
        let max_age = self.max_age(env);
        let mut delay = retry_delay(&self.config.delivery.retry, attempt);
        if let Some(wait) = held.wait {
            delay = delay.min(wait);
        }
        let round = Round {
            attempt,
            age,
            max_age,
            expired: age >= max_age.as_secs(),
            delay,
            next_retry: now + delay.as_secs(),
            tags: env.tags.join(","),
            api_tags: ApiFields::tags_field(&env.api),
            metadata: ApiFields::metadata_field(&env.api),
        };
        let mut tally = Tally::default();
        for a in attempts {
            record(env, &round, a, &mut tally);
        }
        let waiting = Response::local(Cause::Shaping, Status::new(4, 7, 0), held.reason);
        for rcpt in held.rcpts {
            tally
                .remaining
                .push((rcpt, waiting.clone(), Category::RateLimited));
        }
        for (rcpt, reply) in std::mem::take(&mut tally.hard) {
            self.suppressions.on_hard_bounce(&env.tenant, &rcpt, reply);
        }
        let delay_notified = self.notify_sender(env, &body, &round, &tally).await;

        let pipeline = self.policies.for_tenant(&env.tenant);
        if !pipeline.is_empty() {
            let results = std::mem::take(&mut tally.results);
            tokio::spawn(async move { pipeline.delivery_results(&results).await });
        }

        if tally.remaining.is_empty() {
            self.spool.complete(message.location);
            self.queue.finished();
            return;
        }
        let mut envelope = message.envelope.clone();
        envelope.rcpts = tally.remaining.into_iter().map(|(r, ..)| r).collect();
        envelope.attempts = attempt;
        envelope.delay_notified = delay_notified;
        envelope.progress.record(AttemptLog {
            attempt,
            at: now,
            rcpts: tally.log,
        });
        envelope.progress.next_attempt_at = Some(round.next_retry);
        self.keep(message, envelope, body, delay).await;
    }

    /// The DSNs this attempt calls for: failures, "relayed" reports, and the one delay
    /// notice once the message has waited `delay_notice_after`. Never a DSN for a DSN (or
    /// any null-sender message). Whether a delay notice has gone out, now or before.
    async fn notify_sender(&self, env: &Envelope, body: &[u8], round: &Round, t: &Tally) -> bool {
        if env.mail_from.is_empty() || body.is_empty() {
            return env.delay_notified;
        }
        self.notify(Kind::Failed, env, body, &t.failed, None).await;
        self.notify(Kind::Relayed, env, body, &t.relayed, None)
            .await;
        if t.remaining.is_empty()
            || env.delay_notified
            || round.age < self.config.delivery.delay_notice_after.as_secs()
        {
            return env.delay_notified;
        }
        let waiting: Vec<Entry> = t
            .remaining
            .iter()
            .filter(|(r, ..)| env.rcpt_dsn(r).wants_delay())
            .map(|(r, why, category)| Entry {
                rcpt: r.clone(),
                response: why.clone(),
                remote: None,
                category: Some(*category),
                status: None,
                note: None,
            })
            .collect();
        let until = env.received_at + round.max_age.as_secs();
        self.notify(Kind::Delayed, env, body, &waiting, Some(until))
            .await;
        true
    }

    /// Rewrites the record with what is left to do, so a restart resumes from here and old
    /// segments can be reclaimed, and schedules the next attempt.
    async fn keep(&self, message: Stored, envelope: Envelope, body: Arc<Vec<u8>>, delay: Duration) {
        if body.is_empty() {
            // The bytes could not be read: keep the record where it is and try again.
            return self.queue.defer(
                Stored {
                    envelope,
                    location: message.location,
                },
                delay,
            );
        }
        // The transports are done with the bytes by now: this takes them back without a copy.
        let body = Arc::try_unwrap(body).unwrap_or_else(|shared| shared.as_ref().clone());
        match self.spool.commit(envelope.clone(), body).await {
            Ok(rewritten) => {
                self.spool.complete(message.location);
                self.queue.defer(rewritten, delay);
            }
            Err(e) => {
                tracing::error!(queue_id = %envelope.id, error = %e, "cannot rewrite deferred message; keeping the original");
                self.queue.defer(
                    Stored {
                        envelope,
                        location: message.location,
                    },
                    delay,
                );
            }
        }
    }

    /// Queues a DSN of `kind` about `entries` to the envelope sender.
    async fn notify(
        &self,
        kind: Kind,
        env: &Envelope,
        body: &[u8],
        entries: &[Entry],
        retry_until: Option<u64>,
    ) {
        if entries.is_empty() {
            return;
        }
        let report = dsn::build(kind, env, body, entries, &self.config.hostname, retry_until);
        let id = QueueId::generate();
        let envelope = Envelope {
            id: id.clone(),
            tenant: env.tenant.clone(),
            mail_from: String::new(),
            rcpts: vec![env.mail_from.clone()],
            received_at: unix_now(),
            attempts: 0,
            client_ip: "127.0.0.1".into(),
            helo: self.config.hostname.clone(),
            auth_user: None,
            tls: None,
            smtputf8: env.smtputf8,
            eight_bit: true,
            tags: vec!["dsn".into()],
            dsn: Default::default(),
            require_tls: false,
            delay_notified: false,
            progress: Default::default(),
            api: None,
        };
        match self.spool.commit(envelope, report).await {
            Ok(stored) => {
                tracing::info!(
                    target: "sluice::event", event = "dsn", queue_id = %env.id, tenant = %env.tenant,
                    dsn_queue_id = %id, kind = ?kind, to = %env.mail_from, rcpts = entries.len(),
                );
                self.queue.submit(stored);
            }
            Err(e) => tracing::error!(
                queue_id = %env.id, error = %e, "cannot queue the delivery status notification"
            ),
        }
    }
}

/// One recipient's outcome: its event, its metrics, its DSN entry, its line in the
/// envelope's history and its delivery result.
fn record(env: &Envelope, round: &Round, a: Attempt, t: &mut Tally) {
    let (attempt, tags) = (round.attempt, round.tags.as_str());
    let (api_tags, metadata) = (round.api_tags.as_deref(), round.metadata.as_deref());
    let tls = a.tls.as_deref().unwrap_or("none");
    let remote = a.remote.as_deref().unwrap_or("-");
    let dsn = env.rcpt_dsn(&a.rcpt);
    let rcpt = &a.rcpt;
    let label = match &a.outcome {
        RcptOutcome::Delivered(_) => "delivered",
        RcptOutcome::Deferred(_) => "deferred",
        RcptOutcome::Failed(_) => "failed",
    };
    crate::metrics::get()
        .delivery_attempts
        .with_label_values(&[label])
        .inc();
    let response = a.outcome.response();
    let category = category_of(env, rcpt, response);
    let status = response.status().map(|s| s.to_string());
    let status = status.as_deref();
    let entry = |category: Option<Category>| Entry {
        rcpt: a.rcpt.clone(),
        response: response.clone(),
        remote: a.remote.clone(),
        category,
        status: None,
        note: None,
    };
    let outcome = match &a.outcome {
        RcptOutcome::Delivered(reply) => {
            tracing::info!(
                target: "sluice::event", event = "delivered", queue_id = %env.id, tenant = %env.tenant,
                rcpt = %rcpt, attempt, remote, tls, reply = %reply, tags, api_tags, metadata,
                dkim = a.dkim.as_deref().unwrap_or("none"),
            );
            if dsn.wants_success() && !a.dsn_passed {
                t.relayed.push(entry(None));
            }
            Outcome::Delivered
        }
        RcptOutcome::Failed(reply) => {
            let hard = classify::hard_bounce(reply);
            tracing::warn!(
                target: "sluice::event", event = "bounced", queue_id = %env.id, tenant = %env.tenant,
                rcpt = %rcpt, attempt, remote, tls, reply = %reply, tags, api_tags, metadata,
                category = %category, status, hard,
            );
            if dsn.wants_failure() {
                t.failed.push(entry(Some(category)));
            }
            if hard {
                t.hard.push((rcpt.clone(), reply.to_string()));
            }
            Outcome::Bounced
        }
        RcptOutcome::Deferred(reason) if round.expired => {
            tracing::warn!(
                target: "sluice::event", event = "expired", queue_id = %env.id, tenant = %env.tenant,
                rcpt = %rcpt, attempt, remote, tls, reason = %reason, tags, api_tags, metadata,
                category = %category, status, max_age_s = round.max_age.as_secs(),
            );
            if dsn.wants_failure() {
                t.failed.push(Entry {
                    status: Some(Status::new(4, 4, 7)),
                    note: Some(format!(
                        "delivery time expired after {}; last problem: {} ({category})",
                        humantime::format_duration(Duration::from_secs(round.age)),
                        category.describe(),
                    )),
                    ..entry(Some(category))
                });
            }
            Outcome::Expired
        }
        RcptOutcome::Deferred(reason) => {
            tracing::info!(
                target: "sluice::event", event = "deferred", queue_id = %env.id, tenant = %env.tenant,
                rcpt = %rcpt, attempt, remote, tls, reason = %reason, tags, api_tags, metadata,
                category = %category, status,
                next_retry = round.next_retry, next_retry_in_s = round.delay.as_secs(),
            );
            t.remaining.push((a.rcpt.clone(), reason.clone(), category));
            Outcome::Deferred
        }
    };
    remember(env, attempt, &a, outcome, category, t);
}

/// The outcome counted by category, written into the envelope's history, and kept for the
/// delivery-result hook.
fn remember(
    env: &Envelope,
    attempt: u32,
    a: &Attempt,
    outcome: Outcome,
    category: Category,
    t: &mut Tally,
) {
    let response = a.outcome.response();
    let name = match outcome {
        Outcome::Delivered => "delivered",
        Outcome::Bounced => "failed",
        Outcome::Expired => "expired",
        Outcome::Deferred => "deferred",
    };
    let failed = !matches!(outcome, Outcome::Delivered);
    if failed {
        let metric = if name == "failed" { "bounced" } else { name };
        crate::metrics::get()
            .delivery_failures
            .with_label_values(&[metric, category.name()])
            .inc();
    }
    t.log.push(RcptLog {
        rcpt: a.rcpt.clone(),
        outcome: name.to_owned(),
        reply: response.to_string(),
        remote: a.remote.clone(),
        code: response.code(),
        status: response.status(),
        category: failed.then_some(category),
    });
    t.results.push(DeliveryResult {
        queue_id: env.id.0.clone(),
        tenant: env.tenant.clone(),
        mail_from: env.mail_from.clone(),
        recipient: a.rcpt.clone(),
        outcome,
        reply: response.to_string(),
        remote: a.remote.clone(),
        attempt,
        tags: env.tags.clone(),
    });
}

/// The category of a recipient's outcome. A message that expired before it could be tried
/// again keeps the category of its last recorded deferral (the reason it never arrived).
fn category_of(env: &Envelope, rcpt: &str, r: &Response) -> Category {
    match r {
        Response::Local(l) if l.cause == Cause::Expired => env
            .progress
            .last_category_of(rcpt)
            .unwrap_or_else(|| r.category()),
        _ => r.category(),
    }
}
