//! Quarantined mail: messages a policy held back. Each is two files under
//! `SPOOL/quarantine/`: `ID.eml` (the bytes) and `ID.json` (envelope, reason, time), written
//! and synced like a Maildir delivery before the client hears 250. An operator lists them
//! with `sluice quarantine list` and releases one with `sluice quarantine release ID`: the
//! running relay (`POST /v1/quarantine/ID/release`) moves it to `SPOOL/release/` and at once
//! commits it to the spool and delivers it; with no relay running the CLI only moves it, and
//! the next relay to start takes it from there.

use super::envelope::{unix_now, Envelope};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize, Deserialize)]
pub struct Held {
    pub envelope: Envelope,
    pub reason: String,
    pub held_at: u64,
}

#[derive(Clone)]
pub struct Quarantine {
    pub dir: PathBuf,
    pub release_dir: PathBuf,
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

impl Quarantine {
    pub fn new(spool_dir: &Path) -> Quarantine {
        Quarantine {
            dir: spool_dir.join("quarantine"),
            release_dir: spool_dir.join("release"),
        }
    }

    /// Holds a message durably.
    pub async fn hold(&self, envelope: &Envelope, message: &[u8], reason: &str) -> io::Result<()> {
        let dir = self.dir.clone();
        let id = envelope.id.0.clone();
        let meta = serde_json::to_vec_pretty(&Held {
            envelope: envelope.clone(),
            reason: reason.to_owned(),
            held_at: unix_now(),
        })
        .map_err(io::Error::other)?;
        let message = message.to_vec();
        tokio::task::spawn_blocking(move || {
            fs::create_dir_all(&dir)?;
            write_synced(&dir.join(format!("{id}.eml")), &message)?;
            write_synced(&dir.join(format!("{id}.json")), &meta)?;
            File::open(&dir)?.sync_all()
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Every held message, oldest first.
    pub fn list(&self) -> io::Result<Vec<Held>> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Ok(out);
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                if let Ok(h) = serde_json::from_slice::<Held>(&fs::read(&p)?) {
                    out.push(h);
                }
            }
        }
        out.sort_by(|a, b| a.envelope.id.0.cmp(&b.envelope.id.0));
        Ok(out)
    }

    /// The files of held message `id` (`.eml`, `.json`); an error when `id` is not a queue
    /// id (so it cannot name a path outside the folder) or nothing is held under it.
    fn files(&self, id: &str) -> io::Result<(PathBuf, PathBuf)> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{id:?} is not a queue id"),
            ));
        }
        let id = id.to_ascii_uppercase();
        let (eml, json) = (
            self.dir.join(format!("{id}.eml")),
            self.dir.join(format!("{id}.json")),
        );
        if !json.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no quarantined message {id}"),
            ));
        }
        Ok((eml, json))
    }

    /// One held message: what was recorded with it, and its bytes.
    pub fn get(&self, id: &str) -> io::Result<(Held, Vec<u8>)> {
        let (eml, json) = self.files(id)?;
        let held = serde_json::from_slice(&fs::read(json)?).map_err(io::Error::other)?;
        Ok((held, fs::read(eml)?))
    }

    /// Deletes a held message for good (no delivery, no DSN).
    pub fn delete(&self, id: &str) -> io::Result<Held> {
        let (held, _) = self.get(id)?;
        let (eml, json) = self.files(id)?;
        // The record last, so a crash in between leaves nothing half listed.
        match fs::remove_file(eml) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::remove_file(json)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(held)
    }

    /// Moves a held message to the release folder for the running relay to deliver.
    pub fn release(&self, id: &str) -> io::Result<()> {
        let (eml, json) = self.files(id)?;
        let id = id.to_ascii_uppercase();
        fs::create_dir_all(&self.release_dir)?;
        fs::rename(&eml, self.release_dir.join(format!("{id}.eml")))?;
        fs::rename(&json, self.release_dir.join(format!("{id}.json")))?;
        File::open(&self.release_dir)?.sync_all()
    }

    /// Released messages waiting to be taken back into the spool: (envelope, bytes, files).
    pub fn released(&self) -> Vec<(Envelope, Vec<u8>, [PathBuf; 2])> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(&self.release_dir) else {
            return out;
        };
        for e in entries.flatten() {
            let json = e.path();
            if json.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let eml = json.with_extension("eml");
            let held = fs::read(&json)
                .ok()
                .and_then(|b| serde_json::from_slice::<Held>(&b).ok());
            if let (Some(h), Ok(bytes)) = (held, fs::read(&eml)) {
                out.push((h.envelope, bytes, [eml, json]));
            }
        }
        out
    }
}
