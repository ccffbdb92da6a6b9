//! After an attempt: one event per recipient, DSNs to the sender, the delivery-result hook,
//! and the spool brought up to date (the message completed, or rewritten with what is left).

use super::dsn::{self, Entry, Kind};
use super::{Attempt, Deliverer, RcptOutcome};
use crate::pipeline::{DeliveryResult, Outcome};
use crate::queue::envelope::{unix_now, ApiFields, AttemptLog, RcptLog};
use crate::queue::schedule::retry_delay;
use crate::queue::{Envelope, QueueId, Stored};
use std::sync::Arc;

impl Deliverer {
    pub(super) async fn settle(&self, message: Stored, body: Arc<Vec<u8>>, attempts: Vec<Attempt>) {
        let env = &message.envelope;
        let attempt = env.attempts + 1;
        let now = unix_now();
        let age = now.saturating_sub(env.received_at);
        let max_age = self.max_age(env);
        let expired = age >= max_age.as_secs();
        let delay = retry_delay(&self.config.delivery.retry, attempt);
        let next_retry = now + delay.as_secs();
        let tags = env.tags.join(",");
        // What the application sent through the HTTP API, for its events (none for SMTP).
        let api_tags = ApiFields::tags_field(&env.api);
        let api_tags = api_tags.as_deref();
        let metadata = ApiFields::metadata_field(&env.api);
        let metadata = metadata.as_deref();
        let mut remaining: Vec<(String, String)> = Vec::new();
        let mut failed = Vec::new();
        let mut relayed = Vec::new();
        let mut results = Vec::new();
        let mut log = Vec::new();
        for a in attempts {
            let tls = a.tls.as_deref().unwrap_or("none");
            let remote = a.remote.as_deref().unwrap_or("-");
            let dsn = env.rcpt_dsn(&a.rcpt);
            let rcpt = &a.rcpt;
            let entry = |diagnostic: &str, status: Option<&str>| Entry {
                rcpt: a.rcpt.clone(),
                diagnostic: diagnostic.to_owned(),
                remote: a.remote.clone(),
                status: status.map(str::to_owned),
            };
            let label = match &a.outcome {
                RcptOutcome::Delivered { .. } => "delivered",
                RcptOutcome::Deferred { .. } => "deferred",
                RcptOutcome::Failed { .. } => "failed",
            };
            crate::metrics::get()
                .delivery_attempts
                .with_label_values(&[label])
                .inc();
            let (outcome, text) = match &a.outcome {
                RcptOutcome::Delivered { reply } => {
                    tracing::info!(
                        target: "sluice::event", event = "delivered", queue_id = %env.id, tenant = %env.tenant,
                        rcpt = %rcpt, attempt, remote, tls, reply = %reply, tags, api_tags, metadata,
                        dkim = a.dkim.as_deref().unwrap_or("none"),
                    );
                    if dsn.wants_success() && !a.dsn_passed {
                        relayed.push(entry(reply, None));
                    }
                    (Outcome::Delivered, reply)
                }
                RcptOutcome::Failed { reply } => {
                    tracing::warn!(
                        target: "sluice::event", event = "bounced", queue_id = %env.id, tenant = %env.tenant,
                        rcpt = %rcpt, attempt, remote, tls, reply = %reply, tags, api_tags, metadata,
                    );
                    if dsn.wants_failure() {
                        failed.push(entry(reply, None));
                    }
                    (Outcome::Bounced, reply)
                }
                RcptOutcome::Deferred { reason } if expired => {
                    tracing::warn!(
                        target: "sluice::event", event = "expired", queue_id = %env.id, tenant = %env.tenant,
                        rcpt = %rcpt, attempt, remote, tls, reason = %reason, tags, api_tags, metadata,
                        max_age_s = max_age.as_secs(),
                    );
                    if dsn.wants_failure() {
                        let why = format!(
                            "delivery time expired after {} (last: {reason})",
                            humantime::format_duration(std::time::Duration::from_secs(age))
                        );
                        failed.push(entry(&why, Some("4.4.7")));
                    }
                    (Outcome::Expired, reason)
                }
                RcptOutcome::Deferred { reason } => {
                    tracing::info!(
                        target: "sluice::event", event = "deferred", queue_id = %env.id, tenant = %env.tenant,
                        rcpt = %rcpt, attempt, remote, tls, reason = %reason, tags, api_tags, metadata,
                        next_retry, next_retry_in_s = delay.as_secs(),
                    );
                    remaining.push((a.rcpt.clone(), reason.clone()));
                    (Outcome::Deferred, reason)
                }
            };
            log.push(RcptLog {
                rcpt: a.rcpt.clone(),
                outcome: if matches!(outcome, Outcome::Expired) {
                    "expired"
                } else {
                    label
                }
                .to_owned(),
                reply: text.clone(),
                remote: a.remote.clone(),
            });
            results.push(DeliveryResult {
                queue_id: env.id.0.clone(),
                tenant: env.tenant.clone(),
                mail_from: env.mail_from.clone(),
                recipient: a.rcpt.clone(),
                outcome,
                reply: text.clone(),
                remote: a.remote.clone(),
                attempt,
                tags: env.tags.clone(),
            });
        }

        // Never a DSN for a DSN (or any null-sender message).
        let mut delay_notified = env.delay_notified;
        if !env.mail_from.is_empty() && !body.is_empty() {
            self.notify(Kind::Failed, env, &body, &failed, None).await;
            self.notify(Kind::Relayed, env, &body, &relayed, None).await;
            if !remaining.is_empty()
                && !delay_notified
                && age >= self.config.delivery.delay_notice_after.as_secs()
            {
                let waiting: Vec<Entry> = remaining
                    .iter()
                    .filter(|(r, _)| env.rcpt_dsn(r).wants_delay())
                    .map(|(r, why)| Entry {
                        rcpt: r.clone(),
                        diagnostic: why.clone(),
                        remote: None,
                        status: None,
                    })
                    .collect();
                let until = env.received_at + max_age.as_secs();
                self.notify(Kind::Delayed, env, &body, &waiting, Some(until))
                    .await;
                delay_notified = true;
            }
        }

        let pipeline = self.policies.for_tenant(&env.tenant);
        if !pipeline.is_empty() {
            tokio::spawn(async move { pipeline.delivery_results(&results).await });
        }

        if remaining.is_empty() {
            self.spool.complete(message.location);
            self.queue.finished();
            return;
        }
        let mut envelope = message.envelope.clone();
        envelope.rcpts = remaining.into_iter().map(|(r, _)| r).collect();
        envelope.attempts = attempt;
        envelope.delay_notified = delay_notified;
        envelope.progress.record(AttemptLog {
            attempt,
            at: now,
            rcpts: log,
        });
        envelope.progress.next_attempt_at = Some(next_retry);
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
        // Rewrite the record with what is left to do, so a restart resumes from here and old
        // segments can be reclaimed.
        // The transports are done with the bytes by now: this takes them back without a copy.
        let body = Arc::try_unwrap(body).unwrap_or_else(|shared| shared.as_ref().clone());
        match self.spool.commit(envelope.clone(), body).await {
            Ok(rewritten) => {
                self.spool.complete(message.location);
                self.queue.defer(rewritten, delay);
            }
            Err(e) => {
                tracing::error!(queue_id = %env.id, error = %e, "cannot rewrite deferred message; keeping the original");
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
