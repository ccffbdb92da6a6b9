//! Written by fit/fit.py from corpus/train, corpus/retired and corpus/v1; do not edit.
//! 949 messages (437 marketing), L2 penalty 0.3 chosen by 5-fold
//! cross-validation by sender; out-of-fold at the default threshold:
//! precision 0.997, recall 0.876.

/// The feature names these weights were fitted for (the order of `features::FEATURES`).
#[cfg_attr(not(test), allow(dead_code))]
pub const NAMES: [&str; 46] = [
    "list-unsubscribe",
    "one-click-unsubscribe",
    "list-id",
    "precedence-bulk",
    "precedence-list",
    "auto-submitted",
    "thread",
    "reply-to-recipient",
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
    "meeting-link",
    "no-notice",
    "links-without-notice",
    "thread-without-notice",
    "bulk-without-notice",
];
/// The intercept, in log-odds.
pub const BIAS: f32 = -6.5291;
/// Log-odds per unit of each feature.
pub const WEIGHTS: [f32; 46] = [
    0.0000,  // list-unsubscribe
    1.2648,  // one-click-unsubscribe
    2.2250,  // list-id
    0.0692,  // precedence-bulk
    0.9258,  // precedence-list
    -3.4450, // auto-submitted
    -0.3683, // thread
    -2.3632, // reply-to-recipient
    0.9455,  // reply-subject
    0.3326,  // sender-noreply
    -0.4087, // sender-system
    3.1918,  // sender-promo
    0.4424,  // sender-promo-domain
    5.1034,  // sender-personal
    -3.2122, // subject-code
    2.1668,  // subject-percent
    0.2744,  // subject-exclaim
    0.5242,  // subject-emoji
    0.0000,  // subject-caps
    -1.0710, // has-html
    2.7935,  // text-size
    1.0533,  // link-density
    -1.1384, // link-hosts
    -0.2426, // image-density
    3.6436,  // large-images
    0.0000,  // tracking-pixel
    0.0000,  // click-tracking
    2.0417,  // utm
    0.6558,  // buttons
    0.0000,  // unsubscribe-link
    0.2702,  // unsubscribe-text
    -0.5720, // settings-link
    2.0813,  // social-links
    0.0000,  // hidden-text
    -0.9081, // prices
    2.7930,  // percentages
    -3.2532, // identifiers
    0.7829,  // questions
    1.0056,  // promo-code
    -1.5263, // token-links
    -1.3332, // document
    2.5246,  // meeting-link
    0.4409,  // no-notice
    1.0047,  // links-without-notice
    2.2809,  // thread-without-notice
    1.1034,  // bulk-without-notice
];
/// The default threshold, in points (tenths of log-odds).
pub const THRESHOLD: i32 = 22;
