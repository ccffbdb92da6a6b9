//! The suppression lists shared by every node through Valkey or Redis (`[cluster] redis`), so
//! an address suppressed through one node (API, CSV import, hard bounce, complaint) is refused
//! by all of them, and a removal takes effect everywhere.
//!
//! # Layout
//! One hash per tenant, `{prefix}suppressions:{len}:{tenant}`: field the address (lookup
//! form), value the entry as JSON (the fields the local log writes). An addition is one Lua
//! script that checks the entry already there and the tenant's cap (`[suppressions]
//! max_per_tenant`, expired entries making room) atomically on the server, so nodes adding at
//! once cannot pass the cap between them.
//!
//! # Lookups
//! A lookup (RCPT, the HTTP sending API) is one `HGET` bounded by `cluster.timeout`: always
//! current, with no cache to invalidate, for one round trip per recipient (BENCHMARKS.md
//! measures it). A lookup the server does not answer in time falls back as
//! `cluster.suppressions_on_unavailable` says: `local` checks this node's own list, `tempfail`
//! answers 451 4.3.0.
//!
//! # The local log, and reconciling after an outage
//! Every change is also written to this node's durable log ([`super::store`]): the list it
//! falls back to, and the one it restores the server from. A change the server could not take
//! joins a queue in memory, and while that queue is not empty later changes join it too, so
//! they reach the server in the order they were made. A task sends the queue once a second
//! when the server answers again (log line "suppression changes made while the shared server
//! was unavailable were sent to it"). A node restarted during an outage loses the queue, not
//! the changes: they are in its log, and reach the server with the next generation (below).
//!
//! # Generations
//! A server restarted without persistence comes back empty. The key
//! `{prefix}suppressions-generation` names the server's current set of lists: a random id, set
//! by the first node to find it absent. Each node writes in `SPOOL/suppressions/generation`
//! the last generation it copied its own list into; finding another one, it adds all its
//! local entries (keeping any already there) and writes the new id down. So a wiped server is
//! refilled from every node's log within a second, and a node that joins a cluster brings its
//! list along. The price, chosen knowingly: after the server loses its data, an entry removed
//! through another node comes back from a node whose own log still holds it — too much
//! suppression rather than a lost one.

use super::store::{Applied, Change, Store};
use super::Entry;
use crate::cluster::{Cluster, ClusterError, Unavailable};
use redis::AsyncCommands;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most changes kept for a server that does not answer; past it the oldest are dropped
/// (logged): they stay in this node's log, but the shared lists miss them.
pub const MAX_PENDING: usize = 100_000;
/// Entries per script call when many are added at once (an import, a generation copy), so one
/// call stays well within `cluster.timeout`.
const BATCH: usize = 500;
/// How often the reconciler looks at the server's generation and the queue.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);
const GENERATION_FILE: &str = "generation";

/// KEYS[1]: a tenant's list. ARGV: replace (1/0), cap, now, then address/entry pairs.
/// Returns one outcome per pair: `added`, `replaced`, `kept` or `full`.
const ADD: &str = r#"
local replace, cap, now = ARGV[1] == '1', tonumber(ARGV[2]), tonumber(ARGV[3])
local function expired(json)
  local ok, e = pcall(cjson.decode, json)
  return ok and type(e) == 'table' and type(e.expires_at) == 'number' and e.expires_at <= now
end
local swept = false
local out = {}
for i = 4, #ARGV, 2 do
  local address, entry = ARGV[i], ARGV[i + 1]
  local old = redis.call('HGET', KEYS[1], address)
  if old and not replace and not expired(old) then
    out[#out + 1] = 'kept'
  elseif old then
    redis.call('HSET', KEYS[1], address, entry)
    out[#out + 1] = 'replaced'
  else
    if not swept and redis.call('HLEN', KEYS[1]) >= cap then
      swept = true
      local all = redis.call('HGETALL', KEYS[1])
      for j = 1, #all, 2 do
        if expired(all[j + 1]) then redis.call('HDEL', KEYS[1], all[j]) end
      end
    end
    if redis.call('HLEN', KEYS[1]) >= cap then
      out[#out + 1] = 'full'
    else
      redis.call('HSET', KEYS[1], address, entry)
      out[#out + 1] = 'added'
    end
  end
end
return out
"#;

/// KEYS[1]: a tenant's list. ARGV: address, now. Returns 1 when an entry in force was removed.
const REMOVE: &str = r#"
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local ok, e = pcall(cjson.decode, old)
if ok and type(e) == 'table' and type(e.expires_at) == 'number' and e.expires_at <= tonumber(ARGV[2]) then
  return 0
end
return 1
"#;

/// The shared lists, and the changes still to send to them.
pub struct Shared {
    cluster: Arc<Cluster>,
    add: redis::Script,
    remove: redis::Script,
    /// Changes made on this node that the server has not taken yet, oldest first.
    pending: Mutex<VecDeque<Change>>,
    /// `SPOOL/suppressions/generation`: the server generation this node's list was copied to.
    generation_file: PathBuf,
}

impl Shared {
    /// The shared lists on `cluster`; `dir` is the local log's directory.
    pub fn new(cluster: Arc<Cluster>, dir: &Path) -> Shared {
        Shared {
            cluster,
            add: redis::Script::new(ADD),
            remove: redis::Script::new(REMOVE),
            pending: Mutex::new(VecDeque::new()),
            generation_file: dir.join(GENERATION_FILE),
        }
    }

    /// `cluster.suppressions_on_unavailable`.
    pub fn on_unavailable(&self) -> Unavailable {
        self.cluster.suppressions_on_unavailable
    }

    /// `tenant`'s entry for `address` (lookup form), in force or not.
    pub async fn get(&self, tenant: &str, address: &str) -> Result<Option<Entry>, ClusterError> {
        let key = self.cluster.suppressions_key(tenant);
        let json: Option<String> = self
            .cluster
            .bounded(|mut c| async move { c.hget(key, address).await })
            .await?;
        Ok(json.and_then(|j| parse(&j)))
    }

    /// `tenant`'s whole list (at most `max_per_tenant` entries), in force or not.
    pub async fn all(&self, tenant: &str) -> Result<BTreeMap<String, Entry>, ClusterError> {
        let key = self.cluster.suppressions_key(tenant);
        let fields: Vec<(String, String)> = self
            .cluster
            .bounded(|mut c| async move { c.hgetall(key).await })
            .await?;
        Ok(fields
            .into_iter()
            .filter_map(|(address, json)| Some((address, parse(&json)?)))
            .collect())
    }

    /// Whether changes wait for the server: then new ones queue behind them.
    pub fn behind(&self) -> bool {
        !self.lock().is_empty()
    }

    /// Queues `changes` for the reconciler.
    pub fn defer(&self, changes: impl IntoIterator<Item = Change>) {
        let mut pending = self.lock();
        pending.extend(changes);
        let over = pending.len().saturating_sub(MAX_PENDING);
        if over > 0 {
            pending.drain(..over);
            tracing::error!(
                dropped = over,
                "suppression changes for the shared server dropped: too many while it was unavailable; they stay in this node's log"
            );
        }
        crate::metrics::get()
            .suppression_pending
            .set(pending.len() as i64);
    }

    /// Adds `entries` to `tenant`'s shared list, [`BATCH`] per call; returns what each did.
    /// On failure, the outcomes of the batches the server took come with the error.
    pub async fn add(
        &self,
        tenant: &str,
        entries: &[Entry],
        replace: bool,
        max: usize,
    ) -> Result<Vec<Applied>, (Vec<Applied>, ClusterError)> {
        let key = self.cluster.suppressions_key(tenant);
        let now = crate::queue::envelope::unix_now();
        let mut applied = Vec::with_capacity(entries.len());
        for batch in entries.chunks(BATCH) {
            let mut call = self.add.key(&key);
            call.arg(u8::from(replace)).arg(max).arg(now);
            for entry in batch {
                let json = serde_json::to_string(entry).expect("an entry serializes");
                call.arg(&entry.address).arg(json);
            }
            let outcomes: Vec<String> = match self
                .cluster
                .bounded(|mut c| async move { call.invoke_async(&mut c).await })
                .await
            {
                Ok(o) => o,
                Err(e) => return Err((applied, e)),
            };
            applied.extend(outcomes.iter().map(|o| match o.as_str() {
                "added" => Applied::Added,
                "replaced" => Applied::Replaced,
                "full" => Applied::Full,
                _ => Applied::Kept,
            }));
        }
        Ok(applied)
    }

    /// Removes `address` from `tenant`'s shared list.
    pub async fn remove(&self, tenant: &str, address: &str) -> Result<Applied, ClusterError> {
        let key = self.cluster.suppressions_key(tenant);
        let now = crate::queue::envelope::unix_now();
        let mut call = self.remove.key(key);
        call.arg(address).arg(now);
        let removed: i64 = self
            .cluster
            .bounded(|mut c| async move { call.invoke_async(&mut c).await })
            .await?;
        Ok(if removed == 1 {
            Applied::Removed
        } else {
            Applied::Absent
        })
    }

    /// Sends one change.
    async fn send(&self, change: &Change, max: usize) -> Result<Applied, ClusterError> {
        match change {
            Change::Add {
                tenant,
                entry,
                replace,
            } => self
                .add(tenant, std::slice::from_ref(entry), *replace, max)
                .await
                .map(|a| a.into_iter().next().unwrap_or(Applied::Kept))
                .map_err(|(_, e)| e),
            Change::Remove { tenant, address } => self.remove(tenant, address).await,
        }
    }

    /// Runs the reconciler until the process ends: once a second, copies this node's list
    /// into a new server generation and sends the queued changes.
    pub fn spawn_reconciler(self: Arc<Self>, store: Arc<Store>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RECONCILE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if self.copy_into_generation(&store).await.is_ok() {
                    self.send_pending(store.max_per_tenant()).await;
                }
            }
        });
    }

    /// Copies this node's list into the server's current generation unless it already did
    /// (see the module doc).
    async fn copy_into_generation(&self, store: &Store) -> Result<(), ClusterError> {
        let key = self.cluster.suppressions_generation_key();
        let current: Option<String> = self
            .cluster
            .bounded(|mut c| {
                let key = key.clone();
                async move { c.get(key).await }
            })
            .await?;
        let generation = match current {
            Some(g) => g,
            None => {
                let fresh = format!("{:032x}", rand::random::<u128>());
                let options =
                    redis::SetOptions::default().conditional_set(redis::ExistenceCheck::NX);
                let set: Option<String> = self
                    .cluster
                    .bounded(|mut c| {
                        let (key, fresh) = (key.clone(), fresh.clone());
                        async move { c.set_options(key, fresh, options).await }
                    })
                    .await?;
                match set {
                    Some(_) => fresh,
                    None => {
                        let g: Option<String> = self
                            .cluster
                            .bounded(|mut c| async move { c.get(key).await })
                            .await?;
                        g.unwrap_or(fresh)
                    }
                }
            }
        };
        let copied = std::fs::read_to_string(&self.generation_file).unwrap_or_default();
        if copied.trim() == generation {
            return Ok(());
        }
        let now = crate::queue::envelope::unix_now();
        let lists: Vec<(String, Vec<Entry>)> = {
            let lists = store.lists.read().unwrap_or_else(|e| e.into_inner());
            lists
                .tenants
                .iter()
                .map(|(t, l)| {
                    let live = l.values().filter(|e| !e.expired(now)).cloned();
                    (t.clone(), live.collect())
                })
                .collect()
        };
        let max = store.max_per_tenant();
        let mut added = 0;
        for (tenant, entries) in &lists {
            let applied = self
                .add(tenant, entries, false, max)
                .await
                .map_err(|(_, e)| e)?;
            added += applied.iter().filter(|a| **a == Applied::Added).count();
        }
        if let Err(e) = std::fs::write(&self.generation_file, format!("{generation}\n")) {
            tracing::error!(path = %self.generation_file.display(), error = %e, "writing the suppression generation failed; the list will be copied again");
        }
        tracing::info!(
            generation,
            tenants = lists.len(),
            added,
            "this node's suppression lists were copied into the shared server's generation"
        );
        Ok(())
    }

    /// Sends the queued changes in order, until the queue is empty or the server fails.
    async fn send_pending(&self, max: usize) {
        let mut sent = 0;
        loop {
            let Some(change) = self.lock().front().cloned() else {
                break;
            };
            if self.send(&change, max).await.is_err() {
                break;
            }
            let mut pending = self.lock();
            pending.pop_front();
            crate::metrics::get()
                .suppression_pending
                .set(pending.len() as i64);
            sent += 1;
        }
        if sent > 0 {
            tracing::info!(
                changes = sent,
                "suppression changes made while the shared server was unavailable were sent to it"
            );
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Change>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An entry as the server holds it; `None` for one that is not (written by something else).
fn parse(json: &str) -> Option<Entry> {
    serde_json::from_str(json).ok()
}
