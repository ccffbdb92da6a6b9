//! How many password checks run at once.
//!
//! One argon2 check with the default parameters fills 19 MiB. Unbounded, a burst of 64
//! failing AUTHs from as many addresses took the relay from 23 MiB to 1.1 GiB, and glibc kept
//! most of it afterwards (each blocking thread's malloc arena holds on to what it freed):
//! BENCHMARKS.md, "AUTH under a burst". So at most `concurrent_checks` run at once, each on
//! the blocking pool (tens of milliseconds of CPU must not stall a session worker), and each
//! reuses one of that many argon2 buffers instead of allocating its own: the relay's memory
//! for AUTH is bounded by `concurrent_checks` x 19 MiB, whatever the burst. A session that
//! finds no free check by its deadline (`check_wait`) is answered 454 4.7.0 (RFC 4954 §6).

use argon2::Block;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The outcome of [`PasswordChecks::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The password matches the hash.
    Valid,
    /// It does not, or the user is unknown (the same work either way).
    Invalid,
    /// No check was free within the wait: a temporary failure, nothing was checked.
    Busy,
}

/// The relay's password checkers: a permit per check that may run, and the argon2 memory
/// each reuses.
#[derive(Debug)]
pub struct PasswordChecks {
    /// One permit per check allowed to run; held until the check has finished on its blocking
    /// thread, even if the session that asked is gone by then.
    permits: Arc<Semaphore>,
    /// Argon2 working memory left by finished checks; never more buffers than permits.
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl PasswordChecks {
    pub fn new(concurrent: usize) -> PasswordChecks {
        PasswordChecks {
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
            buffers: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Checks `password` against `hash` (the dummy hash when the user is unknown) once a
    /// check is free, on the blocking pool; [`Checked::Busy`] if none is free by `deadline`.
    pub async fn verify(
        &self,
        hash: Option<String>,
        password: Vec<u8>,
        deadline: Instant,
    ) -> Checked {
        let permit =
            match tokio::time::timeout_at(deadline, self.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) | Err(_) => return Checked::Busy,
            };
        let buffers = self.buffers.clone();
        let check = tokio::task::spawn_blocking(move || {
            let mut memory = buffers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()
                .unwrap_or_default();
            let valid = super::verify_password(hash.as_deref(), &password, &mut memory);
            buffers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(memory);
            drop(permit);
            valid
        });
        match check.await {
            Ok(true) => Checked::Valid,
            Ok(false) | Err(_) => Checked::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn in_a_minute() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn a_check_waits_for_a_free_permit_then_gives_up() {
        let checks = PasswordChecks::new(1);
        let held = checks.permits.clone().acquire_owned().await.unwrap();
        let soon = Instant::now() + Duration::from_millis(50);
        assert_eq!(
            checks.verify(None, b"x".to_vec(), soon).await,
            Checked::Busy
        );
        drop(held);
        assert_eq!(
            checks.verify(None, b"x".to_vec(), in_a_minute()).await,
            Checked::Invalid
        );
    }

    #[tokio::test]
    async fn checks_at_once_share_as_many_buffers_as_permits() {
        let checks = Arc::new(PasswordChecks::new(2));
        let hash = crate::auth::hash_password("s3cret").unwrap();
        let mut running = Vec::new();
        for i in 0..6 {
            let (checks, hash) = (checks.clone(), hash.clone());
            let password = if i == 0 { "s3cret" } else { "wrong" };
            running.push(tokio::spawn(async move {
                checks
                    .verify(Some(hash), password.into(), in_a_minute())
                    .await
            }));
        }
        let mut outcomes = Vec::new();
        for r in running {
            outcomes.push(r.await.unwrap());
        }
        assert_eq!(outcomes[0], Checked::Valid);
        assert!(outcomes[1..].iter().all(|o| *o == Checked::Invalid));
        let buffers = checks.buffers.lock().unwrap();
        assert!(
            !buffers.is_empty() && buffers.len() <= 2,
            "{} buffers",
            buffers.len()
        );
    }
}
