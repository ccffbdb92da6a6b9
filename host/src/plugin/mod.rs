//! The WebAssembly policy runtime.
//!
//! Three lifetimes, named after what they live for:
//! - [`engine::PluginEngine`]: one per process — the wasmtime `Engine` (epochs, pooling
//!   allocator), the `Linker` with Sluice's host interfaces and deny-all WASI, and the thread
//!   that ticks epochs.
//! - [`registry::LoadedPlugin`]: one per configured plugin, made when the config loads —
//!   compiled once (cached on disk by content hash), validated against the world,
//!   pre-instantiated, and asked once to check its config (`init`) and for its hooks.
//! - [`instance::PluginInstance`]: one per SMTP transaction at a time — a `Store` and
//!   instance, dropped at once if it fails. By default (`instance = "reuse"`) a clean one
//!   serves later transactions of the same tenant until it is retired ([`spares::Spares`]);
//!   with `instance = "fresh"` every transaction gets a new one.

pub mod breaker;
pub mod engine;
pub mod exports;
pub mod instance;
pub mod policy;
pub mod registry;
pub mod spares;
pub mod store;

/// Host bindings for the `sluice:policy/policy` world, generated once, here.
pub(crate) mod gen_ {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "sluice:policy/policy",
        // Counters may wait on the shared server ([`crate::cluster`]); nothing else blocks.
        imports: {
            default: trappable,
            "sluice:policy/host.counter-add": async | trappable,
            "sluice:policy/host.counter-add-below": async | trappable,
            "sluice:policy/host.counter-get": async | trappable,
        },
        exports: { default: async },
        with: {
            "sluice:policy/host.message": crate::capability::message::MessageView,
            "sluice:policy/host.session": crate::capability::session::SessionView,
        },
    });
}

pub use gen_::sluice::policy::types as wit;

/// The version of `wit/` this host is built from; plugins must match its 0.x minor.
pub const WIT_VERSION: &str = "0.4.0";

use crate::config::Config;
use crate::pipeline::{Pipeline, Policies, Policy};
use std::collections::HashMap;
use std::sync::Arc;

/// The runtime settings of a config.
pub fn engine_settings(config: &Config) -> engine::EngineSettings {
    engine::EngineSettings {
        cache_dir: config.plugins.cache_dir.clone(),
        cache_writes: true,
        max_instances: config.plugins.max_instances,
        max_memory: config.plugins.max_memory,
        fuel: false,
    }
}

/// Loads every tenant's chain. Any plugin that fails to load fails the whole set, so a
/// reload either swaps everything or nothing.
pub async fn load_policies(
    engine: &Arc<engine::PluginEngine>,
    config: &Config,
) -> Result<Policies, registry::LoadError> {
    let mut tenants = HashMap::new();
    let share = config.plugins.per_tenant * engine::UNITS_PER_SLOT;
    for t in &config.tenants {
        let mut chain: Vec<Arc<dyn Policy>> = Vec::new();
        // The tenant's share of the pool, in units, for all of its plugins together.
        let tenant_share = registry::TenantShare::new(share, config.plugins.running_per_tenant);
        let mut needed = Vec::new();
        for spec in &t.plugins {
            let plugin =
                registry::load(engine, &t.name, spec.clone(), tenant_share.clone()).await?;
            tracing::info!(
                tenant = %t.name, plugin = %plugin.label(), hooks = %plugin.hooks.iter().map(|h| hook_name(*h)).collect::<Vec<_>>().join(","), shadow = spec.shadow,
                compile_ms = plugin.compile_time.as_millis() as u64, cached = plugin.cached,
                units = plugin.footprint.units(), core_instances = plugin.footprint.core_instances,
                "plugin loaded"
            );
            needed.push((plugin.spec.name.clone(), plugin.footprint.units()));
            chain.push(Arc::new(policy::WasmPolicy::new(plugin)));
        }
        // One transaction holds an instance of every plugin of the chain at once.
        let total: u32 = needed.iter().map(|(_, u)| u).sum();
        if total > share {
            return Err(registry::LoadError::Share {
                tenant: t.name.clone(),
                needed: total,
                share,
                detail: needed
                    .iter()
                    .map(|(n, u)| format!("{n} {u}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        tenants.insert(t.name.clone(), Pipeline::new(chain));
    }
    Ok(Policies::new(tenants))
}

/// A hook's name as the WIT spells it, for logs and the CLI.
pub fn hook_name(hook: wit::Hook) -> &'static str {
    match hook {
        wit::Hook::Connect => "on-connect",
        wit::Hook::Helo => "on-helo",
        wit::Hook::Auth => "on-auth",
        wit::Hook::MailFrom => "on-mail-from",
        wit::Hook::RcptTo => "on-rcpt-to",
        wit::Hook::Data => "on-data",
        wit::Hook::Route => "on-route",
        wit::Hook::DeliveryResult => "on-delivery-result",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn wit_version_matches_the_package() {
        let world = include_str!("../../../wit/world.wit");
        assert!(world.contains(&format!("package sluice:policy@{};", super::WIT_VERSION)));
    }
}
