//! `sluice replay`: runs saved messages through each tenant's plugin chain as the relay would
//! (the transaction of [`super::transaction`]), under a candidate config and optionally the
//! config in force, without accepting, queueing or sending anything; then says what changed,
//! how well each config matched a labels file, and what each plugin cost. Operators prove a
//! policy on yesterday's traffic (`sluice capture`) before switching it on.
//!
//! Only the plugin chains are replayed: the relay's own checks (AUTH, sender domains, sizes,
//! rate of connections) are not. Messages run one after another, in name order, so what
//! plugins count on the host (the same content to many recipients, volume limits) adds up as
//! it would have; each config keeps its own counters.

mod input;
mod report;

use super::transaction::{self, Ending, Envelope, Transcript};
use crate::capability::message::ParsedMessage;
use crate::config::Config;
use crate::pipeline::{Policies, Verdict};
use crate::plugin::engine::PluginEngine;
pub use input::Label;
use input::{Labels, Sidecar};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The command line.
pub struct Options {
    pub config: PathBuf,
    pub against: Option<PathBuf>,
    pub labels: Option<PathBuf>,
    pub tenant: Option<String>,
    pub json: bool,
    pub inputs: Vec<PathBuf>,
}

/// One config, loaded with its plugins.
struct Setup {
    /// "candidate" or "current".
    role: &'static str,
    path: PathBuf,
    config: Config,
    policies: Policies,
    _engine: Arc<PluginEngine>,
}

/// What one config did with one message.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub tenant: String,
    /// accept, quarantine, discard, reject, tempfail, or refused (every recipient refused).
    pub verdict: &'static str,
    /// The stage that refused it.
    pub stage: Option<String>,
    /// The SMTP reply of a refusal, or the reason of a quarantine.
    pub reason: Option<String>,
    pub by: Option<String>,
    pub tags: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub routes: Vec<(String, String)>,
    /// Each policy of the tenant's chain and the time it took over the whole transaction.
    pub plugins: Vec<(String, Duration)>,
    /// What each shadow-mode plugin would have done (`quarantine`, `accept +marketing`, …),
    /// by label; none when it would have let the message through untouched.
    pub shadow: Vec<(String, String)>,
}

impl Outcome {
    /// Stopped (refused, held or dropped) or tagged `marketing`: what the labels call
    /// marketing.
    pub fn flagged(&self) -> bool {
        self.verdict != "accept" || self.tags.iter().any(|t| t == "marketing")
    }

    /// The verdict in a few words, the unit `replay` compares: `accept`, `accept +marketing`,
    /// `quarantine`, `reject 550 5.7.1`, …
    pub fn summary(&self) -> String {
        match (self.verdict, &self.reason) {
            ("accept", _) if self.flagged() => "accept +marketing".into(),
            ("reject" | "tempfail", Some(r)) => {
                let code: String = r.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                format!("{} {code}", self.verdict)
            }
            (v, _) => v.into(),
        }
    }
}

/// One message and what each config did with it (or why it could not be replayed).
pub struct Replayed {
    pub path: PathBuf,
    pub label: Option<Label>,
    pub envelope: Option<Envelope>,
    pub results: Vec<Result<Outcome, String>>,
}

/// Runs the command; `Ok(false)` when some message could not be replayed.
pub async fn run(opts: Options) -> anyhow::Result<bool> {
    let labels = opts.labels.as_deref().map(Labels::load).transpose()?;
    let files = input::messages(&opts.inputs)?;
    let scratch = Scratch::new()?;
    let mut setups = vec![load("candidate", &opts.config, &scratch.0).await?];
    if let Some(against) = &opts.against {
        setups.push(load("current", against, &scratch.0).await?);
    }
    let mut replayed = Vec::with_capacity(files.len());
    for (n, path) in files.iter().enumerate() {
        replayed.push(replay_one(&setups, path, n, opts.tenant.as_deref(), labels.as_ref()).await);
    }
    let configs: Vec<report::ConfigInfo> = setups
        .iter()
        .map(|s| report::ConfigInfo {
            role: s.role,
            path: &s.path,
            chains: s.policies.labels().into_iter().collect(),
        })
        .collect();
    let report = report::Report::new(&configs, &replayed, labels.is_some());
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else {
        print!("{}", report.text());
    }
    Ok(replayed.iter().all(|r| r.results.iter().all(Result::is_ok)))
}

async fn load(role: &'static str, path: &Path, cache: &Path) -> anyhow::Result<Setup> {
    let mut config = Config::load(path)?;
    // Compile into a scratch cache, as check-config does: replaying writes nothing a relay uses.
    config.plugins.cache_dir = cache.to_owned();
    let engine = PluginEngine::new(crate::plugin::engine_settings(&config))
        .map_err(|e| anyhow::anyhow!("starting the plugin runtime: {e:#}"))?;
    let policies = crate::plugin::load_policies(&engine, &config)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Setup {
        role,
        path: path.to_owned(),
        config,
        policies,
        _engine: engine,
    })
}

async fn replay_one(
    setups: &[Setup],
    path: &Path,
    n: usize,
    tenant: Option<&str>,
    labels: Option<&Labels>,
) -> Replayed {
    let label = labels.and_then(|l| l.get(path));
    let failed = |why: String| Replayed {
        path: path.to_owned(),
        label,
        envelope: None,
        results: setups.iter().map(|_| Err(why.clone())).collect(),
    };
    let raw = match std::fs::read(path) {
        Ok(raw) => raw,
        Err(e) => return failed(format!("cannot read {}: {e}", path.display())),
    };
    let sidecar = match input::sidecar(path) {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => return failed(e),
    };
    let env = envelope(&raw, sidecar, n);
    let mut results = Vec::with_capacity(setups.len());
    for setup in setups {
        results.push(outcome(setup, &raw, &env, tenant).await);
    }
    Replayed {
        path: path.to_owned(),
        label,
        envelope: Some(env),
        results,
    }
}

/// The envelope: the sidecar's fields, else the message's From and To/Cc, else defaults.
/// The tenant is left empty when the sidecar does not name one; each config picks it.
fn envelope(raw: &[u8], sidecar: Sidecar, n: usize) -> Envelope {
    let (from, to) = input::header_addresses(raw);
    let to = match sidecar.to.map(input::OneOrMany::into_vec) {
        Some(to) if !to.is_empty() => to,
        _ if !to.is_empty() => to,
        _ => vec!["rcpt@replay.invalid".into()],
    };
    Envelope {
        client_ip: sidecar
            .client_ip
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1])),
        helo: sidecar.helo.unwrap_or_else(|| "replay.local".into()),
        tenant: sidecar.tenant.unwrap_or_default(),
        auth_user: sidecar.auth_user,
        tls: sidecar.tls,
        from: sidecar.from.or(from).unwrap_or_default(),
        to,
        queue_id: sidecar.queue_id.unwrap_or_else(|| format!("REPLAY{n:06}")),
    }
}

/// The tenant a config runs the message as: the sidecar's, else `--tenant`, else the tenant
/// whose sender domains cover the envelope sender, else the config's only tenant.
fn tenant_for<'a>(
    config: &'a Config,
    env: &Envelope,
    asked: Option<&str>,
) -> Result<&'a str, String> {
    let named = Some(env.tenant.as_str())
        .filter(|t| !t.is_empty())
        .or(asked);
    if let Some(name) = named {
        return config
            .tenants
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.name.as_str())
            .ok_or_else(|| format!("no tenant {name:?} in this config"));
    }
    if let Some(t) = config.tenants.iter().find(|t| t.owns_sender(&env.from)) {
        return Ok(&t.name);
    }
    match config.tenants.as_slice() {
        [only] => Ok(&only.name),
        _ => Err(format!(
            "no tenant sends as {:?}: name one with --tenant or a sidecar's \"tenant\"",
            env.from
        )),
    }
}

async fn outcome(
    setup: &Setup,
    raw: &[u8],
    env: &Envelope,
    tenant: Option<&str>,
) -> Result<Outcome, String> {
    let tenant = tenant_for(&setup.config, env, tenant)?.to_owned();
    let env = Envelope {
        tenant: tenant.clone(),
        ..env.clone()
    };
    let pipeline = setup.policies.for_tenant(&tenant);
    let message = ParsedMessage::new(Arc::new(transaction::as_received(
        raw,
        &env,
        &setup.config.hostname,
    )));
    let t = transaction::run(&pipeline, &env, &message).await;
    let labels = pipeline.labels();
    let times = t.policy_times(labels.len());
    Ok(summarise(
        tenant,
        &t,
        labels.into_iter().zip(times).collect(),
    ))
}

fn summarise(tenant: String, t: &Transcript, plugins: Vec<(String, Duration)>) -> Outcome {
    let stage_name = |s: &crate::pipeline::Stage| {
        crate::plugin::hook_name(crate::plugin::policy::hook_of(*s)).to_owned()
    };
    let (verdict, stage, reason) = match &t.ending {
        Ending::Queued => ("accept", None, None),
        Ending::Quarantined(why) => ("quarantine", None, Some(why.clone())),
        Ending::Discarded => ("discard", None, None),
        Ending::Refused { stage, verdict } => {
            let (kind, reply) = match verdict {
                Verdict::Tempfail(r) => ("tempfail", r.to_string()),
                Verdict::Reject(r) => ("reject", r.to_string()),
                other => ("reject", format!("{other:?}")),
            };
            (kind, Some(stage_name(stage)), Some(reply))
        }
        Ending::NoRecipients => (
            "refused",
            Some("on-rcpt-to".into()),
            Some("every recipient was refused".into()),
        ),
    };
    let data = t.data();
    Outcome {
        tenant,
        verdict,
        stage,
        reason,
        by: t.by.clone(),
        tags: data.map(|d| d.tags.clone()).unwrap_or_default(),
        headers: data.map(|d| d.add_headers.clone()).unwrap_or_default(),
        routes: t
            .routes
            .iter()
            .map(|r| (r.domain.clone(), r.route.to_string()))
            .collect(),
        plugins,
        shadow: t
            .steps
            .iter()
            .flat_map(|s| &s.decision.shadow)
            .map(|w| {
                let marked = w.tags.iter().any(|t| t == "marketing");
                let would = match (&w.verdict, marked) {
                    (Verdict::Continue | Verdict::Accept, true) => "accept +marketing".into(),
                    (v, _) => v.kind().to_owned(),
                };
                (w.policy.clone(), would)
            })
            .filter(|(_, would)| would != "continue")
            .collect(),
    }
}

/// A scratch directory for compiled plugins, removed when the command ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("sluice-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
