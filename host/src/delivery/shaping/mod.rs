//! Traffic shaping (`[delivery.shaping]`), after KumoMTA's traffic-shaping automation.
//!
//! **Sites.** A destination whose MX hosts (or smarthost) end in a provider's suffix belongs
//! to that provider, and every domain the provider hosts is one *site* (as KumoMTA's site
//! names group domains by MX): one set of limits, one suspension. Any other destination is a
//! site of its own (`mx:example.org`).
//!
//! **Limits.** Messages per minute (a sliding window) and connections at once per site. With
//! `[cluster] redis` both hold across nodes: the rate is counted on the shared server with
//! the counters' script, and each connection takes a lease there (`LEASE`) for as long as its
//! transaction, so a node that finds them all taken holds the message back.
//!
//! **Rules and actions.** Every reply that did not deliver is matched against the rules
//! (first match wins): `suspend` stops all attempts to the site for the rule's duration,
//! `throttle` lowers its limits for that long, `bounce` fails the message with the reply and,
//! for the duration, every message to the site untried. The action is one key per site on the
//! shared server, expiring with the action — so a suspension set by node A stops node B, and
//! recovery needs nobody; each node keeps a copy for `on_unavailable = "local"` and the status.
//!
//! **Waiting is not an attempt.** A message held by a suspension or a rate limit is put back
//! untouched, to be tried when the site opens again: its attempt count and retry step do not
//! move, so a long suspension cannot push it to the slow end of the retry schedule. Its age
//! still counts: it expires at its `max_age`, as any message that could not be delivered in
//! time (Postfix and KumoMTA do the same), with the reason in the DSN.

pub mod rules;

pub use rules::{Limits, ShapingConfig};

use super::reply::{Cause, Response, Status};
use super::{Attempt, RcptOutcome};
use crate::config::raw::{ShapingAction, Unavailable};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Where shaping applies: a provider, or one destination of none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The provider's name, or the destination (`mx:example.org`, `smarthost:host:25`).
    pub key: String,
    pub provider: Option<String>,
    /// The provider's limits, or the default ones.
    pub limits: Limits,
}

impl Site {
    /// The provider label of metrics: a configured name, never a domain.
    fn label(&self) -> &str {
        self.provider.as_deref().unwrap_or("none")
    }
}

/// An action in force on a site, as kept on the shared server (JSON) and in each node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Active {
    pub action: ShapingAction,
    pub rule: String,
    /// The reply that started it (`421 4.7.0 Try again later`).
    pub reply: String,
    /// Its code and enhanced status, for the bounces of a `bounce` action.
    pub code: u16,
    pub status: Option<String>,
    /// A `throttle`'s limits.
    pub connections: Option<usize>,
    pub messages_per_minute: Option<u64>,
    /// When it ends, Unix milliseconds.
    pub until_ms: u64,
}

impl Active {
    fn left(&self) -> Duration {
        Duration::from_millis(self.until_ms.saturating_sub(unix_ms()))
    }

    /// The reply every recipient gets while a `bounce` is in force: permanent, quoting the
    /// reply that started it.
    fn bounce(&self, site: &str) -> Response {
        let quoted = Status::parse(self.status.as_deref().unwrap_or(""));
        let status = match quoted {
            Some(s) if s.class == 5 => s,
            Some(s) => Status::new(5, s.subject, s.detail),
            None => Status::new(5, 7, 0),
        };
        let code = if self.code >= 500 { self.code } else { 554 };
        let left = self.left().as_secs();
        let lasting = if left > 0 {
            format!(
                " for {} more",
                humantime::format_duration(Duration::from_secs(left))
            )
        } else {
            String::new()
        };
        Response::local_reply(
            Cause::Shaping,
            code,
            status,
            format!(
                "{site} bounced by traffic shaping ({}){lasting}: {}",
                self.rule, self.reply
            ),
        )
    }
}

/// Whether a group of recipients may be sent now.
pub enum Admission {
    /// Go ahead; the slot holds one of the site's connections until dropped.
    Go(Slot),
    /// Not now, and not an attempt: try again after this long.
    Hold(Duration, String),
    /// Bounce every recipient, untried.
    Bounce(Response),
}

/// The shaping state of this node, kept across reloads.
#[derive(Default)]
pub struct Shaping {
    /// Actions in force by site: the authority without a shared server, a copy with one.
    active: Mutex<HashMap<String, Active>>,
    /// Send times within the last minute by site, when the rate is counted here.
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Connections open by site.
    gates: Mutex<HashMap<String, Arc<Gate>>>,
}

/// How long a message waits when `on_unavailable = "tempfail"` and the server is away.
const UNAVAILABLE_WAIT: Duration = Duration::from_secs(10);
const UNAVAILABLE: &str = "the shared state server is unavailable and shaping waits for it (on_unavailable = \"tempfail\")";

/// The most actions `/v1/status` reads from the shared server, in at most this many scans.
const MAX_LISTED: usize = 1000;
const MAX_SCANS: usize = 20;

/// A shared connection lease outlives any transaction (five commands at `command_timeout`,
/// 5 min by default, rarely take a second); a node that dies mid-transaction gives its
/// leases back after this long.
const LEASE_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a message waits when every shared connection of its site is in use.
const LEASE_RETRY: Duration = Duration::from_secs(1);

/// KEYS[1]: the site's leases, a sorted set of lease ids scored by expiry (server ms);
/// ARGV: limit, lease id, lease ttl (ms). Returns 1 when the lease was taken, else 0.
const LEASE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"#;

impl Shaping {
    /// Whether `site` may be sent to now, and the slot to hold while sending.
    pub async fn admit(&self, config: &ShapingConfig, site: &Site) -> Admission {
        // Without rules no action can be in force: no round trip to the shared server.
        let active = if config.rules.is_empty() {
            Ok(None)
        } else {
            self.current(config, site).await
        };
        let active = match active {
            Ok(a) => a,
            Err(()) => {
                held(site, "unavailable");
                return Admission::Hold(UNAVAILABLE_WAIT, UNAVAILABLE.into());
            }
        };
        let mut limits = site.limits;
        if let Some(a) = active {
            match a.action {
                ShapingAction::Suspend => {
                    held(site, "suspended");
                    return Admission::Hold(
                        a.left().max(Duration::from_millis(100)),
                        format!(
                            "{} suspended by traffic shaping ({}) for {} more: {}",
                            site.key,
                            a.rule,
                            humantime::format_duration(Duration::from_secs(a.left().as_secs())),
                            a.reply
                        ),
                    );
                }
                ShapingAction::Bounce => return Admission::Bounce(a.bounce(&site.key)),
                ShapingAction::Throttle => {
                    limits = limits.min(Limits {
                        connections: a.connections,
                        messages_per_minute: a.messages_per_minute,
                    })
                }
            }
        }
        let lease = match limits.connections {
            Some(n) => match self.lease(config, site, n).await {
                Ok(lease) => lease,
                Err((wait, reason)) => {
                    held(site, "connections");
                    return Admission::Hold(wait, reason);
                }
            },
            None => None,
        };
        if let Some(per_minute) = limits.messages_per_minute {
            if let Some((wait, reason)) = self.count(config, site, per_minute).await {
                held(site, "rate");
                return Admission::Hold(wait, reason);
            }
        }
        let mut slot = self.gate(&site.key).enter(limits.connections).await;
        slot.lease = lease;
        Admission::Go(slot)
    }

    /// One of the site's `limit` connections on the shared server, when there is one: `Err`
    /// with how long to wait when all are taken (or the server is away and shaping must wait
    /// for it). `Ok(None)` leaves the cap to this node's gate.
    async fn lease(
        &self,
        config: &ShapingConfig,
        site: &Site,
        limit: usize,
    ) -> Result<Option<Lease>, (Duration, String)> {
        let Some(cluster) = crate::cluster::installed() else {
            return Ok(None);
        };
        let key = cluster.counter_key("", "shaping-connections", &site.key, 0);
        let id = format!("{:016x}", rand::random::<u64>());
        let mut pipe = redis::pipe();
        pipe.cmd("EVAL")
            .arg(LEASE)
            .arg(1)
            .arg(&key)
            .arg(limit)
            .arg(&id)
            .arg(LEASE_TTL.as_millis() as u64);
        match cluster.query::<(i64,)>(&pipe).await {
            Ok((1,)) => Ok(Some(Lease { key, id })),
            Ok(_) => Err((
                LEASE_RETRY,
                format!(
                    "{} has its {limit} connections at once (across nodes) in use",
                    site.key
                ),
            )),
            Err(_) if config.on_unavailable == Unavailable::Tempfail => {
                Err((UNAVAILABLE_WAIT, UNAVAILABLE.into()))
            }
            Err(_) => Ok(None),
        }
    }

    /// The action in force on `site`: the shared server's when there is one (copied here),
    /// else this node's. `Err` when the server is away and shaping must wait for it.
    async fn current(&self, config: &ShapingConfig, site: &Site) -> Result<Option<Active>, ()> {
        if let Some(cluster) = crate::cluster::installed() {
            let key = action_key(cluster, &site.key);
            let mut pipe = redis::pipe();
            pipe.get(&key).pttl(&key);
            match cluster.query::<(Option<String>, i64)>(&pipe).await {
                Ok((value, ttl)) => {
                    let active = value
                        .and_then(|v| serde_json::from_str::<Active>(&v).ok())
                        .filter(|_| ttl > 0)
                        .map(|a| Active {
                            until_ms: unix_ms() + ttl as u64,
                            ..a
                        });
                    let mut map = self.active.lock().unwrap_or_else(|e| e.into_inner());
                    match &active {
                        Some(a) => map.insert(site.key.clone(), a.clone()),
                        None => map.remove(&site.key),
                    };
                    return Ok(active);
                }
                Err(_) if config.on_unavailable == Unavailable::Tempfail => return Err(()),
                Err(_) => {}
            }
        }
        let mut map = self.active.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&site.key) {
            Some(a) if a.until_ms > unix_ms() => Ok(Some(a.clone())),
            Some(_) => {
                map.remove(&site.key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Counts one message to `site` unless that passes `per_minute`: how long to wait, and
    /// why, when it would. On the shared server when there is one (falling back to this
    /// node's window while it is away).
    async fn count(
        &self,
        config: &ShapingConfig,
        site: &Site,
        per_minute: u64,
    ) -> Option<(Duration, String)> {
        let full = |wait| {
            let reason = format!(
                "{} is at its limit of {per_minute} messages per minute",
                site.key
            );
            Some((wait, reason))
        };
        if let Some(cluster) = crate::cluster::installed() {
            let key = cluster.counter_key("", "shaping", &site.key, 60);
            match cluster.count(&key, 60, 1, 1, per_minute).await {
                Ok(Ok(_)) => return None,
                // The script knows the total, not when the oldest message leaves the window:
                // the waiting messages come back spread over the next minute, so a backlog
                // fills the slots as they free up without all asking at once.
                Ok(Err(_)) => {
                    let ms = rand::Rng::gen_range(&mut rand::thread_rng(), 1_000..=60_000);
                    return full(Duration::from_millis(ms));
                }
                Err(_) if config.on_unavailable == Unavailable::Tempfail => {
                    return Some((UNAVAILABLE_WAIT, UNAVAILABLE.into()))
                }
                Err(_) => {}
            }
        }
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window = windows.entry(site.key.clone()).or_default();
        let minute = Duration::from_secs(60);
        while window.front().is_some_and(|t| t.elapsed() >= minute) {
            window.pop_front();
        }
        if (window.len() as u64) < per_minute {
            window.push_back(Instant::now());
            return None;
        }
        let oldest = window.front().copied().unwrap_or_else(Instant::now);
        full((minute.saturating_sub(oldest.elapsed())).max(Duration::from_millis(100)))
    }

    fn gate(&self, site: &str) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates.entry(site.to_owned()).or_default().clone()
    }

    /// Matches the replies of one transaction to `site` against the rules and takes the
    /// first matching rule's action (once per transaction, however many recipients got the
    /// reply). A `bounce` turns each recipient whose reply matched into a failure now.
    pub async fn observe(&self, config: &ShapingConfig, site: &Site, attempts: &mut [Attempt]) {
        let provider = site.provider.as_deref();
        let Some((rule, reply)) = attempts.iter().find_map(|a| match &a.outcome {
            RcptOutcome::Delivered(_) => None,
            RcptOutcome::Deferred(r) | RcptOutcome::Failed(r) => config
                .rules
                .iter()
                .find(|rule| rule.matches(provider, r))
                .map(|rule| (rule, r.clone())),
        }) else {
            return;
        };
        let remote = reply.remote().expect("rules match only replies");
        let active = Active {
            action: rule.action,
            rule: rule.name.clone(),
            reply: reply.to_string(),
            code: remote.code,
            status: remote.status.map(|s| s.to_string()),
            connections: rule.limits.connections,
            messages_per_minute: rule.limits.messages_per_minute,
            until_ms: unix_ms() + rule.duration.as_millis() as u64,
        };
        if rule.action == ShapingAction::Bounce {
            for a in attempts.iter_mut() {
                let bounced = match &a.outcome {
                    RcptOutcome::Deferred(r) | RcptOutcome::Failed(r)
                        if rule.matches(provider, r) =>
                    {
                        // A 5xx is its own bounce; a 4xx becomes one.
                        Some(if r.is_permanent() {
                            r.clone()
                        } else {
                            active.bounce(&site.key)
                        })
                    }
                    _ => None,
                };
                if let Some(r) = bounced {
                    a.outcome = RcptOutcome::Failed(r);
                }
            }
        }
        let action = action_name(rule.action);
        crate::metrics::get()
            .shaping_actions
            .with_label_values(&[site.label(), action])
            .inc();
        tracing::warn!(
            target: "sluice::event", event = "shaping_action", site = %site.key,
            provider = site.label(), action, rule = %rule.name, reply = %active.reply,
            duration_s = rule.duration.as_secs_f64(), remote = %remote.host,
        );
        if !rule.duration.is_zero() {
            self.set(site, active).await;
        }
    }

    /// Puts `active` in force on `site`: here, and on the shared server for every node.
    async fn set(&self, site: &Site, active: Active) {
        if let Some(cluster) = crate::cluster::installed() {
            let key = action_key(cluster, &site.key);
            let ttl = active.until_ms.saturating_sub(unix_ms()).max(1);
            let value = serde_json::to_string(&active).unwrap_or_default();
            let mut pipe = redis::pipe();
            pipe.cmd("SET")
                .arg(&key)
                .arg(value)
                .arg("PX")
                .arg(ttl)
                .ignore();
            if let Err(e) = cluster.query::<()>(&pipe).await {
                tracing::warn!(site = %site.key, error = %e, "shaping action kept on this node only: the shared server did not take it");
            }
        }
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(site.key.clone(), active);
    }

    /// Copies every action in force on the shared server here (at most `MAX_LISTED`), so
    /// the status and gauges of this node show what others started. Nothing when there is
    /// no server or it does not answer: this node's copy then stands.
    async fn fetch_all(&self) {
        let Some(cluster) = crate::cluster::installed() else {
            return;
        };
        let prefix = action_key(cluster, "");
        // The key ends in "<length of site>:<site>:0"; the part before is the same for all.
        let head = &prefix[..prefix.len() - "0::0".len()];
        let mut pattern = head.to_vec();
        pattern.push(b'*');
        let (mut keys, mut cursor) = (Vec::<Vec<u8>>::new(), 0u64);
        for _ in 0..MAX_SCANS {
            let mut pipe = redis::pipe();
            pipe.cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(MAX_LISTED);
            let Ok(((next, found),)) = cluster.query::<((u64, Vec<Vec<u8>>),)>(&pipe).await else {
                return;
            };
            keys.extend(found);
            cursor = next;
            if cursor == 0 || keys.len() >= MAX_LISTED {
                break;
            }
        }
        keys.truncate(MAX_LISTED);
        if keys.is_empty() {
            return;
        }
        let (mut values, mut ttls) = (redis::pipe(), redis::pipe());
        for key in &keys {
            values.get(key);
            ttls.pttl(key);
        }
        let (Ok(values), Ok(ttls)) = (
            cluster.query::<Vec<Option<String>>>(&values).await,
            cluster.query::<Vec<i64>>(&ttls).await,
        ) else {
            return;
        };
        let mut map = self.active.lock().unwrap_or_else(|e| e.into_inner());
        for ((key, value), ttl) in keys.iter().zip(values).zip(ttls) {
            let site = key[head.len()..]
                .splitn(2, |b| *b == b':')
                .nth(1)
                .and_then(|rest| rest.strip_suffix(b":0"));
            let (Some(site), Some(value)) = (site, value) else {
                continue;
            };
            if let (Ok(site), Ok(active), true) = (
                std::str::from_utf8(site),
                serde_json::from_str::<Active>(&value),
                ttl > 0,
            ) {
                let until_ms = unix_ms() + ttl as u64;
                map.insert(site.to_owned(), Active { until_ms, ..active });
            }
        }
    }

    /// The actions in force (with a shared server, on every node), for `/v1/status`, with
    /// the gauges set.
    pub async fn status(&self) -> Vec<serde_json::Value> {
        self.fetch_all().await;
        let now = unix_ms();
        let mut map = self.active.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, a| a.until_ms > now);
        let mut out: Vec<_> = map
            .iter()
            .map(|(site, a)| {
                serde_json::json!({
                    "site": site,
                    "action": action_name(a.action),
                    "rule": a.rule,
                    "reason": a.reply,
                    "seconds_left": a.until_ms.saturating_sub(now).div_ceil(1000),
                    "connections": a.connections,
                    "messages_per_minute": a.messages_per_minute,
                })
            })
            .collect();
        out.sort_by(|a, b| a["site"].as_str().cmp(&b["site"].as_str()));
        let count =
            |action: ShapingAction| map.values().filter(|a| a.action == action).count() as i64;
        let metrics = crate::metrics::get();
        metrics.shaping_suspended.set(count(ShapingAction::Suspend));
        metrics
            .shaping_throttled
            .set(count(ShapingAction::Throttle));
        out
    }
}

fn action_name(action: ShapingAction) -> &'static str {
    match action {
        ShapingAction::Suspend => "suspend",
        ShapingAction::Throttle => "throttle",
        ShapingAction::Bounce => "bounce",
    }
}

/// A message (or group of recipients) held back untried, counted by why.
fn held(site: &Site, why: &str) {
    crate::metrics::get()
        .shaping_held
        .with_label_values(&[site.label(), why])
        .inc();
}

fn action_key(cluster: &crate::cluster::Cluster, site: &str) -> Vec<u8> {
    cluster.counter_key("", "shaping-action", site, 0)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Connections open to one site, and a wake-up for those waiting when one closes. A plain
/// semaphore would not do: a throttle changes the limit while connections are open.
#[derive(Default)]
pub struct Gate {
    open: Mutex<usize>,
    closed: Notify,
}

impl Gate {
    /// Waits until fewer than `limit` connections are open (no limit: at once), and counts
    /// one more until the slot is dropped.
    async fn enter(self: Arc<Self>, limit: Option<usize>) -> Slot {
        loop {
            let mut closed = std::pin::pin!(self.closed.notified());
            closed.as_mut().enable();
            {
                let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
                if limit.is_none_or(|l| *open < l) {
                    *open += 1;
                    drop(open);
                    return Slot {
                        gate: self.clone(),
                        lease: None,
                    };
                }
            }
            closed.await;
        }
    }
}

/// One connection's place at a site.
pub struct Slot {
    gate: Arc<Gate>,
    /// The shared server's count of it, when clustered.
    lease: Option<Lease>,
}

/// A connection counted on the shared server (`LEASE`), until given back.
struct Lease {
    key: Vec<u8>,
    id: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.gate.open.lock().unwrap_or_else(|e| e.into_inner());
        *open = open.saturating_sub(1);
        drop(open);
        self.gate.closed.notify_waiters();
    }
}

impl Drop for Lease {
    /// Given back in the background; if that fails, the lease expires by itself.
    fn drop(&mut self) {
        let (Some(cluster), Ok(runtime)) = (
            crate::cluster::installed(),
            tokio::runtime::Handle::try_current(),
        ) else {
            return;
        };
        let mut pipe = redis::pipe();
        pipe.cmd("ZREM")
            .arg(std::mem::take(&mut self.key))
            .arg(std::mem::take(&mut self.id))
            .ignore();
        runtime.spawn(async move {
            let _ = cluster.query::<()>(&pipe).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(per_minute: Option<u64>, connections: Option<usize>) -> Site {
        Site {
            key: "mx:dest.test".into(),
            provider: None,
            limits: Limits {
                connections,
                messages_per_minute: per_minute,
            },
        }
    }

    #[tokio::test]
    async fn the_rate_holds_messages_past_the_limit_for_the_rest_of_the_minute() {
        let shaping = Shaping::default();
        let config = ShapingConfig::default();
        let s = site(Some(2), None);
        for _ in 0..2 {
            assert!(matches!(shaping.admit(&config, &s).await, Admission::Go(_)));
        }
        match shaping.admit(&config, &s).await {
            Admission::Hold(wait, why) => {
                assert!(wait > Duration::from_secs(50), "{wait:?}");
                assert!(why.contains("limit of 2 messages per minute"), "{why}");
            }
            _ => panic!("the third message in a minute must wait"),
        }
    }

    #[tokio::test]
    async fn a_connection_cap_lets_the_next_in_when_one_closes() {
        let shaping = Arc::new(Shaping::default());
        let config = ShapingConfig::default();
        let s = site(None, Some(1));
        let Admission::Go(first) = shaping.admit(&config, &s).await else {
            panic!("the first connection goes");
        };
        let (shaping2, s2) = (shaping.clone(), s.clone());
        let second = tokio::spawn(async move {
            let config = ShapingConfig::default();
            matches!(shaping2.admit(&config, &s2).await, Admission::Go(_))
        });
        tokio::task::yield_now().await;
        assert!(
            !second.is_finished(),
            "a second connection waits for the first"
        );
        drop(first);
        assert!(second.await.unwrap());
    }

    #[tokio::test]
    async fn a_suspension_holds_until_it_runs_out_and_a_bounce_quotes_its_reply() {
        let shaping = Shaping::default();
        let config = ShapingConfig::resolve(
            toml::from_str("[[rule]]\ncode = 421\naction = \"suspend\"\nduration = \"1m\"\n")
                .expect("valid TOML"),
        )
        .expect("a valid rule");
        let s = site(None, None);
        let mut active = Active {
            action: ShapingAction::Suspend,
            rule: "try-later".into(),
            reply: "421 4.7.0 Try again later".into(),
            code: 421,
            status: Some("4.7.0".into()),
            connections: None,
            messages_per_minute: None,
            until_ms: unix_ms() + 60_000,
        };
        shaping.set(&s, active.clone()).await;
        match shaping.admit(&config, &s).await {
            Admission::Hold(wait, why) => {
                assert!(wait > Duration::from_secs(55), "{wait:?}");
                assert!(why.contains("421 4.7.0 Try again later"), "{why}");
            }
            _ => panic!("suspended"),
        }
        assert_eq!(shaping.status().await[0]["action"], "suspend");
        active.action = ShapingAction::Bounce;
        shaping.set(&s, active.clone()).await;
        let Admission::Bounce(r) = shaping.admit(&config, &s).await else {
            panic!("bouncing");
        };
        assert!(r.is_permanent());
        assert!(
            r.to_string()
                .starts_with("554 5.7.0 mx:dest.test bounced by traffic shaping (try-later)"),
            "{r}"
        );
        active.until_ms = unix_ms().saturating_sub(1);
        shaping.set(&s, active).await;
        assert!(matches!(shaping.admit(&config, &s).await, Admission::Go(_)));
        assert!(shaping.status().await.is_empty());
    }
}
