//! The `message` resource: the message at the data hook, parsed once by the host with
//! mail-parser (lazily, on the first question any plugin asks) and shared by the whole chain.
//! Each accessor copies out only what it returns.

use crate::plugin::wit::{Attachment, Header};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use std::sync::{Arc, OnceLock};

/// Longest list or string an accessor returns; bigger answers are cut.
const MAX_ANSWER: usize = 4 << 20;

#[derive(Default)]
struct Parsed {
    headers: Vec<(String, String, Option<String>)>,
    subject: Option<String>,
    text: Option<String>,
    html: Option<String>,
    attachments: Vec<(Option<String>, String, u64, Vec<u8>)>,
}

/// One message, shared by every plugin instance of the chain.
pub struct ParsedMessage {
    raw: Arc<Vec<u8>>,
    parsed: OnceLock<Parsed>,
}

impl ParsedMessage {
    pub fn new(raw: Arc<Vec<u8>>) -> Arc<ParsedMessage> {
        Arc::new(ParsedMessage {
            raw,
            parsed: OnceLock::new(),
        })
    }

    /// The raw bytes back, without a copy when no one else holds the message.
    pub fn into_raw(self: Arc<Self>) -> Vec<u8> {
        match Arc::try_unwrap(self) {
            Ok(m) => Arc::try_unwrap(m.raw).unwrap_or_else(|raw| raw.as_ref().clone()),
            Err(shared) => shared.raw.as_ref().clone(),
        }
    }

    fn parsed(&self) -> &Parsed {
        self.parsed.get_or_init(|| parse(&self.raw))
    }
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_ANSWER {
        let mut end = MAX_ANSWER;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn parse(raw: &[u8]) -> Parsed {
    let Some(m) = MessageParser::default().parse(raw) else {
        return Parsed::default();
    };
    let headers = m
        .headers()
        .iter()
        .map(|h| {
            let rawv = raw
                .get(h.offset_start() as usize..h.offset_end() as usize)
                .map(|b| String::from_utf8_lossy(b).trim().to_owned())
                .unwrap_or_default();
            let decoded = h.value().as_text().map(str::to_owned);
            (h.name().to_owned(), rawv, decoded)
        })
        .collect();
    Parsed {
        headers,
        subject: m.subject().map(str::to_owned),
        text: m.body_text(0).map(|t| cut(t.into_owned())),
        // Only a real text/html part: mail-parser would otherwise render plain text as
        // HTML (a copy of the body no plugin asked for, made for every message).
        html: m
            .html_body
            .first()
            .and_then(|&i| m.part(i))
            .and_then(|part| match &part.body {
                PartType::Html(html) => Some(cut(html.clone().into_owned())),
                _ => None,
            }),
        attachments: m
            .attachments()
            .map(|a| {
                let ct = a
                    .content_type()
                    .map(|c| match c.subtype() {
                        Some(sub) => format!("{}/{}", c.ctype(), sub),
                        None => c.ctype().to_owned(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".into());
                let contents = a.contents();
                let head = contents[..contents.len().min(16)].to_vec();
                (
                    a.attachment_name().map(str::to_owned),
                    ct.to_ascii_lowercase(),
                    contents.len() as u64,
                    head,
                )
            })
            .collect(),
    }
}

/// URLs in text: `http://` and `https://` tokens, and `href="…"` values.
fn find_links(text: &str, out: &mut Vec<String>) {
    let lower = text.to_ascii_lowercase();
    let mut i = 0;
    while let Some(pos) = lower[i..].find("http").map(|p| p + i) {
        let rest = &lower[pos..];
        if rest.starts_with("http://") || rest.starts_with("https://") {
            let end = text[pos..]
                .find(|c: char| {
                    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')' | ']')
                })
                .map_or(text.len(), |e| pos + e);
            out.push(text[pos..end].to_owned());
            i = end;
        } else {
            i = pos + 4;
        }
    }
}

/// What a guest's `message` handle points at.
pub struct MessageView(pub Arc<ParsedMessage>);

impl MessageView {
    pub fn raw_size(&self) -> u64 {
        self.0.raw.len() as u64
    }

    pub fn header(&self, name: &str) -> Vec<String> {
        self.0
            .parsed()
            .headers
            .iter()
            .filter(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, raw, decoded)| decoded.clone().unwrap_or_else(|| raw.clone()))
            .collect()
    }

    pub fn headers(&self) -> Vec<Header> {
        self.0
            .parsed()
            .headers
            .iter()
            .map(|(n, v, _)| Header {
                name: n.clone(),
                value: v.clone(),
            })
            .collect()
    }

    pub fn subject(&self) -> Option<String> {
        self.0.parsed().subject.clone()
    }

    pub fn text_body(&self) -> Option<String> {
        self.0.parsed().text.clone()
    }

    pub fn html_body(&self) -> Option<String> {
        self.0.parsed().html.clone()
    }

    pub fn attachments(&self) -> Vec<Attachment> {
        self.0
            .parsed()
            .attachments
            .iter()
            .map(|(name, ct, size, head)| Attachment {
                name: name.clone(),
                content_type: ct.clone(),
                size: *size,
                head: head.clone(),
            })
            .collect()
    }

    pub fn links(&self) -> Vec<String> {
        let p = self.0.parsed();
        let mut out = Vec::new();
        for body in [&p.text, &p.html].into_iter().flatten() {
            find_links(body, &mut out);
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|l| seen.insert(l.clone()));
        out
    }

    pub fn raw(&self, offset: u64, len: u64) -> Vec<u8> {
        let raw = &self.0.raw;
        let start = (offset as usize).min(raw.len());
        let end = start
            .saturating_add((len as usize).min(MAX_ANSWER))
            .min(raw.len());
        raw[start..end].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lazily_and_answers() {
        let raw = b"Subject: =?utf-8?q?Caf=C3=A9?=\r\nX-A: 1\r\nContent-Type: text/html\r\n\r\n<a href=\"https://ex.test/x\">go</a> http://b.test/y\r\n";
        let m = MessageView(ParsedMessage::new(Arc::new(raw.to_vec())));
        assert!(m.0.parsed.get().is_none());
        assert_eq!(m.subject().as_deref(), Some("Café"));
        assert_eq!(m.header("x-a"), vec!["1"]);
        let mut links = m.links();
        links.sort();
        assert_eq!(links, vec!["http://b.test/y", "https://ex.test/x"]);
        assert_eq!(m.raw(0, 8), b"Subject:");
        assert_eq!(m.raw(10_000, 5), b"");
    }

    #[test]
    fn html_body_is_only_real_html() {
        let plain = MessageView(ParsedMessage::new(Arc::new(
            b"Subject: s\r\n\r\nplain words\r\n".to_vec(),
        )));
        assert_eq!(plain.html_body(), None);
        assert_eq!(plain.text_body().as_deref(), Some("plain words\r\n"));
        let html_only = MessageView(ParsedMessage::new(Arc::new(
            b"Content-Type: text/html\r\n\r\n<p>hello <b>there</b></p>\r\n".to_vec(),
        )));
        assert!(html_only.html_body().unwrap().contains("<b>there</b>"));
        // Text is still offered for an HTML-only message, converted.
        assert!(html_only.text_body().unwrap().contains("hello there"));
    }
}

#[cfg(test)]
mod bombs {
    use super::*;

    /// A MIME nesting bomb and a header bomb parse in bounded time without overflowing the
    /// stack (the parse runs in the relay, on behalf of plugins).
    #[test]
    fn nesting_and_header_bombs_are_harmless() {
        let mut m = String::new();
        for i in 0..5000 {
            m.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
            ));
        }
        m.push_str("Content-Type: text/plain\r\n\r\ndeep\r\n");
        let started = std::time::Instant::now();
        let v = MessageView(ParsedMessage::new(Arc::new(m.into_bytes())));
        let _ = v.attachments();
        let _ = v.text_body();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));

        let mut h = String::new();
        for i in 0..100_000 {
            h.push_str(&format!("X-H{i}: v\r\n"));
        }
        h.push_str("\r\nbody\r\n");
        let v = MessageView(ParsedMessage::new(Arc::new(h.into_bytes())));
        assert!(v.headers().len() >= 1000);
        assert_eq!(v.header("x-h99999"), vec!["v"]);
    }
}
