//! Bounce classification: every failed or deferred delivery gets a [`Category`] — from the
//! words the large mailbox providers and the common MTAs put in their replies, then the
//! RFC 3463 enhanced status code, then the reply code — and every local failure (connection
//! refused, timeout, TLS, no MX) gets one from its [`Cause`].
//!
//! **Suppression lists** take the hard bounces: [`hard_bounce`] (a permanent failure whose
//! category [`Category::is_hard`]: the mailbox or the domain does not exist). A full mailbox,
//! a block or a deferral never is — the address is good, the moment or the sender is not.
//!
//! The words win over the status because providers bend the statuses: Yandex answers
//! `550 5.7.1 No such user!`, Microsoft `550 5.1.10 RESOLVER.ADR.RecipientNotFound` (5.1.10
//! is a null MX in RFC 7505) and `550 5.4.1 … Access denied. AS(…)` for a recipient it does
//! not know, Yahoo `554 5.7.9` for a policy block. The table test below holds real replies.

use super::reply::{Cause, Response, Status};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of failure a delivery attempt met. The names (`bad_mailbox`, …) are stable:
/// they appear in events, metrics, the admin API, DSNs and the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The mailbox does not exist, or is disabled.
    BadMailbox,
    /// The mailbox is over quota.
    MailboxFull,
    /// The recipient domain does not exist, takes no mail (null MX) or names no mail host.
    BadDomain,
    /// DNS could not answer for the domain or its mail hosts (for now).
    DnsFailure,
    /// The receiver refuses the sender: IP or domain reputation, a block list, SPF, DKIM or
    /// DMARC, reverse DNS, relaying, local policy.
    PolicyBlock,
    /// The receiver refuses the message: spam, a virus, an attachment, its size.
    ContentRejected,
    /// TLS was required and could not be had (or failed).
    TlsRequired,
    /// The next hop requires authentication this relay does not give.
    AuthRequired,
    /// Slow down: rate limits, too many connections or recipients, greylisting.
    RateLimited,
    /// Connecting, a command or the whole delivery took too long.
    Timeout,
    /// The next hop could not be reached: connection refused, reset or lost.
    ConnectionFailed,
    /// Anything else.
    Other,
}

impl Category {
    /// Every category, for metrics and documentation.
    pub const ALL: [Category; 12] = [
        Category::BadMailbox,
        Category::MailboxFull,
        Category::BadDomain,
        Category::DnsFailure,
        Category::PolicyBlock,
        Category::ContentRejected,
        Category::TlsRequired,
        Category::AuthRequired,
        Category::RateLimited,
        Category::Timeout,
        Category::ConnectionFailed,
        Category::Other,
    ];

    /// The stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            Category::BadMailbox => "bad_mailbox",
            Category::MailboxFull => "mailbox_full",
            Category::BadDomain => "bad_domain",
            Category::DnsFailure => "dns_failure",
            Category::PolicyBlock => "policy_block",
            Category::ContentRejected => "content_rejected",
            Category::TlsRequired => "tls_required",
            Category::AuthRequired => "auth_required",
            Category::RateLimited => "rate_limited",
            Category::Timeout => "timeout",
            Category::ConnectionFailed => "connection_failed",
            Category::Other => "other",
        }
    }

    /// The address itself is bad (no such mailbox, no such domain): when the failure is
    /// permanent, mail to it will never arrive and it belongs on a suppression list. See
    /// [`hard_bounce`], which also checks the failure is permanent.
    pub const fn is_hard(self) -> bool {
        matches!(self, Category::BadMailbox | Category::BadDomain)
    }

    /// A few words for people (the human part of a DSN).
    pub const fn describe(self) -> &'static str {
        match self {
            Category::BadMailbox => "the mailbox does not exist",
            Category::MailboxFull => "the mailbox is full",
            Category::BadDomain => "the domain does not accept mail",
            Category::DnsFailure => "the domain could not be looked up",
            Category::PolicyBlock => "the receiving system refused the sender",
            Category::ContentRejected => "the receiving system refused the message",
            Category::TlsRequired => "a secure (TLS) connection could not be made",
            Category::AuthRequired => "the receiving system requires authentication",
            Category::RateLimited => "the receiving system asked to slow down",
            Category::Timeout => "the delivery took too long",
            Category::ConnectionFailed => "the receiving system could not be reached",
            Category::Other => "the delivery failed",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A permanent failure of an address that does not exist: the recipient to suppress.
pub fn hard_bounce(r: &Response) -> bool {
    r.is_permanent() && r.category().is_hard()
}

/// The category of a failed or deferred attempt.
pub fn classify(r: &Response) -> Category {
    match r {
        // Shaping quotes the reply that started it: its words say what kind of failure.
        Response::Local(l) if l.cause == Cause::Shaping => {
            of_reply(l.code.unwrap_or(0), Some(l.status), &l.text)
        }
        Response::Local(l) => of_cause(l.cause),
        Response::Remote(reply) => {
            let category = of_reply(reply.code, reply.status, &reply.text);
            // A rate limit that says "never" is a block.
            if category == Category::RateLimited && r.is_permanent() {
                Category::PolicyBlock
            } else {
                category
            }
        }
    }
}

fn of_cause(cause: Cause) -> Category {
    match cause {
        Cause::Connect | Cause::ConnectionLost => Category::ConnectionFailed,
        Cause::Timeout | Cause::Expired => Category::Timeout,
        Cause::Tls => Category::TlsRequired,
        Cause::NoSuchDomain | Cause::NullMx => Category::BadDomain,
        Cause::Dns => Category::DnsFailure,
        Cause::Routing => Category::PolicyBlock,
        Cause::PoolCap | Cause::Shaping => Category::RateLimited,
        Cause::Maildir | Cause::Protocol | Cause::Held | Cause::Spool | Cause::Config => {
            Category::Other
        }
    }
}

/// Words, then the enhanced status, then the code.
fn of_reply(code: u16, status: Option<Status>, text: &str) -> Category {
    let words = text
        .split('\n')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    if let Some((_, c)) = PHRASES.iter().find(|(p, _)| starts_a_word(&words, p)) {
        return *c;
    }
    if let Some(c) = status.and_then(of_status) {
        return c;
    }
    match code {
        530 | 535 => Category::AuthRequired,
        538 => Category::TlsRequired,
        _ => Category::Other,
    }
}

/// `phrase` occurs in `text` where a word starts (not preceded by a letter or digit), so
/// `tls` does not match in `atlsys.com`; it may end inside one (`greylist` in `greylisted`).
fn starts_a_word(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(at, _)| {
        !text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

use Category::*;

/// Phrases of real replies (lower case), each matched where a word starts; the first match
/// wins, so the specific ones that would otherwise fall under a broader phrase come first.
const PHRASES: &[(&str, Category)] = &[
    // Microsoft's recipient lookups, whatever their status says.
    ("sendernotauthenticatedforgroup", PolicyBlock),
    ("access denied. as(", BadMailbox),
    ("recipnotfound", BadMailbox),
    ("recipientnotfound", BadMailbox),
    // The sender, not the recipient, is the problem.
    ("sender address rejected", PolicyBlock),
    ("sender verify failed", PolicyBlock),
    ("domain of sender address", PolicyBlock),
    // Slow down (before "quota", "mailbox" and "reputation").
    ("sending quota", RateLimited),
    ("sending limit", RateLimited),
    ("unusual rate", RateLimited),
    ("rate limit", RateLimited),
    ("ratelimit", RateLimited),
    ("receiving mail at a rate", RateLimited),
    ("too many connections", RateLimited),
    ("too much mail", RateLimited),
    ("too many messages", RateLimited),
    ("too many recipients", RateLimited),
    ("unexpected volume", RateLimited),
    ("greylist", RateLimited),
    ("graylist", RateLimited),
    ("try again later, closing connection", RateLimited),
    // The domain (before the mailbox's "does not exist").
    ("domain not found", BadDomain),
    ("domain does not exist", BadDomain),
    ("domain doesn't exist", BadDomain),
    ("no such domain", BadDomain),
    ("host or domain name not found", BadDomain),
    ("null mx", BadDomain),
    // The mailbox.
    ("user unknown", BadMailbox),
    ("unknown user", BadMailbox),
    ("no such user", BadMailbox),
    ("no such recipient", BadMailbox),
    ("no such mailbox", BadMailbox),
    ("no such account", BadMailbox),
    ("no such person", BadMailbox),
    ("no mailbox here", BadMailbox),
    ("mailbox not found", BadMailbox),
    ("mailbox unavailable", BadMailbox),
    ("mailbox does not exist", BadMailbox),
    ("account does not exist", BadMailbox),
    ("address does not exist", BadMailbox),
    ("user does not exist", BadMailbox),
    ("recipient does not exist", BadMailbox),
    ("tried to reach does not exist", BadMailbox),
    ("tried to reach is disabled", BadMailbox),
    ("user doesn't have", BadMailbox),
    ("invalid recipient", BadMailbox),
    ("invalid mailbox", BadMailbox),
    ("recipient not found", BadMailbox),
    ("recipient unknown", BadMailbox),
    ("unknown recipient", BadMailbox),
    ("user not found", BadMailbox),
    ("not our customer", BadMailbox),
    ("mailbox is disabled", BadMailbox),
    ("mailbox disabled", BadMailbox),
    ("account is disabled", BadMailbox),
    ("account has been disabled", BadMailbox),
    ("user is terminated", BadMailbox),
    ("unrouteable address", BadMailbox),
    // A full mailbox.
    ("over quota", MailboxFull),
    ("quota exceeded", MailboxFull),
    ("quotaexceeded", MailboxFull),
    ("exceeded storage allocation", MailboxFull),
    ("mailbox full", MailboxFull),
    ("mailbox is full", MailboxFull),
    ("mailbox size limit", MailboxFull),
    ("out of storage", MailboxFull),
    // The sender's IP or domain: lists, reputation, authentication, relaying, policy.
    ("blocked using", PolicyBlock),
    ("block list", PolicyBlock),
    ("blocklist", PolicyBlock),
    ("blacklist", PolicyBlock),
    ("black list", PolicyBlock),
    ("denylist", PolicyBlock),
    ("dnsbl", PolicyBlock),
    ("rbl", PolicyBlock),
    ("block for spam", PolicyBlock),
    ("ipcheck.proofpoint", PolicyBlock),
    ("blocked - see", PolicyBlock),
    ("reputation", PolicyBlock),
    ("banned sending ip", PolicyBlock),
    ("not authorized to send", PolicyBlock),
    ("not allowed to send", PolicyBlock),
    ("traffic not accepted", PolicyBlock),
    ("unregistered domain", PolicyBlock),
    ("relay access denied", PolicyBlock),
    ("relaying denied", PolicyBlock),
    ("relay not permitted", PolicyBlock),
    ("unable to relay", PolicyBlock),
    ("rcpthosts", PolicyBlock),
    ("access denied", PolicyBlock),
    ("local policy", PolicyBlock),
    ("policy reasons", PolicyBlock),
    ("policy restrictions", PolicyBlock),
    ("policy rejection", PolicyBlock),
    ("security policies", PolicyBlock),
    ("administrative prohibition", PolicyBlock),
    ("envelope blocked", PolicyBlock),
    ("anti-spoofing", PolicyBlock),
    ("permanently deferred", PolicyBlock),
    ("unauthenticated", PolicyBlock),
    ("dmarc", PolicyBlock),
    ("sender policy framework", PolicyBlock),
    ("spf", PolicyBlock),
    ("dkim", PolicyBlock),
    ("ptr record", PolicyBlock),
    ("ptr resource record", PolicyBlock),
    ("reverse dns", PolicyBlock),
    ("cannot find your hostname", PolicyBlock),
    ("client host rejected", PolicyBlock),
    // The message.
    ("spam", ContentRejected),
    ("unsolicited", ContentRejected),
    ("virus", ContentRejected),
    ("infected", ContentRejected),
    ("malware", ContentRejected),
    ("phishing", ContentRejected),
    ("attachment", ContentRejected),
    ("content", ContentRejected),
    ("message size", ContentRejected),
    ("message too big", ContentRejected),
    ("message too large", ContentRejected),
    // Security.
    ("starttls", TlsRequired),
    ("tls", TlsRequired),
    ("encryption", TlsRequired),
    ("certificate", TlsRequired),
    ("authentication required", AuthRequired),
    ("authentication failed", AuthRequired),
    ("authentication unsuccessful", AuthRequired),
    ("not authenticated", AuthRequired),
    ("password not accepted", AuthRequired),
    // The network.
    ("dns", DnsFailure),
    ("name service error", DnsFailure),
    ("timeout", Timeout),
    ("timed out", Timeout),
    ("expired", Timeout),
    ("connection refused", ConnectionFailed),
    ("connection reset", ConnectionFailed),
];

/// RFC 3463 (with the additions of RFC 5248's registry) by subject and detail.
fn of_status(s: Status) -> Option<Category> {
    Some(match (s.subject, s.detail) {
        (1, 2 | 10) => BadDomain,
        (1, 7 | 8) => PolicyBlock,
        (1, 0 | 1 | 3 | 4 | 6) => BadMailbox,
        (2, 1) => BadMailbox,
        (2, 2) => MailboxFull,
        (2, 3) | (3, 4) => ContentRejected,
        (4, 1 | 2) => ConnectionFailed,
        (4, 3) => DnsFailure,
        (4, 4) if s.is_permanent() => BadDomain,
        (4, 4) => DnsFailure,
        (4, 5) | (5, 3) => RateLimited,
        (4, 7) => Timeout,
        (6, _) => ContentRejected,
        (7, 3 | 4 | 5 | 6 | 10 | 11 | 30) => TlsRequired,
        (7, 7 | 16) => ContentRejected,
        (7, 8 | 9 | 12 | 14) => AuthRequired,
        (7, 13 | 17) => BadMailbox,
        (7, 18) => BadDomain,
        (7, 28) => RateLimited,
        // 7.0–7.2 and the authentication results (7.20–7.29), and what providers number
        // past the registry (Microsoft's 5.7.5xx–7xx): all refusals of the sender.
        (7, _) => PolicyBlock,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::reply::Reader;

    fn reply(wire: &str) -> Response {
        let wire = format!("{wire}\r\n");
        let (used, parsed) = Reader::default().feed(wire.as_bytes(), "mx.test[127.0.0.2]:25");
        assert_eq!(used, wire.len(), "one whole reply: {wire:?}");
        Response::Remote(
            parsed
                .unwrap_or_else(|| panic!("not whole: {wire:?}"))
                .expect("parses")
                .reply,
        )
    }

    /// Replies as the providers and MTAs send them (IPs and ids replaced by documentation
    /// values), each with the category it must get.
    const REAL_REPLIES: &[(&str, Category)] = &[
        // Gmail
        ("550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 double-checking the recipient's email address for typos or\r\n550-5.1.1 unnecessary spaces. For more information, go to\r\n550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1-20020a17090 - gsmtp", BadMailbox),
        ("452-4.2.2 The email account that you tried to reach is over quota. Please direct\r\n452-4.2.2 the recipient to\r\n452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp a1-20020a17090 - gsmtp", MailboxFull),
        ("452-4.2.2 The recipient's inbox is out of storage space. Please direct the\r\n452-4.2.2 recipient to\r\n452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp a1-20020a17090 - gsmtp", MailboxFull),
        ("552 5.2.2 The email account that you tried to reach is over quota and inactive.", MailboxFull),
        ("550-5.2.1 The email account that you tried to reach is disabled. Learn more at\r\n550 5.2.1  https://support.google.com/mail/?p=DisabledUser a1-20020a17090 - gsmtp", BadMailbox),
        ("550-5.7.1 [192.0.2.1] The IP you're using to send mail is not authorized to\r\n550-5.7.1 send email directly to our servers. Please use the SMTP relay at your\r\n550 5.7.1 service provider instead. https://support.google.com/mail/?p=NotAuthorizedError - gsmtp", PolicyBlock),
        ("550-5.7.1 [192.0.2.1] Gmail has detected that this message is likely\r\n550-5.7.1 unsolicited mail. To reduce the amount of spam sent to Gmail, this\r\n550 5.7.1 message has been blocked. https://support.google.com/mail/?p=UnsolicitedMessageError - gsmtp", ContentRejected),
        ("421-4.7.0 [192.0.2.1] Our system has detected an unusual rate of\r\n421-4.7.0 unsolicited mail originating from your IP address. To protect our\r\n421-4.7.0 users from spam, mail sent from your IP address has been temporarily\r\n421 4.7.0 rate limited. https://support.google.com/mail/?p=UnsolicitedRateLimitError - gsmtp", RateLimited),
        ("550-5.7.28 [192.0.2.1] Our system has detected an unusual rate of\r\n550-5.7.28 unsolicited mail originating from your IP address. To protect our\r\n550 5.7.28 users from spam, mail sent from your IP address has been blocked.", PolicyBlock),
        ("550-5.7.1 This message is likely suspicious due to the very low reputation of the\r\n550-5.7.1 sending domain. To best protect our users from spam, the message has been\r\n550 5.7.1 blocked. https://support.google.com/mail/answer/188131 - gsmtp", PolicyBlock),
        ("550-5.7.26 This mail has been blocked because the sender is unauthenticated.\r\n550-5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM.\r\n550 5.7.26  https://support.google.com/mail/answer/81126#authentication - gsmtp", PolicyBlock),
        ("550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's\r\n550 5.7.26 DMARC policy. Please contact the administrator of example.com domain.", PolicyBlock),
        ("421-4.7.26 This mail has been rate limited because it is unauthenticated. Gmail\r\n421 4.7.26 requires all senders to authenticate with either SPF or DKIM.", RateLimited),
        ("550-5.7.25 The IP address sending this message does not have a PTR record setup, or\r\n550 5.7.25 the corresponding forward DNS entry does not point to the sending IP.", PolicyBlock),
        ("552-5.7.0 This message was blocked because its content presents a potential\r\n552 5.7.0 security issue. https://support.google.com/mail/?p=BlockedMessage - gsmtp", ContentRejected),
        ("552-5.3.4 Your message exceeded Google's message size limits. Please visit\r\n552 5.3.4  https://support.google.com/mail/?p=MaxSizeError to view our size guidelines.", ContentRejected),
        ("450-4.2.1 The user you are trying to contact is receiving mail at a rate that\r\n450-4.2.1 prevents additional messages from being delivered. Please resend your\r\n450 4.2.1 message at a later time.", RateLimited),
        ("421 4.7.0 Try again later, closing connection. (EHLO) a1-20020a17090 - gsmtp", RateLimited),
        ("530 5.7.0 Must issue a STARTTLS command first. a1-20020a17090 - gsmtp", TlsRequired),
        ("550 5.4.5 Daily user sending quota exceeded. a1-20020a17090 - gsmtp", PolicyBlock),
        ("421 4.3.0 Temporary System Problem.  Try again later (10). a1-20020a17090 - gsmtp", Other),
        // Outlook.com and Office 365
        ("550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [DB5EUR03FT012.eop-EUR03.prod.protection.outlook.com]", BadMailbox),
        ("550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", BadMailbox),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", BadMailbox),
        ("550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [AM4PEPF00027A5F.eurprd04.prod.outlook.com]", BadMailbox),
        ("550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.", PolicyBlock),
        ("451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775)", RateLimited),
        ("550 5.7.606 Access denied, banned sending IP [192.0.2.1]. To request removal from this list please visit https://sender.office.com/ and follow the directions.", PolicyBlock),
        ("550 5.7.509 Access denied, sending domain example.com does not pass DMARC verification and has a DMARC policy of reject.", PolicyBlock),
        ("550 5.7.515 Access denied, sending domain [example.com] doesn't meet the required authentication level.", PolicyBlock),
        ("554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded; Failed to process message due to a permanent exception", MailboxFull),
        ("550 5.7.133 RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required; Delivery restriction check failed as sender not authenticated", PolicyBlock),
        ("550 5.7.57 Client not authenticated to send mail. Error: 535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully.", AuthRequired),
        ("550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.", PolicyBlock),
        ("550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains.", PolicyBlock),
        ("554 5.7.1 The message from (<app@example.com>) with the subject of (Hello) matches a profile the Internet community may consider spam. Please revise your message before resending.", ContentRejected),
        ("550 5.7.350 Remote server returned message detected as spam -> 550 5.7.1 Message rejected as spam by Content Filtering.", ContentRejected),
        ("452 4.5.3 Too many recipients (AS780090)", RateLimited),
        ("554 5.4.14 Hop count exceeded - possible mail loop ATTR34", Other),
        // Yahoo and AOL
        ("554 delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] - mta4012.mail.gq1.yahoo.com", BadMailbox),
        ("554 delivery error: dd Sorry your message to someone@aol.com cannot be delivered. This mailbox is disabled (554.30). - mta4001.aol.mail.gq1.yahoo.com", BadMailbox),
        ("421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", RateLimited),
        ("553 5.7.2 [TSS09] All messages from 192.0.2.1 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes", PolicyBlock),
        ("554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes", PolicyBlock),
        ("552 1 Requested mail action aborted, mailbox not found", BadMailbox),
        // iCloud
        ("550 5.1.1 <someone@icloud.com>: user does not exist", BadMailbox),
        ("552 5.2.2 <someone@icloud.com>: user is over quota", MailboxFull),
        ("554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137", PolicyBlock),
        ("550 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1", PolicyBlock),
        // GMX and web.de
        ("550 Requested action not taken: mailbox unavailable", BadMailbox),
        ("552 Requested mail action aborted: exceeded storage allocation", MailboxFull),
        ("554-gmx.net (mxgmx017) Nemesis ESMTP Service not available\r\n554-No SMTP service\r\n554-Bad DNS PTR resource record.\r\n554 For explanation visit https://postmaster.gmx.net/en/case?c=r0601&i=ip&v=192.0.2.1&r=1ABCDE", PolicyBlock),
        ("554-web.de (mxweb112) Nemesis ESMTP Service not available\r\n554-No SMTP service\r\n554-IP address is block listed.\r\n554 For explanation visit https://postmaster.web.de/en/case?c=r0701&i=ip&v=192.0.2.1&r=1ABCDE", PolicyBlock),
        ("421-gmx.net (mxgmx114) Nemesis ESMTP Service not available\r\n421-Service unavailable\r\n421-Reject due to policy restrictions.\r\n421 For explanation visit https://postmaster.gmx.net/en/case?c=hi&i=ip&v=192.0.2.1&r=1ABCDE", PolicyBlock),
        // Mail.ru
        ("550 Message was not accepted -- invalid mailbox.  Local mailbox someone@mail.ru is unavailable: user not found", BadMailbox),
        ("550 Message was not accepted -- invalid mailbox.  Local mailbox someone@mail.ru is unavailable: account is disabled", BadMailbox),
        ("550 spam message rejected. Please visit https://help.mail.ru/notspam-support/id?c=ABCD or  report details to abuse@corp.mail.ru. Error code: ABCD. ID: 1234.", ContentRejected),
        ("451 Ratelimit exceeded for mailbox someone@mail.ru. Try again later.", RateLimited),
        // Yandex
        ("550 5.7.1 No such user!", BadMailbox),
        ("554 5.7.1 [2] Message rejected under suspicion of SPAM; https://ya.cc/1IrBc 1700000000-AbCdEfGh", ContentRejected),
        ("550 5.7.1 Policy rejection on Target address", PolicyBlock),
        // Gateways: Barracuda, Mimecast, Proofpoint
        ("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using Barracuda Reputation; http://www.barracudanetworks.com/reputation/?pr=1&ip=192.0.2.1", PolicyBlock),
        ("550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550 [AbCdEfGh.us123]", BadMailbox),
        ("550 Rejected by header based Anti-Spoofing policy: someone@example.com - https://community.mimecast.com/docs/DOC-1369#550 [AbCd.us123]", PolicyBlock),
        ("550 Administrative prohibition - envelope blocked - https://community.mimecast.com/docs/DOC-1369#550 [AbCd.eu456]", PolicyBlock),
        ("554 Email rejected due to security policies - https://community.mimecast.com/docs/DOC-1369#554 [AbCd.uk789]", PolicyBlock),
        ("554 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1", PolicyBlock),
        // Postfix (and what runs behind it: postgrey, amavis, Dovecot)
        ("550 5.1.1 <someone@example.net>: Recipient address rejected: User unknown in local recipient table", BadMailbox),
        ("550 5.1.1 <someone@example.net>: Recipient address rejected: User unknown in virtual mailbox table", BadMailbox),
        ("450 4.1.1 <someone@example.net>: Recipient address rejected: unverified address: host mx.example.net[192.0.2.5] said: 550 5.1.1 User unknown (in reply to RCPT TO command)", BadMailbox),
        ("554 5.7.1 <someone@example.net>: Relay access denied", PolicyBlock),
        ("450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.1]", PolicyBlock),
        ("450 4.2.0 <someone@example.net>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.net.html", RateLimited),
        ("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.1", PolicyBlock),
        ("552 5.3.4 Message size exceeds fixed limit", ContentRejected),
        ("450 4.1.8 <app@example.com>: Sender address rejected: Domain not found", PolicyBlock),
        ("450 4.1.2 <someone@nowhere.example>: Recipient address rejected: Domain not found", BadDomain),
        ("421 4.7.0 mx.example.net Error: too many connections from 192.0.2.1", RateLimited),
        ("452 4.3.1 Insufficient system storage", Other),
        ("421 4.4.2 mx.example.net Error: timeout exceeded", Timeout),
        ("451 4.3.5 Server configuration problem", Other),
        ("554 5.7.0 Reject, id=12345-01 - spam", ContentRejected),
        ("554 5.7.0 Reject, id=12345-02 - INFECTED: Eicar-Signature", ContentRejected),
        ("552 5.2.2 <someone@example.net> Quota exceeded (mailbox for user is full)", MailboxFull),
        ("451 4.7.1 Greylisting in action, please come back later", RateLimited),
        ("454 4.7.0 TLS not available due to local problem", TlsRequired),
        ("535 5.7.8 Error: authentication failed: authentication failure", AuthRequired),
        // Exim and cPanel
        ("550 No Such User Here", BadMailbox),
        ("550-Verification failed for <app@example.com>\r\n550-Unrouteable address\r\n550 Sender verify failed", PolicyBlock),
        ("451 Temporary local problem - please try later", Other),
        // qmail and sendmail
        ("511 sorry, no mailbox here by that name (#5.1.1)", BadMailbox),
        ("552 sorry, that message size exceeds my databytes limit (#5.3.4)", ContentRejected),
        ("553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", PolicyBlock),
        ("550 5.1.1 <someone@example.net>... User unknown", BadMailbox),
        // Comcast, AT&T, Zoho, Exchange
        ("550 5.1.1 <someone@comcast.net> Not our Customer", BadMailbox),
        ("554 resimta-ch2-05v.sys.comcast.net comcast 192.0.2.1 Comcast block for spam.  Please see http://postmaster.comcast.net/smtp-error-codes.php#BL000000", PolicyBlock),
        ("550 5.7.1 Connections not accepted from servers without a valid sender domain.flph829 Fix reverse DNS for 192.0.2.1", PolicyBlock),
        ("550 5.1.1 User does not exist - <someone@zoho.com>", BadMailbox),
        ("554 5.1.8 Email cannot be delivered. Domain of sender address example.com does not exist", PolicyBlock),
        ("530 5.7.1 Client was not authenticated", AuthRequired),
        ("530 5.7.0 Authentication required", AuthRequired),
    ];

    #[test]
    fn real_replies_get_their_category() {
        assert!(REAL_REPLIES.len() >= 50, "{}", REAL_REPLIES.len());
        let wrong: Vec<String> = REAL_REPLIES
            .iter()
            .filter_map(|(wire, want)| {
                let got = classify(&reply(wire));
                (got != *want).then(|| format!("{want} expected, {got} for {wire:?}"))
            })
            .collect();
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }

    #[test]
    fn the_status_decides_when_the_words_do_not() {
        for (wire, want) in [
            ("550 5.1.1 nope", BadMailbox),
            ("452 4.2.2 nope", MailboxFull),
            ("550 5.1.2 nope", BadDomain),
            ("556 5.1.10 nope", BadDomain),
            ("554 5.4.4 nope", BadDomain),
            ("451 4.4.4 nope", DnsFailure),
            ("550 5.7.1 nope", PolicyBlock),
            ("554 5.6.0 nope", ContentRejected),
            ("550 5.7.30 nope", TlsRequired),
            ("451 4.4.7 nope", Timeout),
            ("550 5.0.0 nope", Other),
            ("530 nope", AuthRequired),
            ("554 nope", Other),
        ] {
            assert_eq!(classify(&reply(wire)), want, "{wire}");
        }
    }

    #[test]
    fn phrases_match_where_words_start() {
        assert!(starts_a_word("must issue a starttls command", "starttls"));
        assert!(starts_a_word("greylisted, see", "greylist"));
        assert!(starts_a_word(
            "resolver.adr.recipnotfound;",
            "recipnotfound"
        ));
        assert!(!starts_a_word("sender domain atlsys.com", "tls"));
        assert_eq!(
            classify(&reply("550 5.7.1 Mail from atlsys.example refused")),
            PolicyBlock
        );
    }

    #[test]
    fn local_failures_get_a_category_too() {
        let local = |cause, status: &str| {
            classify(&Response::local(cause, Status::parse(status).unwrap(), "x"))
        };
        assert_eq!(local(Cause::Connect, "4.4.1"), ConnectionFailed);
        assert_eq!(local(Cause::Timeout, "4.4.2"), Timeout);
        assert_eq!(local(Cause::Tls, "4.7.5"), TlsRequired);
        assert_eq!(local(Cause::NullMx, "5.1.10"), BadDomain);
        assert_eq!(local(Cause::NoSuchDomain, "5.1.2"), BadDomain);
        assert_eq!(local(Cause::Dns, "4.4.3"), DnsFailure);
    }

    #[test]
    fn only_permanent_failures_of_the_address_are_hard() {
        assert!(hard_bounce(&reply("550 5.1.1 User unknown")));
        assert!(hard_bounce(&Response::local(
            Cause::NoSuchDomain,
            Status::new(5, 1, 2),
            "no such domain"
        )));
        assert!(!hard_bounce(&reply("450 4.1.1 User unknown (unverified)")));
        assert!(!hard_bounce(&reply("552 5.2.2 Mailbox full")));
        assert!(!hard_bounce(&reply(
            "554 5.7.1 blocked using zen.spamhaus.org"
        )));
        let names: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
        let json: Vec<String> = Category::ALL
            .iter()
            .map(|c| {
                serde_json::to_string(c)
                    .unwrap()
                    .trim_matches('"')
                    .to_owned()
            })
            .collect();
        assert_eq!(names, json, "the serde names are the stable names");
    }
}
