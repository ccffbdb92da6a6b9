//! The webhook outbox: each endpoint (`[[tenant.webhook]]`) reads the journal from its own
//! cursor and POSTs its tenant's events that its filter wants.
//!
//! # At least once
//! The journal is the outbox: an endpoint's only state on disk is its cursor,
//! `SPOOL/events/webhooks/<hash of tenant and name>.cursor`, the id up to which every event
//! was acknowledged (a `2xx`), dropped, or not for it. It is rewritten (one `pwrite`) as
//! soon as it moves, so a kill -9 loses nothing: after a restart the endpoint sends again
//! what came after it, including the few events acknowledged beyond it (duplicates, with the
//! same `Sluice-Event-Id`). A new endpoint starts at the newest event; a cursor file that
//! does not read back starts over from the oldest event kept (duplicates, not losses).
//!
//! # Retries
//! Up to `concurrency` requests per endpoint, [`crate::config::events::JournalSettings`]'s
//! `webhook_concurrency` over all of them, so a slow or dead endpoint holds only its own
//! share. A failure (not `2xx`, timeout, no connection) retries the event after
//! `webhook_retry_initial`, doubling up to `webhook_retry_max`, ±10%; and the endpoint
//! itself backs off the same way, sending one event at a time (the least tried first, so one
//! event the receiver keeps refusing does not hold the others) until one succeeds — then
//! everything waiting goes at once. An event that fails once it is older than
//! `webhook_retry_for` is dropped (operator event `webhook_dropped`); while an endpoint
//! fails, each failure drops every waiting event that old.
//!
//! At most [`WINDOW`] events per endpoint are held in memory; the rest wait in the journal,
//! counted for `sluice_webhook_backlog`.

use super::reader::{Record, Tail};
use super::webhook::{self, Outcome};
use super::{EventId, Journal};
use crate::config::events::{RetrySettings, WebhookSpec};
use crate::config::Config;
use bytes::Bytes;
use rand::Rng;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Events one endpoint holds in memory, sent or waiting.
pub const WINDOW: usize = 1000;
/// Journal records read at a time.
const BATCH: usize = 512;

/// Every endpoint's delivery task.
pub struct Outbox {
    journal: Arc<Journal>,
    /// Requests in flight over all endpoints.
    permits: Arc<Semaphore>,
    /// Where cursors live.
    dir: PathBuf,
    /// The retry schedule in force (a reload changes it).
    retry: watch::Sender<RetrySettings>,
    running: Mutex<HashMap<(String, String), Running>>,
}

/// A running endpoint: dropping it ends the task (its spec channel closes).
struct Running {
    spec: watch::Sender<Arc<WebhookSpec>>,
}

impl Outbox {
    /// Starts a task for every endpoint in `config`.
    pub fn start(journal: Arc<Journal>, config: &Config) -> io::Result<Arc<Outbox>> {
        let dir = journal.dir().join("webhooks");
        std::fs::create_dir_all(&dir)?;
        let outbox = Arc::new(Outbox {
            permits: Arc::new(Semaphore::new(config.events.journal.webhook_concurrency)),
            journal,
            dir,
            retry: watch::Sender::new(config.events.retry.clone()),
            running: Mutex::new(HashMap::new()),
        });
        outbox.apply(config);
        Ok(outbox)
    }

    /// Brings the running endpoints in line with `config` (at start and after a reload): new
    /// ones start, changed ones take their new settings, removed ones stop (their cursor
    /// stays, so putting one back resumes where it was).
    pub fn apply(&self, config: &Config) {
        self.retry.send_replace(config.events.retry.clone());
        let wanted: HashMap<(String, String), Arc<WebhookSpec>> = config
            .tenants
            .iter()
            .flat_map(|t| &t.webhooks)
            .map(|w| ((w.tenant.clone(), w.name.clone()), w.clone()))
            .collect();
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|key, _| {
            let keep = wanted.contains_key(key);
            if !keep {
                tracing::info!(tenant = %key.0, webhook = %key.1, "webhook endpoint removed");
            }
            keep
        });
        for (key, spec) in wanted {
            if let Some(r) = running.get(&key) {
                if **r.spec.borrow() != *spec {
                    r.spec.send_replace(spec);
                }
                continue;
            }
            match self.endpoint(spec.clone()) {
                Ok(endpoint) => {
                    let (tx, rx) = watch::channel(spec);
                    tokio::spawn(endpoint.run(
                        rx,
                        self.journal.subscribe(),
                        self.retry.subscribe(),
                        self.permits.clone(),
                    ));
                    running.insert(key, Running { spec: tx });
                }
                Err(e) => tracing::error!(tenant = %key.0, webhook = %key.1, error = %e,
                    "cannot start the webhook endpoint; its events wait in the journal"),
            }
        }
    }

    fn endpoint(&self, spec: Arc<WebhookSpec>) -> Result<Endpoint, String> {
        let (cursor, at) = Cursor::open(&self.dir, &spec, self.journal.latest())
            .map_err(|e| format!("its cursor in {}: {e}", self.dir.display()))?;
        let client = webhook::Client::new(&spec)?;
        tracing::info!(tenant = %spec.tenant, webhook = %spec.name, url = %spec.url, after = %at,
            "webhook endpoint started");
        Ok(Endpoint {
            labels: [spec.tenant.clone(), spec.name.clone()],
            spec,
            client,
            cursor,
            loader: Some(Tail::after(self.journal.dir(), at)),
            counter: None,
            ahead: 0,
            pending: BTreeMap::new(),
            failures: 0,
            blocked_until: Instant::now(),
            journal: self.journal.clone(),
        })
    }
}

/// One event waiting for its endpoint.
struct Pending {
    /// The record read before it: every id up to it is done when this one is the oldest
    /// waiting.
    prev: EventId,
    name: String,
    body: Bytes,
    /// When it happened (its `time`), which bounds its retries.
    time: SystemTime,
    attempts: u32,
    next_at: Instant,
    in_flight: bool,
}

struct Endpoint {
    spec: Arc<WebhookSpec>,
    labels: [String; 2],
    client: webhook::Client,
    cursor: Cursor,
    journal: Arc<Journal>,
    /// Reads the events to send (`None` while a read runs on the blocking pool).
    loader: Option<Tail>,
    /// With the window full: reads ahead of `loader` to count what waits (`ahead`).
    counter: Option<Tail>,
    ahead: u64,
    pending: BTreeMap<EventId, Pending>,
    /// Failures in a row; while above zero the endpoint sends one event at a time.
    failures: u32,
    blocked_until: Instant,
}

impl Endpoint {
    async fn run(
        mut self,
        mut spec: watch::Receiver<Arc<WebhookSpec>>,
        mut latest: watch::Receiver<EventId>,
        retry: watch::Receiver<RetrySettings>,
        permits: Arc<Semaphore>,
    ) {
        let mut in_flight: JoinSet<Outcome> = JoinSet::new();
        // Which event each request is, so even a request that panicked is settled.
        let mut requests: HashMap<tokio::task::Id, EventId> = HashMap::new();
        loop {
            let behind = self.load().await;
            self.count_ahead().await;
            self.store_cursor();
            crate::metrics::get()
                .webhook_backlog
                .with_label_values(&self.labels)
                .set((self.pending.len() as u64 + self.ahead) as i64);
            let now = Instant::now();
            while in_flight.len() < self.allowed() {
                let Some(id) = self.pick(now) else { break };
                let p = self.pending.get_mut(&id).expect("picked from pending");
                p.in_flight = true;
                let (client, spec, body, permits) = (
                    self.client.clone(),
                    self.spec.clone(),
                    p.body.clone(),
                    permits.clone(),
                );
                let task = in_flight.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    client.post(&spec, id, body).await
                });
                requests.insert(task.id(), id);
            }
            // Saturated: a completion wakes the loop, no timer is needed.
            let wake = if in_flight.len() < self.allowed() {
                self.next_wake()
            } else {
                None
            };
            tokio::select! {
                done = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                    let (task, outcome) = match done {
                        Some(Ok((task, outcome))) => (task, outcome),
                        Some(Err(e)) => (e.id(), Outcome::Failed(format!("the request failed: {e}"))),
                        None => continue,
                    };
                    if let Some(id) = requests.remove(&task) {
                        let settings = retry.borrow().clone();
                        self.settle(id, outcome, &settings);
                    }
                }
                changed = latest.changed() => if changed.is_err() { return },
                changed = spec.changed() => {
                    if changed.is_err() {
                        // Removed from the config: requests in flight are dropped with the
                        // set (sent again if the endpoint comes back).
                        let _ = crate::metrics::get()
                            .webhook_backlog
                            .remove_label_values(&[&self.labels[0], &self.labels[1]]);
                        return;
                    }
                    let next = spec.borrow_and_update().clone();
                    match webhook::Client::new(&next) {
                        Ok(c) => self.client = c,
                        Err(e) => tracing::error!(tenant = %next.tenant, webhook = %next.name, error = %e,
                            "webhook endpoint keeps its previous TLS settings"),
                    }
                    self.spec = next;
                }
                _ = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
                _ = std::future::ready(()), if behind => {}
            }
        }
    }

    /// Requests this endpoint may have in flight now.
    fn allowed(&self) -> usize {
        if self.failures > 0 {
            1
        } else {
            self.spec.concurrency
        }
    }

    /// Reads the journal into the window; true when more is there to read.
    async fn load(&mut self) -> bool {
        let room = WINDOW.saturating_sub(self.pending.len());
        if room == 0 {
            return false;
        }
        let Some(tail) = self.loader.take() else {
            return false;
        };
        if tail.position() >= self.journal.latest() {
            // Caught up: nothing to read.
            self.loader = Some(tail);
            return false;
        }
        let want = room.min(BATCH);
        let mut prev = tail.position();
        let (tail, read) = read(tail, want, self.journal.active_segment()).await;
        let records = match read {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(tenant = %self.spec.tenant, webhook = %self.spec.name, error = %e,
                    "reading the event journal failed");
                self.loader = Some(tail);
                return false;
            }
        };
        let full = records.len() == want;
        let counted_to = self.counter.as_ref().map(Tail::position);
        for r in records {
            if let Some(p) = self.wanted(&r) {
                if counted_to.is_some_and(|c| r.id <= c) {
                    self.ahead = self.ahead.saturating_sub(1);
                }
                self.pending.insert(r.id, Pending { prev, ..p });
            }
            prev = r.id;
        }
        if self.pending.is_empty() {
            self.cursor.want(prev);
        }
        if counted_to.is_some_and(|c| prev >= c) {
            self.counter = None;
            self.ahead = 0;
        }
        self.loader = Some(tail);
        full && self.pending.len() < WINDOW
    }

    /// With the window full, counts the wanted events further on in the journal.
    async fn count_ahead(&mut self) {
        if self.pending.len() < WINDOW {
            return;
        }
        let from = self.loader.as_ref().map(Tail::position).unwrap_or_default();
        let tail = match self.counter.take() {
            Some(t) if t.position() >= from => t,
            _ => {
                self.ahead = 0;
                Tail::after(self.journal.dir(), from)
            }
        };
        if tail.position() >= self.journal.latest() {
            self.counter = Some(tail);
            return;
        }
        let (tail, read) = read(tail, 4 * BATCH, self.journal.active_segment()).await;
        if let Ok(records) = read {
            self.ahead += records.iter().filter(|r| self.wanted(r).is_some()).count() as u64;
        }
        self.counter = Some(tail);
    }

    /// The record as a waiting event, if this endpoint wants it.
    fn wanted(&self, r: &Record) -> Option<Pending> {
        let event: serde_json::Value = serde_json::from_slice(&r.line).ok()?;
        let name = event["event"].as_str();
        if event["tenant"].as_str() != Some(&self.spec.tenant) || !self.spec.wants(name) {
            return None;
        }
        let time = event["time"]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339(t).ok())
            .unwrap_or_else(SystemTime::now);
        Some(Pending {
            prev: EventId::default(),
            name: name.unwrap_or_default().to_owned(),
            body: Bytes::from(r.line.clone()),
            time,
            attempts: 0,
            next_at: Instant::now(),
            in_flight: false,
        })
    }

    /// The event to send next: the oldest due; while failing, the least tried.
    fn pick(&self, now: Instant) -> Option<EventId> {
        if now < self.blocked_until {
            return None;
        }
        let due = self
            .pending
            .iter()
            .filter(|(_, p)| !p.in_flight && p.next_at <= now);
        if self.failures > 0 {
            due.min_by_key(|(id, p)| (p.attempts, **id))
                .map(|(id, _)| *id)
        } else {
            due.map(|(id, _)| *id).next()
        }
    }

    /// When the next event falls due (`None`: nothing waits, or all are in flight).
    fn next_wake(&self) -> Option<Instant> {
        self.pending
            .values()
            .filter(|p| !p.in_flight)
            .map(|p| p.next_at.max(self.blocked_until))
            .min()
    }

    fn settle(&mut self, id: EventId, outcome: Outcome, retry: &RetrySettings) {
        let m = crate::metrics::get();
        m.webhook_deliveries
            .with_label_values(&[&self.labels[0], &self.labels[1], outcome.label()])
            .inc();
        let now = Instant::now();
        if let Outcome::Delivered(_) = outcome {
            self.pending.remove(&id);
            if self.failures > 0 {
                tracing::info!(tenant = %self.spec.tenant, webhook = %self.spec.name, failures = self.failures,
                    waiting = self.pending.len(), "webhook endpoint answers again");
                self.failures = 0;
                self.blocked_until = now;
                for p in self.pending.values_mut() {
                    p.next_at = now;
                }
            }
            return;
        }
        self.failures += 1;
        self.blocked_until = now + backoff(retry, self.failures);
        if self.failures == 1 {
            tracing::warn!(tenant = %self.spec.tenant, webhook = %self.spec.name, event_id = %id,
                error = %outcome, "webhook delivery failed; retrying with backoff");
        } else {
            tracing::debug!(tenant = %self.spec.tenant, webhook = %self.spec.name, event_id = %id,
                error = %outcome, failures = self.failures, "webhook delivery failed");
        }
        if let Some(p) = self.pending.get_mut(&id) {
            p.in_flight = false;
            p.attempts += 1;
            p.next_at = now + backoff(retry, p.attempts);
        }
        // Drop what has been retried long enough (the endpoint's probes retry them all).
        let wall = SystemTime::now();
        let expired: Vec<EventId> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                !p.in_flight && wall.duration_since(p.time).unwrap_or_default() >= retry.retry_for
            })
            .map(|(id, _)| *id)
            .collect();
        for gone in expired {
            let p = self.pending.remove(&gone).expect("listed from pending");
            m.webhook_deliveries
                .with_label_values(&[&self.labels[0], &self.labels[1], "dropped"])
                .inc();
            tracing::error!(target: "sluice::event", event = "webhook_dropped",
                webhook_tenant = %self.spec.tenant, webhook = %self.spec.name, event_id = %gone,
                dropped_event = %p.name, attempts = p.attempts, last_error = %outcome,
                retry_for_s = retry.retry_for.as_secs());
        }
    }

    /// Moves the cursor to what is done: up to the oldest waiting event.
    fn store_cursor(&mut self) {
        if let Some((_, p)) = self.pending.first_key_value() {
            self.cursor.want(p.prev);
        }
        if let Err(e) = self.cursor.save() {
            tracing::error!(tenant = %self.spec.tenant, webhook = %self.spec.name, error = %e,
                "cannot save the webhook cursor (events after it will be sent again)");
        }
    }
}

/// Reads up to `n` records on the blocking pool.
async fn read(tail: Tail, n: usize, active: EventId) -> (Tail, io::Result<Vec<Record>>) {
    let mut tail = tail;
    match tokio::task::spawn_blocking(move || {
        let r = tail.read(n, Some(active));
        (tail, r)
    })
    .await
    {
        Ok(done) => done,
        Err(e) => panic!("journal read task failed: {e}"),
    }
}

/// The wait before retry `n` (1-based): `initial` doubled n-1 times, at most `max`, ±10%.
pub fn backoff(retry: &RetrySettings, n: u32) -> Duration {
    let base = retry
        .initial
        .saturating_mul(1u32 << (n.saturating_sub(1)).min(30))
        .min(retry.max);
    base.mul_f64(rand::thread_rng().gen_range(0.9..1.1))
}

/// An endpoint's persisted cursor: the first 32 bytes of its file are the id, padded; then
/// the tenant and name, for whoever looks.
struct Cursor {
    file: File,
    /// On disk.
    stored: EventId,
    /// Done up to here; saved by [`Cursor::save`].
    wanted: EventId,
}

impl Cursor {
    fn path(dir: &Path, spec: &WebhookSpec) -> PathBuf {
        let digest = Sha256::digest(format!("{}\0{}", spec.tenant, spec.name).as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        dir.join(format!("{hex}.cursor"))
    }

    /// Opens the cursor, made at `start` for a new endpoint.
    fn open(dir: &Path, spec: &WebhookSpec, start: EventId) -> io::Result<(Cursor, EventId)> {
        let path = Cursor::path(dir, spec);
        let (file, at) = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let at = text.lines().next().and_then(|l| l.trim().parse().ok());
                let at = at.unwrap_or_else(|| {
                    tracing::warn!(path = %path.display(), tenant = %spec.tenant, webhook = %spec.name,
                        "webhook cursor unreadable: sending again every event the journal keeps");
                    EventId::default()
                });
                (OpenOptions::new().write(true).open(&path)?, at)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)?;
                file.write_all_at(
                    format!("{:<31}\n{}\n{}\n", start, spec.tenant, spec.name).as_bytes(),
                    0,
                )?;
                file.sync_all()?;
                File::open(dir)?.sync_all()?;
                (file, start)
            }
            Err(e) => return Err(e),
        };
        Ok((
            Cursor {
                file,
                stored: at,
                wanted: at,
            },
            at,
        ))
    }

    fn want(&mut self, id: EventId) {
        self.wanted = self.wanted.max(id);
    }

    fn save(&mut self) -> io::Result<()> {
        if self.wanted == self.stored {
            return Ok(());
        }
        self.file
            .write_all_at(format!("{:<31}\n", self.wanted).as_bytes(), 0)?;
        self.stored = self.wanted;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter() {
        let r = RetrySettings {
            retry_for: Duration::from_secs(86400),
            initial: Duration::from_secs(5),
            max: Duration::from_secs(3600),
        };
        let near = |d: Duration, s: f64| (d.as_secs_f64() - s).abs() <= s * 0.1 + 1e-9;
        assert!(near(backoff(&r, 1), 5.0));
        assert!(near(backoff(&r, 2), 10.0));
        assert!(near(backoff(&r, 4), 40.0));
        assert!(near(backoff(&r, 20), 3600.0));
        assert!(near(backoff(&r, 500), 3600.0));
    }
}
