//! The durable spool: an append-only log of segment files with group commit.
//!
//! # Format
//! `DIR/seg-NNNNNNNNNNNNNNNN.log` files (16 hex digits, ascending). Each starts with the
//! 8-byte magic `SLUICE1\n`, then records:
//!
//! ```text
//! magic "SLQR" | kind u8 | payload length u32 LE | CRC-32 of kind + payload u32 LE | payload
//! kind 1, message: meta length u32 LE | meta (JSON Envelope) | message bytes
//! kind 2, done:    segment u64 LE | offset u64 LE        (the message record it retires)
//! ```
//!
//! # Durability
//! One committer thread owns the active segment. It takes every commit waiting, appends them
//! in one write, calls `fdatasync` once, then answers them all (group commit): a caller hears
//! "committed" only after its bytes and the file length are on disk. A new segment file is
//! synced, and its directory too, before any record in it is acknowledged. Done records ride
//! along with the next batch; losing one costs a duplicate delivery after a crash, never a
//! lost message. A segment is deleted once it and every older one hold no live message; a
//! message that waits long for retry is rewritten to the head of the log so old segments drain.
//!
//! # Recovery
//! At open every segment is scanned. A record whose CRC fails is copied to `DIR/corrupt/` and
//! skipped; a torn record at the end of a segment (a crash mid-append) is cut off. Both are
//! logged. Messages without a done record are handed back for delivery.

use super::envelope::Envelope;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

const SEGMENT_MAGIC: &[u8; 8] = b"SLUICE1\n";
const RECORD_MAGIC: &[u8; 4] = b"SLQR";
const HEADER_LEN: u64 = 13;
const KIND_MESSAGE: u8 = 1;
const KIND_DONE: u8 = 2;
/// A drained active segment at least this long is retired so its space comes back.
const RECLAIM_BYTES: u64 = 1 << 20;
/// Upper bound of one batch's bytes, so a burst of large messages is synced in pieces.
const MAX_BATCH_BYTES: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool directory {dir}: {error}")]
    Open { dir: PathBuf, error: io::Error },
    #[error("spool write failed: {0}")]
    Write(String),
    #[error("spool read of {segment:016X}@{offset} failed: {error}")]
    Read {
        segment: u64,
        offset: u64,
        error: io::Error,
    },
    #[error("spool is shut down")]
    Closed,
    #[error(
        "spool directory {dir} is in use by another relay{}; stop it first, or give this one its own [spool] dir",
        holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked { dir: PathBuf, holder: Option<u32> },
}

/// Where a message record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    pub segment: u64,
    /// Offset of the record header.
    pub offset: u64,
    /// Offset and length of the message bytes.
    pub body_offset: u64,
    pub body_len: u64,
}

/// A message on disk: its envelope and where its bytes are.
#[derive(Debug, Clone)]
pub struct Stored {
    pub envelope: Envelope,
    pub location: Location,
}

/// What `open` found: messages to deliver and problems set aside.
#[derive(Debug, Default)]
pub struct Recovery {
    pub messages: Vec<Stored>,
    pub torn_tails: usize,
    pub corrupt_records: usize,
}

enum Op {
    Commit {
        meta: Vec<u8>,
        body: Vec<u8>,
        reply: oneshot::Sender<Result<Location, SpoolError>>,
    },
    Done(Location),
    Flush(oneshot::Sender<()>),
}

/// Handle to the spool; cheap to clone.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    /// The exclusive lock on `DIR/lock`, held for as long as the spool is open.
    _lock: Arc<File>,
    ops: Mutex<Option<mpsc::Sender<Op>>>,
    /// Open segment files for reading message bytes back.
    readers: Mutex<HashMap<u64, Arc<File>>>,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("seg-{n:016X}.log"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Spool {
    /// Opens (or creates) the spool at `dir`, recovers what it holds and starts the committer.
    pub fn open(dir: &Path, segment_size: u64) -> Result<(Spool, Recovery), SpoolError> {
        let err = |error| SpoolError::Open {
            dir: dir.to_owned(),
            error,
        };
        fs::create_dir_all(dir).map_err(err)?;
        let lock = Arc::new(lock(dir)?);
        let segments = list_segments(dir).map_err(err)?;

        let mut recovery = Recovery::default();
        let mut live: BTreeMap<u64, usize> = BTreeMap::new();
        let mut found: BTreeMap<(u64, u64), Stored> = BTreeMap::new();
        for &seg in &segments {
            live.insert(seg, 0);
            scan(dir, seg, &mut found, Some(&mut recovery)).map_err(err)?;
        }
        for s in found.values() {
            *live.entry(s.location.segment).or_default() += 1;
        }
        recovery.messages = found.into_values().collect();

        // The first batch creates the next segment: a relay on a full disk still starts,
        // delivers what it holds and frees space, and refuses new mail meanwhile.
        let active_no = segments.last().map_or(1, |n| n + 1);

        let (tx, rx) = mpsc::channel();
        let inner = Arc::new(Inner {
            dir: dir.to_owned(),
            _lock: lock.clone(),
            ops: Mutex::new(Some(tx)),
            readers: Mutex::new(HashMap::new()),
        });
        let mut committer = Committer {
            dir: dir.to_owned(),
            segment_size,
            active: None,
            active_no,
            active_len: SEGMENT_MAGIC.len() as u64,
            live,
            inner: Arc::downgrade(&inner),
            _lock: lock,
        };
        committer.drop_drained_segments();
        std::thread::Builder::new()
            .name("spool-commit".into())
            .spawn(move || committer.run(rx))
            .map_err(err)?;
        Ok((Spool { inner }, recovery))
    }

    fn send(&self, op: Op) -> Result<(), SpoolError> {
        let guard = self.inner.ops.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .ok_or(SpoolError::Closed)?
            .send(op)
            .map_err(|_| SpoolError::Closed)
    }

    /// Writes a message durably. Returns once its bytes are synced to disk.
    pub async fn commit(&self, envelope: Envelope, body: Vec<u8>) -> Result<Stored, SpoolError> {
        let meta = serde_json::to_vec(&envelope).map_err(|e| SpoolError::Write(e.to_string()))?;
        let (reply, rx) = oneshot::channel();
        self.send(Op::Commit { meta, body, reply })?;
        let location = rx.await.map_err(|_| SpoolError::Closed)??;
        Ok(Stored { envelope, location })
    }

    /// Retires a message: it will not be recovered after a restart.
    pub fn complete(&self, location: Location) {
        let _ = self.send(Op::Done(location));
    }

    /// Waits until every done record sent so far is on disk.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(Op::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Stops the committer after the work already queued.
    pub fn close(&self) {
        self.inner
            .ops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// Reads a message's bytes back.
    pub async fn read(&self, location: Location) -> Result<Vec<u8>, SpoolError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.read(location))
            .await
            .map_err(|e| SpoolError::Write(e.to_string()))?
    }

    /// Free bytes on the spool's filesystem for unprivileged writers.
    pub fn free_space(&self) -> io::Result<u64> {
        free_space(&self.inner.dir)
    }
}

impl Inner {
    fn read(&self, loc: Location) -> Result<Vec<u8>, SpoolError> {
        let err = |error| SpoolError::Read {
            segment: loc.segment,
            offset: loc.offset,
            error,
        };
        let file = {
            let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
            match readers.get(&loc.segment) {
                Some(f) => f.clone(),
                None => {
                    let f =
                        Arc::new(File::open(segment_path(&self.dir, loc.segment)).map_err(err)?);
                    readers.insert(loc.segment, f.clone());
                    f
                }
            }
        };
        let mut buf = vec![0u8; loc.body_len as usize];
        file.read_exact_at(&mut buf, loc.body_offset).map_err(err)?;
        Ok(buf)
    }
}

pub fn free_space(dir: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Takes the spool's exclusive lock (`DIR/lock`), so one process owns it for its whole life:
/// a second relay on the same directory would otherwise recover live messages and delete
/// segments still in use. The file keeps the holder's pid for the error message; it is never
/// deleted, and the lock goes with the process however it ends.
fn lock(dir: &Path) -> Result<File, SpoolError> {
    let path = dir.join("lock");
    let err = |error| SpoolError::Open {
        dir: dir.to_owned(),
        error,
    };
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            return Err(SpoolError::Locked {
                dir: dir.to_owned(),
                holder,
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(err(e)),
    }
    // Best effort: on a full disk the lock still holds without the pid in it.
    let _ = file
        .set_len(0)
        .and_then(|_| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
    Ok(file)
}

/// Creates segment `n`, synced with its directory entry; on failure (a full disk) nothing
/// is left behind for the next start to mistake for damage.
fn create_segment(dir: &Path, n: u64) -> io::Result<File> {
    let path = segment_path(dir, n);
    let mut f = OpenOptions::new()
        .create_new(true)
        .append(true)
        .read(true)
        .open(&path)?;
    let written = f
        .write_all(SEGMENT_MAGIC)
        .and_then(|_| f.sync_all())
        .and_then(|_| sync_dir(dir));
    if let Err(e) = written {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(f)
}

fn record_header(kind: u8, payload_parts: &[&[u8]]) -> [u8; HEADER_LEN as usize] {
    let len: usize = payload_parts.iter().map(|p| p.len()).sum();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    for p in payload_parts {
        crc.update(p);
    }
    let mut h = [0u8; HEADER_LEN as usize];
    h[..4].copy_from_slice(RECORD_MAGIC);
    h[4] = kind;
    h[5..9].copy_from_slice(&(len as u32).to_le_bytes());
    h[9..13].copy_from_slice(&crc.finalize().to_le_bytes());
    h
}

/// Reads one segment into `found`, applying done records; with `repair`, damage is set aside and torn tails are cut (at start-up),
/// without it nothing is changed (inspecting the spool of a running relay).
fn scan(
    dir: &Path,
    seg: u64,
    found: &mut BTreeMap<(u64, u64), Stored>,
    mut repair: Option<&mut Recovery>,
) -> io::Result<()> {
    let path = segment_path(dir, seg);
    let data = fs::read(&path)?;
    if data.len() < SEGMENT_MAGIC.len() && SEGMENT_MAGIC.starts_with(&data) {
        // Created but never written whole (a crash or a full disk): it holds nothing.
        if repair.is_some() {
            tracing::warn!(segment = %path.display(), bytes = data.len(), "empty spool segment removed");
            fs::remove_file(&path)?;
        }
        return Ok(());
    }
    if data.len() < SEGMENT_MAGIC.len() || &data[..SEGMENT_MAGIC.len()] != SEGMENT_MAGIC {
        if repair.is_none() {
            return Ok(());
        }
        tracing::error!(segment = %path.display(), "spool segment has no valid header; set aside");
        set_aside(dir, seg, 0, &data)?;
        fs::remove_file(&path)?;
        return Ok(());
    }
    let mut pos = SEGMENT_MAGIC.len();
    while pos < data.len() {
        let rest = &data[pos..];
        let header_ok = rest.len() >= HEADER_LEN as usize && &rest[..4] == RECORD_MAGIC;
        let len = if header_ok {
            u32::from_le_bytes(rest[5..9].try_into().expect("4 bytes")) as usize
        } else {
            0
        };
        let end = HEADER_LEN as usize + len;
        if !header_ok || rest.len() < end {
            let Some(recovery) = repair.as_deref_mut() else {
                break;
            };
            // Not a whole record: a crash mid-append if nothing valid follows, else damage.
            tracing::warn!(segment = %path.display(), offset = pos, bytes = rest.len(), "torn record at end of spool segment cut off");
            set_aside(dir, seg, pos as u64, rest)?;
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(pos as u64)?;
            f.sync_all()?;
            recovery.torn_tails += 1;
            break;
        }
        let kind = rest[4];
        let crc = u32::from_le_bytes(rest[9..13].try_into().expect("4 bytes"));
        let payload = &rest[HEADER_LEN as usize..end];
        let mut h = crc32fast::Hasher::new();
        h.update(&[kind]);
        h.update(payload);
        if h.finalize() != crc {
            let Some(recovery) = repair.as_deref_mut() else {
                pos += end;
                continue;
            };
            tracing::error!(segment = %path.display(), offset = pos, "spool record fails its checksum; set aside");
            set_aside(dir, seg, pos as u64, &rest[..end])?;
            recovery.corrupt_records += 1;
            pos += end;
            continue;
        }
        match kind {
            KIND_MESSAGE if payload.len() >= 4 => {
                let meta_len =
                    u32::from_le_bytes(payload[..4].try_into().expect("4 bytes")) as usize;
                let parsed = payload
                    .get(4..4 + meta_len)
                    .and_then(|m| serde_json::from_slice::<Envelope>(m).ok());
                match parsed {
                    Some(envelope) => {
                        let body_offset = (pos + HEADER_LEN as usize + 4 + meta_len) as u64;
                        let location = Location {
                            segment: seg,
                            offset: pos as u64,
                            body_offset,
                            body_len: (payload.len() - 4 - meta_len) as u64,
                        };
                        found.insert((seg, pos as u64), Stored { envelope, location });
                    }
                    None => {
                        if let Some(recovery) = repair.as_deref_mut() {
                            tracing::error!(segment = %path.display(), offset = pos, "spool record has an unreadable envelope; set aside");
                            set_aside(dir, seg, pos as u64, &rest[..end])?;
                            recovery.corrupt_records += 1;
                        }
                    }
                }
            }
            KIND_DONE if payload.len() == 16 => {
                let s = u64::from_le_bytes(payload[..8].try_into().expect("8 bytes"));
                let o = u64::from_le_bytes(payload[8..].try_into().expect("8 bytes"));
                found.remove(&(s, o));
            }
            _ => {
                if let Some(recovery) = repair.as_deref_mut() {
                    tracing::error!(segment = %path.display(), offset = pos, kind, "unknown spool record; set aside");
                    set_aside(dir, seg, pos as u64, &rest[..end])?;
                    recovery.corrupt_records += 1;
                }
            }
        }
        pos += end;
    }
    Ok(())
}

/// The messages in a spool, read without changing anything (safe while the relay runs).
pub fn inspect(dir: &Path) -> io::Result<Vec<Stored>> {
    let mut found = BTreeMap::new();
    for seg in list_segments(dir)? {
        scan(dir, seg, &mut found, None)?;
    }
    Ok(found.into_values().collect())
}

/// Reads a message's bytes straight from its segment file.
pub fn read_message(dir: &Path, loc: Location) -> io::Result<Vec<u8>> {
    let f = File::open(segment_path(dir, loc.segment))?;
    let mut buf = vec![0u8; loc.body_len as usize];
    f.read_exact_at(&mut buf, loc.body_offset)?;
    Ok(buf)
}

fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut segments: Vec<u64> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            u64::from_str_radix(name.strip_prefix("seg-")?.strip_suffix(".log")?, 16).ok()
        })
        .collect();
    segments.sort_unstable();
    Ok(segments)
}

fn set_aside(dir: &Path, seg: u64, offset: u64, bytes: &[u8]) -> io::Result<()> {
    let aside = dir.join("corrupt");
    fs::create_dir_all(&aside)?;
    fs::write(aside.join(format!("seg-{seg:016X}-{offset}.bin")), bytes)
}

struct Committer {
    dir: PathBuf,
    segment_size: u64,
    /// The segment being appended to; none until the first batch needs one, and again after
    /// a drained segment is retired to give its space back.
    active: Option<File>,
    /// The active segment's number, or the number the next one will get.
    active_no: u64,
    active_len: u64,
    /// Live message count per segment, oldest first; drives deletion.
    live: BTreeMap<u64, usize>,
    inner: std::sync::Weak<Inner>,
    /// Kept until the last batch is synced, even when every handle is gone.
    _lock: Arc<File>,
}

impl Committer {
    fn run(mut self, rx: mpsc::Receiver<Op>) {
        let mut buf = Vec::with_capacity(1 << 20);
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            let mut bytes = 0usize;
            while bytes < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(op) => {
                        if let Op::Commit { meta, body, .. } = &op {
                            bytes += meta.len() + body.len();
                        }
                        batch.push(op)
                    }
                    Err(_) => break,
                }
            }
            self.write_batch(batch, &mut buf);
        }
        // The sender is gone: a final sync so done records reach the disk.
        if let Some(active) = &self.active {
            let _ = active.sync_data();
        }
    }

    fn write_batch(&mut self, batch: Vec<Op>, buf: &mut Vec<u8>) {
        buf.clear();
        let mut commits = Vec::new();
        let mut done = Vec::new();
        let mut flushes = Vec::new();
        let start = self.active_len;
        for op in batch {
            match op {
                Op::Commit { meta, body, reply } => {
                    let offset = start + buf.len() as u64;
                    let meta_len = (meta.len() as u32).to_le_bytes();
                    buf.extend_from_slice(&record_header(KIND_MESSAGE, &[&meta_len, &meta, &body]));
                    buf.extend_from_slice(&meta_len);
                    buf.extend_from_slice(&meta);
                    let body_offset = start + buf.len() as u64;
                    buf.extend_from_slice(&body);
                    let location = Location {
                        segment: self.active_no,
                        offset,
                        body_offset,
                        body_len: body.len() as u64,
                    };
                    commits.push((location, reply));
                }
                Op::Done(loc) => {
                    let mut payload = [0u8; 16];
                    payload[..8].copy_from_slice(&loc.segment.to_le_bytes());
                    payload[8..].copy_from_slice(&loc.offset.to_le_bytes());
                    buf.extend_from_slice(&record_header(KIND_DONE, &[&payload]));
                    buf.extend_from_slice(&payload);
                    done.push(loc);
                }
                Op::Flush(tx) => flushes.push(tx),
            }
        }
        let synced = (|| {
            if buf.is_empty() {
                // Only flushes: sync what done records are already written, if any.
                if let (Some(active), false) = (&self.active, flushes.is_empty()) {
                    active.sync_data()?;
                }
                return Ok(());
            }
            let active = self.active()?;
            active.write_all(buf)?;
            if !commits.is_empty() || !flushes.is_empty() {
                active.sync_data()?;
            }
            Ok::<_, io::Error>(())
        })();
        match synced {
            Ok(()) => {
                self.active_len += buf.len() as u64;
                *self.live.entry(self.active_no).or_default() += commits.len();
                for (loc, reply) in commits {
                    let _ = reply.send(Ok(loc));
                }
                for loc in done {
                    if let Some(n) = self.live.get_mut(&loc.segment) {
                        *n = n.saturating_sub(1);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "spool write failed; answering 451 to this batch");
                // Cut the partial append so the log stays well formed; if even that fails,
                // move on to a fresh segment.
                let cut = self
                    .active
                    .as_ref()
                    .map(|a| a.set_len(start).and_then(|_| a.sync_data()));
                if matches!(cut, Some(Err(_))) {
                    let _ = self.rotate();
                }
                for (_, reply) in commits {
                    let _ = reply.send(Err(SpoolError::Write(e.to_string())));
                }
                // Done records that did not make it are retried as a duplicate delivery at
                // worst; count them retired in memory all the same.
                for loc in done {
                    if let Some(n) = self.live.get_mut(&loc.segment) {
                        *n = n.saturating_sub(1);
                    }
                }
            }
        }
        for f in flushes {
            let _ = f.send(());
        }
        if self.active_len >= self.segment_size {
            if let Err(e) = self.rotate() {
                tracing::error!(error = %e, "cannot start a new spool segment; appending to the current one");
            }
        } else if self.active_len >= RECLAIM_BYTES
            && self.live.get(&self.active_no).is_some_and(|&n| n == 0)
        {
            // Everything in the active segment is done: retire it, whatever its size, so its
            // space comes back; the next batch starts a new one.
            self.retire_active();
        }
        self.drop_drained_segments();
    }

    /// The active segment, created on first use.
    fn active(&mut self) -> io::Result<&mut File> {
        if self.active.is_none() {
            let file = create_segment(&self.dir, self.active_no)?;
            self.active_len = SEGMENT_MAGIC.len() as u64;
            self.live.insert(self.active_no, 0);
            self.active = Some(file);
        }
        Ok(self.active.as_mut().expect("just created"))
    }

    /// Closes the active segment; the next batch opens a new one.
    fn retire_active(&mut self) {
        if let Some(old) = self.active.take() {
            let _ = old.sync_data();
            self.active_no += 1;
            self.active_len = SEGMENT_MAGIC.len() as u64;
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        let next = self.active_no + 1;
        let file = create_segment(&self.dir, next)?;
        if let Some(old) = &self.active {
            let _ = old.sync_data();
        }
        self.active = Some(file);
        self.active_no = next;
        self.active_len = SEGMENT_MAGIC.len() as u64;
        self.live.insert(next, 0);
        Ok(())
    }

    /// Deletes the oldest segments while they hold nothing live. Going oldest-first keeps
    /// every done record at least as long as the message record it retires.
    fn drop_drained_segments(&mut self) {
        while let Some((&seg, &n)) = self.live.first_key_value() {
            if (seg == self.active_no && self.active.is_some()) || n > 0 {
                break;
            }
            self.live.remove(&seg);
            if let Some(inner) = self.inner.upgrade() {
                inner
                    .readers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&seg);
            }
            if let Err(e) = fs::remove_file(segment_path(&self.dir, seg)) {
                tracing::warn!(segment = seg, error = %e, "cannot delete drained spool segment");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::envelope::Envelope;

    fn segment_files(dir: &Path) -> Vec<(u64, u64)> {
        list_segments(dir)
            .unwrap()
            .into_iter()
            .map(|n| (n, fs::metadata(segment_path(dir, n)).unwrap().len()))
            .collect()
    }

    #[test]
    fn a_record_written_before_typed_replies_is_read_with_its_history() {
        let dir = tempfile::tempdir().unwrap();
        let meta = crate::queue::envelope::WRITTEN_BEFORE_TYPED_REPLIES.as_bytes();
        let body = b"Subject: old\r\n\r\nx\r\n";
        let meta_len = (meta.len() as u32).to_le_bytes();
        let mut seg = SEGMENT_MAGIC.to_vec();
        seg.extend_from_slice(&record_header(KIND_MESSAGE, &[&meta_len, meta, body]));
        seg.extend_from_slice(&meta_len);
        seg.extend_from_slice(meta);
        seg.extend_from_slice(body);
        fs::write(segment_path(dir.path(), 1), &seg).unwrap();
        let (spool, recovery) = Spool::open(dir.path(), 64 << 20).unwrap();
        assert_eq!(recovery.corrupt_records, 0);
        assert_eq!(recovery.messages.len(), 1);
        let e = &recovery.messages[0].envelope;
        assert_eq!(e.id.0, "0000000000000042");
        assert_eq!(e.progress.last_error(), Some("451 4.3.0 Try again later"));
        drop(spool);
    }

    #[test]
    fn opening_creates_no_segment_until_the_first_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, recovery) = Spool::open(dir.path(), 64 << 20).unwrap();
        assert!(recovery.messages.is_empty());
        assert!(segment_files(dir.path()).is_empty());
        spool.close();
    }

    #[test]
    fn a_segment_cut_within_its_header_is_removed_not_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(segment_path(dir.path(), 7), &SEGMENT_MAGIC[..3]).unwrap();
        let (spool, recovery) = Spool::open(dir.path(), 64 << 20).unwrap();
        assert_eq!(recovery.corrupt_records, 0);
        assert!(!dir.path().join("corrupt").exists());
        assert!(segment_files(dir.path()).is_empty());
        spool.close();
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, _) = Spool::open(dir.path(), 64 << 20).unwrap();
        match Spool::open(dir.path(), 64 << 20) {
            Err(SpoolError::Locked { holder, .. }) => {
                assert_eq!(holder, Some(std::process::id()))
            }
            other => panic!("second open: {:?}", other.map(|_| ())),
        }
        spool.close();
    }

    #[tokio::test]
    async fn a_drained_active_segment_gives_its_space_back_whatever_its_size() {
        let dir = tempfile::tempdir().unwrap();
        // Segments of 64 MB: far more than what is written, so only draining can reclaim it.
        let (spool, _) = Spool::open(dir.path(), 64 << 20).unwrap();
        let mut stored = Vec::new();
        for _ in 0..5 {
            let env = Envelope::sample("a@b.example", &["c@d.example"]);
            stored.push(spool.commit(env, vec![b'x'; 300_000]).await.unwrap());
        }
        let files = segment_files(dir.path());
        assert_eq!(files.len(), 1);
        assert!(files[0].1 > 1_500_000, "{files:?}");
        for s in &stored {
            spool.complete(s.location);
        }
        // Two flushes: the second is answered only after the batch of the first is finished.
        spool.flush().await;
        spool.flush().await;
        assert!(
            segment_files(dir.path()).is_empty(),
            "{:?}",
            segment_files(dir.path())
        );
        // The next message starts a new segment.
        let env = stored[0].envelope.clone();
        spool.commit(env, b"again".to_vec()).await.unwrap();
        assert_eq!(segment_files(dir.path()).len(), 1);
        spool.close();
    }
}
