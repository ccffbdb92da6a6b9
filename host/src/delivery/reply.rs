//! What one attempt ends with for a recipient, typed from the socket to the DSN: the next
//! hop's reply — code, RFC 3463 enhanced status, text, the host that sent it — as smtp-proto
//! parses it, or this relay's own report when no reply came (connection refused, no MX, a
//! routing hold, …), with a [`Cause`] that says what happened.
//!
//! Nothing here does I/O: [`Reader`] is fed the bytes the client reads and hands back a
//! whole reply, so the parsing is tested without a socket.

use super::classify::{self, Category};
use serde::{Deserialize, Serialize};
use smtp_proto::response::parser::ResponseReceiver;
use std::fmt;

/// An RFC 3463 enhanced status code, `class.subject.detail` (`5.1.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status {
    /// 2 (success), 4 (persistent transient) or 5 (permanent).
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl Status {
    pub const fn new(class: u8, subject: u16, detail: u16) -> Status {
        Status {
            class,
            subject,
            detail,
        }
    }

    /// `"5.1.1"`: class 2, 4 or 5, then one to three digits twice (RFC 3463 §2).
    pub fn parse(s: &str) -> Option<Status> {
        let mut parts = s.split('.');
        let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let number = |p: &str| {
            (!p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u16>().ok())
                .flatten()
        };
        let class = match class {
            "2" => 2,
            "4" => 4,
            "5" => 5,
            _ => return None,
        };
        Some(Status::new(class, number(subject)?, number(detail)?))
    }

    pub fn is_permanent(self) -> bool {
        self.class == 5
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
        let s = String::deserialize(d)?;
        Status::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not an enhanced status")))
    }
}

/// A reply from the next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteReply {
    pub code: u16,
    /// The enhanced status the reply carried, if it carried one.
    pub status: Option<Status>,
    /// The text without code and status; the lines of a multi-line reply joined by `\n`.
    pub text: String,
    /// "name[ip]:port" of the host that sent it.
    pub host: String,
}

impl RemoteReply {
    pub fn is_positive(&self) -> bool {
        self.code / 100 == 2
    }

    /// The host name alone, for a DSN's Remote-MTA.
    pub fn host_name(&self) -> &str {
        self.host.split('[').next().unwrap_or(&self.host)
    }
}

/// `550 5.1.1 text`, on one line.
impl fmt::Display for RemoteReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(s) = self.status {
            write!(f, " {s}")?;
        }
        for line in self.text.split('\n').filter(|l| !l.trim().is_empty()) {
            write!(f, " {}", line.trim())?;
        }
        Ok(())
    }
}

/// What happened here when no reply decided the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Written to (or not written to) a local Maildir.
    Maildir,
    /// The connection could not be made: refused, reset, unreachable.
    Connect,
    /// Connecting, a command or the TLS handshake took longer than allowed.
    Timeout,
    /// The connection closed or broke in the middle of the session.
    ConnectionLost,
    /// The next hop sent something that is not an SMTP reply, or one too long.
    Protocol,
    /// TLS could not be had as required: STARTTLS not offered, a failed handshake, no
    /// REQUIRETLS, an MTA-STS policy no MX host satisfies.
    Tls,
    /// The recipient domain does not exist or names no mail host.
    NoSuchDomain,
    /// The recipient domain publishes a null MX (RFC 7505): it takes no mail.
    NullMx,
    /// DNS could not answer for now, or no MX host has an address.
    Dns,
    /// The routing hook refused the recipient (the failure action of a routing plugin).
    Routing,
    /// The routing hook held the recipient.
    Held,
    /// The egress pool's daily cap is reached.
    PoolCap,
    /// Traffic shaping decided: the destination is suspended or bouncing
    /// ([`super::shaping`]); the text quotes the reply that started it.
    Shaping,
    /// The message could not be read from the spool.
    Spool,
    /// This relay's configuration cannot deliver it (no resolver, no Maildir, a source
    /// address that cannot be bound).
    Config,
    /// The message reached its maximum age without being tried again.
    Expired,
}

/// This relay's own report: what happened instead of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReport {
    pub cause: Cause,
    /// The reply code this relay answers in the next hop's stead (`550` for a domain that
    /// does not exist, `556` for a null MX), when one fits; none for a connection failure.
    pub code: Option<u16>,
    /// Always set, so a DSN has one: `4.4.1` for a refused connection, `5.1.2` for a bad
    /// domain.
    pub status: Status,
    pub text: String,
}

/// `556 5.1.10 text` when a code fits, the text alone when not.
impl fmt::Display for LocalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{code} {} {}", self.status, self.text),
            None => f.write_str(&self.text),
        }
    }
}

/// What an attempt ended with for a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The next hop answered.
    Remote(RemoteReply),
    /// No reply decided it: this relay says what happened.
    Local(LocalReport),
}

impl Response {
    /// A report of this relay's, without a reply code.
    pub fn local(cause: Cause, status: Status, text: impl Into<String>) -> Response {
        Response::Local(LocalReport {
            cause,
            code: None,
            status,
            text: text.into(),
        })
    }

    /// A report of this relay's worded as a reply (`550 5.1.2 …`).
    pub fn local_reply(
        cause: Cause,
        code: u16,
        status: Status,
        text: impl Into<String>,
    ) -> Response {
        Response::Local(LocalReport {
            cause,
            code: Some(code),
            status,
            text: text.into(),
        })
    }

    /// A 5xx reply, or a report whose status is permanent: retrying cannot help.
    pub fn is_permanent(&self) -> bool {
        match self {
            Response::Remote(r) => r.code >= 500,
            Response::Local(l) => l.status.is_permanent(),
        }
    }

    pub fn code(&self) -> Option<u16> {
        match self {
            Response::Remote(r) => Some(r.code),
            Response::Local(l) => l.code,
        }
    }

    /// The enhanced status: the reply's own, or the report's.
    pub fn status(&self) -> Option<Status> {
        match self {
            Response::Remote(r) => r.status,
            Response::Local(l) => Some(l.status),
        }
    }

    pub fn remote(&self) -> Option<&RemoteReply> {
        match self {
            Response::Remote(r) => Some(r),
            Response::Local(_) => None,
        }
    }

    /// What kind of failure this is (meaningless for a success).
    pub fn category(&self) -> Category {
        classify::classify(self)
    }

    /// Prefixes the text of a local report (`MTA-STS enforce: …`); a reply stays as sent.
    pub fn explained(mut self, prefix: &str) -> Response {
        if let Response::Local(l) = &mut self {
            l.text = format!("{prefix}{}", l.text);
        }
        self
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Response::Remote(r) => r.fmt(f),
            Response::Local(l) => l.fmt(f),
        }
    }
}

/// Bytes of one reply kept as received (the EHLO list is parsed from them): well above what
/// smtp-proto accepts as the text of a reply.
const MAX_RAW_REPLY: usize = 16 * 1024;

/// Why bytes from the next hop are not a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    TooLong,
    Syntax(String),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::TooLong => f.write_str("an over-long reply"),
            Malformed::Syntax(s) => write!(f, "a malformed reply ({s})"),
        }
    }
}

/// A whole reply: parsed, and as received.
pub struct Parsed {
    pub reply: RemoteReply,
    pub raw: Vec<u8>,
}

/// Reads replies from the bytes the client receives, however they are split.
#[derive(Default)]
pub struct Reader {
    receiver: ResponseReceiver,
    /// The bytes of the reply so far, as received (the EHLO list is parsed from them).
    raw: Vec<u8>,
}

impl Reader {
    /// Takes what it needs of `bytes`: how many bytes it took, and the reply once complete
    /// (the bytes after it belong to the next reply).
    pub fn feed(&mut self, bytes: &[u8], host: &str) -> (usize, Option<Result<Parsed, Malformed>>) {
        let mut it = bytes.iter();
        let result = self.receiver.parse(&mut it);
        let used = bytes.len() - it.len();
        if self.raw.len() + used > MAX_RAW_REPLY {
            return (used, Some(Err(Malformed::TooLong)));
        }
        self.raw.extend_from_slice(&bytes[..used]);
        let parsed = match result {
            Err(smtp_proto::Error::NeedsMoreData { .. }) => return (used, None),
            Err(smtp_proto::Error::ResponseTooLong) => Err(Malformed::TooLong),
            Err(e) => Err(Malformed::Syntax(format!("{e:?}"))),
            Ok(r) if !(200..600).contains(&r.code) => {
                Err(Malformed::Syntax(format!("code {}", r.code)))
            }
            Ok(r) => {
                self.receiver.reset();
                let raw = std::mem::take(&mut self.raw);
                let status = match r.esc {
                    [0, 0, 0] => None,
                    // smtp-proto keeps each part in a byte, so 5.7.509 (Outlook) comes out as
                    // 5.7.255: read such a status again from the first line.
                    esc if esc.contains(&255) => first_line_status(&raw),
                    [class, subject, detail] => {
                        Status::parse(&format!("{class}.{subject}.{detail}"))
                    }
                };
                Ok(Parsed {
                    reply: RemoteReply {
                        code: r.code,
                        status,
                        text: printable_lines(&r.message),
                        host: host.to_owned(),
                    },
                    raw,
                })
            }
        };
        (used, Some(parsed))
    }
}

/// The enhanced status that follows the code on the first line of `raw`.
fn first_line_status(raw: &[u8]) -> Option<Status> {
    let line = raw.split(|&b| b == b'\n').next()?;
    let token = line.get(4..)?.split(|&b| b == b' ' || b == b'\r').next()?;
    Status::parse(std::str::from_utf8(token).ok()?)
}

/// The reply text with control characters (a stray CR, an escape) dropped; the lines stay.
fn printable_lines(text: &str) -> String {
    text.chars()
        .filter(|&c| c == '\n' || !c.is_control())
        .collect::<String>()
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` in chunks of `step`, as a socket might deliver them.
    fn read_in_steps(bytes: &[u8], step: usize) -> (Result<Parsed, Malformed>, usize) {
        let mut reader = Reader::default();
        let mut at = 0;
        while at < bytes.len() {
            let end = (at + step).min(bytes.len());
            let (used, done) = reader.feed(&bytes[at..end], "mx.test[127.0.0.2]:25");
            if let Some(r) = done {
                return (r, at + used);
            }
            assert_eq!(used, end - at, "takes every byte until the reply is whole");
            at += used;
        }
        panic!("no whole reply in {bytes:?}");
    }

    fn read(bytes: &[u8]) -> RemoteReply {
        read_in_steps(bytes, bytes.len()).0.expect("a reply").reply
    }

    #[test]
    fn a_reply_has_code_status_and_text() {
        let r = read(b"550 5.1.1 <x@y>: Recipient address rejected: User unknown\r\n");
        assert_eq!(r.code, 550);
        assert_eq!(r.status, Some(Status::new(5, 1, 1)));
        assert_eq!(r.text, "<x@y>: Recipient address rejected: User unknown");
        assert_eq!(r.host, "mx.test[127.0.0.2]:25");
        assert_eq!(r.host_name(), "mx.test");
        assert_eq!(
            r.to_string(),
            "550 5.1.1 <x@y>: Recipient address rejected: User unknown"
        );
    }

    #[test]
    fn a_multi_line_reply_loses_its_repeated_codes() {
        let gmail =
            b"550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n\
550-5.1.1 double-checking the recipient's email address for typos or\r\n\
550-5.1.1 unnecessary spaces. For more information, go to\r\n\
550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1-20020a170902 - gsmtp\r\n";
        for step in [1, 7, gmail.len()] {
            let (r, used) = read_in_steps(gmail, step);
            let r = r.unwrap().reply;
            assert_eq!(used, gmail.len());
            assert_eq!(r.status, Some(Status::new(5, 1, 1)));
            assert_eq!(r.text.lines().count(), 4, "{:?}", r.text);
            assert!(!r.text.contains("5.1.1"), "{:?}", r.text);
            assert!(r.to_string().starts_with(
                "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking"
            ), "{r}");
        }
    }

    #[test]
    fn no_status_is_none_and_three_digit_details_survive() {
        let r = read(b"554 delivery error: dd This user doesn't have a yahoo.com account\r\n");
        assert_eq!((r.code, r.status), (554, None));
        let r = read(b"550 5.7.509 Access denied, sending domain example.com does not pass DMARC verification\r\n");
        assert_eq!(r.status, Some(Status::new(5, 7, 509)));
        let r =
            read(b"451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited\r\n");
        assert_eq!(r.status, Some(Status::new(4, 7, 650)));
        let r = read(b"250 2.0.0 Ok: queued as 4Xyz\r\n");
        assert!(r.is_positive());
    }

    #[test]
    fn the_bytes_after_a_reply_are_left_for_the_next() {
        let mut reader = Reader::default();
        let bytes = b"250 2.1.0 Ok\r\n550 5.1.1 no\r\n";
        let (used, r) = reader.feed(bytes, "h");
        assert_eq!(used, 14);
        assert_eq!(r.unwrap().unwrap().reply.code, 250);
        let (used, r) = reader.feed(&bytes[14..], "h");
        assert_eq!(used, bytes.len() - 14);
        assert_eq!(r.unwrap().unwrap().reply.code, 550);
    }

    #[test]
    fn garbage_and_floods_are_malformed() {
        let mut reader = Reader::default();
        let (_, r) = reader.feed(b"hello there\r\n", "h");
        assert!(
            matches!(r, Some(Err(Malformed::Syntax(_)))),
            "{:?}",
            r.map(|r| r.err())
        );
        let flood = "250-x\r\n".repeat(5000);
        let (r, _) = read_in_steps(flood.as_bytes(), 512);
        assert_eq!(r.err(), Some(Malformed::TooLong));
    }

    #[test]
    fn status_parses_strictly_and_round_trips_as_text() {
        assert_eq!(Status::parse("5.1.10"), Some(Status::new(5, 1, 10)));
        for bad in ["3.1.1", "5.1", "5.1.1.1", "5.x.1", "5.1.1000", "", "5..1"] {
            assert_eq!(Status::parse(bad), None, "{bad}");
        }
        let s: Status = serde_json::from_str("\"4.2.2\"").unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"4.2.2\"");
        assert!(serde_json::from_str::<Status>("\"nope\"").is_err());
    }

    #[test]
    fn local_reports_read_like_replies_only_when_they_have_a_code() {
        let nomx = Response::local_reply(
            Cause::NullMx,
            556,
            Status::new(5, 1, 10),
            "null.test: null MX",
        );
        assert_eq!(nomx.to_string(), "556 5.1.10 null.test: null MX");
        assert!(nomx.is_permanent());
        let refused = Response::local(
            Cause::Connect,
            Status::new(4, 4, 1),
            "connect to mx: refused",
        );
        assert_eq!(refused.to_string(), "connect to mx: refused");
        assert!(!refused.is_permanent());
        assert_eq!(refused.code(), None);
    }
}
