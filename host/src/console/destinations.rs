//! Deliveries by destination, for the overview: how many recipient attempts each destination
//! took, deferred or bounced over the last hour and since the relay started.
//!
//! A destination is what [`group`] makes of a recipient: for now its domain. When delivery
//! groups destinations by provider (MX host suffix), `group` is the one place to switch.
//! Counted from the `delivered`, `deferred`, `bounced` and `expired` events by the console's
//! event layer ([`super::series::Layer`]). The names come from recipients, which clients
//! choose, so the table is bounded: past [`MAX_GROUPS`] destinations, new ones count as
//! [`OTHER`].

use super::series::{now_minute, Outcome};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// Destinations counted by name at most.
pub const MAX_GROUPS: usize = 1000;
/// Where the destinations past [`MAX_GROUPS`] are counted.
pub const OTHER: &str = "(other)";
/// The outcomes counted, in column order.
pub const OUTCOMES: [Outcome; 3] = [Outcome::Delivered, Outcome::Deferred, Outcome::Bounced];

/// The destination of a recipient address: its domain, lower-case, without a trailing dot.
pub fn group(rcpt: &str) -> String {
    let rcpt = rcpt.trim().trim_start_matches('<').trim_end_matches('>');
    rcpt.rsplit_once('@')
        .map_or(rcpt, |(_, domain)| domain)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// One destination's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Since start, in [`OUTCOMES`] order.
    pub total: [u64; 3],
    /// The minute `hour` counts up to, and the counts of each of the last 60 minutes by
    /// outcome (a ring indexed by minute).
    minutes: Vec<(u64, [u32; 3])>,
}

impl Counts {
    /// The last hour up to `now` (a minute), in [`OUTCOMES`] order.
    pub fn last_hour(&self, now: u64) -> [u64; 3] {
        let mut out = [0; 3];
        for (minute, counts) in &self.minutes {
            if *minute <= now && now - *minute < 60 {
                for (o, c) in out.iter_mut().zip(counts) {
                    *o += u64::from(*c);
                }
            }
        }
        out
    }

    fn record(&mut self, column: usize, minute: u64) {
        self.total[column] += 1;
        if self.minutes.is_empty() {
            self.minutes = vec![(u64::MAX, [0; 3]); 60];
        }
        let slot = &mut self.minutes[(minute % 60) as usize];
        if slot.0 != minute {
            *slot = (minute, [0; 3]);
        }
        slot.1[column] = slot.1[column].saturating_add(1);
    }
}

/// Every destination's counts.
#[derive(Default)]
pub struct Destinations {
    map: Mutex<HashMap<String, Counts>>,
}

impl Destinations {
    /// Counts one `outcome` (of [`OUTCOMES`]; others are ignored) for `rcpt` in `minute`.
    pub fn record(&self, rcpt: &str, outcome: Outcome, minute: u64) {
        let Some(column) = OUTCOMES.iter().position(|o| *o == outcome) else {
            return;
        };
        let mut name = group(rcpt);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(&name) && map.len() >= MAX_GROUPS {
            name = OTHER.to_owned();
        }
        map.entry(name).or_default().record(column, minute);
    }

    /// The `n` destinations with the most attempts since start, with their counts over the
    /// last hour and since start, busiest first.
    pub fn top(&self, n: usize, now: u64) -> Vec<(String, [u64; 3], [u64; 3])> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = map
            .iter()
            .map(|(name, c)| (name.clone(), c.last_hour(now), c.total))
            .collect();
        all.sort_by(|a, b| {
            b.2.iter()
                .sum::<u64>()
                .cmp(&a.2.iter().sum())
                .then(a.0.cmp(&b.0))
        });
        all.truncate(n);
        all
    }
}

/// The process's table.
pub fn get() -> &'static Destinations {
    static DESTINATIONS: LazyLock<Destinations> = LazyLock::new(Destinations::default);
    &DESTINATIONS
}

/// Counts an event's outcome for its recipient now (from the event layer).
pub fn record_now(rcpt: &str, outcome: Outcome) {
    get().record(rcpt, outcome, now_minute());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipient_counts_for_its_domain() {
        assert_eq!(group("someone@Gmail.COM."), "gmail.com");
        assert_eq!(group("<a@b.test>"), "b.test");
        assert_eq!(group("postmaster"), "postmaster");
    }

    #[test]
    fn counts_by_destination_over_the_hour_and_since_start_bounded() {
        let d = Destinations::default();
        d.record("a@x.test", Outcome::Delivered, 100);
        d.record("b@X.test", Outcome::Delivered, 130);
        d.record("c@y.test", Outcome::Bounced, 130);
        d.record("c@y.test", Outcome::Accepted, 130);
        let top = d.top(10, 160);
        assert_eq!(top[0], ("x.test".into(), [1, 0, 0], [2, 0, 0]));
        assert_eq!(top[1], ("y.test".into(), [0, 0, 1], [0, 0, 1]));
        assert_eq!(top.len(), 2);
        for i in 0..MAX_GROUPS {
            d.record(&format!("a@d{i}.test"), Outcome::Deferred, 160);
        }
        let map = d.map.lock().unwrap();
        assert_eq!(map.len(), MAX_GROUPS + 1);
        assert_eq!(map[OTHER].total, [0, 2, 0]);
    }
}
