//! SMTP AUTH: password checks against argon2 hashes and the failure limiter.

use crate::config::resolved::AuthPolicy;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Checked when the user is unknown, so that an unknown user costs the same time as a wrong
/// password (the hash of a random string with the default parameters).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$QY9+OiVwDVhCgJkuz+sHGw$ILAYnsDtvVFqf3kC7t0DsFgJ2X1/VJtWWe7UCFX9geE";

/// Verifies `password` against `hash` (or the dummy when the user is unknown). CPU-heavy:
/// call from a blocking thread.
pub fn verify_password(hash: Option<&str>, password: &[u8]) -> bool {
    let known = hash.is_some();
    let Ok(parsed) = PasswordHash::new(hash.unwrap_or(DUMMY_HASH)) else {
        return false;
    };
    Argon2::default().verify_password(password, &parsed).is_ok() && known
}

/// Hashes a password for the config file.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

#[derive(Debug)]
struct Window {
    failures: u32,
    started: Instant,
    locked_until: Option<Instant>,
}

/// Counts failed AUTH attempts per client IP and per username; past the limit within the
/// window, that IP or user is locked out for a while.
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

    /// Records a failure; returns true when it starts a lockout.
    pub fn failed(&self, ip: IpAddr, user: Option<&str>) -> bool {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, w| now.duration_since(w.started) < self.policy.failure_window);
        }
        let mut locked = false;
        for k in Self::keys(ip, user) {
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
                locked = true;
            }
        }
        locked
    }

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

    #[test]
    fn dummy_hash_parses_and_never_matches() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password(None, b"anything"));
        let h = hash_password("s3cret").unwrap();
        assert!(verify_password(Some(&h), b"s3cret"));
        assert!(!verify_password(Some(&h), b"wrong"));
    }

    #[test]
    fn lockout_after_max_failures() {
        let l = FailureLimiter::new(AuthPolicy {
            require_tls: true,
            max_failures: 3,
            failure_window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
        });
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        assert!(!l.failed(ip, Some("u")));
        assert!(!l.failed(ip, Some("v")));
        assert!(!l.is_locked(ip, None));
        assert!(l.failed(ip, Some("w")));
        assert!(l.is_locked(ip, None));
        assert!(!l.is_locked("127.0.0.10".parse().unwrap(), Some("u")));
    }
}
