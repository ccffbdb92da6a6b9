//! Tenants and plugins: each tenant's chain in order, with each plugin's build (hash),
//! instance mode, hooks, failure actions, hook calls and failures by kind since the relay
//! started (from the metrics), and its breaker.

use super::overview::label;
use super::session::Viewer;
use super::{layout, Console};
use axum::extract::State;
use axum::response::Response;
use maud::html;
use prometheus::core::Collector;
use prometheus::IntCounterVec;
use std::collections::BTreeMap;

/// A counter's values summed by (tenant, plugin), and by the third label when `by` names it.
fn sums(counter: &IntCounterVec, by: &str) -> BTreeMap<(String, String), BTreeMap<String, u64>> {
    let mut out: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
    for family in counter.collect() {
        for m in family.get_metric() {
            *out.entry((label(m, "tenant"), label(m, "plugin")))
                .or_default()
                .entry(label(m, by))
                .or_default() += m.get_counter().get_value() as u64;
        }
    }
    out
}

pub async fn page(viewer: Viewer, State(c): State<Console>) -> Response {
    let live = c.relay.current();
    let infos = live.policies.infos();
    let m = crate::metrics::get();
    let calls = sums(&m.plugin_calls, "stage");
    let failures = sums(&m.plugin_failures, "kind");
    let body = html! {
        p { "Configuration generation " (live.number) ", loaded " (layout::time(live.loaded_at)) "." }
        @for t in &live.config.tenants {
            section.tenant id=(format!("tenant-{}", t.name)) {
                h2 { (t.name) }
                p.hint {
                    "Sends as " (t.sender_domains.join(", "))
                    " · " (t.users.len()) " user(s) · " (t.api_keys.len()) " API key(s)"
                    @if let Some(pool) = &t.pool { " · pool " (pool) }
                    @if let Some(age) = t.max_age { " · max age " (humantime::format_duration(age)) }
                }
                @let chain = infos.get(&t.name).cloned().unwrap_or_default();
                @if chain.is_empty() {
                    p { "No plugin: every message goes through." }
                } @else {
                    table.list.chain {
                        thead { tr {
                            th { "#" } th { "plugin" } th { "build" } th { "instances" } th { "hooks" }
                            th { "on failure" } th { "calls" } th { "failures" } th { "breaker" }
                        } }
                        tbody {
                            @for (i, p) in chain.iter().enumerate() {
                                @let key = (t.name.clone(), p.name.clone());
                                @let called: u64 = calls.get(&key).map_or(0, |c| c.values().sum());
                                @let failed = failures.get(&key).cloned().unwrap_or_default();
                                tr id=(format!("plugin-{}-{}", t.name, p.name)) {
                                    td { (i + 1) }
                                    td { (p.name) @if p.shadow { " " span.badge { "shadow" } } }
                                    td { code { (p.hash) } }
                                    td { (p.instance) }
                                    td { (p.hooks.join(", ")) }
                                    td { "trap: " (p.on_trap) ", breaker: " (p.on_breaker) }
                                    td.calls { (called) }
                                    td.failures {
                                        @if failed.values().all(|n| *n == 0) { "0" }
                                        @for (kind, n) in failed.iter().filter(|(_, n)| **n > 0) { (kind) " " (n) " " }
                                    }
                                    td.breaker {
                                        @if p.breaker_open { span.warn { "open" } } @else { "closed" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(&c, &viewer, "Tenants and plugins", "/console/tenants", body)
}
