//! What the detector measures in a message: [`FEATURES`], one number each, extracted by
//! [`extract`] from what the host hands the data hook ([`Input`]). The same code gives the
//! fitter its vectors: with `features_header = true` the plugin writes them into
//! `X-Sluice-Marketing-Features`, which `sluice replay --json` reports for a whole corpus
//! (fit/fit.py), so weights are fitted on exactly what the plugin computes in the relay.
//!
//! Almost nothing here depends on the language of the message: headers, the sender's
//! address, the structure of the HTML, links, numbers, prices, percentages, codes and
//! identifiers. Words are read in one place only, a short list of how "unsubscribe" is
//! written in a few languages (`unsubscribe-text`); links that unsubscribe are recognised
//! by their URLs.

use crate::html;
use crate::substring::{after_scheme, contains, contains_any};

/// The features, in the order of the vector; the weights (weights.rs) follow this order.
/// Counts are taken as ln(1 + n); flags are 0 or 1.
pub const FEATURES: [&str; 46] = [
    // -- headers: list and bulk markers (weak: notifications carry them too)
    "list-unsubscribe",      // List-Unsubscribe
    "one-click-unsubscribe", // List-Unsubscribe-Post (RFC 8058), required of bulk senders
    "list-id",               // List-Id
    "precedence-bulk",       // Precedence: bulk or junk
    "precedence-list",       // Precedence: list
    // -- headers: notification and conversation markers
    "auto-submitted", // Auto-Submitted other than "no" (RFC 3834): made by a system
    "thread",         // In-Reply-To or References: part of a conversation
    "reply-to-recipient", // the conversation began with a message from the recipient's domain
    "reply-subject",  // Subject starts with Re:, AW:, Fwd:, TR:, RES:, …
    // -- the sender's address
    "sender-noreply",      // no-reply, donotreply, …
    "sender-system",       // notifications@, alerts@, security@, billing@, orders@, support@, …
    "sender-promo",        // news@, newsletter@, marketing@, offers@, deals@, updates@, …
    "sender-promo-domain", // news., e., m., info., marketing., promo. subdomains
    "sender-personal",     // a person's mailbox (first.last@, or one name: jane@)
    // -- subject
    "subject-code",    // a 4–8 digit code (not a year)
    "subject-percent", // a percentage
    "subject-exclaim", // ! or ！
    "subject-emoji",   // a pictograph
    "subject-caps",    // a word of four or more capitals
    // -- body: size and structure
    "has-html",
    "text-size",        // ln(1 + visible characters / 100)
    "link-density",     // ln(1 + distinct links per 1,000 characters of text)
    "link-hosts",       // ln(1 + distinct hosts linked)
    "image-density",    // ln(1 + images (not pixels) per 1,000 characters of text)
    "large-images",     // ln(1 + images 200 pixels wide or more: products, banners)
    "tracking-pixel",   // a 1x1, hidden or open-tracking image
    "click-tracking",   // share of links through a redirect (a URL inside a URL, long opaque paths)
    "utm",              // utm_ campaign parameters
    "buttons",          // ln(1 + links drawn as buttons)
    "unsubscribe-link", // a link whose URL unsubscribes or manages preferences
    "unsubscribe-text", // "unsubscribe" in one of a few languages
    "settings-link",    // a link to notification or account settings
    "social-links",     // two or more links to social networks (a footer of icons)
    "hidden-text",      // a hidden preheader
    // -- body: numbers
    "prices",       // ln(1 + amounts of money)
    "percentages",  // ln(1 + percentages)
    "identifiers",  // ln(1 + order, invoice, tracking and reference numbers, and codes)
    "questions",    // ln(1 + question marks): a pitch asks, a notice tells
    "promo-code",   // a coupon code: capitals then one to three digits (SAVE20, BF25)
    "token-links",  // ln(1 + links to the sender's own site carrying a personal token)
    "document",     // a PDF or calendar attachment (an invoice, a ticket, an invitation)
    "meeting-link", // a link to book a meeting (a scheduler's host or path): a pitch asks
    // -- together: nothing of a notice (see `NOTICE`), not about the recipient's account or order
    "no-notice",
    "links-without-notice", // link-density then: links to look at, not to act on
    "thread-without-notice", // In-Reply-To or References then: a sender's follow-up
    "bulk-without-notice",  // a way to unsubscribe, and nothing of a notice
];

/// The message as the data hook reads it from the host.
#[derive(Debug, Default, Clone)]
pub struct Input {
    /// The From header's raw value.
    pub from: String,
    pub subject: String,
    /// The text body (the host converts an HTML-only message to text).
    pub text: String,
    /// The HTML body, or empty.
    pub html: String,
    pub links: Vec<String>,
    /// Attachments' names and content types.
    pub attachments: Vec<(String, String)>,
    pub list_unsubscribe: bool,
    pub list_unsubscribe_post: bool,
    pub list_id: bool,
    /// Precedence, lower case.
    pub precedence: String,
    /// Auto-Submitted, lower case.
    pub auto_submitted: String,
    pub in_reply_to: bool,
    /// The To header's raw value.
    pub to: String,
    /// In-Reply-To and References, raw.
    pub references: String,
}

/// The feature vector of a message, in the order of [`FEATURES`].
pub fn extract(m: &Input) -> [f32; FEATURES.len()] {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let ln = |n: usize| (1.0 + n as f32).ln();
    let markup = html::scan(&m.html);
    // The text part, or the HTML's text when the text part is only a stub of it ("View this
    // email in your browser"): what the numbers and questions are read from.
    let richer = if !markup.text.is_empty() && visible(&markup.text) > 2 * visible(&m.text) {
        &markup.text
    } else {
        &m.text
    };
    let prose = without_urls(richer);
    let numbers = Numbers::read(&prose);
    let chars = numbers.visible;
    let per_k = |n: usize| n as f32 / (chars as f32 / 1000.0 + 1.0);
    let sender = Sender::parse(&m.from);
    let lower_links: Vec<String> = m.links.iter().map(|l| l.to_ascii_lowercase()).collect();
    let hosts: std::collections::BTreeSet<&str> = lower_links.iter().map(|l| host(l)).collect();
    let tracked = lower_links.iter().filter(|l| redirects(l)).count();
    let social = lower_links
        .iter()
        .filter(|l| {
            let h = host(l);
            let labels: Vec<&str> = h.split('.').collect();
            labels.len() >= 2 && SOCIAL.contains(&labels[labels.len() - 2])
        })
        .count();
    let subject = m.subject.trim();
    let lower_subject = subject.to_lowercase();
    let mut v = [
        flag(m.list_unsubscribe),
        flag(m.list_unsubscribe_post),
        flag(m.list_id),
        flag(matches!(m.precedence.trim(), "bulk" | "junk")),
        flag(m.precedence.trim() == "list"),
        flag(!m.auto_submitted.trim().is_empty() && m.auto_submitted.trim() != "no"),
        flag(m.in_reply_to),
        flag(replies_to_recipient(&m.references, &m.to)),
        flag(REPLY_PREFIXES.iter().any(|p| lower_subject.starts_with(p))),
        flag(sender.is_noreply()),
        flag(sender.has_role(SYSTEM)),
        flag(sender.has_role(PROMO)),
        flag(PROMO_SUBDOMAINS.contains(&sender.domain.split('.').next().unwrap_or(""))),
        flag(sender.is_personal()),
        flag(has_code(subject)),
        flag(Numbers::read(subject).percentages > 0),
        flag(subject.contains(['!', '！'])),
        flag(subject.chars().any(is_pictograph)),
        flag(
            subject
                .split(|c: char| !c.is_ascii_alphabetic())
                .any(|w| w.len() >= 4 && w.chars().all(|c| c.is_ascii_uppercase())),
        ),
        flag(!m.html.is_empty()),
        (1.0 + chars as f32 / 100.0).ln(),
        (1.0 + per_k(m.links.len())).ln(),
        ln(hosts.len()),
        (1.0 + per_k(markup.images)).ln(),
        ln(markup.large_images),
        flag(markup.pixels > 0),
        if m.links.is_empty() {
            0.0
        } else {
            tracked as f32 / m.links.len() as f32
        },
        flag(lower_links.iter().any(|l| contains(l, "utm_"))),
        ln(markup.buttons),
        flag(lower_links.iter().any(|l| contains_any(l, UNSUBSCRIBE_URL))),
        flag(says_unsubscribe(&prose, numbers.ascii)),
        flag(
            lower_links
                .iter()
                .any(|l| contains(l, "settings") || contains(l, "notification")),
        ),
        flag(social >= 2),
        flag(markup.hidden_text),
        ln(numbers.prices),
        ln(numbers.percentages),
        ln(identifiers(&prose) + usize::from(code_line(&m.text))),
        ln(numbers.questions),
        flag(has_promo_code(&prose) || has_promo_code(subject)),
        ln(lower_links
            .iter()
            .filter(|l| token_link(l, &sender.domain))
            .count()),
        flag(m.attachments.iter().any(|(name, ctype)| {
            let name = name.to_ascii_lowercase();
            ctype.contains("pdf")
                || ctype.contains("calendar")
                || name.ends_with(".pdf")
                || name.ends_with(".ics")
        })),
        flag(lower_links.iter().any(|l| meeting_link(l))),
        0.0,
        0.0,
        0.0,
        0.0,
    ];
    let at = |name: &str| v[FEATURES.iter().position(|f| *f == name).expect("a feature")];
    let unsubscribable = ["list-unsubscribe", "unsubscribe-link", "unsubscribe-text"]
        .iter()
        .any(|f| at(f) > 0.0);
    let notice = NOTICE.iter().any(|f| at(f) > 0.0);
    let without_notice = |f: &str| if notice { 0.0 } else { at(f) };
    let (links, thread) = (without_notice("link-density"), without_notice("thread"));
    let n = FEATURES.len();
    v[n - 4..].copy_from_slice(&[
        flag(!notice),
        links,
        thread,
        flag(unsubscribable && !notice),
    ]);
    v
}

/// What marks a notice: mail about the recipient's own account, order or conversation. List
/// headers and unsubscribe links are weak evidence of a mailing on their own; with none of
/// these they are stronger (`bulk-without-notice`), and mail with none of them is about
/// nothing of the recipient's (`no-notice`).
const NOTICE: &[&str] = &[
    "auto-submitted",
    "reply-to-recipient",
    "settings-link",
    "identifiers",
    "token-links",
    "subject-code",
    "document",
    "sender-system",
];

const REPLY_PREFIXES: &[&str] = &[
    "re:", "re :", "aw:", "fwd:", "fw:", "tr:", "wg:", "res:", "rv:", "enc:", "sv:", "vs:",
];
const NOREPLY: &[&str] = &[
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "do_not_reply",
    "nepasrepondre",
    "naoresponda",
    "nao-responda",
];
const SYSTEM: &[&str] = &[
    "notif",
    "notify",
    "alert",
    "security",
    "account",
    "billing",
    "receipt",
    "order",
    "support",
    "service",
    "mailer",
    "system",
    "forum",
    "invoice",
    "booking",
    "reservation",
    "ticket",
    "shipping",
    "delivery",
    "verify",
    "auth",
    "admin",
    "postmaster",
    "bounce",
];
const PROMO: &[&str] = &[
    "news",
    "marketing",
    "offer",
    "deal",
    "promo",
    "sale",
    "update",
    "campaign",
    "special",
    "event",
    "reward",
];
/// Role words that say nothing either way, but are not a person.
const GENERIC: &[&str] = &[
    "hello", "hi", "info", "team", "contact", "mail", "email", "office", "sales",
];
const PROMO_SUBDOMAINS: &[&str] = &[
    "news",
    "newsletter",
    "e",
    "m",
    "em",
    "info",
    "marketing",
    "promo",
    "offers",
    "mkt",
    "campaign",
    "campaigns",
    "go",
];
const SOCIAL: &[&str] = &[
    "facebook",
    "instagram",
    "twitter",
    "x",
    "linkedin",
    "youtube",
    "tiktok",
    "pinterest",
    "threads",
];
const UNSUBSCRIBE_URL: &[&str] = &[
    "unsub",
    "optout",
    "opt-out",
    "opt_out",
    "preferences",
    "abmeld",
    "desinscri",
    "desabon",
    "descadastr",
];
const UNSUBSCRIBE_WORDS: &[&str] = &[
    "unsubscribe",
    "opt out",
    "opt-out",
    "abmelden",
    "abbestellen",
    "désabonner",
    "désinscri",
    "desinscri",
    "darse de baja",
    "darte de baja",
    "cancelar suscripción",
    "cancelar la suscripción",
    "cancelar inscrição",
    "descadastr",
    "配信停止",
    "登録解除",
    "disiscriviti",
    "afmelden",
];

/// The From header's address.
struct Sender {
    local: String,
    domain: String,
}

impl Sender {
    fn parse(from: &str) -> Sender {
        let address = match (from.rfind('<'), from.rfind('>')) {
            (Some(l), Some(r)) if l < r => &from[l + 1..r],
            _ => from,
        };
        let address = address.trim().to_ascii_lowercase();
        let (local, domain) = address.rsplit_once('@').unwrap_or((&address, ""));
        Sender {
            local: local.to_owned(),
            domain: domain.to_owned(),
        }
    }

    /// The words of the local part (`do-not-reply` → do, not, reply).
    fn words(&self) -> impl Iterator<Item = &str> {
        self.local
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| !w.is_empty())
    }

    /// A role word is in the local part: a stem as the start of a word (`offers` for offer),
    /// a stem of three letters or fewer as a whole word (`hi`, not `sophia`).
    fn has_role(&self, stems: &[&str]) -> bool {
        stems.iter().any(|stem| {
            self.words().any(|w| {
                if stem.len() <= 3 {
                    w == *stem
                } else {
                    w.starts_with(stem)
                }
            })
        })
    }

    /// `noreply`, `do-not-reply`, … anywhere in the local part.
    fn is_noreply(&self) -> bool {
        NOREPLY.iter().any(|n| self.local.contains(n))
    }

    /// `jane.doe@`, `jane_doe@` or `jane@`: a person's mailbox, not a role's.
    fn is_personal(&self) -> bool {
        if self.is_noreply()
            || [SYSTEM, PROMO, GENERIC]
                .iter()
                .any(|list| self.has_role(list))
        {
            return false;
        }
        let parts: Vec<&str> = self.local.split(['.', '_', '-']).collect();
        let alphabetic = |p: &&str| p.len() >= 2 && p.chars().all(|c| c.is_ascii_alphabetic());
        match parts.as_slice() {
            [one] => alphabetic(one) && (3..=15).contains(&one.len()),
            [a, b] => alphabetic(a) && alphabetic(b),
            _ => false,
        }
    }
}

/// The host of a lower-cased URL.
fn host(url: &str) -> &str {
    let rest = after_scheme(url);
    let end = rest.find(['/', '?', '#', ':']).unwrap_or(rest.len());
    &rest[..end]
}

/// A link through a click-tracking redirect: a URL inside the URL, or a long opaque token.
fn redirects(url: &str) -> bool {
    let rest = after_scheme(url);
    if contains_any(rest, &["%3a%2f%2f", "=http", "/http"]) {
        return true;
    }
    let opaque = |s: &str, n: usize| {
        s.len() >= n
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '=' | '.'))
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    path.split('/').skip(1).any(|seg| opaque(seg, 40))
        || query
            .split('&')
            .any(|kv| opaque(kv.split_once('=').map_or(kv, |x| x.1), 60))
}

/// A link to the sender's own site (its registrable domain) with a personal token in the
/// path or query — a reset, sign-in, order or booking link — that is not an unsubscribe link.
fn token_link(url: &str, sender_domain: &str) -> bool {
    let site = registrable(sender_domain);
    if site.is_empty() || registrable(host(url)) != site || redirects(url) {
        return false;
    }
    if contains_any(url, UNSUBSCRIBE_URL) {
        return false;
    }
    let rest = after_scheme(url);
    let token = |s: &str| {
        s.len() >= 16
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            && s.chars().any(|c| c.is_ascii_digit())
    };
    rest.split(['/', '?', '&', '=', '#']).skip(1).any(token)
}

/// The last two labels of a host (`mail.shop.example` → `shop.example`).
fn registrable(host: &str) -> &str {
    let mut dots = host.rmatch_indices('.');
    match (dots.next(), dots.next()) {
        (Some(_), Some((at, _))) => &host[at + 1..],
        _ => host,
    }
}

/// Whether the thread (`references`: In-Reply-To and References) holds a message id from the
/// recipient's own domain (the first address of `to`): an answer to what the recipient wrote,
/// as a help desk sends, rather than a sender's follow-up to its own earlier message.
fn replies_to_recipient(references: &str, to: &str) -> bool {
    let to = Sender::parse(to.split(',').next().unwrap_or(""));
    let site = registrable(&to.domain);
    !site.is_empty()
        && references
            .split(['<', '>', ' ', '\t', '\r', '\n'])
            .filter_map(|id| id.rsplit_once('@'))
            .any(|(_, domain)| registrable(&domain.to_ascii_lowercase()) == site)
}

/// A link to book a meeting with the sender: a scheduling service's host (`calendly.…`,
/// `cal.…`, `meetings.…`) or a booking path (`/meet/…`, `/book-a-call`). Not calendar or
/// video-call hosts: invitations to a meeting already made are notices.
fn meeting_link(url: &str) -> bool {
    const HOSTS: &[&str] = &[
        "cal",
        "calendly",
        "meetings",
        "savvycal",
        "tidycal",
        "zcal",
        "chilipiper",
        "youcanbook",
    ];
    const PATHS: &[&str] = &["/meet/", "/book-a-call", "/book-a-demo"];
    let rest = after_scheme(url);
    let h = host(url);
    h.split('.').any(|label| HOSTS.contains(&label)) || contains_any(&rest[h.len()..], PATHS)
}

/// A coupon code: three or more capitals followed by one to three digits, as a word (a run
/// of ASCII letters and digits). One pass over the bytes.
fn has_promo_code(text: &str) -> bool {
    // Capitals so far, then digits so far; `None` once the word cannot be a code.
    let mut word = Some((0, 0));
    let is_code = |word: Option<(usize, usize)>| {
        word.is_some_and(|(letters, digits)| letters >= 3 && (1..=3).contains(&digits))
    };
    for &b in text.as_bytes() {
        if !b.is_ascii_alphanumeric() {
            if is_code(word) {
                return true;
            }
            word = Some((0, 0));
            continue;
        }
        word = match word {
            Some((letters, 0)) if b.is_ascii_uppercase() => Some((letters + 1, 0)),
            Some((letters, digits)) if b.is_ascii_digit() => Some((letters, digits + 1)),
            _ => None,
        };
    }
    is_code(word)
}

/// The text with every URL taken out (their digits, ? and % are not prose): a token (up to
/// and with the whitespace after it) that starts, after any `<`, `(` or `[`, with `http://`,
/// `https://` or `www.` becomes one space, or nothing at the end of the text. Looks only where
/// an `h` or a `w` follows whitespace and such brackets, rather than splitting every token.
fn without_urls(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut at) = (0, 0);
    while let Some(p) = bytes[at..]
        .iter()
        .position(|&b| b == b'h' || b == b'w')
        .map(|p| at + p)
    {
        at = p + 1;
        let rest = &text[p..];
        if !(rest.starts_with("http://")
            || rest.starts_with("https://")
            || rest.starts_with("www."))
        {
            continue;
        }
        let start = p - bytes[..p]
            .iter()
            .rev()
            .take_while(|b| matches!(b, b'<' | b'(' | b'['))
            .count();
        if !text[..start]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace)
        {
            continue;
        }
        out.push_str(&text[copied..start]);
        match rest.char_indices().find(|&(_, c)| c.is_whitespace()) {
            Some((ws, c)) => {
                out.push(' ');
                copied = p + ws + c.len_utf8();
            }
            None => copied = text.len(),
        }
        at = copied;
    }
    out.push_str(&text[copied..]);
    out
}

/// Characters that are not whitespace.
fn visible(text: &str) -> usize {
    if text.is_ascii() {
        text.bytes().filter(|b| !is_ascii_space(*b)).count()
    } else {
        text.chars().filter(|c| !c.is_whitespace()).count()
    }
}

/// The ASCII bytes `char::is_whitespace` is true of.
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r')
}

/// Whether the text holds one of [`UNSUBSCRIBE_WORDS`] once lower-cased. ASCII text is matched
/// ignoring ASCII case rather than copied in lower case (it lower-cases to the same bytes);
/// other text is lower-cased first, as `K` (Kelvin) becomes `k`. One pass over the bytes,
/// trying the words only where one can start (a table of first bytes made at build time).
fn says_unsubscribe(text: &str, ascii: bool) -> bool {
    const FIRST: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < UNSUBSCRIBE_WORDS.len() {
            let b = UNSUBSCRIBE_WORDS[i].as_bytes()[0];
            t[b as usize] = true;
            t[b.to_ascii_uppercase() as usize] = true;
            i += 1;
        }
        t
    };
    let lower;
    let b = if ascii {
        text.as_bytes()
    } else {
        lower = text.to_lowercase();
        lower.as_bytes()
    };
    // The words are in lower case, and lower-cased text has no ASCII capitals: ignoring ASCII
    // case is exact on both.
    (0..b.len()).any(|i| {
        FIRST[b[i] as usize]
            && UNSUBSCRIBE_WORDS.iter().any(|w| {
                b.len() - i >= w.len() && b[i..i + w.len()].eq_ignore_ascii_case(w.as_bytes())
            })
    })
}

/// Whether one of the first three characters of `chars` is a digit, with only spaces before
/// it: a number next to a sign, on the side `chars` reads.
fn digit_within_three(chars: impl Iterator<Item = char>) -> bool {
    for c in chars.take(3) {
        if is_digit(c) {
            return true;
        }
        if !matches!(c, ' ' | '\u{a0}' | '\u{202f}') {
            return false;
        }
    }
    false
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

/// What one pass over a text counts: its visible characters, question marks, percentages
/// and amounts of money.
#[derive(Debug, Default, PartialEq)]
struct Numbers {
    /// Characters that are not whitespace.
    visible: usize,
    /// `?`, `？` and `¿`.
    questions: usize,
    /// A number, perhaps a space, then % (or ％).
    percentages: usize,
    /// A currency sign or code next to a number, on either side.
    prices: usize,
    /// Whether the text is all ASCII.
    ascii: bool,
}

impl Numbers {
    fn read(text: &str) -> Numbers {
        const CODES: &[&str] = &[
            "USD", "EUR", "GBP", "CHF", "JPY", "BRL", "MXN", "CAD", "AUD",
        ];
        let near_digit = |at: usize, end: usize| {
            digit_within_three(text[end..].chars()) || digit_within_three(text[..at].chars().rev())
        };
        let percent = |at: usize| {
            let mut before = text[..at].chars().rev();
            let mut c = before.next();
            for _ in 0..2 {
                if !matches!(c, Some(' ' | '\u{a0}' | '\u{202f}')) {
                    break;
                }
                c = before.next();
            }
            c.is_some_and(is_digit)
        };
        // A code is three ASCII capitals, none of which can overlap itself.
        let code = |at: usize| {
            let end = at + 3;
            CODES.iter().any(|code| text[at..].starts_with(code))
                && !text[..at]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphabetic)
                && !text[end..].chars().next().is_some_and(char::is_alphabetic)
                && near_digit(at, end)
        };
        let mut n = Numbers {
            ascii: true,
            ..Numbers::default()
        };
        let bytes = text.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            let b = bytes[at];
            if b.is_ascii() {
                if !is_ascii_space(b) {
                    n.visible += 1;
                }
                match b {
                    b'?' => n.questions += 1,
                    b'%' => n.percentages += usize::from(percent(at)),
                    b'$' => n.prices += usize::from(near_digit(at, at + 1)),
                    b'U' | b'E' | b'G' | b'C' | b'J' | b'B' | b'M' | b'A' => {
                        n.prices += usize::from(code(at))
                    }
                    _ => {}
                }
                at += 1;
                continue;
            }
            n.ascii = false;
            let Some(c) = text[at..].chars().next() else {
                break;
            };
            if !c.is_whitespace() {
                n.visible += 1;
            }
            match c {
                '？' | '¿' => n.questions += 1,
                '％' => n.percentages += usize::from(percent(at)),
                '€' | '£' | '¥' | '￥' | '円' | '₹' | '₩' => {
                    n.prices += usize::from(near_digit(at, at + c.len_utf8()))
                }
                _ => {}
            }
            at += c.len_utf8();
        }
        n
    }
}

/// Order, invoice, tracking and reference numbers: tokens mixing letters and at least four
/// digits, `#` and four digits, or seven digits and more.
fn identifiers(text: &str) -> usize {
    let mut seen = std::collections::BTreeSet::new();
    // Tokens are runs of ASCII, so bytes split them as chars would.
    let part = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'#' | b'_');
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let len = bytes[at..].iter().take_while(|b| part(b)).count();
        let token = &bytes[at..at + len];
        at += len + 1;
        // Every kind of identifier has four digits or more: most tokens stop here.
        let digits = token.iter().filter(|b| b.is_ascii_digit()).count();
        if digits < 4 {
            continue;
        }
        let first = token
            .iter()
            .take_while(|b| matches!(b, b'-' | b'_'))
            .count();
        let last = token[first..]
            .iter()
            .rev()
            .take_while(|b| matches!(b, b'-' | b'_'))
            .count();
        let token = &token[first..token.len() - last];
        let letters = token.iter().filter(|b| b.is_ascii_alphabetic()).count();
        let id = (token.starts_with(b"#") && digits >= 4)
            || (letters > 0 && digits >= 4 && token.len() >= 6 && token.len() <= 40)
            // Seven digits and more, but not a date (2026-05-01).
            || (letters == 0 && (7..=24).contains(&digits) && (!token.contains(&b'-') || digits >= 10));
        if id {
            seen.insert(token);
        }
    }
    seen.len()
}

/// A one-time code in the subject: a run of 4–8 digits that is not a year.
fn has_code(subject: &str) -> bool {
    subject.split(|c: char| !c.is_ascii_digit()).any(|run| {
        (4..=8).contains(&run.len())
            && !(run.len() == 4 && (run.starts_with("19") || run.starts_with("20")))
    })
}

/// A line of the text that is only a code: 4–8 digits, perhaps split by a space.
fn code_line(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        // The cheap test that fails on most lines first.
        l.bytes().all(|b| b.is_ascii_digit() || b == b' ')
            && (4..=8).contains(&l.bytes().filter(u8::is_ascii_digit).count())
            && l.bytes().filter(|&b| b == b' ').count() <= 1
    })
}

/// Emoji and other pictographs.
fn is_pictograph(c: char) -> bool {
    matches!(c as u32, 0x1F300..=0x1FAFF | 0x2600..=0x27BF | 0x2300..=0x23FF | 0x2B00..=0x2BFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(v: &[f32; FEATURES.len()], name: &str) -> f32 {
        v[FEATURES.iter().position(|f| *f == name).unwrap()]
    }

    #[test]
    fn numbers_in_any_language() {
        let read = |text| Numbers::read(text);
        assert_eq!(
            read("-30 % sur tout, 20%OFF, 最大50％オフ, 100 and 5 %").percentages,
            4
        );
        assert_eq!(
            read("$12.00, 12,34 €, R$ 9,90, ¥1,200, 3.480円, 45 EUR, EURO 5, US$9").prices,
            7
        );
        assert_eq!(read("no money here: 12 apples, $ alone").prices, 0);
        assert_eq!(read("Why? ¿Qué? 何？ 5% ").questions, 4);
        assert_eq!(
            identifiers("Order #123456, invoice INV-2026-00042, parcel 1Z999AA10123456784, 75008 Paris, 2026-05-01, SAVE20"),
            3
        );
        assert!(has_code("482913 is your code") && !has_code("Your March 2026 statement"));
        assert!(code_line("Your code:\n\n   482 913\n") && !code_line("Call 0800 123 456 789"));
        assert!(has_promo_code("use SAVE20 at checkout") && has_promo_code("コードSALE25で"));
        assert!(!has_promo_code(
            "order XV915511, INV-2026-00042, COVID19X, ABC1234"
        ));
        assert!(token_link(
            "https://accounts.shop.test/reset?token=k3j4h5g6f7d8s9a0",
            "mail.shop.test"
        ));
        assert!(!token_link(
            "https://shop.test/unsubscribe/k3j4h5g6f7d8s9a0",
            "shop.test"
        ));
        assert!(!token_link(
            "https://other.test/reset?token=k3j4h5g6f7d8s9a0",
            "shop.test"
        ));
        assert!(!token_link(
            "https://shop.test/blog/spring-collection-lookbook",
            "shop.test"
        ));
        assert!(meeting_link("https://calendly.test/jane/30min"));
        assert!(meeting_link("https://cal.growth.test/meet/jane/intro"));
        assert!(!meeting_link("https://calendar.mail.test/event?eid=1"));
        assert!(!meeting_link("https://shop.test/meeting-room-chairs"));
    }

    #[test]
    fn a_reply_to_what_the_recipient_wrote() {
        let to = "Jane Doe <jane@customer.test>";
        assert!(replies_to_recipient(
            "<CAF1x2y3@mail.customer.test> <a@helpdesk.test>",
            to
        ));
        assert!(!replies_to_recipient("<k7h3j2@growth.test>", to));
        assert!(!replies_to_recipient("", to));
        assert!(!replies_to_recipient(
            "<x@customer.test>",
            "undisclosed-recipients:;"
        ));
    }

    #[test]
    fn senders_by_role_or_person() {
        let s = |f: &str| Sender::parse(f);
        assert!(s("Acme <no-reply@mail.acme.test>").is_noreply());
        assert!(s("\"Acme\" <notifications@acme.test>").has_role(SYSTEM));
        assert!(s("news@e.acme.test").has_role(PROMO));
        assert!(s("Kwame Clarke <kwame.clarke@pipeline.test>").is_personal());
        assert!(s("Kwame Clarke <kwame@pipeline.test>").is_personal());
        assert!(
            s("Sophia <sophia@pipeline.test>").is_personal(),
            "hi is a word, not a substring"
        );
        assert!(s("=?utf-8?b?5Yqg6Jek?= <sakura@sales.test>").is_personal());
        assert!(
            s("Shop <offers@shop.test>").has_role(PROMO)
                && !s("Shop <offers@shop.test>").is_personal()
        );
        assert!(!s("Acme Team <hello@acme.test>").is_personal());
        assert!(!s("Maria (Acme Support) <support@acme.test>").is_personal());
        assert!(!s("x <a1b2c3@acme.test>").is_personal());
    }

    #[test]
    fn links_through_redirects_and_urls_out_of_prose() {
        assert!(redirects("https://u1.ct.sendgrid.test/ls/click?upn=abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij12345"));
        assert!(redirects(
            "https://x.r.aws.test/l0/https%3a%2f%2fshop.test%2fsale/1/abc"
        ));
        assert!(!redirects("https://shop.test/orders/123456?k=abcdef"));
        assert_eq!(
            without_urls("Pay 12% at https://x.test/?a=50%25&b=1 now"),
            "Pay 12% at  now"
        );
    }

    #[test]
    fn a_newsletter_and_a_code() {
        let news = Input {
            from: "Shop News <news@news.shop.test>".into(),
            subject: "SALE: 40% off everything!".into(),
            text: "Everything 40% off. Was 50,00 €, now 30,00 €. Unsubscribe: https://shop.test/unsubscribe?e=1".into(),
            html: r#"<div style="display:none">Preheader</div><img src="a.jpg"><img src="b.jpg"><a style="background:#000;padding:9px" href="x">Shop</a><img src="https://t.test/open/1" width="1" height="1">"#.into(),
            links: vec!["https://shop.test/?utm_source=news".into(), "https://shop.test/unsubscribe?e=1".into(),
                        "https://facebook.test/shop".into(), "https://instagram.test/shop".into()],
            list_unsubscribe: true,
            precedence: "bulk".into(),
            ..Input::default()
        };
        let v = extract(&news);
        for f in [
            "list-unsubscribe",
            "bulk-without-notice",
            "precedence-bulk",
            "sender-promo",
            "sender-promo-domain",
            "subject-percent",
            "subject-exclaim",
            "subject-caps",
            "has-html",
            "tracking-pixel",
            "utm",
            "unsubscribe-link",
            "unsubscribe-text",
            "social-links",
            "hidden-text",
        ] {
            assert_eq!(value(&v, f), 1.0, "{f}");
        }
        assert!(
            value(&v, "prices") > 1.0
                && value(&v, "image-density") > 1.0
                && value(&v, "buttons") > 0.5
        );
        assert_eq!(value(&v, "no-notice"), 1.0);
        assert_eq!(value(&v, "links-without-notice"), value(&v, "link-density"));
        // The HTML's text is read when the text part is a stub of it.
        let stub = Input {
            text: "View it online.".into(),
            html: "<p>Summer sale: 30% off, 20% more on shoes</p>".into(),
            ..Input::default()
        };
        assert_eq!(value(&extract(&stub), "percentages"), 3.0f32.ln());
        let otp = Input {
            from: "Acme <no-reply@acme.test>".into(),
            subject: "482913 is your Acme code".into(),
            text: "Your code is\n\n482913\n\nIt expires in 10 minutes.".into(),
            auto_submitted: "auto-generated".into(),
            ..Input::default()
        };
        let v = extract(&otp);
        for f in ["sender-noreply", "subject-code", "auto-submitted"] {
            assert_eq!(value(&v, f), 1.0, "{f}");
        }
        for f in ["no-notice", "links-without-notice", "thread-without-notice"] {
            assert_eq!(value(&v, f), 0.0, "{f}");
        }
        assert!(value(&v, "identifiers") > 0.5);
        assert_eq!(value(&v, "link-density"), 0.0);
    }
}
