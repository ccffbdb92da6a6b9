//! The policy pipeline: each tenant's ordered chain of policies, consulted at each SMTP stage
//! and at routing. WebAssembly plugins ([`crate::plugin::policy::WasmPolicy`]) are policies.
//!
//! Folding follows milter practice: the first reject, tempfail, quarantine or discard wins
//! and ends the chain; `accept` ends the chain for this stage without a rejection; headers
//! and tags accumulate.
//!
//! Three lifetimes: a [`Pipeline`] per tenant (made when the config loads), a
//! [`PipelineRun`] per SMTP transaction (policies keep per-transaction state there, such as a
//! plugin instance), and the [`HookInput`] of one call.

use crate::capability::message::ParsedMessage;
use crate::config::SmarthostTls as TlsPolicy;
use crate::smtp::reply::Reply;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where in the transaction a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connect,
    Helo,
    Auth,
    MailFrom,
    RcptTo,
    Data,
}

/// What a policy sees. Fields that a stage has not reached yet are empty.
#[derive(Clone, Copy)]
pub struct HookInput<'a> {
    pub stage: Stage,
    pub client_ip: IpAddr,
    pub helo: &'a str,
    pub tenant: &'a str,
    pub auth_user: Option<&'a str>,
    pub tls: Option<&'a str>,
    pub mail_from: Option<&'a str>,
    /// Recipients accepted so far.
    pub rcpts: &'a [String],
    /// The recipient under test at `RcptTo`.
    pub rcpt: Option<&'a str>,
    /// The whole message at `Data`, parsed lazily and once for the chain.
    pub message: Option<&'a Arc<ParsedMessage>>,
    pub queue_id: Option<&'a str>,
}

/// One policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    Accept,
    Reject(Reply),
    Tempfail(Reply),
    /// Accept, but hold the message for an operator.
    Quarantine(String),
    /// Answer 250 but drop the message.
    Discard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub add_headers: Vec<(String, String)>,
    pub tags: Vec<String>,
    /// Who decided and by which rule ("name#hash: rule"), for logs and replies.
    pub explain: Option<String>,
    /// Fuel the plugins' hooks burned, when the engine meters it (the dry run).
    pub fuel: Option<u64>,
    /// What shadow-mode policies would have decided (never enforced), for `sluice replay`.
    pub shadow: Vec<Shadowed>,
}

/// What a shadow-mode policy would have done: its verdict and tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowed {
    /// The policy's label ("name#hash").
    pub policy: String,
    /// The tenant and the policy's name, the labels of its metrics.
    pub tenant: String,
    pub name: String,
    pub verdict: Verdict,
    pub tags: Vec<String>,
}

impl Verdict {
    /// The verdict's kind in one word: continue, accept, reject, tempfail, quarantine, discard.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Continue => "continue",
            Verdict::Accept => "accept",
            Verdict::Reject(_) => "reject",
            Verdict::Tempfail(_) => "tempfail",
            Verdict::Quarantine(_) => "quarantine",
            Verdict::Discard => "discard",
        }
    }
}

impl Decision {
    pub fn verdict(verdict: Verdict) -> Decision {
        Decision {
            verdict,
            add_headers: Vec::new(),
            tags: Vec::new(),
            explain: None,
            fuel: None,
            shadow: Vec::new(),
        }
    }

    pub fn proceed() -> Decision {
        Decision::verdict(Verdict::Continue)
    }
}

/// Where delivery of one recipient domain goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The configured default transport.
    Default,
    /// Keep the message; do not deliver until released.
    Hold,
    /// The domain's MX hosts.
    Mx {
        pool: Option<String>,
        tls: Option<TlsPolicy>,
    },
    /// A fixed next hop.
    Smarthost {
        host: String,
        port: u16,
        pool: Option<String>,
        tls: Option<TlsPolicy>,
    },
    /// The routing hook failed (or named a next hop it may not): the recipients wait
    /// (`permanent` false) or bounce with `reason`, an SMTP reply, by the plugin's failure
    /// action.
    Refuse { permanent: bool, reason: String },
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let extras =
            |f: &mut std::fmt::Formatter<'_>, pool: &Option<String>, tls: &Option<TlsPolicy>| {
                if let Some(p) = pool {
                    write!(f, " pool={p}")?;
                }
                match tls {
                    Some(t) => write!(f, " tls={t:?}"),
                    None => Ok(()),
                }
            };
        match self {
            Route::Default => f.write_str("default"),
            Route::Hold => f.write_str("hold"),
            Route::Mx { pool, tls } => {
                f.write_str("mx")?;
                extras(f, pool, tls)
            }
            Route::Smarthost {
                host,
                port,
                pool,
                tls,
            } => {
                write!(f, "smarthost {host}:{port}")?;
                extras(f, pool, tls)
            }
            Route::Refuse { reason, .. } => write!(f, "refused: {reason}"),
        }
    }
}

/// What the routing hook is asked about: one recipient domain of one message.
#[derive(Debug, Clone)]
pub struct RouteRequest<'a> {
    pub queue_id: &'a str,
    pub tenant: &'a str,
    pub mail_from: &'a str,
    pub domain: &'a str,
    pub tags: &'a [String],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Deferred,
    Bounced,
    Expired,
}

/// One recipient's outcome of one delivery attempt, for the delivery-result hook.
#[derive(Debug, Clone)]
pub struct DeliveryResult {
    pub queue_id: String,
    pub tenant: String,
    pub mail_from: String,
    pub recipient: String,
    pub outcome: Outcome,
    pub reply: String,
    pub remote: Option<String>,
    pub attempt: u32,
    pub tags: Vec<String>,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A policy in a tenant's chain.
pub trait Policy: Send + Sync {
    fn name(&self) -> &str;
    /// How operators see it in status output: a plugin's "name#hash".
    fn label(&self) -> &str {
        self.name()
    }
    /// State for one SMTP transaction.
    fn begin(&self) -> Box<dyn PolicyRun>;
    /// Routing for one recipient domain; `None` leaves it to the next policy.
    fn route<'a>(&'a self, _request: &'a RouteRequest<'a>) -> BoxFuture<'a, Option<Route>> {
        Box::pin(async { None })
    }
    /// Outcomes of one delivery attempt of one message.
    fn delivery_results<'a>(&'a self, _results: &'a [DeliveryResult]) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
    /// What an operator sees of it (the admin console's tenants page).
    fn info(&self) -> PolicyInfo {
        PolicyInfo {
            name: self.name().to_owned(),
            ..PolicyInfo::default()
        }
    }
}

/// One policy of a chain as an operator sees it.
#[derive(Debug, Clone, Default)]
pub struct PolicyInfo {
    pub name: String,
    /// A plugin's build: the first 12 hex digits of its SHA-256 (empty for built-ins).
    pub hash: String,
    /// Its verdicts are logged (`shadow_verdict`), not enforced.
    pub shadow: bool,
    /// `fresh` (an instance per transaction) or `reuse N` (N transactions per instance).
    pub instance: String,
    /// The hooks it implements, as the WIT names them.
    pub hooks: Vec<&'static str>,
    /// The action on a trap (the most common failure) and while its breaker is open.
    pub on_trap: &'static str,
    pub on_breaker: &'static str,
    /// Its crash-loop breaker is open: it is not being called.
    pub breaker_open: bool,
}

/// A policy's state during one transaction.
pub trait PolicyRun: Send {
    fn check<'a>(&'a mut self, input: &'a HookInput<'a>) -> BoxFuture<'a, Decision>;
}

/// One tenant's chain.
#[derive(Clone, Default)]
pub struct Pipeline {
    policies: Vec<Arc<dyn Policy>>,
}

/// A chain during one transaction.
pub struct PipelineRun {
    runs: Vec<Box<dyn PolicyRun>>,
    /// A stage's task on the plugin threads ended without handing the policies back (a
    /// panic): every later stage of the transaction is refused rather than run without them.
    lost: bool,
}

/// A [`HookInput`] that owns what it points at, so that a stage can cross to the plugin
/// threads.
struct OwnedInput {
    stage: Stage,
    client_ip: IpAddr,
    helo: String,
    tenant: String,
    auth_user: Option<String>,
    tls: Option<String>,
    mail_from: Option<String>,
    rcpts: Vec<String>,
    rcpt: Option<String>,
    message: Option<Arc<ParsedMessage>>,
    queue_id: Option<String>,
}

impl OwnedInput {
    fn of(input: &HookInput<'_>) -> OwnedInput {
        OwnedInput {
            stage: input.stage,
            client_ip: input.client_ip,
            helo: input.helo.to_owned(),
            tenant: input.tenant.to_owned(),
            auth_user: input.auth_user.map(str::to_owned),
            tls: input.tls.map(str::to_owned),
            mail_from: input.mail_from.map(str::to_owned),
            rcpts: input.rcpts.to_vec(),
            rcpt: input.rcpt.map(str::to_owned),
            message: input.message.cloned(),
            queue_id: input.queue_id.map(str::to_owned),
        }
    }

    fn input(&self) -> HookInput<'_> {
        HookInput {
            stage: self.stage,
            client_ip: self.client_ip,
            helo: &self.helo,
            tenant: &self.tenant,
            auth_user: self.auth_user.as_deref(),
            tls: self.tls.as_deref(),
            mail_from: self.mail_from.as_deref(),
            rcpts: &self.rcpts,
            rcpt: self.rcpt.as_deref(),
            message: self.message.as_ref(),
            queue_id: self.queue_id.as_deref(),
        }
    }
}

impl Pipeline {
    pub fn new(policies: Vec<Arc<dyn Policy>>) -> Pipeline {
        Pipeline { policies }
    }

    /// The labels of its policies, in order.
    pub fn labels(&self) -> Vec<String> {
        self.policies.iter().map(|p| p.label().to_owned()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    pub fn begin(&self) -> PipelineRun {
        PipelineRun {
            runs: self.policies.iter().map(|p| p.begin()).collect(),
            lost: false,
        }
    }

    /// The first policy that routes the domain decides; none means the default transport.
    pub async fn route(&self, request: &RouteRequest<'_>) -> Route {
        for policy in &self.policies {
            if let Some(r) = policy.route(request).await {
                return r;
            }
        }
        Route::Default
    }

    /// Tells every policy that asked what became of the recipients of one attempt.
    pub async fn delivery_results(&self, results: &[DeliveryResult]) {
        for policy in &self.policies {
            policy.delivery_results(results).await;
        }
    }
}

impl PipelineRun {
    /// Runs every policy in order and folds their decisions.
    pub async fn run(&mut self, input: &HookInput<'_>) -> Decision {
        self.run_timed(input).await.0
    }

    /// [`run`](Self::run), also giving the wall-clock time of each policy that ran, in chain
    /// order (the policies after the one that decided did not run). For `sluice replay`.
    ///
    /// The whole stage runs as one task on the plugin threads
    /// ([`crate::plugin::engine::executor`]), where plugin code runs at a lower priority: one
    /// crossing between threads per stage, not one per plugin (each crossing is a wake-up of a
    /// parked thread on either side, which on this 2-core VM cost more than a reused plugin's
    /// hook call: BENCHMARKS.md, session 8).
    pub async fn run_timed(&mut self, input: &HookInput<'_>) -> (Decision, Vec<Duration>) {
        if self.lost {
            return (lost_decision(), Vec::new());
        }
        if self.runs.is_empty() {
            return (Decision::proceed(), Vec::new());
        }
        let mut runs = std::mem::take(&mut self.runs);
        let owned = OwnedInput::of(input);
        let ran = crate::plugin::engine::executor()
            .spawn(async move {
                let out = fold(&mut runs, &owned.input()).await;
                (runs, out)
            })
            .await;
        match ran {
            Ok((runs, out)) => {
                self.runs = runs;
                out
            }
            Err(e) => {
                tracing::error!(tenant = input.tenant, stage = ?input.stage, error = %e, "a policy stage ended abnormally");
                self.lost = true;
                (lost_decision(), Vec::new())
            }
        }
    }
}

/// The answer to every stage after the policies were lost: try again later.
fn lost_decision() -> Decision {
    Decision::verdict(Verdict::Tempfail(Reply::dynamic(
        451,
        "4.3.0",
        "Policy check temporarily unavailable; try again later".to_owned(),
    )))
}

/// Runs every policy in order and folds their decisions, with the time each one took.
async fn fold(runs: &mut [Box<dyn PolicyRun>], input: &HookInput<'_>) -> (Decision, Vec<Duration>) {
    let mut folded = Decision::proceed();
    let mut times = Vec::with_capacity(runs.len());
    for run in runs.iter_mut() {
        let started = Instant::now();
        let d = run.check(input).await;
        times.push(started.elapsed());
        folded.add_headers.extend(d.add_headers);
        folded.tags.extend(d.tags);
        folded.shadow.extend(d.shadow);
        if let Some(f) = d.fuel {
            folded.fuel = Some(folded.fuel.unwrap_or(0) + f);
        }
        if d.verdict != Verdict::Continue {
            folded.verdict = d.verdict;
            folded.explain = d.explain;
            break;
        }
    }
    count_shadowed(&folded);
    (folded, times)
}

/// Counts each shadow policy's would-be verdict against the one the chain enforced at the
/// same stage (`continue` when it let the message go on): the figures to read before taking
/// a policy out of shadow mode.
fn count_shadowed(folded: &Decision) {
    if folded.shadow.is_empty() {
        return;
    }
    let m = crate::metrics::get();
    for s in &folded.shadow {
        m.plugin_shadow_verdicts
            .with_label_values(&[&s.tenant, &s.name, s.verdict.kind(), folded.verdict.kind()])
            .inc();
    }
}

/// Every tenant's chain, swapped whole on reload; sessions keep the set they started with.
#[derive(Default)]
pub struct Policies {
    tenants: HashMap<String, Pipeline>,
}

impl Policies {
    pub fn new(tenants: HashMap<String, Pipeline>) -> Policies {
        Policies { tenants }
    }

    /// Each tenant's chain by its policies' labels, tenants in name order.
    pub fn labels(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        self.tenants
            .iter()
            .map(|(t, p)| (t.clone(), p.labels()))
            .collect()
    }

    /// Each tenant's chain, described, tenants in name order.
    pub fn infos(&self) -> std::collections::BTreeMap<String, Vec<PolicyInfo>> {
        self.tenants
            .iter()
            .map(|(t, p)| (t.clone(), p.policies.iter().map(|p| p.info()).collect()))
            .collect()
    }

    pub fn for_tenant(&self, tenant: &str) -> Pipeline {
        self.tenants.get(tenant).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::reply;

    struct Fixed(&'static str, Decision);
    struct FixedRun(Decision);

    impl Policy for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        fn begin(&self) -> Box<dyn PolicyRun> {
            Box::new(FixedRun(self.1.clone()))
        }
    }

    impl PolicyRun for FixedRun {
        fn check<'a>(&'a mut self, _input: &'a HookInput<'a>) -> BoxFuture<'a, Decision> {
            Box::pin(async move { self.0.clone() })
        }
    }

    fn with_header(v: Verdict, h: &str) -> Decision {
        Decision {
            verdict: v,
            add_headers: vec![(h.into(), "1".into())],
            tags: vec![h.into()],
            explain: Some(h.into()),
            fuel: None,
            shadow: Vec::new(),
        }
    }

    #[tokio::test]
    async fn first_reject_wins_and_headers_accumulate() {
        let p = Pipeline::new(vec![
            Arc::new(Fixed("a", with_header(Verdict::Continue, "X-A"))),
            Arc::new(Fixed(
                "b",
                with_header(Verdict::Reject(reply::AUTH_REQUIRED), "X-B"),
            )),
            Arc::new(Fixed(
                "c",
                with_header(Verdict::Tempfail(reply::DISK_LOW), "X-C"),
            )),
        ]);
        let input = HookInput {
            stage: Stage::Data,
            client_ip: "127.0.0.1".parse().unwrap(),
            helo: "h",
            tenant: "t",
            auth_user: None,
            tls: None,
            mail_from: None,
            rcpts: &[],
            rcpt: None,
            message: None,
            queue_id: None,
        };
        let d = p.begin().run(&input).await;
        assert_eq!(d.verdict, Verdict::Reject(reply::AUTH_REQUIRED));
        assert_eq!(d.tags, vec!["X-A", "X-B"]);
        assert_eq!(d.explain.as_deref(), Some("X-B"));
        assert_eq!(
            Pipeline::default().begin().run(&input).await.verdict,
            Verdict::Continue
        );
    }
}
