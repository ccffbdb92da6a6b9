//! Which refusals mean "this mailbox will never take mail": the hard bounces that put a
//! recipient on its tenant's suppression list.
//!
//! A permanent (5xx) reply whose enhanced status code says the address is bad (RFC 3463
//! X.1.0 other address status, X.1.1 bad mailbox, X.1.2 bad domain, X.1.3 bad address syntax,
//! X.1.6 mailbox moved, X.1.10 null MX), or, without a code that says otherwise, whose text is
//! one of the "no such user" phrasings of the large mailbox providers. A full mailbox (X.2.2),
//! a policy or reputation block (X.7.x) or a content refusal is not a hard bounce: the address
//! may take mail tomorrow.

/// The enhanced codes' subject.detail (after the class) that mean the address is bad.
const BAD_ADDRESS: &[&str] = &["1.0", "1.1", "1.2", "1.3", "1.6", "1.10"];

/// Lower-case phrases of "no such user" replies without a useful enhanced code.
const NO_SUCH_USER: &[&str] = &[
    "user unknown",
    "unknown user",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "recipient unknown",
    "unknown recipient",
    "user not found",
    "recipient not found",
    "mailbox not found",
    "mailbox does not exist",
    "account does not exist",
    "address does not exist",
    "email account that you tried to reach does not exist",
    "doesn't have a",
    "no mailbox here by that name",
    "invalid recipient",
    "recipient address rejected: user unknown",
];

/// Whether a refusal is a hard bounce.
pub fn is_hard(code: u16, enhanced: Option<&str>, text: &str) -> bool {
    if !(500..600).contains(&code) {
        return false;
    }
    if let Some(e) = enhanced {
        let (class, rest) = e.split_once('.').unwrap_or((e, ""));
        if class == "5" && BAD_ADDRESS.contains(&rest) {
            return true;
        }
        // A code that names another subject (mailbox full, policy, content) wins over words.
        if class == "5" && !rest.starts_with("0.") {
            return false;
        }
    }
    let text = text.to_ascii_lowercase();
    NO_SUCH_USER.iter().any(|p| text.contains(p))
}

/// A reply as delivery records it (`"550 5.1.1 No such user"`): code, enhanced code, text.
pub fn parse_reply(reply: &str) -> Option<(u16, Option<&str>, &str)> {
    let reply = reply.trim_start();
    let code: u16 = reply.get(..3)?.parse().ok()?;
    let rest = reply[3..].trim_start_matches(['-', ' ']);
    let (first, after) = rest.split_once(' ').unwrap_or((rest, ""));
    let enhanced = first.split('.').count() == 3
        && first
            .split('.')
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    Some(if enhanced {
        (code, Some(first), after)
    } else {
        (code, None, rest)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real refusals, and whether each is a hard bounce.
    const CASES: &[(&str, bool)] = &[
        ("550 5.1.1 No such user", true),
        (
            "550-5.1.1 The email account that you tried to reach does not exist.",
            true,
        ),
        ("550 5.1.1 <x@y.test>: Recipient address rejected: User unknown in virtual mailbox table", true),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", true),
        ("556 5.1.10 dest.test: the domain accepts no mail (null MX)", true),
        ("550 5.1.2 nowhere.test: the domain does not exist", true),
        ("550 5.1.0 Address rejected", true),
        ("554 delivery error: dd This user doesn't have a yahoo.com account", true),
        ("550 Requested action not taken: mailbox unavailable (user unknown)", true),
        ("550 5.2.2 The email account that you tried to reach is over quota", false),
        ("552 5.2.2 Mailbox full", false),
        ("550 5.7.1 Service unavailable; client host blocked using Spamhaus", false),
        ("554 5.7.1 Message rejected: user unknown is not a reason here", false),
        ("550 5.7.26 Unauthenticated email is not accepted", false),
        ("451 4.1.1 Temporary lookup failure: user unknown", false),
        ("421 4.7.0 Try again later", false),
        ("554 5.6.0 Message content rejected", false),
    ];

    #[test]
    fn hard_bounces_are_bad_addresses_only() {
        for (reply, hard) in CASES {
            let (code, enhanced, text) = parse_reply(reply).expect(reply);
            assert_eq!(is_hard(code, enhanced, text), *hard, "{reply}");
        }
    }

    #[test]
    fn replies_split_into_code_enhanced_and_text() {
        assert_eq!(
            parse_reply("550 5.1.1 No such user"),
            Some((550, Some("5.1.1"), "No such user"))
        );
        assert_eq!(
            parse_reply("550-5.1.10 x"),
            Some((550, Some("5.1.10"), "x"))
        );
        assert_eq!(
            parse_reply("554 delivery error"),
            Some((554, None, "delivery error"))
        );
        assert_eq!(parse_reply("garbage"), None);
    }
}
