//! EHLO and HELO.

use super::reply::{self, Reply};
use super::session::{Helo, Session};
use crate::pipeline::Stage;

impl Session {
    pub(super) async fn ehlo(&mut self, host: &str, extended: bool) {
        if host.is_empty()
            || host.len() > 255
            || host
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || is_invisible(c))
        {
            self.reply(reply::BAD_HELO);
            return;
        }
        // A new greeting resets any transaction (RFC 5321 §4.1.4).
        self.end_transaction();
        self.helo = Some(Helo {
            name: host.to_owned(),
            extended,
        });
        if let Err(r) = self.hook(Stage::Helo, None, None, None).await {
            self.helo = None;
            self.reply(r);
            return;
        }
        let config = &self.live.config;
        // The name is echoed as the client sent it; the reply escapes anything but printable
        // ASCII on the wire (reply.rs).
        let mut lines = vec![format!("{} greets {host}", config.hostname)];
        if extended {
            lines.extend(
                [
                    "PIPELINING",
                    "8BITMIME",
                    "SMTPUTF8",
                    "ENHANCEDSTATUSCODES",
                    "CHUNKING",
                    "DSN",
                ]
                .map(String::from),
            );
            lines.push(format!("SIZE {}", config.limits.max_message_size));
            if self.tls.is_none() && self.live.tls.is_some() {
                lines.push("STARTTLS".into());
            }
            if self.tls.is_some() {
                lines.push("REQUIRETLS".into());
            }
            if self.tls.is_some() || !config.auth.require_tls {
                lines.push("AUTH PLAIN LOGIN".into());
            }
        }
        self.reply(Reply::dynamic(250, "", lines.join("\n")));
    }
}

/// Format characters that change how text around them is shown without being seen
/// themselves (bidi embeddings, overrides and isolates, zero-width characters, the BOM): no
/// host name holds them, and a trace header must not carry them.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}
