//! Every reply the SMTP server gives, in one table.
//!
//! A [`Reply`] is a typed rejection as much as a success: code, RFC 3463 enhanced status,
//! text, and whether the connection closes after it. Enhanced codes go on every reply except
//! the greeting and the EHLO list (RFC 2034 §3).

use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status code, e.g. "5.7.1"; empty for the greeting.
    pub status: Cow<'static, str>,
    pub text: Cow<'static, str>,
    /// Close the connection after sending this reply.
    pub close: bool,
}

impl Reply {
    pub const fn new(code: u16, status: &'static str, text: &'static str) -> Reply {
        Reply {
            code,
            status: Cow::Borrowed(status),
            text: Cow::Borrowed(text),
            close: false,
        }
    }

    pub fn dynamic(code: u16, status: &'static str, text: String) -> Reply {
        Reply {
            code,
            status: Cow::Borrowed(status),
            text: Cow::Owned(text),
            close: false,
        }
    }

    pub const fn closing(mut self) -> Reply {
        self.close = true;
        self
    }

    /// Appends the reply in wire form; multi-line text becomes continuation lines. The text
    /// goes out as printable ASCII whatever it holds (an EHLO name, a plugin's words): any
    /// other character is written as an escape such as `\u{202e}`, so a client's bytes can
    /// never put a control, a bidi override or UTF-8 into a reply. A line never passes the
    /// 512 octets of RFC 5321 §4.5.3.1.5: what does not fit is cut off.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let lines: Vec<&str> = self.text.split('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            let prefix = if self.status.is_empty() {
                format!("{}{sep}", self.code)
            } else {
                format!("{}{sep}{} ", self.code, self.status)
            };
            let room = MAX_REPLY_LINE.saturating_sub(prefix.len() + 2);
            let line = printable(line.trim_end_matches('\r'), room);
            out.extend_from_slice(format!("{prefix}{line}\r\n").as_bytes());
        }
    }
}

/// Octets of a reply line, CRLF included (RFC 5321 §4.5.3.1.5).
pub const MAX_REPLY_LINE: usize = 512;

/// `text` with every character outside printable ASCII (space to `~`) escaped, cut to at
/// most `max` octets at a character (or escape) boundary.
pub fn printable(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max && text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars() {
        let piece = match c {
            ' '..='~' => c.to_string(),
            _ => c.escape_unicode().to_string(),
        };
        if out.len() + piece.len() > max {
            break;
        }
        out.push_str(&piece);
    }
    Cow::Owned(out)
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.code, self.status, self.text)
    }
}

// Success.
pub const OK: Reply = Reply::new(250, "2.0.0", "OK");
pub const SENDER_OK: Reply = Reply::new(250, "2.1.0", "Sender OK");
pub const RCPT_OK: Reply = Reply::new(250, "2.1.5", "Recipient OK");
pub const RESET: Reply = Reply::new(250, "2.0.0", "Reset state");
pub const START_DATA: Reply = Reply::new(354, "", "End data with <CR><LF>.<CR><LF>");
pub const BYE: Reply = Reply::new(221, "2.0.0", "Bye").closing();
pub const VRFY: Reply = Reply::new(
    252,
    "2.5.0",
    "Cannot VRFY user, but will accept message and attempt delivery",
);
pub const EXPN: Reply = Reply::new(502, "5.5.1", "EXPN is not available");
pub const HELP: Reply = Reply::new(
    214,
    "2.0.0",
    "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH",
);
pub const START_TLS: Reply = Reply::new(220, "2.0.0", "Ready to start TLS");
pub const AUTH_OK: Reply = Reply::new(235, "2.7.0", "Authentication successful");

pub fn queued(id: &str) -> Reply {
    Reply::dynamic(250, "2.0.0", format!("Ok: queued as {id}"))
}

pub fn chunk_received(n: usize) -> Reply {
    Reply::dynamic(250, "2.0.0", format!("{n} octets received"))
}

// Framing and sequence.
pub const LINE_TOO_LONG: Reply = Reply::new(
    500,
    "5.5.2",
    "Line too long (512 octets at most, CRLF included)",
);
pub const BAD_LINE_ENDING: Reply = Reply::new(
    500,
    "5.5.2",
    "Command line must end in CRLF and hold no bare CR, LF or NUL",
)
.closing();
pub const UNKNOWN_COMMAND: Reply = Reply::new(500, "5.5.1", "Command unrecognized");
pub const NOT_IMPLEMENTED: Reply = Reply::new(502, "5.5.1", "Command not implemented");
pub const PREGREET: Reply = Reply::new(
    554,
    "5.5.0",
    "Protocol error: client spoke before the greeting",
)
.closing();
pub const PIPELINED_DATA: Reply = Reply::new(
    554,
    "5.5.0",
    "Protocol error: message content sent before the 354 reply",
)
.closing();
pub const NEED_HELO: Reply = Reply::new(503, "5.5.1", "Send EHLO or HELO first");
pub const BAD_HELO: Reply = Reply::new(501, "5.5.2", "Invalid EHLO/HELO domain");
pub const NESTED_MAIL: Reply = Reply::new(503, "5.5.1", "Sender already specified");
pub const NEED_MAIL: Reply = Reply::new(503, "5.5.1", "Need MAIL before RCPT");
pub const NEED_MAIL_FIRST: Reply = Reply::new(503, "5.5.1", "Need MAIL command first");
pub const NEED_RCPT: Reply = Reply::new(503, "5.5.1", "Need RCPT before DATA");
pub const BDAT_IN_PROGRESS: Reply =
    Reply::new(503, "5.5.1", "DATA not allowed during a BDAT transfer");
pub const NO_VALID_RCPTS: Reply = Reply::new(554, "5.5.1", "No valid recipients");

pub fn syntax(hint: &str) -> Reply {
    Reply::dynamic(501, "5.5.4", format!("Syntax: {hint}"))
}

// Addresses and limits.
pub const TOO_MANY_RCPTS: Reply = Reply::new(452, "4.5.3", "Too many recipients");
pub const SIZE_EXCEEDED: Reply = Reply::new(
    552,
    "5.3.4",
    "Message size exceeds fixed maximum message size",
);
pub const ADDRESS_TOO_LONG: Reply = Reply::new(
    553,
    "5.1.3",
    "Address too long (local part 64, domain 255, path 256 octets at most)",
);
pub const BAD_SENDER: Reply = Reply::new(501, "5.1.7", "Bad sender address syntax");
pub const BAD_RCPT: Reply = Reply::new(501, "5.1.3", "Bad recipient address syntax");
pub const BAD_ENVID: Reply = Reply::new(
    501,
    "5.5.4",
    "ENVID must be printable ASCII, at most 100 characters",
);
pub const BAD_ORCPT: Reply = Reply::new(
    501,
    "5.5.4",
    "ORCPT must be addr-type;address, at most 500 characters",
);
pub const BAD_NOTIFY: Reply = Reply::new(
    501,
    "5.5.4",
    "NOTIFY=NEVER cannot be combined with other values",
);
pub const REQUIRETLS_WITHOUT_TLS: Reply =
    Reply::new(530, "5.7.10", "REQUIRETLS needs a TLS session");
pub const INVALID_UTF8_ADDRESS: Reply = Reply::new(553, "5.6.7", "Address is not valid UTF-8");
pub const SOURCE_ROUTE: Reply = Reply::new(553, "5.1.3", "Source routes are not accepted");
pub const NEED_SMTPUTF8: Reply = Reply::new(
    553,
    "5.6.7",
    "Non-ASCII address needs the SMTPUTF8 parameter",
);
pub const BAD_PARAMETER: Reply =
    Reply::new(555, "5.5.4", "Unsupported or invalid MAIL/RCPT parameter");
pub const BAD_PARAMETER_VALUE: Reply =
    Reply::new(501, "5.5.4", "Syntax error in MAIL/RCPT parameter");
pub const DUPLICATE_PARAMETER: Reply = Reply::new(501, "5.5.4", "Duplicate MAIL/RCPT parameter");
pub const NO_ARGUMENTS: Reply = Reply::new(501, "5.5.4", "Syntax error: no arguments allowed");
pub const BAD_BDAT: Reply = Reply::new(501, "5.5.4", "Syntax: BDAT <size> [LAST]");

// Content.
pub const BARE_LINE_ENDING: Reply = Reply::new(
    550,
    "5.5.2",
    "Message rejected: bare CR or LF in message content (see RFC 5321 section 2.3.8)",
)
.closing();
pub const NUL_IN_CONTENT: Reply = Reply::new(
    554,
    "5.6.0",
    "Message rejected: NUL byte in message content",
);
pub const CONTENT_LINE_TOO_LONG: Reply = Reply::new(
    500,
    "5.2.3",
    "Message rejected: line longer than 998 octets",
);

// Relaying and authentication.
pub const AUTH_REQUIRED: Reply = Reply::new(530, "5.7.0", "Authentication required");
pub const ENCRYPTION_REQUIRED: Reply = Reply::new(
    538,
    "5.7.11",
    "Encryption required for requested authentication mechanism",
);
pub const AUTH_FAILED: Reply = Reply::new(535, "5.7.8", "Authentication credentials invalid");
pub const AUTH_LOCKED: Reply = Reply::new(
    421,
    "4.7.0",
    "Too many failed authentication attempts; try again later",
)
.closing();
/// RFC 4954 §6: no password check was free in time (a burst of AUTHs); nothing was checked.
pub const AUTH_BUSY: Reply = Reply::new(454, "4.7.0", "Temporary authentication failure");
pub const AUTH_ALREADY: Reply = Reply::new(503, "5.5.1", "Already authenticated");
pub const AUTH_IN_TRANSACTION: Reply =
    Reply::new(503, "5.5.1", "AUTH not allowed during a mail transaction");
pub const AUTH_MECHANISM: Reply = Reply::new(504, "5.5.4", "Unrecognized authentication mechanism");
pub const AUTH_CANCELLED: Reply = Reply::new(501, "5.0.0", "Authentication cancelled");
pub const AUTH_BAD_BASE64: Reply = Reply::new(501, "5.5.2", "Invalid base64 data");

pub fn sender_not_owned(tenant: &str) -> Reply {
    Reply::dynamic(
        550,
        "5.7.1",
        format!("Sender address not owned by tenant {tenant}"),
    )
}

/// A recipient on the tenant's suppression list: a bad destination mailbox as far as this
/// tenant is concerned (RFC 3463 5.1.1), with why and since when, so the application can
/// tell a suppression from a remote refusal.
pub fn suppressed(address: &str, reason: &str, since: &str) -> Reply {
    Reply::dynamic(
        550,
        "5.1.1",
        format!(
            "<{address}>: recipient is on the tenant's suppression list ({reason} since {since})"
        ),
    )
}
/// The tenant's suppression list could not be read (the shared server of `[cluster]` did not
/// answer in time and `cluster.suppressions_on_unavailable` is `tempfail`): try again later.
pub const SUPPRESSIONS_UNAVAILABLE: Reply = Reply::new(
    451,
    "4.3.0",
    "Suppression list unavailable; try again later",
);
/// A feedback-report transaction (`[complaints] address`) takes that one recipient only; the
/// client sends the others in a transaction of their own (RFC 5321 §4.5.3.1.10).
pub const COMPLAINT_ALONE: Reply = Reply::new(
    452,
    "4.5.3",
    "Feedback reports go in a transaction of their own; send this recipient separately",
);
pub const COMPLAINT_TAKEN: Reply = Reply::new(250, "2.0.0", "Feedback report received");
/// Mail to the complaints address that is not an RFC 5965 feedback report.
pub fn not_a_feedback_report(why: &str) -> Reply {
    Reply::dynamic(
        550,
        "5.6.0",
        format!("Not a feedback report (RFC 5965): {why}"),
    )
}

// STARTTLS.
pub const TLS_ACTIVE: Reply = Reply::new(503, "5.5.1", "TLS already active");
pub const TLS_ARGUMENT: Reply = Reply::new(501, "5.5.4", "STARTTLS takes no parameters");
pub const TLS_IN_TRANSACTION: Reply = Reply::new(
    503,
    "5.5.1",
    "STARTTLS not allowed during a mail transaction",
);

// Resources and service state.
pub const TOO_MANY_CONNECTIONS: Reply =
    Reply::new(421, "4.7.0", "Too many connections; try again later").closing();
pub const SHUTTING_DOWN: Reply =
    Reply::new(421, "4.3.2", "Service shutting down; try again later").closing();
pub const TIMEOUT: Reply =
    Reply::new(421, "4.4.2", "Timeout exceeded; closing connection").closing();
pub const DISK_LOW: Reply =
    Reply::new(452, "4.3.1", "Insufficient system storage; try again later");
pub const SPOOL_FAILED: Reply = Reply::new(
    451,
    "4.3.0",
    "Temporary failure writing the message to disk; try again later",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        let mut out = Vec::new();
        TOO_MANY_RCPTS.write_to(&mut out);
        assert_eq!(out, b"452 4.5.3 Too many recipients\r\n");
        out.clear();
        Reply::dynamic(250, "", "a\nb".into()).write_to(&mut out);
        assert_eq!(out, b"250-a\r\n250 b\r\n");
    }

    #[test]
    fn text_is_printable_ascii_on_the_wire() {
        let mut out = Vec::new();
        Reply::dynamic(250, "", "greets caf\u{e9}.\u{202e}x\tz\u{7f}\ntwo".into())
            .write_to(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "250-greets caf\\u{e9}.\\u{202e}x\\u{9}z\\u{7f}\r\n250 two\r\n"
        );
    }

    #[test]
    fn lines_never_pass_512_octets() {
        let mut out = Vec::new();
        Reply::dynamic(
            550,
            "5.7.1",
            format!("{}\n{}", "a".repeat(600), "\u{2028}".repeat(100)),
        )
        .write_to(&mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), 510);
        assert!(
            lines[1].len() <= 510 && lines[1].ends_with("\\u{2028}"),
            "{}",
            lines[1]
        );
    }
}
