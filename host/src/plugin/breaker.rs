//! The crash-loop breaker of one loaded plugin: after [`FAILURES`] failures in a row the
//! plugin is not called for a cooldown (its `on_failure.breaker` action applies instead);
//! then calls go through again, and the first one decides: a success closes the breaker, a
//! failure opens it again at once. Its own lock: one per tenant × plugin.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive failures after which a plugin is not called for a while.
pub const FAILURES: u32 = 5;

pub struct Breaker {
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Failures in a row while closed.
    consecutive: u32,
    /// Since when the breaker is open (or half-open, after the cooldown); none when closed.
    opened_at: Option<Instant>,
    /// Calls are skipped until then.
    open_until: Option<Instant>,
}

/// What a call's outcome did to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// It opened after this many failures in a row (1: a trial call failed).
    Opened { failures: u32 },
    /// It closed after being open for this long.
    Closed { open_for: Duration },
}

impl Breaker {
    pub fn new(cooldown: Duration) -> Breaker {
        Breaker {
            cooldown,
            state: Mutex::default(),
        }
    }

    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while the breaker is open (calls are skipped).
    pub fn is_open(&self) -> bool {
        self.is_open_at(Instant::now())
    }

    fn is_open_at(&self, now: Instant) -> bool {
        self.state().open_until.is_some_and(|until| now < until)
    }

    pub fn succeeded(&self) -> Option<Transition> {
        self.succeeded_at(Instant::now())
    }

    fn succeeded_at(&self, now: Instant) -> Option<Transition> {
        let mut s = self.state();
        s.consecutive = 0;
        s.open_until = None;
        let opened_at = s.opened_at.take()?;
        Some(Transition::Closed {
            open_for: now.saturating_duration_since(opened_at),
        })
    }

    pub fn failed(&self) -> Option<Transition> {
        self.failed_at(Instant::now())
    }

    fn failed_at(&self, now: Instant) -> Option<Transition> {
        let mut s = self.state();
        match s.open_until {
            // A call begun before the breaker opened: it is open already.
            Some(until) if now < until => None,
            // The trial after the cooldown failed: open again, from now.
            Some(_) => {
                s.open_until = Some(now + self.cooldown);
                Some(Transition::Opened { failures: 1 })
            }
            None => {
                s.consecutive += 1;
                if s.consecutive < FAILURES {
                    return None;
                }
                let failures = std::mem::take(&mut s.consecutive);
                s.opened_at = Some(now);
                s.open_until = Some(now + self.cooldown);
                Some(Transition::Opened { failures })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_five_failures_and_closes_on_a_successful_trial() {
        let b = Breaker::new(Duration::from_secs(30));
        let t0 = Instant::now();
        for _ in 1..FAILURES {
            assert_eq!(b.failed_at(t0), None);
        }
        assert_eq!(
            b.failed_at(t0),
            Some(Transition::Opened { failures: FAILURES })
        );
        assert!(b.is_open_at(t0 + Duration::from_secs(29)));
        // A call that started before it opened changes nothing.
        assert_eq!(b.failed_at(t0 + Duration::from_secs(1)), None);
        // After the cooldown a trial goes through; its failure opens it again at once.
        let t1 = t0 + Duration::from_secs(30);
        assert!(!b.is_open_at(t1));
        assert_eq!(b.failed_at(t1), Some(Transition::Opened { failures: 1 }));
        assert!(b.is_open_at(t1 + Duration::from_secs(29)));
        let t2 = t1 + Duration::from_secs(30);
        assert_eq!(
            b.succeeded_at(t2),
            Some(Transition::Closed {
                open_for: Duration::from_secs(60)
            })
        );
        assert_eq!(b.succeeded_at(t2), None);
        assert!(!b.is_open_at(t2));
    }
}
