//! Delivery: workers that take ready messages from the schedule, hand them to the transport
//! (a local Maildir or a smarthost), and settle each recipient: delivered, retried later, or
//! failed. A message leaves the spool only when no recipient is left to try.

pub mod client;
pub mod maildir;

use crate::config::{Config, DeliveryMode, SmarthostTls};
use crate::pipeline::{Route, SharedPolicies};
use crate::queue::envelope::unix_now;
use crate::queue::schedule::{retry_delay, Queue, Ready};
use crate::queue::{Spool, Stored};
use client::{Client, Settings};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How one recipient fared in one attempt.
#[derive(Debug, Clone)]
pub enum RcptOutcome {
    Delivered { reply: String, peer: Option<String> },
    Deferred { reason: String },
    Failed { reply: String },
}

enum Transport {
    Maildir { root: PathBuf },
    Smarthost(Settings),
}

/// An idle outbound connection is closed after this long.
const IDLE_CONNECTION: Duration = Duration::from_secs(5);

struct Deliverer {
    config: Arc<Config>,
    /// Consulted per recipient domain before each attempt (the routing hook).
    policies: SharedPolicies,
    transport: Transport,
    spool: Spool,
    queue: Queue,
}

/// Starts `concurrency` delivery workers. They stop taking new messages when `shutdown`
/// turns true and finish the one in hand.
pub fn start(
    config: Arc<Config>,
    policies: SharedPolicies,
    spool: Spool,
    queue: Queue,
    ready: Ready,
    shutdown: watch::Receiver<bool>,
) -> Result<JoinSet<()>, crate::tls::TlsError> {
    let transport = match &config.delivery.mode {
        DeliveryMode::Local { maildir } => Transport::Maildir {
            root: maildir.clone(),
        },
        DeliveryMode::Smarthost {
            host,
            port,
            tls,
            ca_file,
        } => Transport::Smarthost(Settings {
            host: host.clone(),
            port: *port,
            helo: config.hostname.clone(),
            tls: *tls,
            tls_config: match tls {
                SmarthostTls::Required => crate::tls::verifying_client(ca_file.as_deref())?,
                _ => crate::tls::opportunistic_client(),
            },
            connect_timeout: config.delivery.connect_timeout,
            command_timeout: config.delivery.command_timeout,
        }),
    };
    let d = Arc::new(Deliverer {
        config: config.clone(),
        policies,
        transport,
        spool,
        queue,
    });
    let mut set = JoinSet::new();
    for _ in 0..config.delivery.concurrency {
        set.spawn(d.clone().worker(ready.clone(), shutdown.clone()));
    }
    Ok(set)
}

impl Deliverer {
    async fn worker(self: Arc<Self>, ready: Ready, mut shutdown: watch::Receiver<bool>) {
        let mut conn: Option<Client> = None;
        loop {
            let next = {
                let mut rx = ready.lock().await;
                let idle = if conn.is_some() {
                    IDLE_CONNECTION
                } else {
                    Duration::from_secs(86400)
                };
                tokio::select! {
                    m = tokio::time::timeout(idle, rx.recv()) => m,
                    _ = shutdown.wait_for(|s| *s) => break,
                }
            };
            match next {
                Ok(Some(message)) => self.deliver(message, &mut conn).await,
                Ok(None) => break,
                Err(_) => {
                    if let Some(c) = conn.take() {
                        c.quit().await;
                    }
                }
            }
        }
        if let Some(c) = conn.take() {
            c.quit().await;
        }
    }

    async fn deliver(&self, message: Stored, conn: &mut Option<Client>) {
        let body = match self.spool.read(message.location).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(queue_id = %message.envelope.id, error = %e, "cannot read message from spool");
                let outcomes = message
                    .envelope
                    .rcpts
                    .iter()
                    .map(|r| {
                        (
                            r.clone(),
                            RcptOutcome::Deferred {
                                reason: e.to_string(),
                            },
                        )
                    })
                    .collect();
                return self.settle(message, Vec::new(), outcomes, None).await;
            }
        };
        // The routing hook decides per recipient domain; held recipients wait for a retry.
        let mut held = Vec::new();
        let mut to_send = message.envelope.clone();
        to_send.rcpts.clear();
        let pipeline =
            crate::pipeline::current(&self.policies).for_tenant(&message.envelope.tenant);
        for rcpt in &message.envelope.rcpts {
            let domain = rcpt.rsplit_once('@').map_or("", |(_, d)| d);
            match pipeline.route(&message.envelope.tenant, domain).await {
                Route::Default => to_send.rcpts.push(rcpt.clone()),
                Route::Hold => held.push((
                    rcpt.clone(),
                    RcptOutcome::Deferred {
                        reason: "held by routing policy".into(),
                    },
                )),
            }
        }
        if to_send.rcpts.is_empty() {
            return self.settle(message, body, held, None).await;
        }
        let sending = Stored {
            envelope: to_send,
            location: message.location,
        };
        let (mut outcomes, tls) = match &self.transport {
            Transport::Maildir { root } => {
                let (root, env, host) = (
                    root.clone(),
                    sending.envelope.clone(),
                    self.config.hostname.clone(),
                );
                let b = body.clone();
                let outcomes =
                    tokio::task::spawn_blocking(move || maildir::deliver(&root, &env, &b, &host))
                        .await
                        .unwrap_or_default();
                (outcomes, None)
            }
            Transport::Smarthost(settings) => self.smarthost(settings, &sending, &body, conn).await,
        };
        outcomes.extend(held);
        self.settle(message, body, outcomes, tls).await;
    }

    async fn smarthost(
        &self,
        settings: &Settings,
        message: &Stored,
        body: &[u8],
        conn: &mut Option<Client>,
    ) -> (Vec<(String, RcptOutcome)>, Option<String>) {
        let env = &message.envelope;
        // A reused connection may have been closed by the peer while idle: one fresh retry.
        for fresh in [conn.is_none(), true] {
            if conn.is_none() {
                match Client::connect(settings).await {
                    Ok(c) => *conn = Some(c),
                    Err(f) => return (all(env, &f), None),
                }
            }
            let Some(c) = conn.as_mut() else { break };
            match c
                .send(
                    &env.mail_from,
                    &env.rcpts,
                    body,
                    env.smtputf8,
                    env.eight_bit,
                )
                .await
            {
                Ok(outcomes) => {
                    let tls = c.tls.clone();
                    return (env.rcpts.iter().cloned().zip(outcomes).collect(), tls);
                }
                Err(f) => {
                    *conn = None;
                    if fresh {
                        return (all(env, &f), None);
                    }
                }
            }
        }
        (
            all(
                env,
                &client::Failure {
                    permanent: false,
                    reason: "no connection".into(),
                },
            ),
            None,
        )
    }

    /// Logs each recipient's outcome and updates the spool and schedule.
    async fn settle(
        &self,
        message: Stored,
        body: Vec<u8>,
        outcomes: Vec<(String, RcptOutcome)>,
        tls: Option<String>,
    ) {
        let env = &message.envelope;
        let attempt = env.attempts + 1;
        let mut remaining = Vec::new();
        let expired =
            unix_now().saturating_sub(env.received_at) >= self.config.delivery.max_age.as_secs();
        for (rcpt, outcome) in outcomes {
            let tls = tls.as_deref().unwrap_or("none");
            match outcome {
                RcptOutcome::Delivered { reply, peer } => tracing::info!(
                    target: "sluice::event", event = "delivered", queue_id = %env.id, tenant = %env.tenant,
                    rcpt = %rcpt, attempt, peer = peer.as_deref().unwrap_or("local"), tls, reply = %reply,
                ),
                RcptOutcome::Failed { reply } => tracing::warn!(
                    target: "sluice::event", event = "bounced", queue_id = %env.id, tenant = %env.tenant,
                    rcpt = %rcpt, attempt, reply = %reply,
                ),
                RcptOutcome::Deferred { reason } if expired => tracing::warn!(
                    target: "sluice::event", event = "expired", queue_id = %env.id, tenant = %env.tenant,
                    rcpt = %rcpt, attempt, reason = %reason,
                ),
                RcptOutcome::Deferred { reason } => {
                    tracing::info!(
                        target: "sluice::event", event = "deferred", queue_id = %env.id, tenant = %env.tenant,
                        rcpt = %rcpt, attempt, reason = %reason,
                    );
                    remaining.push(rcpt);
                }
            }
        }
        if remaining.is_empty() {
            self.spool.complete(message.location);
            self.queue.finished();
            return;
        }
        let delay = retry_delay(&self.config.delivery.retry, attempt);
        let mut envelope = message.envelope.clone();
        envelope.rcpts = remaining;
        envelope.attempts = attempt;
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
}

fn all(env: &crate::queue::Envelope, f: &client::Failure) -> Vec<(String, RcptOutcome)> {
    env.rcpts
        .iter()
        .map(|r| {
            let o = if f.permanent {
                RcptOutcome::Failed {
                    reply: f.reason.clone(),
                }
            } else {
                RcptOutcome::Deferred {
                    reason: f.reason.clone(),
                }
            };
            (r.clone(), o)
        })
        .collect()
}
