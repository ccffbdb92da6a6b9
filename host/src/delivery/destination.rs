//! Where a group of recipients goes, and what the relay keeps per destination: a cap on
//! connections at once, idle connections kept for the next message, and egress pools.

use super::client::Client;
use crate::config::{Config, DeliveryMode, Pool, SmarthostTls};
use crate::pipeline::Route;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The next hop of a group of recipients.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Hop {
    /// The local Maildir.
    Local,
    /// The MX hosts of this domain.
    Mx(String),
    Smarthost(String, u16),
}

/// A next hop with how to reach it. Recipients with equal destinations share a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    pub hop: Hop,
    pub tls: SmarthostTls,
    pub pool: Option<String>,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.hop {
            Hop::Local => f.write_str("local")?,
            Hop::Mx(d) => write!(f, "mx:{d}")?,
            Hop::Smarthost(h, p) => write!(f, "smarthost:{h}:{p}")?,
        }
        if let Some(p) = &self.pool {
            write!(f, " pool:{p}")?;
        }
        Ok(())
    }
}

/// The destination for recipients of `domain` under `route`; `None` means hold (a refused
/// route is the caller's to settle).
pub fn destination(
    config: &Config,
    route: Route,
    domain: &str,
    require_tls: bool,
    tenant_pool: Option<&str>,
) -> Option<Destination> {
    let mut d = match route {
        Route::Hold | Route::Refuse { .. } => return None,
        Route::Default => match &config.delivery.mode {
            DeliveryMode::Local { .. } => Destination {
                hop: Hop::Local,
                tls: SmarthostTls::None,
                pool: None,
            },
            DeliveryMode::Smarthost {
                host, port, tls, ..
            } => Destination {
                hop: Hop::Smarthost(host.clone(), *port),
                tls: *tls,
                pool: None,
            },
            DeliveryMode::Mx => Destination {
                hop: Hop::Mx(domain.to_ascii_lowercase()),
                tls: config.delivery.tls,
                pool: None,
            },
        },
        Route::Mx { pool, tls } => Destination {
            hop: Hop::Mx(domain.to_ascii_lowercase()),
            tls: tls.unwrap_or(config.delivery.tls),
            pool,
        },
        Route::Smarthost {
            host,
            port,
            pool,
            tls,
        } => Destination {
            hop: Hop::Smarthost(host, port),
            tls: tls.unwrap_or(SmarthostTls::Opportunistic),
            pool,
        },
    };
    if d.pool.is_none() && d.hop != Hop::Local {
        d.pool = tenant_pool.map(str::to_owned);
    }
    // REQUIRETLS (RFC 8689): only over verified TLS, whatever the route says.
    if require_tls && d.hop != Hop::Local {
        d.tls = SmarthostTls::Required;
    }
    Some(d)
}

/// An idle outbound connection is closed after this long.
pub const IDLE_CONNECTION: Duration = Duration::from_secs(5);

/// Per-destination connection limits and idle connections.
pub struct Connections {
    per_destination: usize,
    limits: Mutex<HashMap<Hop, Arc<Semaphore>>>,
    idle: Mutex<HashMap<Destination, Vec<(Client, Instant)>>>,
}

impl Connections {
    pub fn new(per_destination: usize) -> Connections {
        Connections {
            per_destination,
            limits: Mutex::new(HashMap::new()),
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a connection slot towards `hop`.
    pub async fn permit(&self, hop: &Hop) -> OwnedSemaphorePermit {
        let sem = {
            let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
            limits
                .entry(hop.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_destination)))
                .clone()
        };
        sem.acquire_owned()
            .await
            .expect("destination semaphores are never closed")
    }

    /// An idle connection to `dest`, if one is kept.
    pub fn take(&self, dest: &Destination) -> Option<Client> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(dest)?;
        let c = list.pop().map(|(c, _)| c);
        if list.is_empty() {
            idle.remove(dest);
        }
        c
    }

    pub fn put(&self, dest: Destination, client: Client) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.entry(dest).or_default().push((client, Instant::now()));
    }

    /// Removes connections idle for longer than `after` (to be closed by the caller).
    pub fn stale(&self, after: Duration) -> Vec<Client> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for list in idle.values_mut() {
            let (old, keep): (Vec<_>, Vec<_>) =
                list.drain(..).partition(|(_, t)| t.elapsed() >= after);
            *list = keep;
            out.extend(old.into_iter().map(|(c, _)| c));
        }
        idle.retain(|_, l| !l.is_empty());
        out
    }

    /// Every idle connection (at shutdown).
    pub fn drain(&self) -> Vec<Client> {
        self.stale(Duration::ZERO)
    }
}

struct PoolState {
    pool: Pool,
    next: AtomicUsize,
    /// (UTC day number, messages sent that day through this node).
    today: Mutex<(u64, u64)>,
    /// The same, per provider with a warm-up schedule of its own.
    today_by_provider: Mutex<HashMap<String, (u64, u64)>>,
}

/// Adds one to a node's count `today` (a UTC day and its count) for `day`, unless it reached
/// `cap`.
fn add_one(today: &mut (u64, u64), day: u64, cap: u64) -> bool {
    if today.0 != day {
        *today = (day, 0);
    }
    if today.1 >= cap {
        return false;
    }
    today.1 += 1;
    true
}

/// The egress pools of the config.
pub struct Pools {
    pools: HashMap<String, PoolState>,
}

impl Pools {
    pub fn new(pools: &[Pool]) -> Pools {
        Pools {
            pools: pools
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        PoolState {
                            pool: p.clone(),
                            next: AtomicUsize::new(0),
                            today: Mutex::new((0, 0)),
                            today_by_provider: Mutex::new(HashMap::new()),
                        },
                    )
                })
                .collect(),
        }
    }

    /// The source address for the next connection of `pool`.
    pub fn source(&self, pool: &str) -> Result<IpAddr, String> {
        let p = self
            .pools
            .get(pool)
            .ok_or_else(|| format!("route names egress pool {pool:?}, which is not configured"))?;
        let i = p.next.fetch_add(1, Ordering::Relaxed) % p.pool.source.len();
        Ok(p.pool.source[i])
    }

    /// Counts one message to `provider` (the destination's, if it has one) against the
    /// pool's caps for today: the provider's own warm-up step, if the schedule has one, then
    /// the pool's (its warm-up schedule's, or `daily_cap`); `Err` once a cap is reached.
    /// With `[cluster]` the counts are shared by every node; while the server is unavailable
    /// each node counts alone.
    pub async fn reserve(&self, pool: &str, provider: Option<&str>) -> Result<(), String> {
        let Some(p) = self.pools.get(pool) else {
            return Err(format!(
                "route names egress pool {pool:?}, which is not configured"
            ));
        };
        let day = crate::queue::envelope::unix_now() / 86400;
        let schedule = match &p.pool.warmup {
            Some((start, _)) => format!(" (warm-up day {})", day.saturating_sub(*start) + 1),
            None => String::new(),
        };
        if let Some(provider) = provider {
            if let Some(cap) = p.pool.provider_cap_on(provider, day) {
                if !self
                    .count(&format!("{pool}/{provider}"), cap, day, |f| {
                        let mut by = p
                            .today_by_provider
                            .lock()
                            .unwrap_or_else(|e| e.into_inner());
                        f(by.entry(provider.to_owned()).or_insert((day, 0)))
                    })
                    .await
                {
                    return Err(format!(
                        "egress pool {pool:?} reached its daily cap of {cap} messages to \
                         {provider}{schedule}"
                    ));
                }
            }
        }
        let Some(cap) = p.pool.cap_on(day) else {
            return Ok(());
        };
        let warming = matches!(&p.pool.warmup,
            Some((start, caps)) if day.saturating_sub(*start) < caps.len() as u64);
        if self
            .count(pool, cap, day, |f| {
                f(&mut p.today.lock().unwrap_or_else(|e| e.into_inner()))
            })
            .await
        {
            Ok(())
        } else {
            Err(format!(
                "egress pool {pool:?} reached its daily cap of {cap} messages{}",
                if warming { schedule.as_str() } else { "" }
            ))
        }
    }

    /// Counts one against `cap` for UTC `day` under `name`: on the shared server when there
    /// is one (this node's count, `local`, kept for the status page), else on this node.
    async fn count(
        &self,
        name: &str,
        cap: u64,
        day: u64,
        local: impl Fn(&dyn Fn(&mut (u64, u64)) -> bool) -> bool,
    ) -> bool {
        if let Some(cluster) = crate::cluster::installed() {
            let key = cluster.counter_key("", "pool", name, 86_400);
            // One bucket per UTC day: the count starts again at midnight.
            match cluster.count(&key, 86_400, 86_400, 1, cap).await {
                Ok(Ok(_)) => {
                    local(&|today| add_one(today, day, u64::MAX));
                    return true;
                }
                Ok(Err(_)) => return false,
                Err(_) => {}
            }
        }
        local(&|today| add_one(today, day, cap))
    }

    /// Each pool's cap today and what this node sent through it, for the status page.
    pub fn today(&self) -> Vec<serde_json::Value> {
        let day = crate::queue::envelope::unix_now() / 86400;
        let mut out: Vec<_> = self
            .pools
            .iter()
            .map(|(name, p)| {
                let sent = p
                    .today
                    .lock()
                    .map(|t| if t.0 == day { t.1 } else { 0 })
                    .unwrap_or(0);
                let warmup_day = p
                    .pool
                    .warmup
                    .as_ref()
                    .map(|(start, _)| day.saturating_sub(*start) + 1);
                let by = p
                    .today_by_provider
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let providers: Vec<_> = p
                    .pool
                    .provider_warmup
                    .keys()
                    .map(|provider| {
                        let sent = by
                            .get(provider)
                            .map_or(0, |t| if t.0 == day { t.1 } else { 0 });
                        serde_json::json!({
                            "provider": provider,
                            "cap_today": p.pool.provider_cap_on(provider, day),
                            "sent_today_here": sent,
                        })
                    })
                    .collect();
                serde_json::json!({
                    "name": name,
                    "cap_today": p.pool.cap_on(day),
                    "warmup_day": warmup_day,
                    "providers": providers,
                    "sent_today_here": sent,
                })
            })
            .collect();
        out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pools_rotate_and_cap() {
        let pools = Pools::new(&[Pool {
            name: "warm".into(),
            source: vec!["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()],
            daily_cap: Some(2),
            warmup: None,
            provider_warmup: Default::default(),
        }]);
        let a = pools.source("warm").unwrap();
        let b = pools.source("warm").unwrap();
        assert_ne!(a, b);
        assert!(pools.reserve("warm", None).await.is_ok());
        assert!(pools.reserve("warm", Some("gmail")).await.is_ok());
        assert!(pools
            .reserve("warm", None)
            .await
            .unwrap_err()
            .contains("daily cap"));
        assert!(pools.source("nope").is_err());
    }

    #[test]
    fn a_warmup_schedule_steps_up_by_day_then_keeps_the_daily_cap() {
        let pool = Pool {
            name: "new-ip".into(),
            source: vec!["127.0.0.2".parse().unwrap()],
            daily_cap: Some(5000),
            warmup: Some((20_000, vec![50, 100, 200])),
            provider_warmup: [("gmail".to_owned(), vec![5, 10])].into(),
        };
        assert_eq!(
            pool.cap_on(19_990),
            Some(50),
            "before the start: the first step"
        );
        assert_eq!(pool.cap_on(20_000), Some(50));
        assert_eq!(pool.cap_on(20_001), Some(100));
        assert_eq!(pool.cap_on(20_002), Some(200));
        assert_eq!(pool.cap_on(20_003), Some(5000));
        assert_eq!(pool.provider_cap_on("gmail", 20_000), Some(5));
        assert_eq!(pool.provider_cap_on("gmail", 20_001), Some(10));
        assert_eq!(
            pool.provider_cap_on("gmail", 20_002),
            None,
            "past its last step only the pool's cap applies"
        );
        assert_eq!(pool.provider_cap_on("outlook", 20_000), None);
        let open = Pool {
            daily_cap: None,
            ..pool
        };
        assert_eq!(open.cap_on(20_100), None);
    }

    #[tokio::test]
    async fn a_provider_step_caps_its_mail_within_the_pool() {
        let day = crate::queue::envelope::unix_now() / 86400;
        let pools = Pools::new(&[Pool {
            name: "new-ip".into(),
            source: vec!["127.0.0.2".parse().unwrap()],
            daily_cap: None,
            warmup: Some((day, vec![3])),
            provider_warmup: [("gmail".to_owned(), vec![1])].into(),
        }]);
        assert!(pools.reserve("new-ip", Some("gmail")).await.is_ok());
        let refused = pools.reserve("new-ip", Some("gmail")).await.unwrap_err();
        assert!(
            refused.contains("daily cap of 1 messages to gmail (warm-up day 1)"),
            "{refused}"
        );
        // Other providers, and destinations of none, still have the pool's room.
        assert!(pools.reserve("new-ip", Some("outlook")).await.is_ok());
        assert!(pools.reserve("new-ip", None).await.is_ok());
        let refused = pools.reserve("new-ip", None).await.unwrap_err();
        assert!(
            refused.contains("daily cap of 3 messages (warm-up day 1)"),
            "{refused}"
        );
        assert_eq!(pools.today()[0]["providers"][0]["sent_today_here"], 1);
    }
}
