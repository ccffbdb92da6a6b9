//! volume-limits: per-tenant limits on messages and recipients per minute, hour and day, and
//! on recipients per destination domain per hour, kept in the host's counters so they hold
//! across sessions and instances, exactly: a limit is checked and counted in one atomic step
//! (`counter-add-below`), so parallel sessions cannot overshoot it. Over a limit the client
//! gets `451 4.7.1` saying which limit and when to retry. See README.md for the keys.
use sluice_sdk::host::counter_add_below;
use sluice_sdk::prelude::*;

/// (config key, window in seconds, what the window is called)
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

/// One configured limit, with its counter's name made once.
struct Limit {
    key: &'static str,
    counter: String,
    window: u32,
    unit: &'static str,
    max: u64,
}

/// A limit's value: a whole number; absent or 0 leaves it off.
fn limit(config: &Config, key: &str) -> Result<Option<u64>, ConfigError> {
    Ok(config.parse::<u64>(key)?.filter(|&n| n > 0))
}

fn limits(
    config: &Config,
    table: &[(&'static str, u32, &'static str)],
    prefix: &str,
) -> Result<Vec<Limit>, ConfigError> {
    let mut out = Vec::new();
    for &(key, window, unit) in table {
        if let Some(max) = limit(config, key)? {
            out.push(Limit {
                key,
                counter: format!("{prefix}:{window}"),
                window,
                unit,
                max,
            });
        }
    }
    Ok(out)
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

/// Checks and counts `delta` against every limit in `limits`, shortest window first. A
/// message refused by a longer window has already been counted in the shorter ones: the
/// limits never let too much through, at worst they are one message stricter.
fn check(limits: &[Limit], what: &str, delta: u64) -> Option<Decision> {
    limits.iter().find_map(|l| {
        counter_add_below(&l.counter, l.window, delta, l.max)
            .is_err()
            .then(|| over(what, l.max, l.unit, l.window, l.key))
    })
}

struct Burst {
    factor: u64,
    floor: u64,
}

impl Burst {
    /// The last five minutes far above this tenant's daily average rate.
    fn check(&self) -> Option<Decision> {
        let recent = sluice_sdk::host::counter_add("burst:300", 300, 1);
        let day = sluice_sdk::host::counter_add("burst:86400", 86_400, 1);
        let baseline_per_5min = day / 288;
        if recent > self.floor && recent > self.factor * baseline_per_5min.max(1) {
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
}

struct VolumeLimits {
    messages: Vec<Limit>,
    recipients: Vec<Limit>,
    domain_recipients_per_hour: Option<u64>,
    burst: Option<Burst>,
}

#[plugin]
impl Plugin for VolumeLimits {
    fn init(config: &Config) -> Result<Self, ConfigError> {
        let floor = limit(config, "burst_min")?.unwrap_or(100);
        Ok(VolumeLimits {
            messages: limits(config, &MESSAGE_LIMITS, "messages")?,
            recipients: limits(config, &RECIPIENT_LIMITS, "rcpts")?,
            domain_recipients_per_hour: limit(config, "domain_recipients_per_hour")?,
            burst: limit(config, "burst_factor")?.map(|factor| Burst { factor, floor }),
        })
    }

    fn on_rcpt_to(&self, _session: &Session, rcpt: String) -> Decision {
        // The most specific limit first, so a recipient refused for its domain is not counted
        // against the tenant's overall recipient limits.
        if let Some(max) = self.domain_recipients_per_hour {
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
        check(&self.recipients, "recipients", 1).unwrap_or_else(Decision::proceed)
    }

    fn on_data(&self, _session: &Session, _message: &Message) -> Decision {
        if let Some(d) = check(&self.messages, "messages", 1) {
            return d;
        }
        self.burst
            .as_ref()
            .and_then(Burst::check)
            .unwrap_or_else(Decision::proceed)
    }
}
