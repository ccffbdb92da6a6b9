//! The event journal: `SPOOL/events/ev-<first id>.jsonl` segments of one JSON object per
//! line, `{"id":…,"time":…,"event":…,"tenant":…,…}`.
//!
//! # Durability
//! [`Journal::append`] gives each event the next id and writes its line with one `write(2)`
//! under a lock, before the code that emitted the event goes on: once a `250` or a delivery
//! outcome is said, a kill -9 cannot lose its event. A thread fsyncs what was written every
//! `sync_interval` (group sync), so a power loss loses at most that much; ids stay unique
//! anyway, since each start takes a new boot number from the newest segment's name. A write
//! that fails (a full disk) is cut back off, so a segment never holds half a line followed
//! by more events; the failure is counted and logged by the sync thread.
//!
//! # Segments and retention
//! Each start opens a new segment (so a torn last line of a crash is never appended to); a
//! segment is closed past `segment_size`. The sync thread deletes the oldest closed segments
//! while the journal is above `max_size` or their last write is older than `max_age`.

use super::EventId;
use crate::config::events::JournalSettings;
use serde_json::{Map, Value};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// How many sync ticks between retention passes (a closed segment is checked at once too).
const RETENTION_EVERY: u32 = 60;

pub struct Journal {
    dir: PathBuf,
    boot: u64,
    settings: JournalSettings,
    writer: Mutex<Writer>,
    /// The newest id written, for readers waiting for more (webhook endpoints).
    latest: watch::Sender<EventId>,
    /// Appends that failed since start, and the last error, for the sync thread to log.
    failures: AtomicU64,
    last_failure: Mutex<Option<String>>,
}

struct Writer {
    file: Arc<File>,
    /// The segment's name: the first id it may hold.
    segment: EventId,
    len: u64,
    next_seq: u64,
    /// Written since the last fsync.
    dirty: bool,
    /// Closed segments not fsynced yet, and whether the directory needs a sync (a new file).
    closed: Vec<Arc<File>>,
    new_entry: bool,
}

/// The segment file holding events from `first` on.
pub fn segment_path(dir: &Path, first: EventId) -> PathBuf {
    dir.join(format!("ev-{first}.jsonl"))
}

/// The segments in `dir`, oldest first.
pub fn segments(dir: &Path) -> io::Result<Vec<EventId>> {
    let mut out: Vec<EventId> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            name.strip_prefix("ev-")?
                .strip_suffix(".jsonl")?
                .parse()
                .ok()
        })
        .collect();
    out.sort();
    Ok(out)
}

impl Journal {
    /// Opens the journal in `dir` (made if missing) for a new boot, and starts its sync
    /// thread.
    pub fn open(dir: &Path, settings: JournalSettings) -> io::Result<Arc<Journal>> {
        fs::create_dir_all(dir)?;
        let boot = segments(dir)?.last().map_or(1, |s| s.boot + 1);
        let first = EventId { boot, seq: 1 };
        let file = create_segment(dir, first)?;
        file.sync_all()?;
        File::open(dir)?.sync_all()?;
        let journal = Arc::new(Journal {
            dir: dir.to_owned(),
            boot,
            settings,
            writer: Mutex::new(Writer {
                file: Arc::new(file),
                segment: first,
                len: 0,
                next_seq: 1,
                dirty: false,
                closed: Vec::new(),
                new_entry: false,
            }),
            latest: watch::Sender::new(EventId::start_of(boot)),
            failures: AtomicU64::new(0),
            last_failure: Mutex::new(None),
        });
        journal.enforce_retention();
        let weak = Arc::downgrade(&journal);
        std::thread::Builder::new()
            .name("sluice-events".into())
            .spawn(move || sync_loop(weak))?;
        Ok(journal)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This process's boot number.
    pub fn boot(&self) -> u64 {
        self.boot
    }

    /// The newest id written (`start_of(boot)` before the first).
    pub fn latest(&self) -> EventId {
        *self.latest.borrow()
    }

    /// Changes each time an event is written.
    pub fn subscribe(&self) -> watch::Receiver<EventId> {
        self.latest.subscribe()
    }

    /// The segment being written now: every other one is complete.
    pub fn active_segment(&self) -> EventId {
        self.lock().segment
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes one event (its fields, `event` and `tenant` first) and returns its id; `None`
    /// when the write failed (counted, and logged by the sync thread).
    pub fn append(&self, fields: &Map<String, Value>) -> Option<EventId> {
        let time = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let mut rest = format!(",\"time\":\"{time}\"");
        for key in ["event", "tenant"] {
            if let Some(v) = fields.get(key) {
                push_field(&mut rest, key, v);
            }
        }
        for (k, v) in fields {
            if k != "event" && k != "tenant" {
                push_field(&mut rest, k, v);
            }
        }
        rest.push_str("}\n");
        let mut w = self.lock();
        let id = EventId {
            boot: self.boot,
            seq: w.next_seq,
        };
        let line = format!("{{\"id\":\"{id}\"{rest}");
        if w.len > 0 && w.len + line.len() as u64 > self.settings.segment_size {
            if let Err(e) = self.rotate(&mut w, id) {
                drop(w);
                self.failed(format!("starting a new segment: {e}"));
                return None;
            }
        }
        if let Err(e) = (&*w.file).write_all(line.as_bytes()) {
            // Cut a partial line off, so the next event starts a line of its own.
            let _ = w.file.set_len(w.len);
            drop(w);
            self.failed(e.to_string());
            return None;
        }
        w.len += line.len() as u64;
        w.next_seq += 1;
        w.dirty = true;
        drop(w);
        self.latest.send_replace(id);
        Some(id)
    }

    fn rotate(&self, w: &mut Writer, first: EventId) -> io::Result<()> {
        let file = Arc::new(create_segment(&self.dir, first)?);
        let old = std::mem::replace(&mut w.file, file);
        if w.dirty {
            w.closed.push(old);
        }
        w.segment = first;
        w.len = 0;
        w.dirty = false;
        w.new_entry = true;
        Ok(())
    }

    fn failed(&self, error: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    /// Fsyncs everything written so far. Returns whether a segment was closed since the
    /// last call.
    pub fn sync(&self) -> bool {
        let (file, closed, new_entry) = {
            let mut w = self.lock();
            let file = std::mem::take(&mut w.dirty).then(|| w.file.clone());
            let closed = std::mem::take(&mut w.closed);
            (file, closed, std::mem::take(&mut w.new_entry))
        };
        for f in closed.iter().chain(&file) {
            if let Err(e) = f.sync_data() {
                self.failed(format!("fsync: {e}"));
            }
        }
        if new_entry {
            if let Err(e) = File::open(&self.dir).and_then(|d| d.sync_all()) {
                self.failed(format!("fsync of {}: {e}", self.dir.display()));
            }
        }
        new_entry
    }

    /// Deletes the oldest closed segments past `max_size` or `max_age`.
    pub fn enforce_retention(&self) {
        let Ok(all) = segments(&self.dir) else { return };
        let active = self.active_segment();
        let sized: Vec<(EventId, u64, SystemTime)> = all
            .into_iter()
            .filter_map(|s| {
                let m = fs::metadata(segment_path(&self.dir, s)).ok()?;
                Some((s, m.len(), m.modified().ok()?))
            })
            .collect();
        let mut total: u64 = sized.iter().map(|s| s.1).sum();
        let now = SystemTime::now();
        for (segment, len, modified) in sized {
            if segment >= active {
                break;
            }
            let old = now.duration_since(modified).unwrap_or_default() > self.settings.max_age;
            if !old && total <= self.settings.max_size {
                break;
            }
            match fs::remove_file(segment_path(&self.dir, segment)) {
                Ok(()) => {
                    total -= len;
                    tracing::info!(segment = %segment, bytes = len, by = if old { "max_age" } else { "max_size" },
                        "event journal segment deleted");
                }
                Err(e) => {
                    tracing::warn!(segment = %segment, error = %e, "cannot delete an event journal segment");
                    break;
                }
            }
        }
    }

    /// Logs append failures since the last call.
    fn report_failures(&self, seen: &mut u64) {
        let now = self.failures.load(Ordering::Relaxed);
        if now > *seen {
            let last = self
                .last_failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_default();
            tracing::error!(failed = now - *seen, error = %last, dir = %self.dir.display(),
                "events could not be written to the event journal");
            *seen = now;
        }
    }
}

fn push_field(out: &mut String, key: &str, value: &Value) {
    out.push(',');
    out.push_str(&Value::from(key).to_string());
    out.push(':');
    out.push_str(&value.to_string());
}

fn create_segment(dir: &Path, first: EventId) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(segment_path(dir, first))
}

/// Fsyncs every `sync_interval` and applies retention, for as long as the journal lives.
fn sync_loop(journal: Weak<Journal>) {
    let mut ticks = 0u32;
    let mut seen_failures = 0u64;
    loop {
        let Some(interval) = journal.upgrade().map(|j| j.settings.sync_interval) else {
            return;
        };
        std::thread::sleep(interval.max(Duration::from_millis(10)));
        let Some(j) = journal.upgrade() else { return };
        let closed = j.sync();
        ticks += 1;
        if closed || ticks.is_multiple_of(RETENTION_EVERY) {
            j.enforce_retention();
        }
        j.report_failures(&mut seen_failures);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn settings() -> JournalSettings {
        JournalSettings {
            segment_size: 1 << 20,
            max_size: 1 << 30,
            max_age: Duration::from_secs(86400),
            sync_interval: Duration::from_millis(50),
            webhook_concurrency: 4,
        }
    }

    fn fields(event: &str, tenant: Option<&str>) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("queue_id".into(), "Q1".into());
        m.insert("event".into(), event.into());
        if let Some(t) = tenant {
            m.insert("tenant".into(), t.into());
        }
        m
    }

    #[test]
    fn each_start_is_a_new_boot_and_ids_grow() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), settings()).unwrap();
        assert_eq!(j.boot(), 1);
        let a = j.append(&fields("accepted", Some("demo"))).unwrap();
        let b = j.append(&fields("delivered", Some("demo"))).unwrap();
        assert!(a < b);
        assert_eq!(j.latest(), b);
        drop(j);
        let j = Journal::open(dir.path(), settings()).unwrap();
        assert_eq!(j.boot(), 2);
        let c = j.append(&fields("reloaded", None)).unwrap();
        assert!(c > b, "{c} after {b}");
        let text =
            fs::read_to_string(segment_path(dir.path(), EventId { boot: 1, seq: 1 })).unwrap();
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with(&format!("{{\"id\":\"{a}\",\"time\":\"20")),
            "{first}"
        );
        assert!(
            first.contains("\"event\":\"accepted\",\"tenant\":\"demo\",\"queue_id\":\"Q1\"}"),
            "{first}"
        );
    }

    #[test]
    fn segments_roll_over_and_retention_deletes_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings();
        s.segment_size = 64 << 10;
        s.max_size = 200 << 10;
        let j = Journal::open(dir.path(), s).unwrap();
        let mut big = fields("delivered", Some("demo"));
        big.insert("reply".into(), "x".repeat(1000).into());
        for _ in 0..1000 {
            j.append(&big).unwrap();
        }
        let before = segments(dir.path()).unwrap();
        assert!(before.len() > 10, "{before:?}");
        j.enforce_retention();
        let after = segments(dir.path()).unwrap();
        let total: u64 = after
            .iter()
            .map(|s| fs::metadata(segment_path(dir.path(), *s)).unwrap().len())
            .sum();
        assert!(total <= 200 << 10, "{total}");
        assert_eq!(after.last(), before.last(), "the active segment stays");
        assert!(after.len() < before.len());
    }
}
