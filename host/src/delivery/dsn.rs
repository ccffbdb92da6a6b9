//! Delivery status notifications (RFC 3464 multipart/report) back to the envelope sender:
//! failures, delays and "relayed" reports, as the client asked with NOTIFY (RFC 3461).
//!
//! The MIME structure is mail-builder's; the per-recipient fields come from the typed
//! replies: `Status` is the reply's enhanced status, `Diagnostic-Code: smtp; …` the reply
//! itself, `Remote-MTA` the host that sent it, `X-Sluice-Category` its classification. What
//! this relay decided on its own (no MX, a refused connection) is an `X-Sluice;` diagnostic.

use super::classify::Category;
use super::reply::{Response, Status};
use crate::queue::envelope::{unix_now, Envelope, Ret};
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::Header;
use mail_builder::mime::{BodyPart, MimePart};
use mail_builder::MessageBuilder;

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

/// One recipient's part of the report.
#[derive(Debug, Clone)]
pub struct Entry {
    pub rcpt: String,
    /// The next hop's reply, or this relay's report.
    pub response: Response,
    /// "name[ip]:port" of the host the attempt reached, if one.
    pub remote: Option<String>,
    /// The failure's category; none for a "relayed" report.
    pub category: Option<Category>,
    /// A status that overrides the response's (4.4.7 for expiry).
    pub status: Option<Status>,
    /// Words for people in place of the category's (an expiry's).
    pub note: Option<String>,
}

impl Entry {
    /// The enhanced status for the report: the override, the response's, or one derived
    /// from the kind of report and the permanence of the response.
    pub fn status(&self, kind: Kind) -> Status {
        if let Some(s) = self.status.or(self.response.status()) {
            return s;
        }
        match kind {
            Kind::Relayed => Status::new(2, 0, 0),
            Kind::Delayed => Status::new(4, 0, 0),
            Kind::Failed if self.response.is_permanent() => Status::new(5, 0, 0),
            Kind::Failed => Status::new(4, 0, 0),
        }
    }

    /// The host name of the next hop for Remote-MTA.
    fn remote_mta(&self) -> Option<&str> {
        match &self.response {
            Response::Remote(r) => Some(r.host_name()),
            Response::Local(_) => self.remote.as_deref().and_then(|r| r.split('[').next()),
        }
    }

    /// The line for people: what happened, then the reply or report.
    fn human(&self) -> String {
        let what = match (&self.note, self.category) {
            (Some(note), _) => note.clone(),
            (None, Some(c)) => format!("{} ({c})", c.describe()),
            (None, None) => "relayed".to_owned(),
        };
        let said = match &self.response {
            Response::Remote(r) => format!("{} said: {r}", r.host_name()),
            Response::Local(l) => l.to_string(),
        };
        format!(
            "<{}>: {what}\r\n{}",
            self.rcpt,
            wrap(&one_line(&said), "    ")
        )
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
    let subject = match kind {
        Kind::Failed => "Undelivered Mail Returned to Sender",
        Kind::Delayed => "Delayed Mail (still being retried)",
        Kind::Relayed => "Successful Mail Delivery Report",
    };
    let parts = vec![
        MimePart::new(
            "text/plain",
            human_part(kind, entries, hostname, retry_until),
        ),
        raw_part(
            "message/delivery-status",
            status_part(kind, env, entries, hostname, retry_until),
        ),
        returned_part(kind, env, original),
    ];
    MessageBuilder::new()
        .from((
            "Mail Delivery System",
            format!("MAILER-DAEMON@{hostname}").as_str(),
        ))
        .to(env.mail_from.as_str())
        .subject(subject)
        .date(unix_now())
        .message_id(format!("{}.{}.dsn@{hostname}", env.id, kind.action()))
        .header("Auto-Submitted", Raw::new("auto-replied"))
        // Raw, so the parameter reads `report-type=delivery-status` as every MTA writes it;
        // mail-builder adds the boundary.
        .body(MimePart::raw(BodyPart::Multipart(parts)).header(
            "Content-Type",
            Raw::new("multipart/report; report-type=delivery-status"),
        ))
        .write_to_vec()
        .unwrap_or_default()
}

/// Part 1: for people.
fn human_part(kind: Kind, entries: &[Entry], hostname: &str, retry_until: Option<u64>) -> String {
    let mut m = format!("This is the mail system at host {hostname}.\r\n\r\n");
    m.push_str(match kind {
        Kind::Failed => "Your message could not be delivered to one or more recipients.\r\nIt is attached below. The reasons:\r\n\r\n",
        Kind::Delayed => "Your message has not yet been delivered to one or more recipients.\r\nThe mail system will keep trying; you do not need to send it again.\r\n\r\n",
        Kind::Relayed => "Your message was delivered to the next mail system for these recipients,\r\nwhich does not report delivery status itself.\r\n\r\n",
    });
    for e in entries {
        m.push_str(&e.human());
    }
    if let (Kind::Delayed, Some(until)) = (kind, retry_until) {
        m.push_str(&format!(
            "\r\nIt will be retried until {}.\r\n",
            date(until)
        ));
    }
    m
}

/// Part 2: for machines (RFC 3464 §2): the per-message fields, then a block per recipient.
fn status_part(
    kind: Kind,
    env: &Envelope,
    entries: &[Entry],
    hostname: &str,
    retry_until: Option<u64>,
) -> Vec<u8> {
    let mut out = Vec::new();
    field(&mut out, "Reporting-MTA", &format!("dns; {hostname}"));
    field(&mut out, "X-Sluice-Queue-ID", &env.id.0);
    if let Some(envid) = &env.dsn.envid {
        field(&mut out, "Original-Envelope-Id", envid);
    }
    field(&mut out, "Arrival-Date", &date(env.received_at));
    let now = date(unix_now());
    for e in entries {
        out.extend_from_slice(b"\r\n");
        if let Some(orcpt) = env.rcpt_dsn(&e.rcpt).orcpt {
            field(&mut out, "Original-Recipient", &orcpt);
        }
        // RFC 6533 §3: a recipient that is not ASCII is of address type utf-8.
        let addr_type = if e.rcpt.is_ascii() { "rfc822" } else { "utf-8" };
        field(
            &mut out,
            "Final-Recipient",
            &format!("{addr_type}; {}", e.rcpt),
        );
        field(&mut out, "Action", kind.action());
        field(&mut out, "Status", &e.status(kind).to_string());
        if let Some(host) = e.remote_mta() {
            field(&mut out, "Remote-MTA", &format!("dns; {host}"));
        }
        let diagnostic = match &e.response {
            Response::Remote(r) => format!("smtp; {r}"),
            Response::Local(l) => format!("X-Sluice; {l}"),
        };
        field(&mut out, "Diagnostic-Code", &one_line(&diagnostic));
        if let Some(c) = e.category {
            field(&mut out, "X-Sluice-Category", c.name());
        }
        field(&mut out, "Last-Attempt-Date", &now);
        if let (Kind::Delayed, Some(until)) = (kind, retry_until) {
            field(&mut out, "Will-Retry-Until", &date(until));
        }
    }
    out
}

/// Part 3: the message, or its headers (RET=HDRS, too big to send back, or a "relayed"
/// report).
fn returned_part<'a>(kind: Kind, env: &Envelope, original: &'a [u8]) -> MimePart<'a> {
    let headers_only = env.dsn.ret == Some(Ret::Hdrs)
        || original.len() > MAX_RETURNED_BYTES
        || kind == Kind::Relayed;
    if headers_only {
        raw_part("text/rfc822-headers", header_block(original).to_vec())
    } else {
        raw_part("message/rfc822", original.to_vec())
    }
}

/// A part written as it is (no transfer encoding: message/* parts may not have one), its
/// Content-Transfer-Encoding saying whether it holds 8-bit bytes.
fn raw_part(content_type: &str, body: Vec<u8>) -> MimePart<'static> {
    let cte = if body.is_ascii() { "7bit" } else { "8bit" };
    MimePart::new(ContentType::new(content_type.to_owned()), body).transfer_encoding(cte)
}

/// A header-like field of message/delivery-status, folded by mail-builder.
fn field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    Raw::new(value).write_header(out, name.len() + 2);
}

fn date(unix: u64) -> String {
    mail_builder::headers::date::Date::new(unix as i64).to_rfc822()
}

/// `text` in lines of at most 76 characters (or one long word), each after `indent`, so
/// the part for people stays plain 7-bit text.
fn wrap(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > 76 {
            out.push_str(&format!("{indent}{line}\r\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{indent}{line}\r\n"));
    }
    out
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
    use crate::delivery::reply::{Cause, RemoteReply};

    fn envelope() -> Envelope {
        Envelope::sample("app@example.com", &["gone@dest.test"])
    }

    fn gone() -> Entry {
        let response = Response::Remote(RemoteReply {
            code: 550,
            status: Some(Status::new(5, 1, 1)),
            text: "The email account that you tried to reach does not exist.\nPlease try double-checking".into(),
            host: "mx.dest.test[127.0.0.2]:25".into(),
        });
        Entry {
            rcpt: "gone@dest.test".into(),
            category: Some(response.category()),
            remote: Some("mx.dest.test[127.0.0.2]:25".into()),
            response,
            status: None,
            note: None,
        }
    }

    #[test]
    fn status_comes_from_the_reply_or_the_kind() {
        assert_eq!(gone().status(Kind::Failed), Status::new(5, 1, 1));
        let mut e = gone();
        e.response = Response::Remote(RemoteReply {
            code: 554,
            status: None,
            text: "rejected".into(),
            host: "h".into(),
        });
        assert_eq!(e.status(Kind::Failed), Status::new(5, 0, 0));
        e.status = Some(Status::new(4, 4, 7));
        assert_eq!(e.status(Kind::Failed), Status::new(4, 4, 7));
    }

    #[test]
    fn report_has_the_three_parts() {
        let orig = b"Subject: hi\r\nFrom: app@example.com\r\n\r\nbody\r\n";
        let m = String::from_utf8(build(
            Kind::Failed,
            &envelope(),
            orig,
            &[gone()],
            "relay.test",
            None,
        ))
        .unwrap();
        assert!(
            m.contains("multipart/report; report-type=delivery-status"),
            "{m}"
        );
        assert!(
            m.contains("Final-Recipient: rfc822; gone@dest.test\r\n"),
            "{m}"
        );
        assert!(m.contains("Action: failed\r\nStatus: 5.1.1\r\n"), "{m}");
        assert!(m.contains("Remote-MTA: dns; mx.dest.test\r\n"), "{m}");
        // Fields fold like header fields; unfolded, the reply is whole.
        let unfolded = m.replace("\r\n ", " ");
        assert!(unfolded.contains("Diagnostic-Code: smtp; 550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking\r\n"), "{m}");
        assert!(m.contains("X-Sluice-Category: bad_mailbox\r\n"), "{m}");
        assert!(m.contains("<gone@dest.test>: the mailbox does not exist (bad_mailbox)\r\n    mx.dest.test said: 550 5.1.1 The email account"), "{m}");
        assert!(!m.contains("quoted-printable"), "{m}");
        assert!(m.contains("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\nSubject: hi"), "{m}");
        let parsed = mail_parser::MessageParser::new()
            .parse(m.as_bytes())
            .unwrap();
        assert!(parsed.parts.len() > 3, "{}", parsed.parts.len());
        assert_eq!(
            parsed.subject(),
            Some("Undelivered Mail Returned to Sender")
        );
    }

    #[test]
    fn a_local_report_is_an_x_sluice_diagnostic_and_long_ones_fold() {
        let e = Entry {
            rcpt: "x@null.test".into(),
            response: Response::local_reply(
                Cause::NullMx,
                556,
                Status::new(5, 1, 10),
                format!("null.test: {}", "the domain takes no mail ".repeat(60)),
            ),
            remote: None,
            category: Some(Category::BadDomain),
            status: None,
            note: None,
        };
        let m = String::from_utf8(build(
            Kind::Failed,
            &envelope(),
            b"Subject: x\r\n\r\nx\r\n",
            &[e],
            "relay.test",
            None,
        ))
        .unwrap();
        assert!(m.contains("Status: 5.1.10\r\n"), "{m}");
        assert!(
            m.contains("Diagnostic-Code: X-Sluice; 556 5.1.10 null.test:"),
            "{m}"
        );
        assert!(!m.contains("Remote-MTA"), "{m}");
        assert!(m.lines().all(|l| l.len() <= 998), "a line too long");
    }
}
