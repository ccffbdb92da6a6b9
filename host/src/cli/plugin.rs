//! `sluice plugin check` and `sluice plugin run`: what a plugin author runs before an
//! operator loads the plugin.

use crate::capability::message::ParsedMessage;
use crate::cli::transaction::{self, Ending, Envelope};
use crate::config::resolved::{FailureAction, FailurePolicy, PluginSpec};
use crate::pipeline::{Decision, Pipeline, Route, Verdict};
use crate::plugin::engine::{EngineSettings, PluginEngine};
use crate::plugin::policy::WasmPolicy;
use crate::plugin::registry::{self, LoadedPlugin};
use anyhow::Context;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What `plugin run` feeds the hooks.
pub struct DryRun {
    pub eml: PathBuf,
    pub from: String,
    pub to: Vec<String>,
    pub config: Vec<(String, String)>,
    pub tenant: String,
}

async fn load(
    path: &Path,
    config: HashMap<String, String>,
    tenant: &str,
) -> anyhow::Result<(Arc<PluginEngine>, Arc<LoadedPlugin>)> {
    let cache = std::env::temp_dir().join(format!("sluice-plugin-check-{}", std::process::id()));
    let engine = PluginEngine::new(EngineSettings {
        cache_dir: cache.clone(),
        cache_writes: true,
        max_instances: 16,
        max_memory: 256 << 20,
        fuel: true,
    })
    .map_err(|e| anyhow::anyhow!("starting the plugin runtime: {e:#}"))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin".into());
    let spec = PluginSpec {
        name,
        path: path.to_owned(),
        config: Arc::new(config),
        on_failure: FailurePolicy::all(FailureAction::Tempfail),
        shadow: false,
        timeout: Duration::from_millis(500),
        memory: 64 << 20,
        reuse: 0,
        keep_idle: 0,
        max_age: Duration::ZERO,
        retire_memory: 0,
        breaker_cooldown: Duration::from_secs(30),
        max_counters: crate::capability::counters::DEFAULT_MAX_COUNTERS,
        routes: Default::default(),
    };
    let plugin = registry::load(&engine, tenant, spec, registry::TenantShare::unshared()).await;
    let _ = std::fs::remove_dir_all(&cache);
    Ok((engine, plugin?))
}

/// Validates a component against the world and lists what it implements.
pub async fn check(path: &Path) -> anyhow::Result<()> {
    let (_engine, plugin) = load(path, HashMap::new(), "check").await?;
    println!("{}: ok", path.display());
    println!(
        "  component:  {} (sha256 prefix {})",
        plugin.label(),
        plugin.hash
    );
    println!(
        "  world:      sluice:policy/policy@{}",
        crate::plugin::WIT_VERSION
    );
    println!(
        "  hooks:      {}",
        plugin
            .hooks
            .iter()
            .map(|h| crate::plugin::hook_name(*h))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  compiled in {:.1} ms",
        plugin.compile_time.as_secs_f64() * 1000.0
    );
    Ok(())
}

pub(crate) fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Continue => "continue".into(),
        Verdict::Accept => "accept".into(),
        Verdict::Reject(r) => format!("reject: {r}"),
        Verdict::Tempfail(r) => format!("tempfail: {r}"),
        Verdict::Quarantine(why) => format!("quarantine: {why}"),
        Verdict::Discard => "discard".into(),
    }
}

fn show(stage: &str, d: &Decision, took: Duration) {
    let fuel = d.fuel.map(|f| format!(", fuel {f}")).unwrap_or_default();
    println!(
        "{stage:<10} {}  ({:.3} ms{fuel})",
        verdict_text(&d.verdict),
        took.as_secs_f64() * 1000.0
    );
    if let Some(e) = &d.explain {
        println!("{:<10} by {e}", "");
    }
    for (n, v) in &d.add_headers {
        let v: String = v.chars().take(120).collect();
        println!("{:<10} + header {n}: {v}", "");
    }
    for t in &d.tags {
        println!("{:<10} + tag {t}", "");
    }
}

/// Runs every hook of a plugin against one message, printing verdicts, actions and time.
pub async fn run(path: &Path, dry: DryRun) -> anyhow::Result<()> {
    let raw = std::fs::read(&dry.eml).with_context(|| format!("reading {}", dry.eml.display()))?;
    let (_engine, plugin) = load(path, dry.config.into_iter().collect(), &dry.tenant).await?;
    let hooks: Vec<&str> = plugin
        .hooks
        .iter()
        .map(|h| crate::plugin::hook_name(*h))
        .collect();
    println!("{} hooks: {}", plugin.label(), hooks.join(", "));
    let plugin_hooks = plugin.hooks.clone();
    let pipeline = Pipeline::new(vec![Arc::new(WasmPolicy::new(plugin))]);
    let env = Envelope {
        client_ip: "127.0.0.1".parse().expect("literal"),
        helo: "dry-run.local".into(),
        tenant: dry.tenant,
        auth_user: None,
        tls: None,
        from: dry.from,
        to: dry.to,
        queue_id: "DRYRUN".into(),
    };
    let parsed = ParsedMessage::new(Arc::new(transaction::as_received(&raw, &env, "localhost")));
    let t = transaction::run(&pipeline, &env, &parsed).await;
    // Only the hooks the plugin implements are shown.
    for step in &t.steps {
        let hook = crate::plugin::policy::hook_of(step.stage);
        if !plugin_hooks.contains(&hook) {
            continue;
        }
        let label = match &step.rcpt {
            Some(r) => format!("rcpt {r}"),
            None => crate::plugin::hook_name(hook).to_owned(),
        };
        show(&label, &step.decision, step.took);
        if let (Some(r), Verdict::Reject(_) | Verdict::Tempfail(_)) =
            (&step.rcpt, &step.decision.verdict)
        {
            println!(
                "{:<10} recipient {r} dropped: {}",
                "",
                verdict_text(&step.decision.verdict)
            );
        }
    }
    if plugin_hooks.contains(&crate::plugin::wit::Hook::Route) {
        for r in &t.routes {
            println!(
                "{:<10} {}: {}  ({:.3} ms)",
                "route",
                r.domain,
                route_text(&r.route),
                r.took.as_secs_f64() * 1000.0
            );
        }
    }
    match &t.ending {
        // A refusal is the dry run's answer, and its exit status (1), for scripts.
        Ending::Refused { stage, verdict } => anyhow::bail!(
            "the message would be refused at {}: {}",
            crate::plugin::hook_name(crate::plugin::policy::hook_of(*stage)),
            verdict_text(verdict)
        ),
        Ending::NoRecipients => {
            anyhow::bail!("the message would be refused because every recipient was refused")
        }
        _ => Ok(()),
    }
}

fn route_text(route: &Route) -> String {
    match route {
        Route::Default => "default (no plugin routed it: the relay's default transport)".into(),
        r => r.to_string(),
    }
}
