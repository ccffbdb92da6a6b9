//! Reading the journal from an id on: a [`Tail`] follows the segments in order and hands out
//! complete lines only (a line being written, or the torn last line of a crash, is not one).

use super::journal::{segment_path, segments};
use super::EventId;
use serde::Deserialize;
use serde_json::Value;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes read at a time (grown for a longer line).
const CHUNK: usize = 64 << 10;

/// One journal line.
pub struct Record {
    pub id: EventId,
    /// The JSON object, without its newline.
    pub line: Vec<u8>,
}

/// The fields records are filtered on.
#[derive(Debug, Default, Deserialize)]
pub struct Head {
    event: Option<Value>,
    tenant: Option<Value>,
    queue_id: Option<Value>,
}

impl Head {
    /// The head of a line; `None` for a line that is not a JSON object.
    pub fn of(line: &[u8]) -> Option<Head> {
        serde_json::from_slice(line).ok()
    }

    pub fn event(&self) -> Option<&str> {
        self.event.as_ref()?.as_str()
    }

    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_ref()?.as_str()
    }

    pub fn queue_id(&self) -> Option<&str> {
        self.queue_id.as_ref()?.as_str()
    }
}

/// A reading position in the journal.
pub struct Tail {
    dir: PathBuf,
    /// The last id read: only later records are handed out.
    after: EventId,
    open: Option<Open>,
    /// The last segment read to its end.
    finished: Option<EventId>,
    /// Bytes read from the open segment; `buf[pos..]` is not handed out yet (it starts a
    /// line).
    buf: Vec<u8>,
    pos: usize,
}

struct Open {
    segment: EventId,
    file: File,
    /// Where the bytes after `buf` start in the file.
    offset: u64,
}

impl Tail {
    /// Reads the records after `after` in the journal in `dir`.
    pub fn after(dir: &Path, after: EventId) -> Tail {
        Tail {
            dir: dir.to_owned(),
            after,
            open: None,
            finished: None,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// The id of the last record read (or the one it started after).
    pub fn position(&self) -> EventId {
        self.after
    }

    /// Up to `max` records after the position; fewer once it reached the end. `active` is
    /// the segment being written, when known (saves listing the directory at each end).
    pub fn read(&mut self, max: usize, active: Option<EventId>) -> io::Result<Vec<Record>> {
        let mut out = Vec::new();
        // Whether the open segment was seen complete (a newer one exists) since its last read.
        let mut closed = false;
        while out.len() < max {
            if self.open.is_none() && !self.open_next()? {
                break;
            }
            let got = self.read_lines(max, &mut out)?;
            if got > 0 {
                continue;
            }
            let segment = self.open.as_ref().map(|o| o.segment).unwrap_or_default();
            if closed {
                // Read to the end after it was closed: anything left is a torn line.
                self.finished = Some(segment);
                self.open = None;
                self.buf.clear();
                self.pos = 0;
                closed = false;
                continue;
            }
            let newer = match active {
                Some(a) => a > segment,
                None => segments(&self.dir)?.last().is_some_and(|s| *s > segment),
            };
            if !newer {
                break;
            }
            // Every write to it came before the next segment was made: read once more.
            closed = true;
        }
        Ok(out)
    }

    /// Opens the segment to read next; false when there is none.
    fn open_next(&mut self) -> io::Result<bool> {
        let all = segments(&self.dir)?;
        let next = match self.finished {
            Some(done) => all.into_iter().find(|s| *s > done),
            None => {
                // The last segment starting at or before the first id wanted.
                let wanted = EventId {
                    boot: self.after.boot,
                    seq: self.after.seq + 1,
                };
                all.iter()
                    .rev()
                    .find(|s| **s <= wanted)
                    .or(all.first())
                    .copied()
            }
        };
        let Some(segment) = next else {
            return Ok(false);
        };
        match File::open(segment_path(&self.dir, segment)) {
            Ok(file) => {
                self.open = Some(Open {
                    segment,
                    file,
                    offset: 0,
                });
                Ok(true)
            }
            // Deleted by retention since the listing: go on with the next one.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.finished = Some(segment);
                self.open_next()
            }
            Err(e) => Err(e),
        }
    }

    /// Reads complete lines of the open segment until `out` holds `max`; returns how many
    /// were consumed (records handed out, earlier ones skipped, and unreadable ones).
    fn read_lines(&mut self, max: usize, out: &mut Vec<Record>) -> io::Result<usize> {
        let open = self.open.as_mut().expect("a segment is open");
        let mut consumed = 0;
        loop {
            while out.len() < max {
                let rest = &self.buf[self.pos..];
                let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                    break;
                };
                let line = &rest[..end];
                self.pos += end + 1;
                consumed += 1;
                if let Some(id) = line_id(line) {
                    if id > self.after {
                        self.after = id;
                        out.push(Record {
                            id,
                            line: line.to_vec(),
                        });
                    }
                }
            }
            if out.len() >= max {
                return Ok(consumed);
            }
            // Keep the start of a line, read what follows it.
            self.buf.drain(..self.pos);
            self.pos = 0;
            let kept = self.buf.len();
            self.buf.resize(kept + CHUNK, 0);
            let n = open.file.read_at(&mut self.buf[kept..], open.offset)?;
            self.buf.truncate(kept + n);
            open.offset += n as u64;
            if n == 0 {
                return Ok(consumed);
            }
        }
    }
}

/// The id of a journal line (`{"id":"…",…`).
pub fn line_id(line: &[u8]) -> Option<EventId> {
    let rest = line.strip_prefix(b"{\"id\":\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// One page of `GET /v1/events`.
pub struct Page {
    pub events: Vec<Value>,
    /// Where the next page starts (`after`): the last record examined.
    pub next: Option<EventId>,
    /// Whether the page stopped before the end of the journal.
    pub more: bool,
}

/// Up to `limit` records after `after` that `keep` wants, examining at most `budget`
/// records, so a page costs a bounded amount of reading however rare the wanted ones are.
pub fn page(
    dir: &Path,
    after: Option<EventId>,
    limit: usize,
    budget: usize,
    active: Option<EventId>,
    keep: impl Fn(&Head) -> bool,
) -> io::Result<Page> {
    let mut tail = Tail::after(dir, after.unwrap_or_default());
    let mut events = Vec::new();
    let mut examined = 0;
    let mut next = after;
    let mut more = false;
    'read: while examined < budget {
        let batch = tail.read((budget - examined).min(1024), active)?;
        if batch.is_empty() {
            break;
        }
        for r in batch {
            examined += 1;
            next = Some(r.id);
            if Head::of(&r.line).is_some_and(|h| keep(&h)) {
                if let Ok(v) = serde_json::from_slice(&r.line) {
                    events.push(v);
                }
                if events.len() >= limit {
                    more = true;
                    break 'read;
                }
            }
        }
    }
    if examined >= budget {
        more = true;
    }
    Ok(Page { events, next, more })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::journal::Journal;
    use serde_json::Map;

    fn event(name: &str, tenant: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("event".into(), name.into());
        m.insert("tenant".into(), tenant.into());
        m
    }

    fn settings(segment_size: u64) -> crate::config::events::JournalSettings {
        crate::config::events::JournalSettings {
            segment_size,
            max_size: 1 << 30,
            max_age: std::time::Duration::from_secs(86400),
            sync_interval: std::time::Duration::from_millis(50),
            webhook_concurrency: 4,
        }
    }

    #[test]
    fn a_tail_follows_segments_and_restarts_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), settings(64 << 10)).unwrap();
        let mut ids = Vec::new();
        for i in 0..2000 {
            ids.push(j.append(&event(&format!("e{i}"), "demo")).unwrap());
        }
        let mut tail = Tail::after(dir.path(), EventId::default());
        let mut seen = Vec::new();
        loop {
            let batch = tail.read(300, Some(j.active_segment())).unwrap();
            if batch.is_empty() {
                break;
            }
            seen.extend(batch.into_iter().map(|r| r.id));
        }
        let first_diff = seen.iter().zip(&ids).position(|(a, b)| a != b);
        assert!(
            seen == ids,
            "{} read, {} written, first difference at {first_diff:?}",
            seen.len(),
            ids.len()
        );
        // From the middle, across a restart (a new boot's segment).
        drop(j);
        let j = Journal::open(dir.path(), settings(64 << 10)).unwrap();
        let later = j.append(&event("later", "demo")).unwrap();
        let mut tail = Tail::after(dir.path(), ids[1499]);
        let mut rest = Vec::new();
        loop {
            let batch = tail.read(1000, None).unwrap();
            if batch.is_empty() {
                break;
            }
            rest.extend(batch.into_iter().map(|r| r.id));
        }
        assert_eq!(rest.len(), 501);
        assert_eq!(rest[..500], ids[1500..]);
        assert_eq!(rest[500], later);
    }

    #[test]
    fn a_torn_last_line_of_a_crash_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), settings(1 << 20)).unwrap();
        let a = j.append(&event("accepted", "demo")).unwrap();
        drop(j);
        // The crash: half a line at the end of boot 1's segment.
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(segment_path(dir.path(), EventId { boot: 1, seq: 1 }))
            .unwrap()
            .write_all(b"{\"id\":\"000001-000000000002\",\"ti")
            .unwrap();
        let j = Journal::open(dir.path(), settings(1 << 20)).unwrap();
        let b = j.append(&event("delivered", "demo")).unwrap();
        let mut tail = Tail::after(dir.path(), EventId::default());
        let got: Vec<_> = tail
            .read(10, None)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(got, vec![a, b]);
    }

    #[test]
    fn a_page_keeps_what_is_wanted_within_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), settings(1 << 20)).unwrap();
        for i in 0..100 {
            let tenant = if i % 10 == 0 { "a" } else { "b" };
            j.append(&event("accepted", tenant)).unwrap();
        }
        let keep = |h: &Head| h.tenant() == Some("a");
        let p = page(dir.path(), None, 3, 1000, None, keep).unwrap();
        assert_eq!(p.events.len(), 3);
        assert!(p.more);
        let p2 = page(dir.path(), p.next, 100, 1000, None, keep).unwrap();
        assert_eq!(p2.events.len(), 7);
        assert!(!p2.more);
        // A small budget stops early with a cursor past what it examined.
        let p3 = page(dir.path(), None, 100, 15, None, keep).unwrap();
        assert_eq!(p3.events.len(), 2);
        assert!(p3.more);
        assert_eq!(p3.next.unwrap().seq, 15);
    }
}
