//! The relay as a whole: listeners, connection limits, delivery workers and graceful shutdown.

use crate::auth::FailureLimiter;
use crate::config::Config;
use crate::net::MaybeTls;
use crate::pipeline::Pipeline;
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
    pub pipeline: Pipeline,
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
    let pipeline = Pipeline::default();
    let mut deliveries = crate::delivery::start(
        config.clone(),
        pipeline.clone(),
        spool.clone(),
        queue.clone(),
        ready,
        stop_rx.clone(),
    )?;
    let relay = Arc::new(Relay {
        connections: Arc::new(Semaphore::new(config.limits.max_connections)),
        per_ip: Mutex::new(HashMap::new()),
        auth_failures: FailureLimiter::new(config.auth.clone()),
        pipeline,
        shutdown: stop_rx,
        config: config.clone(),
        tls,
        spool: spool.clone(),
        queue,
    });

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
    tracing::info!("shutting down: refusing new sessions, finishing those in flight");
    let _ = stop_tx.send(true);
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
