//! Messages per minute by outcome over the last day, for the console's overview.
//!
//! A ring of [`MINUTES`] one-minute buckets, each stamped with the minute it counts, so a
//! bucket left from a day ago reads as zero. It is fed by a tracing [`Layer`] on the
//! `sluice::event` target (which also feeds [`super::destinations`]): every place that logs an outcome counts it, with no second call
//! to keep in step, and `SLUICE_LOG` does not change what it sees. Memory is fixed
//! (1,440 × 6 counters); one short lock per event.

use std::sync::{LazyLock, Mutex};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;

/// The buckets kept: one day of minutes.
pub const MINUTES: usize = 24 * 60;

/// What became of a message (or, for delivery outcomes, of one recipient).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Committed to the spool (`accepted`).
    Accepted,
    /// A recipient delivered (`delivered`).
    Delivered,
    /// A recipient's attempt deferred (`deferred`).
    Deferred,
    /// A recipient bounced or expired (`bounced`, `expired`).
    Bounced,
    /// A policy refused at an SMTP stage (`policy_rejected`).
    Rejected,
    /// A policy held the message (`quarantined`).
    Quarantined,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Accepted,
        Outcome::Delivered,
        Outcome::Deferred,
        Outcome::Bounced,
        Outcome::Rejected,
        Outcome::Quarantined,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Delivered => "delivered",
            Outcome::Deferred => "deferred",
            Outcome::Bounced => "bounced",
            Outcome::Rejected => "rejected",
            Outcome::Quarantined => "quarantined",
        }
    }

    /// The outcome an event line counts as, if any.
    pub fn of_event(event: &str) -> Option<Outcome> {
        Some(match event {
            "accepted" => Outcome::Accepted,
            "delivered" => Outcome::Delivered,
            "deferred" => Outcome::Deferred,
            "bounced" | "expired" => Outcome::Bounced,
            "policy_rejected" => Outcome::Rejected,
            "quarantined" => Outcome::Quarantined,
            _ => return None,
        })
    }
}

/// The per-minute counts of each outcome.
pub struct Series {
    ring: Mutex<Ring>,
}

struct Ring {
    /// The minute (since the Unix epoch) each bucket counts.
    stamp: Vec<u64>,
    counts: Vec<[u32; 6]>,
}

impl Default for Series {
    fn default() -> Self {
        Series {
            ring: Mutex::new(Ring {
                stamp: vec![u64::MAX; MINUTES],
                counts: vec![[0; 6]; MINUTES],
            }),
        }
    }
}

impl Series {
    /// Counts one `outcome` in `minute`.
    pub fn record(&self, outcome: Outcome, minute: u64) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let slot = (minute % MINUTES as u64) as usize;
        if ring.stamp[slot] != minute {
            ring.stamp[slot] = minute;
            ring.counts[slot] = [0; 6];
        }
        let count = &mut ring.counts[slot][outcome as usize];
        *count = count.saturating_add(1);
    }

    /// The counts of the `n` minutes up to and including `now` (oldest first), for each
    /// outcome in [`Outcome::ALL`] order.
    pub fn minutes(&self, now: u64, n: usize) -> [Vec<u64>; 6] {
        let n = n.min(MINUTES);
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: [Vec<u64>; 6] = Default::default();
        for minute in (now + 1).saturating_sub(n as u64)..=now {
            let slot = (minute % MINUTES as u64) as usize;
            let counts = if ring.stamp[slot] == minute {
                ring.counts[slot]
            } else {
                [0; 6]
            };
            for (o, c) in out.iter_mut().zip(counts) {
                o.push(u64::from(c));
            }
        }
        out
    }
}

/// The process's series.
pub fn get() -> &'static Series {
    static SERIES: LazyLock<Series> = LazyLock::new(Series::default);
    &SERIES
}

/// The current minute since the Unix epoch.
pub fn now_minute() -> u64 {
    crate::queue::envelope::unix_now() / 60
}

/// Counts `sluice::event` lines into [`get`]. Install it with its own filter, so the log's
/// filter does not hide events from it: `layer().with_filter(layer_filter())`.
pub struct Layer;

pub fn layer() -> Layer {
    Layer
}

/// Only the event target reaches the layer.
pub fn layer_filter() -> tracing_subscriber::filter::Targets {
    tracing_subscriber::filter::Targets::new().with_target("sluice::event", tracing::Level::TRACE)
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for Layer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "sluice::event" {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let Some(outcome) = fields.event.as_deref().and_then(Outcome::of_event) {
            get().record(outcome, now_minute());
            if let Some(rcpt) = &fields.rcpt {
                super::destinations::record_now(rcpt, outcome);
            }
        }
    }
}

/// The fields of an event line the console counts by: `event`, and `rcpt` for deliveries.
#[derive(Default)]
struct Fields {
    event: Option<String>,
    rcpt: Option<String>,
}

impl Fields {
    fn slot(&mut self, field: &Field) -> Option<&mut Option<String>> {
        match field.name() {
            "event" => Some(&mut self.event),
            "rcpt" => Some(&mut self.rcpt),
            _ => None,
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(slot) = self.slot(field) {
            *slot = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if let Some(slot) = self.slot(field) {
            if slot.is_none() {
                *slot = Some(format!("{value:?}").trim_matches('"').to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer as _;

    #[test]
    fn counts_by_minute_and_forgets_a_day_old_bucket() {
        let s = Series::default();
        s.record(Outcome::Delivered, 1000);
        s.record(Outcome::Delivered, 1000);
        s.record(Outcome::Bounced, 1002);
        let [_, delivered, _, bounced, ..] = s.minutes(1002, 3);
        assert_eq!(delivered, [2, 0, 0]);
        assert_eq!(bounced, [0, 0, 1]);
        // The same slot a day later starts again from zero.
        let next_day = 1000 + MINUTES as u64;
        s.record(Outcome::Accepted, next_day);
        let [accepted, delivered, ..] = s.minutes(next_day, 1);
        assert_eq!((accepted, delivered), (vec![1], vec![0]));
        // A minute the ring no longer holds reads as zero, not as its slot's new count.
        let [accepted, ..] = s.minutes(1000, 1);
        assert_eq!(accepted, [0]);
        assert_eq!(s.minutes(5000, 3000)[0].len(), MINUTES);
    }

    #[test]
    fn the_layer_counts_event_lines_whatever_the_log_filter() {
        let before = get().minutes(now_minute(), 2)[Outcome::Rejected as usize]
            .iter()
            .sum::<u64>();
        // The log shows errors only; the layer still sees info events.
        let log = tracing_subscriber::fmt::layer()
            .with_writer(std::io::sink)
            .with_filter(tracing_subscriber::filter::LevelFilter::ERROR);
        let subscriber = tracing_subscriber::registry()
            .with(log)
            .with(layer().with_filter(layer_filter()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "sluice::event", event = "policy_rejected", tenant = "t");
            tracing::info!(target: "sluice::other", event = "policy_rejected");
            tracing::info!(target: "sluice::event", event = "reloaded");
        });
        let after = get().minutes(now_minute(), 2)[Outcome::Rejected as usize]
            .iter()
            .sum::<u64>();
        assert_eq!(after - before, 1);
    }
}
