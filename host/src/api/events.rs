//! `GET /v1/events`: the calling tenant's events from the journal, oldest first, a page at a
//! time.
//!
//! `?after=ID` starts after that event (default: the oldest kept), `limit` (1–1000, default
//! 100) caps the page, `event=a,b` and `queue_id=Q` filter. The answer's `next` is the
//! `after` of the next page (the last event examined, whoever it was for), and `more` says
//! whether the page stopped before the end of the journal; a poller keeps `next` and asks
//! again. A page examines at most [`BUDGET`] journal records, so a tenant with few events
//! among many gets short (even empty) pages with `more: true` rather than a slow answer.

use super::EventReader;
use crate::admin::problem::Problem;
use crate::events::reader::{page, Head};
use crate::events::{EventId, NAMES};
use crate::server::Relay;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Journal records one page examines at most.
pub const BUDGET: usize = 20_000;
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    after: Option<String>,
    limit: Option<String>,
    event: Option<String>,
    queue_id: Option<String>,
}

fn bad(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "Bad request", detail)
}

pub async fn list(
    caller: EventReader,
    State(relay): State<Arc<Relay>>,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(params) = params.map_err(|e| bad(e.body_text()))?;
    let after = params
        .after
        .as_deref()
        .map(str::parse::<EventId>)
        .transpose()
        .map_err(|e| bad(format!("after: {e}")))?;
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                bad(format!(
                    "limit: {l:?} is not a number from 1 to {MAX_LIMIT}"
                ))
            })?,
    };
    let events: Vec<String> = match params.event.as_deref() {
        None => Vec::new(),
        Some(list) => {
            let names: Vec<String> = list.split(',').map(|e| e.trim().to_owned()).collect();
            if let Some(unknown) = names.iter().find(|n| !NAMES.contains(&n.as_str())) {
                return Err(bad(format!(
                    "event: no event is named {unknown:?}; events are {}",
                    NAMES.join(", ")
                )));
            }
            names
        }
    };
    let tenant = caller.tenant.name.clone();
    let queue_id = params.queue_id;
    let dir = relay.journal.dir().to_owned();
    let active = relay.journal.active_segment();
    let keep = move |h: &Head| {
        h.tenant() == Some(tenant.as_str())
            && (events.is_empty() || h.event().is_some_and(|e| events.iter().any(|w| w == e)))
            && queue_id.as_deref().is_none_or(|q| h.queue_id() == Some(q))
    };
    let found =
        tokio::task::spawn_blocking(move || page(&dir, after, limit, BUDGET, Some(active), keep))
            .await
            .map_err(|e| Problem::internal(e.to_string()))?
            .map_err(|e| Problem::internal(format!("reading the event journal: {e}")))?;
    Ok(Json(json!({
        "events": found.events,
        "next": found.next.map(|id| id.to_string()),
        "more": found.more,
    })))
}
