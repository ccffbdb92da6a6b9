//! The relay as a whole: listeners, connection limits, delivery workers and graceful shutdown.

use crate::auth::{FailureLimiter, PasswordChecks};
use crate::config::Config;
use crate::delivery::Delivery;
use crate::events::outbox::Outbox;
use crate::events::Journal;
use crate::net::MaybeTls;
use crate::plugin::engine::PluginEngine;
use crate::queue::quarantine::Quarantine;
use crate::queue::schedule::Queue;
use crate::queue::Spool;
use crate::reload::Generation;
use crate::smtp::reply::{self, Reply};
use crate::smtp::Session;
use crate::suppress::Suppressions;
use anyhow::Context;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// How long sessions in flight get to finish after SIGTERM before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What every session shares.
pub struct Relay {
    /// The configuration in force and what was made from it; a reload replaces it whole.
    current: RwLock<Arc<Generation>>,
    /// Held while a reload runs, so two cannot race.
    pub(crate) reloading: tokio::sync::Mutex<()>,
    /// The plugin runtime (one per process): reloaded chains are loaded into it.
    pub(crate) engine: Arc<PluginEngine>,
    /// The delivery workers' configuration, swapped by a reload with the rest.
    pub(crate) delivery: Delivery,
    pub spool: Spool,
    pub queue: Queue,
    /// Failed AUTH attempts per IP and user, for lockouts.
    pub auth_failures: FailureLimiter,
    /// Bounds the argon2 checks running at once, and the memory they hold.
    pub password_checks: PasswordChecks,
    /// Where policy-held messages wait for an operator.
    pub quarantine: Quarantine,
    /// The event journal (`GET /v1/events` reads it) and the webhook endpoints sending from it.
    pub journal: Arc<Journal>,
    pub outbox: Arc<Outbox>,
    /// Every tenant's suppression list: checked at each RCPT and by the HTTP sending API,
    /// filled by delivery (hard bounces), complaints and the APIs.
    pub suppressions: Suppressions,
    /// Idempotency keys of messages sent through the application API, kept under the spool.
    pub idempotency: crate::api::idempotency::Idempotency,
    /// Turns true on SIGTERM: sessions between commands say 421 and close.
    pub shutdown: watch::Receiver<bool>,
    /// When the relay started, for `/v1/status`.
    pub started: std::time::Instant,
    /// True once every listener is bound (`/readyz`).
    pub listening: AtomicBool,
    /// Caps sessions in total (RFC 5321 §4.5.3.2 leaves the number to the server).
    connections: Arc<Semaphore>,
    /// The permits `connections` holds in all: `server.max_connections`, changed by reloads.
    connection_cap: Mutex<usize>,
    /// Sessions per client IP, so one client cannot take every slot.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// A session's claim on the connection limits, released when dropped.
struct Slot {
    relay: Arc<Relay>,
    ip: IpAddr,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.relay.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl Relay {
    /// The generation new sessions and requests start on.
    pub fn current(&self) -> Arc<Generation> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_current(&self, next: Generation) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
    }

    fn claim(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let per_ip = self.current().config.limits.max_connections_per_ip;
        let permit = self.connections.clone().try_acquire_owned().ok()?;
        let mut map = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= per_ip {
            return None;
        }
        *n += 1;
        Some(Slot {
            relay: self.clone(),
            ip,
            _permit: permit,
        })
    }

    /// Grows or shrinks the session cap. Slots in use when it shrinks are taken out of
    /// service as their sessions end.
    pub(crate) fn resize_connections(&self, cap: usize) {
        let mut current = self
            .connection_cap
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if cap > *current {
            self.connections.add_permits(cap - *current);
        } else if cap < *current {
            let surplus = *current - cap;
            let left = surplus - self.connections.forget_permits(surplus);
            if left > 0 {
                let connections = self.connections.clone();
                tokio::spawn(async move {
                    if let Ok(p) = connections.acquire_many_owned(left as u32).await {
                        p.forget();
                    }
                });
            }
        }
        *current = cap;
    }

    /// Whether new mail can be taken: listeners bound, spool writable, disk above its
    /// minimum. `Err` says what is wrong.
    pub fn ready(&self) -> Result<(), String> {
        if !self.listening.load(Ordering::Relaxed) {
            return Err("listeners are not up".into());
        }
        if *self.shutdown.borrow() {
            return Err("shutting down".into());
        }
        let config = self.current().config.clone();
        let dir = &config.spool.dir;
        match crate::queue::spool::free_space(dir) {
            Ok(free) if free >= config.spool.min_free_space => {}
            Ok(free) => {
                return Err(format!(
                    "spool disk has {free} bytes free, below spool.min_free_space ({})",
                    config.spool.min_free_space
                ))
            }
            Err(e) => return Err(format!("spool {}: {e}", dir.display())),
        }
        // One name per probe, so two probes at once do not remove each other's file.
        static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let probe = dir.join(format!(
            ".ready-probe-{}",
            PROBES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| format!("spool {} is not writable: {e}", dir.display()))
    }
}

/// Opens the spool, recovers it, binds the listeners and the admin API, and serves until
/// `shutdown` resolves; then stops accepting, lets sessions finish, and syncs the spool.
pub async fn serve(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let (spool, recovery) = Spool::open(&config.spool.dir, config.spool.segment_size)
        .with_context(|| format!("opening the spool at {}", config.spool.dir.display()))?;
    tracing::info!(
        spool = %config.spool.dir.display(),
        recovered = recovery.messages.len(),
        torn = recovery.torn_tails,
        corrupt = recovery.corrupt_records,
        "spool opened"
    );
    // Events from here on are journaled (before, they are only logged).
    let events_dir = config.spool.dir.join("events");
    let journal = Journal::open(&events_dir, config.events.journal.clone())
        .with_context(|| format!("opening the event journal at {}", events_dir.display()))?;
    crate::events::install(journal.clone());
    let outbox = Outbox::start(journal.clone(), &config)
        .with_context(|| format!("starting the webhook outbox in {}", events_dir.display()))?;
    let mut suppressions =
        Suppressions::open(&config.spool.dir, config.suppressions.max_per_tenant)
            .context("opening the suppression lists")?;
    let idempotency = crate::api::idempotency::Idempotency::open(
        &config.spool.dir,
        config.api.idempotency_window,
        &recovery.messages,
    )
    .with_context(|| {
        format!(
            "opening the idempotency keys under {}",
            config.spool.dir.display()
        )
    })?;
    let (queue, ready) = Queue::start();
    let now = crate::queue::envelope::unix_now();
    for stored in recovery.messages {
        queue.recover(stored, now);
    }
    let tls = match crate::tls::server_config(&config.tls, &config.hostname) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(error = %e, "TLS is unavailable: STARTTLS and the implicit-TLS port are off");
            None
        }
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let engine = PluginEngine::new(crate::plugin::engine_settings(&config))
        .map_err(|e| anyhow::anyhow!("starting the plugin runtime: {e:#}"))?;
    if let Some(cluster) = crate::cluster::Cluster::new(&config.cluster)
        .context("connecting to the shared state server (`cluster.redis`)")?
    {
        tracing::info!("plugin counters and suppression lists are shared through [cluster]");
        let cluster = Arc::new(cluster);
        crate::cluster::install(cluster.clone());
        suppressions.share(cluster.clone());
        engine.counters.share(cluster);
    }
    let policies = Arc::new(crate::plugin::load_policies(&engine, &config).await?);
    let (delivery, mut deliveries) = crate::delivery::start(
        config.clone(),
        policies.clone(),
        spool.clone(),
        queue.clone(),
        ready,
        stop_rx.clone(),
        suppressions.clone(),
    )?;
    let admin = TcpListener::bind(config.admin.listen)
        .await
        .with_context(|| format!("binding the admin API on {}", config.admin.listen))?;
    let api =
        match config.api.listen {
            Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
                format!("binding the application API on {addr} (`api.listen`)")
            })?),
            None => None,
        };
    let relay = Arc::new(Relay {
        current: RwLock::new(Arc::new(Generation {
            number: 1,
            config: config.clone(),
            policies,
            tls,
            loaded_at: crate::queue::envelope::unix_now(),
        })),
        reloading: tokio::sync::Mutex::new(()),
        engine,
        delivery,
        connections: Arc::new(Semaphore::new(config.limits.max_connections)),
        connection_cap: Mutex::new(config.limits.max_connections),
        per_ip: Mutex::new(HashMap::new()),
        auth_failures: FailureLimiter::new(config.auth.clone()),
        password_checks: PasswordChecks::new(config.auth.concurrent_checks),
        quarantine: Quarantine::new(&config.spool.dir),
        journal: journal.clone(),
        outbox,
        suppressions,
        idempotency,
        shutdown: stop_rx,
        started: std::time::Instant::now(),
        listening: AtomicBool::new(false),
        spool: spool.clone(),
        queue,
    });
    crate::metrics::get().config_generation.set(1);
    tracing::info!(addr = %config.admin.listen, "admin API listening");
    tokio::spawn(crate::admin::serve(relay.clone(), admin));
    if let Some(api) = api {
        tracing::info!(addr = ?config.api.listen, "application API listening");
        tokio::spawn(crate::api::serve(relay.clone(), api));
    }
    tokio::spawn(reload_on_sighup(relay.clone()));
    relay.take_released().await;

    let mut listeners = Vec::new();
    let implicit_tls_ok = relay.current().tls.is_some();
    // Implicit-TLS listeners first: once a plain port answers, every port does (what tests
    // and health checks wait for).
    for (addrs, implicit_tls) in [(&config.listen_tls, true), (&config.listen, false)] {
        for addr in addrs {
            if implicit_tls && !implicit_tls_ok {
                continue;
            }
            let l = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            tracing::info!(%addr, implicit_tls, "listening");
            listeners.push(tokio::spawn(accept_loop(
                relay.clone(),
                l,
                *addr,
                implicit_tls,
            )));
        }
    }
    relay.listening.store(true, Ordering::Relaxed);

    shutdown.await;
    let _ = stop_tx.send(true);
    tracing::info!("shutting down: refusing new sessions, finishing those in flight");
    // Wait until every session slot is free again, or the grace period ends.
    let all = *relay
        .connection_cap
        .lock()
        .unwrap_or_else(|e| e.into_inner()) as u32;
    if tokio::time::timeout(SHUTDOWN_GRACE, relay.connections.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            "sessions still open after the grace period; their messages were not acknowledged"
        );
    }
    for l in listeners {
        l.abort();
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while deliveries.join_next().await.is_some() {}
    })
    .await;
    spool.flush().await;
    spool.close();
    journal.sync();
    relay.suppressions.flush().await;
    tracing::info!(
        queued = relay.queue.depth(),
        "stopped; undelivered messages stay in the spool"
    );
    Ok(())
}

async fn accept_loop(
    relay: Arc<Relay>,
    listener: TcpListener,
    addr: SocketAddr,
    implicit_tls: bool,
) {
    let label = addr.to_string();
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::error!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let relay = relay.clone();
        let label = label.clone();
        tokio::spawn(async move {
            if *relay.shutdown.borrow() {
                return refuse(tcp, reply::SHUTTING_DOWN).await;
            }
            let Some(slot) = relay.claim(peer.ip()) else {
                tracing::warn!(%peer, "connection limit reached");
                return refuse(tcp, reply::TOO_MANY_CONNECTIONS).await;
            };
            let m = crate::metrics::get();
            m.sessions_total.with_label_values(&[&label]).inc();
            let open = m.sessions_open.with_label_values(&[&label]);
            open.inc();
            start_session(relay, tcp, peer, implicit_tls).await;
            open.dec();
            drop(slot);
        });
    }
}

async fn start_session(relay: Arc<Relay>, tcp: TcpStream, peer: SocketAddr, implicit_tls: bool) {
    let live = relay.current();
    if !implicit_tls {
        return Session::new(relay, live, MaybeTls::Plain(tcp), peer, None)
            .serve()
            .await;
    }
    let Some(tls) = live.tls.clone() else { return };
    let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(tcp);
    match tokio::time::timeout(live.config.timeouts.tls_handshake, handshake).await {
        Ok(Ok(stream)) => {
            let described = crate::net::describe_tls(stream.get_ref().1);
            Session::new(
                relay,
                live,
                MaybeTls::Tls(Box::new(stream)),
                peer,
                Some(described),
            )
            .serve()
            .await
        }
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "implicit TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "implicit TLS handshake timed out"),
    }
}

async fn refuse(mut tcp: TcpStream, r: Reply) {
    let mut out = Vec::new();
    r.write_to(&mut out);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = tcp.write_all(&out).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

/// SIGHUP: the same reload as `POST /v1/reload`; the outcome goes to the log.
async fn reload_on_sighup(relay: Arc<Relay>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        let _ = relay.reload().await;
    }
}

impl Relay {
    /// Takes messages released from quarantine back into the spool and the queue: those the
    /// API releases at once, and those `sluice quarantine release` moved while no relay ran
    /// (at start). Returns how many were taken.
    pub async fn take_released(&self) -> usize {
        let mut taken = 0;
        for (mut envelope, bytes, files) in self.quarantine.released() {
            envelope.tags.push("released".into());
            let id = envelope.id.clone();
            match self.spool.commit(envelope, bytes).await {
                Ok(stored) => {
                    for f in files {
                        let _ = std::fs::remove_file(f);
                    }
                    tracing::info!(target: "sluice::event", event = "released", queue_id = %id);
                    self.queue.submit(stored);
                    taken += 1;
                }
                Err(e) => {
                    tracing::error!(queue_id = %id, error = %e, "cannot take a released message back")
                }
            }
        }
        taken
    }
}
