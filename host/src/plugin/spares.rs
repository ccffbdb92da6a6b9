//! Instances kept between transactions (`instance = "reuse"`, the default).
//!
//! An instance that finished a transaction cleanly goes back here and serves later
//! transactions of the same tenant's same plugin (each tenant loads its own copy of a plugin,
//! so another tenant never gets it): what the guest keeps in its globals and heap carries over
//! from one of the tenant's messages to the next, as in Envoy's proxy-wasm VMs. It is replaced
//! after `max_uses` transactions or `max_age`, at once after any failure (trap, timeout,
//! memory, invalid answer: such an instance is never handed back), when its linear memory grew
//! past `retire_memory`, and on reload (the old chain and its spares are dropped together).
//! The saving is the instantiation and the slot reset, most of what a small plugin costs per
//! message. With `instance = "fresh"` nothing is kept.

use super::instance::PluginInstance;
use std::sync::Mutex;
use std::time::Duration;

/// When a kept instance is retired.
#[derive(Debug, Clone, Copy)]
pub struct Retire {
    /// Transactions one instance serves; below 2 nothing is kept.
    pub max_uses: u32,
    pub max_age: Duration,
    /// Linear memory past which it is not kept.
    pub memory: usize,
}

pub struct Spares {
    retire: Retire,
    /// Idle instances kept at most. Each holds a slot of the pooling allocator, so the config
    /// gives every reusing plugin a share of half of `plugins.max_instances`.
    keep: usize,
    idle: Mutex<Vec<PluginInstance>>,
}

impl Spares {
    pub fn new(retire: Retire, keep: u32) -> Spares {
        Spares {
            retire,
            keep: keep as usize,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An instance that served earlier transactions, if one is idle and still young enough.
    pub fn take(&self) -> Option<PluginInstance> {
        if self.retire.max_uses < 2 {
            return None;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(instance) = idle.pop() {
            if instance.age() < self.retire.max_age {
                return Some(instance);
            }
        }
        None
    }

    /// Keeps `instance` for another transaction unless it has served its share, is too old
    /// or grew too large, or enough are idle; otherwise it is dropped (its slot returns to the
    /// pool).
    pub fn put(&self, instance: PluginInstance) {
        if instance.transactions() >= self.retire.max_uses
            || instance.age() >= self.retire.max_age
            || instance.peak_memory() > self.retire.memory
        {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.keep {
            idle.push(instance);
            return;
        }
        drop(idle);
        drop(instance);
    }
}
