//! Suppressions: a tenant's suppression list searched by a part of the address (a name, a
//! domain) and by reason, a page at a time; an address added (reason, note) or removed by the
//! admin scope. Changes go through [`crate::suppress::http`], the work both APIs share, so
//! the console refuses what they refuse (a malformed address, a full list) with their words.

use super::session::Viewer;
use super::{layout, outcome, Console};
use crate::suppress::{http, Entry, Reason, Suppressions};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use std::collections::HashMap;

/// Entries a page shows.
const PAGE: usize = 50;
/// Entries a search examines for one page at most, so a search of a long list costs a
/// bounded time; the page then offers to go on from where it stopped.
const SCAN: usize = 100_000;

/// The list's search, from the query string.
struct Search {
    tenant: String,
    /// Lower-cased; empty matches every address.
    text: String,
    reason: Option<Reason>,
    /// The address to go on after (the `next` of the page before).
    after: Option<String>,
}

impl Search {
    fn from_query(q: &HashMap<String, String>, first_tenant: &str) -> Search {
        let field = |k: &str| q.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
        let tenant = field("tenant");
        Search {
            tenant: if tenant.is_empty() {
                first_tenant.to_owned()
            } else {
                tenant
            },
            text: field("q").to_lowercase(),
            reason: Reason::parse(&field("reason")),
            after: Some(field("after")).filter(|a| !a.is_empty()),
        }
    }

    /// The link to this search (`after` replaced by `after`).
    fn link(&self, after: Option<&str>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("tenant", &self.tenant);
        if !self.text.is_empty() {
            q.append_pair("q", &self.text);
        }
        if let Some(r) = self.reason {
            q.append_pair("reason", r.name());
        }
        if let Some(a) = after {
            q.append_pair("after", a);
        }
        format!("/console/suppressions?{}", q.finish())
    }
}

/// Up to [`PAGE`] entries matching `search`, and the address to go on after when the page
/// stopped before the end of the list.
async fn find(s: &Suppressions, search: &Search) -> (Vec<Entry>, Option<String>) {
    let mut found = Vec::new();
    let mut after = search.after.clone();
    let mut examined = 0;
    while examined < SCAN {
        let page = s
            .list(&search.tenant, search.reason, after.as_deref(), 1000)
            .await;
        for e in page.entries {
            examined += 1;
            after = Some(e.address.clone());
            if e.address.to_lowercase().contains(&search.text) {
                found.push(e);
                if found.len() == PAGE {
                    return (found, after);
                }
            }
        }
        if page.next.is_none() {
            return (found, None);
        }
    }
    (found, after)
}

pub async fn list(
    viewer: Viewer,
    State(c): State<Console>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let config = c.relay.current().config.clone();
    let tenants: Vec<&str> = config.tenants.iter().map(|t| t.name.as_str()).collect();
    let search = Search::from_query(&q, tenants.first().copied().unwrap_or_default());
    if !tenants.contains(&search.tenant.as_str()) {
        return layout::error(StatusCode::NOT_FOUND, "No such tenant.");
    }
    let s = &c.relay.suppressions;
    let (entries, next) = find(s, &search).await;
    let total = s.count(&search.tenant).await;
    let max = s.max_per_tenant();
    let now = crate::queue::envelope::unix_now();
    let back = search.link(search.after.as_deref());
    let body = html! {
        form #search.filters method="get" action="/console/suppressions" {
            label { "Tenant "
                select name="tenant" {
                    @for t in &tenants { option value=(t) selected[*t == search.tenant] { (t) } }
                }
            }
            label { "Address contains "
                input type="search" name="q" value=(search.text) placeholder="name or @domain";
            }
            label { "Reason "
                select name="reason" {
                    option value="" { "any" }
                    @for r in Reason::ALL { option value=(r.name()) selected[Some(r) == search.reason] { (r.name()) } }
                }
            }
            button type="submit" { "Search" }
        }
        p #count {
            (total) " of at most " (max) " entries in " (search.tenant) "'s list"
            " ([suppressions] max_per_tenant) · " (entries.len()) " shown"
        }
        @if viewer.admin {
            h2 { "Add an address" }
            form #add.filters method="post" action="/console/suppressions" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="action" value="add";
                input type="hidden" name="tenant" value=(search.tenant);
                input type="hidden" name="back" value=(back);
                label { "Address " input type="text" name="address" required placeholder="someone@example.com"; }
                label { "Reason "
                    select name="reason" {
                        @for r in Reason::ALL { option value=(r.name()) selected[r == Reason::Manual] { (r.name()) } }
                    }
                }
                label { "Note " input type="text" name="detail" maxlength=(crate::suppress::MAX_DETAIL); }
                button.primary type="submit" { "Suppress" }
            }
        }
        @if !entries.is_empty() {
            @if viewer.admin { h2 { "Entries" } }
            table #suppressions.list {
                thead { tr { th { "address" } th { "reason" } th { "since" } th { "expires" } th { "note" } th {} } }
                tbody {
                    @for e in &entries {
                        tr {
                            td.address { (e.address) }
                            td.reason { (e.reason.name()) }
                            td { (layout::time(e.created_at)) }
                            td { @if let Some(at) = e.expires_at { "in " (layout::age(at.saturating_sub(now))) } }
                            td.detail { (e.detail.as_deref().unwrap_or("")) }
                            td {
                                (layout::button(&viewer, "/console/suppressions", "Remove", "danger", &[
                                    ("action", "remove"), ("tenant", search.tenant.as_str()),
                                    ("address", e.address.as_str()), ("back", back.as_str()),
                                ]))
                            }
                        }
                    }
                }
            }
        }
        @if let Some(after) = &next {
            p { a #more href=(search.link(Some(after))) { "More" } }
        }
    };
    layout::page(&c, &viewer, "Suppressions", "/console/suppressions", body)
}

/// `POST /console/suppressions`: `action` add (`address`, `reason`, `detail`) or remove
/// (`address`) in `tenant`'s list; back to the page the form was on.
pub async fn act(viewer: Viewer, State(c): State<Console>, body: Bytes) -> Response {
    let form = match super::change(&viewer, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let tenant = form.get("tenant");
    if !c
        .relay
        .current()
        .config
        .tenants
        .iter()
        .any(|t| t.name == tenant)
    {
        return layout::error(StatusCode::NOT_FOUND, "No such tenant.");
    }
    let address = form.get("address").trim();
    let s = &c.relay.suppressions;
    let (response, done) = match form.get("action") {
        "add" => {
            let detail = Some(form.get("detail").trim()).filter(|d| !d.is_empty());
            let fields = serde_json::json!({ "reason": form.get("reason"), "detail": detail });
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let body = Bytes::from(fields.to_string());
            (
                http::put(s, tenant, address, &headers, &body).await,
                "suppressed",
            )
        }
        "remove" => (http::delete(s, tenant, address).await, "removed"),
        _ => return layout::error(StatusCode::NOT_FOUND, "No such action."),
    };
    match outcome(response).await {
        Ok(_) => {
            c.sessions.flash(
                &viewer.id,
                true,
                format!("{address}: {done} for {tenant} ({})", viewer.token_name),
            );
            tracing::info!(tenant, address, action = form.get("action"), token = %viewer.token_name, "admin console suppression");
        }
        Err(why) => c.sessions.flash(&viewer.id, false, why),
    }
    // Only back to this page of the console, with a query that is a header value as it is.
    let back = form.get("back");
    let back = if back.starts_with("/console/suppressions?")
        && back.bytes().all(|b| b.is_ascii_graphic())
    {
        back.to_owned()
    } else {
        "/console/suppressions".to_owned()
    };
    Redirect::to(&back).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(text: &str, after: Option<&str>) -> Search {
        Search {
            tenant: "t".into(),
            text: text.into(),
            reason: None,
            after: after.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn a_search_matches_any_part_a_page_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let s = Suppressions::open(dir.path(), 1000).unwrap();
        let entries = (0..120)
            .map(|i| Entry::new(format!("user{i:03}@shop.test"), Reason::Manual, None))
            .chain([Entry::new("other@else.test".into(), Reason::Manual, None)])
            .collect();
        s.add("t", entries, false).await.unwrap();
        let (page, next) = find(&s, &search("p.t", None)).await;
        assert_eq!(
            (page.len(), next.as_deref()),
            (PAGE, Some("user049@shop.test"))
        );
        let (rest, _) = find(&s, &search("shop", next.as_deref())).await;
        assert_eq!(rest.len(), PAGE);
        assert_eq!(rest[0].address, "user050@shop.test");
        let (found, next) = find(&s, &search("else", None)).await;
        assert_eq!((found.len(), next), (1, None));
        let (all, _) = find(&s, &search("", None)).await;
        assert_eq!(all[0].address, "other@else.test");
        assert_eq!(
            search("a b", Some("x@y")).link(Some("z@w")),
            "/console/suppressions?tenant=t&q=a+b&after=z%40w"
        );
    }
}
