//! The queue over the API: list and show read the spool files; retry and delete are carried
//! out by the schedule, which owns the messages waiting for their next attempt. Quarantined
//! messages are listed and released here too.

use super::authorize;
use super::problem::Problem;
use crate::config::resolved::AdminScope;
use crate::queue::envelope::unix_now;
use crate::queue::spool;
use crate::server::Relay;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

/// One line of `sluice queue list`, as JSON.
pub fn summary(m: &crate::queue::Stored) -> serde_json::Value {
    let e = &m.envelope;
    json!({
        "id": e.id.0,
        "tenant": e.tenant,
        "from": e.mail_from,
        "rcpts": e.rcpts,
        "attempts": e.attempts,
        "age_seconds": unix_now().saturating_sub(e.received_at),
        "size": m.location.body_len,
        "tags": e.tags,
    })
}

async fn spool_messages(relay: &Relay) -> Result<Vec<crate::queue::Stored>, Problem> {
    let dir = relay.current().config.spool.dir.clone();
    tokio::task::spawn_blocking(move || spool::inspect(&dir))
        .await
        .map_err(|e| Problem::internal(e.to_string()))?
        .map_err(|e| Problem::internal(format!("reading the spool: {e}")))
}

pub async fn list(State(relay): State<Arc<Relay>>, headers: HeaderMap) -> Response {
    if let Err(p) = authorize(&relay, &headers, AdminScope::Read) {
        return p.into_response();
    }
    match spool_messages(&relay).await {
        Ok(messages) => {
            let list: Vec<_> = messages.iter().map(summary).collect();
            Json(json!({ "count": list.len(), "messages": list })).into_response()
        }
        Err(p) => p.into_response(),
    }
}

pub async fn show(
    State(relay): State<Arc<Relay>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(p) = authorize(&relay, &headers, AdminScope::Read) {
        return p.into_response();
    }
    let messages = match spool_messages(&relay).await {
        Ok(m) => m,
        Err(p) => return p.into_response(),
    };
    let Some(m) = messages
        .into_iter()
        .find(|m| m.envelope.id.0.eq_ignore_ascii_case(&id))
    else {
        return Problem::not_found(format!("no message {id} in the queue")).into_response();
    };
    let bytes = match relay.spool.read(m.location).await {
        Ok(b) => b,
        Err(e) => return Problem::internal(format!("reading {id}: {e}")).into_response(),
    };
    let (headers, body_bytes) = split_headers(&bytes);
    Json(json!({
        "envelope": m.envelope,
        "headers": String::from_utf8_lossy(headers),
        "body_bytes": body_bytes,
    }))
    .into_response()
}

/// The header section (with its last CRLF) and the size of the body after the blank line.
pub fn split_headers(bytes: &[u8]) -> (&[u8], usize) {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |p| p + 2);
    (&bytes[..end], bytes.len().saturating_sub(end + 2))
}

pub async fn retry(
    State(relay): State<Arc<Relay>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    retry_now(relay, headers, Some(id)).await
}

pub async fn retry_all(State(relay): State<Arc<Relay>>, headers: HeaderMap) -> Response {
    retry_now(relay, headers, None).await
}

async fn retry_now(relay: Arc<Relay>, headers: HeaderMap, id: Option<String>) -> Response {
    if let Err(p) = authorize(&relay, &headers, AdminScope::Admin) {
        return p.into_response();
    }
    let n = relay.queue.retry_now(id.clone()).await;
    tracing::info!(target: "sluice::event", event = "retry_now", queue_id = id.as_deref().unwrap_or("all"), messages = n);
    match (n, id) {
        (0, Some(id)) => Problem::not_found(format!(
            "{id} is not waiting for a retry (unknown, or being delivered now)"
        ))
        .into_response(),
        (n, _) => Json(json!({ "retried": n })).into_response(),
    }
}

pub async fn delete(
    State(relay): State<Arc<Relay>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(p) = authorize(&relay, &headers, AdminScope::Admin) {
        return p.into_response();
    }
    match relay.queue.remove(id.clone()).await {
        Some(stored) => {
            relay.spool.complete(stored.location);
            let e = &stored.envelope;
            tracing::warn!(target: "sluice::event", event = "deleted", queue_id = %e.id,
                tenant = %e.tenant, rcpts = e.rcpts.len(), by = "operator");
            Json(json!({ "deleted": e.id.0, "recipients": e.rcpts.len() })).into_response()
        }
        None => Problem::not_found(format!(
            "{id} is not waiting for a retry (unknown, or being delivered now)"
        ))
        .into_response(),
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

pub async fn quarantined(State(relay): State<Arc<Relay>>, headers: HeaderMap) -> Response {
    if let Err(p) = authorize(&relay, &headers, AdminScope::Read) {
        return p.into_response();
    }
    match relay.quarantine.list() {
        Ok(held) => {
            let list: Vec<_> = held.iter().map(held_json).collect();
            Json(json!({ "count": list.len(), "messages": list })).into_response()
        }
        Err(e) => Problem::internal(format!("reading the quarantine: {e}")).into_response(),
    }
}

pub async fn release(
    State(relay): State<Arc<Relay>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(p) = authorize(&relay, &headers, AdminScope::Admin) {
        return p.into_response();
    }
    match relay.quarantine.release(&id) {
        Ok(()) => {
            let taken = relay.take_released().await;
            Json(json!({ "released": id, "queued": taken })).into_response()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Problem::not_found(e.to_string()).into_response()
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Problem::new(
            axum::http::StatusCode::BAD_REQUEST,
            "Bad queue id",
            e.to_string(),
        )
        .into_response(),
        Err(e) => Problem::internal(e.to_string()).into_response(),
    }
}
