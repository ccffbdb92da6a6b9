//! SMTP AUTH: password checks against argon2 hashes, how many run at once, and the failure
//! limiter.

mod checks;

pub use checks::{Checked, PasswordChecks};

use crate::config::resolved::AuthPolicy;
use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Checked when the user is unknown, so that an unknown user costs the same time as a wrong
/// password (the hash of a random string with the default parameters).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$QY9+OiVwDVhCgJkuz+sHGw$ILAYnsDtvVFqf3kC7t0DsFgJ2X1/VJtWWe7UCFX9geE";

/// Verifies `password` against `hash` (or the dummy when the user is unknown), filling
/// `memory` with argon2's working blocks (grown to what the hash's parameters ask, and kept
/// by the caller for the next check: one 19 MiB allocation per checker, not per attempt).
/// CPU-heavy: call from a blocking thread.
pub fn verify_password(hash: Option<&str>, password: &[u8], memory: &mut Vec<Block>) -> bool {
    let known = hash.is_some();
    let Ok(parsed) = PasswordHash::new(hash.unwrap_or(DUMMY_HASH)) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(parsed.algorithm);
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&parsed))
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut computed = vec![0u8; expected.len()];
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut computed,
        &mut memory[..blocks],
    );
    // `Output`'s comparison is constant-time.
    hashed.is_ok() && Output::new(&computed).is_ok_and(|c| c == expected) && known
}

/// Hashes a password for the config file.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// What the limiter says about an AUTH attempt that is about to be checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The client IP or the user is locked out: refuse without checking.
    Locked,
    /// Counted as a failure unless it succeeds; `last` when it used up the allowance, so that
    /// a failure closes the session with the lockout reply.
    Counted { last: bool },
}

#[derive(Debug)]
struct Window {
    failures: u32,
    started: Instant,
    locked_until: Option<Instant>,
}

/// Counts AUTH attempts per client IP and per username — from when they start, until one
/// succeeds; past the limit within the window, that IP or user is locked out for a while.
#[derive(Debug)]
pub struct FailureLimiter {
    policy: AuthPolicy,
    windows: Mutex<HashMap<String, Window>>,
}

impl FailureLimiter {
    pub fn new(policy: AuthPolicy) -> FailureLimiter {
        FailureLimiter {
            policy,
            windows: Mutex::new(HashMap::new()),
        }
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
        Self::keys(ip, user).iter().any(|k| {
            windows
                .get(k)
                .and_then(|w| w.locked_until)
                .is_some_and(|t| t > now)
        })
    }

    /// Counts an AUTH attempt as it starts, before its password is checked, and takes it back
    /// if it succeeds ([`FailureLimiter::succeeded`]). Counting at the start means attempts
    /// running at once cannot exceed the allowance: the one that reaches `max_failures` starts
    /// the lockout, and every later one is refused without a check.
    pub fn attempt(&self, ip: IpAddr, user: &str) -> Attempt {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, w| now.duration_since(w.started) < self.policy.failure_window);
        }
        let keys = Self::keys(ip, Some(user));
        let locked = keys.iter().any(|k| {
            windows
                .get(k)
                .and_then(|w| w.locked_until)
                .is_some_and(|t| t > now)
        });
        if locked {
            return Attempt::Locked;
        }
        let mut last = false;
        for k in keys {
            let w = windows.entry(k).or_insert(Window {
                failures: 0,
                started: now,
                locked_until: None,
            });
            if now.duration_since(w.started) > self.policy.failure_window {
                *w = Window {
                    failures: 0,
                    started: now,
                    locked_until: None,
                };
            }
            w.failures += 1;
            if w.failures >= self.policy.max_failures {
                w.locked_until = Some(now + self.policy.lockout);
                last = true;
            }
        }
        Attempt::Counted { last }
    }

    /// Takes back the attempt that succeeded, and every failure before it.
    pub fn succeeded(&self, ip: IpAddr, user: &str) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        for k in Self::keys(ip, Some(user)) {
            windows.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy(max_failures: u32) -> AuthPolicy {
        AuthPolicy {
            require_tls: true,
            max_failures,
            failure_window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
            concurrent_checks: 1,
            check_wait: Duration::from_secs(1),
        }
    }

    #[test]
    fn dummy_hash_parses_and_never_matches() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        let mut memory = Vec::new();
        assert!(!verify_password(None, b"anything", &mut memory));
        assert_eq!(memory.len(), 19456, "one block per KiB of m_cost");
        let h = hash_password("s3cret").unwrap();
        assert!(verify_password(Some(&h), b"s3cret", &mut memory));
        assert!(!verify_password(Some(&h), b"wrong", &mut memory));
        assert!(!verify_password(Some("not a hash"), b"s3cret", &mut memory));
    }

    #[test]
    fn reused_memory_gives_the_same_answers_for_other_parameters() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 3, 1, None).unwrap(),
        )
        .hash_password(b"pw", &salt)
        .unwrap()
        .to_string();
        let mut memory = Vec::new();
        assert!(!verify_password(None, b"pw", &mut memory));
        // A larger buffer left over from the dummy check: only its first 64 blocks are used.
        assert!(verify_password(Some(&small), b"pw", &mut memory));
        assert!(!verify_password(Some(&small), b"pW", &mut memory));
    }

    #[test]
    fn lockout_after_max_failures() {
        let l = FailureLimiter::new(policy(3));
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        assert_eq!(l.attempt(ip, "u"), Attempt::Counted { last: false });
        assert_eq!(l.attempt(ip, "v"), Attempt::Counted { last: false });
        assert!(!l.is_locked(ip, None));
        assert_eq!(l.attempt(ip, "w"), Attempt::Counted { last: true });
        assert!(l.is_locked(ip, None));
        assert_eq!(l.attempt(ip, "x"), Attempt::Locked);
        assert!(!l.is_locked("127.0.0.10".parse().unwrap(), Some("u")));
    }

    /// Attempts count when they start: a burst of them in flight at once cannot check more
    /// passwords than the allowance, whatever order they finish in.
    #[test]
    fn attempts_in_flight_count_before_they_finish() {
        let l = FailureLimiter::new(policy(3));
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let started: Vec<Attempt> = (0..10).map(|_| l.attempt(ip, "demo")).collect();
        let checked = started.iter().filter(|a| **a != Attempt::Locked).count();
        assert_eq!(checked, 3);
        // The user is locked from any address too.
        assert_eq!(
            l.attempt("127.0.0.10".parse().unwrap(), "demo"),
            Attempt::Locked
        );
    }

    #[test]
    fn a_success_takes_its_attempt_and_earlier_failures_back() {
        let l = FailureLimiter::new(policy(3));
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        l.attempt(ip, "demo");
        l.attempt(ip, "demo");
        l.succeeded(ip, "demo");
        assert_eq!(l.attempt(ip, "demo"), Attempt::Counted { last: false });
        assert_eq!(l.attempt(ip, "demo"), Attempt::Counted { last: false });
    }
}
