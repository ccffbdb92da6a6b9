//! Feedback reports (ARF, RFC 5965): what a mailbox provider's feedback loop sends when one of
//! its users marks a message as spam, read with mail-parser.
//!
//! A report is a `multipart/report; report-type=feedback-report` message with a human part, a
//! `message/feedback-report` part (header-like fields: `Feedback-Type`, `Original-Rcpt-To`,
//! `Original-Mail-From`, `User-Agent`, …) and the reported message (`message/rfc822`) or its
//! header (`text/rfc822-headers`). From it come the recipient who complained (the
//! `Original-Rcpt-To` fields, else the `for <…>` of this relay's `Received` field, else a
//! lone `To:` address) and the tenant who sent it (the tenant this relay's `Received` field
//! names, else the tenant owning the original sender's domain).

use super::{address, Suppressions};
use crate::config::{Config, Tenant};
use crate::smtp::reply::{self, Reply};
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use std::sync::Arc;

/// The most recipients one report may put on a list (RFC 5965 reports name one).
pub const MAX_RECIPIENTS: usize = 10;

/// Takes a report that came to `[complaints] address` over SMTP, for the tenant that sent the
/// reported message. The reply: 250 once it is taken (or when no tenant of this relay sent
/// it, which is logged: refusing would only make the feedback loop retry), 550 5.6.0 when it
/// is not a feedback report, 451 when the suppression could not be written.
pub async fn take_smtp(suppressions: &Suppressions, config: &Config, message: &[u8]) -> Reply {
    let report = match parse(message) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "mail to the complaints address refused: not a feedback report");
            return reply::not_a_feedback_report(&e.to_string());
        }
    };
    let Some(tenant) = report.tenant(config) else {
        tracing::warn!(
            recipients = ?report.recipients, sender = report.sender.as_deref().unwrap_or("-"),
            feedback_type = %report.feedback_type,
            "feedback report about mail no tenant of this relay sent; ignored"
        );
        return reply::COMPLAINT_TAKEN;
    };
    match suppressions.complaint(&tenant.name, &report, "smtp").await {
        Ok(_) => reply::COMPLAINT_TAKEN,
        Err(e) => {
            tracing::error!(error = %e, "feedback report not taken");
            reply::SPOOL_FAILED
        }
    }
}

/// What a report says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// `abuse`, `fraud`, `virus`, `other`, `not-spam`, `auth-failure`… (lower-case).
    pub feedback_type: String,
    /// Who complained, in lookup form (at most [`MAX_RECIPIENTS`]).
    pub recipients: Vec<String>,
    /// `Original-Mail-From`, else the original's Return-Path or From address.
    pub sender: Option<String>,
    /// `User-Agent`, else `Reporting-MTA`: whose feedback loop sent it.
    pub reporter: Option<String>,
    /// The tenant this relay's `Received` field in the original names, if any.
    pub tenant_hint: Option<String>,
    /// The queue id this relay gave the original (its `Received` field's `id`).
    pub queue_id: Option<String>,
}

impl Report {
    /// Whether the report is a complaint about unwanted mail. `not-spam` and authentication
    /// failure reports (RFC 6591) are not.
    pub fn is_complaint(&self) -> bool {
        matches!(
            self.feedback_type.as_str(),
            "abuse" | "fraud" | "virus" | "other"
        )
    }

    /// The tenant that sent the reported message: the one this relay's `Received` field
    /// names, else the one owning the original sender's domain.
    pub fn tenant<'c>(&self, config: &'c Config) -> Option<&'c Arc<Tenant>> {
        let named = self
            .tenant_hint
            .as_deref()
            .and_then(|n| config.tenants.iter().find(|t| t.name == n));
        named.or_else(|| {
            let sender = self.sender.as_deref()?;
            config.tenants.iter().find(|t| t.owns_sender(sender))
        })
    }
}

/// Why a report could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("it is not a MIME message")]
    NotMime,
    #[error("it has no message/feedback-report part")]
    NoFeedbackPart,
    #[error("its feedback report has no Feedback-Type field")]
    NoFeedbackType,
    #[error(
        "it names no recipient (no Original-Rcpt-To field, and the reported message names none)"
    )]
    NoRecipient,
}

/// Reads a whole ARF message (`multipart/report`).
pub fn parse(message: &[u8]) -> Result<Report, ReportError> {
    let parsed = MessageParser::new()
        .parse(message)
        .ok_or(ReportError::NotMime)?;
    let mut fields = None;
    let mut original = None;
    for part in &parsed.parts {
        if part.is_content_type("message", "feedback-report") {
            fields = Some(part.contents());
        } else if let PartType::Message(m) = &part.body {
            original.get_or_insert(Original::of(m));
        } else if part.is_content_type("text", "rfc822-headers") {
            if let Some(m) = MessageParser::new().parse_headers(part.contents()) {
                original.get_or_insert(Original::of(&m));
            }
        }
    }
    let fields = fields.ok_or(ReportError::NoFeedbackPart)?;
    report(fields, original.unwrap_or_default())
}

/// Reads the `message/feedback-report` part alone (its fields, no reported message).
pub fn parse_fields(fields: &[u8]) -> Result<Report, ReportError> {
    report(fields, Original::default())
}

/// What the reported message says about itself.
#[derive(Debug, Default)]
struct Original {
    tenant: Option<String>,
    queue_id: Option<String>,
    /// This relay's `for <…>`.
    for_rcpt: Option<String>,
    to: Vec<String>,
    sender: Option<String>,
}

impl Original {
    fn of(m: &Message<'_>) -> Original {
        let mut o = Original::default();
        // The lowest of this relay's Received fields: the one added when the message came in.
        if let Some(ours) = m
            .headers_raw()
            .filter(|(name, value)| {
                name.eq_ignore_ascii_case("Received") && value.contains("(Sluice) with")
            })
            .map(|(_, value)| value.split_whitespace().collect::<Vec<_>>().join(" "))
            .last()
        {
            o.queue_id = after(&ours, " id ").map(|id| id.trim_end_matches(';').to_owned());
            o.tenant = ours
                .split_once(", tenant ")
                .and_then(|(_, rest)| rest.split_once(')'))
                .map(|(name, _)| name.to_owned());
            o.for_rcpt = after(&ours, " for ")
                .map(|r| r.trim_end_matches(';').to_owned())
                .and_then(|r| address::normalize(&r).ok());
        }
        o.to = m
            .to()
            .into_iter()
            .flat_map(|a| a.iter())
            .filter_map(|a| a.address.as_deref())
            .filter_map(|a| address::normalize(a).ok())
            .collect();
        o.sender = m.return_address().map(str::to_owned);
        o
    }
}

/// The word after `marker` in `text`.
fn after<'t>(text: &'t str, marker: &str) -> Option<&'t str> {
    let (_, rest) = text.split_once(marker)?;
    rest.split_whitespace().next()
}

fn report(fields: &[u8], original: Original) -> Result<Report, ReportError> {
    // The fields are header fields (RFC 5965 §3.1): mail-parser reads them as a header section.
    let parsed = MessageParser::new()
        .parse_headers(fields)
        .ok_or(ReportError::NoFeedbackType)?;
    let field = |name: &str| {
        parsed
            .headers_raw()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    let feedback_type = field("Feedback-Type")
        .filter(|t| !t.is_empty())
        .ok_or(ReportError::NoFeedbackType)?
        .to_ascii_lowercase();
    let mut recipients: Vec<String> = parsed
        .headers_raw()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Original-Rcpt-To"))
        .filter_map(|(_, v)| address::normalize(strip_type(v)).ok())
        .collect();
    if recipients.is_empty() {
        recipients.extend(original.for_rcpt.clone());
    }
    if recipients.is_empty() && original.to.len() == 1 {
        recipients = original.to.clone();
    }
    recipients.dedup();
    recipients.truncate(MAX_RECIPIENTS);
    if recipients.is_empty() {
        return Err(ReportError::NoRecipient);
    }
    let sender = field("Original-Mail-From")
        .map(|s| strip_type(&s).trim_matches(['<', '>']).to_owned())
        .filter(|s| s.contains('@'))
        .or(original.sender);
    Ok(Report {
        feedback_type,
        recipients,
        sender,
        reporter: field("User-Agent").or_else(|| field("Reporting-MTA")),
        tenant_hint: original.tenant,
        queue_id: original.queue_id,
    })
}

/// An address field without an address-type prefix (`rfc822;`), as some reporters write it.
fn strip_type(v: &str) -> &str {
    let v = v.trim();
    match v.split_once(';') {
        Some((t, rest)) if t.eq_ignore_ascii_case("rfc822") => rest.trim(),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARF: &str = include_str!("../../../examples/arf-complaint.eml");

    #[test]
    fn the_example_report_names_the_recipient_tenant_and_queue_id() {
        let r = parse(ARF.as_bytes()).unwrap();
        assert_eq!(r.feedback_type, "abuse");
        assert_eq!(r.recipients, ["complainer@dest.test"]);
        assert_eq!(r.sender.as_deref(), Some("app@example.com"));
        assert_eq!(r.tenant_hint.as_deref(), Some("demo"));
        assert_eq!(r.queue_id.as_deref(), Some("0000019A2B3C4D5E"));
        assert!(r.reporter.as_deref().unwrap().starts_with("Example-FBL"));
        assert!(r.is_complaint());
    }

    #[test]
    fn without_original_rcpt_to_the_recipient_comes_from_the_reported_message() {
        let redacted = ARF.replace("Original-Rcpt-To: complainer@dest.test\r\n", "");
        let r = parse(redacted.as_bytes()).unwrap();
        assert_eq!(r.recipients, ["complainer@dest.test"]);
    }

    #[test]
    fn the_feedback_part_alone_is_enough_with_an_original_rcpt_to() {
        let fields = "Feedback-Type: abuse\r\nUser-Agent: X/1\r\nVersion: 1\r\n\
                      Original-Mail-From: <app@example.com>\r\nOriginal-Rcpt-To: <Who@Dest.Test>\r\n";
        let r = parse_fields(fields.as_bytes()).unwrap();
        assert_eq!(r.recipients, ["Who@dest.test"]);
        assert_eq!(r.sender.as_deref(), Some("app@example.com"));
        let r = parse_fields(b"Feedback-Type: not-spam\r\nOriginal-Rcpt-To: a@b.test\r\n").unwrap();
        assert!(!r.is_complaint());
    }

    #[test]
    fn what_is_not_a_report_says_why() {
        assert_eq!(
            parse(b"Subject: hello\r\n\r\njust mail\r\n"),
            Err(ReportError::NoFeedbackPart)
        );
        assert_eq!(
            parse_fields(b"Version: 1\r\nOriginal-Rcpt-To: a@b.test\r\n"),
            Err(ReportError::NoFeedbackType)
        );
        assert_eq!(
            parse_fields(b"Feedback-Type: abuse\r\nVersion: 1\r\n"),
            Err(ReportError::NoRecipient)
        );
    }
}
