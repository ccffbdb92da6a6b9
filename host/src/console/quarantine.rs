//! Quarantine review: why each message is held (the plugin, its build, its rule, its
//! words), the message rendered safely, and release or delete for one or many at once.

use super::queue::valid_id;
use super::session::Viewer;
use super::{layout, message, outcome, Console, AS_ADMIN};
use crate::admin::queue as api;
use crate::queue::envelope::unix_now;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};

/// A quarantine reason as the relay writes it, `TEXT [PLUGIN#HASH: RULE]`, in its parts;
/// a reason of another shape is all text.
#[derive(Debug, PartialEq)]
pub struct Reason<'a> {
    pub text: &'a str,
    pub plugin: &'a str,
    pub hash: &'a str,
    pub rule: &'a str,
}

pub fn reason(full: &str) -> Reason<'_> {
    let whole = Reason {
        text: full,
        plugin: "",
        hash: "",
        rule: "",
    };
    let Some((text, explain)) = full.strip_suffix(']').and_then(|r| r.rsplit_once(" [")) else {
        return whole;
    };
    let (label, rule) = explain.split_once(": ").unwrap_or((explain, ""));
    let Some((plugin, hash)) = label.split_once('#') else {
        return whole;
    };
    Reason {
        text,
        plugin,
        hash,
        rule,
    }
}

fn why(r: &str) -> Markup {
    let r = reason(r);
    html! {
        td.plugin { (r.plugin) } td.hash { code { (r.hash) } } td.rule { (r.rule) } td.reason { (r.text) }
    }
}

pub async fn list(viewer: Viewer, State(c): State<Console>) -> Response {
    let held = match c.relay.quarantine.list() {
        Ok(h) => h,
        Err(e) => {
            return layout::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("reading the quarantine: {e}"),
            )
        }
    };
    let now = unix_now();
    let body = html! {
        p #count { (held.len()) " held by a policy" }
        @if !held.is_empty() {
            form #review method="post" action="/console/quarantine" {
                @if viewer.admin { input type="hidden" name="csrf" value=(viewer.csrf); }
                table #held.list {
                    thead { tr {
                        @if viewer.admin { th { "" } }
                        th { "id" } th { "tenant" } th { "from" } th { "recipients" }
                        th { "plugin" } th { "build" } th { "rule" } th { "reason" } th { "held" }
                    } }
                    tbody {
                        @for h in &held {
                            @let e = &h.envelope;
                            tr {
                                @if viewer.admin { td { input type="checkbox" name="ids" value=(e.id) aria-label=(format!("select {}", e.id)); } }
                                td { a.id href=(format!("/console/quarantine/{}", e.id)) { (e.id) } }
                                td { (e.tenant) }
                                td { (e.mail_from) }
                                td { (e.rcpts.join(", ")) }
                                (why(&h.reason))
                                td { (layout::age(now.saturating_sub(h.held_at))) " ago" }
                            }
                        }
                    }
                }
                @if viewer.admin {
                    div.actions {
                        button.primary type="submit" name="action" value="release" { "Release selected" }
                        button.danger type="submit" name="action" value="delete" { "Delete selected" }
                    }
                }
            }
        }
    };
    layout::page(&c, &viewer, "Quarantine", "/console/quarantine", body)
}

pub async fn show(viewer: Viewer, State(c): State<Console>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return layout::error(StatusCode::NOT_FOUND, "That is not a queue id.");
    }
    let (held, bytes) = match c.relay.quarantine.get(&id) {
        Ok(found) => found,
        Err(_) => {
            return layout::error(
                StatusCode::NOT_FOUND,
                &format!("{id} is not in the quarantine (released or deleted)."),
            )
        }
    };
    let e = &held.envelope;
    let r = reason(&held.reason);
    let now = unix_now();
    let id_field = [("ids", e.id.0.as_str())];
    let body = html! {
        div #actions.actions {
            (layout::button(&viewer, "/console/quarantine", "Release", "primary", &[("action", "release"), id_field[0]]))
            (layout::button(&viewer, "/console/quarantine", "Delete", "danger", &[("action", "delete"), id_field[0]]))
        }
        table #envelope.fields {
            tbody {
                tr { th { "id" } td #message-id { (e.id) } }
                tr { th { "held by" } td #held-by { (r.plugin) @if !r.hash.is_empty() { " (build " code { (r.hash) } ")" } } }
                tr { th { "rule" } td { (r.rule) } }
                tr { th { "reason" } td #reason { (r.text) } }
                tr { th { "held" } td { (layout::time(held.held_at)) " (" (layout::age(now.saturating_sub(held.held_at))) " ago)" } }
                tr { th { "tenant" } td { (e.tenant) } }
                tr { th { "from" } td { (e.mail_from) } }
                tr { th { "recipients" } td { (e.rcpts.join(", ")) } }
                tr { th { "client" } td { (e.client_ip) " · HELO " (e.helo) @if let Some(u) = &e.auth_user { " · AUTH " (u) } } }
                @if !e.tags.is_empty() { tr { th { "tags" } td { (e.tags.join(", ")) } } }
            }
        }
        (message::render(&bytes))
    };
    layout::page(
        &c,
        &viewer,
        &format!("Held message {}", e.id),
        "/console/quarantine",
        body,
    )
}

/// `POST /console/quarantine`: `action` (release or delete) for every `ids`.
pub async fn act(viewer: Viewer, State(c): State<Console>, body: Bytes) -> Response {
    let form = match super::change(&viewer, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let action = form.get("action").to_owned();
    if action != "release" && action != "delete" {
        return layout::error(StatusCode::BAD_REQUEST, "The action is release or delete.");
    }
    let ids = form.all("ids");
    if ids.is_empty() {
        c.sessions
            .flash(&viewer.id, false, "Select at least one message.");
        return Redirect::to("/console/quarantine").into_response();
    }
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for id in ids {
        if !valid_id(id) {
            failed.push(format!("{id:?} is not a queue id"));
            continue;
        }
        let (relay, path) = (State(c.relay.clone()), Path(id.clone()));
        let response = if action == "release" {
            api::release(AS_ADMIN, relay, path).await
        } else {
            api::quarantine_delete(AS_ADMIN, relay, path).await
        };
        match outcome(response).await {
            Ok(_) => done.push(id.as_str()),
            Err(why) => failed.push(why),
        }
    }
    tracing::info!(action = %action, messages = done.len(), token = %viewer.token_name, "admin console quarantine action");
    let verb = if action == "release" {
        "released"
    } else {
        "deleted"
    };
    let mut text = format!("{} {verb}", done.len());
    if !done.is_empty() {
        text.push_str(&format!(": {}", done.join(", ")));
    }
    if !failed.is_empty() {
        text.push_str(&format!("; not done: {}", failed.join("; ")));
    }
    c.sessions.flash(&viewer.id, failed.is_empty(), text);
    Redirect::to("/console/quarantine").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_names_the_plugin_build_and_rule() {
        assert_eq!(
            reason("looks like spam [filter#0123456789ab: score]"),
            Reason {
                text: "looks like spam",
                plugin: "filter",
                hash: "0123456789ab",
                rule: "score"
            }
        );
        assert_eq!(
            reason("subject says hold [verdicts#abc]").plugin,
            "verdicts"
        );
        assert_eq!(
            reason("plugin x#1 failed: trap").text,
            "plugin x#1 failed: trap"
        );
        assert_eq!(reason("odd [no hash]").text, "odd [no hash]");
    }
}
