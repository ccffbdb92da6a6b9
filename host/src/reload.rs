//! Reloading the whole configuration at once (SIGHUP, `POST /v1/reload`, `sluice reload`).
//!
//! A reload re-reads the file the relay started from and makes everything that depends on
//! it — tenants, users, sender domains, limits, listener TLS, every plugin chain, delivery
//! settings — before any of it is put in service. Then one swap makes it the next
//! [`Generation`]: new sessions and new delivery attempts see it, sessions in flight finish
//! on the one they started with. A file that does not validate, a plugin that does not
//! load, a certificate that does not parse, or a change to a setting only a restart can
//! apply ([`needs_restart`]) refuses the reload whole, and the old generation keeps serving.

use crate::config::{Config, ConfigError};
use crate::pipeline::Policies;
use crate::server::Relay;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

/// One generation of the configuration and what was made from it. A session keeps the
/// generation it started on until it ends; a delivery attempt, the one it started with.
pub struct Generation {
    /// 1 at start, one more at each reload.
    pub number: u64,
    pub config: Arc<Config>,
    /// Every tenant's plugin chain, loaded from `config`.
    pub policies: Arc<Policies>,
    /// Listener TLS; `None` only if no certificate could be had at start.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// When it was put in service (seconds since the Unix epoch).
    pub loaded_at: u64,
}

/// A reload that took effect.
#[derive(Debug, Clone, Serialize)]
pub struct Reloaded {
    /// The generation now serving.
    pub generation: u64,
    pub config: PathBuf,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("the relay runs on the built-in quickstart: there is no config file to re-read")]
    NoFile,
    #[error("{0}")]
    Invalid(#[from] ConfigError),
    #[error("only a restart can change {}", .0.join(", "))]
    NeedsRestart(Vec<&'static str>),
    #[error("{0}")]
    Plugins(String),
    #[error("tls: {0}")]
    Tls(String),
    #[error("delivery: {0}")]
    Delivery(String),
}

impl Refused {
    /// The config keys a restart is needed for (empty unless [`Refused::NeedsRestart`]).
    pub fn restart_keys(&self) -> &[&'static str] {
        match self {
            Refused::NeedsRestart(keys) => keys,
            _ => &[],
        }
    }
}

/// The settings a running relay cannot take over from a reloaded file: bound sockets, the
/// spool it owns, the plugin runtime's pooling allocator, the fixed numbers of delivery
/// workers, connection slots per destination and password checkers.
pub fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let mut same = |key, equal: bool| {
        if !equal {
            keys.push(key)
        }
    };
    same("server.listen", old.listen == new.listen);
    same("server.listen_tls", old.listen_tls == new.listen_tls);
    same("admin.listen", old.admin.listen == new.admin.listen);
    same("admin.tls", old.admin.tls == new.admin.tls);
    same("api.listen", old.api.listen == new.api.listen);
    same("api.tls", old.api.tls == new.api.tls);
    same("cluster", old.cluster == new.cluster);
    same("spool.dir", old.spool.dir == new.spool.dir);
    same(
        "spool.segment_size",
        old.spool.segment_size == new.spool.segment_size,
    );
    same("plugins", old.plugins == new.plugins);
    same(
        "delivery.concurrency",
        old.delivery.concurrency == new.delivery.concurrency,
    );
    same(
        "delivery.per_destination",
        old.delivery.per_destination == new.delivery.per_destination,
    );
    same(
        "auth.max_concurrent_checks",
        old.auth.concurrent_checks == new.auth.concurrent_checks,
    );
    keys
}

impl Relay {
    /// Reloads the config file, logging the outcome as event `reloaded` or `reload_refused`.
    pub async fn reload(&self) -> Result<Reloaded, Refused> {
        let outcome = self.try_reload().await;
        match &outcome {
            Ok(r) => {
                crate::metrics::get()
                    .config_generation
                    .set(r.generation as i64);
                tracing::info!(target: "sluice::event", event = "reloaded",
                    generation = r.generation, config = %r.config.display(), "configuration reloaded")
            }
            Err(e) => tracing::error!(target: "sluice::event", event = "reload_refused",
                error = %e, restart = ?e.restart_keys(), "reload refused; the previous configuration stays in service"),
        }
        outcome
    }

    async fn try_reload(&self) -> Result<Reloaded, Refused> {
        // One reload at a time: two would race to make the same generation.
        let _one = self.reloading.lock().await;
        let old = self.current();
        let path = old.config.source.clone().ok_or(Refused::NoFile)?;
        let config = Config::load(&path)?;
        let restart = needs_restart(&old.config, &config);
        if !restart.is_empty() {
            return Err(Refused::NeedsRestart(restart));
        }
        let tls = crate::tls::server_config(&config.tls, &config.hostname)
            .map_err(|e| Refused::Tls(e.to_string()))?;
        let config = Arc::new(config);
        let policies = crate::plugin::load_policies(&self.engine, &config)
            .await
            .map_err(|e| Refused::Plugins(e.to_string()))?;
        let policies = Arc::new(policies);
        let delivery = self
            .delivery
            .prepare(config.clone(), policies.clone())
            .map_err(|e| Refused::Delivery(format!("{e:#}")))?;
        // Everything is made: put it in service.
        self.auth_failures.set_policy(config.auth.clone());
        self.resize_connections(config.limits.max_connections);
        self.suppressions
            .set_max_per_tenant(config.suppressions.max_per_tenant);
        self.delivery.swap(delivery);
        let generation = old.number + 1;
        self.set_current(Generation {
            number: generation,
            config,
            policies,
            tls: Some(tls),
            loaded_at: crate::queue::envelope::unix_now(),
        });
        Ok(Reloaded {
            generation,
            config: path,
        })
    }
}
