//! The relay as a whole: listeners, connection limits, delivery workers and graceful shutdown.

use crate::auth::{FailureLimiter, PasswordChecks};
use crate::config::Config;
use crate::net::MaybeTls;
use crate::pipeline::SharedPolicies;
use crate::plugin::engine::PluginEngine;
use crate::queue::control;
use crate::queue::quarantine::Quarantine;
use crate::queue::schedule::Queue;
use crate::queue::Spool;
use crate::smtp::reply::{self, Reply};
use crate::smtp::Session;
use anyhow::Context;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// How long sessions in flight get to finish after SIGTERM before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What every session shares.
pub struct Relay {
    pub config: Arc<Config>,
    /// Listener TLS; `None` only if no certificate could be had.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub spool: Spool,
    pub queue: Queue,
    /// Failed AUTH attempts per IP and user, for lockouts.
    pub auth_failures: FailureLimiter,
    /// Bounds the argon2 checks running at once, and the memory they hold.
    pub password_checks: PasswordChecks,
    /// Every tenant's policy chain; a reload swaps the whole set.
    pub policies: SharedPolicies,
    /// Where policy-held messages wait for an operator.
    pub quarantine: Quarantine,
    /// Turns true on SIGTERM: sessions between commands say 421 and close.
    pub shutdown: watch::Receiver<bool>,
    /// Caps sessions in total (RFC 5321 §4.5.3.2 leaves the number to the server).
    connections: Arc<Semaphore>,
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
    fn claim(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let permit = self.connections.clone().try_acquire_owned().ok()?;
        let mut map = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= self.config.limits.max_connections_per_ip {
            return None;
        }
        *n += 1;
        Some(Slot {
            relay: self.clone(),
            ip,
            _permit: permit,
        })
    }
}

/// Opens the spool, recovers it, binds the listeners and serves until `shutdown` resolves;
/// then stops accepting, lets sessions finish, and syncs the spool.
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
    let (queue, ready) = Queue::start();
    for stored in recovery.messages {
        queue.submit(stored);
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
    let policies: SharedPolicies = Arc::new(std::sync::RwLock::new(Arc::new(
        crate::plugin::load_policies(&engine, &config).await?,
    )));
    let mut deliveries = crate::delivery::start(
        config.clone(),
        policies.clone(),
        spool.clone(),
        queue.clone(),
        ready,
        stop_rx.clone(),
    )?;
    let relay = Arc::new(Relay {
        connections: Arc::new(Semaphore::new(config.limits.max_connections)),
        per_ip: Mutex::new(HashMap::new()),
        auth_failures: FailureLimiter::new(config.auth.clone()),
        password_checks: PasswordChecks::new(config.auth.concurrent_checks),
        policies,
        quarantine: Quarantine::new(&config.spool.dir),
        shutdown: stop_rx,
        config: config.clone(),
        tls,
        spool: spool.clone(),
        queue,
    });
    let pid_file = config.spool.dir.join("sluice.pid");
    let _ = std::fs::write(&pid_file, std::process::id().to_string());
    tokio::spawn(reload_on_sighup(relay.clone(), engine));
    tokio::spawn(take_released(relay.clone()));

    let mut listeners = Vec::new();
    for (addrs, implicit_tls) in [(&config.listen, false), (&config.listen_tls, true)] {
        for addr in addrs {
            if implicit_tls && relay.tls.is_none() {
                continue;
            }
            let l = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            tracing::info!(%addr, implicit_tls, "listening");
            listeners.push(tokio::spawn(accept_loop(relay.clone(), l, implicit_tls)));
        }
    }

    shutdown.await;
    let _ = stop_tx.send(true);
    tracing::info!("shutting down: refusing new sessions, finishing those in flight");
    // Wait until every session slot is free again, or the grace period ends.
    let all = relay.config.limits.max_connections as u32;
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
    let _ = std::fs::remove_file(&pid_file);
    tracing::info!(
        queued = relay.queue.depth(),
        "stopped; undelivered messages stay in the spool"
    );
    Ok(())
}

async fn accept_loop(relay: Arc<Relay>, listener: TcpListener, implicit_tls: bool) {
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
        tokio::spawn(async move {
            if *relay.shutdown.borrow() {
                return refuse(tcp, reply::SHUTTING_DOWN).await;
            }
            let Some(slot) = relay.claim(peer.ip()) else {
                tracing::warn!(%peer, "connection limit reached");
                return refuse(tcp, reply::TOO_MANY_CONNECTIONS).await;
            };
            start_session(relay, tcp, peer, implicit_tls).await;
            drop(slot);
        });
    }
}

async fn start_session(relay: Arc<Relay>, tcp: TcpStream, peer: SocketAddr, implicit_tls: bool) {
    if !implicit_tls {
        return Session::new(relay, MaybeTls::Plain(tcp), peer, None)
            .serve()
            .await;
    }
    let Some(tls) = relay.tls.clone() else { return };
    let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(tcp);
    match tokio::time::timeout(relay.config.timeouts.tls_handshake, handshake).await {
        Ok(Ok(stream)) => {
            let described = crate::net::describe_tls(stream.get_ref().1);
            Session::new(
                relay,
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

/// SIGHUP (or `sluice reload`): re-read the config file and swap every tenant's plugin chain
/// at once. Sessions in flight finish on the set they started with; a plugin that fails to
/// load or validate leaves the old set in service.
async fn reload_on_sighup(relay: Arc<Relay>, engine: Arc<PluginEngine>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        let Some(path) = relay.config.source.clone() else {
            tracing::warn!(
                "reload asked, but the relay runs on the built-in quickstart: nothing to re-read"
            );
            continue;
        };
        let loaded = match Config::load(&path) {
            Ok(c) => crate::plugin::load_policies(&engine, &c)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match loaded {
            Ok(p) => {
                *relay.policies.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(p);
                tracing::info!(target: "sluice::event", event = "reloaded", config = %path.display(), "plugin chains reloaded (other settings need a restart)");
            }
            Err(e) => {
                tracing::error!(target: "sluice::event", event = "reload_refused", error = %e, "reload refused; the previous plugins stay in service")
            }
        }
    }
}

async fn carry_out(relay: &Relay, request: control::Request) -> String {
    match request {
        control::Request::Retry(id) => {
            let n = relay.queue.retry_now(id.clone()).await;
            tracing::info!(target: "sluice::event", event = "retry_now", queue_id = id.as_deref().unwrap_or("all"), messages = n);
            match (n, id) {
                (0, Some(id)) => format!(
                    "error: {id} is not waiting for a retry (unknown, or being delivered now)"
                ),
                (n, _) => format!("ok: {n} message(s) moved to the front of the queue"),
            }
        }
        control::Request::Delete(id) => match relay.queue.remove(id.clone()).await {
            Some(stored) => {
                relay.spool.complete(stored.location);
                tracing::warn!(target: "sluice::event", event = "deleted", queue_id = %stored.envelope.id,
                    tenant = %stored.envelope.tenant, rcpts = stored.envelope.rcpts.len(), by = "operator");
                format!(
                    "ok: {} deleted ({} recipient(s) will not be delivered)",
                    stored.envelope.id,
                    stored.envelope.rcpts.len()
                )
            }
            None => {
                format!("error: {id} is not waiting for a retry (unknown, or being delivered now)")
            }
        },
    }
}

/// Carries out what operators asked through the CLI: messages released from quarantine go
/// back into the spool and the queue; queued messages are retried now or deleted.
async fn take_released(relay: Arc<Relay>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        for (request, file) in control::pending(&relay.config.spool.dir) {
            let text = match request {
                Some(r) => carry_out(&relay, r).await,
                None => "error: not a request this relay understands".into(),
            };
            control::answer(&file, &text);
        }
        for (mut envelope, bytes, files) in relay.quarantine.released() {
            envelope.tags.push("released".into());
            let id = envelope.id.clone();
            match relay.spool.commit(envelope, bytes).await {
                Ok(stored) => {
                    for f in files {
                        let _ = std::fs::remove_file(f);
                    }
                    tracing::info!(target: "sluice::event", event = "released", queue_id = %id);
                    relay.queue.submit(stored);
                }
                Err(e) => {
                    tracing::error!(queue_id = %id, error = %e, "cannot take a released message back")
                }
            }
        }
    }
}
