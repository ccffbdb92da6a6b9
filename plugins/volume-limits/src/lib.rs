//! volume-limits: per-tenant limits on messages and recipients per minute, hour and day, and
//! on recipients per destination domain per hour, kept in the host's counters so they hold
//! across sessions and instances, exactly: a limit is checked and counted in one atomic step
//! (`counter-add-below`), so parallel sessions cannot overshoot it. Over a limit the client
//! gets `451 4.7.1` saying which limit and when to retry. See README.md for the keys.
use sluice_sdk::host::counter_add_below;
use sluice_sdk::prelude::*;

/// (config key, counter name, window in seconds, what is counted)
const MESSAGE_LIMITS: [(&str, u32, &str); 3] = [
    ("messages_per_minute", 60, "minute"),
    ("messages_per_hour", 3600, "hour"),
    ("messages_per_day", 86_400, "day"),
];
const RECIPIENT_LIMITS: [(&str, u32, &str); 3] = [
    ("recipients_per_minute", 60, "minute"),
    ("recipients_per_hour", 3600, "hour"),
    ("recipients_per_day", 86_400, "day"),
];

fn limit(key: &str) -> Option<u64> {
    config(key)
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
}

/// Counters slide in steps of 1/60 of their window: that is when room frees up again.
fn retry_hint(window: u32) -> String {
    let step = (window / 60).max(1);
    if step < 120 {
        format!("{step} seconds")
    } else {
        format!("{} minutes", step / 60)
    }
}

fn over(what: &str, limit: u64, unit: &str, window: u32, rule: &str) -> Decision {
    Decision::tempfail(
        451,
        "4.7.1",
        &format!(
            "over this tenant's limit of {limit} {what} per {unit}; try again in about {}",
            retry_hint(window)
        ),
    )
    .rule(rule)
}

/// Checks and counts `delta` against every configured limit in `limits`, shortest window
/// first. A message refused by a longer window has already been counted in the shorter ones:
/// the limits never let too much through, at worst they are one message stricter.
fn check(limits: &[(&str, u32, &str)], prefix: &str, what: &str, delta: u64) -> Option<Decision> {
    for (key, window, unit) in limits {
        let Some(max) = limit(key) else { continue };
        if counter_add_below(&format!("{prefix}:{window}"), *window, delta, max).is_err() {
            return Some(over(what, max, unit, *window, key));
        }
    }
    None
}

/// A burst: the last five minutes far above this tenant's daily average rate.
fn burst() -> Option<Decision> {
    let factor: u64 = limit("burst_factor")?;
    let floor = limit("burst_min").unwrap_or(100);
    let recent = sluice_sdk::host::counter_add("burst:300", 300, 1);
    let day = sluice_sdk::host::counter_add("burst:86400", 86_400, 1);
    let baseline_per_5min = day / 288;
    if recent > floor && recent > factor * baseline_per_5min.max(1) {
        return Some(
            Decision::tempfail(
                451,
                "4.7.1",
                &format!(
                    "sending rate far above this tenant's usual ({recent} messages in 5 minutes, about {baseline_per_5min} usually); try again in about 5 minutes"
                ),
            )
            .rule("burst"),
        );
    }
    None
}

struct VolumeLimits;

impl Plugin for VolumeLimits {
    const HOOKS: &'static [Hook] = &[Hook::RcptTo, Hook::Data];

    fn on_rcpt_to(_session: &Session, rcpt: String) -> Decision {
        // The most specific limit first, so a recipient refused for its domain is not counted
        // against the tenant's overall recipient limits.
        if let Some(max) = limit("domain_recipients_per_hour") {
            let domain = rcpt
                .rsplit('@')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if counter_add_below(&format!("domain:{domain}"), 3600, 1, max).is_err() {
                return over(
                    &format!("recipients at {domain}"),
                    max,
                    "hour",
                    3600,
                    "domain_recipients_per_hour",
                );
            }
        }
        check(&RECIPIENT_LIMITS, "rcpts", "recipients", 1).unwrap_or_else(Decision::proceed)
    }

    fn on_data(_session: &Session, _message: &Message) -> Decision {
        if let Some(d) = check(&MESSAGE_LIMITS, "messages", "messages", 1) {
            return d;
        }
        burst().unwrap_or_else(Decision::proceed)
    }
}

sluice_sdk::export_plugin!(VolumeLimits);
