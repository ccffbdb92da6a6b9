//! The event tail: the newest events of the journal (every tenant's, or one tenant's, of
//! every kind or one), then each new one as it is written.
//!
//! The page is rendered with the recent events and a small inline script — the console's only
//! one, allowed by a per-answer CSP nonce — that polls [`feed`] (`GET /console/events/feed`)
//! from the last id it holds, as `GET /v1/events` pages, and adds each event as a row with
//! `textContent`: the journal carries what remotes and plugins said (replies, explanations),
//! so no value is ever parsed as markup, here or on the server (maud). A row's detail is cut
//! at [`MAX_DETAIL`] characters.

use super::session::Viewer;
use super::{layout, Console};
use crate::events::reader::{page, Head, Page};
use crate::events::{EventId, NAMES};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use maud::{html, PreEscaped};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Events the page starts with.
const RECENT: usize = 50;
/// Journal records read back to find them (the newest of this boot).
const RECENT_SCAN: u64 = 5000;
/// Events one poll hands over at most; the script asks again at once when there are more.
const FEED_LIMIT: usize = 200;
/// Rows the page keeps; older ones are dropped as new ones come.
const MAX_ROWS: usize = 500;
/// The longest detail shown for an event, in characters.
pub const MAX_DETAIL: usize = 300;

/// Fields shown in columns of their own; the rest make the detail.
const COLUMNS: [&str; 5] = ["time", "event", "tenant", "queue_id", "rcpt"];
/// The column of the queue id, shown as a link to the message.
const QUEUE_ID: usize = 3;

/// The tail's filters, from the query string.
struct Filter {
    tenant: String,
    event: String,
}

impl Filter {
    fn from_query(q: &HashMap<String, String>) -> Filter {
        let field = |k: &str| q.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
        let event = field("event");
        Filter {
            tenant: field("tenant"),
            // Only a name the relay emits: anything else would match nothing.
            event: if NAMES.contains(&event.as_str()) {
                event
            } else {
                String::new()
            },
        }
    }

    fn keeps(&self, h: &Head) -> bool {
        (self.tenant.is_empty() || h.tenant() == Some(self.tenant.as_str()))
            && (self.event.is_empty() || h.event() == Some(self.event.as_str()))
    }

    /// The filter as query parameters (`&tenant=…&event=…`), for the script's polls.
    fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("tenant", &self.tenant), ("event", &self.event)] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        let q = q.finish();
        if q.is_empty() {
            q
        } else {
            format!("&{q}")
        }
    }
}

/// One event as a row: its id and the text of each column, the last the detail.
pub fn row(event: &Value) -> Value {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let detail: Vec<String> = event
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != "id" && !COLUMNS.contains(&k.as_str()))
        .filter(|(_, v)| !empty(v))
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    let mut cells: Vec<String> = COLUMNS.iter().map(|c| text(&event[*c])).collect();
    cells.push(clip(&detail.join(" "), MAX_DETAIL));
    json!({ "id": text(&event["id"]), "cells": cells })
}

/// A field not worth showing: null, empty, or the `-` events write for "none".
fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty() || s == "-",
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// At most `max` characters of `text`, with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Events of the journal after `after` that `filter` keeps, a bounded read.
async fn read(
    c: &Console,
    after: EventId,
    limit: usize,
    budget: usize,
    filter: Filter,
) -> Result<Page, String> {
    let dir = c.relay.journal.dir().to_owned();
    let active = c.relay.journal.active_segment();
    tokio::task::spawn_blocking(move || {
        page(&dir, Some(after), limit, budget, Some(active), |h| {
            filter.keeps(h)
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("reading the event journal: {e}"))
}

/// A random nonce for the page's one script.
fn nonce() -> String {
    let bytes: [u8; 18] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `GET /console/events`: the newest events, then the new ones as they come.
pub async fn tail(
    viewer: Viewer,
    State(c): State<Console>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let filter = Filter::from_query(&q);
    let query = filter.query();
    let (tenant, event) = (filter.tenant.clone(), filter.event.clone());
    let latest = c.relay.journal.latest();
    let from = EventId {
        boot: latest.boot,
        seq: latest.seq.saturating_sub(RECENT_SCAN),
    };
    let found = match read(&c, from, usize::MAX, RECENT_SCAN as usize + 1, filter).await {
        Ok(p) => p,
        Err(e) => return layout::error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let recent: Vec<Value> = found.events.iter().rev().take(RECENT).map(row).collect();
    let next = found.next.unwrap_or(from);
    let tenants = c.tenant_names();
    let nonce = nonce();
    let body = html! {
        form #filter.filters method="get" action="/console/events" {
            label { "Tenant "
                select name="tenant" {
                    option value="" { "all (operator events too)" }
                    @for t in &tenants { option value=(t) selected[*t == tenant] { (t) } }
                }
            }
            label { "Event "
                select name="event" {
                    option value="" { "all" }
                    @for e in NAMES { option value=(e) selected[*e == event] { (e) } }
                }
            }
            button type="submit" { "Filter" }
        }
        p #tail-state.hint { "The newest events; new ones are added at the top as they are written." }
        table #events.list {
            thead { tr {
                th { "time" } th { "event" } th { "tenant" } th { "queue id" } th { "recipient" } th { "detail" }
            } }
            tbody #events-body data-next=(next) data-filter=(query) data-max-rows=(MAX_ROWS) data-queue-column=(QUEUE_ID) {
                @for r in &recent {
                    tr data-id=(r["id"].as_str().unwrap_or("")) {
                        @for (i, cell) in r["cells"].as_array().into_iter().flatten().enumerate() {
                            @let text = cell.as_str().unwrap_or("");
                            td {
                                @if i == QUEUE_ID && super::queue::valid_id(text) {
                                    a.id href=(format!("/console/queue/{text}")) { (text) }
                                } @else { (text) }
                            }
                        }
                    }
                }
            }
        }
        script nonce=(nonce) { (PreEscaped(TAIL_SCRIPT)) }
    };
    let mut response = layout::page(&c, &viewer, "Events", "/console/events", body);
    let policy = format!(
        "{}; script-src 'nonce-{nonce}'; connect-src 'self'",
        super::CSP
    );
    if let Ok(v) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

/// `GET /console/events/feed?after=ID&tenant=T&event=E`: the events after `after` (at most
/// [`FEED_LIMIT`], each as a [`row`]), `next` to ask from, and `more` when there are more.
pub async fn feed(
    _viewer: Viewer,
    State(c): State<Console>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let after = match q.get("after").map(|a| a.parse::<EventId>()) {
        Some(Ok(id)) => id,
        None => c.relay.journal.latest(),
        Some(Err(e)) => {
            return (StatusCode::BAD_REQUEST, Json(json!({ "detail": e }))).into_response()
        }
    };
    let found = match read(
        &c,
        after,
        FEED_LIMIT,
        crate::api::events::BUDGET,
        Filter::from_query(&q),
    )
    .await
    {
        Ok(p) => p,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "detail": e })),
            )
                .into_response()
        }
    };
    Json(json!({
        "events": found.events.iter().map(row).collect::<Vec<_>>(),
        "next": found.next.unwrap_or(after).to_string(),
        "more": found.more,
    }))
    .into_response()
}

/// Polls the feed and adds rows at the top; every value goes in as text.
const TAIL_SCRIPT: &str = r#"
(function () {
  "use strict";
  var body = document.getElementById("events-body");
  var state = document.getElementById("tail-state");
  var next = body.dataset.next, filter = body.dataset.filter;
  var maxRows = parseInt(body.dataset.maxRows, 10);
  var queueColumn = parseInt(body.dataset.queueColumn, 10);
  function add(e) {
    var tr = document.createElement("tr");
    tr.dataset.id = e.id;
    e.cells.forEach(function (text, i) {
      var td = document.createElement("td");
      if (i === queueColumn && /^[A-Za-z0-9]{1,64}$/.test(text)) {
        var a = document.createElement("a");
        a.className = "id";
        a.href = "/console/queue/" + text;
        a.textContent = text;
        td.appendChild(a);
      } else {
        td.textContent = text;
      }
      tr.appendChild(td);
    });
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > maxRows) { body.deleteRow(-1); }
  }
  function poll() {
    fetch("/console/events/feed?after=" + encodeURIComponent(next) + filter,
          { credentials: "same-origin", redirect: "error", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("the console answered " + r.status); }
        return r.json();
      })
      .then(function (page) {
        page.events.forEach(add);
        next = page.next;
        state.textContent = "Following: checked at " + new Date().toLocaleTimeString() + ".";
        setTimeout(poll, page.more ? 0 : 1000);
      })
      .catch(function (e) {
        state.textContent = "Stopped (" + e.message + "; the session may have ended): reload the page.";
      });
  }
  poll();
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_has_the_columns_then_the_rest_cut_short() {
        let event = json!({
            "id": "000001-000000000007", "time": "2026-01-01T00:00:00.000Z", "event": "deferred",
            "tenant": "demo", "queue_id": "Q1", "rcpt": "a@b.test", "attempt": 2,
            "reason": "<script>x</script>", "status": null, "tags": [], "metadata": "-",
            "zz": "y".repeat(1000),
        });
        let r = row(&event);
        assert_eq!(r["id"], "000001-000000000007");
        let cells = r["cells"].as_array().unwrap();
        assert_eq!(
            cells[..5],
            [
                "2026-01-01T00:00:00.000Z",
                "deferred",
                "demo",
                "Q1",
                "a@b.test"
            ]
        );
        let detail = cells[5].as_str().unwrap();
        // Fields in name order: the long one last, cut.
        assert!(
            detail.starts_with("attempt=2 reason=<script>x</script> zz=yyy"),
            "{detail}"
        );
        assert!(
            !detail.contains("status") && !detail.contains("tags"),
            "{detail}"
        );
        assert_eq!(detail.chars().count(), MAX_DETAIL + 1);
    }

    #[test]
    fn the_filter_keeps_known_event_names_only_and_encodes_its_query() {
        let q = |pairs: &[(&str, &str)]| {
            Filter::from_query(
                &pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let f = q(&[("tenant", "a&b"), ("event", "nonsense")]);
        assert_eq!((f.event.as_str(), f.query()), ("", "&tenant=a%26b".into()));
        assert_eq!(q(&[("event", "delivered")]).query(), "&event=delivered");
        assert_eq!(q(&[]).query(), "");
    }
}
