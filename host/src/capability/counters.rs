//! `host.counter-add` / `host.counter-get`: windowed counters kept on the host, so limits hold
//! across plugin instances and SMTP sessions. The host prefixes every name with the tenant and
//! plugin: a guest cannot name another tenant's counter.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// A window is split into this many buckets; counts older than the window drop out bucket by
/// bucket, so the window slides in steps of 1/60 of its length.
const BUCKETS: u64 = 60;

#[derive(Default)]
struct Series {
    /// (bucket start in seconds, count), oldest first.
    buckets: VecDeque<(u64, u64)>,
}

impl Series {
    fn expire(&mut self, now: u64, window: u64) {
        while self
            .buckets
            .front()
            .is_some_and(|(start, _)| start + window <= now)
        {
            self.buckets.pop_front();
        }
    }

    fn total(&self) -> u64 {
        self.buckets.iter().map(|(_, n)| n).sum()
    }
}

/// Every counter of the process.
#[derive(Default)]
pub struct Counters {
    series: Mutex<HashMap<String, Series>>,
}

impl Counters {
    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn update(&self, key: String, window_secs: u32, delta: u64, now: u64) -> u64 {
        match self.update_below(key, window_secs, delta, u64::MAX, now) {
            Ok(n) | Err(n) => n,
        }
    }

    /// Adds `delta` unless the total would pass `limit`; one lock, so exact under concurrency.
    fn update_below(
        &self,
        key: String,
        window_secs: u32,
        delta: u64,
        limit: u64,
        now: u64,
    ) -> Result<u64, u64> {
        let window = u64::from(window_secs.max(1));
        let width = (window / BUCKETS).max(1);
        let bucket = now - now % width;
        let mut map = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let series = map.entry(key).or_default();
        series.expire(now, window);
        let total = series.total();
        if total.saturating_add(delta) > limit {
            return Err(total);
        }
        if delta > 0 {
            match series.buckets.back_mut() {
                Some((start, n)) if *start == bucket => *n += delta,
                _ => series.buckets.push_back((bucket, delta)),
            }
        }
        Ok(total + delta)
    }
}

/// One plugin's view of the counters: its tenant's and its own names only. Made once per
/// loaded plugin; each instance gets a cheap clone.
#[derive(Clone)]
pub struct CounterScope {
    counters: Arc<Counters>,
    prefix: Arc<str>,
}

impl CounterScope {
    pub fn new(counters: Arc<Counters>, tenant: &str, plugin: &str) -> CounterScope {
        CounterScope {
            counters,
            prefix: Arc::from(format!("{tenant}\u{0}{plugin}\u{0}")),
        }
    }

    fn key(&self, name: &str, window_secs: u32) -> String {
        format!("{}{name}\u{0}{window_secs}", self.prefix)
    }

    pub fn add(&self, name: &str, window_secs: u32, delta: u64) -> u64 {
        self.counters.update(
            self.key(name, window_secs),
            window_secs,
            delta,
            Counters::now(),
        )
    }

    pub fn add_below(
        &self,
        name: &str,
        window_secs: u32,
        delta: u64,
        limit: u64,
    ) -> Result<u64, u64> {
        self.counters.update_below(
            self.key(name, window_secs),
            window_secs,
            delta,
            limit,
            Counters::now(),
        )
    }

    pub fn get(&self, name: &str, window_secs: u32) -> u64 {
        self.counters
            .update(self.key(name, window_secs), window_secs, 0, Counters::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_slide_and_tenants_are_apart() {
        let c = Counters::default();
        assert_eq!(c.update("k".into(), 60, 1, 1000), 1);
        assert_eq!(c.update("k".into(), 60, 2, 1030), 3);
        assert_eq!(c.update("k".into(), 60, 0, 1059), 3);
        assert_eq!(
            c.update("k".into(), 60, 0, 1061),
            2,
            "the first count left the window"
        );
        assert_eq!(c.update("k".into(), 60, 0, 1091), 0);
        assert_eq!(c.update_below("b".into(), 60, 2, 3, 2000), Ok(2));
        assert_eq!(c.update_below("b".into(), 60, 2, 3, 2001), Err(2));
        assert_eq!(c.update_below("b".into(), 60, 1, 3, 2002), Ok(3));

        let all = Arc::new(Counters::default());
        let a = CounterScope::new(all.clone(), "tenant-a", "p");
        let b = CounterScope::new(all, "tenant-b", "p");
        a.add("messages", 60, 5);
        assert_eq!(b.get("messages", 60), 0);
        assert_eq!(b.get("tenant-a\u{0}p\u{0}messages", 60), 0);
    }
}
