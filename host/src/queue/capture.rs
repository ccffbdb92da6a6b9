//! Capture: a sample of a tenant's accepted messages kept for `sluice replay`, opt-in per
//! tenant (`[tenant.capture]`), so an operator can prove a policy on yesterday's traffic.
//!
//! Both transports capture alike: SMTP DATA/BDAT and the HTTP API draw a [`Sample`] of the
//! content they received, and [`crate::submit::commit`] keeps it once the spool has the message.
//!
//! What is kept is the message as the client sent it (before the relay's Received header and
//! the plugins' headers: replay adds those again) and, next to it, its envelope
//! (`NAME.eml.json`: from, to, tenant, client_ip, helo, auth_user, tls, queue_id,
//! received_at), the sidecar replay reads. Names start with the Unix time of acceptance, so
//! replaying the directory runs the messages in the order they came. Only messages the spool
//! committed are kept; a sampled message larger than `max_size` is not. Files are written on
//! the blocking pool after the 250 reply, the sidecar first and each under a temporary name
//! then renamed, so a reader never finds an `.eml` without its envelope or half written.
//! Files older than `retention` are deleted as new ones are written (at most once a minute
//! per directory). Writing a capture never fails a message: an error is logged.

use crate::config::resolved::Capture;
use crate::queue::Envelope;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often a directory is swept for files past their retention.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// A message's envelope, as replay reads it.
#[derive(Debug, Serialize)]
pub struct Sidecar {
    pub from: String,
    pub to: Vec<String>,
    pub tenant: String,
    pub client_ip: String,
    pub helo: String,
    pub auth_user: Option<String>,
    pub tls: Option<String>,
    pub queue_id: String,
    /// Unix seconds.
    pub received_at: u64,
}

impl Sidecar {
    /// What replay needs to know of an accepted message's envelope.
    pub fn of(e: &Envelope) -> Sidecar {
        Sidecar {
            from: e.mail_from.clone(),
            to: e.rcpts.clone(),
            tenant: e.tenant.clone(),
            client_ip: e.client_ip.clone(),
            helo: e.helo.clone(),
            auth_user: e.auth_user.clone(),
            tls: e.tls.clone(),
            queue_id: e.id.0.clone(),
            received_at: e.received_at,
        }
    }
}

/// A message drawn for capture, as the client sent it, waiting for the spool to commit it.
pub struct Sample {
    capture: Capture,
    content: Vec<u8>,
}

impl Sample {
    /// Keeps the sample with `envelope`, the one the spool committed (in the background).
    pub fn keep(self, envelope: &Envelope) {
        keep(&self.capture, self.content, Sidecar::of(envelope));
    }
}

/// Draws `content` for the tenant's `capture`, if it has one: within `max_size`, at `rate`.
/// The copy is taken now, before the relay's headers are added.
pub fn sample(capture: Option<&Capture>, content: &[u8]) -> Option<Sample> {
    let capture = capture.filter(|c| sampled(c, content.len()))?;
    Some(Sample {
        capture: capture.clone(),
        content: content.to_vec(),
    })
}

/// Whether to keep a message of `size` bytes: within `max_size`, and drawn at `rate`.
fn sampled(capture: &Capture, size: usize) -> bool {
    size as u64 <= capture.max_size && rand::random::<f64>() < capture.rate
}

/// Writes the message and its sidecar into the capture directory, then prunes old files;
/// in the background, logging what fails.
pub fn keep(capture: &Capture, message: Vec<u8>, sidecar: Sidecar) {
    let capture = capture.clone();
    tokio::task::spawn_blocking(move || {
        let queue_id = sidecar.queue_id.clone();
        if let Err(e) = write(&capture.dir, &message, &sidecar) {
            tracing::warn!(queue_id = %queue_id, dir = %capture.dir.display(), error = %e, "capture not written");
        }
        if due_for_pruning(&capture.dir) {
            let cutoff = SystemTime::now()
                .checked_sub(capture.retention)
                .unwrap_or(UNIX_EPOCH);
            match prune(&capture.dir, cutoff) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::debug!(dir = %capture.dir.display(), removed = n, "captures past retention removed")
                }
                Err(e) => {
                    tracing::warn!(dir = %capture.dir.display(), error = %e, "captures not pruned")
                }
            }
        }
    });
}

fn write(dir: &Path, message: &[u8], sidecar: &Sidecar) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let stem = format!("{}-{}", sidecar.received_at, sidecar.queue_id);
    let json = serde_json::to_vec_pretty(sidecar).map_err(std::io::Error::other)?;
    let place = |name: String, bytes: &[u8]| -> std::io::Result<()> {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, dir.join(name))
    };
    place(format!("{stem}.eml.json"), &json)?;
    place(format!("{stem}.eml"), message)
}

/// True at most once per `PRUNE_EVERY` for each directory.
fn due_for_pruning(dir: &Path) -> bool {
    static LAST: Mutex<Option<HashMap<PathBuf, Instant>>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let last = last.get_or_insert_with(HashMap::new);
    let now = Instant::now();
    match last.get(dir) {
        Some(t) if now.duration_since(*t) < PRUNE_EVERY => false,
        _ => {
            last.insert(dir.to_owned(), now);
            true
        }
    }
}

/// Deletes the captures (`.eml` and `.eml.json`) last modified before `cutoff`; returns how
/// many files went.
pub fn prune(dir: &Path, cutoff: SystemTime) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.ends_with(".eml") || name.ends_with(".eml.json")) {
            continue;
        }
        let modified = entry.metadata()?.modified()?;
        if modified < cutoff {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sidecar() -> Sidecar {
        Sidecar {
            from: "app@a.test".into(),
            to: vec!["r@b.test".into()],
            tenant: "t".into(),
            client_ip: "192.0.2.1".into(),
            helo: "c.test".into(),
            auth_user: Some("u".into()),
            tls: None,
            queue_id: "Q1".into(),
            received_at: 1_700_000_000,
        }
    }

    #[test]
    fn a_capture_is_a_message_and_its_envelope_and_goes_after_its_retention() {
        let dir = tempfile::tempdir().unwrap();
        let captures = dir.path().join("captures");
        write(&captures, b"Subject: x\r\n\r\nbody\r\n", &sidecar()).unwrap();
        std::fs::write(captures.join("notes.txt"), "kept").unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&captures)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["1700000000-Q1.eml", "1700000000-Q1.eml.json", "notes.txt"]
        );
        let json: serde_json::Value = serde_json::from_slice(
            &std::fs::read(captures.join("1700000000-Q1.eml.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json["to"], serde_json::json!(["r@b.test"]));
        assert_eq!(json["auth_user"], "u");
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        assert_eq!(prune(&captures, an_hour_ago).unwrap(), 0);
        let later = SystemTime::now() + Duration::from_secs(3600);
        assert_eq!(prune(&captures, later).unwrap(), 2);
        assert!(captures.join("notes.txt").exists());
    }

    #[test]
    fn sampling_honours_the_rate_and_the_size() {
        let capture = |rate| Capture {
            rate,
            max_size: 100,
            retention: Duration::from_secs(60),
            dir: PathBuf::from("/nonexistent"),
        };
        assert!((0..100).all(|_| sampled(&capture(1.0), 100)));
        assert!((0..100).all(|_| !sampled(&capture(0.0), 10)));
        assert!(!sampled(&capture(1.0), 101));
    }

    #[test]
    fn pruning_is_due_once_a_minute_per_directory() {
        let a = Path::new("/capture-test/a");
        assert!(due_for_pruning(a));
        assert!(!due_for_pruning(a));
        assert!(due_for_pruning(Path::new("/capture-test/b")));
    }
}
