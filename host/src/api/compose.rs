//! What `POST /v1/messages` takes, and the message made from it: a raw RFC 5322 message with
//! its envelope, or fields that mail-builder turns into MIME. Every check that refuses a
//! request is here, each with a 4xx problem naming the field; nothing refused is queued.
//!
//! Addresses follow the same grammar as SMTP paths (`sluice_wire::path`), header fields the
//! same rules as a plugin's added headers (`sluice_wire::header`: no CR, LF or other control
//! characters, so no header can be injected), and raw content the same framing as BDAT, with
//! bare line endings turned into CRLF.

use crate::admin::problem::Problem;
use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use mail_builder::headers::address::Address as MimeAddress;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::text::Text;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use sluice_wire::framing::{ContentDecoder, Violation};
use sluice_wire::path::{self, PathError};
use std::collections::BTreeMap;
use std::fmt;

/// Tags one message may carry, and their length.
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_LEN: usize = 64;
/// Metadata entries one message may carry, and the length of a key and of a value.
pub const MAX_METADATA: usize = 20;
pub const MAX_METADATA_KEY: usize = 64;
pub const MAX_METADATA_VALUE: usize = 512;
/// The longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The JSON form of one message (also each item of a batch).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    pub from: Option<Address>,
    #[serde(default)]
    pub to: Vec<Address>,
    #[serde(default)]
    pub cc: Vec<Address>,
    #[serde(default)]
    pub bcc: Vec<Address>,
    #[serde(default)]
    pub reply_to: Vec<Address>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// More header fields, name → value.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub idempotency_key: Option<String>,
    /// A whole RFC 5322 message, base64; then `envelope` is required and the fields that
    /// build a message are left out.
    pub raw: Option<Base64>,
    /// MAIL FROM and RCPT TO, when they differ from the header fields (required with `raw`).
    pub envelope: Option<EnvelopeRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeRequest {
    /// The reverse path (bounces go there); `""` for the null sender.
    pub from: String,
    pub to: Vec<String>,
}

/// `"a@example.com"` or `{"email": "a@example.com", "name": "A"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    pub email: String,
    pub name: Option<String>,
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Address;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    r#"an address: "a@example.com" or {"email": "a@example.com", "name": "A"}"#,
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Address, E> {
                Ok(Address {
                    email: v.to_owned(),
                    name: None,
                })
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Address, M::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Named {
                    email: String,
                    name: Option<String>,
                }
                let n = Named::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Address {
                    email: n.email,
                    name: n.name,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub filename: String,
    /// Default `application/octet-stream`.
    pub content_type: Option<String>,
    pub content: Base64,
    /// Set for an inline part that the HTML refers to as `cid:…`.
    pub content_id: Option<String>,
}

/// Bytes given as standard base64 (line breaks allowed).
#[derive(Debug, PartialEq)]
pub struct Base64(pub Vec<u8>);

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Base64, D::Error> {
        let text = String::deserialize(d)?;
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        B64.decode(&compact)
            .map(Base64)
            .map_err(|e| de::Error::custom(format!("not valid base64: {e}")))
    }
}

/// A request checked and made into what the relay queues.
#[derive(Debug)]
pub struct Submission {
    /// MAIL FROM in its wire form ("" for the null sender).
    pub from: String,
    /// RCPT TO in their wire forms, duplicates removed, in order.
    pub rcpts: Vec<String>,
    /// The message without the relay's trace headers, CRLF line endings.
    pub content: Vec<u8>,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    /// Any address is not ASCII (RFC 6531).
    pub smtputf8: bool,
}

/// What the relay adds that a built message needs before its fields are written.
pub struct Stamp<'a> {
    pub message_id: String,
    pub date: i64,
    pub postmaster: &'a str,
}

/// Limits the relay applies to every message.
pub struct Limits {
    pub max_message_size: u64,
    pub max_recipients: usize,
}

fn bad(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "Invalid request", detail)
}

fn bad_field(field: &str, detail: impl fmt::Display) -> Problem {
    bad(format!("{field}: {detail}")).with("field", field)
}

pub fn too_large(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "Too large", detail)
}

/// Checks an address by the SMTP path grammar; returns its wire form.
fn mailbox(field: &str, text: &str, postmaster: Option<&str>) -> Result<String, Problem> {
    match path::mailbox(text) {
        Ok(p) if p.mailbox.eq_ignore_ascii_case("postmaster") => match postmaster {
            Some(pm) => Ok(pm.to_owned()),
            None => Err(bad_field(field, "not an address with a domain")),
        },
        Ok(p) if p.mailbox.is_empty() => Err(bad_field(field, "an empty address")),
        Ok(p) => Ok(p.mailbox),
        Err(PathError::SourceRoute) => Err(bad_field(field, "source routes are not accepted")),
        Err(PathError::TooLong) => Err(bad_field(
            field,
            "too long (local part 64, domain 255, address 254 octets at most)",
        )),
        Err(PathError::InvalidUtf8 | PathError::Syntax) => Err(bad_field(
            field,
            format!(
                "{:?} is not an address (RFC 5321 mailbox, without angle brackets)",
                text.escape_debug().to_string()
            ),
        )),
    }
}

/// Text that goes into a header field: no CR, LF or other control character.
fn header_text(field: &str, text: &str) -> Result<(), Problem> {
    if text.chars().any(|c| c.is_control() && c != '\t') {
        return Err(bad_field(
            field,
            "holds a line break or another control character (header injection is refused)",
        ));
    }
    if text.len() > sluice_wire::header::MAX_VALUE {
        return Err(bad_field(
            field,
            format!("{} octets at most", sluice_wire::header::MAX_VALUE),
        ));
    }
    Ok(())
}

/// Header fields the request sets through its own fields (or the relay sets).
const RESERVED_HEADERS: &[(&str, &str)] = &[
    ("from", "from"),
    ("to", "to"),
    ("cc", "cc"),
    ("bcc", "bcc"),
    ("reply-to", "reply_to"),
    ("subject", "subject"),
    ("date", "(set by the relay)"),
    ("mime-version", "(set by the relay)"),
    ("content-type", "text, html, attachments"),
    ("content-transfer-encoding", "(set by the relay)"),
    ("content-disposition", "attachments"),
    ("received", "(set by the relay)"),
    ("return-path", "envelope.from"),
];

/// Checks tags and metadata against their bounds.
pub fn check_labels(tags: &[String], metadata: &BTreeMap<String, String>) -> Result<(), Problem> {
    if tags.len() > MAX_TAGS {
        return Err(bad_field("tags", format!("{MAX_TAGS} tags at most")));
    }
    for (i, t) in tags.iter().enumerate() {
        if t.is_empty()
            || t.len() > MAX_TAG_LEN
            || !t.bytes().all(|b| b.is_ascii_graphic() && b != b',')
        {
            return Err(bad_field(
                &format!("tags[{i}]"),
                format!("1 to {MAX_TAG_LEN} printable ASCII characters, no comma or space"),
            ));
        }
    }
    if metadata.len() > MAX_METADATA {
        return Err(bad_field(
            "metadata",
            format!("{MAX_METADATA} entries at most"),
        ));
    }
    for (k, v) in metadata {
        if k.is_empty() || k.len() > MAX_METADATA_KEY || !k.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad_field(
                "metadata",
                format!("key {k:?}: 1 to {MAX_METADATA_KEY} printable ASCII characters"),
            ));
        }
        if v.len() > MAX_METADATA_VALUE || v.chars().any(char::is_control) {
            return Err(bad_field(
                &format!("metadata.{k}"),
                format!("{MAX_METADATA_VALUE} octets at most, no control characters"),
            ));
        }
    }
    Ok(())
}

/// Checks an idempotency key: 1 to 255 printable ASCII characters.
pub fn check_idempotency_key(key: &str) -> Result<(), Problem> {
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(bad_field(
            "idempotency_key",
            format!("1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"),
        ));
    }
    Ok(())
}

/// Raw content in the canonical CRLF form: bare CR or LF become CRLF, a NUL or a line over
/// 998 octets is refused, and so is a message over the size limit.
pub fn raw_content(bytes: &[u8], max_size: u64) -> Result<Vec<u8>, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_field("raw", "the message is empty"));
    }
    let mut decoder = ContentDecoder::chunks(max_size, true);
    let mut out = Vec::with_capacity(bytes.len().min(max_size as usize) + 2);
    decoder.feed(bytes, &mut out);
    decoder.finish_chunks(&mut out);
    match decoder.violation() {
        None => Ok(out),
        Some(Violation::TooBig) => Err(too_large(format!(
            "the message is {} octets; server.max_message_size is {max_size}",
            decoder.size()
        ))),
        Some(Violation::Nul) => Err(bad_field("raw", "the message holds a NUL byte")),
        Some(Violation::LineTooLong) => Err(bad_field(
            "raw",
            "a line is longer than 998 octets (RFC 5322 §2.1.1)",
        )),
        Some(Violation::BareCr | Violation::BareLf) => Err(bad_field(
            "raw",
            "bare line endings could not be normalized",
        )),
    }
}

/// The recipients, checked, with duplicates (compared case-insensitively) removed.
fn recipients<'a>(
    fields: impl Iterator<Item = (String, &'a str)>,
    postmaster: &str,
    limits: &Limits,
) -> Result<Vec<String>, Problem> {
    let mut rcpts: Vec<String> = Vec::new();
    for (field, text) in fields {
        let m = mailbox(&field, text, Some(postmaster))?;
        if !rcpts.iter().any(|r| r.eq_ignore_ascii_case(&m)) {
            rcpts.push(m);
        }
    }
    if rcpts.is_empty() {
        return Err(bad_field(
            "to",
            "at least one recipient (to, cc, bcc or envelope.to)",
        ));
    }
    if rcpts.len() > limits.max_recipients {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Too many recipients",
            format!(
                "{} recipients; server.max_recipients is {}",
                rcpts.len(),
                limits.max_recipients
            ),
        )
        .with("max_recipients", limits.max_recipients));
    }
    Ok(rcpts)
}

fn named<'a>(list: &'a [Address], field: &str) -> impl Iterator<Item = (String, &'a str)> + 'a {
    let field = field.to_owned();
    list.iter()
        .enumerate()
        .map(move |(i, a)| (format!("{field}[{i}]"), a.email.as_str()))
}

impl MessageRequest {
    /// Checks the request and makes the message. `stamp` gives the Message-ID and Date a
    /// built message gets.
    pub fn into_submission(
        self,
        stamp: &Stamp<'_>,
        limits: &Limits,
    ) -> Result<Submission, Problem> {
        check_labels(&self.tags, &self.metadata)?;
        if self.raw.is_some() {
            self.refuse_fields_beside_raw()?;
        }
        if let Some(k) = &self.idempotency_key {
            check_idempotency_key(k)?;
        }
        let (from, rcpts) = match &self.envelope {
            Some(env) => {
                let from = if env.from.is_empty() {
                    String::new()
                } else {
                    mailbox("envelope.from", &env.from, None)?
                };
                let rcpts = recipients(
                    env.to
                        .iter()
                        .enumerate()
                        .map(|(i, t)| (format!("envelope.to[{i}]"), t.as_str())),
                    stamp.postmaster,
                    limits,
                )?;
                (from, rcpts)
            }
            None => {
                let Some(from) = &self.from else {
                    return Err(bad_field("from", "missing field `from`"));
                };
                let from = mailbox("from", &from.email, None)?;
                let all = named(&self.to, "to")
                    .chain(named(&self.cc, "cc"))
                    .chain(named(&self.bcc, "bcc"));
                (from, recipients(all, stamp.postmaster, limits)?)
            }
        };
        let smtputf8 = !from.is_ascii() || rcpts.iter().any(|r| !r.is_ascii());
        let content = match &self.raw {
            Some(Base64(raw)) => raw_content(raw, limits.max_message_size)?,
            None => self.build(stamp, limits)?,
        };
        Ok(Submission {
            from,
            rcpts,
            content,
            tags: self.tags,
            metadata: self.metadata,
            smtputf8,
        })
    }

    fn refuse_fields_beside_raw(&self) -> Result<(), Problem> {
        if self.envelope.is_none() {
            return Err(bad_field(
                "envelope",
                "required with `raw` (envelope.from and envelope.to)",
            ));
        }
        let set = [
            ("from", self.from.is_some()),
            ("to", !self.to.is_empty()),
            ("cc", !self.cc.is_empty()),
            ("bcc", !self.bcc.is_empty()),
            ("reply_to", !self.reply_to.is_empty()),
            ("subject", self.subject.is_some()),
            ("text", self.text.is_some()),
            ("html", self.html.is_some()),
            ("attachments", !self.attachments.is_empty()),
            ("headers", !self.headers.is_empty()),
        ];
        match set.iter().find(|(_, present)| *present) {
            Some((field, _)) => Err(bad_field(
                field,
                "`raw` is the whole message: leave this out (or build the message from fields)",
            )),
            None => Ok(()),
        }
    }

    /// The MIME message, built by mail-builder from the fields.
    fn build(&self, stamp: &Stamp<'_>, limits: &Limits) -> Result<Vec<u8>, Problem> {
        if self.text.is_none() && self.html.is_none() && self.attachments.is_empty() {
            return Err(bad_field(
                "text",
                "a message needs text, html or attachments",
            ));
        }
        let from = self
            .from
            .as_ref()
            .ok_or_else(|| bad_field("from", "missing field `from`"))?;
        let mut message = MessageBuilder::new();
        for (field, list) in [
            ("from", std::slice::from_ref(from)),
            ("to", &self.to[..]),
            ("cc", &self.cc[..]),
            ("reply_to", &self.reply_to[..]),
        ] {
            if list.is_empty() {
                continue;
            }
            let mut addresses = Vec::with_capacity(list.len());
            for (i, a) in list.iter().enumerate() {
                let at = if field == "from" {
                    field.to_owned()
                } else {
                    format!("{field}[{i}]")
                };
                let email = mailbox(&at, &a.email, None)?;
                if let Some(n) = &a.name {
                    header_text(&format!("{at}.name"), n)?;
                }
                addresses.push(MimeAddress::new_address(a.name.clone(), email));
            }
            let value = if addresses.len() == 1 {
                addresses.remove(0)
            } else {
                MimeAddress::new_list(addresses)
            };
            let name = match field {
                "from" => "From",
                "to" => "To",
                "cc" => "Cc",
                _ => "Reply-To",
            };
            message = message.header(name, value);
        }
        if let Some(s) = &self.subject {
            header_text("subject", s)?;
            message = message.subject(s.clone());
        }
        message = message
            .message_id(stamp.message_id.clone())
            .date(stamp.date);
        for (name, value) in &self.headers {
            let at = format!("headers.{name}");
            if let Some((_, instead)) = RESERVED_HEADERS
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(name))
            {
                return Err(bad_field(&at, format!("not allowed here; use {instead}")));
            }
            if let Err(e) = sluice_wire::header::field(name, value) {
                return Err(bad_field(
                    &at,
                    format!("refused ({e}); header injection is refused"),
                ));
            }
            if name.eq_ignore_ascii_case("message-id") {
                // The application's own Message-ID replaces the relay's.
                message.headers.retain(|(h, _)| h != "Message-ID");
            }
            message = message.header(name.clone(), Text::new(value.clone()));
        }
        if let Some(t) = &self.text {
            message = message.text_body(t.clone());
        }
        if let Some(h) = &self.html {
            message = message.html_body(h.clone());
        }
        for (i, a) in self.attachments.iter().enumerate() {
            let at = format!("attachments[{i}]");
            header_text(&format!("{at}.filename"), &a.filename)?;
            if a.filename.is_empty() {
                return Err(bad_field(&format!("{at}.filename"), "empty"));
            }
            let content_type = a
                .content_type
                .as_deref()
                .unwrap_or("application/octet-stream");
            if !is_media_type(content_type) {
                return Err(bad_field(
                    &format!("{at}.content_type"),
                    "not a media type such as \"application/pdf\"",
                ));
            }
            match &a.content_id {
                Some(cid) => {
                    if cid.is_empty()
                        || !cid
                            .bytes()
                            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
                    {
                        return Err(bad_field(
                            &format!("{at}.content_id"),
                            "printable ASCII without spaces or angle brackets",
                        ));
                    }
                    let disposition =
                        ContentType::new("inline").attribute("filename", a.filename.clone());
                    let part = MimePart::new(content_type.to_owned(), a.content.0.clone())
                        .header("Content-Disposition", disposition)
                        .cid(cid.clone());
                    message.attachments.get_or_insert_with(Vec::new).push(part);
                }
                None => {
                    message = message.attachment(
                        content_type.to_owned(),
                        a.filename.clone(),
                        a.content.0.clone(),
                    );
                }
            }
        }
        let built = message
            .write_to_vec()
            .map_err(|e| Problem::internal(format!("building the message: {e}")))?;
        if built.len() as u64 > limits.max_message_size {
            return Err(too_large(format!(
                "the message is {} octets; server.max_message_size is {}",
                built.len(),
                limits.max_message_size
            )));
        }
        Ok(built)
    }
}

/// `type/subtype` of RFC 2045 tokens, without parameters.
fn is_media_type(t: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    matches!(t.split_once('/'), Some((a, b)) if token(a) && token(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_message_size: 1 << 20,
        max_recipients: 3,
    };

    fn stamp() -> Stamp<'static> {
        Stamp {
            message_id: "ID.1@relay.test".into(),
            date: 1_700_000_000,
            postmaster: "postmaster@relay.test",
        }
    }

    fn request(json: &str) -> Result<Submission, Problem> {
        let r: MessageRequest = serde_json::from_str(json).expect("parses");
        r.into_submission(&stamp(), &LIMITS)
    }

    #[test]
    fn builds_mime_that_mail_parser_reads_back() {
        let s = request(
            r#"{"from": {"email": "app@example.com", "name": "Ünïcode App"},
                "to": ["a@x.test", "A@X.test"], "bcc": ["hidden@y.test"],
                "subject": "Grüße", "text": "hello\nworld", "html": "<p>hi</p>",
                "headers": {"X-Campaign": "spring"},
                "attachments": [{"filename": "r.pdf", "content_type": "application/pdf", "content": "JVBERi0="}]}"#,
        )
        .unwrap();
        assert_eq!(s.from, "app@example.com");
        assert_eq!(s.rcpts, ["a@x.test", "hidden@y.test"]);
        let text = String::from_utf8_lossy(&s.content).into_owned();
        assert!(
            !text.contains("hidden@y.test"),
            "Bcc must not be written: {text}"
        );
        assert!(text.contains("Message-ID: <ID.1@relay.test>"), "{text}");
        let m = mail_parser::MessageParser::new().parse(&s.content).unwrap();
        assert_eq!(m.subject(), Some("Grüße"));
        assert_eq!(m.body_text(0).as_deref(), Some("hello\r\nworld"));
        assert_eq!(m.attachment(0).unwrap().contents(), b"%PDF-");
        assert_eq!(m.header_raw("X-Campaign").map(str::trim), Some("spring"));
    }

    #[test]
    fn refuses_injection_and_bad_fields() {
        let cases = [
            (
                r#"{"from": "app@example.com", "to": ["a@x.test"], "subject": "hi\r\nBcc: v@x.test", "text": "x"}"#,
                "subject",
            ),
            (
                r#"{"from": "app@example.com", "to": ["a@x.test"], "headers": {"X-A": "1\nBcc: v@x.test"}, "text": "x"}"#,
                "headers.X-A",
            ),
            (
                r#"{"from": "app@example.com", "to": ["a@x.test"], "headers": {"Subject": "again"}, "text": "x"}"#,
                "headers.Subject",
            ),
            (
                r#"{"from": "app@example.com", "to": ["a@x.test>\r\nRCPT TO:<b@y.test"], "text": "x"}"#,
                "to[0]",
            ),
            (
                r#"{"from": "app@@example.com", "to": ["a@x.test"], "text": "x"}"#,
                "from",
            ),
            (
                r#"{"from": "app@example.com", "to": [], "text": "x"}"#,
                "to",
            ),
            (r#"{"from": "app@example.com", "to": ["a@x.test"]}"#, "text"),
            (
                r#"{"from": "app@example.com", "to": ["a@x.test"], "text": "x", "tags": ["a,b"]}"#,
                "tags[0]",
            ),
            (r#"{"raw": "U3ViamVjdDogeA0KDQp4DQo="}"#, "envelope"),
            (
                r#"{"raw": "U3ViamVjdDogeA0KDQp4DQo=", "envelope": {"from": "a@example.com", "to": ["b@x.test"]}, "subject": "x"}"#,
                "subject",
            ),
        ];
        for (json, field) in cases {
            let p = request(json).expect_err(json);
            assert_eq!(p.status, StatusCode::BAD_REQUEST, "{json}: {p:?}");
            assert_eq!(p.extensions["field"], field, "{json}: {p:?}");
        }
        let p = request(r#"{"from": "app@example.com", "to": ["a@x.test", "b@x.test", "c@x.test", "d@x.test"], "text": "x"}"#).unwrap_err();
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn raw_content_is_normalized_and_bounded() {
        let s = request(
            r#"{"raw": "U3ViamVjdDogeAoKeAo=", "envelope": {"from": "", "to": ["b@x.test"]}}"#,
        )
        .unwrap();
        assert_eq!(s.content, b"Subject: x\r\n\r\nx\r\n");
        assert_eq!(s.from, "");
        let p = raw_content(&[b'a'; 2000], 100).unwrap_err();
        assert_eq!(p.status, StatusCode::PAYLOAD_TOO_LARGE);
        let p = raw_content(b"a\0b\r\n", 100).unwrap_err();
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn base64_and_address_forms() {
        let e = serde_json::from_str::<MessageRequest>(r#"{"raw": "%%%"}"#).unwrap_err();
        assert!(e.to_string().contains("not valid base64"), "{e}");
        let e =
            serde_json::from_str::<MessageRequest>(r#"{"from": {"mail": "a@b.c"}}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `mail`"), "{e}");
        let e = serde_json::from_str::<MessageRequest>(r#"{"to": "a@b.c"}"#).unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
    }
}
