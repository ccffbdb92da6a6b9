//! The shaping configuration, resolved: providers (built-in ones, then the operator's), the
//! limits of each, and the rules with their regular expressions compiled at load time.

use crate::config::raw::{self, ShapingAction, Unavailable};
use crate::delivery::reply::Response;
use regex::Regex;
use std::time::Duration;

/// The big mailbox providers and the MX host suffixes they answer on; an operator's
/// `[[delivery.shaping.provider]]` of the same name replaces an entry.
const BUILTIN: &[(&str, &[&str])] = &[
    ("gmail", &["google.com", "googlemail.com"]),
    ("outlook", &["outlook.com", "hotmail.com"]),
    ("yahoo", &["yahoodns.net"]),
    ("icloud", &["icloud.com"]),
    ("gmx", &["gmx.net", "web.de"]),
    ("mailru", &["mail.ru"]),
    ("yandex", &["yandex.net", "yandex.ru"]),
];

/// Limits of one destination; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub connections: Option<usize>,
    pub messages_per_minute: Option<u64>,
}

impl Limits {
    /// The lower of each limit.
    pub fn min(self, other: Limits) -> Limits {
        fn lower<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        Limits {
            connections: lower(self.connections, other.connections),
            messages_per_minute: lower(self.messages_per_minute, other.messages_per_minute),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    /// Lower case, no leading or trailing dot.
    pub suffixes: Vec<String>,
    pub limits: Limits,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub provider: Option<String>,
    pub code: Option<u16>,
    pub status: Option<String>,
    pub text: Option<Regex>,
    pub action: ShapingAction,
    /// Zero only for a `bounce` that concerns the message at hand alone.
    pub duration: Duration,
    /// What a `throttle` lowers the limits to.
    pub limits: Limits,
}

impl Rule {
    /// Whether `reply`, from a host of `provider`, meets every condition of the rule. Only
    /// the next hop's own replies count: what this relay decided itself shapes nothing.
    pub fn matches(&self, provider: Option<&str>, reply: &Response) -> bool {
        let Some(r) = reply.remote() else {
            return false;
        };
        if self.provider.is_some() && self.provider.as_deref() != provider {
            return false;
        }
        if self.code.is_some_and(|c| c != r.code) {
            return false;
        }
        if let Some(prefix) = &self.status {
            let status = r.status.map(|s| s.to_string()).unwrap_or_default();
            if status != *prefix && !status.starts_with(&format!("{prefix}.")) {
                return false;
            }
        }
        self.text.as_ref().is_none_or(|re| re.is_match(&r.text))
    }
}

#[derive(Debug, Clone)]
pub struct ShapingConfig {
    pub providers: Vec<Provider>,
    pub default: Limits,
    pub rules: Vec<Rule>,
    pub on_unavailable: Unavailable,
}

impl Default for ShapingConfig {
    fn default() -> Self {
        ShapingConfig::resolve(raw::Shaping::default()).expect("the defaults are valid")
    }
}

/// A `[delivery.shaping]` key that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
#[error("`delivery.shaping.{key}`: {message}")]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

fn invalid(key: String, message: impl Into<String>) -> Invalid {
    Invalid {
        key,
        message: message.into(),
    }
}

impl ShapingConfig {
    pub fn resolve(s: raw::Shaping) -> Result<ShapingConfig, Invalid> {
        let mut providers: Vec<Provider> = Vec::new();
        if s.builtin_providers {
            providers.extend(BUILTIN.iter().map(|(name, suffixes)| Provider {
                name: (*name).to_owned(),
                suffixes: suffixes.iter().map(|s| (*s).to_owned()).collect(),
                limits: Limits::default(),
            }));
        }
        let mut own = std::collections::HashSet::new();
        for (i, p) in s.providers.into_iter().enumerate() {
            let suffixes: Vec<String> = p
                .mx_suffixes
                .iter()
                .map(|x| x.trim_matches('.').to_ascii_lowercase())
                .filter(|x| !x.is_empty())
                .collect();
            if suffixes.is_empty() {
                return Err(invalid(
                    format!("provider[{i}].mx_suffixes"),
                    "list at least one MX host suffix, e.g. [\"google.com\"]",
                ));
            }
            let provider = Provider {
                name: p.name,
                suffixes,
                limits: limits(p.connections, p.messages_per_minute)
                    .map_err(|m| invalid(format!("provider[{i}]"), m))?,
            };
            if !own.insert(provider.name.clone()) {
                return Err(invalid(
                    format!("provider[{i}].name"),
                    format!("provider {:?} is defined twice", provider.name),
                ));
            }
            if let Some(q) = providers.iter_mut().find(|q| q.name == provider.name) {
                *q = provider;
            } else {
                providers.push(provider);
            }
        }
        let mut rules = Vec::new();
        for (i, r) in s.rules.into_iter().enumerate() {
            let key = |k: &str| format!("rule[{i}].{k}");
            if let Some(p) = &r.provider {
                if !providers.iter().any(|q| &q.name == p) {
                    return Err(invalid(
                        key("provider"),
                        format!("no provider is named {p:?}"),
                    ));
                }
            }
            let text = r
                .text
                .as_deref()
                .map(Regex::new)
                .transpose()
                .map_err(|e| invalid(key("text"), format!("not a regular expression: {e}")))?;
            if let Some(status) = &r.status {
                let parts: Vec<&str> = status.split('.').collect();
                if parts.len() > 3 || parts.iter().any(|p| p.parse::<u16>().is_err()) {
                    return Err(invalid(
                        key("status"),
                        format!("{status:?} is not an enhanced status or a prefix of one (\"4.7.0\", \"5.7\")"),
                    ));
                }
            }
            if r.code.is_some_and(|c| !(400..600).contains(&c)) {
                return Err(invalid(
                    key("code"),
                    "a reply code that did not deliver: 400 to 599",
                ));
            }
            let duration = r.duration.map(|d| d.0).unwrap_or_default();
            if duration.is_zero() && r.action != ShapingAction::Bounce {
                return Err(invalid(
                    key("duration"),
                    "say how long the action lasts, e.g. \"10m\"",
                ));
            }
            let limits = limits(r.connections, r.messages_per_minute)
                .map_err(|m| invalid(format!("rule[{i}]"), m))?;
            if r.action == ShapingAction::Throttle && limits == Limits::default() {
                return Err(invalid(
                    format!("rule[{i}]"),
                    "a throttle needs `connections` or `messages_per_minute`",
                ));
            }
            rules.push(Rule {
                name: r.name.unwrap_or_else(|| format!("rule[{i}]")),
                provider: r.provider,
                code: r.code,
                status: r.status,
                text,
                action: r.action,
                duration,
                limits,
            });
        }
        Ok(ShapingConfig {
            providers,
            default: limits(s.default.connections, s.default.messages_per_minute)
                .map_err(|m| invalid("default".into(), m))?,
            rules,
            on_unavailable: s.on_unavailable,
        })
    }

    /// The provider whose suffix one of `hosts` ends in (the first host that matches decides).
    pub fn provider_of<'a>(&self, hosts: impl IntoIterator<Item = &'a str>) -> Option<&Provider> {
        hosts.into_iter().find_map(|host| {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            self.providers.iter().find(|p| {
                p.suffixes.iter().any(|s| {
                    host == *s
                        || (host.ends_with(s.as_str())
                            && host[..host.len() - s.len()].ends_with('.'))
                })
            })
        })
    }
}

fn limits(connections: Option<usize>, per_minute: Option<u64>) -> Result<Limits, String> {
    if connections == Some(0) || per_minute == Some(0) {
        return Err("a limit of 0 would stop delivery for good: use a rule with `suspend`".into());
    }
    Ok(Limits {
        connections,
        messages_per_minute: per_minute,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::reply::{RemoteReply, Status};

    fn config(toml_text: &str) -> Result<ShapingConfig, Invalid> {
        ShapingConfig::resolve(toml::from_str(toml_text).expect("valid TOML"))
    }

    fn reply(code: u16, status: &str, text: &str) -> Response {
        Response::Remote(RemoteReply {
            code,
            status: Status::parse(status),
            text: text.into(),
            host: "mx.dest.test[127.0.0.2]:25".into(),
        })
    }

    #[test]
    fn providers_match_by_mx_suffix_and_the_operator_replaces_a_builtin() {
        let c = config(
            "[[provider]]\nname = \"gmail\"\nmx_suffixes = [\"gmail-smtp-in.l.google.com\"]\nmessages_per_minute = 5\n\
             [[provider]]\nname = \"corp\"\nmx_suffixes = [\".Corp.Test.\"]\nconnections = 2\n",
        )
        .unwrap();
        let name = |hosts: &[&str]| c.provider_of(hosts.iter().copied()).map(|p| p.name.clone());
        assert_eq!(
            name(&["gmail-smtp-in.l.google.com."]).as_deref(),
            Some("gmail")
        );
        // The operator's gmail entry replaced the built-in suffixes.
        assert_eq!(name(&["alt1.aspmx.l.google.com"]), None);
        assert_eq!(name(&["mx1.corp.test"]).as_deref(), Some("corp"));
        assert_eq!(
            name(&["notcorp.test"]),
            None,
            "a suffix matches whole labels"
        );
        assert_eq!(
            name(&["a.mail.protection.outlook.com"]).as_deref(),
            Some("outlook")
        );
        assert_eq!(c.providers.iter().filter(|p| p.name == "gmail").count(), 1);
        let gmail = c.providers.iter().find(|p| p.name == "gmail").unwrap();
        assert_eq!(gmail.limits.messages_per_minute, Some(5));
    }

    #[test]
    fn a_rule_matches_code_status_prefix_text_and_provider() {
        let c = config(
            "[[rule]]\ncode = 421\nstatus = \"4.7\"\ntext = \"(?i)try again later\"\naction = \"suspend\"\nduration = \"2s\"\n\
             [[rule]]\nprovider = \"gmail\"\ncode = 550\naction = \"bounce\"\n",
        )
        .unwrap();
        let (suspend, bounce) = (&c.rules[0], &c.rules[1]);
        assert!(suspend.matches(None, &reply(421, "4.7.0", "Try again LATER")));
        assert!(!suspend.matches(None, &reply(421, "4.3.0", "try again later")));
        assert!(!suspend.matches(None, &reply(421, "4.7.0", "go away")));
        assert!(!suspend.matches(None, &reply(451, "4.7.0", "try again later")));
        assert!(bounce.matches(Some("gmail"), &reply(550, "5.7.1", "blocked")));
        assert!(!bounce.matches(Some("yahoo"), &reply(550, "5.7.1", "blocked")));
        assert!(!bounce.matches(None, &reply(550, "5.7.1", "blocked")));
        // This relay's own reports shape nothing.
        let local = Response::local_reply(
            crate::delivery::reply::Cause::Connect,
            421,
            Status::new(4, 7, 0),
            "try again later",
        );
        assert!(!suspend.matches(None, &local));
    }

    #[test]
    fn bad_rules_name_their_key() {
        let e = |t: &str| config(t).unwrap_err().to_string();
        assert!(e("[[rule]]\naction = \"suspend\"\n").contains("rule[0].duration"));
        assert!(e("[[rule]]\ntext = \"(\"\naction = \"bounce\"\n").contains("rule[0].text"));
        assert!(
            e("[[rule]]\nprovider = \"nope\"\naction = \"bounce\"\n").contains("rule[0].provider")
        );
        assert!(
            e("[[rule]]\naction = \"throttle\"\nduration = \"1m\"\n").contains("a throttle needs")
        );
        assert!(e("[[rule]]\nstatus = \"4.x\"\naction = \"bounce\"\n").contains("rule[0].status"));
        assert!(e("[default]\nmessages_per_minute = 0\n").contains("delivery.shaping.default"));
    }
}
