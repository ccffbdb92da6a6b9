//! State shared by several relay nodes through Valkey or Redis (`[cluster] redis`): the
//! plugins' windowed counters, so a tenant's limit holds across nodes, the egress pools'
//! daily (warm-up) caps, and the tenants' suppression lists ([`crate::suppress::shared`]).
//! Message data is never shared.
//!
//! Each counter is one hash whose fields are bucket starts (seconds) and whose values are
//! counts; one Lua script per call drops the buckets that left the window, sums the rest and
//! adds the delta only when the total stays within the limit — atomic on the server, so 50
//! sessions on two nodes racing for the last slot let exactly one through. The time is the
//! server's (`TIME`), so nodes with drifting clocks agree on the window. Every call is bounded
//! by `cluster.timeout`; a call that fails or is too slow is [`ClusterError`] and the caller
//! applies `counters_on_unavailable`. The connection is made on first use and re-made in the
//! background after a failure, so the relay starts and runs while the server is down.

use crate::config::resolved::ClusterConfig;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use crate::config::raw::Unavailable;

static INSTALLED: OnceLock<Arc<Cluster>> = OnceLock::new();

/// Makes `cluster` the process's shared server (at start, once).
pub fn install(cluster: Arc<Cluster>) {
    let _ = INSTALLED.set(cluster);
}

/// The process's shared server, when `[cluster] redis` is set.
pub fn installed() -> Option<&'static Arc<Cluster>> {
    INSTALLED.get()
}

/// Why the shared server did not answer a call.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("no answer from {server} within {timeout:?}")]
    Timeout { server: String, timeout: Duration },
    #[error("{server}: {error}")]
    Redis { server: String, error: String },
}

/// The connection to the shared server.
pub struct Cluster {
    connection: ConnectionManager,
    server: String,
    timeout: Duration,
    prefix: String,
    pub counters_on_unavailable: Unavailable,
    pub suppressions_on_unavailable: Unavailable,
    script: redis::Script,
    /// Whether the last call got an answer: a change is logged once, not every call.
    up: AtomicBool,
}

/// KEYS[1]: the counter; ARGV: window (s), bucket width (s), delta, limit (-1: none).
/// Returns {admitted (1/0), total}.
const COUNT: &str = r#"
local now = tonumber(redis.call('TIME')[1])
local window = tonumber(ARGV[1])
local width = tonumber(ARGV[2])
local delta = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local fields = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #fields, 2 do
  if tonumber(fields[i]) + window <= now then
    redis.call('HDEL', KEYS[1], fields[i])
  else
    total = total + tonumber(fields[i + 1])
  end
end
if limit >= 0 and total + delta > limit then
  return {0, total}
end
if delta > 0 then
  redis.call('HINCRBY', KEYS[1], tostring(now - now % width), delta)
  redis.call('EXPIRE', KEYS[1], window + width)
end
return {1, total + delta}
"#;

impl Cluster {
    /// A client for `config.redis` (`None` when unset). Nothing is connected yet.
    pub fn new(config: &ClusterConfig) -> anyhow::Result<Option<Cluster>> {
        let Some(url) = &config.redis else {
            return Ok(None);
        };
        let client = redis::Client::open(url.as_str())?;
        let info = client.get_connection_info();
        let server = format!("{:?}", info.addr()).replace('"', "");
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let connection = ConnectionManager::new_lazy_with_config(client, manager)?;
        Ok(Some(Cluster {
            connection,
            server,
            timeout: config.timeout,
            prefix: config.key_prefix.clone(),
            counters_on_unavailable: config.counters_on_unavailable,
            suppressions_on_unavailable: config.suppressions_on_unavailable,
            script: redis::Script::new(COUNT),
            up: AtomicBool::new(true),
        }))
    }

    /// The key of counter `name` (window `window_secs`) of `tenant`'s plugin `plugin`. Each
    /// part carries its length, so no choice of names can reach another scope's key.
    pub fn counter_key(&self, tenant: &str, plugin: &str, name: &str, window_secs: u32) -> Vec<u8> {
        let mut key = self.prefix.clone().into_bytes();
        for part in [tenant, plugin, name] {
            key.extend_from_slice(format!("{}:", part.len()).as_bytes());
            key.extend_from_slice(part.as_bytes());
            key.push(b':');
        }
        key.extend_from_slice(window_secs.to_string().as_bytes());
        key
    }

    /// Adds `delta` to the counter at `key` unless its total in the window would pass `limit`:
    /// `Ok(total)` after adding, `Err(total)` when refused.
    pub async fn count(
        &self,
        key: &[u8],
        window_secs: u32,
        width: u64,
        delta: u64,
        limit: u64,
    ) -> Result<Result<u64, u64>, ClusterError> {
        let limit = i64::try_from(limit).unwrap_or(-1);
        let mut call = self.script.key(key);
        call.arg(window_secs.max(1))
            .arg(width)
            .arg(delta)
            .arg(limit);
        let (admitted, total) = self
            .bounded(|mut connection| async move {
                call.invoke_async::<(i64, u64)>(&mut connection).await
            })
            .await?;
        Ok(if admitted == 1 { Ok(total) } else { Err(total) })
    }

    /// The key of `tenant`'s shared suppression list (a hash: address → entry as JSON).
    pub fn suppressions_key(&self, tenant: &str) -> Vec<u8> {
        format!("{}suppressions:{}:{tenant}", self.prefix, tenant.len()).into_bytes()
    }

    /// The key naming the server's current generation of shared suppression lists: see
    /// [`crate::suppress::shared`].
    pub fn suppressions_generation_key(&self) -> Vec<u8> {
        format!("{}suppressions-generation", self.prefix).into_bytes()
    }

    /// Runs one call on the shared server, bounded by `cluster.timeout`; times it, counts it
    /// and notes whether the server answered.
    pub async fn bounded<T, F>(
        &self,
        call: impl FnOnce(ConnectionManager) -> F,
    ) -> Result<T, ClusterError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(self.timeout, call(self.connection.clone())).await;
        crate::metrics::get()
            .cluster_seconds
            .observe(started.elapsed().as_secs_f64());
        let result = match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(ClusterError::Redis {
                server: self.server.clone(),
                error: e.to_string(),
            }),
            Err(_) => Err(ClusterError::Timeout {
                server: self.server.clone(),
                timeout: self.timeout,
            }),
        };
        self.note(&result);
        result
    }

    /// Logs and counts a change between answering and not answering.
    fn note<T>(&self, result: &Result<T, ClusterError>) {
        let metrics = crate::metrics::get();
        let outcome = if result.is_ok() { "ok" } else { "unavailable" };
        metrics.cluster_calls.with_label_values(&[outcome]).inc();
        let up = result.is_ok();
        if self.up.swap(up, Ordering::Relaxed) != up {
            metrics.cluster_up.set(i64::from(up));
            match result {
                Ok(_) => {
                    tracing::info!(server = %self.server, "shared state server answers again: limits are shared across nodes")
                }
                Err(e) => tracing::warn!(
                    server = %self.server, error = %e, counters = ?self.counters_on_unavailable,
                    suppressions = ?self.suppressions_on_unavailable,
                    "shared state server unavailable: counters and suppression lookups fall back as `cluster.counters_on_unavailable` and `cluster.suppressions_on_unavailable` say"
                ),
            }
        }
    }
}

/// Calls of other shared state (traffic shaping's actions, `delivery::shaping`), under the
/// same bound, metrics and up/down logging as the counters.
impl Cluster {
    /// Runs `pipe` on the shared server within `cluster.timeout`.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, ClusterError> {
        self.bounded(|mut c| async move { pipe.query_async::<T>(&mut c).await })
            .await
    }
}
