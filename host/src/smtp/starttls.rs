//! STARTTLS (RFC 3207).

use super::reply;
use super::session::{Next, Session};

impl Session {
    pub(super) fn starttls(&mut self, line: &[u8]) -> Option<Next> {
        if self.tls.is_some() {
            self.reply(reply::TLS_ACTIVE);
            return None;
        }
        if !line.trim_ascii().eq_ignore_ascii_case(b"STARTTLS") {
            self.reply(reply::TLS_ARGUMENT);
            return None;
        }
        if self.tx.is_some() {
            self.reply(reply::TLS_IN_TRANSACTION);
            return None;
        }
        if self.live.tls.is_none() {
            self.reply(reply::Reply::new(454, "4.7.0", "TLS not available"));
            return None;
        }
        self.reply(reply::START_TLS);
        // Anything the client pipelined after STARTTLS arrived in plaintext and must not be
        // read as if it came over TLS (CVE-2011-0411).
        self.input.clear();
        Some(Next::StartTls)
    }
}
