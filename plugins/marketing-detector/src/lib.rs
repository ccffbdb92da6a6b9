//! marketing-detector: keeps marketing mail off a transactional relay — the tenant who slips
//! a newsletter between password resets spoils the reputation every other tenant shares.
//!
//! At the data hook it measures [`features::FEATURES`] (list and notification headers, the
//! sender's address, the HTML's structure, links, prices, percentages, codes and
//! identifiers; almost none of it depends on the language) and weighs them with a logistic
//! regression fitted on a labelled corpus (weights.rs, written by fit/fit.py; see the
//! README). The score is the log-odds in tenths ("points"): each signal's points are its
//! weight times its value, and they add up to the score. Two signals come from the envelope
//! and the host and are weighed by hand: many recipients in one transaction, and the same
//! content to many recipients within a window (a host counter).
//!
//! Past the threshold the tenant's action applies: tag (default), quarantine, or reject.
//! Every message gets an `X-Sluice-Marketing` header with the score, the threshold and the
//! signals with their points, and a `marketing-score=N` tag (the router plugin routes on it).

use sluice_sdk::prelude::*;

pub mod features;
mod html;
mod substring;
mod weights;

use features::{Input, FEATURES};

/// Points per unit of log-odds: a signal's points are 10 × weight × value.
pub const POINTS: f32 = 10.0;
/// Hand-set points (not fitted: the corpus is single messages).
const MANY_RECIPIENTS: i32 = 15;
const SAME_CONTENT_TO_MANY: i32 = 30;

/// One signal and its points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub name: &'static str,
    pub points: i32,
}

/// Scores a feature vector; `recipients` of this transaction, `bulk` when the same content
/// went to many recipients lately. Signals come strongest first; they add up to the score.
pub fn score(v: &[f32; FEATURES.len()], recipients: usize, bulk: bool) -> (i32, Vec<Signal>) {
    let points = |w: f32| (w * POINTS).round() as i32;
    let mut signals = vec![Signal {
        name: "base",
        points: points(weights::BIAS),
    }];
    for ((name, w), x) in FEATURES.iter().zip(weights::WEIGHTS).zip(v) {
        let p = points(w * x);
        if p != 0 {
            signals.push(Signal { name, points: p });
        }
    }
    if recipients > 10 {
        signals.push(Signal {
            name: "many-recipients",
            points: MANY_RECIPIENTS,
        });
    }
    if bulk {
        signals.push(Signal {
            name: "same-content-to-many",
            points: SAME_CONTENT_TO_MANY,
        });
    }
    signals[1..].sort_by_key(|s| std::cmp::Reverse(s.points.abs()));
    (signals.iter().map(|s| s.points).sum(), signals)
}

fn first(message: &Message, name: &str) -> String {
    message.header(name).into_iter().next().unwrap_or_default()
}

fn input(message: &Message) -> Input {
    let has = |name: &str| !message.header(name).is_empty();
    Input {
        from: first(message, "From"),
        subject: message.subject().unwrap_or_default(),
        text: message.text_body().unwrap_or_default(),
        html: message.html_body().unwrap_or_default(),
        links: message.links(),
        attachments: message
            .attachments()
            .into_iter()
            .map(|a| (a.name.unwrap_or_default(), a.content_type))
            .collect(),
        list_unsubscribe: has("List-Unsubscribe"),
        list_unsubscribe_post: has("List-Unsubscribe-Post"),
        list_id: has("List-Id"),
        precedence: first(message, "Precedence").to_ascii_lowercase(),
        auto_submitted: first(message, "Auto-Submitted").to_ascii_lowercase(),
        in_reply_to: has("In-Reply-To") || has("References"),
        to: first(message, "To"),
        references: [message.header("In-Reply-To"), message.header("References")]
            .concat()
            .join(" "),
    }
}

/// A cheap stable hash (FNV-1a) of the content (subject and text, ASCII lower-cased), the
/// same for every recipient of a mailing.
fn fingerprint(m: &Input) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in m.subject.bytes().chain(m.text.bytes()) {
        h ^= u64::from(b.to_ascii_lowercase());
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
    /// Write the feature vector into `X-Sluice-Marketing-Features` (for fit/fit.py).
    features_header: bool,
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
            threshold: config.parse_or("threshold", weights::THRESHOLD)?,
            action,
            bulk_window_secs: config.parse_or("bulk_window_secs", 3600)?,
            bulk_recipients: config.parse_or("bulk_recipients", 200)?,
            features_header: config.parse_or("features_header", false)?,
        })
    }

    fn on_data(&self, session: &Session, message: &Message) -> Decision {
        let m = input(message);
        let v = features::extract(&m);
        let recipients = session.rcpt_count();
        let seen = sluice_sdk::host::counter_add(
            &format!("fp:{:016x}", fingerprint(&m)),
            self.bulk_window_secs,
            u64::from(recipients.max(1)),
        );
        let (total, signals) = score(&v, recipients as usize, seen > self.bulk_recipients);
        let threshold = self.threshold;
        let fired: Vec<String> = signals
            .iter()
            .map(|s| format!("{}({:+})", s.name, s.points))
            .collect();
        let header = format!(
            "score={total}; threshold={threshold}; signals={}",
            fired.join(",")
        );
        let mut decision = if total < threshold {
            Decision::proceed()
        } else {
            // The reply keeps 200 bytes of text: the strongest signals for marketing.
            let top: Vec<String> = signals
                .iter()
                .filter(|s| s.points > 0 && s.name != "base")
                .take(4)
                .map(|s| format!("{}({:+})", s.name, s.points))
                .collect();
            let why = format!(
                "looks like marketing (score {total} >= {threshold}: {})",
                top.join(", ")
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
            .tag("marketing")
        };
        decision = decision
            .header("X-Sluice-Marketing", &header)
            .tag(&format!("marketing-score={total}"));
        if self.features_header {
            let values: Vec<String> = FEATURES
                .iter()
                .zip(v)
                .map(|(n, x)| format!("{n}={x:.4}"))
                .collect();
            decision = decision.header("X-Sluice-Marketing-Features", &values.join(","));
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weights_follow_the_features() {
        assert_eq!(
            weights::NAMES,
            FEATURES,
            "re-run fit/fit.py after changing FEATURES"
        );
        assert!(weights::WEIGHTS.iter().all(|w| w.is_finite()));
    }

    #[test]
    fn signals_add_up_to_the_score_and_come_strongest_first() {
        let mut v = [0.0; FEATURES.len()];
        v[0] = 1.0;
        v[5] = 1.0;
        v[25] = 1.0;
        let (total, signals) = score(&v, 1, false);
        assert_eq!(signals[0].name, "base");
        assert_eq!(total, signals.iter().map(|s| s.points).sum::<i32>());
        let strengths: Vec<i32> = signals[1..].iter().map(|s| s.points.abs()).collect();
        assert!(strengths.windows(2).all(|w| w[0] >= w[1]), "{signals:?}");
        let (bulk, _) = score(&v, 30, true);
        assert_eq!(bulk - total, MANY_RECIPIENTS + SAME_CONTENT_TO_MANY);
    }

    #[test]
    fn settings_are_checked_with_their_key() {
        let e = |pairs: &[(&str, &str)]| {
            Detector::init(&Config::from_pairs(pairs.iter().copied()))
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(e(&[("action", "reject"), ("threshold", "7")]), None);
        assert_eq!(e(&[("features_header", "true")]), None);
        assert!(e(&[("action", "delete")])
            .unwrap()
            .starts_with("key `action`"));
        assert!(e(&[("threshold", "high")])
            .unwrap()
            .starts_with("key `threshold`"));
        assert!(e(&[("features_header", "yes please")])
            .unwrap()
            .starts_with("key `features_header`"));
    }
}
