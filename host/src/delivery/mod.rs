//! Delivery: workers take ready messages from the schedule, route each recipient domain
//! (the routing hook, else the configured default), sign with the tenant's DKIM key, and hand
//! each group of recipients to its destination — the local Maildir, a smarthost, or the
//! domain's MX hosts — then settle every recipient: delivered, retried later, or bounced with
//! a DSN. A message leaves the spool only when no recipient is left to try.
//!
//! Each recipient's outcome carries a typed [`reply::Response`] (the next hop's reply, or
//! this relay's report when none came) and, when not delivered, a [`classify::Category`].

pub mod classify;
pub mod client;
pub mod destination;
pub mod dsn;
pub mod maildir;
pub mod mta_sts;
pub mod mx;
pub mod reply;
mod settle;
pub mod shaping;

use crate::config::resolved::within_domain;
use crate::config::{Config, DeliveryMode, Tenant};
use crate::pipeline::{Policies, Route, RouteRequest};
use crate::queue::envelope::unix_now;
use crate::queue::schedule::{Queue, Ready};
use crate::queue::{Envelope, Spool, Stored};
use client::{Client, Failure, Settings, Target};
use destination::{Connections, Destination, Hop, Pools, IDLE_CONNECTION};
use reply::{Cause, Response, Status};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How one recipient fared in one attempt, with the reply (or report) that says so.
#[derive(Debug, Clone)]
pub enum RcptOutcome {
    /// Taken by the next hop, or written to a Maildir.
    Delivered(Response),
    /// To be tried again.
    Deferred(Response),
    /// Refused for good: a 5xx, a null MX, a domain that does not exist.
    Failed(Response),
}

impl RcptOutcome {
    /// A recipient not delivered: failed when retrying cannot help, deferred when it can.
    pub fn failure(r: Response) -> RcptOutcome {
        if r.is_permanent() {
            RcptOutcome::Failed(r)
        } else {
            RcptOutcome::Deferred(r)
        }
    }

    pub fn response(&self) -> &Response {
        match self {
            RcptOutcome::Delivered(r) | RcptOutcome::Deferred(r) | RcptOutcome::Failed(r) => r,
        }
    }
}

/// A local report that delivery waits for: retried on the schedule.
fn wait(cause: Cause, status: Status, text: impl Into<String>) -> RcptOutcome {
    RcptOutcome::Deferred(Response::local(cause, status, text))
}

/// Statuses of the waits delivery itself decides.
const SYSTEM_ERROR: Status = Status::new(4, 3, 0);
const CONFIG_ERROR: Status = Status::new(4, 3, 5);

/// Recipients traffic shaping held back untried in this round, and the soonest they may go.
#[derive(Default)]
pub(crate) struct Held {
    rcpts: Vec<String>,
    wait: Option<Duration>,
    reason: String,
}

impl Held {
    fn add(&mut self, rcpts: &[String], wait: Duration, reason: String) {
        self.rcpts.extend_from_slice(rcpts);
        if self.wait.is_none_or(|w| wait < w) {
            self.wait = Some(wait);
            self.reason = reason;
        }
    }
}

/// One recipient's outcome with where it came from.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub rcpt: String,
    pub outcome: RcptOutcome,
    /// "name[ip]:port" of the host that answered.
    pub remote: Option<String>,
    /// The TLS version and cipher of that connection.
    pub tls: Option<String>,
    /// "ed25519-sha256 d=example.com s=s1" when the message went out signed.
    pub dkim: Option<String>,
    /// The next hop took the DSN request over (it offered DSN): no "relayed" report.
    pub dsn_passed: bool,
    /// The provider traffic shaping grouped the destination under (by its MX hosts).
    pub provider: Option<String>,
}

struct Deliverer {
    /// The configuration this delivery generation was made from; a reload makes a new one.
    config: Arc<Config>,
    /// Consulted per recipient domain before each attempt (the routing hook).
    policies: Arc<Policies>,
    spool: Spool,
    queue: Queue,
    settings: Settings,
    /// None when no resolver could be made; MX routes then wait.
    resolver: Option<mx::Resolver>,
    /// None when MTA-STS is off (or there is no resolver).
    mta_sts: Option<mta_sts::MtaSts>,
    /// Outbound connections, kept across reloads (closed when a reload changes them).
    connections: Arc<Connections>,
    /// Pool usage today, kept across reloads that leave the pools as they were.
    pools: Arc<Pools>,
    /// Hard bounces put their recipient on the tenant's suppression list (one per process).
    suppressions: crate::suppress::Suppressions,
    /// Suspensions, throttles and rate windows, kept across reloads (the rules are the
    /// config's).
    shaping: Arc<shaping::Shaping>,
}

/// The running delivery: each attempt takes the generation in force when it starts, so a
/// reload changes the next attempt and never one in flight.
#[derive(Clone)]
pub struct Delivery {
    current: Arc<RwLock<Arc<Deliverer>>>,
}

impl Delivery {
    fn current(&self) -> Arc<Deliverer> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Each egress pool's cap today (warm-up step) and what this node sent through it.
    pub fn pools_today(&self) -> Vec<serde_json::Value> {
        self.current().pools.today()
    }

    /// The traffic shaping actions in force.
    pub async fn shaping_status(&self) -> Vec<serde_json::Value> {
        let shaping = self.current().shaping.clone();
        shaping.status().await
    }

    /// Makes what delivery needs from a new config (TLS roots, resolver) without putting it
    /// in service: an error leaves the running delivery as it was.
    pub fn prepare(
        &self,
        config: Arc<Config>,
        policies: Arc<Policies>,
    ) -> anyhow::Result<Prepared> {
        let old = self.current();
        let pools = if old.config.delivery.pools == config.delivery.pools {
            old.pools.clone()
        } else {
            Arc::new(Pools::new(&config.delivery.pools))
        };
        let kept = Kept {
            connections: old.connections.clone(),
            pools,
            suppressions: old.suppressions.clone(),
            shaping: old.shaping.clone(),
        };
        let next = Deliverer::new(config, policies, old.spool.clone(), old.queue.clone(), kept)?;
        Ok(Prepared(Arc::new(next)))
    }

    /// Puts a prepared generation in service; connections kept for the old one are closed.
    pub fn swap(&self, next: Prepared) {
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            next.0,
        );
        tokio::spawn(async move {
            for c in old.connections.drain() {
                c.quit().await;
            }
        });
    }
}

/// What a new delivery generation takes over from the one before (at start: made new).
struct Kept {
    connections: Arc<Connections>,
    pools: Arc<Pools>,
    suppressions: crate::suppress::Suppressions,
    shaping: Arc<shaping::Shaping>,
}

/// A delivery generation made by [`Delivery::prepare`], not yet in service.
pub struct Prepared(Arc<Deliverer>);

/// Starts the delivery workers and the task that closes idle connections. They stop taking
/// new messages when `shutdown` turns true and finish the one in hand.
pub fn start(
    config: Arc<Config>,
    policies: Arc<Policies>,
    spool: Spool,
    queue: Queue,
    ready: Ready,
    shutdown: watch::Receiver<bool>,
    suppressions: crate::suppress::Suppressions,
) -> anyhow::Result<(Delivery, JoinSet<()>)> {
    let kept = Kept {
        connections: Arc::new(Connections::new(config.delivery.per_destination)),
        pools: Arc::new(Pools::new(&config.delivery.pools)),
        suppressions,
        shaping: Arc::default(),
    };
    let d = Deliverer::new(config.clone(), policies, spool, queue, kept)?;
    let connections = d.connections.clone();
    let delivery = Delivery {
        current: Arc::new(RwLock::new(Arc::new(d))),
    };
    let mut set = JoinSet::new();
    for _ in 0..config.delivery.concurrency {
        set.spawn(worker(delivery.clone(), ready.clone(), shutdown.clone()));
    }
    set.spawn(close_idle(connections, shutdown));
    Ok((delivery, set))
}

async fn worker(delivery: Delivery, ready: Ready, mut shutdown: watch::Receiver<bool>) {
    loop {
        let next = {
            let mut rx = ready.lock().await;
            tokio::select! {
                m = rx.recv() => m,
                _ = shutdown.wait_for(|s| *s) => break,
            }
        };
        match next {
            Some(message) => delivery.current().deliver(message).await,
            None => break,
        }
    }
}

async fn close_idle(connections: Arc<Connections>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                for c in connections.stale(IDLE_CONNECTION) {
                    c.quit().await;
                }
            }
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { break },
        }
    }
    for c in connections.drain() {
        c.quit().await;
    }
}

impl Deliverer {
    fn new(
        config: Arc<Config>,
        policies: Arc<Policies>,
        spool: Spool,
        queue: Queue,
        kept: Kept,
    ) -> anyhow::Result<Deliverer> {
        let Kept {
            connections,
            pools,
            suppressions,
            shaping,
        } = kept;
        let ca_file = match &config.delivery.mode {
            DeliveryMode::Smarthost {
                ca_file: Some(f), ..
            } => Some(f.clone()),
            _ => config.delivery.ca_file.clone(),
        };
        let settings = Settings {
            helo: config.hostname.clone(),
            opportunistic: crate::tls::opportunistic_client(),
            verifying: crate::tls::verifying_client(ca_file.as_deref())?,
            connect_timeout: config.delivery.connect_timeout,
            command_timeout: config.delivery.command_timeout,
        };
        let resolver = match mx::Resolver::new(&config.dns) {
            Ok(r) => Some(r),
            Err(e) if matches!(config.delivery.mode, DeliveryMode::Mx) => anyhow::bail!(e),
            Err(e) => {
                tracing::warn!(error = %e, "no DNS resolver; routes to MX hosts will wait");
                None
            }
        };
        let mta_sts = match (&resolver, config.delivery.mta_sts) {
            (Some(r), true) => Some(mta_sts::MtaSts::new(
                r.clone(),
                settings.verifying.clone(),
                config.delivery.mta_sts_port,
            )),
            _ => None,
        };
        Ok(Deliverer {
            connections,
            pools,
            suppressions,
            shaping,
            config,
            policies,
            spool,
            queue,
            settings,
            resolver,
            mta_sts,
        })
    }

    fn tenant(&self, name: &str) -> Option<&Arc<Tenant>> {
        self.config.tenants.iter().find(|t| t.name == name)
    }

    /// The age past which `env` is expired: the shortest of the relay's, its tenant's and
    /// its tags' maximum ages.
    fn max_age(&self, env: &Envelope) -> Duration {
        let d = &self.config.delivery;
        let mut age = d.max_age;
        if let Some(t) = self.tenant(&env.tenant).and_then(|t| t.max_age) {
            age = age.min(t);
        }
        for tag in &env.tags {
            if let Some(t) = d.max_age_by_tag.get(tag) {
                age = age.min(*t);
            }
        }
        age
    }

    async fn deliver(&self, message: Stored) {
        let env = message.envelope.clone();
        // Shared by the signing, every transport and the settling: read once, never copied.
        let body = match self.spool.read(message.location).await {
            Ok(b) => Arc::new(b),
            Err(e) => {
                tracing::error!(queue_id = %env.id, error = %e, "cannot read message from spool");
                let attempts = every(&env.rcpts, wait(Cause::Spool, SYSTEM_ERROR, e.to_string()));
                return self
                    .settle(message, Arc::default(), attempts, Held::default())
                    .await;
            }
        };
        let max_age = self.max_age(&env);
        if unix_now().saturating_sub(env.received_at) >= max_age.as_secs() {
            let mut reason = format!(
                "not delivered within its maximum age of {}",
                humantime::format_duration(max_age)
            );
            if let Some(last) = env.progress.last_error() {
                reason.push_str(&format!(" (last: {last})"));
            }
            let attempts = every(
                &env.rcpts,
                wait(Cause::Expired, Status::new(4, 4, 7), reason),
            );
            return self.settle(message, body, attempts, Held::default()).await;
        }

        // Route each recipient domain once; held recipients wait for a retry.
        let pipeline = self.policies.for_tenant(&env.tenant);
        let mut routes: HashMap<String, Result<Destination, RcptOutcome>> = HashMap::new();
        let mut groups: Vec<(Destination, Vec<String>)> = Vec::new();
        let mut attempts = Vec::new();
        for rcpt in &env.rcpts {
            let domain = rcpt
                .rsplit_once('@')
                .map_or("", |(_, d)| d)
                .to_ascii_lowercase();
            if !routes.contains_key(&domain) {
                let request = RouteRequest {
                    queue_id: &env.id.0,
                    tenant: &env.tenant,
                    mail_from: &env.mail_from,
                    domain: &domain,
                    tags: &env.tags,
                };
                let dest = match pipeline.route(&request).await {
                    Route::Refuse { permanent, reason } => {
                        Err(RcptOutcome::failure(refused(permanent, &reason)))
                    }
                    route => {
                        let pool = self.tenant(&env.tenant).and_then(|t| t.pool.as_deref());
                        destination::destination(
                            &self.config,
                            route,
                            &domain,
                            env.require_tls,
                            pool,
                        )
                        .ok_or_else(|| {
                            wait(Cause::Held, Status::new(4, 4, 0), "held by routing policy")
                        })
                    }
                };
                routes.insert(domain.clone(), dest);
            }
            match &routes[&domain] {
                Err(outcome) => attempts.push(Attempt {
                    rcpt: rcpt.clone(),
                    outcome: outcome.clone(),
                    remote: None,
                    tls: None,
                    dkim: None,
                    dsn_passed: false,
                    provider: None,
                }),
                Ok(d) => match groups.iter_mut().find(|(g, _)| g == d) {
                    Some((_, rcpts)) => rcpts.push(rcpt.clone()),
                    None => groups.push((d.clone(), vec![rcpt.clone()])),
                },
            }
        }
        let mut held = Held::default();
        if !groups.is_empty() {
            let (signed, dkim) = self.sign(&env, &body).await;
            for (dest, rcpts) in &groups {
                let mut sent = self
                    .send_shaped(dest, &env, rcpts, &signed, &mut held)
                    .await;
                for a in &mut sent {
                    a.dkim = dkim.clone();
                }
                attempts.extend(sent);
            }
        }
        if attempts.is_empty() {
            if let Some(wait) = held.wait {
                // Nothing was tried: the message goes back as it was, not an attempt.
                return self.queue.defer(message, wait);
            }
        }
        self.settle(message, body, attempts, held).await;
    }

    /// One group through traffic shaping: sent when its site admits it (and the replies
    /// matched against the rules), bounced untried, or added to `held` (no attempts).
    async fn send_shaped(
        &self,
        dest: &Destination,
        env: &Envelope,
        rcpts: &[String],
        body: &Arc<Vec<u8>>,
        held: &mut Held,
    ) -> Vec<Attempt> {
        let Some(site) = self.site(dest).await else {
            return self.send(dest, None, env, rcpts, body).await;
        };
        let rules = &self.config.delivery.shaping;
        let _slot = match self.shaping.admit(rules, &site).await {
            shaping::Admission::Go(slot) => slot,
            shaping::Admission::Hold(wait, reason) => {
                tracing::info!(
                    target: "sluice::event", event = "shaping_held", queue_id = %env.id,
                    tenant = %env.tenant, site = %site.key, rcpts = rcpts.len(),
                    reason = %reason, retry_in_ms = wait.as_millis() as u64,
                );
                held.add(rcpts, wait, reason);
                return Vec::new();
            }
            shaping::Admission::Bounce(r) => {
                let mut bounced = every(rcpts, RcptOutcome::Failed(r));
                for a in &mut bounced {
                    a.provider = site.provider.clone();
                }
                return bounced;
            }
        };
        let mut sent = self
            .send(dest, site.provider.as_deref(), env, rcpts, body)
            .await;
        self.shaping.observe(rules, &site, &mut sent).await;
        for a in &mut sent {
            a.provider = site.provider.clone();
        }
        sent
    }

    /// The shaping site of a destination: its provider (by the names of its MX hosts, or
    /// the smarthost's) or the destination itself. None for local delivery.
    async fn site(&self, dest: &Destination) -> Option<shaping::Site> {
        let config = &self.config.delivery.shaping;
        let provider = match &dest.hop {
            Hop::Local => return None,
            Hop::Smarthost(host, _) => config.provider_of([host.as_str()]),
            Hop::Mx(domain) => match &self.resolver {
                // Cached: the lookup that follows in `targets` costs nothing more.
                Some(r) => match r.mx_hosts(domain).await {
                    Ok(hosts) => config.provider_of(hosts.iter().map(String::as_str)),
                    Err(_) => None,
                },
                None => None,
            },
        };
        Some(match provider {
            Some(p) => shaping::Site {
                key: p.name.clone(),
                provider: Some(p.name.clone()),
                limits: p.limits,
            },
            None => shaping::Site {
                key: match &dest.hop {
                    Hop::Mx(d) => format!("mx:{d}"),
                    Hop::Smarthost(h, p) => format!("smarthost:{h}:{p}"),
                    Hop::Local => "local".into(),
                },
                provider: None,
                limits: config.default,
            },
        })
    }

    /// The message with a DKIM-Signature on top when the tenant has a key for its From
    /// domain (or a parent of it); the message itself, shared, when not. Never on a session
    /// task: ed25519 signs here, RSA on the blocking pool.
    async fn sign(&self, env: &Envelope, body: &Arc<Vec<u8>>) -> (Arc<Vec<u8>>, Option<String>) {
        let unsigned = || (body.clone(), None);
        let Some(tenant) = self.tenant(&env.tenant) else {
            return unsigned();
        };
        if tenant.dkim.is_empty() {
            return unsigned();
        }
        let Some(from) = crate::dkim::from_domain(body) else {
            return unsigned();
        };
        // The most specific key: a.example.com's own before example.com's.
        let signer = tenant
            .dkim
            .iter()
            .filter(|s| within_domain(&from, &s.domain))
            .max_by_key(|s| s.domain.len());
        let Some(signer) = signer.cloned() else {
            return unsigned();
        };
        let label = format!(
            "{} d={} s={}",
            signer.algorithm(),
            signer.domain,
            signer.selector
        );
        let signed = if signer.is_cheap() {
            // Ed25519 takes tens of microseconds: done here, on the delivery task.
            prepend_signature(&signer, body)
        } else {
            // RSA takes milliseconds: on the blocking pool, so no runtime thread stalls.
            let bytes = body.clone();
            tokio::task::spawn_blocking(move || prepend_signature(&signer, &bytes))
                .await
                .unwrap_or_else(|e| Err(format!("signing task failed: {e}")))
        };
        match signed {
            Ok(out) => (Arc::new(out), Some(label)),
            Err(e) => {
                tracing::error!(queue_id = %env.id, error = %e, "DKIM signing failed; sending unsigned");
                unsigned()
            }
        }
    }

    /// One transaction's worth of recipients to one destination.
    async fn send(
        &self,
        dest: &Destination,
        provider: Option<&str>,
        env: &Envelope,
        rcpts: &[String],
        body: &Arc<Vec<u8>>,
    ) -> Vec<Attempt> {
        if dest.hop == Hop::Local {
            return self.local(env, rcpts, body).await;
        }
        // MTA-STS enforce: verified TLS, and only the MX hosts the policy names.
        let mut dest = dest.clone();
        let mut policy = None;
        if let (Hop::Mx(domain), Some(sts)) = (&dest.hop, &self.mta_sts) {
            if let Some(p) = sts.policy(domain).await {
                if p.mode == mta_sts::Mode::Enforce {
                    dest.tls = crate::config::SmarthostTls::Required;
                    policy = Some(p);
                }
            }
        }
        let dest = &dest;
        let source = match &dest.pool {
            Some(p) => match match self.pools.source(p) {
                Ok(s) => self.pools.reserve(p, provider).await.map(|_| s),
                Err(e) => Err(e),
            } {
                Ok(s) => Some(s),
                Err(reason) => {
                    return every(rcpts, wait(Cause::PoolCap, Status::new(4, 7, 0), reason))
                }
            },
            None => None,
        };
        let _slot = self.connections.permit(&dest.hop).await;
        // A kept connection may have been closed by the peer while idle: then a fresh one.
        if let Some(mut c) = self.connections.take(dest) {
            if let Ok(a) = self.transact(&mut c, env, rcpts, body).await {
                self.connections.put(dest.clone(), c);
                return a;
            }
        }
        let mut targets = match self.targets(dest).await {
            Ok(t) => t,
            Err(outcome) => return every(rcpts, outcome),
        };
        if let Some(p) = &policy {
            targets.retain(|(host, _)| p.allows(host));
            if targets.is_empty() {
                return every(
                    rcpts,
                    RcptOutcome::Deferred(Response::local_reply(
                        Cause::Tls,
                        451,
                        Status::new(4, 7, 5),
                        "MTA-STS policy (enforce) names none of the domain's MX hosts",
                    )),
                );
            }
        }
        let mut last = Failure(Response::local(
            Cause::Dns,
            Status::new(4, 4, 4),
            "no address to connect to",
        ));
        for (name, addr) in targets {
            let target = Target {
                name: &name,
                addr,
                source,
                tls: dest.tls,
            };
            let mut c = match Client::connect(&target, &self.settings).await {
                Ok(c) => c,
                Err(f) => {
                    tracing::debug!(queue_id = %env.id, host = %name, %addr, reason = %f, "next hop unusable; trying the next");
                    last = f;
                    continue;
                }
            };
            if env.require_tls && !c.requiretls {
                last = Failure(Response::local_reply(
                    Cause::Tls,
                    550,
                    Status::new(5, 7, 30),
                    format!("REQUIRETLS support required: {} does not offer it", c.peer),
                ));
                c.quit().await;
                continue;
            }
            return match self.transact(&mut c, env, rcpts, body).await {
                Ok(a) => {
                    self.connections.put(dest.clone(), c);
                    a
                }
                // Broken mid-transaction: no other MX this time, or the message could be
                // delivered twice.
                Err(f) => every_from(rcpts, &f, Some(c.peer.clone()), c.tls.clone()),
            };
        }
        if policy.is_some() {
            last = Failure(last.0.explained("MTA-STS enforce: "));
        }
        every_from(rcpts, &last, None, None)
    }

    async fn transact(
        &self,
        c: &mut Client,
        env: &Envelope,
        rcpts: &[String],
        body: &[u8],
    ) -> Result<Vec<Attempt>, Failure> {
        let outcomes = c.send(env, rcpts, body).await?;
        Ok(rcpts
            .iter()
            .zip(outcomes)
            .map(|(r, outcome)| Attempt {
                rcpt: r.clone(),
                outcome,
                remote: Some(c.peer.clone()),
                tls: c.tls.clone(),
                dkim: None,
                dsn_passed: c.dsn,
                provider: None,
            })
            .collect())
    }

    /// The hosts to try for a destination, in order, with their addresses.
    async fn targets(&self, dest: &Destination) -> Result<Vec<(String, SocketAddr)>, RcptOutcome> {
        match &dest.hop {
            Hop::Local => Ok(Vec::new()),
            Hop::Smarthost(host, port) => {
                let addrs = tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .map_err(|e| {
                        wait(
                            Cause::Dns,
                            Status::new(4, 4, 3),
                            format!("cannot resolve smarthost {host}: {e}"),
                        )
                    })?;
                Ok(addrs.map(|a| (host.clone(), a)).collect())
            }
            Hop::Mx(domain) => {
                let Some(resolver) = &self.resolver else {
                    return Err(wait(
                        Cause::Config,
                        CONFIG_ERROR,
                        "no DNS resolver configured",
                    ));
                };
                let hosts = resolver.mx_hosts(domain).await.map_err(|e| {
                    let (cause, code, status) = match e {
                        mx::MxError::NullMx => (Cause::NullMx, 556, Status::new(5, 1, 10)),
                        mx::MxError::NoSuchDomain | mx::MxError::NoMailHost => {
                            (Cause::NoSuchDomain, 550, Status::new(5, 1, 2))
                        }
                        mx::MxError::Temporary(_) => (Cause::Dns, 451, Status::new(4, 4, 3)),
                    };
                    RcptOutcome::failure(Response::local_reply(
                        cause,
                        code,
                        status,
                        format!("{domain}: {e}"),
                    ))
                })?;
                let port = self.config.delivery.mx_port;
                let mut out = Vec::new();
                let mut errors = Vec::new();
                for host in hosts {
                    match resolver.addresses(&host).await {
                        Ok(ips) => out.extend(
                            ips.into_iter()
                                .map(|ip| (host.clone(), SocketAddr::new(ip, port))),
                        ),
                        Err(e) => errors.push(e),
                    }
                }
                if out.is_empty() {
                    return Err(RcptOutcome::Deferred(Response::local_reply(
                        Cause::Dns,
                        451,
                        Status::new(4, 4, 4),
                        format!(
                            "no address for any MX host of {domain}: {}",
                            errors.join("; ")
                        ),
                    )));
                }
                Ok(out)
            }
        }
    }

    async fn local(&self, env: &Envelope, rcpts: &[String], body: &Arc<Vec<u8>>) -> Vec<Attempt> {
        let DeliveryMode::Local { maildir } = &self.config.delivery.mode else {
            return every(
                rcpts,
                wait(
                    Cause::Config,
                    CONFIG_ERROR,
                    "routed to local delivery, but no Maildir is configured",
                ),
            );
        };
        let (root, mut env, host, body) = (
            maildir.clone(),
            env.clone(),
            self.config.hostname.clone(),
            body.clone(),
        );
        env.rcpts = rcpts.to_vec();
        let outcomes =
            tokio::task::spawn_blocking(move || maildir::deliver(&root, &env, &body, &host))
                .await
                .unwrap_or_default();
        outcomes
            .into_iter()
            .map(|(rcpt, outcome)| Attempt {
                rcpt,
                outcome,
                remote: None,
                tls: None,
                dkim: None,
                dsn_passed: false,
                provider: None,
            })
            .collect()
    }
}

/// The DKIM-Signature header field followed by the message.
fn prepend_signature(signer: &crate::dkim::Signer, body: &[u8]) -> Result<Vec<u8>, String> {
    let header = signer.sign(body)?;
    let mut out = Vec::with_capacity(header.len() + body.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

fn every(rcpts: &[String], outcome: RcptOutcome) -> Vec<Attempt> {
    rcpts
        .iter()
        .map(|r| Attempt {
            rcpt: r.clone(),
            outcome: outcome.clone(),
            remote: None,
            tls: None,
            dkim: None,
            dsn_passed: false,
            provider: None,
        })
        .collect()
}

fn every_from(
    rcpts: &[String],
    f: &Failure,
    remote: Option<String>,
    tls: Option<String>,
) -> Vec<Attempt> {
    let mut a = every(rcpts, RcptOutcome::failure(f.0.clone()));
    for x in &mut a {
        x.remote = remote.clone();
        x.tls = tls.clone();
    }
    a
}

/// The routing hook's refusal: its reason is a reply (`554 5.7.0 Routing refused by policy
/// …`), read as one; a reason that is not gets the status its permanence implies.
fn refused(permanent: bool, reason: &str) -> Response {
    let wire = format!("{reason}\r\n");
    let parsed = reply::Reader::default().feed(wire.as_bytes(), "-").1;
    match parsed {
        Some(Ok(p)) if p.reply.code >= 400 && (p.reply.code >= 500) == permanent => {
            let status = p.reply.status.unwrap_or(if permanent {
                Status::new(5, 7, 0)
            } else {
                Status::new(4, 3, 0)
            });
            Response::local_reply(Cause::Routing, p.reply.code, status, p.reply.text)
        }
        _ if permanent => Response::local_reply(Cause::Routing, 554, Status::new(5, 7, 0), reason),
        _ => Response::local_reply(Cause::Routing, 451, Status::new(4, 3, 0), reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use classify::Category;

    #[test]
    fn a_routing_refusal_reads_as_the_reply_it_is() {
        let r = refused(
            false,
            "451 4.3.0 Routing policy failed; will retry [router: trap]",
        );
        assert_eq!(
            r.to_string(),
            "451 4.3.0 Routing policy failed; will retry [router: trap]"
        );
        assert!(!r.is_permanent());
        assert_eq!(r.category(), Category::PolicyBlock);
        let r = refused(true, "no words of a reply");
        assert_eq!(r.to_string(), "554 5.7.0 no words of a reply");
        assert!(r.is_permanent());
        // A code that contradicts the permanence does not decide it.
        assert!(!refused(false, "550 5.7.1 nope").is_permanent());
    }
}
