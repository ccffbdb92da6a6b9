//! The overview: how much mail flows and what became of it (per minute over the last hour,
//! per quarter hour over the last day), deliveries by destination, the queue by state, how
//! long spool commits take, and which plugins fail or have their breaker open.

use super::chart::{self, Line};
use super::destinations::{self, OUTCOMES};
use super::series::{self, Outcome};
use super::session::Viewer;
use super::{layout, Console};
use crate::queue::schedule::Scheduled;
use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use prometheus::core::Collector;

pub async fn page(viewer: Viewer, State(c): State<Console>) -> Response {
    let now = series::now_minute();
    let hour = series::get().minutes(now, 60);
    let day = series::get().minutes(now, series::MINUTES);
    let queue = queue_by_state(&c).await;
    let latency = commit_latency();
    let failures = plugin_failures();
    let by_destination = destinations::get().top(TOP_DESTINATIONS, now);
    let policies = c.relay.current().policies.infos();
    let open: Vec<_> = policies
        .iter()
        .flat_map(|(t, chain)| chain.iter().map(move |p| (t, p)))
        .filter(|(_, p)| p.breaker_open)
        .collect();
    let body = html! {
        section {
            h2 { "Messages by outcome" }
            table #outcomes.numbers {
                thead { tr { th { "outcome" } th { "last hour" } th { "last day" } } }
                tbody {
                    @for (o, (h, d)) in Outcome::ALL.iter().zip(hour.iter().zip(day.iter())) {
                        tr {
                            th { span class=(format!("swatch s-{}", o.name())) {} (o.name()) }
                            td id=(format!("hour-{}", o.name())) { (h.iter().sum::<u64>()) }
                            td id=(format!("day-{}", o.name())) { (d.iter().sum::<u64>()) }
                        }
                    }
                }
            }
            p.hint { "Delivered, deferred and bounced count recipients; the others count messages. Bounced includes expired." }
            h3 { "Per minute, last hour" }
            (chart::lines("Messages per minute by outcome, last hour", &series_lines(&hour), &[
                (0, "-60m".into()), (30, "-30m".into()), (59, "now".into()),
            ]))
            h3 { "Per quarter hour, last day" }
            @let quarters: Vec<Vec<u64>> = day.iter().map(|m| m.chunks(15).map(|c| c.iter().sum()).collect()).collect();
            (chart::lines("Messages per 15 minutes by outcome, last day", &series_lines(&quarters), &[
                (0, "-24h".into()), (48, "-12h".into()), (95, "now".into()),
            ]))
        }
        section {
            h2 { "Deliveries by destination" }
            (destination_table(&by_destination))
        }
        section.cards {
            div.card {
                h2 { "Queue" }
                table #queue-depth.numbers {
                    tbody {
                        @for (state, n) in &queue {
                            tr { th { a href=(format!("/console/queue?state={state}")) { (state) } } td id=(format!("queue-{state}")) { (n) } }
                        }
                    }
                }
            }
            div.card {
                h2 { "Spool commits" }
                (latency)
            }
            div.card {
                h2 { "Plugins" }
                @if open.is_empty() {
                    p #breakers { "No breaker is open." }
                } @else {
                    p #breakers.warn {
                        "Open breakers: "
                        @for (i, (t, p)) in open.iter().enumerate() {
                            @if i > 0 { ", " }
                            (p.name) " (" (t) ")"
                        }
                    }
                }
                @if failures.is_empty() {
                    p #plugin-failures { "No plugin failure since the relay started." }
                } @else {
                    table #plugin-failures.numbers {
                        thead { tr { th { "tenant" } th { "plugin" } th { "failure" } th { "count" } } }
                        tbody {
                            @for (tenant, plugin, kind, n) in &failures {
                                tr { td { (tenant) } td { (plugin) } td { (kind) } td { (n) } }
                            }
                        }
                    }
                }
                p { a href="/console/tenants" { "Tenants and plugins" } }
            }
        }
    };
    layout::page(&c, &viewer, "Overview", "/console", body)
}

/// Destinations the overview shows, the busiest first.
const TOP_DESTINATIONS: usize = 15;

/// Recipient attempts by destination ([`destinations::group`]): a bar each since start, and
/// the numbers of the last hour and since start.
fn destination_table(rows: &[(String, [u64; 3], [u64; 3])]) -> Markup {
    let names: Vec<&str> = OUTCOMES.iter().map(|o| o.name()).collect();
    let bars: Vec<(String, Vec<u64>)> = rows
        .iter()
        .map(|(name, _, total)| (name.clone(), total.to_vec()))
        .collect();
    html! {
        @if rows.is_empty() {
            p #destinations { "No delivery attempt since the relay started." }
        } @else {
            (chart::bars("Recipient attempts by destination since start", &names, &bars))
            table #destinations.numbers {
                thead {
                    tr { th {} th colspan="3" { "last hour" } th colspan="3" { "since start" } }
                    tr { th { "destination" } @for _ in 0..2 { @for n in &names { th { (n) } } } }
                }
                tbody {
                    @for (name, hour, total) in rows {
                        tr {
                            th.destination { (name) }
                            @for n in hour.iter().chain(total) { td { (n) } }
                        }
                    }
                }
            }
            p.hint { "Destinations are recipient domains; past " (destinations::MAX_GROUPS) " of them, new ones count as " (destinations::OTHER) "." }
        }
    }
}

fn series_lines(points: &[Vec<u64>]) -> Vec<Line<'_>> {
    Outcome::ALL
        .iter()
        .zip(points)
        .map(|(o, p)| Line {
            name: o.name(),
            points: p,
        })
        .collect()
}

/// Messages by state: queued (ready or being delivered), deferred, held, quarantined.
async fn queue_by_state(c: &Console) -> Vec<(&'static str, usize)> {
    let live = c.relay.queue.snapshot().await;
    let held = live
        .values()
        .filter(|s| matches!(s, Scheduled::Held))
        .count();
    let waiting = live.len() - held;
    let depth = c.relay.queue.depth();
    let quarantined = c.relay.quarantine.list().map_or(0, |l| l.len());
    vec![
        ("queued", depth.saturating_sub(live.len())),
        ("deferred", waiting),
        ("held", held),
        ("quarantined", quarantined),
    ]
}

/// The spool commit histogram: count, mean and estimated percentiles.
fn commit_latency() -> Markup {
    let h = &crate::metrics::get().spool_commit_seconds;
    let (count, sum) = (h.get_sample_count(), h.get_sample_sum());
    let buckets: Vec<(f64, u64)> = h
        .collect()
        .first()
        .and_then(|f| f.get_metric().first())
        .map(|m| {
            m.get_histogram()
                .get_bucket()
                .iter()
                .map(|b| (b.upper_bound(), b.cumulative_count()))
                .collect()
        })
        .unwrap_or_default();
    let ms = |s: f64| format!("{:.2} ms", s * 1000.0);
    html! {
        @if count == 0 {
            p #commit-latency { "No message committed yet." }
        } @else {
            table #commit-latency.numbers {
                tbody {
                    tr { th { "commits" } td #commits { (count) } }
                    tr { th { "mean" } td { (ms(sum / count as f64)) } }
                    @for q in [0.5, 0.9, 0.99] {
                        tr {
                            th { "p" (q * 100.0) }
                            td { @match quantile(&buckets, count, q) {
                                Some(v) => (format!("≤ {}", ms(v))),
                                None => "above the last bucket",
                            } }
                        }
                    }
                }
            }
        }
    }
}

/// The `q` quantile of a cumulative histogram, interpolated within its bucket as
/// Prometheus's `histogram_quantile` does; `None` past the last finite bucket.
pub fn quantile(buckets: &[(f64, u64)], count: u64, q: f64) -> Option<f64> {
    let rank = q * count as f64;
    let mut below = (0.0, 0u64);
    for &(bound, cumulative) in buckets {
        if cumulative as f64 >= rank {
            let in_bucket = (cumulative - below.1) as f64;
            let part = if in_bucket > 0.0 {
                (rank - below.1 as f64) / in_bucket
            } else {
                1.0
            };
            return Some(below.0 + (bound - below.0) * part);
        }
        below = (bound, cumulative);
    }
    None
}

/// Plugin failures since start: (tenant, plugin, kind, count), largest first.
fn plugin_failures() -> Vec<(String, String, String, u64)> {
    let mut out = Vec::new();
    for family in crate::metrics::get().plugin_failures.collect() {
        for m in family.get_metric() {
            let n = m.get_counter().get_value() as u64;
            if n > 0 {
                out.push((label(m, "tenant"), label(m, "plugin"), label(m, "kind"), n));
            }
        }
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.3));
    out
}

/// The value of a metric's label `name` ("" when it has none).
pub fn label(m: &prometheus::proto::Metric, name: &str) -> String {
    m.get_label()
        .iter()
        .find(|l| l.name() == name)
        .map(|l| l.value().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let buckets = [(0.001, 50), (0.01, 90), (0.1, 100)];
        let q = |q| quantile(&buckets, 100, q).unwrap();
        assert!((q(0.5) - 0.001).abs() < 1e-9);
        assert!((q(0.7) - 0.0055).abs() < 1e-9);
        assert!((q(0.99) - 0.091).abs() < 1e-9);
        assert_eq!(quantile(&buckets, 200, 0.9), None);
    }
}
