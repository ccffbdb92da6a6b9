//! Taking a message in, whatever brought it: SMTP DATA/BDAT ([`crate::smtp`]) and the HTTP
//! API ([`crate::api`]) end here alike. One rule for a policy stage's verdict
//! ([`run_stage`]), one way to stamp the content ([`stamp`]), and one commit ([`commit`]):
//! the data hook's decision applied, the message appended to the spool in the same group
//! commit as every other, the `accepted` event, the delivery queue, the tenant's capture
//! sample ([`crate::queue::capture`]) — and only then an outcome the transport may answer as
//! "queued".

use crate::pipeline::{Decision, HookInput, PipelineRun, Stage, Verdict};
use crate::queue::capture::Sample;
use crate::queue::envelope::ApiFields;
use crate::queue::{Envelope, QueueId};
use crate::server::Relay;
use crate::smtp::headers;
use crate::smtp::reply::{self, Reply};
use std::time::SystemTime;

/// Runs one stage of a tenant's chain. A reject or tempfail is logged (`policy_rejected`)
/// and becomes the reply to give; a quarantine or discard before the data stage is kept in
/// `held` for the end of the transaction, which goes on.
pub async fn run_stage(
    run: &mut PipelineRun,
    input: &HookInput<'_>,
    held: &mut Option<Verdict>,
) -> Result<Decision, Reply> {
    let decision = run.run(input).await;
    match &decision.verdict {
        Verdict::Reject(r) | Verdict::Tempfail(r) => {
            tracing::info!(
                target: "sluice::event", event = "policy_rejected", tenant = %input.tenant, stage = ?input.stage,
                queue_id = input.queue_id.unwrap_or("-"), reply = %r, by = decision.explain.as_deref().unwrap_or("-"),
            );
            Err(r.clone())
        }
        Verdict::Quarantine(_) | Verdict::Discard if input.stage != Stage::Data => {
            held.get_or_insert(decision.verdict.clone());
            Ok(Decision {
                verdict: Verdict::Continue,
                ..decision
            })
        }
        _ => Ok(decision),
    }
}

/// The message as the data hook sees it and the spool keeps it: the transport's Received
/// header, a Date and a Message-ID when the content has none, then the content.
pub fn stamp(
    received: &str,
    content: &[u8],
    id: &QueueId,
    hostname: &str,
    now: SystemTime,
) -> Vec<u8> {
    let mut message = Vec::with_capacity(content.len() + received.len() + 128);
    message.extend_from_slice(received.as_bytes());
    let (has_id, has_date) = headers::has_id_and_date(content);
    if !has_date {
        message.extend_from_slice(format!("Date: {}\r\n", headers::rfc5322_date(now)).as_bytes());
    }
    if !has_id {
        let nonce: u32 = rand::random();
        message
            .extend_from_slice(format!("Message-ID: <{id}.{nonce:08x}@{hostname}>\r\n").as_bytes());
    }
    message.extend_from_slice(content);
    message
}

/// What became of a message at the end of its transaction. All but `Failed` are answered as
/// queued, with the queue id: a client is not told that policy discarded or held its message.
#[derive(Debug)]
pub enum Outcome {
    /// In the spool (synced) and handed to delivery.
    Queued,
    /// Held for an operator under `spool/quarantine/`.
    Quarantined,
    /// Dropped by policy.
    Discarded,
    /// Not taken: the reply says why (the spool write failed).
    Failed(Reply),
}

/// Applies the data hook's `decision` (or a verdict `held` from an earlier stage when the data
/// hook did not decide), commits the message to the spool and hands it to delivery. A
/// capture `sample` is kept only for a message queued for delivery (not one quarantined,
/// discarded or not taken).
pub async fn commit(
    relay: &Relay,
    mut envelope: Envelope,
    mut message: Vec<u8>,
    decision: Decision,
    held: Option<Verdict>,
    sample: Option<Sample>,
) -> Outcome {
    let id = envelope.id.clone();
    let verdict = match (decision.verdict, held) {
        (Verdict::Continue | Verdict::Accept, Some(held)) => held,
        (v, _) => v,
    };
    if verdict == Verdict::Discard {
        tracing::info!(target: "sluice::event", event = "discarded", queue_id = %id, tenant = %envelope.tenant,
            by = decision.explain.as_deref().unwrap_or("-"));
        return Outcome::Discarded;
    }
    if !decision.add_headers.is_empty() {
        // Checked and folded by the one set of rules a plugin's answer was checked against
        // (`sluice_wire::header`); a field that fails them never reaches the queue.
        let mut added = String::new();
        for (name, value) in &decision.add_headers {
            match sluice_wire::header::field(name, value) {
                Ok(f) => added.push_str(&f),
                Err(e) => {
                    tracing::warn!(queue_id = %id, header = %name.escape_debug(), error = %e, "added header dropped")
                }
            }
        }
        message.splice(0..0, added.into_bytes());
    }
    envelope.tags = decision.tags;
    let size = message.len();
    if let Verdict::Quarantine(reason) = verdict {
        return match relay.quarantine.hold(&envelope, &message, &reason).await {
            Ok(()) => {
                tracing::warn!(target: "sluice::event", event = "quarantined", queue_id = %id, tenant = %envelope.tenant, reason = %reason);
                Outcome::Quarantined
            }
            Err(e) => {
                tracing::error!(target: "sluice::event", event = "spool_failed", queue_id = %id, error = %e);
                Outcome::Failed(reply::SPOOL_FAILED)
            }
        };
    }
    let started = std::time::Instant::now();
    let committed = relay.spool.commit(envelope, message).await;
    let m = crate::metrics::get();
    m.spool_commit_seconds
        .observe(started.elapsed().as_secs_f64());
    match committed {
        Ok(stored) => {
            let env = &stored.envelope;
            let tenant = [env.tenant.as_str()];
            m.messages_accepted.with_label_values(&tenant).inc();
            m.bytes_accepted
                .with_label_values(&tenant)
                .inc_by(stored.location.body_len);
            let api_tags = ApiFields::tags_field(&env.api);
            let metadata = ApiFields::metadata_field(&env.api);
            tracing::info!(
                target: "sluice::event",
                event = "accepted",
                queue_id = %id,
                tenant = %env.tenant,
                from = %env.mail_from,
                rcpts = env.rcpts.len(),
                size,
                client = %env.client_ip,
                tls = env.tls.as_deref().unwrap_or("none"),
                tags = %env.tags.join(","),
                api_tags = api_tags.as_deref(),
                metadata = metadata.as_deref(),
            );
            if let Some(sample) = sample {
                sample.keep(env);
            }
            relay.queue.submit(stored);
            Outcome::Queued
        }
        Err(e) => {
            tracing::error!(target: "sluice::event", event = "spool_failed", queue_id = %id, error = %e);
            Outcome::Failed(reply::SPOOL_FAILED)
        }
    }
}
