//! The queue: messages filtered by tenant, state, recipient domain and age; one message's
//! envelope, attempts with each remote reply, headers and body; retry, hold, release and
//! delete, carried out by the admin API's handlers.

use super::session::Viewer;
use super::{layout, message, outcome, Console, AS_ADMIN};
use crate::admin::queue as api;
use crate::config::resolved::within_domain;
use crate::queue::envelope::unix_now;
use crate::queue::Stored;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use std::collections::HashMap;

/// The choices of the age filter: (seconds, label).
const AGES: [(u64, &str); 4] = [
    (0, "any age"),
    (300, "older than 5 minutes"),
    (3600, "older than an hour"),
    (86_400, "older than a day"),
];
const STATES: [&str; 3] = ["queued", "deferred", "held"];

/// Whether `id` looks like a queue id (so it can go in a link or a redirect as it is).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The list's filters, from the query string; anything unknown is ignored.
struct Filter {
    tenant: String,
    state: String,
    domain: String,
    min_age: u64,
}

impl Filter {
    fn from_query(q: &HashMap<String, String>) -> Filter {
        let field = |k: &str| q.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
        Filter {
            tenant: field("tenant"),
            state: field("state"),
            domain: field("domain")
                .trim_start_matches('@')
                .trim_end_matches('.')
                .to_ascii_lowercase(),
            min_age: field("age").parse().unwrap_or(0),
        }
    }

    fn keeps(&self, m: &Stored, state: &str) -> bool {
        let e = &m.envelope;
        (self.tenant.is_empty() || e.tenant == self.tenant)
            && (self.state.is_empty() || state == self.state)
            && (self.domain.is_empty()
                || e.rcpts.iter().any(|r| {
                    r.rsplit_once('@').is_some_and(|(_, d)| {
                        within_domain(&d.trim_end_matches('>').to_ascii_lowercase(), &self.domain)
                    })
                }))
            && unix_now().saturating_sub(e.received_at) >= self.min_age
    }
}

pub async fn list(
    viewer: Viewer,
    State(c): State<Console>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let filter = Filter::from_query(&q);
    let live = c.relay.queue.snapshot().await;
    let messages = match api::spool_messages(&c.relay).await {
        Ok(m) => m,
        Err(p) => return layout::error(StatusCode::INTERNAL_SERVER_ERROR, &p.detail),
    };
    let total = messages.len();
    let now = unix_now();
    let shown: Vec<_> = messages
        .iter()
        .map(|m| (m, api::state(&m.envelope, Some(&live))))
        .filter(|(m, (state, _))| filter.keeps(m, state))
        .collect();
    let tenants = c.tenant_names();
    let body = html! {
        form #filter.filters method="get" action="/console/queue" {
            label { "Tenant "
                select name="tenant" {
                    option value="" { "all" }
                    @for t in &tenants { option value=(t) selected[*t == filter.tenant] { (t) } }
                }
            }
            label { "State "
                select name="state" {
                    option value="" { "all" }
                    @for s in STATES { option value=(s) selected[s == filter.state] { (s) } }
                }
            }
            label { "Recipient domain "
                input type="text" name="domain" value=(filter.domain) placeholder="example.com";
            }
            label { "Age "
                select name="age" {
                    @for (secs, label) in AGES { option value=(secs) selected[secs == filter.min_age] { (label) } }
                }
            }
            button type="submit" { "Filter" }
        }
        p #count { (shown.len()) " of " (total) " queued messages" }
        @if !shown.is_empty() {
            table #messages.list {
                thead { tr {
                    th { "id" } th { "state" } th { "tenant" } th { "from" } th { "recipients" }
                    th { "attempts" } th { "age" } th { "next attempt" } th { "last error" }
                } }
                tbody {
                    @for (m, (state, next)) in &shown {
                        @let e = &m.envelope;
                        tr class=(format!("state-{state}")) {
                            td { a.id href=(format!("/console/queue/{}", e.id)) { (e.id) } }
                            td.state { (state) }
                            td { (e.tenant) }
                            td { @if e.mail_from.is_empty() { "<>" } @else { (e.mail_from) } }
                            td { (e.rcpts.first().map(String::as_str).unwrap_or("")) @if e.rcpts.len() > 1 { " +" (e.rcpts.len() - 1) } }
                            td { (e.attempts) }
                            td { (layout::age(now.saturating_sub(e.received_at))) }
                            td { @if let Some(at) = next { "in " (layout::age(at.saturating_sub(now))) } }
                            td.reply { (e.progress.last_error().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    };
    layout::page(&c, &viewer, "Queue", "/console/queue", body)
}

pub async fn show(viewer: Viewer, State(c): State<Console>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return layout::error(StatusCode::NOT_FOUND, "That is not a queue id.");
    }
    let live = c.relay.queue.snapshot().await;
    let messages = match api::spool_messages(&c.relay).await {
        Ok(m) => m,
        Err(p) => return layout::error(StatusCode::INTERNAL_SERVER_ERROR, &p.detail),
    };
    let Some(m) = messages
        .into_iter()
        .find(|m| m.envelope.id.0.eq_ignore_ascii_case(&id))
    else {
        if c.relay.quarantine.get(&id).is_ok() {
            return Redirect::to(&format!("/console/quarantine/{id}")).into_response();
        }
        return layout::error(
            StatusCode::NOT_FOUND,
            &format!("No message {id} in the queue (delivered, bounced or deleted)."),
        );
    };
    let bytes = match c.relay.spool.read(m.location).await {
        Ok(b) => b,
        Err(e) => {
            return layout::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("reading {id}: {e}"),
            )
        }
    };
    let e = &m.envelope;
    let (state, next) = api::state(e, Some(&live));
    let now = unix_now();
    let act = |action: &str, label: &str, class: &str| {
        layout::button(
            &viewer,
            &format!("/console/queue/{}/{action}", e.id),
            label,
            class,
            &[],
        )
    };
    let body = html! {
        div #actions.actions {
            @if state == "deferred" { (act("retry", "Retry now", "primary")) (act("hold", "Hold", "")) }
            @if state == "held" { (act("release", "Release", "primary")) }
            @if state != "queued" { (act("delete", "Delete", "danger")) }
            @if state == "queued" { p.hint { "Being delivered now: actions are offered once it waits." } }
        }
        table #envelope.fields {
            tbody {
                tr { th { "id" } td #message-id { (e.id) } }
                tr { th { "state" } td #state { (state) @if let Some(at) = next { ", next attempt " (layout::time(at)) " (in " (layout::age(at.saturating_sub(now))) ")" } } }
                tr { th { "tenant" } td { (e.tenant) } }
                tr { th { "from" } td { @if e.mail_from.is_empty() { "<> (null sender)" } @else { (e.mail_from) } } }
                tr { th { "recipients left" } td { @for (i, r) in e.rcpts.iter().enumerate() { @if i > 0 { ", " } (r) } } }
                tr { th { "received" } td { (layout::time(e.received_at)) " (" (layout::age(now.saturating_sub(e.received_at))) " ago)" } }
                tr { th { "client" } td { (e.client_ip) " · HELO " (e.helo) @if let Some(u) = &e.auth_user { " · AUTH " (u) } } }
                tr { th { "inbound TLS" } td { (e.tls.as_deref().unwrap_or("none")) } }
                tr { th { "size" } td { (m.location.body_len) " bytes" } }
                @if !e.tags.is_empty() { tr { th { "tags" } td { (e.tags.join(", ")) } } }
                tr { th { "attempts" } td { (e.attempts) } }
            }
        }
        h2 { "Attempts" }
        @if e.progress.history.is_empty() {
            p { "No attempt yet." }
        } @else {
            table #attempts.list {
                thead { tr { th { "#" } th { "when" } th { "recipient" } th { "outcome" } th { "reply" } th { "from" } } }
                tbody {
                    @for a in e.progress.history.iter().rev() {
                        @for r in &a.rcpts {
                            tr class=(format!("outcome-{}", r.outcome)) {
                                td { (a.attempt) } td { (layout::time(a.at)) } td { (r.rcpt) }
                                td { (r.outcome) } td.reply { (r.reply) } td { (r.remote.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
        (message::render(&bytes))
    };
    layout::page(
        &c,
        &viewer,
        &format!("Message {}", e.id),
        "/console/queue",
        body,
    )
}

/// `POST /console/queue/{id}/{action}`: retry, hold, release or delete.
pub async fn act(
    viewer: Viewer,
    State(c): State<Console>,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(refused) = super::change(&viewer, &body) {
        return refused.into_response();
    }
    if !valid_id(&id) {
        return layout::error(StatusCode::NOT_FOUND, "That is not a queue id.");
    }
    let (relay, path) = (State(c.relay.clone()), Path(id.clone()));
    let response = match action.as_str() {
        "retry" => api::retry(AS_ADMIN, relay, path).await,
        "hold" => api::hold(AS_ADMIN, relay, path).await,
        "release" => api::unhold(AS_ADMIN, relay, path).await,
        "delete" => api::delete(AS_ADMIN, relay, path).await,
        _ => return layout::error(StatusCode::NOT_FOUND, "No such action."),
    };
    let done = match action.as_str() {
        "retry" => "retried now",
        "hold" => "held",
        "release" => "released",
        _ => "deleted",
    };
    let back = match outcome(response).await {
        Ok(_) => {
            c.sessions.flash(
                &viewer.id,
                true,
                format!("{id}: {done} ({})", viewer.token_name),
            );
            tracing::info!(queue_id = %id, action = %action, token = %viewer.token_name, "admin console action");
            // A retried or released message may be delivered (and gone) before the browser
            // follows the redirect: back to the list, where the outcome shows.
            if action == "hold" {
                format!("/console/queue/{id}")
            } else {
                "/console/queue".to_owned()
            }
        }
        Err(why) => {
            c.sessions.flash(&viewer.id, false, why);
            format!("/console/queue/{id}")
        }
    };
    Redirect::to(&back).into_response()
}
