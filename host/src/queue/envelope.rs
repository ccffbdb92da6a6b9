//! What the spool keeps next to each message's bytes.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_ordered() {
        let ids: Vec<_> = (0..1000).map(|_| QueueId::generate()).collect();
        assert!(ids.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(ids.iter().all(|i| i.0.len() == 16));
    }
}
