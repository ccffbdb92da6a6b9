//! A loaded plugin as a link of a tenant's pipeline: instance per transaction, failure
//! actions, the crash-loop breaker, shadow mode, and explainable verdicts.

use super::instance::{Failure, PluginInstance};
use super::registry::LoadedPlugin;
use super::wit;
use crate::capability::log::escape_control;
use crate::config::resolved::FailureAction;
use crate::config::routes::RouteAllow;
use crate::config::SmarthostTls as TlsPolicy;
use crate::pipeline::{
    BoxFuture, Decision, DeliveryResult, HookInput, Outcome, Policy, PolicyInfo, PolicyRun, Route,
    RouteRequest, Shadowed, Stage, Verdict,
};
use crate::smtp::reply::{printable, Reply};
use sluice_wire::header;
use std::sync::Arc;

/// Longest tag kept (after escaping); longer ones are dropped.
const MAX_TAG: usize = 64;
/// Octets of reply text kept from a plugin, escaped to printable ASCII; with the rule and the
/// plugin's label the reply line stays well within the 512 octets of RFC 5321.
const MAX_REPLY_TEXT: usize = 200;
/// Octets of the rule name kept, escaped, in replies and logs.
const MAX_RULE: usize = 64;
/// Octets of a next hop's reply handed to `on-delivery-result`.
const MAX_RESULT_REPLY: usize = 1024;

pub struct WasmPolicy {
    plugin: Arc<LoadedPlugin>,
}

impl WasmPolicy {
    pub fn new(plugin: Arc<LoadedPlugin>) -> WasmPolicy {
        WasmPolicy { plugin }
    }
}

impl Policy for WasmPolicy {
    fn name(&self) -> &str {
        &self.plugin.spec.name
    }

    fn label(&self) -> &str {
        self.plugin.label()
    }

    fn info(&self) -> PolicyInfo {
        let p = &self.plugin;
        PolicyInfo {
            name: p.spec.name.clone(),
            hash: p.hash.clone(),
            shadow: p.spec.shadow,
            instance: if p.spec.reuse > 1 {
                format!("reuse {}", p.spec.reuse)
            } else {
                "fresh".into()
            },
            hooks: p.hooks.iter().map(|h| super::hook_name(*h)).collect(),
            on_trap: action_name(p.spec.on_failure.trap),
            on_breaker: action_name(p.spec.on_failure.breaker),
            breaker_open: p.breaker.is_open(),
        }
    }

    fn begin(&self) -> Box<dyn PolicyRun> {
        Box::new(WasmRun {
            plugin: self.plugin.clone(),
            instance: None,
        })
    }

    /// The plugin's route, once checked against the next hops the operator allows. A hook
    /// that fails, or names a hop it may not, gets the plugin's failure action.
    fn route<'a>(&'a self, request: &'a RouteRequest<'a>) -> BoxFuture<'a, Option<Route>> {
        Box::pin(async move {
            if !self.plugin.implements(wit::Hook::Route) || self.plugin.spec.shadow {
                return None;
            }
            let (answer, asked) = self.ask_route(request).await;
            let f = match answer {
                Ok(route) => {
                    self.plugin.succeeded();
                    return route;
                }
                Err(f) => f,
            };
            let label = self.plugin.label();
            let action = action_for(&self.plugin, &f);
            tracing::warn!(
                target: "sluice::event", event = "plugin_failed", plugin = %label, tenant = %self.plugin.tenant,
                queue_id = request.queue_id, stage = "Route", domain = request.domain, failure = f.kind(),
                detail = %f, route = %asked.map_or("-".into(), |r| escape_control(&r.to_string(), 300)),
                action = ?action,
            );
            if f != Failure::BreakerOpen {
                self.plugin.failed();
            }
            let why = format!("[{label}: {}]", f.kind());
            match action {
                FailureAction::Continue => None,
                FailureAction::Quarantine => Some(Route::Hold),
                FailureAction::Tempfail => Some(Route::Refuse {
                    permanent: false,
                    reason: format!("451 4.3.0 Routing policy failed; will retry {why}"),
                }),
                FailureAction::Reject => Some(Route::Refuse {
                    permanent: true,
                    reason: format!("554 5.7.0 Routing refused by policy {why}"),
                }),
            }
        })
    }

    fn delivery_results<'a>(&'a self, results: &'a [DeliveryResult]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Some(first) = results.first() else { return };
            if !self.plugin.implements(wit::Hook::DeliveryResult) || self.plugin.breaker.is_open() {
                return;
            }
            let mut instance = match self.plugin.instance(Some(&first.queue_id)).await {
                Ok(i) => i,
                Err(f) => {
                    tracing::warn!(queue_id = %first.queue_id, plugin = %self.plugin.label(), failure = %f, "delivery-result hook failed");
                    self.plugin.failed();
                    return;
                }
            };
            for r in results {
                let told = wit::DeliveryResult {
                    queue_id: r.queue_id.clone(),
                    tenant: r.tenant.clone(),
                    mail_from: r.mail_from.clone(),
                    recipient: r.recipient.clone(),
                    outcome: match r.outcome {
                        Outcome::Delivered => wit::DeliveryOutcome::Delivered,
                        Outcome::Deferred => wit::DeliveryOutcome::Deferred,
                        Outcome::Bounced => wit::DeliveryOutcome::Bounced,
                        Outcome::Expired => wit::DeliveryOutcome::Expired,
                    },
                    // The next hop's words, or a non-SMTP service's banner: bounded, escaped.
                    reply: escape_control(&r.reply, MAX_RESULT_REPLY),
                    remote: r.remote.clone(),
                    attempt: r.attempt,
                    tags: r.tags.clone(),
                };
                if let Err(f) = instance.delivery_result(&told).await {
                    tracing::warn!(queue_id = %r.queue_id, plugin = %self.plugin.label(), failure = %f, "delivery-result hook failed");
                    self.plugin.failed();
                    return;
                }
            }
            self.plugin.succeeded();
            self.plugin.release(instance);
        })
    }
}

impl WasmPolicy {
    /// Calls the routing hook and checks its answer; the route asked for comes back with a
    /// refusal, for the log.
    async fn ask_route(
        &self,
        request: &RouteRequest<'_>,
    ) -> (Result<Option<Route>, Failure>, Option<Route>) {
        if self.plugin.breaker.is_open() {
            return (Err(Failure::BreakerOpen), None);
        }
        let asked = wit::RouteRequest {
            queue_id: request.queue_id.to_owned(),
            tenant: request.tenant.to_owned(),
            mail_from: request.mail_from.to_owned(),
            domain: request.domain.to_owned(),
            tags: request.tags.to_vec(),
        };
        let mut instance = match self.plugin.instance(Some(request.queue_id)).await {
            Ok(i) => i,
            Err(f) => return (Err(f), None),
        };
        let route = match instance.route(&asked).await {
            Ok(r) => r.map(route_from_wit),
            Err(f) => return (Err(f), None),
        };
        if let Some(r) = &route {
            if let Err(why) = allowed(&self.plugin.spec.routes, r) {
                return (Err(Failure::Invalid(why)), route);
            }
        }
        self.plugin.release(instance);
        (Ok(route), None)
    }
}

/// Whether a plugin may route to `r`: only to next hops and pools the operator defined.
fn allowed(allow: &RouteAllow, r: &Route) -> Result<(), String> {
    let pool = |p: &Option<String>| p.as_deref().map_or(Ok(()), |p| allow.pool(p));
    match r {
        Route::Default | Route::Hold | Route::Refuse { .. } => Ok(()),
        Route::Mx { pool: p, .. } => pool(p),
        Route::Smarthost {
            host,
            port,
            pool: p,
            ..
        } => allow.smarthost(host, *port).and_then(|()| pool(p)),
    }
}

fn route_from_wit(r: wit::Route) -> Route {
    let tls = |t: Option<wit::TlsMode>| {
        t.map(|t| match t {
            wit::TlsMode::Opportunistic => TlsPolicy::Opportunistic,
            wit::TlsMode::Required => TlsPolicy::Required,
            wit::TlsMode::None => TlsPolicy::None,
        })
    };
    match r {
        wit::Route::Default => Route::Default,
        wit::Route::Hold => Route::Hold,
        wit::Route::Mx(m) => Route::Mx {
            pool: m.pool,
            tls: tls(m.tls),
        },
        wit::Route::Smarthost(h) => Route::Smarthost {
            host: h.host,
            port: h.port,
            pool: h.pool,
            tls: tls(h.tls),
        },
    }
}

struct WasmRun {
    plugin: Arc<LoadedPlugin>,
    /// Created at the first hook this plugin implements; dropped with the transaction, or at
    /// once after a failure (a trapped instance cannot be entered again).
    instance: Option<PluginInstance>,
}

impl Drop for WasmRun {
    /// The transaction is over: a clean instance may serve another (`reuse`). A failed one
    /// was already dropped.
    fn drop(&mut self) {
        if let Some(instance) = self.instance.take() {
            self.plugin.release(instance);
        }
    }
}

/// A failure action as the config spells it.
fn action_name(action: FailureAction) -> &'static str {
    match action {
        FailureAction::Tempfail => "tempfail",
        FailureAction::Continue => "continue",
        FailureAction::Reject => "reject",
        FailureAction::Quarantine => "quarantine",
    }
}

/// A stage as the `stage` label of the plugin metrics spells it.
fn stage_label(stage: Stage) -> &'static str {
    match stage {
        Stage::Connect => "connect",
        Stage::Helo => "helo",
        Stage::Auth => "auth",
        Stage::MailFrom => "mailfrom",
        Stage::RcptTo => "rcptto",
        Stage::Data => "data",
    }
}

/// The hook a stage of the SMTP session calls.
pub fn hook_of(stage: Stage) -> wit::Hook {
    match stage {
        Stage::Connect => wit::Hook::Connect,
        Stage::Helo => wit::Hook::Helo,
        Stage::Auth => wit::Hook::Auth,
        Stage::MailFrom => wit::Hook::MailFrom,
        Stage::RcptTo => wit::Hook::RcptTo,
        Stage::Data => wit::Hook::Data,
    }
}

impl PolicyRun for WasmRun {
    fn check<'a>(&'a mut self, input: &'a HookInput<'a>) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            let hook = hook_of(input.stage);
            if !self.plugin.implements(hook) {
                return Decision::proceed();
            }
            let started = std::time::Instant::now();
            let outcome = self.call(hook, input).await;
            let label = self.plugin.label();
            let m = crate::metrics::get();
            m.plugin_seconds
                .with_label_values(&[self.plugin.tenant.as_str(), &self.plugin.spec.name])
                .observe(started.elapsed().as_secs_f64());
            m.plugin_calls
                .with_label_values(&[
                    self.plugin.tenant.as_str(),
                    &self.plugin.spec.name,
                    stage_label(input.stage),
                ])
                .inc();
            let decision = match outcome {
                Ok(d) => {
                    self.plugin.succeeded();
                    d
                }
                Err(f) => {
                    self.instance = None;
                    m.plugin_failures
                        .with_label_values(&[
                            self.plugin.tenant.as_str(),
                            &self.plugin.spec.name,
                            f.kind(),
                        ])
                        .inc();
                    tracing::warn!(
                        target: "sluice::event", event = "plugin_failed", plugin = %label, tenant = %self.plugin.tenant,
                        queue_id = input.queue_id.unwrap_or("-"), stage = ?input.stage, failure = f.kind(), detail = %f,
                        action = ?action_for(&self.plugin, &f),
                    );
                    if !matches!(f, Failure::BreakerOpen | Failure::Busy(_)) {
                        self.plugin.failed();
                    }
                    failure_decision(&self.plugin, &f)
                }
            };
            let mode = if self.plugin.spec.shadow {
                "shadow"
            } else {
                "enforced"
            };
            if decision.verdict != Verdict::Continue {
                m.plugin_verdicts
                    .with_label_values(&[
                        self.plugin.tenant.as_str(),
                        &self.plugin.spec.name,
                        decision.verdict.kind(),
                        mode,
                    ])
                    .inc();
            }
            if self.plugin.spec.shadow {
                let mut would = Decision::proceed();
                if decision.verdict != Verdict::Continue || !decision.add_headers.is_empty() {
                    tracing::info!(
                        target: "sluice::event", event = "shadow_verdict", plugin = %label, tenant = %self.plugin.tenant,
                        queue_id = input.queue_id.unwrap_or("-"), stage = ?input.stage, verdict = ?decision.verdict,
                        explain = decision.explain.as_deref().unwrap_or("-"),
                    );
                }
                if decision.verdict != Verdict::Continue || !decision.tags.is_empty() {
                    would.shadow.push(Shadowed {
                        policy: label.to_owned(),
                        tenant: self.plugin.tenant.to_string(),
                        name: self.plugin.spec.name.clone(),
                        verdict: decision.verdict,
                        tags: decision.tags,
                    });
                }
                return would;
            }
            decision
        })
    }
}

impl WasmRun {
    async fn call(&mut self, hook: wit::Hook, input: &HookInput<'_>) -> Result<Decision, Failure> {
        if self.plugin.breaker.is_open() {
            return Err(Failure::BreakerOpen);
        }
        if self.instance.is_none() {
            self.instance = Some(self.plugin.instance(input.queue_id).await?);
        }
        let instance = self.instance.as_mut().expect("just created");
        if let Some(id) = input.queue_id {
            instance.set_queue_id(id);
        }
        instance.session_mut().update(input);
        let d = self
            .plugin
            .run_hook(instance, hook, input.rcpt, input.message)
            .await?;
        let mut d = convert(&self.plugin, d)?;
        d.fuel = instance.fuel_used();
        Ok(d)
    }
}

/// A plugin's words for a reply: controls dropped, the rest printable ASCII (anything else
/// escaped, `\u{2028}`), at most `max` octets.
fn clean_text(text: &str, max: usize) -> String {
    let t: String = text.chars().filter(|c| !c.is_control()).collect();
    let t = printable(&t, max);
    if t.trim().is_empty() {
        "Refused by policy".into()
    } else {
        t.into_owned()
    }
}

fn reply_from(r: &wit::SmtpReply, permanent: bool, explain: &str) -> Reply {
    let code = match (permanent, r.code) {
        (true, 500..=599) | (false, 421..=499) => r.code,
        (true, _) => 550,
        (false, _) => 451,
    };
    let class = if permanent { '5' } else { '4' };
    let valid_status = {
        let parts: Vec<&str> = r.enhanced.split('.').collect();
        parts.len() == 3
            && parts[0] == class.to_string()
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()))
    };
    let status = if valid_status {
        r.enhanced.clone()
    } else if permanent {
        "5.7.1".into()
    } else {
        "4.7.1".into()
    };
    Reply {
        code,
        status: std::borrow::Cow::Owned(status),
        text: std::borrow::Cow::Owned(format!(
            "{} [{explain}]",
            clean_text(&r.text, MAX_REPLY_TEXT)
        )),
        // 421: the server is closing the transmission channel (RFC 5321 §3.8).
        close: code == 421,
    }
}

/// Checks and translates a plugin's answer.
fn convert(plugin: &LoadedPlugin, d: wit::Decision) -> Result<Decision, Failure> {
    let explain = match &d.rule {
        Some(rule) => format!("{}: {}", plugin.label(), clean_text(rule, MAX_RULE)),
        None => plugin.label().to_owned(),
    };
    let mut added = header::Added::default();
    for h in &d.add_headers {
        added.push(&h.name, &h.value).map_err(|e| {
            Failure::Invalid(format!(
                "header {:?} ({} bytes) refused: {e}",
                escape_control(&h.name, 40),
                h.value.len(),
            ))
        })?;
    }
    let verdict = match &d.verdict {
        wit::Verdict::Continue => Verdict::Continue,
        wit::Verdict::Accept => Verdict::Accept,
        wit::Verdict::Reject(r) => Verdict::Reject(reply_from(r, true, &explain)),
        wit::Verdict::Tempfail(r) => Verdict::Tempfail(reply_from(r, false, &explain)),
        wit::Verdict::Quarantine(reason) => Verdict::Quarantine(format!(
            "{} [{explain}]",
            clean_text(reason, MAX_REPLY_TEXT)
        )),
        wit::Verdict::Discard => Verdict::Discard,
    };
    Ok(Decision {
        verdict,
        add_headers: d
            .add_headers
            .into_iter()
            .map(|h| (h.name, h.value))
            .collect(),
        tags: d
            .tags
            .iter()
            .map(|t| escape_control(t, MAX_TAG + 1))
            .filter(|t| !t.is_empty() && t.len() <= MAX_TAG)
            .take(32)
            .collect(),
        explain: Some(explain),
        fuel: None,
        shadow: Vec::new(),
    })
}

/// The configured action for this kind of failure.
fn action_for(plugin: &LoadedPlugin, f: &Failure) -> FailureAction {
    let policy = &plugin.spec.on_failure;
    match f {
        Failure::Trap(_) => policy.trap,
        Failure::BreakerOpen => policy.breaker,
        Failure::Timeout(_) | Failure::Busy(_) => policy.timeout,
        Failure::Memory(_) => policy.memory,
        Failure::Invalid(_) => policy.invalid,
    }
}

/// What a failure turns into, by the plugin's configured action.
fn failure_decision(plugin: &LoadedPlugin, f: &Failure) -> Decision {
    let label = plugin.label();
    let mut d = match action_for(plugin, f) {
        FailureAction::Tempfail => Decision::verdict(Verdict::Tempfail(Reply::dynamic(
            451,
            "4.3.0",
            format!(
                "Policy check temporarily unavailable; try again later [{label}: {}]",
                f.kind()
            ),
        ))),
        FailureAction::Continue => Decision::proceed(),
        FailureAction::Reject => Decision::verdict(Verdict::Reject(Reply::dynamic(
            554,
            "5.7.0",
            format!("Message refused by policy [{label}: {}]", f.kind()),
        ))),
        FailureAction::Quarantine => {
            Decision::verdict(Verdict::Quarantine(format!("plugin {label} failed: {f}")))
        }
    };
    d.explain = Some(format!("{label}: {}", f.kind()));
    d
}
