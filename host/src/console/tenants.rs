//! Tenants and plugins: each tenant's chain in order, with each plugin's build (hash),
//! instance mode, hooks, failure actions, and since the relay started (from the metrics) its
//! hook calls, verdicts, latency percentiles and failures by kind, its breaker and its live
//! counters against `max_counters`. A shadow plugin's verdicts are what it would have done:
//! they stand next to the ones the chain enforced, the numbers to compare before taking it
//! out of shadow mode. Then each tenant's limits and how close it is to them.

use super::overview::{label, quantile};
use super::session::Viewer;
use super::{layout, Console};
use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use prometheus::core::Collector;
use prometheus::IntCounterVec;
use std::collections::BTreeMap;

/// The verdicts counted (all but continue), in column order.
const VERDICTS: [&str; 5] = ["accept", "reject", "tempfail", "quarantine", "discard"];
/// A limit this close (a share) is shown as near.
const NEAR: f64 = 0.8;

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

/// Latency of (tenant, plugin): calls timed, and p50, p90, p99 in seconds (`None` past the
/// last bucket).
type Latency = (u64, [Option<f64>; 3]);

fn latencies() -> BTreeMap<(String, String), Latency> {
    let mut out = BTreeMap::new();
    for family in crate::metrics::get().plugin_seconds.collect() {
        for m in family.get_metric() {
            let h = m.get_histogram();
            let count = h.get_sample_count();
            let buckets: Vec<(f64, u64)> = h
                .get_bucket()
                .iter()
                .map(|b| (b.upper_bound(), b.cumulative_count()))
                .collect();
            let q = [0.5, 0.9, 0.99].map(|q| quantile(&buckets, count, q));
            out.insert((label(m, "tenant"), label(m, "plugin")), (count, q));
        }
    }
    out
}

fn latency_text(l: Option<&Latency>) -> String {
    let ms = |v: Option<f64>| v.map_or("—".to_owned(), |s| format!("{:.2}", s * 1000.0));
    match l {
        Some((count, [p50, p90, p99])) if *count > 0 => {
            format!("{} / {} / {} ms", ms(*p50), ms(*p90), ms(*p99))
        }
        _ => "no call".to_owned(),
    }
}

/// Verdicts other than continue by (tenant, plugin), then mode (`enforced`, `shadow`),
/// then verdict.
fn verdicts() -> BTreeMap<(String, String), BTreeMap<(String, String), u64>> {
    let mut out: BTreeMap<_, BTreeMap<_, u64>> = BTreeMap::new();
    for family in crate::metrics::get().plugin_verdicts.collect() {
        for m in family.get_metric() {
            *out.entry((label(m, "tenant"), label(m, "plugin")))
                .or_default()
                .entry((label(m, "mode"), label(m, "verdict")))
                .or_default() += m.get_counter().get_value() as u64;
        }
    }
    out
}

/// `n` of `max` with a small bar, marked when near or at the limit.
fn meter(n: u64, max: u64) -> Markup {
    let share = if max == 0 {
        1.0
    } else {
        (n as f64 / max as f64).min(1.0)
    };
    html! {
        span.meter {
            svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 10" preserveAspectRatio="none" {
                rect class=[(share >= NEAR).then_some("near")] x="0" y="0" width=(format!("{:.1}", share * 100.0)) height="10" {}
            }
        }
        (n) " of " (max)
        @if share >= NEAR { " " span.warn { (format!("{:.0}%", share * 100.0)) } }
    }
}

pub async fn page(viewer: Viewer, State(c): State<Console>) -> Response {
    let live = c.relay.current();
    let infos = live.policies.infos();
    let m = crate::metrics::get();
    let calls = sums(&m.plugin_calls, "stage");
    let failures = sums(&m.plugin_failures, "kind");
    let verdicts = verdicts();
    let latencies = latencies();
    let counters = &c.relay.engine.counters;
    let suppressions = &c.relay.suppressions;
    let mut listed = BTreeMap::new();
    for t in &live.config.tenants {
        listed.insert(t.name.clone(), suppressions.count(&t.name).await);
    }
    let pools = c.relay.delivery.pools_today();
    let body = html! {
        p { "Configuration generation " (live.number) ", loaded " (layout::time(live.loaded_at)) ". Counts are since the relay started; latency is p50 / p90 / p99 of a hook call." }
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
                            th { "on failure" } th { "calls" } th { "verdicts" } th { "latency" }
                            th { "failures" } th { "breaker" } th { "counters" }
                        } }
                        tbody {
                            @for (i, p) in chain.iter().enumerate() {
                                @let key = (t.name.clone(), p.name.clone());
                                @let called: u64 = calls.get(&key).map_or(0, |c| c.values().sum());
                                @let failed = failures.get(&key).cloned().unwrap_or_default();
                                @let said = verdicts.get(&key).cloned().unwrap_or_default();
                                tr id=(format!("plugin-{}-{}", t.name, p.name)) {
                                    td { (i + 1) }
                                    td { (p.name) @if p.shadow { " " span.badge { "shadow" } } }
                                    td { code { (p.hash) } }
                                    td { (p.instance) }
                                    td { (p.hooks.join(", ")) }
                                    td { "trap: " (p.on_trap) ", breaker: " (p.on_breaker) }
                                    td.calls { (called) }
                                    td.verdicts {
                                        @if said.values().all(|n| *n == 0) { "none" }
                                        @for ((mode, verdict), n) in said.iter().filter(|(_, n)| **n > 0) {
                                            (verdict) " " (n) @if mode == "shadow" { " (would-be)" } " "
                                        }
                                    }
                                    td.latency { (latency_text(latencies.get(&key))) }
                                    td.failures {
                                        @if failed.values().all(|n| *n == 0) { "0" }
                                        @for (kind, n) in failed.iter().filter(|(_, n)| **n > 0) { (kind) " " (n) " " }
                                    }
                                    td.breaker {
                                        @if p.breaker_open { span.warn { "open" } } @else { "closed" }
                                    }
                                    td.counters {
                                        @match counters.usage(&t.name, &p.name) {
                                            Some((n, max)) => (meter(n as u64, max as u64)),
                                            None => "—",
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @let shadows: Vec<_> = chain.iter().filter(|p| p.shadow).collect();
                    @if !shadows.is_empty() {
                        h3 { "Shadow plugins: would-be verdicts next to the enforced ones" }
                        table.numbers.shadow id=(format!("shadow-{}", t.name)) {
                            thead { tr {
                                th { "verdict" } th { "enforced by the chain" }
                                @for p in &shadows { th { (p.name) " (would-be)" } }
                            } }
                            tbody {
                                @for v in VERDICTS {
                                    @let enforced: u64 = chain.iter().filter(|p| !p.shadow)
                                        .filter_map(|p| verdicts.get(&(t.name.clone(), p.name.clone())))
                                        .filter_map(|m| m.get(&("enforced".to_owned(), v.to_owned())))
                                        .sum();
                                    tr {
                                        th { (v) }
                                        td.enforced { (enforced) }
                                        @for p in &shadows {
                                            td.would-be { (verdicts.get(&(t.name.clone(), p.name.clone()))
                                                .and_then(|m| m.get(&("shadow".to_owned(), v.to_owned())))
                                                .copied().unwrap_or(0)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                h3 { "Limits" }
                table.fields.limits id=(format!("limits-{}", t.name)) {
                    tbody {
                        tr {
                            th { "suppression list" }
                            td.suppressions {
                                (meter(listed.get(&t.name).copied().unwrap_or(0) as u64, suppressions.max_per_tenant() as u64))
                                " entries ([suppressions] max_per_tenant) · "
                                a href=(format!("/console/suppressions?tenant={}", form_urlencoded::byte_serialize(t.name.as_bytes()).collect::<String>())) { "search" }
                            }
                        }
                        @if let Some(pool) = &t.pool {
                            tr {
                                th { "egress pool" }
                                td {
                                    @let usage = pools.iter().find(|p| p["name"] == pool.as_str());
                                    @let sent = usage.and_then(|p| p["sent_today_here"].as_u64()).unwrap_or(0);
                                    (pool) ": "
                                    @match usage.and_then(|p| p["cap_today"].as_u64()) {
                                        Some(cap) => { (meter(sent, cap)) " messages sent today through this node against the daily cap" }
                                        None => { (sent) " messages sent today through this node, no daily cap" }
                                    }
                                }
                            }
                        }
                        tr {
                            th { "accepted since start" }
                            td { (m.messages_accepted.with_label_values(&[t.name.as_str()]).get()) " message(s)" }
                        }
                    }
                }
            }
        }
    };
    layout::page(&c, &viewer, "Tenants and plugins", "/console/tenants", body)
}
