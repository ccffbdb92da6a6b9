//! Events: every outcome the relay reports, journaled on disk with a stable id, POSTed to
//! tenants' webhooks and read back through `GET /v1/events`.
//!
//! # One source: `sluice::event` tracing events
//! An event is a `tracing` event with target `sluice::event`. Nothing else is needed to add
//! one: the [`layer`] sees every such event whatever `SLUICE_LOG` says, turns its fields into
//! a JSON object and appends it to the [`journal`] before the emitting code goes on. The
//! fields the rest of the system reads:
//!
//! | field | what |
//! | --- | --- |
//! | `event` | the name, one of [`NAMES`] (add a new one there and to the README's list) |
//! | `tenant` | the tenant's name; an event without it is an operator event: journaled, never sent to a tenant |
//! | `queue_id` | the message |
//! | `rcpt` | the recipient, for per-recipient outcomes |
//! | `category` | a classification (e.g. of a bounce) |
//! | `tags` | the message's tags, comma-separated (`tags = %tags.join(",")`): journaled as an array |
//! | `metadata` | a JSON object as a string (`metadata = %json`): journaled as the object |
//!
//! Any other field is kept as it is (strings, numbers, booleans; `?debug` values as their
//! text). `id` and `time` are the journal's own: fields so named are kept as `id_field` and
//! `time_field`.
//!
//! ```ignore
//! tracing::info!(target: "sluice::event", event = "delivered", tenant = %env.tenant,
//!     queue_id = %env.id, rcpt = %rcpt, tags = %env.tags.join(","), attempt);
//! ```
//!
//! # Ids
//! `BBBBBB-SSSSSSSSSSSS`: the relay's boot number (one more than the newest journal
//! segment's at each start) and a sequence number within the boot. Ids only grow, across
//! restarts too, and are never reused, even after a power loss cut the journal short (as
//! long as its directory is not deleted: the newest segment's name holds the boot); they
//! order events and are the cursor of `GET /v1/events` and of each webhook endpoint.
//!
//! # Parts
//! [`journal`] (segments on disk, group fsync, retention), [`reader`] (reading from an id
//! on), [`layer`] (the tracing layer), [`webhook`] (signing and one POST), [`outbox`]
//! (per-endpoint delivery with retries and a persisted cursor).

pub mod journal;
pub mod layer;
pub mod outbox;
pub mod reader;
pub mod webhook;

pub use journal::Journal;
pub use layer::layer;

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

/// The tracing target of events.
pub const TARGET: &str = "sluice::event";

/// Every event name the relay emits (a webhook's `events` filter is checked against it).
pub const NAMES: &[&str] = &[
    // messages
    "accepted",
    "delivered",
    "deferred",
    "bounced",
    "expired",
    "dsn",
    "deleted",
    "retry_now",
    "held",
    "unheld",
    "spool_failed",
    // traffic shaping (journaled for the operator; a held message is its tenant's)
    "shaping_action",
    "shaping_held",
    // policy
    "policy_rejected",
    "quarantined",
    "released",
    "quarantine_deleted",
    "discarded",
    "shadow_verdict",
    "plugin_failed",
    "breaker_opened",
    "breaker_closed",
    // suppressions and complaints (issue #14)
    "suppressed",
    "complained",
    // operations
    "reloaded",
    "reload_refused",
    "webhook_dropped",
];

/// An event's id: boot number, then sequence within the boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventId {
    pub boot: u64,
    pub seq: u64,
}

impl EventId {
    /// Before every event of `boot`.
    pub fn start_of(boot: u64) -> EventId {
        EventId { boot, seq: 0 }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}-{:012}", self.boot, self.seq)
    }
}

impl FromStr for EventId {
    type Err = String;

    fn from_str(s: &str) -> Result<EventId, String> {
        let bad = || format!("{s:?} is not an event id (like 000001-000000000042)");
        let (boot, seq) = s.split_once('-').ok_or_else(bad)?;
        let digits = |p: &str| {
            (!p.is_empty() && p.len() <= 19 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u64>().ok())
                .flatten()
        };
        Ok(EventId {
            boot: digits(boot).ok_or_else(bad)?,
            seq: digits(seq).ok_or_else(bad)?,
        })
    }
}

/// The journal of this process, once `serve` opened it; events before that are only logged.
static JOURNAL: OnceLock<Arc<Journal>> = OnceLock::new();

/// Makes `journal` the one the layer writes to (the first call wins).
pub fn install(journal: Arc<Journal>) {
    let _ = JOURNAL.set(journal);
}

/// The journal the layer writes to, if one is open.
pub fn journal() -> Option<&'static Arc<Journal>> {
    JOURNAL.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_fixed_width_and_parse_back() {
        let id = EventId { boot: 3, seq: 42 };
        assert_eq!(id.to_string(), "000003-000000000042");
        assert_eq!("000003-000000000042".parse::<EventId>(), Ok(id));
        assert_eq!("3-42".parse::<EventId>(), Ok(id));
        for bad in ["", "3", "-1", "3-", "a-1", "3-+1", "1-99999999999999999999"] {
            assert!(bad.parse::<EventId>().is_err(), "{bad}");
        }
        assert!(EventId { boot: 2, seq: 900 } < EventId { boot: 3, seq: 1 });
    }

    /// Every event name the sources emit is in [`NAMES`], so a webhook can ask for it.
    #[test]
    fn every_emitted_event_is_named() {
        fn sources(dir: &std::path::Path, out: &mut String) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push_str(&std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        let mut code = String::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut code,
        );
        let missing: Vec<&str> = code
            .split("event = \"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|e| !NAMES.contains(e))
            .collect();
        assert!(
            missing.is_empty(),
            "add these to events::NAMES: {missing:?}"
        );
    }
}
