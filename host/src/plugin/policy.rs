//! A loaded plugin as a link of a tenant's pipeline: instance per transaction, failure
//! actions, the crash-loop breaker, shadow mode, and explainable verdicts.

use super::instance::{Failure, PluginInstance};
use super::registry::LoadedPlugin;
use super::wit;
use crate::capability::log::escape_control;
use crate::config::resolved::FailureAction;
use crate::config::SmarthostTls as TlsPolicy;
use crate::pipeline::{
    BoxFuture, Decision, DeliveryResult, HookInput, Outcome, Policy, PolicyRun, Route,
    RouteRequest, Stage, Verdict,
};
use crate::smtp::reply::Reply;
use std::sync::Arc;

/// Bytes of headers one decision may add; past it the answer is refused as invalid.
const MAX_ADDED_HEADER_BYTES: usize = 32 * 1024;
/// Longest tag kept (after escaping); longer ones are dropped.
const MAX_TAG: usize = 64;
/// Longest reply text kept from a plugin.
const MAX_REPLY_TEXT: usize = 200;

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

    fn begin(&self) -> Box<dyn PolicyRun> {
        Box::new(WasmRun {
            plugin: self.plugin.clone(),
            instance: None,
        })
    }

    fn route<'a>(&'a self, request: &'a RouteRequest<'a>) -> BoxFuture<'a, Option<Route>> {
        Box::pin(async move {
            if !self.plugin.implements(wit::Hook::Route)
                || self.plugin.spec.shadow
                || self.plugin.breaker.is_open()
            {
                return None;
            }
            let asked = wit::RouteRequest {
                queue_id: request.queue_id.to_owned(),
                tenant: request.tenant.to_owned(),
                mail_from: request.mail_from.to_owned(),
                domain: request.domain.to_owned(),
                tags: request.tags.to_vec(),
            };
            let routed = match self.plugin.instance(Some(request.queue_id)).await {
                Ok(mut i) => {
                    let r = i.route(&asked).await;
                    if r.is_ok() {
                        self.plugin.release(i);
                    }
                    r
                }
                Err(f) => Err(f),
            };
            match routed {
                Ok(r) => {
                    self.plugin.succeeded();
                    r.map(route_from_wit)
                }
                Err(f) => {
                    tracing::warn!(queue_id = request.queue_id, plugin = %self.plugin.label(), failure = %f, "routing hook failed; next in chain decides");
                    self.plugin.failed();
                    None
                }
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
                    reply: r.reply.clone(),
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

fn hook_of(stage: Stage) -> wit::Hook {
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
            let outcome = self.call(hook, input).await;
            let label = self.plugin.label();
            let m = crate::metrics::get();
            let stage = format!("{:?}", input.stage).to_ascii_lowercase();
            m.plugin_calls
                .with_label_values(&[self.plugin.tenant.as_str(), &self.plugin.spec.name, &stage])
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
                    if f != Failure::BreakerOpen {
                        self.plugin.failed();
                    }
                    failure_decision(&self.plugin, &f)
                }
            };
            if self.plugin.spec.shadow {
                if decision.verdict != Verdict::Continue || !decision.add_headers.is_empty() {
                    tracing::info!(
                        target: "sluice::event", event = "shadow_verdict", plugin = %label, tenant = %self.plugin.tenant,
                        queue_id = input.queue_id.unwrap_or("-"), stage = ?input.stage, verdict = ?decision.verdict,
                        explain = decision.explain.as_deref().unwrap_or("-"),
                    );
                }
                return Decision::proceed();
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
        let d = instance.call(hook, input.rcpt, input.message).await?;
        let mut d = convert(&self.plugin, d)?;
        d.fuel = instance.fuel_used();
        Ok(d)
    }
}

fn clean_text(text: &str) -> String {
    let t: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_REPLY_TEXT)
        .collect();
    if t.trim().is_empty() {
        "Refused by policy".into()
    } else {
        t
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
        text: std::borrow::Cow::Owned(format!("{} [{explain}]", clean_text(&r.text))),
        close: false,
    }
}

/// Checks and translates a plugin's answer.
fn convert(plugin: &LoadedPlugin, d: wit::Decision) -> Result<Decision, Failure> {
    let explain = match &d.rule {
        Some(rule) => format!("{}: {}", plugin.label(), clean_text(rule)),
        None => plugin.label().to_owned(),
    };
    let mut bytes = 0;
    for h in &d.add_headers {
        bytes += h.name.len() + h.value.len() + 4;
        let bad_name = h.name.is_empty()
            || h.name.len() > 76
            || !h.name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if bad_name || h.value.contains(['\r', '\n', '\0']) || bytes > MAX_ADDED_HEADER_BYTES {
            return Err(Failure::Invalid(format!(
                "header {:?} ({} bytes) refused: names must be printable ASCII without ':', values single-line, {} bytes in all at most",
                h.name.chars().take(40).collect::<String>(),
                h.value.len(),
                MAX_ADDED_HEADER_BYTES
            )));
        }
    }
    let verdict = match &d.verdict {
        wit::Verdict::Continue => Verdict::Continue,
        wit::Verdict::Accept => Verdict::Accept,
        wit::Verdict::Reject(r) => Verdict::Reject(reply_from(r, true, &explain)),
        wit::Verdict::Tempfail(r) => Verdict::Tempfail(reply_from(r, false, &explain)),
        wit::Verdict::Quarantine(reason) => {
            Verdict::Quarantine(format!("{} [{explain}]", clean_text(reason)))
        }
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
    })
}

/// The configured action for this kind of failure.
fn action_for(plugin: &LoadedPlugin, f: &Failure) -> FailureAction {
    let policy = &plugin.spec.on_failure;
    match f {
        Failure::Trap(_) => policy.trap,
        Failure::BreakerOpen => policy.breaker,
        Failure::Timeout(_) => policy.timeout,
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
