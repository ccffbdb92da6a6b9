//! Per-tenant suppression lists: addresses a tenant's mail must not go to any more.
//!
//! A list is filled by the relay — a hard bounce ([`Suppressions::on_hard_bounce`], as
//! [`crate::delivery::classify::hard_bounce`] decides) or a feedback-loop complaint ([`complaint`], [`Suppressions::complaint`]) — and
//! by the tenant or the operator (the application API's `/v1/suppressions` routes, the admin
//! API's `/v1/tenants/{tenant}/suppressions` routes, `sluice suppression`, CSV import).
//! It is enforced wherever mail comes in for a tenant:
//!
//! - SMTP: a suppressed recipient gets `550 5.1.1 <addr>: recipient is on the tenant's
//!   suppression list (hard_bounce since …)` at RCPT; the other recipients go on.
//! - The HTTP sending API calls [`Suppressions::enforce`] for each recipient and reports the
//!   refusal per recipient.
//!
//! Both emit the event `suppressed` (`tenant`, `rcpt`, `reason`, `via`).
//!
//! Lists live in memory (a lookup is a map read, never a disk wait) and on disk in a
//! group-committed, fsynced log under the spool directory ([`store`]): an add or a remove is
//! acknowledged only once it is on disk, and a kill -9 loses none that was. Each tenant's list
//! holds at most `[suppressions] max_per_tenant` entries. Addresses are kept in the relay's
//! wire form with the domain lower-cased ([`address`]).
//!
//! With `[cluster] redis` the lists are shared by every node ([`shared`]): lookups, listings
//! and exports read the shared list, changes go to it and to the local log, which stays this
//! node's durable record and its fallback when the server is unavailable.

pub mod address;
pub mod complaint;
pub mod csv;
pub mod http;
pub mod shared;
pub mod store;

use crate::cluster::{Cluster, ClusterError, Unavailable};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
pub use store::{Applied, Change, StoreError};

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The recipient's server said the mailbox or domain does not exist.
    HardBounce,
    /// The recipient reported a message as spam (a feedback-loop report).
    Complaint,
    /// Added by hand (API, CLI).
    Manual,
    /// The recipient unsubscribed (the application says so).
    Unsubscribe,
}

impl Reason {
    pub const ALL: [Reason; 4] = [
        Reason::HardBounce,
        Reason::Complaint,
        Reason::Manual,
        Reason::Unsubscribe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reason::HardBounce => "hard_bounce",
            Reason::Complaint => "complaint",
            Reason::Manual => "manual",
            Reason::Unsubscribe => "unsubscribe",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.name() == s.trim())
    }
}

/// One suppressed address of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// In lookup form: the wire form with the domain lower-cased.
    pub address: String,
    pub reason: Reason,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// After this (seconds since the Unix epoch) the entry no longer applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// The remote reply, the complaint's reporter, or the operator's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The longest detail kept with an entry.
pub const MAX_DETAIL: usize = 500;

impl Entry {
    pub fn new(address: String, reason: Reason, detail: Option<String>) -> Entry {
        Entry {
            address,
            reason,
            created_at: crate::queue::envelope::unix_now(),
            expires_at: None,
            detail: detail.map(|d| clip(&d, MAX_DETAIL)),
        }
    }

    pub fn expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// When it was added, as RFC 3339 (`2026-03-02T10:00:00Z`).
    pub fn since(&self) -> String {
        rfc3339(self.created_at)
    }

    /// The entry as the APIs show it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "address": self.address,
            "reason": self.reason.name(),
            "created_at": rfc3339(self.created_at),
            "expires_at": self.expires_at.map(rfc3339),
            "detail": self.detail,
        })
    }
}

/// Seconds since the epoch as RFC 3339 in UTC, to the second.
pub fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// An RFC 3339 time (or seconds since the epoch) as seconds since the epoch.
pub fn parse_time(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(secs);
    }
    humantime::parse_rfc3339_weak(text)
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// At most `max` bytes of `text`, cut at a character boundary, control characters dropped.
fn clip(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

/// One page of a tenant's list, in address order.
#[derive(Debug)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// The address to continue after, when there may be more.
    pub next: Option<String>,
}

/// Every tenant's suppression list. Cheap to clone; one per relay process.
#[derive(Clone)]
pub struct Suppressions {
    store: Arc<store::Store>,
    /// The directory of the local log.
    dir: PathBuf,
    /// The lists shared with the other nodes, with `[cluster] redis`.
    shared: Option<Arc<shared::Shared>>,
}

impl Suppressions {
    /// Opens the lists kept under `spool_dir` (in `suppressions/`), replaying their log.
    pub fn open(spool_dir: &Path, max_per_tenant: usize) -> Result<Suppressions, StoreError> {
        let dir = spool_dir.join("suppressions");
        let store = store::Store::open(&dir, max_per_tenant)?;
        Ok(Suppressions {
            store: Arc::new(store),
            dir,
            shared: None,
        })
    }

    /// Shares the lists through `cluster` from now on (at start, before any clone is made),
    /// and starts the task that brings the server up to date after an outage.
    pub fn share(&mut self, cluster: Arc<Cluster>) {
        let shared = Arc::new(shared::Shared::new(cluster, &self.dir));
        shared.clone().spawn_reconciler(self.store.clone());
        self.shared = Some(shared);
    }

    /// Applies a reloaded `[suppressions] max_per_tenant`.
    pub fn set_max_per_tenant(&self, n: usize) {
        self.store.set_max_per_tenant(n);
    }

    pub fn max_per_tenant(&self) -> usize {
        self.store.max_per_tenant()
    }

    /// The entry that suppresses `rcpt` (any form: the domain's case does not matter) for
    /// `tenant`, if there is one in force. Alone, a map lookup that never waits for the disk;
    /// shared, one round trip bounded by `cluster.timeout`, and an error only when the server
    /// did not answer and `cluster.suppressions_on_unavailable` is `tempfail`.
    pub async fn check(&self, tenant: &str, rcpt: &str) -> Result<Option<Entry>, ClusterError> {
        let Some(shared) = &self.shared else {
            return Ok(self.check_local(tenant, rcpt));
        };
        let key = address::key(rcpt);
        let fallbacks = &crate::metrics::get().suppression_fallbacks;
        match shared.get(tenant, &key).await {
            Ok(entry) => {
                let now = crate::queue::envelope::unix_now();
                Ok(entry.filter(|e| !e.expired(now)))
            }
            Err(e) => match shared.on_unavailable() {
                Unavailable::Local => {
                    fallbacks.with_label_values(&["local"]).inc();
                    tracing::debug!(tenant, rcpt, error = %e, "suppression lookup on this node's list");
                    Ok(self.check_local(tenant, rcpt))
                }
                Unavailable::Tempfail => {
                    fallbacks.with_label_values(&["tempfail"]).inc();
                    Err(e)
                }
            },
        }
    }

    /// [`Suppressions::check`] on this node's own list.
    fn check_local(&self, tenant: &str, rcpt: &str) -> Option<Entry> {
        let key = address::key(rcpt);
        let lists = self.store.lists.read().unwrap_or_else(|e| e.into_inner());
        let entry = lists.tenants.get(tenant)?.get(&key)?;
        (!entry.expired(crate::queue::envelope::unix_now())).then(|| entry.clone())
    }

    /// [`Suppressions::check`] for a recipient of a message being submitted, which is refused
    /// when it returns an entry: also emits the `suppressed` event and counts it. `via` names
    /// the way in (`smtp`, `http`). The SMTP RCPT handler and the HTTP sending API call this
    /// for every recipient; an error is for them to answer 451 4.3.0.
    pub async fn enforce(
        &self,
        tenant: &str,
        rcpt: &str,
        via: &str,
    ) -> Result<Option<Entry>, ClusterError> {
        let Some(entry) = self.check(tenant, rcpt).await? else {
            return Ok(None);
        };
        tracing::info!(
            target: "sluice::event", event = "suppressed", tenant, rcpt, reason = entry.reason.name(),
            since = %entry.since(), via,
        );
        Ok(Some(entry))
    }

    /// `tenant`'s shared list when there is one and the server answers (else `None`: the
    /// local list is read, which is logged).
    async fn shared_list(&self, tenant: &str) -> Option<BTreeMap<String, Entry>> {
        let shared = self.shared.as_ref()?;
        match shared.all(tenant).await {
            Ok(list) => Some(list),
            Err(e) => {
                tracing::warn!(tenant, error = %e, "the shared suppression list is unavailable: this node's own list is shown");
                None
            }
        }
    }

    /// Entries in force in `tenant`'s list (the shared one, when clustered): only `reason`
    /// when given, from after the address `after`, at most `limit`.
    pub async fn list(
        &self,
        tenant: &str,
        reason: Option<Reason>,
        after: Option<&str>,
        limit: usize,
    ) -> Page {
        if let Some(list) = self.shared_list(tenant).await {
            return page_of(&list, reason, after, limit);
        }
        let lists = self.store.lists.read().unwrap_or_else(|e| e.into_inner());
        match lists.tenants.get(tenant) {
            Some(list) => page_of(list, reason, after, limit),
            None => Page {
                entries: Vec::new(),
                next: None,
            },
        }
    }

    /// Entries in force in `tenant`'s list (the shared one, when clustered).
    pub async fn count(&self, tenant: &str) -> usize {
        let now = crate::queue::envelope::unix_now();
        let live = |l: &BTreeMap<String, Entry>| l.values().filter(|e| !e.expired(now)).count();
        if let Some(list) = self.shared_list(tenant).await {
            return live(&list);
        }
        let lists = self.store.lists.read().unwrap_or_else(|e| e.into_inner());
        lists.tenants.get(tenant).map_or(0, live)
    }

    /// Whether `entries` fit in `tenant`'s list with the ones already there (an address
    /// already listed, in force or not, takes no more room).
    pub async fn room_for(&self, tenant: &str, entries: &[Entry]) -> bool {
        let now = crate::queue::envelope::unix_now();
        let fits = |l: Option<&BTreeMap<String, Entry>>| {
            let held = |a: &str| l.is_some_and(|l| l.contains_key(a));
            let new = entries.iter().filter(|e| !held(&e.address)).count();
            let live = l.map_or(0, |l| l.values().filter(|e| !e.expired(now)).count());
            live + new <= self.max_per_tenant()
        };
        if let Some(list) = self.shared_list(tenant).await {
            return fits(Some(&list));
        }
        let lists = self.store.lists.read().unwrap_or_else(|e| e.into_inner());
        fits(lists.tenants.get(tenant))
    }

    /// Adds (or, with `replace`, replaces) entries of `tenant`'s list; returns once they are
    /// on disk (and, clustered, on the shared server or queued for it), with what each did:
    /// the shared list's answer where the server gave one. What the shared list refuses as
    /// full is not written here either, so this node's list never holds more than the others
    /// see.
    pub async fn add(
        &self,
        tenant: &str,
        entries: Vec<Entry>,
        replace: bool,
    ) -> Result<Vec<Applied>, StoreError> {
        let change = |entry: &Entry| Change::Add {
            tenant: tenant.to_owned(),
            entry: entry.clone(),
            replace,
        };
        let Some(shared) = &self.shared else {
            return self.store.apply(entries.iter().map(change).collect()).await;
        };
        let on_server = if shared.behind() {
            Vec::new()
        } else {
            match shared
                .add(tenant, &entries, replace, self.max_per_tenant())
                .await
            {
                Ok(applied) => applied,
                Err((taken, e)) => {
                    tracing::warn!(tenant, error = %e, "suppressions kept on this node until the shared server answers");
                    taken
                }
            }
        };
        let sent = on_server.len();
        let keep: Vec<usize> = (0..entries.len())
            .filter(|&i| on_server.get(i) != Some(&Applied::Full))
            .collect();
        let here = self
            .store
            .apply(keep.iter().map(|&i| change(&entries[i])).collect())
            .await?;
        shared.defer(entries[sent..].iter().map(change));
        let mut applied = on_server;
        applied.extend(
            keep.iter()
                .zip(here)
                .filter(|(&i, _)| i >= sent)
                .map(|(_, a)| a),
        );
        Ok(applied)
    }

    /// Removes `address` (lookup form) from `tenant`'s list (the shared one too, when
    /// clustered); true if it was there in force.
    pub async fn remove(&self, tenant: &str, address: &str) -> Result<bool, StoreError> {
        let change = Change::Remove {
            tenant: tenant.to_owned(),
            address: address.to_owned(),
        };
        let applied = self.store.apply(vec![change.clone()]).await?;
        let here = applied == [Applied::Removed];
        let Some(shared) = &self.shared else {
            return Ok(here);
        };
        if shared.behind() {
            shared.defer([change]);
            return Ok(here);
        }
        match shared.remove(tenant, address).await {
            Ok(on_server) => Ok(on_server == Applied::Removed),
            Err(e) => {
                tracing::warn!(tenant, address, error = %e, "suppression removal kept on this node until the shared server answers");
                shared.defer([change]);
                Ok(here)
            }
        }
    }

    /// Adds `rcpt` to `tenant`'s list as a hard bounce (delivery's classification said so:
    /// [`crate::delivery::classify::hard_bounce`]), with the reply as detail. Returns at once;
    /// the writer logs "suppression added" once it is on disk, and a task sends it to the
    /// shared list when clustered. One already there stays.
    pub fn on_hard_bounce(&self, tenant: &str, rcpt: &str, reply: String) {
        let entry = Entry::new(address::key(rcpt), Reason::HardBounce, Some(reply));
        let change = Change::Add {
            tenant: tenant.to_owned(),
            entry: entry.clone(),
            replace: false,
        };
        self.store.submit(vec![change.clone()]);
        let Some(shared) = self.shared.clone() else {
            return;
        };
        if shared.behind() {
            shared.defer([change]);
            return;
        }
        let (tenant, max) = (tenant.to_owned(), self.max_per_tenant());
        tokio::spawn(async move {
            if let Err((_, e)) = shared.add(&tenant, &[entry], false, max).await {
                tracing::warn!(tenant, error = %e, "hard-bounce suppression kept on this node until the shared server answers");
                shared.defer([change]);
            }
        });
    }

    /// Takes a feedback report about `tenant`'s mail: each recipient who complained gets a
    /// `complained` event and, for a complaint (not `not-spam`), a `complaint` entry (one
    /// already there stays). Returns once the entries are on disk, with the addresses added.
    pub async fn complaint(
        &self,
        tenant: &str,
        report: &complaint::Report,
        via: &str,
    ) -> Result<Vec<String>, StoreError> {
        for rcpt in &report.recipients {
            tracing::info!(
                target: "sluice::event", event = "complained", tenant, rcpt = %rcpt,
                feedback_type = %report.feedback_type, queue_id = report.queue_id.as_deref().unwrap_or("-"),
                reporter = report.reporter.as_deref().unwrap_or("-"), via,
            );
        }
        if !report.is_complaint() {
            return Ok(Vec::new());
        }
        let detail = format!(
            "{} report{}{}",
            report.feedback_type,
            report
                .reporter
                .as_deref()
                .map(|r| format!(" from {r}"))
                .unwrap_or_default(),
            report
                .queue_id
                .as_deref()
                .map(|q| format!(" about {q}"))
                .unwrap_or_default(),
        );
        let entries: Vec<Entry> = report
            .recipients
            .iter()
            .map(|r| Entry::new(r.clone(), Reason::Complaint, Some(detail.clone())))
            .collect();
        let applied = self.add(tenant, entries, false).await?;
        let mut added = Vec::new();
        for (rcpt, a) in report.recipients.iter().zip(applied) {
            match a {
                Applied::Added | Applied::Replaced => {
                    tracing::info!(tenant, address = %rcpt, reason = "complaint", "suppression added");
                    added.push(rcpt.clone());
                }
                Applied::Full => tracing::warn!(
                    tenant, address = %rcpt, reason = "complaint",
                    "suppression not added: the tenant's list is full ([suppressions] max_per_tenant)"
                ),
                _ => {}
            }
        }
        Ok(added)
    }

    /// Waits until every change handed over so far is on disk (at shutdown).
    pub async fn flush(&self) {
        let _ = self.store.apply(Vec::new()).await;
    }
}

/// One page of `list`: entries in force, only `reason` when given, from after the address
/// `after`, at most `limit`.
fn page_of(
    list: &BTreeMap<String, Entry>,
    reason: Option<Reason>,
    after: Option<&str>,
    limit: usize,
) -> Page {
    let now = crate::queue::envelope::unix_now();
    let start = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut matching = list
        .range::<str, _>((start, Bound::Unbounded))
        .map(|(_, e)| e)
        .filter(|e| !e.expired(now) && reason.is_none_or(|r| e.reason == r));
    let entries: Vec<Entry> = matching.by_ref().take(limit).cloned().collect();
    let next = match matching.next() {
        Some(_) => entries.last().map(|e| e.address.clone()),
        None => None,
    };
    Page { entries, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lookups_fold_the_domain_and_pages_follow_address_order() {
        let dir = tempfile::tempdir().unwrap();
        let s = Suppressions::open(dir.path(), 100).unwrap();
        let entries = ["c@x.test", "a@x.test", "b@x.test", "d@x.test"]
            .map(|a| Entry::new(a.into(), Reason::Manual, None))
            .to_vec();
        s.add("t", entries, false).await.unwrap();
        s.add(
            "t",
            vec![Entry::new("e@x.test".into(), Reason::Unsubscribe, None)],
            false,
        )
        .await
        .unwrap();
        assert!(s.check("t", "a@X.Test").await.unwrap().is_some());
        assert!(s.check("t", "A@x.test").await.unwrap().is_none());
        assert!(s.check("other", "a@x.test").await.unwrap().is_none());
        let page = s.list("t", None, None, 2).await;
        let addrs: Vec<_> = page.entries.iter().map(|e| e.address.as_str()).collect();
        assert_eq!(addrs, ["a@x.test", "b@x.test"]);
        let page = s.list("t", None, page.next.as_deref(), 10).await;
        assert_eq!(page.entries.len(), 3);
        assert_eq!(page.next, None);
        let unsub = s.list("t", Some(Reason::Unsubscribe), None, 10).await;
        assert_eq!(unsub.entries.len(), 1);
        assert!(s.remove("t", "e@x.test").await.unwrap());
        assert!(!s.remove("t", "e@x.test").await.unwrap());
    }

    #[tokio::test]
    async fn a_hard_bounce_is_suppressed_with_its_reply_and_the_domain_lower_cased() {
        let dir = tempfile::tempdir().unwrap();
        let s = Suppressions::open(dir.path(), 100).unwrap();
        s.on_hard_bounce("t", "gone@Dest.test", "550 5.1.1 No such user".into());
        s.flush().await;
        let e = s.check("t", "gone@dest.test").await.unwrap().unwrap();
        assert_eq!(e.reason, Reason::HardBounce);
        assert_eq!(e.detail.as_deref(), Some("550 5.1.1 No such user"));
        assert!(s.check("t", "other@dest.test").await.unwrap().is_none());
        assert!(s.check("u", "gone@dest.test").await.unwrap().is_none());
    }

    #[test]
    fn times_read_as_rfc3339_or_seconds() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(parse_time("yesterday"), None);
    }
}
