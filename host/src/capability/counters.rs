//! `host.counter-add` / `counter-get` / `counter-add-below`: windowed counters kept on the host,
//! so limits hold across plugin instances and SMTP sessions.
//!
//! Each tenant × plugin has its own map ([`CounterScope`]), with its own lock and its own
//! limits: a guest cannot name another tenant's counter, one tenant's busy plugin never waits
//! on another's lock, and what a plugin can make the host keep is bounded — names of at most
//! [`MAX_NAME`] bytes, at most `max_counters` live counters. A counter whose counts have all
//! left its window is dropped (when touched, and by a sweep at most once a minute or when the
//! map is full). Past a limit the call fails: the hook fails as `invalid`.
//!
//! With `[cluster] redis`, counts are kept on the shared server ([`crate::cluster`]) so a
//! limit holds across nodes; this node still keeps its own admitted counts here, which bounds
//! the names a plugin can create (per node) and is what `counters_on_unavailable = "local"`
//! falls back on while the server is unavailable.

use crate::cluster::{Cluster, Unavailable};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest counter name, in bytes.
pub const MAX_NAME: usize = 256;
/// Live counters one tenant's plugin may have unless the operator says otherwise.
pub const DEFAULT_MAX_COUNTERS: usize = 10_000;
/// A window is split into this many buckets; counts older than the window drop out bucket by
/// bucket, so the window slides in steps of 1/60 of its length.
const BUCKETS: u64 = 60;
/// Seconds between sweeps for counters whose counts all expired.
const SWEEP_EVERY: u64 = 60;

/// Why a counter call was refused. The hook call fails as `invalid`.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("counter name of {len} bytes refused: names are at most {MAX_NAME} bytes")]
    NameTooLong { len: usize },
    #[error("new counter refused: this plugin already has {max} live counters (max_counters)")]
    TooMany { max: usize },
    #[error("shared counters unavailable (cluster.counters_on_unavailable = \"tempfail\"): {0}")]
    Unavailable(#[from] crate::cluster::ClusterError),
}

struct Series {
    window: u64,
    /// (bucket start in seconds, count), oldest first; empty once everything expired.
    buckets: VecDeque<(u64, u64)>,
}

impl Series {
    fn expire(&mut self, now: u64) {
        while self
            .buckets
            .front()
            .is_some_and(|(start, _)| start + self.window <= now)
        {
            self.buckets.pop_front();
        }
    }

    fn total(&self) -> u64 {
        self.buckets.iter().map(|(_, n)| n).sum()
    }
}

/// The counters of one tenant's plugin.
struct Scope {
    map: Mutex<ScopeMap>,
    /// Live counters allowed (`max_counters`); a reload may change it.
    max_live: AtomicUsize,
}

#[derive(Default)]
struct ScopeMap {
    /// Keyed by name and window (`name\0window`).
    series: HashMap<String, Series>,
    last_sweep: u64,
}

impl ScopeMap {
    fn sweep(&mut self, now: u64) {
        self.series.retain(|_, s| {
            s.expire(now);
            !s.buckets.is_empty()
        });
        self.last_sweep = now;
    }
}

/// Every scope of the process, so a reloaded plugin keeps its counts. Only looked at when a
/// plugin loads; a scope no loaded plugin holds any more is dropped with its counters.
#[derive(Default)]
pub struct Counters {
    scopes: Mutex<HashMap<(String, String), Weak<Scope>>>,
    /// The shared server, when `[cluster] redis` is set (once, at start).
    shared: OnceLock<Arc<Cluster>>,
}

impl Counters {
    /// Keeps counts on `cluster` from now on, for every scope made after this call.
    pub fn share(&self, cluster: Arc<Cluster>) {
        let _ = self.shared.set(cluster);
    }

    /// The counters of `plugin` in `tenant`'s chain, with `max_live` live counters at most.
    pub fn scope(&self, tenant: &str, plugin: &str, max_live: usize) -> CounterScope {
        let mut scopes = self.scopes.lock().unwrap_or_else(|e| e.into_inner());
        scopes.retain(|_, s| s.strong_count() > 0);
        let key = (tenant.to_owned(), plugin.to_owned());
        let shared = self.shared.get().map(|cluster| Shared {
            cluster: cluster.clone(),
            tenant: Arc::from(tenant),
            plugin: Arc::from(plugin),
        });
        if let Some(scope) = scopes.get(&key).and_then(Weak::upgrade) {
            scope.max_live.store(max_live, Ordering::Relaxed);
            return CounterScope { scope, shared };
        }
        let scope = Arc::new(Scope {
            map: Mutex::default(),
            max_live: AtomicUsize::new(max_live),
        });
        scopes.insert(key, Arc::downgrade(&scope));
        CounterScope { scope, shared }
    }

    /// The counters `plugin` in `tenant`'s chain keeps on this node (some may have expired
    /// since the last sweep) and its `max_counters`, if it is loaded: the console's "how
    /// close to its limit".
    pub fn usage(&self, tenant: &str, plugin: &str) -> Option<(usize, usize)> {
        let scopes = self.scopes.lock().unwrap_or_else(|e| e.into_inner());
        let scope = scopes
            .get(&(tenant.to_owned(), plugin.to_owned()))?
            .upgrade()?;
        let live = scope
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .series
            .len();
        Some((live, scope.max_live.load(Ordering::Relaxed)))
    }
}

/// One plugin's counters: its tenant's and its own names only (the counters capability's
/// context). Made once per loaded plugin; each instance gets a cheap clone.
#[derive(Clone)]
pub struct CounterScope {
    scope: Arc<Scope>,
    shared: Option<Shared>,
}

/// Where this scope's counts live across nodes.
#[derive(Clone)]
struct Shared {
    cluster: Arc<Cluster>,
    tenant: Arc<str>,
    plugin: Arc<str>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl CounterScope {
    /// What the host functions call: adds `delta` unless the window's total would pass
    /// `limit` (`Err(total)` then) — on the shared server when there is one, else (or when it
    /// is unavailable and the config says `local`) on this node.
    pub async fn count(
        &self,
        name: &str,
        window_secs: u32,
        delta: u64,
        limit: u64,
    ) -> Result<Result<u64, u64>, CounterError> {
        let Some(shared) = &self.shared else {
            return self.update(name, window_secs, delta, limit, now());
        };
        if name.len() > MAX_NAME {
            return Err(CounterError::NameTooLong { len: name.len() });
        }
        self.admits(name, window_secs, now())?;
        let key = shared
            .cluster
            .counter_key(&shared.tenant, &shared.plugin, name, window_secs);
        let width = (u64::from(window_secs.max(1)) / BUCKETS).max(1);
        match shared
            .cluster
            .count(&key, window_secs, width, delta, limit)
            .await
        {
            Ok(answer) => {
                if answer.is_ok() && delta > 0 {
                    // This node's share, for the name bound and the fallback.
                    let _ = self.update(name, window_secs, delta, u64::MAX, now());
                }
                Ok(answer)
            }
            Err(e) => match shared.cluster.counters_on_unavailable {
                Unavailable::Local => self.update(name, window_secs, delta, limit, now()),
                Unavailable::Tempfail => Err(e.into()),
            },
        }
    }

    /// Whether a count for `name` may be kept: it exists, or there is room for a new one.
    fn admits(&self, name: &str, window_secs: u32, now: u64) -> Result<(), CounterError> {
        let key = format!("{name}\u{0}{window_secs}");
        let mut map = self.scope.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.series.contains_key(&key) {
            return Ok(());
        }
        let max = self.scope.max_live.load(Ordering::Relaxed);
        if map.series.len() >= max {
            map.sweep(now);
        }
        if map.series.len() >= max {
            return Err(CounterError::TooMany { max });
        }
        Ok(())
    }

    pub fn add(&self, name: &str, window_secs: u32, delta: u64) -> Result<u64, CounterError> {
        self.update(name, window_secs, delta, u64::MAX, now())
            .map(|(Ok(n) | Err(n))| n)
    }

    pub fn add_below(
        &self,
        name: &str,
        window_secs: u32,
        delta: u64,
        limit: u64,
    ) -> Result<Result<u64, u64>, CounterError> {
        self.update(name, window_secs, delta, limit, now())
    }

    pub fn get(&self, name: &str, window_secs: u32) -> Result<u64, CounterError> {
        self.add(name, window_secs, 0)
    }

    /// Live counters, for tests.
    #[cfg(test)]
    fn live(&self) -> usize {
        self.scope.map.lock().unwrap().series.len()
    }

    /// Adds `delta` unless the total would pass `limit` (`Err(total)` then); one lock, so
    /// exact under concurrency. A counter is only created by a count that is added.
    fn update(
        &self,
        name: &str,
        window_secs: u32,
        delta: u64,
        limit: u64,
        now: u64,
    ) -> Result<Result<u64, u64>, CounterError> {
        if name.len() > MAX_NAME {
            return Err(CounterError::NameTooLong { len: name.len() });
        }
        let window = u64::from(window_secs.max(1));
        let width = (window / BUCKETS).max(1);
        let bucket = now - now % width;
        let key = format!("{name}\u{0}{window_secs}");
        let mut map = self.scope.map.lock().unwrap_or_else(|e| e.into_inner());
        if now >= map.last_sweep + SWEEP_EVERY {
            map.sweep(now);
        }
        let total = match map.series.get_mut(&key) {
            Some(series) => {
                series.expire(now);
                series.total()
            }
            None => 0,
        };
        if total.saturating_add(delta) > limit {
            return Ok(Err(total));
        }
        if delta == 0 {
            if total == 0 {
                map.series.remove(&key);
            }
            return Ok(Ok(total));
        }
        if !map.series.contains_key(&key) {
            let max = self.scope.max_live.load(Ordering::Relaxed);
            if map.series.len() >= max {
                map.sweep(now);
            }
            if map.series.len() >= max {
                return Err(CounterError::TooMany { max });
            }
        }
        let series = map.series.entry(key).or_insert_with(|| Series {
            window,
            buckets: VecDeque::new(),
        });
        match series.buckets.back_mut() {
            Some((start, n)) if *start == bucket => *n += delta,
            _ => series.buckets.push_back((bucket, delta)),
        }
        Ok(Ok(total + delta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(max: usize) -> CounterScope {
        Counters::default().scope("t", "p", max)
    }

    #[test]
    fn windows_slide_and_tenants_are_apart() {
        let c = scope(10);
        let add = |delta, now| c.update("k", 60, delta, u64::MAX, now).unwrap().unwrap();
        assert_eq!(add(1, 1000), 1);
        assert_eq!(add(2, 1030), 3);
        assert_eq!(add(0, 1059), 3);
        assert_eq!(add(0, 1061), 2, "the first count left the window");
        assert_eq!(add(0, 1091), 0);
        assert_eq!(c.update("b", 60, 2, 3, 2000).unwrap(), Ok(2));
        assert_eq!(c.update("b", 60, 2, 3, 2001).unwrap(), Err(2));
        assert_eq!(c.update("b", 60, 1, 3, 2002).unwrap(), Ok(3));

        let all = Counters::default();
        let a = all.scope("tenant-a", "p", 10);
        let b = all.scope("tenant-b", "p", 10);
        a.add("messages", 60, 5).unwrap();
        assert_eq!(b.get("messages", 60).unwrap(), 0);
        assert_eq!(b.get("tenant-a\u{0}p\u{0}messages", 60).unwrap(), 0);
        // The same tenant's plugin, loaded again (a reload), keeps its counts.
        assert_eq!(
            all.scope("tenant-a", "p", 10).get("messages", 60).unwrap(),
            5
        );
    }

    #[test]
    fn names_and_live_counters_are_capped() {
        let c = scope(3);
        let long = "n".repeat(MAX_NAME + 1);
        assert!(matches!(
            c.add(&long, 60, 1),
            Err(CounterError::NameTooLong { len: 257 })
        ));
        assert!(c.add(&long[..MAX_NAME], 60, 1).is_ok());
        for name in ["a", "b"] {
            c.update(name, 60, 1, u64::MAX, 1000).unwrap().unwrap();
        }
        let refused = c.update("d", 60, 1, u64::MAX, 1000);
        assert!(matches!(refused, Err(CounterError::TooMany { max: 3 })));
        // Existing counters still count; reads never create one.
        assert_eq!(c.update("a", 60, 1, u64::MAX, 1000).unwrap(), Ok(2));
        assert_eq!(
            c.update("never-added", 60, 0, u64::MAX, 1000).unwrap(),
            Ok(0)
        );
        assert_eq!(c.live(), 3);
    }

    #[test]
    fn expired_counters_are_dropped() {
        let c = scope(2);
        c.update("a", 10, 1, u64::MAX, 1000).unwrap().unwrap();
        c.update("b", 10, 1, u64::MAX, 1000).unwrap().unwrap();
        // Touching an expired counter drops it.
        assert_eq!(c.update("a", 10, 0, u64::MAX, 1011).unwrap(), Ok(0));
        assert_eq!(c.live(), 1);
        // A full map is swept before a new name is refused: "b" expired too.
        c.update("c", 10, 1, u64::MAX, 1012).unwrap().unwrap();
        c.update("d", 10, 1, u64::MAX, 1012).unwrap().unwrap();
        assert_eq!(c.live(), 2);
        // And once a minute the whole map is swept.
        c.update("e", 10, 0, u64::MAX, 1100).unwrap().unwrap();
        assert_eq!(c.live(), 0);
    }
}
