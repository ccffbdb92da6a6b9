//! The durable log behind [`super::Suppressions`], and the in-memory lists it is replayed into.
//!
//! # Format
//! `SPOOL/suppressions/suppressions.log`: the line `SLUICE-SUPPRESSIONS 1`, then one record
//! per line: the CRC-32 of the JSON as 8 hex digits, a space, the JSON, LF. JSON escapes every
//! control character, so a record is always one line:
//!
//! ```text
//! 1a2b3c4d {"op":"add","tenant":"demo","address":"a@x.test","reason":"manual","created_at":1767225600}
//! 5e6f7a8b {"op":"remove","tenant":"demo","address":"a@x.test"}
//! ```
//!
//! # Durability
//! One writer thread owns the file. It takes every change waiting, checks each against the
//! lists (a tenant's list is bounded), appends their records in one write and calls
//! `fdatasync` once before any caller hears about its change (group commit). A write that
//! fails is cut off again and its changes are undone in memory, so what the lists hold is what
//! the file holds. Lookups never wait for the disk: they read the lists under a read lock.
//!
//! # Recovery
//! At open the log is replayed. A last line without its LF or with a CRC that fails (a crash
//! mid-append) is cut off; a bad line elsewhere is skipped; both are logged. Entries past
//! their expiry are dropped.
//!
//! # Compaction
//! When the log holds more than twice as many records as live entries (and at least
//! [`COMPACT_MIN`]), the writer rewrites it: the live entries go to a new file, which is
//! synced and renamed over the old one, and the directory is synced.

use super::Entry;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use tokio::sync::oneshot;

const HEADER: &str = "SLUICE-SUPPRESSIONS 1\n";
const FILE: &str = "suppressions.log";
/// Below this many records the log is never rewritten.
pub const COMPACT_MIN: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("suppression log {path}: {error}")]
    Open { path: PathBuf, error: io::Error },
    #[error("suppression log {path} is not one (first line {found:?}, expected {HEADER:?})")]
    Format { path: PathBuf, found: String },
    #[error("writing the suppression log failed: {0}")]
    Write(String),
    #[error("the suppression log is closed")]
    Closed,
}

/// One change to a tenant's list.
#[derive(Debug, Clone)]
pub enum Change {
    /// Adds `entry`; an entry already there (and not expired) is replaced only if `replace`.
    Add {
        tenant: String,
        entry: Entry,
        replace: bool,
    },
    Remove {
        tenant: String,
        address: String,
    },
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Added,
    Replaced,
    /// An entry was there already and `replace` was false: nothing written.
    Kept,
    Removed,
    /// Nothing to remove.
    Absent,
    /// The tenant's list holds `[suppressions] max_per_tenant` entries: nothing written.
    Full,
}

/// A record of the log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Record {
    Add {
        tenant: String,
        #[serde(flatten)]
        entry: Entry,
    },
    Remove {
        tenant: String,
        address: String,
    },
}

/// Every tenant's list: address (in its lookup form) → entry.
#[derive(Debug, Default)]
pub struct Lists {
    pub tenants: HashMap<String, BTreeMap<String, Entry>>,
}

impl Lists {
    fn live(&self) -> usize {
        self.tenants.values().map(BTreeMap::len).sum()
    }

    fn replay(&mut self, record: Record) {
        match record {
            Record::Add { tenant, entry } => {
                self.tenants
                    .entry(tenant)
                    .or_default()
                    .insert(entry.address.clone(), entry);
            }
            Record::Remove { tenant, address } => {
                if let Some(list) = self.tenants.get_mut(&tenant) {
                    list.remove(&address);
                }
            }
        }
    }

    fn drop_expired(&mut self, now: u64) {
        for list in self.tenants.values_mut() {
            list.retain(|_, e| !e.expired(now));
        }
        self.tenants.retain(|_, l| !l.is_empty());
    }
}

/// Undo information: the entry an address had before a change.
type Undo = (String, String, Option<Entry>);

/// A batch of changes for the writer, and who waits for the outcome (nobody, for changes the
/// relay makes on its own, such as a hard bounce: the writer logs those).
struct Job {
    changes: Vec<Change>,
    reply: Option<oneshot::Sender<Result<Vec<Applied>, StoreError>>>,
}

/// The lists and the writer that keeps them on disk.
pub struct Store {
    pub lists: Arc<RwLock<Lists>>,
    max_per_tenant: Arc<AtomicUsize>,
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl Store {
    /// Opens (or creates) the log in `dir`, replays it and starts the writer thread.
    pub fn open(dir: &Path, max_per_tenant: usize) -> Result<Store, StoreError> {
        let path = dir.join(FILE);
        let err = |error| StoreError::Open {
            path: path.clone(),
            error,
        };
        fs::create_dir_all(dir).map_err(err)?;
        let now = crate::queue::envelope::unix_now();
        let started = std::time::Instant::now();
        let (mut lists, records) = replay(&path)?;
        lists.drop_expired(now);
        tracing::info!(
            path = %path.display(), entries = lists.live(), tenants = lists.tenants.len(), records,
            ms = started.elapsed().as_millis() as u64, "suppression lists loaded"
        );
        let mut log = Log::open(&path).map_err(err)?;
        log.records = records;
        if log.wants_compaction(lists.live()) {
            log.compact(&lists).map_err(err)?;
        }
        let lists = Arc::new(RwLock::new(lists));
        let max_per_tenant = Arc::new(AtomicUsize::new(max_per_tenant));
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            log,
            lists: lists.clone(),
            max_per_tenant: max_per_tenant.clone(),
        };
        std::thread::Builder::new()
            .name("suppressions".into())
            .spawn(move || writer.run(rx))
            .map_err(err)?;
        Ok(Store {
            lists,
            max_per_tenant,
            jobs: Mutex::new(tx),
        })
    }

    pub fn set_max_per_tenant(&self, n: usize) {
        self.max_per_tenant.store(n, Ordering::Relaxed);
    }

    pub fn max_per_tenant(&self) -> usize {
        self.max_per_tenant.load(Ordering::Relaxed)
    }

    /// Applies `changes` in order and returns once they are on disk.
    pub async fn apply(&self, changes: Vec<Change>) -> Result<Vec<Applied>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job {
            changes,
            reply: Some(tx),
        })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Hands `changes` to the writer without waiting; it logs the outcome.
    pub fn submit(&self, changes: Vec<Change>) {
        if let Err(e) = self.send(Job {
            changes,
            reply: None,
        }) {
            tracing::error!(error = %e, "suppression not recorded");
        }
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| StoreError::Closed)
    }
}

/// Reads the log at `path` (absent: empty). Returns the lists and the number of records.
fn replay(path: &Path) -> Result<(Lists, usize), StoreError> {
    let mut lists = Lists::default();
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((lists, 0)),
        Err(error) => {
            return Err(StoreError::Open {
                path: path.to_owned(),
                error,
            })
        }
    };
    let Some(body) = bytes.strip_prefix(HEADER.as_bytes()) else {
        let found = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        if bytes.len() < HEADER.len() && HEADER.as_bytes().starts_with(&bytes) {
            // Cut short while it was being created: nothing was ever acknowledged from it.
            return Ok((lists, 0));
        }
        return Err(StoreError::Format {
            path: path.to_owned(),
            found: String::from_utf8_lossy(found).into_owned(),
        });
    };
    let mut records = 0;
    let mut good_end = HEADER.len();
    let mut offset = HEADER.len();
    let mut skipped = 0;
    let mut lines = body.split_inclusive(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        offset += line.len();
        match line.strip_suffix(b"\n").and_then(decode) {
            Some(record) => {
                lists.replay(record);
                records += 1;
                good_end = offset;
            }
            None if last => {
                tracing::warn!(path = %path.display(), bytes = line.len(), "suppression log: a torn last record was cut off");
            }
            None => {
                skipped += 1;
                good_end = offset;
            }
        }
    }
    if skipped > 0 {
        tracing::error!(path = %path.display(), skipped, "suppression log: damaged records were skipped");
    }
    if good_end < bytes.len() {
        let cut = OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(good_end as u64).and_then(|()| f.sync_data()));
        cut.map_err(|error| StoreError::Open {
            path: path.to_owned(),
            error,
        })?;
    }
    Ok((lists, records))
}

fn encode(record: &Record, out: &mut Vec<u8>) {
    let json = serde_json::to_vec(record).expect("a record serializes");
    out.extend_from_slice(format!("{:08x} ", crc32fast::hash(&json)).as_bytes());
    out.extend_from_slice(&json);
    out.push(b'\n');
}

fn decode(line: &[u8]) -> Option<Record> {
    let (crc, json) = (line.get(..8)?, line.get(9..)?);
    let crc = u32::from_str_radix(std::str::from_utf8(crc).ok()?, 16).ok()?;
    if line[8] != b' ' || crc32fast::hash(json) != crc {
        return None;
    }
    serde_json::from_slice(json).ok()
}

/// The open log file.
struct Log {
    path: PathBuf,
    file: File,
    /// Records in the file, live or not.
    records: usize,
}

impl Log {
    fn open(path: &Path) -> io::Result<Log> {
        let fresh = !path.exists() || fs::metadata(path)?.len() < HEADER.len() as u64;
        if fresh {
            write_synced(path, HEADER.as_bytes())?;
        }
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Log {
            path: path.to_owned(),
            file,
            records: 0,
        })
    }

    /// Appends `bytes` and syncs them; on failure the file is cut back to where it was.
    fn append(&mut self, bytes: &[u8], records: usize) -> io::Result<()> {
        let before = self.file.metadata()?.len();
        let written = self
            .file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            let _ = self
                .file
                .set_len(before)
                .and_then(|()| self.file.sync_data());
            return Err(e);
        }
        self.records += records;
        Ok(())
    }

    fn wants_compaction(&self, live: usize) -> bool {
        self.records > COMPACT_MIN && self.records > 2 * live
    }

    /// Rewrites the log with only the live entries.
    fn compact(&mut self, lists: &Lists) -> io::Result<()> {
        let mut bytes = HEADER.as_bytes().to_vec();
        let mut records = 0;
        for (tenant, list) in &lists.tenants {
            for entry in list.values() {
                encode(
                    &Record::Add {
                        tenant: tenant.clone(),
                        entry: entry.clone(),
                    },
                    &mut bytes,
                );
                records += 1;
            }
        }
        let tmp = self.path.with_extension("log.tmp");
        write_synced(&tmp, &bytes)?;
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        tracing::info!(path = %self.path.display(), from = self.records, to = records, "suppression log compacted");
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.records = records;
        Ok(())
    }
}

/// Writes a new file and syncs it and its directory.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The thread that owns the log and is the only one to change the lists.
struct Writer {
    log: Log,
    lists: Arc<RwLock<Lists>>,
    max_per_tenant: Arc<AtomicUsize>,
}

impl Writer {
    fn run(mut self, jobs: mpsc::Receiver<Job>) {
        while let Ok(first) = jobs.recv() {
            let mut batch = vec![first];
            while let Ok(more) = jobs.try_recv() {
                batch.push(more);
            }
            self.commit(batch);
        }
    }

    fn commit(&mut self, batch: Vec<Job>) {
        let now = crate::queue::envelope::unix_now();
        let max = self.max_per_tenant.load(Ordering::Relaxed);
        let mut bytes = Vec::new();
        let mut records = 0;
        let mut undo: Vec<Undo> = Vec::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let mut lists = self.lists.write().unwrap_or_else(|e| e.into_inner());
            for job in &batch {
                let applied: Vec<Applied> = job
                    .changes
                    .iter()
                    .map(|c| {
                        let (applied, record) = change(&mut lists, c, max, now, &mut undo);
                        if let Some(r) = record {
                            encode(&r, &mut bytes);
                            records += 1;
                        }
                        applied
                    })
                    .collect();
                outcomes.push(applied);
            }
        }
        let written = if bytes.is_empty() {
            Ok(())
        } else {
            self.log.append(&bytes, records)
        };
        if let Err(e) = &written {
            tracing::error!(path = %self.log.path.display(), error = %e, "suppression log write failed; the changes are undone");
            let mut lists = self.lists.write().unwrap_or_else(|e| e.into_inner());
            for (tenant, address, before) in undo.into_iter().rev() {
                let list = lists.tenants.entry(tenant).or_default();
                match before {
                    Some(entry) => list.insert(address, entry),
                    None => list.remove(&address),
                };
            }
        }
        for (job, applied) in batch.into_iter().zip(outcomes) {
            let outcome = match &written {
                Ok(()) => Ok(applied),
                Err(e) => Err(StoreError::Write(e.to_string())),
            };
            match job.reply {
                Some(reply) => {
                    let _ = reply.send(outcome);
                }
                None => log_unattended(&job.changes, outcome),
            }
        }
        let live = self.lists.read().unwrap_or_else(|e| e.into_inner()).live();
        if written.is_ok() && self.log.wants_compaction(live) {
            let lists = self.lists.read().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = self.log.compact(&lists) {
                tracing::error!(path = %self.log.path.display(), error = %e, "suppression log compaction failed; the log stays as it was");
            }
        }
    }
}

/// Applies one change to the lists; returns what it did and the record to write.
fn change(
    lists: &mut Lists,
    change: &Change,
    max: usize,
    now: u64,
    undo: &mut Vec<Undo>,
) -> (Applied, Option<Record>) {
    match change {
        Change::Add {
            tenant,
            entry,
            replace,
        } => {
            let list = lists.tenants.entry(tenant.clone()).or_default();
            let before = list.get(&entry.address).cloned();
            let applied = match &before {
                Some(old) if !old.expired(now) && !replace => return (Applied::Kept, None),
                Some(_) => Applied::Replaced,
                None => {
                    if list.len() >= max {
                        list.retain(|_, e| !e.expired(now));
                    }
                    if list.len() >= max {
                        return (Applied::Full, None);
                    }
                    Applied::Added
                }
            };
            list.insert(entry.address.clone(), entry.clone());
            undo.push((tenant.clone(), entry.address.clone(), before));
            let record = Record::Add {
                tenant: tenant.clone(),
                entry: entry.clone(),
            };
            (applied, Some(record))
        }
        Change::Remove { tenant, address } => {
            let Some(before) = lists
                .tenants
                .get_mut(tenant)
                .and_then(|l| l.remove(address))
            else {
                return (Applied::Absent, None);
            };
            let applied = if before.expired(now) {
                Applied::Absent
            } else {
                Applied::Removed
            };
            undo.push((tenant.clone(), address.clone(), Some(before)));
            let record = Record::Remove {
                tenant: tenant.clone(),
                address: address.clone(),
            };
            (applied, Some(record))
        }
    }
}

/// The log line for changes nobody waits for (hard bounces, complaints).
fn log_unattended(changes: &[Change], outcome: Result<Vec<Applied>, StoreError>) {
    match outcome {
        Ok(applied) => {
            for (c, a) in changes.iter().zip(applied) {
                let Change::Add { tenant, entry, .. } = c else {
                    continue;
                };
                let reason = entry.reason.name();
                match a {
                    Applied::Added | Applied::Replaced => tracing::info!(
                        tenant = %tenant, address = %entry.address, reason, "suppression added"
                    ),
                    Applied::Full => tracing::warn!(
                        tenant = %tenant, address = %entry.address, reason,
                        "suppression not added: the tenant's list is full ([suppressions] max_per_tenant)"
                    ),
                    _ => {}
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "suppressions not recorded"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suppress::Reason;

    fn entry(address: &str, reason: Reason) -> Entry {
        Entry {
            address: address.into(),
            reason,
            created_at: 1_700_000_000,
            expires_at: None,
            detail: None,
        }
    }

    fn add(tenant: &str, address: &str) -> Change {
        Change::Add {
            tenant: tenant.into(),
            entry: entry(address, Reason::Manual),
            replace: false,
        }
    }

    fn get(store: &Store, tenant: &str, address: &str) -> Option<Entry> {
        store
            .lists
            .read()
            .unwrap()
            .tenants
            .get(tenant)?
            .get(address)
            .cloned()
    }

    #[tokio::test]
    async fn changes_survive_a_reopen_and_each_tenant_has_its_own_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 10).unwrap();
        let applied = store
            .apply(vec![
                add("a", "x@y.test"),
                add("b", "z@y.test"),
                add("a", "x@y.test"),
            ])
            .await
            .unwrap();
        assert_eq!(applied, [Applied::Added, Applied::Added, Applied::Kept]);
        let removed = store
            .apply(vec![Change::Remove {
                tenant: "b".into(),
                address: "z@y.test".into(),
            }])
            .await
            .unwrap();
        assert_eq!(removed, [Applied::Removed]);
        drop(store);
        let store = Store::open(dir.path(), 10).unwrap();
        assert!(get(&store, "a", "x@y.test").is_some());
        assert!(get(&store, "b", "x@y.test").is_none());
        assert!(get(&store, "b", "z@y.test").is_none());
    }

    #[tokio::test]
    async fn a_torn_last_record_is_cut_off_and_the_log_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 10).unwrap();
        store
            .apply(vec![add("a", "one@y.test"), add("a", "two@y.test")])
            .await
            .unwrap();
        drop(store);
        let path = dir.path().join(FILE);
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 7);
        fs::write(&path, &bytes).unwrap();
        let store = Store::open(dir.path(), 10).unwrap();
        assert!(get(&store, "a", "one@y.test").is_some());
        assert!(get(&store, "a", "two@y.test").is_none());
        store.apply(vec![add("a", "three@y.test")]).await.unwrap();
        drop(store);
        let store = Store::open(dir.path(), 10).unwrap();
        assert!(get(&store, "a", "three@y.test").is_some());
    }

    #[tokio::test]
    async fn a_damaged_record_in_the_middle_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 10).unwrap();
        for a in ["one@y.test", "two@y.test", "three@y.test"] {
            store.apply(vec![add("a", a)]).await.unwrap();
        }
        drop(store);
        let path = dir.path().join(FILE);
        let text = fs::read_to_string(&path).unwrap().replace("two@", "twO@");
        fs::write(&path, text).unwrap();
        let store = Store::open(dir.path(), 10).unwrap();
        assert!(get(&store, "a", "one@y.test").is_some());
        assert!(get(&store, "a", "twO@y.test").is_none());
        assert!(get(&store, "a", "three@y.test").is_some());
    }

    #[tokio::test]
    async fn a_full_list_takes_nothing_more_but_an_expired_entry_makes_room() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 2).unwrap();
        let mut expired = entry("old@y.test", Reason::Manual);
        expired.expires_at = Some(1);
        let applied = store
            .apply(vec![
                add("a", "one@y.test"),
                Change::Add {
                    tenant: "a".into(),
                    entry: expired,
                    replace: false,
                },
                add("a", "two@y.test"),
                add("a", "three@y.test"),
                add("b", "three@y.test"),
            ])
            .await
            .unwrap();
        assert_eq!(
            applied,
            [
                Applied::Added,
                Applied::Added,
                Applied::Added,
                Applied::Full,
                Applied::Added
            ]
        );
        assert!(get(&store, "a", "old@y.test").is_none());
    }

    #[tokio::test]
    async fn the_log_is_compacted_to_its_live_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 10).unwrap();
        let mut changes = Vec::new();
        for i in 0..COMPACT_MIN {
            changes.push(add("a", &format!("u{i}@y.test")));
            changes.push(Change::Remove {
                tenant: "a".into(),
                address: format!("u{i}@y.test"),
            });
        }
        changes.push(add("a", "kept@y.test"));
        store.apply(changes).await.unwrap();
        // The writer compacts after answering; the next batch waits for it.
        store.apply(Vec::new()).await.unwrap();
        let lines = fs::read_to_string(dir.path().join(FILE))
            .unwrap()
            .lines()
            .count();
        assert_eq!(lines, 2, "the header and the one live entry");
        drop(store);
        let store = Store::open(dir.path(), 10).unwrap();
        assert!(get(&store, "a", "kept@y.test").is_some());
    }
}
