//! The AUTH failure limiter: failed attempts per client IP and per username, and lockouts.
//!
//! An attempt is counted while its password is being checked, not only once it has failed:
//! attempts in flight plus failures may not exceed `max_failures`, so a burst of attempts at
//! once checks no more passwords than the allowance. An attempt that finds no room waits
//! (until the session's deadline) for one in flight to finish: a success frees the room, a
//! failure may start the lockout. Many correct logins at once from one application therefore
//! wait their turn instead of locking it out.

use crate::config::resolved::AuthPolicy;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::Notify;

#[derive(Debug)]
struct Window {
    failures: u32,
    /// Attempts being checked now.
    in_flight: u32,
    started: Instant,
    locked_until: Option<Instant>,
}

impl Window {
    /// Forgets failures (and the lockout) older than the window; attempts in flight stay.
    fn refresh(&mut self, now: Instant, policy: &AuthPolicy) {
        if now.duration_since(self.started) > policy.failure_window {
            self.failures = 0;
            self.started = now;
            self.locked_until = None;
        }
    }

    fn locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }
}

/// Counts AUTH attempts per client IP and per username; past the limit within the window,
/// that IP or user is locked out for a while.
#[derive(Debug)]
pub struct FailureLimiter {
    /// Replaced by a reload; the counts in `windows` carry over.
    policy: Mutex<AuthPolicy>,
    windows: Mutex<HashMap<String, Window>>,
    /// Woken whenever an attempt in flight ends, for attempts waiting for room.
    settled: Notify,
}

/// What [`FailureLimiter::begin`] says about an attempt.
#[derive(Debug)]
pub enum Begin<'a> {
    /// The client IP or the user is locked out: refuse without checking.
    Locked,
    /// Other attempts in flight hold the whole allowance, and none finished before the
    /// deadline: a temporary failure, nothing checked.
    Busy,
    /// Counted while it is checked; settle it with the outcome.
    Started(Pending<'a>),
}

/// An attempt being checked. Dropped without an outcome, it counts as a failure.
#[derive(Debug)]
pub struct Pending<'a> {
    limiter: &'a FailureLimiter,
    keys: Vec<String>,
    settled: bool,
}

impl Pending<'_> {
    /// The password was wrong (or the user unknown); true when this failure starts a lockout.
    pub fn failed(mut self) -> bool {
        self.settle(Some(false))
    }

    /// The password matched: this attempt and the failures before it are forgotten.
    pub fn succeeded(mut self) {
        self.settle(Some(true));
    }

    /// Nothing was checked (no checker free in time): the attempt does not count.
    pub fn abandoned(mut self) {
        self.settle(None);
    }

    fn settle(&mut self, valid: Option<bool>) -> bool {
        self.settled = true;
        let l = self.limiter;
        let policy = l.policy();
        let now = Instant::now();
        let mut locked = false;
        let mut windows = l.windows.lock().unwrap_or_else(|e| e.into_inner());
        for k in &self.keys {
            let Some(w) = windows.get_mut(k) else {
                continue;
            };
            w.in_flight = w.in_flight.saturating_sub(1);
            w.refresh(now, &policy);
            match valid {
                Some(true) => {
                    w.failures = 0;
                    w.locked_until = None;
                }
                Some(false) => {
                    w.failures += 1;
                    if w.failures >= policy.max_failures {
                        w.locked_until = Some(now + policy.lockout);
                        locked = true;
                    }
                }
                None => {}
            }
            if w.in_flight == 0 && w.failures == 0 && w.locked_until.is_none() {
                windows.remove(k);
            }
        }
        drop(windows);
        l.settled.notify_waiters();
        locked
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.settle(Some(false));
        }
    }
}

impl FailureLimiter {
    pub fn new(policy: AuthPolicy) -> FailureLimiter {
        FailureLimiter {
            policy: Mutex::new(policy),
            windows: Mutex::new(HashMap::new()),
            settled: Notify::new(),
        }
    }

    fn policy(&self) -> AuthPolicy {
        self.policy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes a reloaded config's limits; attempts already counted stay counted.
    pub fn set_policy(&self, policy: AuthPolicy) {
        *self.policy.lock().unwrap_or_else(|e| e.into_inner()) = policy;
    }

    fn keys(ip: IpAddr, user: Option<&str>) -> Vec<String> {
        let mut k = vec![format!("ip:{ip}")];
        if let Some(u) = user {
            k.push(format!("user:{u}"));
        }
        k
    }

    /// Whether this IP (or user) is locked out now.
    pub fn is_locked(&self, ip: IpAddr, user: Option<&str>) -> bool {
        let now = Instant::now();
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        Self::keys(ip, user)
            .iter()
            .any(|k| windows.get(k).is_some_and(|w| w.locked(now)))
    }

    /// Starts an attempt for `user` from `ip` once failures plus attempts in flight leave
    /// room under `max_failures`, waiting until `deadline` for one in flight to finish.
    pub async fn begin(&self, ip: IpAddr, user: &str, deadline: tokio::time::Instant) -> Begin<'_> {
        let keys = Self::keys(ip, Some(user));
        loop {
            // Registered before looking, so that an attempt settling in between wakes us.
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if let Some(begun) = self.try_begin(&keys) {
                return begun;
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                return Begin::Busy;
            }
        }
    }

    fn try_begin(&self, keys: &[String]) -> Option<Begin<'_>> {
        let now = Instant::now();
        let policy = &self.policy();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, w| {
                w.in_flight > 0 || now.duration_since(w.started) < policy.failure_window
            });
        }
        for k in keys {
            if let Some(w) = windows.get_mut(k) {
                w.refresh(now, policy);
                if w.locked(now) {
                    return Some(Begin::Locked);
                }
                if w.failures + w.in_flight >= policy.max_failures {
                    return None;
                }
            }
        }
        for k in keys {
            windows
                .entry(k.clone())
                .or_insert(Window {
                    failures: 0,
                    in_flight: 0,
                    started: now,
                    locked_until: None,
                })
                .in_flight += 1;
        }
        Some(Begin::Started(Pending {
            limiter: self,
            keys: keys.to_vec(),
            settled: false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limiter(max_failures: u32) -> FailureLimiter {
        FailureLimiter::new(AuthPolicy {
            require_tls: true,
            max_failures,
            failure_window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
            concurrent_checks: 1,
            check_wait: Duration::from_secs(1),
        })
    }

    fn soon() -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_millis(20)
    }

    async fn started<'a>(l: &'a FailureLimiter, ip: &str, user: &str) -> Pending<'a> {
        match l.begin(ip.parse().unwrap(), user, soon()).await {
            Begin::Started(p) => p,
            other => panic!("not started: {other:?}"),
        }
    }

    #[tokio::test]
    async fn lockout_after_max_failures() {
        let l = limiter(3);
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        assert!(!started(&l, "127.0.0.9", "u").await.failed());
        assert!(!started(&l, "127.0.0.9", "v").await.failed());
        assert!(!l.is_locked(ip, None));
        assert!(started(&l, "127.0.0.9", "w").await.failed());
        assert!(l.is_locked(ip, None));
        assert!(matches!(l.begin(ip, "x", soon()).await, Begin::Locked));
        assert!(!l.is_locked("127.0.0.10".parse().unwrap(), Some("u")));
    }

    /// Attempts in flight hold the allowance: a burst cannot check more passwords than
    /// `max_failures` before the lockout, whatever order they finish in.
    #[tokio::test]
    async fn attempts_in_flight_count_before_they_finish() {
        let l = limiter(3);
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let mut in_flight = Vec::new();
        for _ in 0..3 {
            in_flight.push(started(&l, "127.0.0.9", "demo").await);
        }
        // A fourth waits for room, and gives up at its deadline.
        assert!(matches!(l.begin(ip, "demo", soon()).await, Begin::Busy));
        let waiting = l.begin(
            ip,
            "demo",
            tokio::time::Instant::now() + Duration::from_secs(5),
        );
        let fail_all = async {
            tokio::task::yield_now().await;
            let locks: Vec<bool> = in_flight.into_iter().map(Pending::failed).collect();
            assert_eq!(locks, [false, false, true]);
        };
        let (begun, ()) = tokio::join!(waiting, fail_all);
        assert!(matches!(begun, Begin::Locked), "{begun:?}");
        // The user is locked from any address too.
        let other: IpAddr = "127.0.0.10".parse().unwrap();
        assert!(matches!(
            l.begin(other, "demo", soon()).await,
            Begin::Locked
        ));
    }

    /// Many correct logins at once for one user: each waits for room, none is locked out.
    #[tokio::test]
    async fn concurrent_successes_wait_their_turn_and_never_lock_out() {
        let l = limiter(2);
        let first = started(&l, "127.0.0.9", "demo").await;
        let second = started(&l, "127.0.0.9", "demo").await;
        let third = l.begin(
            "127.0.0.9".parse().unwrap(),
            "demo",
            tokio::time::Instant::now() + Duration::from_secs(5),
        );
        let settle = async {
            tokio::task::yield_now().await;
            first.succeeded();
        };
        let (third, ()) = tokio::join!(third, settle);
        let Begin::Started(third) = third else {
            panic!("{third:?}")
        };
        second.succeeded();
        third.succeeded();
        assert!(l.windows.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_attempt_nothing_checked_does_not_count_but_a_dropped_one_does() {
        let l = limiter(2);
        started(&l, "127.0.0.9", "demo").await.abandoned();
        started(&l, "127.0.0.9", "demo").await.abandoned();
        drop(started(&l, "127.0.0.9", "demo").await);
        assert!(!l.is_locked("127.0.0.9".parse().unwrap(), Some("demo")));
        drop(started(&l, "127.0.0.9", "demo").await);
        assert!(l.is_locked("127.0.0.9".parse().unwrap(), Some("demo")));
    }
}
