//! Loading plugins: read, hash, compile once (cached on disk), validate against the world,
//! pre-instantiate, have the plugin check its config, and ask which hooks it implements.

use super::breaker::{Breaker, Transition};
use super::engine::{PluginEngine, MAX_UNITS_PER_COMPONENT, UNITS_PER_SLOT};
use super::exports::HookExports;
use super::instance::{Failure, PluginInstance};
use super::spares::{Retire, Spares};
use super::store::StoreData;
use super::wit::Hook;
use crate::capability::counters::CounterScope;
use crate::config::resolved::PluginSpec;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, InstancePre};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin {name} of tenant {tenant}: cannot read its `path`, {}: {error}", path.display())]
    Read {
        name: String,
        tenant: String,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("plugin {name} ({path}) is not a valid component: {message}")]
    Compile {
        name: String,
        path: PathBuf,
        message: String,
    },
    #[error("plugin {name} ({path}) does not fit the sluice:policy world: {message}")]
    World {
        name: String,
        path: PathBuf,
        message: String,
    },
    #[error("plugin {name} ({path}) failed when loaded (checking its config or listing its hooks): {message}")]
    Hooks {
        name: String,
        path: PathBuf,
        message: String,
    },
    /// The plugin's `init` refused its config; `message` is its own (escaped, at most 1 KiB),
    /// naming the key.
    #[error("plugin {name} of tenant {tenant} refused its config: {message}")]
    Config {
        name: String,
        tenant: String,
        message: String,
    },
    #[error(
        "tenant {tenant}: its chain needs {needed} instance units at once ({detail}) but its share is {share}; \
         raise plugins.max_instances or plugins.max_instances_per_tenant"
    )]
    Share {
        tenant: String,
        needed: u32,
        share: u32,
        detail: String,
    },
}

/// A plugin ready to be instantiated for each transaction.
pub struct LoadedPlugin {
    pub spec: PluginSpec,
    pub tenant: String,
    /// First 12 hex digits of the component's SHA-256: names the exact build in logs/replies.
    pub hash: String,
    /// "name#hash", made once: it is named on every decision and in every plugin log line.
    label: Arc<str>,
    pub pre: InstancePre<StoreData>,
    /// Its hook functions, found (and, by `PluginInstance::introduce`, type-checked) once.
    pub exports: HookExports,
    /// Its counters (this tenant's and this plugin's names only), handed to each instance.
    pub counters: CounterScope,
    pub hooks: Vec<Hook>,
    pub breaker: Breaker,
    /// Instances kept between transactions when the operator asked for `reuse`.
    pub spares: Spares,
    /// What one instance takes from the pooling allocator.
    pub footprint: Footprint,
    /// The tenant's share of the pool and of the plugin threads, shared by all its plugins.
    share: TenantShare,
    pub engine: Arc<PluginEngine>,
    /// How long compiling (or loading the cached compilation) took.
    pub compile_time: Duration,
    pub cached: bool,
}

impl LoadedPlugin {
    /// "name#hash", how the plugin is named in replies and logs.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The label, shared (no copy) by each instance's log.
    pub fn shared_label(&self) -> Arc<str> {
        self.label.clone()
    }

    pub fn implements(&self, hook: Hook) -> bool {
        self.hooks.contains(&hook)
    }

    /// An instance for one transaction: a kept one when `reuse` allows, else a fresh one.
    /// It first waits, up to the plugin's deadline, for room in the tenant's share; a tenant
    /// that has all of its share in use waits for itself, never for another tenant.
    pub async fn instance(&self, queue_id: Option<&str>) -> Result<PluginInstance, Failure> {
        let units = self.footprint.units();
        let permit = tokio::time::timeout(
            self.spec.timeout,
            self.share.slots.clone().acquire_many_owned(units),
        )
        .await
        .map_err(|_| Failure::Busy(self.spec.timeout))?
        .map_err(|_| Failure::Busy(self.spec.timeout))?;
        let mut instance = match self.spares.take() {
            Some(mut kept) => {
                kept.recycle(queue_id);
                kept
            }
            None => PluginInstance::new(self, queue_id).await?,
        };
        instance.hold(permit);
        Ok(instance)
    }

    /// Records a hook call that worked; closes an open breaker (an event says so).
    pub fn succeeded(&self) {
        if let Some(Transition::Closed { open_for }) = self.breaker.succeeded() {
            tracing::info!(
                target: "sluice::event", event = "breaker_closed", plugin = %self.label, tenant = %self.tenant,
                open_ms = open_for.as_millis() as u64,
            );
        }
    }

    /// Records a failed hook call; past too many in a row, the breaker opens (an event says
    /// so, with how long, and the action that applies meanwhile).
    pub fn failed(&self) {
        if let Some(Transition::Opened { failures }) = self.breaker.failed() {
            tracing::warn!(
                target: "sluice::event", event = "breaker_opened", plugin = %self.label, tenant = %self.tenant,
                failures, cooldown_ms = self.breaker.cooldown().as_millis() as u64,
                action = ?self.spec.on_failure.breaker,
            );
        }
    }

    /// Hands back an instance whose transaction ended without a failure; its share of the
    /// tenant's slots is free again (a kept idle instance counts against the pool's idle
    /// half, not against the tenant).
    pub fn release(&self, mut instance: PluginInstance) {
        instance.unhold();
        self.spares.put(instance);
    }
}

fn cache_path(engine: &PluginEngine, hash: &str) -> PathBuf {
    engine
        .settings
        .cache_dir
        .join(format!("{hash}-{}.cwasm", engine.compat))
}

fn compile(engine: &PluginEngine, bytes: &[u8], hash: &str) -> Result<(Component, bool), String> {
    let cached = cache_path(engine, hash);
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of an engine with the same
        // compatibility hash (it is in the name), in a directory only this relay writes.
        if let Ok(c) = unsafe { Component::deserialize_file(&engine.engine, &cached) } {
            return Ok((c, true));
        }
    }
    let component = Component::new(&engine.engine, bytes).map_err(|e| {
        format!("{e:#}")
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches(" - expected=[")
            .to_owned()
    })?;
    if !engine.settings.cache_writes {
        return Ok((component, false));
    }
    if let Ok(serialized) = component.serialize() {
        let _ = std::fs::create_dir_all(&engine.settings.cache_dir);
        let tmp = cached.with_extension(format!(
            "{}.{:08x}.tmp",
            std::process::id(),
            rand::random::<u32>()
        ));
        if std::fs::write(&tmp, serialized)
            .and_then(|_| std::fs::rename(&tmp, &cached))
            .is_err()
        {
            tracing::warn!(path = %cached.display(), "cannot write the compiled-plugin cache");
        }
    }
    Ok((component, false))
}

/// Hands back to the kernel what compiling left free. Cranelift compiles a component's
/// functions on several threads, each allocating from its own glibc arena; freed, that memory
/// stays in the arenas and in the relay's RSS: ~300 MB after compiling the 18 MB Python
/// component (BENCHMARKS.md, session 8). The compiled code itself is a separate mapping.
fn release_compiler_memory() {
    // SAFETY: malloc_trim(3) only returns the allocator's free pages to the kernel.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let _ = unsafe { libc::malloc_trim(0) };
}

/// What one tenant's plugins share between them.
#[derive(Clone)]
pub struct TenantShare {
    /// Its share of the pool, in units: a live instance holds [`Footprint::units`] of them,
    /// so no tenant can take the slots another tenant's transactions need.
    pub slots: Arc<Semaphore>,
    /// Hook calls of this tenant's plugins running at once on the plugin threads; the rest
    /// queue (first come, first served), so one tenant's slow plugins take at most this many
    /// threads' worth of CPU.
    pub running: Arc<Semaphore>,
}

impl TenantShare {
    pub fn new(units: u32, running: u32) -> TenantShare {
        TenantShare {
            slots: Arc::new(Semaphore::new(units as usize)),
            running: Arc::new(Semaphore::new(running.max(1) as usize)),
        }
    }

    /// For a plugin that shares nothing with another tenant (the CLI, benchmarks).
    pub fn unshared() -> TenantShare {
        TenantShare::new(Semaphore::MAX_PERMITS as u32, Semaphore::MAX_PERMITS as u32)
    }
}

/// The longest a hook call waits for its turn among its tenant's running calls.
const MAX_RUN_WAIT: Duration = Duration::from_secs(30);

impl LoadedPlugin {
    /// Runs one hook of `instance` once the tenant has a running call free. The caller is
    /// already on the plugin threads ([`super::engine::executor`]): the pipeline runs each
    /// stage of the chain there as one task ([`crate::pipeline::PipelineRun::run_timed`]).
    pub async fn run_hook(
        &self,
        instance: &mut PluginInstance,
        hook: Hook,
        rcpt: Option<&str>,
        message: Option<&Arc<crate::capability::message::ParsedMessage>>,
    ) -> Result<super::wit::Decision, Failure> {
        let turn = tokio::time::timeout(MAX_RUN_WAIT, self.share.running.acquire())
            .await
            .ok()
            .and_then(Result::ok);
        let Some(_turn) = turn else {
            return Err(Failure::Busy(MAX_RUN_WAIT));
        };
        instance.call(hook, rcpt, message).await
    }
}

/// The most of a plugin's config refusal (`init`'s error) that is shown, in bytes.
const MAX_REFUSAL: usize = 1024;

/// Loads one plugin of `tenant`, whose instances take their units from the tenant's share.
pub async fn load(
    engine: &Arc<PluginEngine>,
    tenant: &str,
    spec: PluginSpec,
    share: TenantShare,
) -> Result<Arc<LoadedPlugin>, LoadError> {
    let (name, path) = (spec.name.clone(), spec.path.clone());
    let bytes = std::fs::read(&path).map_err(|error| LoadError::Read {
        name: name.clone(),
        tenant: tenant.to_owned(),
        path: std::path::absolute(&path).unwrap_or_else(|_| path.clone()),
        error,
    })?;
    let hash: String = Sha256::digest(&bytes)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let started = Instant::now();
    let (component, cached, footprint) = {
        let engine = engine.clone();
        let hash = hash.clone();
        tokio::task::spawn_blocking(move || {
            compile(&engine, &bytes, &hash).map(|(c, cached)| {
                if !cached {
                    release_compiler_memory();
                }
                let footprint = Footprint::of(&bytes, &c);
                (c, cached, footprint)
            })
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(|message| LoadError::Compile {
            name: name.clone(),
            path: path.clone(),
            message,
        })?
    };
    let compile_time = started.elapsed();
    let world = |message: String| LoadError::World {
        name: name.clone(),
        path: path.clone(),
        message,
    };
    if footprint.units() > MAX_UNITS_PER_COMPONENT {
        return Err(world(format!(
            "one instance needs {} core instances, {} memories and {} tables; a plugin may use at most {MAX_UNITS_PER_COMPONENT} of each",
            footprint.core_instances, footprint.memories, footprint.tables
        )));
    }
    let pre = engine
        .linker
        .instantiate_pre(&component)
        .map_err(|e| world(describe_link_error(&e)))?;
    let exports = HookExports::find(&component).map_err(world)?;
    let (reuse, keep) = (spec.reuse, spec.keep_idle);
    let (max_age, retire_memory) = (spec.max_age, spec.retire_memory);
    let (max_counters, cooldown) = (spec.max_counters, spec.breaker_cooldown);
    let mut plugin = LoadedPlugin {
        label: Arc::from(format!("{}#{}", spec.name, hash)),
        spec,
        tenant: tenant.to_owned(),
        hash,
        pre,
        exports,
        counters: engine.counters.scope(tenant, &name, max_counters),
        hooks: Vec::new(),
        breaker: Breaker::new(cooldown),
        spares: Spares::new(
            Retire {
                max_uses: reuse,
                max_age,
                memory: retire_memory as usize,
            },
            keep,
        ),
        footprint,
        share,
        engine: engine.clone(),
        compile_time,
        cached,
    };
    let hooks = PluginInstance::introduce(&plugin)
        .await
        .map_err(|e| LoadError::Hooks {
            name: name.clone(),
            path: path.clone(),
            message: e.to_string(),
        })?
        .map_err(|refusal| LoadError::Config {
            name: name.clone(),
            tenant: tenant.to_owned(),
            // The plugin's words: one line for the operator's terminal and log, as its log
            // lines are.
            message: crate::capability::log::escape_control(&refusal, MAX_REFUSAL),
        })?;
    plugin.hooks = hooks;
    Ok(Arc::new(plugin))
}

/// Turns wasmtime's "component imports instance X, but a matching implementation was not
/// found in the linker" into a sentence for operators.
fn describe_link_error(e: &wasmtime::Error) -> String {
    let text = format!("{e:#}");
    let import = text.split('`').nth(1).unwrap_or_default();
    if let Some(version) = import
        .strip_prefix("sluice:policy/")
        .and_then(|i| i.split_once('@'))
        .map(|(_, v)| v)
        .filter(|v| *v != super::WIT_VERSION)
    {
        format!(
            "it was built against sluice:policy@{version}; this host speaks sluice:policy@{} (rebuild the plugin against wit/)",
            super::WIT_VERSION
        )
    } else if (text.contains("wrong type") || text.contains("type mismatch"))
        && (import.starts_with("sluice:policy/") || import.starts_with("wasi:"))
    {
        format!("its `{import}` does not match this host's (built against another version of wit/?): {text}")
    } else if text.contains("import") && !import.is_empty() {
        format!("it imports `{import}`, which Sluice does not provide (plugins may use WASI and sluice:policy/host only): {text}")
    } else {
        text
    }
}

/// What one instance of a component takes from the pooling allocator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    pub core_instances: u32,
    pub memories: u32,
    pub tables: u32,
}

impl Footprint {
    /// Pool units one instance takes: its largest count of core instances, memories or
    /// tables, and never less than [`UNITS_PER_SLOT`] (one component instance's worth).
    pub fn units(&self) -> u32 {
        self.core_instances
            .max(self.memories)
            .max(self.tables)
            .max(UNITS_PER_SLOT)
    }

    /// Reads it off the component: core instances from its instance sections (nested
    /// components included), memories and tables from what wasmtime says it will allocate.
    pub fn of(bytes: &[u8], component: &Component) -> Footprint {
        let mut core_instances = 0u32;
        for payload in wasmparser::Parser::new(0).parse_all(bytes).flatten() {
            if let wasmparser::Payload::InstanceSection(reader) = payload {
                for instance in reader.into_iter().flatten() {
                    if matches!(instance, wasmparser::Instance::Instantiate { .. }) {
                        core_instances += 1;
                    }
                }
            }
        }
        let (memories, tables) = component
            .resources_required()
            .map_or((0, 0), |r| (r.num_memories, r.num_tables));
        Footprint {
            core_instances,
            memories,
            tables,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_the_largest_need_and_at_least_one_slot() {
        let rust = Footprint {
            core_instances: 3,
            memories: 1,
            tables: 2,
        };
        assert_eq!(rust.units(), UNITS_PER_SLOT);
        let python = Footprint {
            core_instances: 14,
            memories: 1,
            tables: 2,
        };
        assert_eq!(python.units(), 14);
        let many_memories = Footprint {
            core_instances: 2,
            memories: 9,
            tables: 1,
        };
        assert_eq!(many_memories.units(), 9);
    }
}
