//! Local delivery into Maildir folders (one per recipient), the quickstart's transport.
//! A file is written under `tmp/`, synced, renamed into `new/`, and the folder synced, so a
//! message reported delivered survives a crash.

use super::reply::{Cause, Response, Status};
use super::RcptOutcome;
use crate::queue::Envelope;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The folder for a recipient: the address, lower-cased, with anything but
/// `[a-z0-9@._+-]` percent-encoded so no address can escape the root.
pub fn folder(root: &Path, rcpt: &str) -> PathBuf {
    let mut name = String::with_capacity(rcpt.len());
    for b in rcpt.to_lowercase().bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'@' | b'_' | b'+' | b'-' => name.push(b as char),
            b'.' if !name.is_empty() => name.push('.'),
            _ => name.push_str(&format!("%{b:02X}")),
        }
    }
    root.join(name)
}

fn deliver_one(
    root: &Path,
    env: &Envelope,
    rcpt: &str,
    index: usize,
    body: &[u8],
    host: &str,
) -> std::io::Result<PathBuf> {
    let dir = folder(root, rcpt);
    for sub in ["tmp", "new", "cur"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let name = format!(
        "{}.M{}P{}Q{}R{index}.{host}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        env.id
    );
    let tmp = dir.join("tmp").join(&name);
    let mut f = File::create(&tmp)?;
    f.write_all(
        format!(
            "Return-Path: <{}>\r\nDelivered-To: {rcpt}\r\n",
            env.mail_from
        )
        .as_bytes(),
    )?;
    f.write_all(body)?;
    f.sync_all()?;
    let dest = dir.join("new").join(&name);
    fs::rename(&tmp, &dest)?;
    File::open(dir.join("new"))?.sync_all()?;
    Ok(dest)
}

/// Delivers to every recipient; blocking, so call it from a blocking thread.
pub fn deliver(root: &Path, env: &Envelope, body: &[u8], host: &str) -> Vec<(String, RcptOutcome)> {
    env.rcpts
        .iter()
        .enumerate()
        .map(|(i, rcpt)| {
            let outcome = match deliver_one(root, env, rcpt, i, body, host) {
                Ok(path) => RcptOutcome::Delivered(Response::local(
                    Cause::Maildir,
                    Status::new(2, 0, 0),
                    format!("maildir {}", path.display()),
                )),
                Err(e) => RcptOutcome::Deferred(Response::local(
                    Cause::Maildir,
                    Status::new(4, 3, 0),
                    format!("maildir write failed: {e}"),
                )),
            };
            (rcpt.clone(), outcome)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_cannot_escape_the_root() {
        let root = Path::new("/m");
        assert_eq!(
            folder(root, "Bob@Example.com"),
            Path::new("/m/bob@example.com")
        );
        assert_eq!(
            folder(root, "../../etc@x"),
            Path::new("/m/%2E.%2F..%2Fetc@x")
        );
        assert_eq!(folder(root, "../../etc@x").components().count(), 3);
        assert_eq!(folder(root, "a/b@x"), Path::new("/m/a%2Fb@x"));
    }
}
