//! Written by fit/fit.py from corpus/train and corpus/v1; do not edit.
//! 794 messages (365 marketing), L2 penalty 0.3 chosen by 5-fold
//! cross-validation by sender; out-of-fold at the default threshold:
//! precision 0.997, recall 0.838.

/// The feature names these weights were fitted for (the order of `features::FEATURES`).
#[cfg_attr(not(test), allow(dead_code))]
pub const NAMES: [&str; 41] = [
    "list-unsubscribe",
    "one-click-unsubscribe",
    "list-id",
    "precedence-bulk",
    "precedence-list",
    "auto-submitted",
    "thread",
    "reply-subject",
    "sender-noreply",
    "sender-system",
    "sender-promo",
    "sender-promo-domain",
    "sender-personal",
    "subject-code",
    "subject-percent",
    "subject-exclaim",
    "subject-emoji",
    "subject-caps",
    "has-html",
    "text-size",
    "link-density",
    "link-hosts",
    "image-density",
    "large-images",
    "tracking-pixel",
    "click-tracking",
    "utm",
    "buttons",
    "unsubscribe-link",
    "unsubscribe-text",
    "settings-link",
    "social-links",
    "hidden-text",
    "prices",
    "percentages",
    "identifiers",
    "questions",
    "promo-code",
    "token-links",
    "document",
    "bulk-without-notice",
];
/// The intercept, in log-odds.
pub const BIAS: f32 = -4.2210;
/// Log-odds per unit of each feature.
pub const WEIGHTS: [f32; 41] = [
    0.0000,  // list-unsubscribe
    1.3034,  // one-click-unsubscribe
    2.7168,  // list-id
    0.6358,  // precedence-bulk
    0.5895,  // precedence-list
    -4.0585, // auto-submitted
    0.3903,  // thread
    0.3562,  // reply-subject
    -0.1917, // sender-noreply
    -1.2351, // sender-system
    1.6909,  // sender-promo
    0.6911,  // sender-promo-domain
    5.2737,  // sender-personal
    -2.3344, // subject-code
    2.0855,  // subject-percent
    0.1191,  // subject-exclaim
    0.5537,  // subject-emoji
    0.0000,  // subject-caps
    -1.0653, // has-html
    1.0057,  // text-size
    1.0790,  // link-density
    -0.3451, // link-hosts
    -0.3539, // image-density
    3.4712,  // large-images
    0.0000,  // tracking-pixel
    0.0000,  // click-tracking
    2.1304,  // utm
    0.0000,  // buttons
    0.0000,  // unsubscribe-link
    0.0000,  // unsubscribe-text
    -1.5596, // settings-link
    1.3359,  // social-links
    0.0000,  // hidden-text
    -0.5857, // prices
    3.2343,  // percentages
    -4.1519, // identifiers
    1.4422,  // questions
    0.7591,  // promo-code
    -2.2263, // token-links
    -1.4622, // document
    1.9456,  // bulk-without-notice
];
/// The default threshold, in points (tenths of log-odds).
pub const THRESHOLD: i32 = 25;
