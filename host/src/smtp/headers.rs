//! Trace and identity headers the relay adds to each message (RFC 5321 §4.4, RFC 5322 §3.6).

use std::time::SystemTime;

/// An RFC 5322 date, e.g. "Mon, 23 Nov 2026 12:00:00 +0000".
pub fn rfc5322_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t).replace(" GMT", " +0000")
}

/// How a message came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// SMTP after HELO (`esmtp` false) or EHLO.
    Smtp { esmtp: bool },
    /// The application API (`POST /v1/messages`); `auth` is then the API key's name.
    Http,
}

/// The facts a Received header records.
pub struct Trace<'a> {
    pub helo: &'a str,
    pub client_ip: std::net::IpAddr,
    pub hostname: &'a str,
    pub queue_id: &'a str,
    pub via: Via,
    pub tls: Option<&'a str>,
    /// The AUTH user (or API key) and its tenant.
    pub auth: Option<(&'a str, &'a str)>,
    pub rcpts: &'a [String],
}

impl Trace<'_> {
    /// The Received header, folded, CRLF-terminated. The protocol keyword follows RFC 3848
    /// for SMTP; a message from the application API says `with HTTP`.
    pub fn received(&self, now: SystemTime) -> String {
        let proto = match (self.via, self.tls.is_some(), self.auth.is_some()) {
            (Via::Http, _, _) => "HTTP",
            (Via::Smtp { esmtp: false }, _, _) => "SMTP",
            (Via::Smtp { esmtp: true }, false, false) => "ESMTP",
            (Via::Smtp { esmtp: true }, true, false) => "ESMTPS",
            (Via::Smtp { esmtp: true }, false, true) => "ESMTPA",
            (Via::Smtp { esmtp: true }, true, true) => "ESMTPSA",
        };
        let mut h = format!(
            "Received: from {} ([{}])\r\n\tby {} (Sluice) with {proto} id {}",
            self.helo, self.client_ip, self.hostname, self.queue_id
        );
        if let Some(tls) = self.tls {
            let (version, cipher) = tls.split_once(' ').unwrap_or((tls, ""));
            h.push_str(&format!("\r\n\t(using {version} with cipher {cipher})"));
        }
        match (self.auth, self.via) {
            (Some((key, tenant)), Via::Http) => {
                h.push_str(&format!("\r\n\t(API key {key}, tenant {tenant})"))
            }
            (Some((user, tenant)), _) => {
                h.push_str(&format!("\r\n\t(authenticated as {user}, tenant {tenant})"))
            }
            (None, _) => {}
        }
        if let [only] = self.rcpts {
            h.push_str(&format!("\r\n\tfor <{only}>"));
        }
        h.push_str(&format!("; {}\r\n", rfc5322_date(now)));
        h
    }
}

/// Which of Message-ID and Date the header section already has.
pub fn has_id_and_date(message: &[u8]) -> (bool, bool) {
    let (mut id, mut date) = (false, false);
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii_end();
        id |= name.eq_ignore_ascii_case(b"message-id");
        date |= name.eq_ignore_ascii_case(b"date");
        if id && date {
            break;
        }
    }
    (id, date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_headers_only_in_the_header_section() {
        assert_eq!(
            has_id_and_date(b"Subject: x\r\nMessage-ID: <a@b>\r\n\r\nDate: no\r\n"),
            (true, false)
        );
        assert_eq!(
            has_id_and_date(b"DATE : Mon\r\n\tfolded\r\nmessage-id:<x>\r\n\r\n"),
            (true, true)
        );
        assert_eq!(
            has_id_and_date(b"\r\nMessage-ID: <body@x>\r\n"),
            (false, false)
        );
    }

    #[test]
    fn received_names_tls_and_auth() {
        let rcpts = vec!["a@b.example".to_string()];
        let t = Trace {
            helo: "client.example",
            client_ip: "127.0.0.1".parse().unwrap(),
            hostname: "relay.example",
            queue_id: "ABC",
            via: Via::Smtp { esmtp: true },
            tls: Some("TLSv1.3 TLS13_AES_128_GCM_SHA256"),
            auth: Some(("demo", "demo")),
            rcpts: &rcpts,
        };
        let h = t.received(SystemTime::UNIX_EPOCH);
        assert!(h.starts_with("Received: from client.example ([127.0.0.1])\r\n\tby relay.example (Sluice) with ESMTPSA id ABC"));
        assert!(h.contains("(using TLSv1.3 with cipher TLS13_AES_128_GCM_SHA256)"));
        assert!(h.ends_with("for <a@b.example>; Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
        let api = Trace {
            helo: "[127.0.0.1]",
            via: Via::Http,
            tls: None,
            auth: Some(("billing", "demo")),
            ..t
        };
        let h = api.received(SystemTime::UNIX_EPOCH);
        assert!(
            h.starts_with("Received: from [127.0.0.1] ([127.0.0.1])\r\n\tby relay.example (Sluice) with HTTP id ABC\r\n\t(API key billing, tenant demo)"),
            "{h}"
        );
    }
}
