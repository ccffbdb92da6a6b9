//! marketing-detector: a scored classifier for marketing mail sent through a transactional
//! relay — the tenant who slips a newsletter between password resets spoils the reputation
//! every other tenant shares. Structural signals (list headers, tracking pixels, link and
//! image density, unsubscribe footers, many recipients, the same content to many recipients
//! within a window) and wording (promotional and cold-outreach phrases) add up; wording that
//! marks transactional mail (codes, receipts, resets) subtracts. Past the threshold the
//! tenant's action applies: tag (default), quarantine, or reject. The score and the signals
//! that fired always go into an `X-Sluice-Marketing` header and a `marketing-score=N` tag (the
//! router plugin routes on it).
//!
//!
//! Every phrase list, and the `<img` and `utm_` markers, is one Aho-Corasick DFA (ASCII
//! case-insensitive), compiled by the `aho-corasick` crate in `build.rs` into a static
//! transition table, and run once over the subject and once over the bodies: no lower-cased
//! copy of the message, no scan per phrase, and nothing to build per instance.
use sluice_sdk::prelude::*;

/// What the detector looks at, taken from the host's parsed message.
#[derive(Debug, Default, Clone)]
pub struct Features {
    pub list_unsubscribe: bool,
    pub list_unsubscribe_post: bool,
    pub list_id: bool,
    pub precedence_bulk: bool,
    pub subject: String,
    /// Text and HTML bodies as sent, tags included (hrefs and img attributes matter).
    pub body: String,
    pub links: usize,
    pub recipients: usize,
}

pub struct Signal {
    pub name: &'static str,
    pub points: i32,
}

include!("phrases.rs");

/// What a pattern of the automaton stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Promotional,
    Outreach,
    Unsubscribe,
    Transactional,
    /// `<img`: counted, and its tag looked at for a tracking pixel (bodies only).
    Image,
    /// `utm_`: campaign tracking (bodies only).
    Utm,
}

// The automaton build.rs made of the lists above: CLASS, CLASSES, NEXT, MATCH_START, MATCHES.
include!(concat!(env!("OUT_DIR"), "/phrase_dfa.rs"));

/// What pattern `id` of the automaton stands for (build.rs numbers the lists in this order).
fn kind(id: usize) -> Kind {
    let lists = [
        (Kind::Promotional, PROMOTIONAL.len()),
        (Kind::Outreach, OUTREACH.len()),
        (Kind::Unsubscribe, UNSUBSCRIBE_FOOTER.len()),
        (Kind::Transactional, TRANSACTIONAL.len()),
        (Kind::Image, 1),
    ];
    let mut first = 0;
    for (kind, len) in lists {
        if id < first + len {
            return kind;
        }
        first += len;
    }
    Kind::Utm
}

/// What one pass over the subject and the bodies found.
#[derive(Debug, Default)]
struct Found {
    promotional: usize,
    outreach: usize,
    unsubscribe: usize,
    transactional: usize,
    /// Where each `<img` of the bodies starts.
    images: Vec<usize>,
    utm: bool,
}

/// One pass over the subject and one over the bodies. Each phrase counts once however often
/// it occurs (in the subject or the bodies); matches may overlap ("special offer" and "offer"
/// both count).
fn find(subject: &str, body: &str) -> Found {
    let mut seen = [false; 256];
    let mut found = Found::default();
    for (text, is_body) in [(subject, false), (body, true)] {
        let mut state = 0usize;
        for (at, &byte) in text.as_bytes().iter().enumerate() {
            state = usize::from(NEXT[state * CLASSES + usize::from(CLASS[usize::from(byte)])]);
            let matched = usize::from(MATCH_START[state])..usize::from(MATCH_START[state + 1]);
            for &id in &MATCHES[matched] {
                let id = usize::from(id);
                match kind(id) {
                    // `<img` ends at `at`.
                    Kind::Image if is_body => found.images.push(at + 1 - "<img".len()),
                    Kind::Utm if is_body => found.utm = true,
                    Kind::Image | Kind::Utm => {}
                    _ if seen[id] => {}
                    kind => {
                        seen[id] = true;
                        *match kind {
                            Kind::Promotional => &mut found.promotional,
                            Kind::Outreach => &mut found.outreach,
                            Kind::Unsubscribe => &mut found.unsubscribe,
                            _ => &mut found.transactional,
                        } += 1;
                    }
                }
            }
        }
    }
    found
}

/// An `<img` tag (starting at each of `starts`) that is 1x1, hidden, or points at an
/// open-tracking URL.
fn tracking_pixel(body: &str, starts: &[usize]) -> bool {
    starts.iter().enumerate().any(|(i, &start)| {
        let next = starts.get(i + 1).copied().unwrap_or(body.len());
        let rest = &body.as_bytes()[start + 4..next];
        let end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
        let tag = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
        (tag.contains("width=\"1\"") && tag.contains("height=\"1\""))
            || tag.contains("display:none")
            || ["/open/", "/track", "pixel", "beacon"]
                .iter()
                .any(|m| tag.contains(m))
    })
}

/// Scores `f`; `bulk` is true when the same content went to many recipients lately.
pub fn score(f: &Features, bulk: bool) -> (i32, Vec<Signal>) {
    let found = find(&f.subject, &f.body);
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
    if tracking_pixel(&f.body, &found.images) {
        add("tracking-pixel", 2);
    }
    if found.images.len() >= 5 {
        add("many-images", 2);
    }
    if f.links >= 10 {
        add("many-links", if f.links >= 20 { 2 } else { 1 });
    }
    if found.utm {
        add("campaign-tracking", 2);
    }
    if found.unsubscribe > 0 {
        add("unsubscribe-footer", 2);
    }
    if found.promotional > 0 {
        add("promotional-wording", (found.promotional as i32).min(4));
    }
    if found.outreach > 0 {
        add("outreach-wording", (2 * found.outreach as i32).min(6));
    }
    if f.recipients > 10 {
        add("many-recipients", 2);
    }
    if bulk {
        add("same-content-to-many", 3);
    }
    if found.transactional > 0 {
        add(
            "transactional-wording",
            -(2 * found.transactional as i32).min(6),
        );
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
        body,
        links: message.links().len(),
        recipients: session.rcpt_count() as usize,
    }
}

/// A cheap stable hash (FNV-1a) of the content (the body's ASCII letters lower-cased), the
/// same for every recipient of a mailing.
fn fingerprint(f: &Features) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    let body = f.body.bytes().map(|b| b.to_ascii_lowercase());
    for b in f.subject.bytes().chain(body) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// What to do past the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Tag,
    Quarantine,
    Reject,
}

struct Detector {
    threshold: i32,
    action: Action,
    bulk_window_secs: u32,
    bulk_recipients: u64,
}

#[plugin]
impl Plugin for Detector {
    fn init(config: &Config) -> Result<Self, ConfigError> {
        let action = match config.one_of("action", &["tag", "quarantine", "reject"])? {
            Some("quarantine") => Action::Quarantine,
            Some("reject") => Action::Reject,
            _ => Action::Tag,
        };
        Ok(Detector {
            threshold: config.parse_or("threshold", 5)?,
            action,
            bulk_window_secs: config.parse_or("bulk_window_secs", 3600)?,
            bulk_recipients: config.parse_or("bulk_recipients", 200)?,
        })
    }

    fn on_data(&self, session: &Session, message: &Message) -> Decision {
        let f = features(session, message);
        let threshold = self.threshold;
        let seen = sluice_sdk::host::counter_add(
            &format!("fp:{:016x}", fingerprint(&f)),
            self.bulk_window_secs,
            u64::from(session.rcpt_count().max(1)),
        );
        let (total, signals) = score(&f, seen > self.bulk_recipients);
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
        match self.action {
            Action::Reject => Decision::reject(
                550,
                "5.7.1",
                &format!("marketing mail is not accepted on this transactional relay; {why}"),
            ),
            Action::Quarantine => Decision::quarantine(&why),
            Action::Tag => Decision::proceed(),
        }
        .rule("marketing")
        .header("X-Sluice-Marketing", &header)
        .tag(&tag)
        .tag("marketing")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(subject: &str, body: &str) -> Features {
        Features {
            subject: subject.into(),
            body: body.into(),
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

    #[test]
    fn phrases_match_in_any_case_and_count_once() {
        let found = find(
            "SHOP NOW, Shop Now",
            "<IMG src=x><img src=y> Special Offer utm_source Password",
        );
        assert_eq!(found.promotional, 3, "{found:?}"); // shop now, special offer, offer
        assert_eq!(found.transactional, 1, "{found:?}");
        assert_eq!(found.images, vec![0, 11]);
        assert!(found.utm);
        let all: Vec<&str> = [PROMOTIONAL, OUTREACH, UNSUBSCRIBE_FOOTER, TRANSACTIONAL].concat();
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "a phrase is listed twice");
    }

    /// The one pass finds what lower-casing and searching for each phrase found, on every
    /// message of the corpus.
    #[test]
    fn one_pass_agrees_with_a_search_per_phrase_on_the_corpus() {
        let naive = |text: &str, list: &[&str]| {
            let text = text.to_lowercase();
            list.iter().filter(|p| text.contains(*p)).count()
        };
        let mut checked = 0;
        for label in ["marketing", "transactional"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("corpus")
                .join(label);
            for entry in std::fs::read_dir(dir).unwrap() {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                let found = find("", &text);
                assert_eq!(found.promotional, naive(&text, PROMOTIONAL));
                assert_eq!(found.outreach, naive(&text, OUTREACH));
                assert_eq!(found.unsubscribe, naive(&text, UNSUBSCRIBE_FOOTER));
                assert_eq!(found.transactional, naive(&text, TRANSACTIONAL));
                assert_eq!(
                    found.images.len(),
                    text.to_lowercase().matches("<img").count()
                );
                assert_eq!(found.utm, text.to_lowercase().contains("utm_"));
                checked += 1;
            }
        }
        assert!(checked >= 150, "{checked}");
    }

    #[test]
    fn settings_are_checked_with_their_key() {
        let e = |pairs: &[(&str, &str)]| {
            Detector::init(&Config::from_pairs(pairs.iter().copied()))
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(e(&[("action", "reject"), ("threshold", "7")]), None);
        assert!(e(&[("action", "delete")])
            .unwrap()
            .starts_with("key `action`"));
        assert!(e(&[("threshold", "high")])
            .unwrap()
            .starts_with("key `threshold`"));
    }
}
