//! The validated configuration the relay runs on.

use super::events::{EventsConfig, WebhookSpec};
use super::raw::{self, RawConfig};
use super::routes::{RouteAllow, RouteEntry};
use argon2::password_hash::PasswordHash;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use raw::{AdminScope, ApiScope, BareLineEndings, FailureAction, TlsPolicy as SmarthostTls};

/// The built-in quickstart: loopback listeners, spool and Maildir under `./data`, and one demo
/// tenant (user `demo`, password `demo-password`, sender domain `example.com`).
pub const QUICKSTART: &str = include_str!("../../../examples/quickstart.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: `{key}` (line {line}): {message}")]
    Invalid {
        origin: String,
        key: String,
        line: usize,
        message: String,
    },
    #[error("{origin}: `{key}`: {message}")]
    InvalidKey {
        origin: String,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub hostname: String,
    /// The mailbox `RCPT TO:<Postmaster>` is delivered to.
    pub postmaster: String,
    pub listen: Vec<SocketAddr>,
    pub listen_tls: Vec<SocketAddr>,
    pub limits: Limits,
    pub timeouts: Timeouts,
    pub tls: TlsSource,
    pub auth: AuthPolicy,
    pub spool: SpoolConfig,
    pub delivery: DeliveryConfig,
    pub dns: DnsConfig,
    pub plugins: PluginRuntime,
    pub admin: AdminConfig,
    pub api: ApiConfig,
    /// The event journal and webhook retries (`[events]`).
    pub events: EventsConfig,
    pub cluster: ClusterConfig,
    /// `[suppressions]`: the bound on each tenant's list.
    pub suppressions: SuppressionsConfig,
    /// `[complaints] address`, checked and in lookup form; `None`: no feedback reports taken.
    pub complaints: Option<String>,
    pub tenants: Vec<Arc<Tenant>>,
    /// The file this came from, for reloads.
    pub source: Option<PathBuf>,
}

/// The admin HTTP API.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// Where the CLI finds its token when `SLUICE_ADMIN_TOKEN` is unset.
    pub token_file: Option<PathBuf>,
    pub tokens: Vec<AdminToken>,
    /// HTTPS with the relay's certificate.
    pub tls: bool,
}

/// The application API (`[api]`): `listen` is `None` when it is switched off.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub listen: Option<SocketAddr>,
    pub max_body: u64,
    /// HTTPS with the relay's certificate.
    pub tls: bool,
    /// Messages at most in one batch request.
    pub max_batch: usize,
    /// How long an idempotency key is remembered.
    pub idempotency_window: Duration,
}

/// Shared state through Valkey/Redis (`[cluster]`); `redis` is `None` on a single node.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    pub redis: Option<String>,
    pub timeout: Duration,
    pub counters_on_unavailable: raw::Unavailable,
    pub suppressions_on_unavailable: raw::Unavailable,
    pub key_prefix: String,
}

/// Per-tenant suppression lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionsConfig {
    pub max_per_tenant: usize,
}

/// The built-in address of the application API.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8026";

/// One of a tenant's application API keys.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub name: String,
    pub sha256: [u8; 32],
    pub scopes: Vec<ApiScope>,
}

#[derive(Debug, Clone)]
pub struct AdminToken {
    pub name: String,
    pub sha256: [u8; 32],
    pub scope: AdminScope,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRuntime {
    pub cache_dir: PathBuf,
    pub max_instances: u32,
    pub max_memory: u64,
    /// Live instances one tenant may hold at once, so no tenant can take the slots another
    /// tenant's transactions need.
    pub per_tenant: u32,
    /// Hook calls of one tenant running at once on the plugin threads.
    pub running_per_tenant: u32,
}

/// What each kind of plugin failure turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    pub trap: FailureAction,
    pub timeout: FailureAction,
    pub memory: FailureAction,
    pub invalid: FailureAction,
    /// While the breaker is open (the plugin is not called).
    pub breaker: FailureAction,
}

impl FailurePolicy {
    pub fn all(action: FailureAction) -> FailurePolicy {
        FailurePolicy {
            trap: action,
            timeout: action,
            memory: action,
            invalid: action,
            breaker: action,
        }
    }
}

impl From<raw::OnFailure> for FailurePolicy {
    fn from(o: raw::OnFailure) -> FailurePolicy {
        match o {
            raw::OnFailure::All(a) => FailurePolicy::all(a),
            raw::OnFailure::PerKind(k) => {
                let or = |a: Option<FailureAction>| a.unwrap_or(FailureAction::Tempfail);
                let kinds = [or(k.trap), or(k.timeout), or(k.memory), or(k.invalid)];
                let strictest = kinds
                    .into_iter()
                    .max_by_key(|a| a.strictness())
                    .unwrap_or_default();
                FailurePolicy {
                    trap: kinds[0],
                    timeout: kinds[1],
                    memory: kinds[2],
                    invalid: kinds[3],
                    breaker: k.breaker.unwrap_or(strictest),
                }
            }
        }
    }
}

/// One plugin of a tenant's chain, validated.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    pub name: String,
    pub path: PathBuf,
    pub config: Arc<HashMap<String, String>>,
    pub on_failure: FailurePolicy,
    pub shadow: bool,
    pub timeout: Duration,
    pub memory: u64,
    /// Transactions one instance serves before it is replaced; 0 or 1: fresh every time
    /// (`instance = "fresh"`).
    pub reuse: u32,
    /// With reuse: how long one instance serves, and the linear memory past which it is
    /// replaced after its transaction.
    pub max_age: Duration,
    pub retire_memory: u64,
    /// With `reuse`, how many idle instances to keep (this plugin's share of half the
    /// pooling allocator's slots, at most [`MAX_KEPT_IDLE`]).
    pub keep_idle: u32,
    /// How long the breaker stays open before a trial call.
    pub breaker_cooldown: Duration,
    /// Live host counters the plugin may keep for this tenant.
    pub max_counters: usize,
    /// The next hops its routing hook may name (the tenant's, shared by its plugins).
    pub routes: Arc<RouteAllow>,
}

/// Idle instances one `reuse` plugin keeps at most: about the busiest tenant's concurrent
/// transactions.
pub const MAX_KEPT_IDLE: u32 = 64;

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_message_size: u64,
    pub max_recipients: usize,
    pub bare_line_endings: BareLineEndings,
    pub greeting_delay: Duration,
}

#[derive(Debug, Clone)]
pub struct Timeouts {
    pub command: Duration,
    pub data_block: Duration,
    pub session: Duration,
    pub tls_handshake: Duration,
}

#[derive(Debug, Clone)]
pub enum TlsSource {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned { dir: PathBuf },
}

#[derive(Debug, Clone)]
pub struct AuthPolicy {
    pub require_tls: bool,
    pub max_failures: u32,
    pub failure_window: Duration,
    pub lockout: Duration,
    /// Password checks that may run at once: each holds its argon2 memory (~19 MiB).
    pub concurrent_checks: usize,
    /// How long an AUTH waits for a free check before 454 4.7.0.
    pub check_wait: Duration,
}

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub min_free_space: u64,
    pub segment_size: u64,
}

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub mode: DeliveryMode,
    pub concurrency: usize,
    pub per_destination: usize,
    pub mx_port: u16,
    /// Outbound TLS towards MX hosts (smarthosts carry their own).
    pub tls: SmarthostTls,
    pub ca_file: Option<PathBuf>,
    pub mta_sts: bool,
    pub mta_sts_port: u16,
    pub retry: Vec<Duration>,
    pub max_age: Duration,
    pub max_age_by_tag: BTreeMap<String, Duration>,
    pub delay_notice_after: Duration,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub pools: Vec<Pool>,
    /// `route_allow`: next hops any tenant's routing plugins may name.
    pub route_allow: Vec<RouteEntry>,
    /// `[delivery.shaping]`: providers, limits and rules.
    pub shaping: Arc<crate::delivery::shaping::ShapingConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    pub source: Vec<IpAddr>,
    pub daily_cap: Option<u64>,
    /// The warm-up schedule: its first day (days since 1970-01-01, UTC) and daily caps.
    pub warmup: Option<(u64, Vec<u64>)>,
    /// Daily caps per provider, from the warm-up's first day.
    pub provider_warmup: BTreeMap<String, Vec<u64>>,
}

impl Pool {
    /// The cap of UTC day `day` (days since 1970-01-01): the warm-up schedule's, else
    /// `daily_cap`.
    pub fn cap_on(&self, day: u64) -> Option<u64> {
        match &self.warmup {
            Some((start, caps)) => {
                let index = usize::try_from(day.saturating_sub(*start)).unwrap_or(usize::MAX);
                caps.get(index).copied().or(self.daily_cap)
            }
            None => self.daily_cap,
        }
    }

    /// The cap of UTC day `day` on messages through this pool to `provider`, while its
    /// warm-up schedule runs; `None` when it has none or it has run out.
    pub fn provider_cap_on(&self, provider: &str, day: u64) -> Option<u64> {
        let (start, _) = self.warmup.as_ref()?;
        let caps = self.provider_warmup.get(provider)?;
        let index = usize::try_from(day.saturating_sub(*start)).unwrap_or(usize::MAX);
        caps.get(index).copied()
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
fn unix_day(date: &str) -> Option<u64> {
    let mut parts = date.trim().splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let epoch = time::Date::from_calendar_date(1970, time::Month::January, 1).ok()?;
    u64::try_from((date - epoch).whole_days()).ok()
}

#[derive(Debug, Clone)]
pub enum DeliveryMode {
    Local {
        maildir: PathBuf,
    },
    Smarthost {
        host: String,
        port: u16,
        tls: SmarthostTls,
        ca_file: Option<PathBuf>,
    },
    /// Each recipient domain's MX hosts.
    Mx,
}

#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Empty: the system's resolver configuration.
    pub nameservers: Vec<SocketAddr>,
    pub timeout: Duration,
}

#[derive(Debug)]
pub struct Tenant {
    pub name: String,
    /// Lower-cased; a domain also covers its subdomains.
    pub sender_domains: Vec<String>,
    /// username → argon2 PHC string (validated at load).
    pub users: HashMap<String, String>,
    pub trusted_networks: Vec<IpNet>,
    pub plugins: Vec<PluginSpec>,
    /// Shorter than `delivery.max_age` for this tenant's mail.
    pub max_age: Option<Duration>,
    pub pool: Option<String>,
    /// Signing keys by domain.
    pub dkim: Vec<Arc<crate::dkim::Signer>>,
    /// Application API keys.
    pub api_keys: Vec<ApiKey>,
    /// Where this tenant's events are POSTed (`[[tenant.webhook]]`).
    pub webhooks: Vec<Arc<WebhookSpec>>,
    /// A sample of accepted messages kept for `sluice replay`, if the operator asked.
    pub capture: Option<Capture>,
}

/// `[tenant.capture]`, validated: see `queue::capture`.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// The share of accepted messages kept, in [0, 1].
    pub rate: f64,
    /// Bytes; larger messages are not kept.
    pub max_size: u64,
    pub retention: Duration,
    pub dir: PathBuf,
}

/// Whether `domain` is `parent` or one of its subdomains (both lower-case, no trailing dot).
pub fn within_domain(domain: &str, parent: &str) -> bool {
    domain == parent
        || domain
            .strip_suffix(parent)
            .is_some_and(|p| p.ends_with('.'))
}

impl Tenant {
    pub fn owns_sender(&self, address: &str) -> bool {
        let Some((_, domain)) = address.rsplit_once('@') else {
            return false;
        };
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        self.sender_domains
            .iter()
            .any(|d| within_domain(&domain, d))
    }
}

impl Config {
    pub fn quickstart() -> Config {
        Config::from_toml(QUICKSTART, "built-in quickstart")
            .expect("the built-in quickstart config is valid")
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        let base = path.parent().map(Path::to_owned).unwrap_or_default();
        let mut config = Config::parse(&text, &path.display().to_string(), &base)?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Parses config text; relative plugin paths are taken from the current directory.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Config::parse(text, origin, Path::new(""))
    }

    fn parse(text: &str, origin: &str, base: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        Resolver { text, origin, base }.resolve(raw)
    }

    /// The tenant whose trusted networks contain `ip`, if any.
    pub fn trusted_tenant(&self, ip: IpAddr) -> Option<&Arc<Tenant>> {
        self.tenants
            .iter()
            .find(|t| t.trusted_networks.iter().any(|n| n.contains(&ip)))
    }

    /// The tenant and stored hash for an AUTH username.
    pub fn user(&self, username: &str) -> Option<(&Arc<Tenant>, &str)> {
        self.tenants
            .iter()
            .find_map(|t| t.users.get(username).map(|h| (t, h.as_str())))
    }
}

struct Resolver<'a> {
    text: &'a str,
    origin: &'a str,
    base: &'a Path,
}

impl Resolver<'_> {
    fn invalid(&self, key: String, span: std::ops::Range<usize>, message: String) -> ConfigError {
        let line = self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1;
        ConfigError::Invalid {
            origin: self.origin.to_owned(),
            key,
            line,
            message,
        }
    }

    /// A timeout that must be above zero (zero would end every session at once).
    fn nonzero(&self, key: &str, d: Duration) -> Result<Duration, ConfigError> {
        if d.is_zero() {
            return Err(self.invalid_key(key, "must be above zero"));
        }
        Ok(d)
    }

    /// `[tenant.capture]` of tenant `i`: a rate in [0, 1], a retention above zero, the
    /// directory relative to the config file.
    fn capture(&self, i: usize, c: raw::Capture) -> Result<Capture, ConfigError> {
        if !(0.0..=1.0).contains(&c.rate) {
            return Err(self.invalid_key(
                &format!("tenant[{i}].capture.rate"),
                format!("{} is not a share between 0 and 1", c.rate),
            ));
        }
        if c.retention.0.is_zero() {
            return Err(self.invalid_key(
                &format!("tenant[{i}].capture.retention"),
                "must be above zero",
            ));
        }
        Ok(Capture {
            rate: c.rate,
            max_size: c.max_size.0,
            retention: c.retention.0,
            dir: if c.dir.is_absolute() {
                c.dir
            } else {
                self.base.join(c.dir)
            },
        })
    }

    fn invalid_key(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::InvalidKey {
            origin: self.origin.to_owned(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    fn resolve(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let s = raw.server;
        if s.listen.is_empty() && s.listen_tls.is_empty() {
            return Err(self.invalid_key("server.listen", "at least one listener is needed"));
        }
        if let Some(p) = &s.postmaster {
            let ok = p.rsplit_once('@').is_some_and(|(l, d)| {
                !l.is_empty() && !d.is_empty() && !p.contains(char::is_whitespace)
            });
            if !ok {
                return Err(self.invalid_key(
                    "server.postmaster",
                    format!("{p:?} is not a mailbox (expected local@domain)"),
                ));
            }
        }
        if s.max_recipients < 1 {
            return Err(self.invalid_key(
                "server.max_recipients",
                "must be at least 1 (RFC 5321 asks for 100)",
            ));
        }
        if s.max_connections < 1 || s.max_connections_per_ip < 1 {
            return Err(self.invalid_key(
                "server.max_connections",
                "connection limits must be at least 1",
            ));
        }
        let tls = match (raw.tls.cert, raw.tls.key) {
            (Some(cert), Some(key)) => TlsSource::Files { cert, key },
            (None, None) => TlsSource::SelfSigned {
                dir: raw.tls.generated_dir,
            },
            _ => return Err(self.invalid_key("tls", "set both `cert` and `key`, or neither")),
        };
        let delivery = self.delivery(raw.delivery)?;
        let admin = self.admin(raw.admin)?;
        let events =
            super::events::events(&raw.events).map_err(|(key, m)| self.invalid_key(&key, m))?;
        // Instances kept for `reuse` hold pooling-allocator slots between transactions. They
        // may take half the slots at most, shared evenly, so live transactions always find one.
        let max_instances = raw.plugins.max_instances.max(16);
        let reusing = raw
            .tenants
            .iter()
            .flat_map(|t| &t.plugins)
            .filter(|p| reuses(p))
            .count() as u32;
        // With more reusing plugins than half the slots, none is kept idle: each transaction
        // then starts a fresh instance (correct, only slower; raise max_instances).
        let keep_idle = match reusing {
            0 => 0,
            n => (max_instances / 2 / n).min(MAX_KEPT_IDLE),
        };
        let per_tenant = self.per_tenant_share(
            &raw.tenants,
            &raw.plugins,
            max_instances,
            keep_idle * reusing,
        )?;
        let mut tenants = Vec::new();
        let mut seen_users: HashMap<String, String> = HashMap::new();
        let mut seen_keys: HashMap<[u8; 32], String> = HashMap::new();
        for (i, t) in raw.tenants.into_iter().enumerate() {
            if t.sender_domains.is_empty() {
                return Err(self.invalid_key(
                    &format!("tenant[{i}].sender_domains"),
                    "list at least one domain",
                ));
            }
            let mut users = HashMap::new();
            for (j, u) in t.users.into_iter().enumerate() {
                let key = format!("tenant[{i}].users[{j}].password_hash");
                let span = u.password_hash.span();
                let hash = u.password_hash.into_inner();
                if let Err(e) = PasswordHash::new(&hash) {
                    return Err(self.invalid(
                        key,
                        span,
                        format!(
                            "not an argon2 PHC hash ({e}); run `sluice hash-password` to make one"
                        ),
                    ));
                }
                if let Some(other) = seen_users.insert(u.username.clone(), t.name.clone()) {
                    return Err(self.invalid_key(
                        &format!("tenant[{i}].users[{j}].username"),
                        format!(
                            "user {:?} is already defined in tenant {other:?}",
                            u.username
                        ),
                    ));
                }
                users.insert(u.username, hash);
            }
            let mut entries = delivery.route_allow.clone();
            for (j, e) in t.route_allow.iter().enumerate() {
                entries.push(
                    RouteEntry::parse(e).map_err(|m| {
                        self.invalid_key(&format!("tenant[{i}].route_allow[{j}]"), m)
                    })?,
                );
            }
            let smarthost = match &delivery.mode {
                DeliveryMode::Smarthost { host, port, .. } => Some((host.as_str(), *port)),
                _ => None,
            };
            let pools = delivery.pools.iter().map(|p| p.name.clone()).collect();
            let routes = Arc::new(RouteAllow::new(entries, smarthost, pools));
            let plugins =
                self.plugins(i, t.plugins, raw.plugins.max_memory.0, keep_idle, &routes)?;
            if let Some(p) = &t.pool {
                if !delivery.pools.iter().any(|q| &q.name == p) {
                    return Err(self.invalid_key(
                        &format!("tenant[{i}].pool"),
                        format!("no [[delivery.pool]] is named {p:?}"),
                    ));
                }
            }
            let mut api_keys = Vec::new();
            for (j, k) in t.api_keys.into_iter().enumerate() {
                let key = format!("tenant[{i}].api_key[{j}].sha256");
                let span = k.sha256.span();
                let sha256 = decode_sha256(k.sha256.get_ref()).ok_or_else(|| {
                    self.invalid(
                        key.clone(),
                        span.clone(),
                        "not a SHA-256 hex digest (64 hex digits); run `sluice api key` to make one"
                            .into(),
                    )
                })?;
                if let Some(other) = seen_keys.insert(sha256, t.name.clone()) {
                    return Err(self.invalid(
                        key,
                        span,
                        format!("the same key is already one of tenant {other:?}'s"),
                    ));
                }
                if k.scopes.is_empty() {
                    return Err(self.invalid_key(
                        &format!("tenant[{i}].api_key[{j}].scopes"),
                        "list at least one of \"send\", \"events\", \"suppressions\"",
                    ));
                }
                api_keys.push(ApiKey {
                    name: k.name,
                    sha256,
                    scopes: k.scopes,
                });
            }
            let mut dkim: Vec<Arc<crate::dkim::Signer>> = Vec::new();
            for (j, d) in t.dkim.into_iter().enumerate() {
                let key = format!("tenant[{i}].dkim[{j}].key");
                let path = if d.key.is_absolute() {
                    d.key
                } else {
                    self.base.join(d.key)
                };
                let signer = crate::dkim::Signer::load(&d.domain, &d.selector, &path)
                    .map_err(|e| self.invalid_key(&key, e))?;
                dkim.push(Arc::new(signer));
            }
            let webhooks = super::events::webhooks(&t.name, i, t.webhooks, self.base)
                .map_err(|(key, m)| self.invalid_key(&key, m))?;
            let capture = t.capture.map(|c| self.capture(i, c)).transpose()?;
            tenants.push(Arc::new(Tenant {
                name: t.name,
                sender_domains: t
                    .sender_domains
                    .iter()
                    .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                    .collect(),
                users,
                trusted_networks: t.trusted_networks,
                plugins,
                max_age: t.max_age.map(|d| d.0),
                pool: t.pool,
                dkim,
                api_keys,
                webhooks,
                capture,
            }));
        }
        Ok(Config {
            postmaster: s.postmaster.clone().unwrap_or_else(|| {
                format!(
                    "postmaster@{}",
                    s.hostname.clone().unwrap_or_else(default_hostname)
                )
            }),
            hostname: s.hostname.unwrap_or_else(default_hostname),
            listen: s.listen,
            listen_tls: s.listen_tls,
            limits: Limits {
                max_connections: s.max_connections,
                max_connections_per_ip: s.max_connections_per_ip,
                max_message_size: s.max_message_size.0,
                max_recipients: s.max_recipients,
                bare_line_endings: s.bare_line_endings,
                greeting_delay: s.greeting_delay.0,
            },
            timeouts: Timeouts {
                command: self.nonzero("server.timeouts.command", s.timeouts.command.0)?,
                data_block: self.nonzero("server.timeouts.data_block", s.timeouts.data_block.0)?,
                session: self.nonzero("server.timeouts.session", s.timeouts.session.0)?,
                tls_handshake: self
                    .nonzero("server.timeouts.tls_handshake", s.timeouts.tls_handshake.0)?,
            },
            tls,
            auth: AuthPolicy {
                require_tls: raw.auth.require_tls,
                max_failures: raw.auth.max_failures.max(1),
                failure_window: raw.auth.failure_window.0,
                lockout: raw.auth.lockout.0,
                concurrent_checks: match raw.auth.max_concurrent_checks {
                    0 => std::thread::available_parallelism().map_or(2, |n| n.get().min(8)),
                    n => n,
                },
                check_wait: raw.auth.check_wait.0,
            },
            spool: SpoolConfig {
                dir: raw.spool.dir,
                min_free_space: raw.spool.min_free_space.0,
                segment_size: raw.spool.segment_size.0.max(1 << 20),
            },
            delivery,
            dns: DnsConfig {
                nameservers: raw.dns.nameservers,
                timeout: raw.dns.timeout.map_or(Duration::from_secs(5), |t| t.0),
            },
            plugins: PluginRuntime {
                cache_dir: raw.plugins.cache_dir,
                max_instances,
                max_memory: raw.plugins.max_memory.0,
                per_tenant,
                running_per_tenant: raw
                    .plugins
                    .running_per_tenant
                    .unwrap_or_else(|| {
                        let cpus =
                            std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
                        (cpus / 2).max(1)
                    })
                    .max(1),
            },
            admin,
            api: ApiConfig {
                listen: raw.api.enabled.then(|| {
                    raw.api
                        .listen
                        .unwrap_or_else(|| DEFAULT_API_LISTEN.parse().expect("literal address"))
                }),
                max_body: raw.api.max_body.0,
                tls: raw.api.tls,
                max_batch: raw.api.max_batch.max(1),
                idempotency_window: raw.api.idempotency_window.0,
            },
            events,
            cluster: self.cluster(raw.cluster)?,
            suppressions: SuppressionsConfig {
                max_per_tenant: raw.suppressions.max_per_tenant,
            },
            complaints: self.complaints(raw.complaints)?,
            tenants,
            source: None,
        })
    }

    /// Each tenant's share of the live instance slots (those `reuse` does not keep idle):
    /// `max_instances_per_tenant`, or an even split between the tenants with plugins. The
    /// shares together fit in the live slots, and each fits its tenant's longest chain.
    fn per_tenant_share(
        &self,
        tenants: &[raw::Tenant],
        plugins: &raw::Plugins,
        max_instances: u32,
        kept_idle: u32,
    ) -> Result<u32, ConfigError> {
        let live = max_instances.saturating_sub(kept_idle).max(1);
        let with_plugins = tenants.iter().filter(|t| !t.plugins.is_empty()).count() as u32;
        let longest = tenants
            .iter()
            .map(|t| t.plugins.len() as u32)
            .max()
            .unwrap_or(0);
        let share = match plugins.max_instances_per_tenant {
            Some(n) => {
                if n.saturating_mul(with_plugins) > live {
                    return Err(self.invalid_key(
                        "plugins.max_instances_per_tenant",
                        format!(
                            "{with_plugins} tenants with plugins × {n} is more than the {live} live instance slots \
                             (max_instances {max_instances}, {kept_idle} kept idle for `reuse`): one tenant could take \
                             the slots another needs; lower it or raise max_instances"
                        ),
                    ));
                }
                n
            }
            None => live / with_plugins.max(1),
        };
        if share < longest {
            return Err(self.invalid_key(
                "plugins.max_instances_per_tenant",
                format!(
                    "a tenant's transaction needs {longest} instances at once (its chain) but a tenant's share is {share}; \
                     raise plugins.max_instances (or max_instances_per_tenant)"
                ),
            ));
        }
        Ok(share.max(1))
    }

    fn plugins(
        &self,
        tenant: usize,
        raw: Vec<raw::Plugin>,
        max_memory: u64,
        keep_idle: u32,
        routes: &Arc<RouteAllow>,
    ) -> Result<Vec<PluginSpec>, ConfigError> {
        let mut out: Vec<PluginSpec> = Vec::new();
        for (j, p) in raw.into_iter().enumerate() {
            let key = |k: &str| format!("tenant[{tenant}].plugin[{j}].{k}");
            if out.iter().any(|o| o.name == p.name) {
                return Err(self.invalid_key(
                    &key("name"),
                    format!("plugin {:?} appears twice in this chain", p.name),
                ));
            }
            if p.memory.0 > max_memory || p.memory.0 < (1 << 20) {
                return Err(self.invalid_key(
                    &key("memory"),
                    format!("must be between 1MiB and plugins.max_memory ({max_memory} bytes)"),
                ));
            }
            if p.timeout.0.is_zero() {
                return Err(self.invalid_key(&key("timeout"), "must be above zero"));
            }
            if p.max_counters == 0 {
                return Err(self.invalid_key(&key("max_counters"), "must be above zero"));
            }
            let reused = reuses(&p);
            let config = p
                .config
                .into_iter()
                .map(|(k, v)| {
                    let s = match v {
                        toml::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, s)
                })
                .collect();
            out.push(PluginSpec {
                path: if p.path.is_absolute() {
                    p.path
                } else {
                    self.base.join(p.path)
                },
                name: p.name,
                config: Arc::new(config),
                on_failure: p.on_failure.into(),
                shadow: p.shadow,
                timeout: p.timeout.0,
                memory: p.memory.0,
                keep_idle: if reused { keep_idle } else { 0 },
                reuse: if reused { p.max_uses } else { 0 },
                max_age: p.max_age.0,
                retire_memory: p.retire_memory.0,
                breaker_cooldown: p.breaker_cooldown.0,
                max_counters: p.max_counters,
                routes: routes.clone(),
            });
        }
        Ok(out)
    }

    fn cluster(&self, c: raw::Cluster) -> Result<ClusterConfig, ConfigError> {
        if let Some(url) = &c.redis {
            redis::Client::open(url.as_str()).map_err(|e| {
                self.invalid_key(
                    "cluster.redis",
                    format!("not a redis:// or rediss:// URL: {e}"),
                )
            })?;
        }
        if c.timeout.0.is_zero() {
            return Err(self.invalid_key("cluster.timeout", "must be above zero"));
        }
        Ok(ClusterConfig {
            redis: c.redis,
            timeout: c.timeout.0,
            counters_on_unavailable: c.counters_on_unavailable,
            suppressions_on_unavailable: c.suppressions_on_unavailable,
            key_prefix: c.key_prefix,
        })
    }

    fn complaints(&self, c: raw::Complaints) -> Result<Option<String>, ConfigError> {
        c.address
            .map(|a| {
                crate::suppress::address::normalize(&a)
                    .map_err(|e| self.invalid_key("complaints.address", e.to_string()))
            })
            .transpose()
    }

    fn admin(&self, a: raw::Admin) -> Result<AdminConfig, ConfigError> {
        let mut tokens = Vec::new();
        for (i, t) in a.tokens.into_iter().enumerate() {
            let span = t.sha256.span();
            let hex = t.sha256.into_inner();
            let sha256 = decode_sha256(&hex).ok_or_else(|| {
                self.invalid(
                    format!("admin.token[{i}].sha256"),
                    span,
                    "not a SHA-256 hex digest (64 hex digits); run `sluice admin token` to make one"
                        .into(),
                )
            })?;
            tokens.push(AdminToken {
                name: t.name,
                sha256,
                scope: t.scope,
            });
        }
        if !a.listen.ip().is_loopback() && !a.tls {
            return Err(self.invalid_key(
                "admin.listen",
                format!(
                    "{} is not a loopback address: set `admin.tls = true` (bearer tokens must not cross a network in clear) or listen on 127.0.0.1",
                    a.listen
                ),
            ));
        }
        Ok(AdminConfig {
            tls: a.tls,
            listen: a.listen,
            token_file: a.token_file.map(|p| {
                if p.is_absolute() {
                    p
                } else {
                    self.base.join(p)
                }
            }),
            tokens,
        })
    }

    fn delivery(&self, d: raw::Delivery) -> Result<DeliveryConfig, ConfigError> {
        let mode = match (d.mode, d.smarthost) {
            (raw::DeliveryModeName::Local, _) => DeliveryMode::Local { maildir: d.maildir },
            (raw::DeliveryModeName::Smarthost, Some(h)) => DeliveryMode::Smarthost {
                host: h.host,
                port: h.port,
                tls: h.tls,
                ca_file: h.ca_file,
            },
            (raw::DeliveryModeName::Mx, _) => DeliveryMode::Mx,
            (raw::DeliveryModeName::Smarthost, None) => {
                return Err(self.invalid_key(
                    "delivery.smarthost",
                    "mode = \"smarthost\" needs a [delivery.smarthost] table",
                ))
            }
        };
        if d.retry.is_empty() {
            return Err(self.invalid_key(
                "delivery.retry",
                "list at least one wait, e.g. [\"1m\", \"10m\"]",
            ));
        }
        let mut pools: Vec<Pool> = Vec::new();
        for (i, p) in d.pools.into_iter().enumerate() {
            if p.source.is_empty() {
                return Err(self.invalid_key(
                    &format!("delivery.pool[{i}].source"),
                    "list at least one local address",
                ));
            }
            if pools.iter().any(|q| q.name == p.name) {
                return Err(self.invalid_key(
                    &format!("delivery.pool[{i}].name"),
                    format!("pool {:?} is defined twice", p.name),
                ));
            }
            let mut provider_warmup = BTreeMap::new();
            let warmup = match p.warmup {
                None => None,
                Some(w) => {
                    let start = unix_day(&w.start).ok_or_else(|| {
                        self.invalid_key(
                            &format!("delivery.pool[{i}].warmup.start"),
                            format!("{:?} is not a date written YYYY-MM-DD", w.start),
                        )
                    })?;
                    if w.caps.is_empty() {
                        return Err(self.invalid_key(
                            &format!("delivery.pool[{i}].warmup.caps"),
                            "list the daily caps, one per day",
                        ));
                    }
                    for (provider, caps) in &w.providers {
                        if caps.is_empty() {
                            return Err(self.invalid_key(
                                &format!("delivery.pool[{i}].warmup.providers.{provider}"),
                                "list the daily caps, one per day",
                            ));
                        }
                    }
                    provider_warmup = w.providers;
                    Some((start, w.caps))
                }
            };
            pools.push(Pool {
                name: p.name,
                source: p.source,
                daily_cap: p.daily_cap,
                warmup,
                provider_warmup,
            });
        }
        let mut route_allow = Vec::new();
        for (i, e) in d.route_allow.iter().enumerate() {
            route_allow.push(
                RouteEntry::parse(e)
                    .map_err(|m| self.invalid_key(&format!("delivery.route_allow[{i}]"), m))?,
            );
        }
        let ca_file = d.ca_file.map(|p| {
            if p.is_absolute() {
                p
            } else {
                self.base.join(p)
            }
        });
        let shaping = crate::delivery::shaping::ShapingConfig::resolve(d.shaping)
            .map_err(|e| self.invalid_key(&format!("delivery.shaping.{}", e.key), e.message))?;
        // A warm-up schedule per provider names a provider traffic shaping knows: a typo
        // would otherwise cap nothing.
        for (i, p) in pools.iter().enumerate() {
            for name in p.provider_warmup.keys() {
                if !shaping.providers.iter().any(|known| &known.name == name) {
                    let known: Vec<&str> =
                        shaping.providers.iter().map(|k| k.name.as_str()).collect();
                    return Err(self.invalid_key(
                        &format!("delivery.pool[{i}].warmup.providers.{name}"),
                        format!(
                            "no provider {name:?} in [delivery.shaping] (known: {})",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(DeliveryConfig {
            mode,
            concurrency: d.concurrency.max(1),
            per_destination: d.per_destination.max(1),
            mx_port: d.mx_port,
            tls: d.tls,
            ca_file,
            mta_sts: d.mta_sts,
            mta_sts_port: d.mta_sts_port,
            retry: d.retry.into_iter().map(|r| r.0).collect(),
            max_age: d.max_age.0,
            max_age_by_tag: d
                .max_age_by_tag
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
            delay_notice_after: d.delay_notice_after.0,
            connect_timeout: d.connect_timeout.0,
            command_timeout: d.command_timeout.0,
            pools,
            route_allow,
            shaping: Arc::new(shaping),
        })
    }
}

/// The 32 bytes of a 64-digit hex SHA-256 digest.
pub fn decode_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

fn default_hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Whether a plugin keeps its instances between transactions.
fn reuses(p: &raw::Plugin) -> bool {
    p.instance == raw::InstanceMode::Reuse && p.max_uses > 1
}
