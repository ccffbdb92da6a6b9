//! The config file as written. Every table denies unknown keys so a typo is an error, not a
//! silently ignored setting. Defaults here are the built-in quickstart.

use super::units::{ByteSize, HumanDuration};
use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
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
    #[serde(default)]
    pub events: Events,
    #[serde(default)]
    pub cluster: Cluster,
    #[serde(default)]
    pub suppressions: Suppressions,
    #[serde(default)]
    pub complaints: Complaints,
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<Tenant>,
}

/// The admin HTTP API: health, readiness, metrics, reload, status and the queue.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
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
    /// Serve HTTPS with the relay's certificate (`[tls]`). Required when `listen` is not a
    /// loopback address: bearer tokens must not cross a network in clear. `sluice` commands
    /// pin the certificate the config names.
    pub tls: bool,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            listen: "127.0.0.1:8025".parse().expect("literal address"),
            token_file: None,
            tokens: Vec::new(),
            tls: false,
        }
    }
}

/// One accepted bearer token (`sluice admin token` makes one).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminToken {
    /// Who holds it, for the log.
    pub name: String,
    /// Lower-case hex SHA-256 of the token.
    #[schemars(with = "String")]
    pub sha256: toml::Spanned<String>,
    /// `read` (status, metrics, queue listing) or `admin` (also reload, retry, delete).
    #[serde(default)]
    pub scope: AdminScope,
}

#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AdminScope {
    #[default]
    Read,
    Admin,
}

/// The application API: HTTP sending, events and suppressions, for each tenant's own keys.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Api {
    /// Where the API listens (`""` or absent table: the built-in loopback address). Unlike the
    /// admin API, applications on other hosts may need it: put it behind TLS termination.
    pub listen: Option<SocketAddr>,
    /// Set `false` to serve no application API at all.
    pub enabled: bool,
    /// The largest request body accepted (a message with its attachments in base64, or a
    /// whole batch); a larger one gets 413.
    pub max_body: ByteSize,
    /// Serve HTTPS with the relay's certificate (`[tls]`). Without it, a `listen` address
    /// that is not loopback is allowed (for TLS terminated by a proxy) but logged as a warning.
    pub tls: bool,
    /// Messages at most in one `POST /v1/messages/batch` (default 100); more gets 422.
    pub max_batch: usize,
    /// How long an `Idempotency-Key` is remembered (default `"24h"`): the same key from the
    /// same tenant within it answers the first request's result instead of queuing again.
    /// Kept durably under the spool directory, so a restart forgets none.
    pub idempotency_window: HumanDuration,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            listen: None,
            enabled: true,
            max_body: ByteSize(40 << 20),
            tls: false,
            max_batch: 100,
            idempotency_window: HumanDuration(Duration::from_secs(24 * 3600)),
        }
    }
}

/// One of a tenant's application API keys (`sluice api key` makes one).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// Which application holds it, for the log and events.
    pub name: String,
    /// Lower-case hex SHA-256 of the key.
    #[schemars(with = "String")]
    pub sha256: toml::Spanned<String>,
    /// What the key may do: `send`, `events` (read events), `suppressions` (manage them).
    #[serde(default = "default_api_scopes")]
    pub scopes: Vec<ApiScope>,
}

fn default_api_scopes() -> Vec<ApiScope> {
    vec![ApiScope::Send]
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
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

/// State shared by several relay nodes through Valkey or Redis. Off unless `redis` is set: a
/// single node keeps its state in its own memory and needs no server. Message data is never
/// shared (each node its own spool).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// `redis://[:password@]host:port/db` (or `rediss://` for TLS) of the shared server.
    pub redis: Option<String>,
    /// The longest one round trip may take before the server counts as unavailable for that
    /// call; keep it well under the plugins' `timeout`.
    pub timeout: HumanDuration,
    /// What a plugin counter does when the server is unavailable: `local` (count on this node
    /// alone, logged and counted in metrics; limits hold per node until it returns) or
    /// `tempfail` (the hook fails, so the plugin's `on_failure` applies — 451 4.3.0 by default).
    pub counters_on_unavailable: Unavailable,
    /// What a suppression lookup (at RCPT and in the HTTP sending API) does when the server is
    /// unavailable: `local` (check this node's own list — what was added or removed through
    /// it — logged and counted in metrics) or `tempfail` (the recipient gets `451 4.3.0`, the
    /// HTTP API the same reply per recipient). Additions and removals are taken either way:
    /// kept on this node and sent to the server once it answers again.
    pub suppressions_on_unavailable: Unavailable,
    /// Prefix of every key the relay writes, so several clusters can share one server.
    pub key_prefix: String,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            redis: None,
            timeout: HumanDuration(Duration::from_millis(100)),
            counters_on_unavailable: Unavailable::Local,
            suppressions_on_unavailable: Unavailable::Local,
            key_prefix: "sluice:".into(),
        }
    }
}

/// Fail open (`local`) or closed (`tempfail`) when the shared server cannot answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Unavailable {
    /// Keep going on this node's own state.
    #[default]
    Local,
    /// Refuse for now.
    Tempfail,
}

/// Per-tenant suppression lists (`[suppressions]`): addresses a tenant's mail no longer goes
/// to, filled from hard bounces, complaints and the APIs, kept under `spool.dir`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Suppressions {
    /// The most entries one tenant's list holds; past it, adds are refused (409 on the APIs,
    /// a warning for hard bounces and complaints), so no tenant can grow the relay without
    /// bound. Each entry costs about 250 bytes of memory.
    pub max_per_tenant: usize,
}

impl Default for Suppressions {
    fn default() -> Self {
        Suppressions {
            max_per_tenant: 100_000,
        }
    }
}

/// Feedback-loop complaints (`[complaints]`): ARF reports (RFC 5965) the relay takes at an
/// address of its own and turns into suppressions.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Complaints {
    /// The address mailbox providers' feedback loops send ARF reports (RFC 5965) to, e.g.
    /// `"fbl@relay.example.com"`. Mail to it is taken from any client without AUTH (that is
    /// how feedback loops send), never relayed: each report becomes a `complained` event and
    /// a `complaint` suppression for the tenant that sent the reported message. Unset: off.
    pub address: Option<String>,
}

/// The plugin runtime as a whole.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
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
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plugin {
    /// Names the plugin in logs, events, metrics and `plugin_failed` reasons.
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
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
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

/// What a plugin failure costs: one action for every kind, or a table by kind.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(untagged)]
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
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerKind {
    pub trap: Option<FailureAction>,
    pub timeout: Option<FailureAction>,
    pub memory: Option<FailureAction>,
    pub invalid: Option<FailureAction>,
    pub breaker: Option<FailureAction>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
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

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
/// The SMTP listeners and what they accept.
pub struct Server {
    /// Name in the banner, EHLO reply and Received headers.
    pub hostname: Option<String>,
    /// Plain listeners (STARTTLS offered).
    pub listen: Vec<SocketAddr>,
    /// Implicit-TLS listeners (RFC 8314).
    pub listen_tls: Vec<SocketAddr>,
    /// Sessions at once; past it a client is answered 421 4.7.0 and closed.
    pub max_connections: usize,
    /// Sessions at once from one client IP.
    pub max_connections_per_ip: usize,
    /// The largest message accepted (advertised as SIZE; more gets 552 5.3.4).
    pub max_message_size: ByteSize,
    /// Recipients per transaction (RFC 5321 asks for at least 100); more get 452 4.5.3.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BareLineEndings {
    Reject,
    Normalize,
}

/// RFC 5321 §4.5.3.2 server timeouts, plus a cap on a whole session.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// How long the server waits for the next command (RFC 5321 §4.5.3.2: at least 5 min).
    pub command: HumanDuration,
    /// How long it waits for each block of DATA or BDAT content (at least 3 min).
    pub data_block: HumanDuration,
    /// The longest a whole session may last.
    pub session: HumanDuration,
    /// How long a client has to finish the TLS handshake.
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

/// The certificate of the SMTP listeners (STARTTLS and implicit TLS) and of the HTTP APIs
/// when they use TLS.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain. Without cert and key a self-signed pair is generated under the
    /// data directory at first start.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
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

/// SMTP AUTH of the tenants' users.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Refuse AUTH on connections without TLS.
    pub require_tls: bool,
    /// Failed attempts per client IP (or per user) within `failure_window` before a lockout.
    pub max_failures: u32,
    /// The window in which failures are counted.
    pub failure_window: HumanDuration,
    /// How long a client IP (or user) past `max_failures` is refused (454 4.7.0).
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

/// The durable queue: a `250` after DATA means the message is in it, synced to disk.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Spool {
    /// Where accepted messages are kept until delivered; one relay owns it (a lock file).
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

/// How accepted mail leaves: to a local Maildir, one smarthost, or recipients' MX hosts.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Delivery {
    /// `local` (Maildir, the quickstart), `smarthost` (`[delivery.smarthost]`) or `mx`.
    pub mode: DeliveryModeName,
    /// Where `local` mode writes, one Maildir per recipient.
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
    /// A message still undelivered after this long is bounced to its sender (expired).
    pub max_age: HumanDuration,
    /// Tags with a shorter life, e.g. `otp = "10m"`: a code delivered late is worse than none.
    pub max_age_by_tag: BTreeMap<String, HumanDuration>,
    /// After this long in retry the sender gets one delay notice (DSN action "delayed").
    pub delay_notice_after: HumanDuration,
    /// How long an outbound connection may take to open.
    pub connect_timeout: HumanDuration,
    /// How long the next hop may take to answer a command (the final reply to DATA included).
    pub command_timeout: HumanDuration,
    /// Named sets of source addresses (`[[delivery.pool]]`), chosen by routes.
    #[serde(rename = "pool")]
    pub pools: Vec<Pool>,
    /// Next hops a routing plugin may name besides the smarthost: `"host:port"`, an address
    /// or a network (`"10.0.0.0/8"`). Nothing else, and no loopback or private address
    /// unless an entry names it.
    pub route_allow: Vec<String>,
    /// Traffic shaping: per-provider limits, and rules that suspend, throttle or bounce a
    /// destination when its replies say so (`[delivery.shaping]`).
    pub shaping: Shaping,
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
            shaping: Shaping::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryModeName {
    Local,
    Smarthost,
    Mx,
}

/// An egress pool: outbound connections bind one of `source` (round robin).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// What tenants (`pool`) and routing plugins call it.
    pub name: String,
    /// Local addresses outbound connections bind, in turn.
    pub source: Vec<IpAddr>,
    /// Messages per UTC day through this pool; past it they wait. With `warmup`, the cap once
    /// the schedule has run out (unset: none).
    pub daily_cap: Option<u64>,
    /// An IP warm-up schedule: the daily cap steps up by itself, day by day.
    pub warmup: Option<Warmup>,
}

/// A new address's sending volume raised day by day, as mailbox providers expect
/// (`[delivery.pool.warmup]`).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Warmup {
    /// The schedule's first day, UTC, `YYYY-MM-DD`.
    pub start: String,
    /// Daily caps from `start` on, one per day (`[50, 100, 200, 400, …]`); before `start`
    /// the first applies, after the last day the pool's `daily_cap`.
    pub caps: Vec<u64>,
    /// Schedules per mailbox provider (a `[delivery.shaping]` provider, built in or
    /// configured), from the same `start`: `providers = { gmail = [20, 40, 80], outlook =
    /// [50, 100] }` caps the messages through this pool to that provider on each day, within
    /// the pool's own cap; after a provider's last day only the pool's cap applies.
    #[serde(default)]
    pub providers: BTreeMap<String, Vec<u64>>,
}

/// Traffic shaping (`[delivery.shaping]`), after KumoMTA's traffic-shaping automation:
/// destinations are grouped into providers by the names of their MX hosts, each with its own
/// limits, and rules read the replies of the next hop and act on the whole provider (or, for
/// a destination of no provider, on that destination). With `[cluster] redis` the limits and
/// the actions are shared by every node.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Shaping {
    /// Start from the built-in providers (gmail, outlook, yahoo, icloud, gmx, mailru,
    /// yandex), which `provider` entries of the same name replace.
    pub builtin_providers: bool,
    /// Limits of a destination that belongs to no provider.
    pub default: ShapingLimits,
    /// Providers: named groups of MX host suffixes with their limits (`[[delivery.shaping.provider]]`).
    #[serde(rename = "provider")]
    pub providers: Vec<ShapingProvider>,
    /// Rules matched against every reply that did not deliver, first match wins
    /// (`[[delivery.shaping.rule]]`).
    #[serde(rename = "rule")]
    pub rules: Vec<ShapingRule>,
    /// What shaping does when the shared server (`[cluster] redis`) cannot answer: `local`
    /// (this node's own suspensions and counts, logged and counted in metrics) or `tempfail`
    /// (messages wait, untried, until the server answers).
    pub on_unavailable: Unavailable,
}

impl Default for Shaping {
    fn default() -> Self {
        Shaping {
            builtin_providers: true,
            default: ShapingLimits::default(),
            providers: Vec::new(),
            rules: Vec::new(),
            on_unavailable: Unavailable::Local,
        }
    }
}

/// Limits of one destination (a provider counts as one), shared across nodes when clustered.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ShapingLimits {
    /// Transactions at once (unset: only `delivery.per_destination`, per destination
    /// domain), across nodes when clustered.
    pub connections: Option<usize>,
    /// Messages per minute, a sliding window; past it messages wait, untried (unset: none).
    pub messages_per_minute: Option<u64>,
}

/// A mailbox provider: the destinations whose MX hosts end in one of `mx_suffixes`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShapingProvider {
    /// Names it in rules, events, metrics and the status.
    pub name: String,
    /// MX host name suffixes (`"google.com"` matches `alt1.aspmx.l.google.com`).
    pub mx_suffixes: Vec<String>,
    /// Connections at once to the provider's hosts.
    pub connections: Option<usize>,
    /// Messages per minute to the provider, a sliding window.
    pub messages_per_minute: Option<u64>,
}

/// A rule: a reply that matches every condition given triggers the action.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShapingRule {
    /// Names it in events and the status (default `rule[N]`).
    pub name: Option<String>,
    /// Only replies from this provider's hosts (unset: any destination).
    pub provider: Option<String>,
    /// The reply code, e.g. `421`.
    pub code: Option<u16>,
    /// The enhanced status or a prefix of it: `"4.7.0"`, `"5.7"`.
    pub status: Option<String>,
    /// A regular expression searched in the reply's text (`"(?i)try again later"`).
    pub text: Option<String>,
    /// `suspend` (no attempts until `duration` has passed), `throttle` (the limits below for
    /// `duration`) or `bounce` (the message bounces with the reply, and for `duration` every
    /// message to the destination does, untried).
    pub action: ShapingAction,
    /// How long the action lasts; recovery is automatic (required but for `bounce`).
    pub duration: Option<HumanDuration>,
    /// `throttle`: connections at once meanwhile.
    pub connections: Option<usize>,
    /// `throttle`: messages per minute meanwhile.
    pub messages_per_minute: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShapingAction {
    Suspend,
    Throttle,
    Bounce,
}

/// The resolver used for MX, A/AAAA and TXT lookups.
#[derive(Debug, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// `ip:port` of nameservers to ask; empty uses the system's (/etc/resolv.conf).
    pub nameservers: Vec<SocketAddr>,
    /// How long one query may take (5 s when unset).
    pub timeout: Option<HumanDuration>,
}

/// The one next hop of `mode = "smarthost"`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Smarthost {
    /// Host name or address of the next hop all mail goes to.
    pub host: String,
    /// Its port (25, or 587 for submission).
    pub port: u16,
    #[serde(default)]
    pub tls: TlsPolicy,
    /// PEM file of CAs trusted for `tls = "required"` (default: the webpki roots).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
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

/// A customer of the relay: its senders, users, policy chain, keys and limits (`[[tenant]]`).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Names the tenant in events, metrics, the queue and the admin API.
    pub name: String,
    /// Domains this tenant may use in MAIL FROM (subdomains included).
    pub sender_domains: Vec<String>,
    #[serde(default)]
    pub users: Vec<User>,
    /// Clients from these networks send as this tenant without AUTH.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
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
    /// Endpoints this tenant's events are POSTed to (`[[tenant.webhook]]`).
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<Webhook>,
    /// Keep a sample of this tenant's accepted messages, each as the client sent it
    /// (`TIME-QUEUEID.eml`) with its envelope (`TIME-QUEUEID.eml.json`), for `sluice replay
    /// DIR`; off unless set. Captured mail holds personal data: choose `dir`, `rate` and
    /// `retention` as the tenant's privacy rules allow.
    pub capture: Option<Capture>,
}

/// `[tenant.capture]`: a sample of the tenant's accepted messages, each as the client sent it
/// (`TIME-QUEUEID.eml`) with its envelope (`TIME-QUEUEID.eml.json`: from, to, tenant,
/// client_ip, helo, auth_user, tls), which `sluice replay DIR` reads. Messages hold personal
/// data: choose `dir`, `rate` and `retention` as the tenant's privacy rules allow.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    /// The directory (relative to the config file); created if missing.
    pub dir: PathBuf,
    /// The share of accepted messages kept, from 0 to 1 (`0.05`: one in twenty).
    pub rate: f64,
    /// Larger messages are not kept.
    #[serde(default = "default_capture_max_size")]
    pub max_size: ByteSize,
    /// Kept messages older than this are deleted as new ones are kept.
    #[serde(default = "default_capture_retention")]
    pub retention: HumanDuration,
}

fn default_capture_max_size() -> ByteSize {
    ByteSize(1 << 20)
}

fn default_capture_retention() -> HumanDuration {
    HumanDuration(Duration::from_secs(7 * 24 * 3600))
}

/// A DKIM signing key of the tenant (`[[tenant.dkim]]`).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dkim {
    /// Messages whose From: is this domain (or a subdomain) are signed with d=domain.
    pub domain: String,
    /// The selector: the key is published at `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// PEM private key: RSA (PKCS#1 or PKCS#8) or Ed25519 (PKCS#8), as `sluice dkim keygen`
    /// writes. Relative to the config file.
    pub key: PathBuf,
}

/// A user that may AUTH as the tenant (`[[tenant.users]]`).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The AUTH user name (unique across tenants).
    pub username: String,
    /// Argon2 PHC string (`sluice hash-password` prints one). Plain passwords are not accepted.
    #[schemars(with = "String")]
    pub password_hash: toml::Spanned<String>,
}

// ---- Events and webhooks ([events], [[tenant.webhook]]) ----

/// The event journal (`spool.dir/events/`) and webhook delivery from it. All but the
/// `webhook_retry_*` keys take a restart to change.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Events {
    /// A journal segment is closed and the next one started past this size.
    pub segment_size: ByteSize,
    /// The oldest segments are deleted while the journal holds more than this.
    pub max_size: ByteSize,
    /// Segments whose newest event is older than this are deleted. At least
    /// `webhook_retry_for`, so no event is deleted while a webhook still retries it.
    pub max_age: HumanDuration,
    /// How often written events are fsynced: a crash of the process loses no event (each is
    /// written before the code that emitted it goes on); a power loss, at most this much.
    pub sync_interval: HumanDuration,
    /// How long one event's webhook delivery is retried before it is dropped (event
    /// `webhook_dropped`).
    pub webhook_retry_for: HumanDuration,
    /// The first wait after a failed webhook delivery; each later one doubles, up to
    /// `webhook_retry_max` (±10% jitter).
    pub webhook_retry_initial: HumanDuration,
    /// The longest wait between two attempts of one event.
    pub webhook_retry_max: HumanDuration,
    /// Webhook requests in flight at once, all endpoints together.
    pub webhook_concurrency: usize,
}

impl Default for Events {
    fn default() -> Self {
        let secs = |s| HumanDuration(Duration::from_secs(s));
        Events {
            segment_size: ByteSize(4 << 20),
            max_size: ByteSize(1 << 30),
            max_age: secs(7 * 86400),
            sync_interval: secs(1),
            webhook_retry_for: secs(86400),
            webhook_retry_initial: secs(5),
            webhook_retry_max: secs(3600),
            webhook_concurrency: 64,
        }
    }
}

/// One of a tenant's webhook endpoints (`[[tenant.webhook]]`): each of the tenant's events
/// that `events` names is POSTed to `url` as JSON, signed with the secret (HMAC-SHA256 in
/// `Sluice-Signature`). Reloaded with the config.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Names the endpoint in metrics, the log and its delivery cursor (default: the URL).
    /// Renaming it starts the endpoint afresh, from the events after the change.
    pub name: Option<String>,
    /// `http://` or `https://` (verified against `ca_file` or the webpki roots).
    pub url: String,
    /// A file holding the signing secret (surrounding whitespace ignored). Set exactly one
    /// of `secret_file`, `secret_env` and `secret`; a secret has at least 16 bytes.
    pub secret_file: Option<PathBuf>,
    /// An environment variable of the relay's holding the signing secret.
    pub secret_env: Option<String>,
    /// The signing secret itself (prefer `secret_file` or `secret_env`).
    pub secret: Option<String>,
    /// Event names to send (`["delivered", "bounced"]`); `["*"]` (the default) sends all.
    #[serde(default = "all_events")]
    pub events: Vec<String>,
    /// One request's wall clock, connect to the end of the answer; past it, the delivery
    /// counts as failed and is retried.
    #[serde(default = "default_webhook_timeout")]
    pub timeout: HumanDuration,
    /// Requests to this endpoint in flight at once (events may then arrive out of order;
    /// each carries its id and time).
    #[serde(default = "default_webhook_concurrency")]
    pub concurrency: usize,
    /// PEM file of CAs trusted for an `https` URL (default: the webpki roots).
    pub ca_file: Option<PathBuf>,
}

fn all_events() -> Vec<String> {
    vec!["*".into()]
}

fn default_webhook_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

fn default_webhook_concurrency() -> usize {
    4
}
