//! `[events]` and `[[tenant.webhook]]`, validated: the journal's retention and sync, the
//! webhook retry schedule, and each tenant's endpoints with their secrets read.

use super::raw;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What `[events]` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// Read when the journal opens: only a restart changes them.
    pub journal: JournalSettings,
    /// Read at each retry decision: a reload changes them.
    pub retry: RetrySettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalSettings {
    pub segment_size: u64,
    pub max_size: u64,
    pub max_age: Duration,
    pub sync_interval: Duration,
    /// Webhook requests in flight at once over all endpoints.
    pub webhook_concurrency: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySettings {
    /// How long one event is retried before it is dropped.
    pub retry_for: Duration,
    pub initial: Duration,
    pub max: Duration,
}

/// A webhook signing secret; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Arc<[u8]>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// One of a tenant's webhook endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    pub tenant: String,
    /// Unique within the tenant; keys the endpoint's delivery cursor.
    pub name: String,
    pub url: hyper::Uri,
    pub secret: Secret,
    /// Event names sent; empty: all of the tenant's events.
    pub events: Vec<String>,
    pub timeout: Duration,
    pub concurrency: usize,
    pub ca_file: Option<PathBuf>,
}

impl WebhookSpec {
    /// Whether an event named `event` goes to this endpoint.
    pub fn wants(&self, event: Option<&str>) -> bool {
        self.events.is_empty() || event.is_some_and(|e| self.events.iter().any(|w| w == e))
    }
}

/// A key and what is wrong with it.
pub type Invalid = (String, String);

pub fn events(e: &raw::Events) -> Result<EventsConfig, Invalid> {
    let bad = |key: &str, m: &str| Err((format!("events.{key}"), m.to_owned()));
    if e.sync_interval.0.is_zero() {
        return bad("sync_interval", "must be above zero");
    }
    if e.webhook_retry_initial.0.is_zero() {
        return bad("webhook_retry_initial", "must be above zero");
    }
    if e.webhook_retry_max.0 < e.webhook_retry_initial.0 {
        return bad(
            "webhook_retry_max",
            "must be at least webhook_retry_initial",
        );
    }
    if e.max_age.0 < e.webhook_retry_for.0 {
        return bad(
            "max_age",
            "must be at least webhook_retry_for: events a webhook still retries would be deleted",
        );
    }
    if e.webhook_concurrency == 0 {
        return bad("webhook_concurrency", "must be at least 1");
    }
    Ok(EventsConfig {
        journal: JournalSettings {
            segment_size: e.segment_size.0.max(64 << 10),
            max_size: e.max_size.0,
            max_age: e.max_age.0,
            sync_interval: e.sync_interval.0,
            webhook_concurrency: e.webhook_concurrency,
        },
        retry: RetrySettings {
            retry_for: e.webhook_retry_for.0,
            initial: e.webhook_retry_initial.0,
            max: e.webhook_retry_max.0,
        },
    })
}

/// Tenant `i`'s endpoints, relative paths taken from `base`.
pub fn webhooks(
    tenant: &str,
    i: usize,
    raw: Vec<raw::Webhook>,
    base: &Path,
) -> Result<Vec<Arc<WebhookSpec>>, Invalid> {
    let mut out: Vec<Arc<WebhookSpec>> = Vec::new();
    for (j, w) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("tenant[{i}].webhook[{j}].{k}");
        let url: hyper::Uri = w
            .url
            .parse()
            .map_err(|e| (key("url"), format!("{:?} is not a URL: {e}", w.url)))?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
            return Err((
                key("url"),
                format!(
                    "{:?}: expected an http:// or https:// URL with a host",
                    w.url
                ),
            ));
        }
        let name = w.name.clone().unwrap_or_else(|| w.url.clone());
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err((key("name"), "must be a non-empty printable name".into()));
        }
        if out.iter().any(|o| o.name == name) {
            return Err((
                key("name"),
                format!("tenant {tenant:?} has two webhooks named {name:?} (give each a `name`)"),
            ));
        }
        let secret = secret(&w, base).map_err(|m| (key("secret"), m))?;
        let mut events = Vec::new();
        for e in &w.events {
            if e == "*" {
                events.clear();
                break;
            }
            if !crate::events::NAMES.contains(&e.as_str()) {
                return Err((
                    key("events"),
                    format!(
                        "no event is named {e:?}; events are \"*\" or {}",
                        crate::events::NAMES.join(", ")
                    ),
                ));
            }
            events.push(e.clone());
        }
        if w.events.is_empty() {
            return Err((
                key("events"),
                "list the events to send, or [\"*\"] for all".into(),
            ));
        }
        if w.timeout.0.is_zero() {
            return Err((key("timeout"), "must be above zero".into()));
        }
        if w.concurrency == 0 {
            return Err((key("concurrency"), "must be at least 1".into()));
        }
        let ca_file = w
            .ca_file
            .map(|p| if p.is_absolute() { p } else { base.join(p) });
        if let Some(ca) = &ca_file {
            crate::tls::verifying_client(Some(ca)).map_err(|e| (key("ca_file"), e.to_string()))?;
        }
        out.push(Arc::new(WebhookSpec {
            tenant: tenant.to_owned(),
            name,
            url,
            secret,
            events,
            timeout: w.timeout.0,
            concurrency: w.concurrency,
            ca_file,
        }));
    }
    Ok(out)
}

/// The secret from exactly one of `secret_file`, `secret_env` and `secret`.
fn secret(w: &raw::Webhook, base: &Path) -> Result<Secret, String> {
    let value = match (&w.secret_file, &w.secret_env, &w.secret) {
        (Some(file), None, None) => {
            let path = if file.is_absolute() {
                file.clone()
            } else {
                base.join(file)
            };
            std::fs::read_to_string(&path)
                .map_err(|e| format!("secret_file {}: {e}", path.display()))?
                .trim()
                .to_owned()
        }
        (None, Some(var), None) => std::env::var(var)
            .map_err(|_| format!("secret_env: the environment variable {var} is not set"))?
            .trim()
            .to_owned(),
        (None, None, Some(inline)) => inline.clone(),
        (None, None, None) => {
            return Err("set one of secret_file, secret_env or secret".into());
        }
        _ => return Err("set only one of secret_file, secret_env and secret".into()),
    };
    if value.len() < 16 {
        return Err(
            "the secret is shorter than 16 bytes; use a long random one (`openssl rand -hex 32`)"
                .into(),
        );
    }
    Ok(Secret(value.into_bytes().into()))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const TENANT: &str = "[[tenant]]\nname = \"demo\"\nsender_domains = [\"example.com\"]\n";

    fn load(webhook: &str) -> Result<Config, String> {
        Config::from_toml(
            &format!("{TENANT}[[tenant.webhook]]\n{webhook}"),
            "test.toml",
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn webhooks_are_checked_when_the_config_loads() {
        let ok = "url = \"https://hooks.example/sluice\"\nsecret = \"0123456789abcdef0123\"\n";
        let c = load(ok).unwrap();
        let w = &c.tenants[0].webhooks[0];
        assert_eq!(w.name, "https://hooks.example/sluice");
        assert!(w.events.is_empty(), "all events by default");
        assert!(!format!("{w:?}").contains("0123456789abcdef0123"), "{w:?}");
        let cases = [
            ("url = \"ftp://x/\"\nsecret = \"0123456789abcdef0123\"\n", "webhook[0].url"),
            ("url = \"https://x/\"\n", "set one of secret_file, secret_env or secret"),
            ("url = \"https://x/\"\nsecret = \"short\"\n", "shorter than 16 bytes"),
            (
                "url = \"https://x/\"\nsecret = \"0123456789abcdef0123\"\nsecret_env = \"HOME\"\n",
                "set only one",
            ),
            (
                "url = \"https://x/\"\nsecret_env = \"SLUICE_NO_SUCH_VARIABLE\"\n",
                "SLUICE_NO_SUCH_VARIABLE is not set",
            ),
            (
                "url = \"https://x/\"\nsecret_file = \"/nonexistent/secret\"\n",
                "/nonexistent/secret",
            ),
            (
                "url = \"https://x/\"\nsecret = \"0123456789abcdef0123\"\nevents = [\"deliverd\"]\n",
                "no event is named \"deliverd\"",
            ),
            (
                "url = \"https://x/\"\nsecret = \"0123456789abcdef0123\"\ntimeout = \"0s\"\n",
                "webhook[0].timeout",
            ),
            (
                "url = \"https://x/\"\nsecret = \"0123456789abcdef0123\"\nfrobnicate = 1\n",
                "unknown field `frobnicate`",
            ),
        ];
        for (table, expected) in cases {
            let e = load(table).unwrap_err();
            assert!(e.contains(expected), "{table}: {e}");
        }
        let twice = format!("{ok}[[tenant.webhook]]\n{ok}");
        assert!(load(&twice).unwrap_err().contains("two webhooks named"));
    }

    #[test]
    fn retention_must_outlast_retries() {
        let e = Config::from_toml(
            "[events]\nmax_age = \"1h\"\nwebhook_retry_for = \"24h\"\n",
            "test.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("events.max_age"), "{e}");
    }
}
