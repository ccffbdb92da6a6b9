//! The queue over the API: list and show read the spool files, with each message's state
//! from the schedule; retry, hold, release and delete are carried out by the schedule, which
//! owns the messages waiting for their next attempt. Quarantined messages are listed, shown,
//! released and deleted here too.

use super::problem::Problem;
use super::{Admin, Read};
use crate::queue::envelope::unix_now;
use crate::queue::schedule::Scheduled;
use crate::queue::{spool, Envelope, Stored};
use crate::server::Relay;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Where a message stands: `held`, `deferred` (waiting for its next attempt) or `queued`
/// (ready, or being delivered now), with the time of its next attempt when deferred. From
/// the running schedule when there is one (`live`), else from what its envelope recorded.
pub fn state(
    e: &Envelope,
    live: Option<&HashMap<String, Scheduled>>,
) -> (&'static str, Option<u64>) {
    let p = &e.progress;
    match live.map(|l| l.get(&e.id.0)) {
        Some(Some(Scheduled::Held)) => ("held", None),
        Some(Some(Scheduled::Waiting(due))) => ("deferred", Some(unix_now() + due.as_secs())),
        Some(None) => ("queued", None),
        None if p.held => ("held", None),
        None => match p.next_attempt_at {
            Some(at) => ("deferred", Some(at)),
            None => ("queued", None),
        },
    }
}

/// One line of `sluice queue list`, as JSON.
pub fn summary(m: &Stored, live: Option<&HashMap<String, Scheduled>>) -> serde_json::Value {
    let e = &m.envelope;
    let (state, next) = state(e, live);
    json!({
        "id": e.id.0,
        "state": state,
        "tenant": e.tenant,
        "from": e.mail_from,
        "rcpts": e.rcpts,
        "attempts": e.attempts,
        "next_attempt_at": next,
        "last_error": e.progress.last_error(),
        "last_category": e.progress.last_category(),
        "age_seconds": unix_now().saturating_sub(e.received_at),
        "size": m.location.body_len,
        "tags": e.tags,
    })
}

/// A message's summary with its envelope, recent attempts, headers and body size.
pub fn detail(
    m: &Stored,
    live: Option<&HashMap<String, Scheduled>>,
    bytes: &[u8],
) -> serde_json::Value {
    let (headers, body_bytes) = split_headers(bytes);
    let mut v = summary(m, live);
    v["envelope"] = json!(m.envelope);
    v["history"] = json!(m.envelope.progress.history);
    v["headers"] = json!(String::from_utf8_lossy(headers));
    v["body_bytes"] = json!(body_bytes);
    v
}

async fn spool_messages(relay: &Relay) -> Result<Vec<Stored>, Problem> {
    let dir = relay.current().config.spool.dir.clone();
    tokio::task::spawn_blocking(move || spool::inspect(&dir))
        .await
        .map_err(|e| Problem::internal(e.to_string()))?
        .map_err(|e| Problem::internal(format!("reading the spool: {e}")))
}

pub async fn list(_: Read, State(relay): State<Arc<Relay>>) -> Response {
    let live = relay.queue.snapshot().await;
    match spool_messages(&relay).await {
        Ok(messages) => {
            let list: Vec<_> = messages.iter().map(|m| summary(m, Some(&live))).collect();
            Json(json!({ "count": list.len(), "messages": list })).into_response()
        }
        Err(p) => p.into_response(),
    }
}

pub async fn show(_: Read, State(relay): State<Arc<Relay>>, Path(id): Path<String>) -> Response {
    let live = relay.queue.snapshot().await;
    let messages = match spool_messages(&relay).await {
        Ok(m) => m,
        Err(p) => return p.into_response(),
    };
    let Some(m) = messages
        .into_iter()
        .find(|m| m.envelope.id.0.eq_ignore_ascii_case(&id))
    else {
        return not_queued(&relay, &id).into_response();
    };
    match relay.spool.read(m.location).await {
        Ok(bytes) => Json(detail(&m, Some(&live), &bytes)).into_response(),
        Err(e) => Problem::internal(format!("reading {id}: {e}")).into_response(),
    }
}

/// The 404 for an id the spool does not hold: quarantined (and where to look), or unknown.
pub fn not_queued(relay: &Relay, id: &str) -> Problem {
    quarantined_or_unknown(relay.quarantine.get(id).is_ok(), id)
}

/// The same answer for the CLI reading the files.
pub fn quarantined_or_unknown(quarantined: bool, id: &str) -> Problem {
    if quarantined {
        Problem::not_found(format!(
            "{id} is quarantined, not queued: see `sluice quarantine show {id}`"
        ))
        .with("quarantined", true)
    } else {
        Problem::not_found(format!("no message {id} in the queue"))
    }
}

/// Why the schedule could not act on `id`: held, waiting (when a hold was expected), being
/// delivered right now, quarantined, or unknown.
async fn unavailable(relay: &Relay, id: &str) -> Problem {
    let live = relay.queue.snapshot().await;
    match live.iter().find(|(k, _)| k.eq_ignore_ascii_case(id)) {
        Some((_, Scheduled::Held)) => {
            return Problem::conflict(format!(
                "{id} is held: release it first (`sluice queue release {id}`)"
            ))
            .with("state", "held")
        }
        Some((_, Scheduled::Waiting(_))) => {
            return Problem::conflict(format!("{id} is not held (it waits for a retry)"))
                .with("state", "deferred")
        }
        None => {}
    }
    match spool_messages(relay).await {
        Ok(messages)
            if messages
                .iter()
                .any(|m| m.envelope.id.0.eq_ignore_ascii_case(id)) =>
        {
            Problem::conflict(format!(
                "{id} is being delivered now; try again once it waits for a retry"
            ))
            .with("state", "queued")
        }
        _ => not_queued(relay, id),
    }
}

/// The header section (with its last CRLF) and the size of the body after the blank line.
pub fn split_headers(bytes: &[u8]) -> (&[u8], usize) {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |p| p + 2);
    (&bytes[..end], bytes.len().saturating_sub(end + 2))
}

pub async fn retry(_: Admin, State(relay): State<Arc<Relay>>, Path(id): Path<String>) -> Response {
    retry_now(relay, Some(id)).await
}

pub async fn retry_all(_: Admin, State(relay): State<Arc<Relay>>) -> Response {
    retry_now(relay, None).await
}

async fn retry_now(relay: Arc<Relay>, id: Option<String>) -> Response {
    let n = relay.queue.retry_now(id.clone()).await;
    tracing::info!(target: "sluice::event", event = "retry_now", queue_id = id.as_deref().unwrap_or("all"), messages = n);
    match (n, id) {
        (0, Some(id)) => unavailable(&relay, &id).await.into_response(),
        (n, _) => Json(json!({ "retried": n })).into_response(),
    }
}

pub async fn delete(_: Admin, State(relay): State<Arc<Relay>>, Path(id): Path<String>) -> Response {
    match relay.queue.remove(id.clone()).await {
        Some(stored) => {
            relay.spool.complete(stored.location);
            let e = &stored.envelope;
            tracing::warn!(target: "sluice::event", event = "deleted", queue_id = %e.id,
                tenant = %e.tenant, rcpts = e.rcpts.len(), by = "operator");
            Json(json!({ "deleted": e.id.0, "recipients": e.rcpts.len() })).into_response()
        }
        None => unavailable(&relay, &id).await.into_response(),
    }
}

/// Writes a message again with `envelope` (a hold set or lifted) and retires the old record,
/// so the hold outlives a restart.
async fn rewrite(relay: &Relay, old: &Stored, envelope: Envelope) -> Result<Stored, String> {
    let bytes = relay
        .spool
        .read(old.location)
        .await
        .map_err(|e| e.to_string())?;
    let new = relay
        .spool
        .commit(envelope, bytes)
        .await
        .map_err(|e| e.to_string())?;
    relay.spool.complete(old.location);
    Ok(new)
}

/// `POST /v1/queue/{id}/hold`: a message waiting for a retry is not attempted again until
/// released; the hold is written to the spool, so it outlives a restart.
pub async fn hold(_: Admin, State(relay): State<Arc<Relay>>, Path(id): Path<String>) -> Response {
    let Some(stored) = relay.queue.hold(id.clone()).await else {
        return unavailable(&relay, &id).await.into_response();
    };
    let held = record_hold(&relay, &stored, true).await;
    let id = held.envelope.id.0.clone();
    relay.queue.park(held);
    tracing::warn!(target: "sluice::event", event = "held", queue_id = %id, by = "operator");
    Json(json!({ "held": id })).into_response()
}

/// `POST /v1/queue/{id}/release`: a held message is attempted at once.
pub async fn unhold(_: Admin, State(relay): State<Arc<Relay>>, Path(id): Path<String>) -> Response {
    let Some(stored) = relay.queue.unhold(id.clone()).await else {
        return unavailable(&relay, &id).await.into_response();
    };
    let ready = record_hold(&relay, &stored, false).await;
    let id = ready.envelope.id.0.clone();
    relay.queue.defer(ready, Duration::ZERO);
    tracing::info!(target: "sluice::event", event = "unheld", queue_id = %id, by = "operator");
    Json(json!({ "released": id })).into_response()
}

/// Writes a hold (or its release) into the spool, so it outlives a restart. If the spool
/// cannot take it, the change holds in memory all the same: for a hold, safer than sending
/// what the operator stopped; for a release, the message is delivered anyway.
async fn record_hold(relay: &Relay, stored: &Stored, held: bool) -> Stored {
    let mut envelope = stored.envelope.clone();
    envelope.progress.held = held;
    if held {
        envelope.progress.next_attempt_at = None;
    }
    match rewrite(relay, stored, envelope.clone()).await {
        Ok(rewritten) => rewritten,
        Err(e) => {
            tracing::error!(queue_id = %envelope.id, error = %e, held, "cannot record the hold in the spool; it holds in memory until the relay restarts");
            Stored {
                envelope,
                location: stored.location,
            }
        }
    }
}

/// One held message, as JSON.
pub fn held_json(h: &crate::queue::quarantine::Held) -> serde_json::Value {
    let e = &h.envelope;
    json!({
        "id": e.id.0,
        "tenant": e.tenant,
        "from": e.mail_from,
        "rcpts": e.rcpts,
        "reason": h.reason,
        "held_at": h.held_at,
    })
}

pub async fn quarantined(_: Read, State(relay): State<Arc<Relay>>) -> Response {
    match relay.quarantine.list() {
        Ok(held) => {
            let list: Vec<_> = held.iter().map(held_json).collect();
            Json(json!({ "count": list.len(), "messages": list })).into_response()
        }
        Err(e) => Problem::internal(format!("reading the quarantine: {e}")).into_response(),
    }
}

/// A quarantine error as a problem: unknown id 404, malformed id 400.
fn quarantine_problem(e: std::io::Error) -> Problem {
    match e.kind() {
        std::io::ErrorKind::NotFound => Problem::not_found(e.to_string()),
        std::io::ErrorKind::InvalidInput => Problem::new(
            axum::http::StatusCode::BAD_REQUEST,
            "Bad queue id",
            e.to_string(),
        ),
        _ => Problem::internal(e.to_string()),
    }
}

pub async fn release(
    _: Admin,
    State(relay): State<Arc<Relay>>,
    Path(id): Path<String>,
) -> Response {
    match relay.quarantine.release(&id) {
        Ok(()) => {
            let taken = relay.take_released().await;
            Json(json!({ "released": id, "queued": taken })).into_response()
        }
        Err(e) => quarantine_problem(e).into_response(),
    }
}

/// `GET /v1/quarantine/{id}`: one held message, its headers and body size.
pub async fn quarantined_one(
    _: Read,
    State(relay): State<Arc<Relay>>,
    Path(id): Path<String>,
) -> Response {
    match relay.quarantine.get(&id) {
        Ok((held, bytes)) => Json(held_detail(&held, &bytes)).into_response(),
        Err(e) => quarantine_problem(e).into_response(),
    }
}

/// A held message with its envelope, headers and body size.
pub fn held_detail(held: &crate::queue::quarantine::Held, bytes: &[u8]) -> serde_json::Value {
    let (headers, body_bytes) = split_headers(bytes);
    let mut v = held_json(held);
    v["envelope"] = json!(held.envelope);
    v["headers"] = json!(String::from_utf8_lossy(headers));
    v["body_bytes"] = json!(body_bytes);
    v
}

/// `DELETE /v1/quarantine/{id}`: the held message is dropped (no delivery, no DSN).
pub async fn quarantine_delete(
    _: Admin,
    State(relay): State<Arc<Relay>>,
    Path(id): Path<String>,
) -> Response {
    match relay.quarantine.delete(&id) {
        Ok(held) => {
            let e = &held.envelope;
            tracing::warn!(target: "sluice::event", event = "quarantine_deleted", queue_id = %e.id,
                tenant = %e.tenant, rcpts = e.rcpts.len(), by = "operator");
            Json(json!({ "deleted": e.id.0, "recipients": e.rcpts.len() })).into_response()
        }
        Err(e) => quarantine_problem(e).into_response(),
    }
}
