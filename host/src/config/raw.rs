//! The config file as written. Every table denies unknown keys so a typo is an error, not a
//! silently ignored setting. Defaults here are the built-in quickstart.

use super::units::{ByteSize, HumanDuration};
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub spool: Spool,
    #[serde(default)]
    pub delivery: Delivery,
    #[serde(default)]
    pub dns: Dns,
    #[serde(default)]
    pub plugins: Plugins,
    #[serde(default)]
    pub admin: Admin,
    #[serde(default)]
    pub api: Api,
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<Tenant>,
}

/// The admin HTTP API: health, readiness, metrics, reload, status and the queue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// Where the API listens; keep it on loopback or a management network.
    pub listen: SocketAddr,
    /// Where `sluice` commands read their bearer token when `SLUICE_ADMIN_TOKEN` is unset
    /// (relative to the config file).
    pub token_file: Option<PathBuf>,
    /// Bearer tokens the API accepts (`[[admin.token]]`), stored as SHA-256 digests.
    #[serde(rename = "token")]
    pub tokens: Vec<AdminToken>,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            listen: "127.0.0.1:8025".parse().expect("literal address"),
            token_file: None,
            tokens: Vec::new(),
        }
    }
}

/// One accepted bearer token (`sluice admin token` makes one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminToken {
    /// Who holds it, for the log.
    pub name: String,
    /// Lower-case hex SHA-256 of the token.
    pub sha256: toml::Spanned<String>,
    /// `read` (status, metrics, queue listing) or `admin` (also reload, retry, delete).
    #[serde(default)]
    pub scope: AdminScope,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminScope {
    #[default]
    Read,
    Admin,
}

/// The application API: HTTP sending, events and suppressions, for each tenant's own keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Api {
    /// Where the API listens (`""` or absent table: the built-in loopback address). Unlike the
    /// admin API, applications on other hosts may need it: put it behind TLS termination.
    pub listen: Option<SocketAddr>,
    /// Set `false` to serve no application API at all.
    pub enabled: bool,
    /// The largest request body accepted (a message with its attachments in base64).
    pub max_body: ByteSize,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            listen: None,
            enabled: true,
            max_body: ByteSize(40 << 20),
        }
    }
}

/// One of a tenant's application API keys (`sluice api key` makes one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// Which application holds it, for the log and events.
    pub name: String,
    /// Lower-case hex SHA-256 of the key.
    pub sha256: toml::Spanned<String>,
    /// What the key may do: `send`, `events` (read events), `suppressions` (manage them).
    #[serde(default = "default_api_scopes")]
    pub scopes: Vec<ApiScope>,
}

fn default_api_scopes() -> Vec<ApiScope> {
    vec![ApiScope::Send]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiScope {
    Send,
    Events,
    Suppressions,
}

impl ApiScope {
    pub const ALL: [ApiScope; 3] = [ApiScope::Send, ApiScope::Events, ApiScope::Suppressions];

    pub fn name(self) -> &'static str {
        match self {
            ApiScope::Send => "send",
            ApiScope::Events => "events",
            ApiScope::Suppressions => "suppressions",
        }
    }
}

/// The plugin runtime as a whole.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Plugins {
    /// Compiled components are cached here, keyed by content hash and engine version.
    pub cache_dir: PathBuf,
    /// Plugin instances alive at once (pooling allocator slots).
    pub max_instances: u32,
    /// Largest memory cap any plugin may be given.
    pub max_memory: ByteSize,
    /// Plugin instances one tenant may have alive at once; unset: the live slots shared
    /// evenly between the tenants that have plugins.
    pub max_instances_per_tenant: Option<u32>,
    /// Hook calls of one tenant's plugins running at once on the plugin threads; unset: half
    /// the CPUs, at least one.
    pub running_per_tenant: Option<u32>,
}

impl Default for Plugins {
    fn default() -> Self {
        Plugins {
            cache_dir: PathBuf::from("data/plugin-cache"),
            max_instances: 1000,
            max_memory: ByteSize(256 << 20),
            max_instances_per_tenant: None,
            running_per_tenant: None,
        }
    }
}

/// One plugin in a tenant's chain (`[[tenant.plugin]]`), in order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plugin {
    pub name: String,
    /// The component (.wasm), relative to the config file's directory.
    pub path: PathBuf,
    /// What a trap, timeout, exhausted memory or invalid answer turns into: one action for
    /// all, or a table `{ trap = .., timeout = .., memory = .., invalid = .., breaker = .. }`
    /// (`breaker`: while the breaker is open; by default the strictest of the others).
    #[serde(default)]
    pub on_failure: OnFailure,
    /// How long the breaker stays open after repeated failures before a trial call.
    #[serde(default = "default_breaker_cooldown")]
    pub breaker_cooldown: HumanDuration,
    /// Live host counters this plugin may keep for the tenant; a new name past it fails the
    /// call as `invalid`.
    #[serde(default = "default_max_counters")]
    pub max_counters: usize,
    /// Run and log would-be verdicts without enforcing them.
    #[serde(default)]
    pub shadow: bool,
    /// Wall-clock budget of one hook call, host calls included.
    #[serde(default = "default_plugin_timeout")]
    pub timeout: HumanDuration,
    /// Linear-memory cap of one instance.
    #[serde(default = "default_plugin_memory")]
    pub memory: ByteSize,
    /// `reuse` (default): an instance that ended a transaction cleanly serves later
    /// transactions of the same tenant (its globals and heap carry over, never to another
    /// tenant); `fresh`: a new instance for every transaction.
    #[serde(default)]
    pub instance: InstanceMode,
    /// With `reuse`: transactions one instance serves before it is replaced.
    #[serde(default = "default_max_uses")]
    pub max_uses: u32,
    /// With `reuse`: how long one instance serves before it is replaced.
    #[serde(default = "default_max_age")]
    pub max_age: HumanDuration,
    /// With `reuse`: an instance whose linear memory grew past this is replaced after its
    /// transaction (a plugin that leaks never takes its cap for good).
    #[serde(default = "default_retire_memory")]
    pub retire_memory: ByteSize,
    /// Free-form settings handed to the plugin (`host.config`).
    #[serde(default)]
    pub config: toml::Table,
}

fn default_plugin_timeout() -> HumanDuration {
    HumanDuration(Duration::from_millis(200))
}

fn default_breaker_cooldown() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_max_counters() -> usize {
    crate::capability::counters::DEFAULT_MAX_COUNTERS
}

/// How a plugin's instances live.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceMode {
    #[default]
    Reuse,
    Fresh,
}

fn default_max_uses() -> u32 {
    1000
}

fn default_max_age() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}

fn default_retire_memory() -> ByteSize {
    ByteSize(16 << 20)
}

fn default_plugin_memory() -> ByteSize {
    ByteSize(64 << 20)
}

#[derive(Debug, Clone, Copy)]
pub enum OnFailure {
    All(FailureAction),
    PerKind(PerKind),
}

/// One action for every kind (`on_failure = "continue"`) or a table by kind; an error names
/// the actions there are, rather than serde's "did not match any variant".
impl<'de> Deserialize<'de> for OnFailure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            All(String),
            PerKind(PerKind),
        }
        match Either::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected an action (\"tempfail\", \"continue\", \"reject\" or \"quarantine\") \
                 or a table of them by kind (trap, timeout, memory, invalid, breaker)",
            )
        })? {
            Either::PerKind(p) => Ok(OnFailure::PerKind(p)),
            Either::All(s) => FailureAction::deserialize(
                serde::de::value::StrDeserializer::<D::Error>::new(&s),
            )
            .map(OnFailure::All)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "unknown action {s:?}: expected \"tempfail\", \"continue\", \"reject\" or \"quarantine\""
                ))
            }),
        }
    }
}

impl Default for OnFailure {
    fn default() -> Self {
        OnFailure::All(FailureAction::Tempfail)
    }
}

/// Failure actions by kind; a kind left out fails closed (tempfail), the breaker's takes the
/// strictest of the others.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerKind {
    pub trap: Option<FailureAction>,
    pub timeout: Option<FailureAction>,
    pub memory: Option<FailureAction>,
    pub invalid: Option<FailureAction>,
    pub breaker: Option<FailureAction>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    /// 451 4.3.0: the client retries later (fail closed).
    #[default]
    Tempfail,
    /// Carry on as if the plugin said "continue" (fail open), with a log line.
    Continue,
    /// 554 5.7.0.
    Reject,
    /// Accept and hold for an operator.
    Quarantine,
}

impl FailureAction {
    /// How much of the mail the action stops: continue < quarantine (held) < tempfail
    /// (refused for now) < reject (refused for good).
    pub fn strictness(self) -> u8 {
        match self {
            FailureAction::Continue => 0,
            FailureAction::Quarantine => 1,
            FailureAction::Tempfail => 2,
            FailureAction::Reject => 3,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// Name in the banner, EHLO reply and Received headers.
    pub hostname: Option<String>,
    /// Plain listeners (STARTTLS offered).
    pub listen: Vec<SocketAddr>,
    /// Implicit-TLS listeners (RFC 8314).
    pub listen_tls: Vec<SocketAddr>,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_message_size: ByteSize,
    pub max_recipients: usize,
    /// Where mail to the reserved recipient `<Postmaster>` goes (RFC 5321 §4.5.1);
    /// `postmaster@<hostname>` when unset.
    pub postmaster: Option<String>,
    /// `reject` (default) or `normalize` bare CR / LF inside DATA.
    pub bare_line_endings: BareLineEndings,
    /// Wait this long before the banner and drop clients that talk first.
    pub greeting_delay: HumanDuration,
    pub timeouts: Timeouts,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            hostname: None,
            listen: vec!["127.0.0.1:2525".parse().expect("literal address")],
            listen_tls: vec!["127.0.0.1:4650".parse().expect("literal address")],
            max_connections: 2000,
            max_connections_per_ip: 500,
            max_message_size: ByteSize(25_000_000),
            max_recipients: 100,
            postmaster: None,
            bare_line_endings: BareLineEndings::Reject,
            greeting_delay: HumanDuration(Duration::ZERO),
            timeouts: Timeouts::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BareLineEndings {
    Reject,
    Normalize,
}

/// RFC 5321 §4.5.3.2 server timeouts, plus a cap on a whole session.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    pub command: HumanDuration,
    pub data_block: HumanDuration,
    pub session: HumanDuration,
    pub tls_handshake: HumanDuration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            command: HumanDuration(Duration::from_secs(300)),
            data_block: HumanDuration(Duration::from_secs(180)),
            session: HumanDuration(Duration::from_secs(1800)),
            tls_handshake: HumanDuration(Duration::from_secs(30)),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain. Without cert and key a self-signed pair is generated under the
    /// data directory at first start.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Where the generated self-signed pair lives.
    #[serde(default = "default_generated_dir")]
    pub generated_dir: PathBuf,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            cert: None,
            key: None,
            generated_dir: default_generated_dir(),
        }
    }
}

fn default_generated_dir() -> PathBuf {
    PathBuf::from("data/tls")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Refuse AUTH on connections without TLS.
    pub require_tls: bool,
    /// Failed attempts per client IP (or per user) within `failure_window` before a lockout.
    pub max_failures: u32,
    pub failure_window: HumanDuration,
    pub lockout: HumanDuration,
    /// Password checks that may run at once (each argon2 check holds ~19 MiB); 0 means one
    /// per CPU, at most 8.
    pub max_concurrent_checks: usize,
    /// How long an AUTH waits for a free check before it is answered 454 4.7.0.
    pub check_wait: HumanDuration,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            require_tls: true,
            max_failures: 5,
            failure_window: HumanDuration(Duration::from_secs(600)),
            lockout: HumanDuration(Duration::from_secs(600)),
            max_concurrent_checks: 0,
            check_wait: HumanDuration(Duration::from_secs(10)),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Spool {
    pub dir: PathBuf,
    /// Below this much free disk, MAIL is answered 452 4.3.1.
    pub min_free_space: ByteSize,
    /// A spool segment is closed and a new one started past this size.
    pub segment_size: ByteSize,
}

impl Default for Spool {
    fn default() -> Self {
        Spool {
            dir: PathBuf::from("data/spool"),
            min_free_space: ByteSize(100_000_000),
            segment_size: ByteSize(64_000_000),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Delivery {
    pub mode: DeliveryModeName,
    pub maildir: PathBuf,
    pub smarthost: Option<Smarthost>,
    /// Delivery workers (and so outbound connections) at once.
    pub concurrency: usize,
    /// Connections at once to one destination (an MX domain or a smarthost).
    pub per_destination: usize,
    /// The port MX hosts are reached on (25; tests use another).
    pub mx_port: u16,
    /// Outbound TLS towards MX hosts.
    pub tls: TlsPolicy,
    /// PEM file of CAs trusted where TLS must be verified (default: the webpki roots).
    pub ca_file: Option<PathBuf>,
    /// Honour recipient domains' MTA-STS policies (RFC 8461).
    pub mta_sts: bool,
    /// The HTTPS port policies are fetched from (443; tests use another).
    pub mta_sts_port: u16,
    /// Waits between attempts; the last one repeats until `max_age`.
    pub retry: Vec<HumanDuration>,
    pub max_age: HumanDuration,
    /// Tags with a shorter life, e.g. `otp = "10m"`: a code delivered late is worse than none.
    pub max_age_by_tag: BTreeMap<String, HumanDuration>,
    /// After this long in retry the sender gets one delay notice (DSN action "delayed").
    pub delay_notice_after: HumanDuration,
    pub connect_timeout: HumanDuration,
    pub command_timeout: HumanDuration,
    /// Named sets of source addresses (`[[delivery.pool]]`), chosen by routes.
    #[serde(rename = "pool")]
    pub pools: Vec<Pool>,
    /// Next hops a routing plugin may name besides the smarthost: `"host:port"`, an address
    /// or a network (`"10.0.0.0/8"`). Nothing else, and no loopback or private address
    /// unless an entry names it.
    pub route_allow: Vec<String>,
}

impl Default for Delivery {
    fn default() -> Self {
        let secs = |s| HumanDuration(Duration::from_secs(s));
        Delivery {
            mode: DeliveryModeName::Local,
            maildir: PathBuf::from("data/maildir"),
            smarthost: None,
            concurrency: 20,
            per_destination: 10,
            mx_port: 25,
            tls: TlsPolicy::Opportunistic,
            ca_file: None,
            mta_sts: true,
            mta_sts_port: 443,
            retry: vec![secs(60), secs(300), secs(900), secs(3600)],
            max_age: secs(5 * 86400),
            max_age_by_tag: BTreeMap::new(),
            delay_notice_after: secs(4 * 3600),
            connect_timeout: secs(30),
            command_timeout: secs(300),
            pools: Vec::new(),
            route_allow: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryModeName {
    Local,
    Smarthost,
    Mx,
}

/// An egress pool: outbound connections bind one of `source` (round robin).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub name: String,
    pub source: Vec<IpAddr>,
    /// Messages per UTC day through this pool (IP warm-up); past it they wait.
    pub daily_cap: Option<u64>,
}

/// The resolver used for MX, A/AAAA and TXT lookups.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// `ip:port` of nameservers to ask; empty uses the system's (/etc/resolv.conf).
    pub nameservers: Vec<SocketAddr>,
    pub timeout: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smarthost {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub tls: TlsPolicy,
    /// PEM file of CAs trusted for `tls = "required"` (default: the webpki roots).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsPolicy {
    /// STARTTLS when offered, certificate not verified (RFC 7435 opportunistic security).
    #[default]
    Opportunistic,
    /// STARTTLS must succeed with a verified certificate, or the message waits.
    Required,
    /// Never STARTTLS.
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub name: String,
    /// Domains this tenant may use in MAIL FROM (subdomains included).
    pub sender_domains: Vec<String>,
    #[serde(default)]
    pub users: Vec<User>,
    /// Clients from these networks send as this tenant without AUTH.
    #[serde(default)]
    pub trusted_networks: Vec<IpNet>,
    /// The tenant's policy chain, in order.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<Plugin>,
    /// Messages older than this are expired instead of delivered (overrides a longer
    /// `delivery.max_age`).
    pub max_age: Option<HumanDuration>,
    /// The egress pool this tenant's mail leaves from unless a route says otherwise.
    pub pool: Option<String>,
    /// DKIM keys, one per signing domain (`[[tenant.dkim]]`).
    #[serde(default)]
    pub dkim: Vec<Dkim>,
    /// Next hops this tenant's routing plugins may name on top of `delivery.route_allow`.
    #[serde(default)]
    pub route_allow: Vec<String>,
    /// Keys applications use on the application API (`[[tenant.api_key]]`).
    #[serde(default, rename = "api_key")]
    pub api_keys: Vec<ApiKey>,
    /// Keep a sample of this tenant's accepted messages for `sluice replay`
    /// (`[tenant.capture]`); off unless set.
    pub capture: Option<Capture>,
}

/// `[tenant.capture]`: a sample of the tenant's accepted messages, each as the client sent it
/// (`TIME-QUEUEID.eml`) with its envelope (`TIME-QUEUEID.eml.json`: from, to, tenant,
/// client_ip, helo, auth_user, tls), which `sluice replay DIR` reads. Messages hold personal
/// data: choose `dir`, `rate` and `retention` as the tenant's privacy rules allow.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    /// The directory (relative to the config file); created if missing.
    pub dir: PathBuf,
    /// The share of accepted messages kept, from 0 to 1 (`0.05`: one in twenty).
    pub rate: f64,
    /// Larger messages are not kept (default `"1MB"`).
    #[serde(default = "default_capture_max_size")]
    pub max_size: ByteSize,
    /// Kept messages older than this are deleted as new ones are kept (default `"7d"`).
    #[serde(default = "default_capture_retention")]
    pub retention: HumanDuration,
}

fn default_capture_max_size() -> ByteSize {
    ByteSize(1 << 20)
}

fn default_capture_retention() -> HumanDuration {
    HumanDuration(Duration::from_secs(7 * 24 * 3600))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dkim {
    /// Messages whose From: is this domain (or a subdomain) are signed with d=domain.
    pub domain: String,
    pub selector: String,
    /// PEM private key: RSA (PKCS#1 or PKCS#8) or Ed25519 (PKCS#8), as `sluice dkim keygen`
    /// writes. Relative to the config file.
    pub key: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: String,
    /// Argon2 PHC string (`sluice hash-password` prints one). Plain passwords are not accepted.
    pub password_hash: toml::Spanned<String>,
}
