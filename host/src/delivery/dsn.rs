//! Delivery status notifications (RFC 3464 multipart/report) back to the envelope sender:
//! failures, delays and "relayed" reports, as the client asked with NOTIFY (RFC 3461).

use crate::queue::envelope::{unix_now, Envelope, Ret};
use crate::smtp::headers::rfc5322_date;
use std::time::{Duration, UNIX_EPOCH};

/// Past this size the original message is returned as headers only.
const MAX_RETURNED_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Failed,
    Delayed,
    Relayed,
}

impl Kind {
    fn action(self) -> &'static str {
        match self {
            Kind::Failed => "failed",
            Kind::Delayed => "delayed",
            Kind::Relayed => "relayed",
        }
    }
}

/// One recipient's line in the report.
#[derive(Debug, Clone)]
pub struct Entry {
    pub rcpt: String,
    /// The next hop's reply ("550 5.1.1 no such user") or why there was none.
    pub diagnostic: String,
    /// The host that answered, if one did.
    pub remote: Option<String>,
    /// The enhanced status when the diagnostic does not carry it (4.4.7 for expiry).
    pub status: Option<String>,
}

/// The enhanced status for a DSN: the one in the reply when there is one, or one
/// derived from the reply's class.
pub fn status_of(kind: Kind, diagnostic: &str) -> String {
    let mut words = diagnostic.split_whitespace();
    let code = words.next().unwrap_or_default();
    if let Some(st) = words.next() {
        let parts: Vec<&str> = st.split('.').collect();
        if parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && matches!(parts[0], "2" | "4" | "5")
        {
            return st.to_owned();
        }
    }
    match (kind, code.as_bytes().first()) {
        (Kind::Relayed, _) => "2.0.0".into(),
        (Kind::Delayed, _) => "4.0.0".into(),
        (Kind::Failed, Some(b'4')) => "4.0.0".into(),
        _ => "5.0.0".into(),
    }
}

/// Builds the report for `entries` of `env`; `original` is the message as queued.
pub fn build(
    kind: Kind,
    env: &Envelope,
    original: &[u8],
    entries: &[Entry],
    hostname: &str,
    retry_until: Option<u64>,
) -> Vec<u8> {
    let boundary = format!("{}/{}", env.id, hostname);
    let now = std::time::SystemTime::now();
    let subject = match kind {
        Kind::Failed => "Undelivered Mail Returned to Sender",
        Kind::Delayed => "Delayed Mail (still being retried)",
        Kind::Relayed => "Successful Mail Delivery Report",
    };
    let mut m = String::new();
    m.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n"
    ));
    m.push_str(&format!("To: <{}>\r\n", env.mail_from));
    m.push_str(&format!("Subject: {subject}\r\n"));
    m.push_str(&format!("Date: {}\r\n", rfc5322_date(now)));
    m.push_str(&format!(
        "Message-ID: <{}.{}.dsn@{hostname}>\r\n",
        env.id,
        kind.action()
    ));
    m.push_str("Auto-Submitted: auto-replied\r\n");
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));

    // Part 1: for people.
    m.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ));
    m.push_str(&format!(
        "This is the mail system at host {hostname}.\r\n\r\n"
    ));
    m.push_str(match kind {
        Kind::Failed => "Your message could not be delivered to one or more recipients.\r\nIt is attached below. The reasons:\r\n\r\n",
        Kind::Delayed => "Your message has not yet been delivered to one or more recipients.\r\nThe mail system will keep trying; you do not need to send it again.\r\n\r\n",
        Kind::Relayed => "Your message was delivered to the next mail system for these recipients,\r\nwhich does not report delivery status itself.\r\n\r\n",
    });
    for e in entries {
        m.push_str(&format!("<{}>: {}\r\n", e.rcpt, one_line(&e.diagnostic)));
    }
    if let (Kind::Delayed, Some(until)) = (kind, retry_until) {
        m.push_str(&format!(
            "\r\nIt will be retried until {}.\r\n",
            rfc5322_date(UNIX_EPOCH + Duration::from_secs(until))
        ));
    }
    m.push_str("\r\n");

    // Part 2: for machines (RFC 3464 §2).
    m.push_str(&format!(
        "--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
    ));
    m.push_str(&format!("Reporting-MTA: dns; {hostname}\r\n"));
    m.push_str(&format!("X-Sluice-Queue-ID: {}\r\n", env.id));
    if let Some(envid) = &env.dsn.envid {
        m.push_str(&format!("Original-Envelope-Id: {envid}\r\n"));
    }
    m.push_str(&format!(
        "Arrival-Date: {}\r\n",
        rfc5322_date(UNIX_EPOCH + Duration::from_secs(env.received_at))
    ));
    for e in entries {
        m.push_str("\r\n");
        if let Some(orcpt) = env.rcpt_dsn(&e.rcpt).orcpt {
            m.push_str(&format!("Original-Recipient: {orcpt}\r\n"));
        }
        // RFC 6533 §3: a recipient that is not ASCII is of address type utf-8.
        let addr_type = if e.rcpt.is_ascii() { "rfc822" } else { "utf-8" };
        m.push_str(&format!("Final-Recipient: {addr_type}; {}\r\n", e.rcpt));
        m.push_str(&format!("Action: {}\r\n", kind.action()));
        let status = e
            .status
            .clone()
            .unwrap_or_else(|| status_of(kind, &e.diagnostic));
        m.push_str(&format!("Status: {status}\r\n"));
        if let Some(remote) = &e.remote {
            let host = remote.split('[').next().unwrap_or(remote);
            m.push_str(&format!("Remote-MTA: dns; {host}\r\n"));
        }
        if looks_like_smtp(&e.diagnostic) {
            m.push_str(&format!(
                "Diagnostic-Code: smtp; {}\r\n",
                one_line(&e.diagnostic)
            ));
        } else {
            m.push_str(&format!("X-Sluice-Reason: {}\r\n", one_line(&e.diagnostic)));
        }
        m.push_str(&format!(
            "Last-Attempt-Date: {}\r\n",
            rfc5322_date(UNIX_EPOCH + Duration::from_secs(unix_now()))
        ));
        if let (Kind::Delayed, Some(until)) = (kind, retry_until) {
            m.push_str(&format!(
                "Will-Retry-Until: {}\r\n",
                rfc5322_date(UNIX_EPOCH + Duration::from_secs(until))
            ));
        }
    }
    m.push_str("\r\n");

    // Part 3: the message, or its headers (RET=HDRS, or too big to send back).
    let headers_only = env.dsn.ret == Some(Ret::Hdrs)
        || original.len() > MAX_RETURNED_BYTES
        || kind == Kind::Relayed;
    let mut out = m.into_bytes();
    if headers_only {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(header_block(original));
    } else {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(original);
        if !original.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

fn looks_like_smtp(d: &str) -> bool {
    d.len() > 4 && d.as_bytes()[..3].iter().all(u8::is_ascii_digit) && d.as_bytes()[3] == b' '
}

fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The header section of a message, blank line included.
fn header_block(m: &[u8]) -> &[u8] {
    m.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(m, |i| &m[..i + 4])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope::sample("app@example.com", &["gone@dest.test"])
    }

    #[test]
    fn status_comes_from_the_reply() {
        assert_eq!(status_of(Kind::Failed, "550 5.1.1 no such user"), "5.1.1");
        assert_eq!(status_of(Kind::Failed, "554 rejected"), "5.0.0");
        assert_eq!(status_of(Kind::Failed, "connect refused"), "5.0.0");
        assert_eq!(status_of(Kind::Delayed, "451 4.7.1 later"), "4.7.1");
    }

    #[test]
    fn report_has_the_three_parts() {
        let orig = b"Subject: hi\r\nFrom: app@example.com\r\n\r\nbody\r\n";
        let e = Entry {
            rcpt: "gone@dest.test".into(),
            diagnostic: "550 5.1.1 no such user".into(),
            remote: Some("mx.dest.test[127.0.0.2]:25".into()),
            status: None,
        };
        let m = String::from_utf8(build(
            Kind::Failed,
            &envelope(),
            orig,
            &[e],
            "relay.test",
            None,
        ))
        .unwrap();
        assert!(m.contains("multipart/report; report-type=delivery-status"));
        assert!(m.contains("Final-Recipient: rfc822; gone@dest.test"));
        assert!(m.contains("Action: failed\r\nStatus: 5.1.1"));
        assert!(m.contains("Remote-MTA: dns; mx.dest.test\r\n"));
        assert!(m.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user"));
        assert!(m.contains("Content-Type: message/rfc822\r\n\r\nSubject: hi"));
        let parsed = mail_parser::MessageParser::new()
            .parse(m.as_bytes())
            .unwrap();
        assert!(parsed.parts.len() > 3, "{}", parsed.parts.len());
    }
}
