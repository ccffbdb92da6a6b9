//! What the spool keeps next to each message's bytes.
//!
//! The envelope is JSON in the spool, read back at every start: a field added later has a
//! default, so records written by an older relay still load (see the tests).

use crate::delivery::classify::Category;
use crate::delivery::reply::Status;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A queue id: 16 upper-case hex digits, milliseconds since the epoch and a counter, so ids
/// sort by arrival and stay unique across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QueueId(pub String);

impl QueueId {
    pub fn generate() -> QueueId {
        static LAST: AtomicU64 = AtomicU64::new(0);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let candidate = now_ms << 20;
        let mut prev = LAST.load(Ordering::Relaxed);
        loop {
            let next = candidate.max(prev + 1);
            match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return QueueId(format!("{next:016X}")),
                Err(p) => prev = p,
            }
        }
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The envelope and the facts of its arrival.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    pub id: QueueId,
    pub tenant: String,
    /// Reverse path; empty for the null sender.
    pub mail_from: String,
    /// Recipients still to deliver.
    pub rcpts: Vec<String>,
    /// Seconds since the epoch when the 250 was given.
    pub received_at: u64,
    /// Delivery attempts made so far.
    #[serde(default)]
    pub attempts: u32,
    pub client_ip: String,
    pub helo: String,
    #[serde(default)]
    pub auth_user: Option<String>,
    /// Protocol and cipher of the inbound TLS session, if any.
    #[serde(default)]
    pub tls: Option<String>,
    #[serde(default)]
    pub smtputf8: bool,
    #[serde(default)]
    pub eight_bit: bool,
    /// Labels set by policy; kept with the message and logged with its outcome.
    #[serde(default)]
    pub tags: Vec<String>,
    /// What the client asked for in delivery status notifications (RFC 3461).
    #[serde(default, skip_serializing_if = "DsnRequest::is_empty")]
    pub dsn: DsnRequest,
    /// MAIL FROM ... REQUIRETLS (RFC 8689): deliver only over verified TLS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_tls: bool,
    /// A delay notice has gone to the sender; only one is sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delay_notified: bool,
    /// Where delivery stands between attempts: next attempt, operator hold, recent replies.
    #[serde(default, skip_serializing_if = "Progress::is_empty")]
    pub progress: Progress,
}

/// What an operator needs to see between attempts, kept in the envelope so it survives a
/// restart and reads the same from the spool files as through the running relay.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    /// Seconds since the epoch of the next attempt, once an attempt was deferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<u64>,
    /// Held by an operator (`sluice queue hold`): not attempted until released.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
    /// The last [`Progress::KEPT`] attempts, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<AttemptLog>,
}

/// One delivery attempt as an operator reads it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttemptLog {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Seconds since the epoch when it was settled.
    pub at: u64,
    pub rcpts: Vec<RcptLog>,
}

/// One recipient's outcome in an attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RcptLog {
    pub rcpt: String,
    /// `delivered`, `deferred`, `failed` or `expired`.
    pub outcome: String,
    /// The remote reply as one line (`451 4.3.0 Try again later`), or why no reply came
    /// (connection refused, a routing hold, …).
    pub reply: String,
    /// "name[ip]:port" of the host that answered, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// The reply code, when there was a reply (or this relay answered in its stead).
    /// Absent from records written before typed replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The enhanced status (`4.2.2`), the reply's or this relay's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// What kind of failure it was (`mailbox_full`, …); none for a delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
}

impl Progress {
    /// Attempts kept in the history: enough to see a pattern, bounded so a message that
    /// retries for days keeps a small envelope.
    pub const KEPT: usize = 10;

    pub fn is_empty(&self) -> bool {
        *self == Progress::default()
    }

    /// Records an attempt, dropping the oldest beyond [`Progress::KEPT`].
    pub fn record(&mut self, attempt: AttemptLog) {
        self.history.push(attempt);
        let excess = self.history.len().saturating_sub(Progress::KEPT);
        self.history.drain(..excess);
    }

    /// The last deferral: why the message is still waiting.
    fn last_deferral(&self) -> Option<&RcptLog> {
        self.history
            .iter()
            .rev()
            .find_map(|a| a.rcpts.iter().find(|r| r.outcome == "deferred"))
    }

    /// The reply of the last deferral.
    pub fn last_error(&self) -> Option<&str> {
        self.last_deferral().map(|r| r.reply.as_str())
    }

    /// The category of the last deferral (none in records written before categories).
    pub fn last_category(&self) -> Option<Category> {
        self.last_deferral().and_then(|r| r.category)
    }

    /// The category of the last recorded deferral of `rcpt`.
    pub fn last_category_of(&self, rcpt: &str) -> Option<Category> {
        self.history.iter().rev().find_map(|a| {
            a.rcpts
                .iter()
                .find(|r| r.rcpt == rcpt && r.outcome == "deferred")
                .and_then(|r| r.category)
        })
    }
}

impl Envelope {
    /// An envelope from `mail_from` to `rcpts`, with plain defaults, for unit tests.
    #[cfg(test)]
    pub fn sample(mail_from: &str, rcpts: &[&str]) -> Envelope {
        Envelope {
            id: QueueId("0000000000000001".into()),
            tenant: "t".into(),
            mail_from: mail_from.into(),
            rcpts: rcpts.iter().map(|r| r.to_string()).collect(),
            received_at: 1_700_000_000,
            attempts: 1,
            client_ip: "127.0.0.1".into(),
            helo: "h".into(),
            auth_user: None,
            tls: None,
            smtputf8: false,
            eight_bit: false,
            tags: vec![],
            dsn: Default::default(),
            require_tls: false,
            delay_notified: false,
            progress: Progress::default(),
        }
    }

    /// The DSN parameters of one recipient (defaults when the client gave none).
    pub fn rcpt_dsn(&self, rcpt: &str) -> RcptDsn {
        self.dsn.rcpts.get(rcpt).cloned().unwrap_or_default()
    }
}

/// The envelope's DSN parameters: RET and ENVID from MAIL, NOTIFY and ORCPT per recipient.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DsnRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<Ret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envid: Option<String>,
    /// Only recipients that gave NOTIFY or ORCPT are listed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rcpts: BTreeMap<String, RcptDsn>,
}

impl DsnRequest {
    pub fn is_empty(&self) -> bool {
        self.ret.is_none() && self.envid.is_none() && self.rcpts.is_empty()
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Ret {
    Full,
    Hdrs,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RcptDsn {
    /// None: the client did not say (failure and delay notices, RFC 3461 §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
    /// ORCPT as given, e.g. "rfc822;user@example.com".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orcpt: Option<String>,
}

/// NOTIFY=NEVER is all three false.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Notify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

impl RcptDsn {
    pub fn wants_failure(&self) -> bool {
        self.notify.is_none_or(|n| n.failure)
    }
    pub fn wants_delay(&self) -> bool {
        self.notify.is_none_or(|n| n.delay)
    }
    pub fn wants_success(&self) -> bool {
        self.notify.is_some_and(|n| n.success)
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An envelope as the relay wrote it before replies were typed: a history whose recipients
/// have only `reply` and `remote`.
#[cfg(test)]
pub const WRITTEN_BEFORE_TYPED_REPLIES: &str = r#"{"id":"0000000000000042","tenant":"demo","mail_from":"app@example.com","rcpts":["later@dest.test"],"received_at":1700000000,"attempts":1,"client_ip":"127.0.0.1","helo":"client.test","auth_user":"demo","tls":null,"smtputf8":false,"eight_bit":false,"tags":["otp"],"progress":{"next_attempt_at":1700000060,"history":[{"attempt":1,"at":1700000001,"rcpts":[{"rcpt":"later@dest.test","outcome":"deferred","reply":"451 4.3.0 Try again later","remote":"mx.dest.test[127.0.0.8]:25"}]}]}}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_written_before_typed_replies_still_loads() {
        let e: Envelope = serde_json::from_str(WRITTEN_BEFORE_TYPED_REPLIES).expect("loads");
        let r = &e.progress.history[0].rcpts[0];
        assert_eq!(r.reply, "451 4.3.0 Try again later");
        assert_eq!((r.code, r.status, r.category), (None, None, None));
        assert_eq!(e.progress.last_error(), Some("451 4.3.0 Try again later"));
        assert_eq!(e.progress.last_category(), None);
        // Written again, it reads the same, and the new fields stay out until set.
        let again = serde_json::to_string(&e).unwrap();
        assert!(!again.contains("category"), "{again}");
        assert_eq!(serde_json::from_str::<Envelope>(&again).unwrap(), e);
    }

    #[test]
    fn typed_fields_round_trip() {
        let mut e: Envelope = serde_json::from_str(WRITTEN_BEFORE_TYPED_REPLIES).unwrap();
        let r = &mut e.progress.history[0].rcpts[0];
        r.code = Some(452);
        r.status = Status::parse("4.2.2");
        r.category = Some(Category::MailboxFull);
        let json = serde_json::to_string(&e).unwrap();
        assert!(
            json.contains(r#""code":452,"status":"4.2.2","category":"mailbox_full""#),
            "{json}"
        );
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.progress.last_category(), Some(Category::MailboxFull));
        assert_eq!(
            back.progress.last_category_of("later@dest.test"),
            Some(Category::MailboxFull)
        );
    }

    #[test]
    fn ids_are_unique_and_ordered() {
        let ids: Vec<_> = (0..1000).map(|_| QueueId::generate()).collect();
        assert!(ids.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(ids.iter().all(|i| i.0.len() == 16));
    }
}
