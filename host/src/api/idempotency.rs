//! Idempotency keys: the same `Idempotency-Key` from the same tenant within
//! `[api] idempotency_window` never queues a second message; it gets the first one's answer.
//!
//! Only a request that queued a message leaves its key behind: one refused (a bad field, a
//! policy, a full disk) can be corrected and sent again under the same key. The same key
//! with a different request is refused, and one still being handled gets 409.
//!
//! # Durability
//! A key is recorded after its message is committed to the spool and before the 202 goes
//! out: one JSON line appended to `SPOOL/idempotency/keys.log` and synced (appends waiting at
//! the same time share one `fdatasync`). The message's envelope carries the key as well, so
//! a crash between the two loses nothing: at start the log is read back, and the key of every
//! message still in the spool is added to it. The log is rewritten without expired keys at
//! start, and whenever it holds many more lines than live keys.

use crate::queue::Stored;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// One remembered request: who sent it, its digest, and the answer it got.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub tenant: String,
    pub key: String,
    /// Seconds since the epoch when the message was queued.
    pub at: u64,
    /// Hex SHA-256 of the request (content type, query and body).
    pub sha256: String,
    /// The 202 body the request got.
    pub answer: serde_json::Value,
}

/// What a request with a key may do.
pub enum Claim {
    /// The key is new: go on, and [`Pending::record`] the answer if a message is queued.
    Fresh(Pending),
    /// The key was used for this same request: answer this again.
    Replay(serde_json::Value),
    /// The key was used for a different request.
    Mismatch,
    /// A request with this key is being handled now.
    Busy,
}

enum Entry {
    InFlight,
    Done(Record),
}

#[derive(Default)]
struct Table {
    entries: HashMap<(String, String), Entry>,
    /// Recorded keys oldest first, for expiry: `(at, tenant, key)`.
    order: VecDeque<(u64, String, String)>,
    /// Lines in the log file, for deciding when to rewrite it.
    lines: usize,
}

impl Table {
    fn expire(&mut self, cutoff: u64) {
        while let Some((at, _, _)) = self.order.front() {
            if *at >= cutoff {
                break;
            }
            let Some((at, tenant, key)) = self.order.pop_front() else {
                break;
            };
            let id = (tenant, key);
            if matches!(self.entries.get(&id), Some(Entry::Done(r)) if r.at == at) {
                self.entries.remove(&id);
            }
        }
    }

    fn insert(&mut self, record: Record) {
        self.order
            .push_back((record.at, record.tenant.clone(), record.key.clone()));
        self.entries.insert(
            (record.tenant.clone(), record.key.clone()),
            Entry::Done(record),
        );
    }

    fn live(&self) -> Vec<&Record> {
        self.order
            .iter()
            .filter_map(
                |(at, t, k)| match self.entries.get(&(t.clone(), k.clone())) {
                    Some(Entry::Done(r)) if r.at == *at => Some(r),
                    _ => None,
                },
            )
            .collect()
    }
}

/// The key table and its log; cheap to clone.
#[derive(Clone)]
pub struct Idempotency {
    table: Arc<Mutex<Table>>,
    appends: mpsc::Sender<Append>,
}

struct Append {
    line: Vec<u8>,
    done: oneshot::Sender<io::Result<()>>,
}

/// A key claimed by a request in flight; dropped without [`Pending::record`], the key is free
/// again.
pub struct Pending {
    store: Idempotency,
    tenant: String,
    key: String,
    sha256: String,
    recorded: bool,
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    table.lock().unwrap_or_else(|e| e.into_inner())
}

impl Idempotency {
    /// Reads the log under `spool_dir`, drops keys older than `window`, adds the keys of the
    /// messages the spool recovered, and rewrites the log with what is left.
    pub fn open(spool_dir: &Path, window: Duration, recovered: &[Stored]) -> io::Result<Self> {
        let dir = spool_dir.join("idempotency");
        fs::create_dir_all(&dir)?;
        let path = dir.join("keys.log");
        let cutoff = crate::queue::envelope::unix_now().saturating_sub(window.as_secs());
        let mut records: Vec<Record> = Vec::new();
        let mut unreadable = 0;
        if let Ok(f) = File::open(&path) {
            for line in io::BufReader::new(f).split(b'\n') {
                match serde_json::from_slice::<Record>(&line?) {
                    Ok(r) => records.push(r),
                    // A line torn by a crash mid-append, or damage: that key is forgotten.
                    Err(_) => unreadable += 1,
                }
            }
        }
        let known: std::collections::HashSet<(String, String)> = records
            .iter()
            .map(|r| (r.tenant.clone(), r.key.clone()))
            .collect();
        for stored in recovered {
            let env = &stored.envelope;
            let Some((key, sha256)) = env.api.as_ref().and_then(|a| a.idempotency.clone()) else {
                continue;
            };
            if known.contains(&(env.tenant.clone(), key.clone())) {
                continue;
            }
            records.push(Record {
                tenant: env.tenant.clone(),
                key,
                at: env.received_at,
                sha256,
                answer: serde_json::json!({
                    "id": env.id.0,
                    "accepted": env.rcpts,
                    "refused": [],
                }),
            });
        }
        records.sort_by_key(|r| r.at);
        let mut table = Table::default();
        for r in records {
            table.insert(r);
        }
        table.expire(cutoff);
        rewrite(&path, &table)?;
        table.lines = table.live().len();
        tracing::info!(keys = table.entries.len(), unreadable, path = %path.display(), "idempotency keys loaded");
        let file = OpenOptions::new().append(true).open(&path)?;
        let table = Arc::new(Mutex::new(table));
        let (appends, rx) = mpsc::channel();
        let writer = Writer {
            path,
            file,
            table: table.clone(),
        };
        std::thread::Builder::new()
            .name("sluice-idempotency".into())
            .spawn(move || writer.run(rx))?;
        Ok(Idempotency { table, appends })
    }

    /// Claims `key` for a request of `tenant` whose digest is `sha256`; keys recorded before
    /// `window` are forgotten.
    pub fn claim(&self, tenant: &str, key: &str, sha256: &str, window: Duration) -> Claim {
        let mut t = lock(&self.table);
        t.expire(crate::queue::envelope::unix_now().saturating_sub(window.as_secs()));
        let id = (tenant.to_owned(), key.to_owned());
        match t.entries.get(&id) {
            Some(Entry::InFlight) => Claim::Busy,
            Some(Entry::Done(r)) if r.sha256 == sha256 => Claim::Replay(r.answer.clone()),
            Some(Entry::Done(_)) => Claim::Mismatch,
            None => {
                t.entries.insert(id, Entry::InFlight);
                Claim::Fresh(Pending {
                    store: self.clone(),
                    tenant: tenant.to_owned(),
                    key: key.to_owned(),
                    sha256: sha256.to_owned(),
                    recorded: false,
                })
            }
        }
    }
}

impl Pending {
    /// Remembers `answer` for the key, durably, before it is given.
    pub async fn record(mut self, answer: &serde_json::Value) -> io::Result<()> {
        let record = Record {
            tenant: self.tenant.clone(),
            key: self.key.clone(),
            at: crate::queue::envelope::unix_now(),
            sha256: self.sha256.clone(),
            answer: answer.clone(),
        };
        let mut line = serde_json::to_vec(&record).map_err(io::Error::other)?;
        line.push(b'\n');
        let (done, wait) = oneshot::channel();
        self.store
            .appends
            .send(Append { line, done })
            .map_err(|_| io::Error::other("the idempotency log is closed"))?;
        let written = wait
            .await
            .unwrap_or_else(|_| Err(io::Error::other("the idempotency log writer stopped")));
        // Remembered in memory even if the write failed: the envelope carries the key too,
        // so this run and the next (which reads the spool) still know it.
        lock(&self.store.table).insert(record);
        self.recorded = true;
        written
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.recorded {
            let mut t = lock(&self.store.table);
            let id = (self.tenant.clone(), self.key.clone());
            if matches!(t.entries.get(&id), Some(Entry::InFlight)) {
                t.entries.remove(&id);
            }
        }
    }
}

/// Owns the log file: appends what is waiting in one write and one `fdatasync`.
struct Writer {
    path: PathBuf,
    file: File,
    table: Arc<Mutex<Table>>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Append>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter());
            let mut bytes = Vec::new();
            for a in &batch {
                bytes.extend_from_slice(&a.line);
            }
            let result = self
                .file
                .write_all(&bytes)
                .and_then(|()| self.file.sync_data());
            if let Err(e) = &result {
                tracing::error!(error = %e, path = %self.path.display(), "idempotency log write failed");
            }
            for a in batch {
                let _ = a.done.send(match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                });
            }
            self.compact_if_due(batch_len(&bytes));
        }
    }

    /// Rewrites the log without forgotten keys once it holds far more lines than live keys.
    fn compact_if_due(&mut self, appended: usize) {
        let mut t = lock(&self.table);
        t.lines += appended;
        let live = t.entries.len();
        if t.lines <= 2 * live + 10_000 {
            return;
        }
        match rewrite(&self.path, &t)
            .and_then(|()| OpenOptions::new().append(true).open(&self.path))
        {
            Ok(f) => {
                self.file = f;
                t.lines = t.live().len();
            }
            Err(e) => {
                tracing::error!(error = %e, path = %self.path.display(), "idempotency log rewrite failed")
            }
        }
    }
}

fn batch_len(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Writes the live keys to a new file, syncs it, and puts it in place of the log.
fn rewrite(path: &Path, table: &Table) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    let mut bytes = Vec::new();
    let live = table.live();
    for r in &live {
        serde_json::to_writer(&mut bytes, r).map_err(io::Error::other)?;
        bytes.push(b'\n');
    }
    f.write_all(&bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DAY: Duration = Duration::from_secs(86_400);

    #[tokio::test]
    async fn a_recorded_key_is_replayed_across_a_reopen_and_a_dropped_claim_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Idempotency::open(dir.path(), DAY, &[]).unwrap();
        let Claim::Fresh(p) = store.claim("t", "k1", "aa", DAY) else {
            panic!("a new key")
        };
        assert!(matches!(store.claim("t", "k1", "aa", DAY), Claim::Busy));
        // Another tenant's key of the same name is its own.
        assert!(matches!(store.claim("u", "k1", "aa", DAY), Claim::Fresh(_)));
        p.record(&json!({"id": "A"})).await.unwrap();
        assert!(matches!(store.claim("t", "k1", "aa", DAY), Claim::Replay(a) if a["id"] == "A"));
        assert!(matches!(store.claim("t", "k1", "bb", DAY), Claim::Mismatch));
        // Refused requests leave nothing.
        drop(store.claim("t", "k2", "aa", DAY));
        assert!(matches!(store.claim("t", "k2", "cc", DAY), Claim::Fresh(_)));

        let again = Idempotency::open(dir.path(), DAY, &[]).unwrap();
        assert!(matches!(again.claim("t", "k1", "aa", DAY), Claim::Replay(a) if a["id"] == "A"));
        assert!(matches!(again.claim("t", "k2", "aa", DAY), Claim::Fresh(_)));
    }

    #[test]
    fn a_torn_last_line_loses_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("idempotency");
        fs::create_dir_all(&log).unwrap();
        let good = Record {
            tenant: "t".into(),
            key: "k".into(),
            at: crate::queue::envelope::unix_now(),
            sha256: "aa".into(),
            answer: json!({"id": "A"}),
        };
        let mut text = serde_json::to_string(&good).unwrap();
        text.push_str("\n{\"tenant\":\"t\",\"key\":\"torn");
        fs::write(log.join("keys.log"), text).unwrap();
        let store = Idempotency::open(dir.path(), DAY, &[]).unwrap();
        assert!(matches!(store.claim("t", "k", "aa", DAY), Claim::Replay(_)));
        let rewritten = fs::read_to_string(log.join("keys.log")).unwrap();
        assert_eq!(rewritten.lines().count(), 1, "{rewritten}");
    }

    #[test]
    fn old_keys_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Idempotency::open(dir.path(), DAY, &[]).unwrap();
        lock(&store.table).insert(Record {
            tenant: "t".into(),
            key: "old".into(),
            at: crate::queue::envelope::unix_now() - 2 * DAY.as_secs(),
            sha256: "aa".into(),
            answer: json!({}),
        });
        assert!(matches!(
            store.claim("t", "old", "aa", DAY),
            Claim::Fresh(_)
        ));
    }
}
