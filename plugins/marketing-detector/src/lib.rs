//! marketing-detector: a scored classifier for marketing mail sent through a transactional
//! relay — the tenant who slips a newsletter between password resets spoils the reputation
//! every other tenant shares. Structural signals (list headers, tracking pixels, link and
//! image density, unsubscribe footers, many recipients, the same content to many recipients
//! within a window) and wording (promotional and cold-outreach phrases) add up; wording that
//! marks transactional mail (codes, receipts, resets) subtracts. Past the threshold the
//! tenant's action applies: tag (default), quarantine, or reject. The score and the signals
//! that fired always go into an `X-Sluice-Marketing` header and a `marketing-score=N` tag (the
//! router plugin routes on it).
use sluice_sdk::prelude::*;

/// What the detector looks at, taken from the host's parsed message.
#[derive(Debug, Default, Clone)]
pub struct Features {
    pub list_unsubscribe: bool,
    pub list_unsubscribe_post: bool,
    pub list_id: bool,
    pub precedence_bulk: bool,
    pub subject: String,
    /// Text and HTML bodies, lower-cased, tags included (hrefs and img attributes matter).
    pub body: String,
    pub links: usize,
    pub recipients: usize,
}

pub struct Signal {
    pub name: &'static str,
    pub points: i32,
}

const PROMOTIONAL: &[&str] = &[
    "% off",
    "sale",
    "shop now",
    "buy now",
    "limited time",
    "exclusive",
    "free shipping",
    "discount",
    "promo code",
    "coupon",
    "save up to",
    "don't miss",
    "last chance",
    "new arrivals",
    "deal",
    "introducing",
    "we're excited",
    "now available",
    "what's new",
    "register now",
    "webinar",
    "early-bird",
    "get your ticket",
    "upgrade now",
    "upgrade today",
    "2 months free",
    "gift card",
    "double points",
    "invite your friends",
    "download now",
    "catalog",
    "digest",
    "customer story",
    "we miss you",
    "special offer",
    "black friday",
    "while stock lasts",
    "offer",
];

const OUTREACH: &[&str] = &[
    "quick question",
    "15-minute call",
    "15 minutes",
    "book a time",
    "book a slot",
    "calendly",
    "schedule a demo",
    "quick demo",
    "i came across",
    "reaching out",
    "following up",
    "would you be open",
    "open to a quick chat",
    "right person",
    "reply stop",
];

const UNSUBSCRIBE_FOOTER: &[&str] = &[
    "unsubscribe",
    "opt out",
    "opt-out",
    "manage preferences",
    "manage your preferences",
    "email preferences",
];

const TRANSACTIONAL: &[&str] = &[
    "password",
    "verification code",
    "verify your",
    "verify email",
    "one-time",
    "sign-in",
    "sign in",
    "security alert",
    "receipt",
    "invoice",
    "order #",
    "has shipped",
    "tracking number",
    "payment",
    "refund",
    "booking",
    "appointment",
    "confirm your",
    "confirmed",
    "two-factor",
    "api key",
    "export",
    "invited you",
    "mentioned you",
    "ticket #",
    "transfer",
    "statement",
    "cancelled",
    "return label",
    "trial ends",
    "account",
];

fn count_phrases(text: &str, phrases: &[&str]) -> usize {
    phrases.iter().filter(|p| text.contains(*p)).count()
}

/// `<img` tags that are 1x1, hidden, or point at an open-tracking URL.
fn tracking_pixel(body: &str) -> bool {
    body.split("<img").skip(1).any(|tag| {
        let tag = tag.split('>').next().unwrap_or_default();
        (tag.contains("width=\"1\"") && tag.contains("height=\"1\""))
            || tag.contains("display:none")
            || ["/open/", "/track", "pixel", "beacon"]
                .iter()
                .any(|m| tag.contains(m))
    })
}

/// Scores `f`; `bulk` is true when the same content went to many recipients lately.
pub fn score(f: &Features, bulk: bool) -> (i32, Vec<Signal>) {
    let mut s = Vec::new();
    let mut add = |name, points| s.push(Signal { name, points });
    if f.list_unsubscribe {
        add("list-unsubscribe", 2);
    }
    if f.list_unsubscribe_post {
        add("list-unsubscribe-post", 1);
    }
    if f.list_id {
        add("list-id", 2);
    }
    if f.precedence_bulk {
        add("precedence-bulk", 3);
    }
    if tracking_pixel(&f.body) {
        add("tracking-pixel", 2);
    }
    let images = f.body.matches("<img").count();
    if images >= 5 {
        add("many-images", 2);
    }
    if f.links >= 10 {
        add("many-links", if f.links >= 20 { 2 } else { 1 });
    }
    if f.body.contains("utm_") {
        add("campaign-tracking", 2);
    }
    let text = format!("{} {}", f.subject.to_lowercase(), f.body);
    if count_phrases(&text, UNSUBSCRIBE_FOOTER) > 0 {
        add("unsubscribe-footer", 2);
    }
    let promo = count_phrases(&text, PROMOTIONAL);
    if promo > 0 {
        add("promotional-wording", (promo as i32).min(4));
    }
    let outreach = count_phrases(&text, OUTREACH);
    if outreach > 0 {
        add("outreach-wording", (2 * outreach as i32).min(6));
    }
    if f.recipients > 10 {
        add("many-recipients", 2);
    }
    if bulk {
        add("same-content-to-many", 3);
    }
    let transactional = count_phrases(&text, TRANSACTIONAL);
    if transactional > 0 {
        add("transactional-wording", -(2 * transactional as i32).min(6));
    }
    (s.iter().map(|x| x.points).sum(), s)
}

fn has(message: &Message, name: &str) -> bool {
    !message.header(name).is_empty()
}

fn features(session: &Session, message: &Message) -> Features {
    let mut body = message.text_body().unwrap_or_default();
    body.push('\n');
    body.push_str(&message.html_body().unwrap_or_default());
    Features {
        list_unsubscribe: has(message, "List-Unsubscribe"),
        list_unsubscribe_post: has(message, "List-Unsubscribe-Post"),
        list_id: has(message, "List-Id"),
        precedence_bulk: message.header("Precedence").iter().any(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "bulk" | "list" | "junk"
            )
        }),
        subject: message.subject().unwrap_or_default(),
        body: body.to_lowercase(),
        links: message.links().len(),
        recipients: session.rcpt_count() as usize,
    }
}

/// A cheap stable hash (FNV-1a) of the content, the same for every recipient of a mailing.
fn fingerprint(f: &Features) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in f.subject.bytes().chain(f.body.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn number(key: &str, default: u64) -> u64 {
    config(key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

struct Detector;

impl Plugin for Detector {
    const HOOKS: &'static [Hook] = &[Hook::Data];

    fn validate() {
        if let Some(a) = config("action") {
            if !matches!(a.as_str(), "tag" | "quarantine" | "reject") {
                log(
                    Level::Error,
                    &format!("marketing-detector: action {a:?} is not tag, quarantine or reject"),
                );
                panic!("marketing-detector: bad action {a:?}");
            }
        }
    }

    fn on_data(session: &Session, message: &Message) -> Decision {
        let f = features(session, message);
        let threshold = number("threshold", 5) as i32;
        let window = number("bulk_window_secs", 3600) as u32;
        let bulk_limit = number("bulk_recipients", 200);
        let seen = sluice_sdk::host::counter_add(
            &format!("fp:{:016x}", fingerprint(&f)),
            window,
            u64::from(session.rcpt_count().max(1)),
        );
        let (total, signals) = score(&f, seen > bulk_limit);
        let fired: Vec<String> = signals
            .iter()
            .map(|s| format!("{}({:+})", s.name, s.points))
            .collect();
        let header = format!(
            "score={total}; threshold={threshold}; signals={}",
            fired.join(",")
        );
        let tag = format!("marketing-score={total}");
        if total < threshold {
            return Decision::proceed()
                .header("X-Sluice-Marketing", &header)
                .tag(&tag);
        }
        let why = format!(
            "looks like marketing (score {total} >= {threshold}: {})",
            fired.join(", ")
        );
        match config("action").as_deref() {
            Some("reject") => Decision::reject(
                550,
                "5.7.1",
                &format!("marketing mail is not accepted on this transactional relay; {why}"),
            ),
            Some("quarantine") => Decision::quarantine(&why),
            _ => Decision::proceed(),
        }
        .rule("marketing")
        .header("X-Sluice-Marketing", &header)
        .tag(&tag)
        .tag("marketing")
    }
}

sluice_sdk::export_plugin!(Detector);

#[cfg(test)]
mod tests {
    use super::*;

    fn f(subject: &str, body: &str) -> Features {
        Features {
            subject: subject.into(),
            body: body.to_lowercase(),
            ..Features::default()
        }
    }

    #[test]
    fn a_password_reset_scores_low() {
        let (s, _) = score(
            &f(
                "Reset your password",
                "Use this link to reset your password: https://x",
            ),
            false,
        );
        assert!(s < 0, "{s}");
    }

    #[test]
    fn a_newsletter_scores_high_and_says_why() {
        let mut n = f(
            "This week: 40% off",
            "<img src=\"https://t.x/open/1.gif\" width=\"1\" height=\"1\"> shop now <a href=\"https://x/?utm_source=n\">x</a> unsubscribe",
        );
        n.list_unsubscribe = true;
        n.precedence_bulk = true;
        n.links = 25;
        let (s, signals) = score(&n, false);
        assert!(s >= 10, "{s}");
        let names: Vec<_> = signals.iter().map(|x| x.name).collect();
        for want in [
            "list-unsubscribe",
            "precedence-bulk",
            "tracking-pixel",
            "many-links",
            "unsubscribe-footer",
            "campaign-tracking",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
    }

    #[test]
    fn cold_outreach_without_list_headers_is_caught_by_wording() {
        let (s, _) = score(
            &f("Quick question", "I came across your company. Would you be open to a 15-minute call? Book a time: https://calendly.example/x"),
            false,
        );
        assert!(s >= 5, "{s}");
    }

    #[test]
    fn the_same_content_to_many_adds_points() {
        let base = f("Hello", "plain words");
        assert_eq!(score(&base, true).0 - score(&base, false).0, 3);
    }
}
