//! Instances kept between transactions, for plugins an operator configured with `reuse = N`.
//!
//! By default every transaction gets a fresh instance, so nothing a plugin keeps in memory
//! outlives the message. With `reuse`, an instance that finished a transaction cleanly goes
//! back here and serves another of the same tenant's transactions, up to N in all; one that
//! failed in any way (trap, timeout, memory, invalid answer) is never kept. The saving is the
//! instantiation and the slot reset, most of what a small plugin costs per message.

use super::instance::PluginInstance;
use std::sync::Mutex;

pub struct Spares {
    /// Transactions one instance serves; below 2 nothing is kept.
    reuse: u32,
    /// Idle instances kept at most. Each holds a slot of the pooling allocator, so the config
    /// gives every `reuse` plugin a share of half of `plugins.max_instances`.
    keep: usize,
    idle: Mutex<Vec<PluginInstance>>,
}

impl Spares {
    pub fn new(reuse: u32, keep: u32) -> Spares {
        Spares {
            reuse,
            keep: keep as usize,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An instance that served earlier transactions, if one is idle.
    pub fn take(&self) -> Option<PluginInstance> {
        if self.reuse < 2 {
            return None;
        }
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// Keeps `instance` for another transaction unless it has served its share or enough
    /// are idle; otherwise it is dropped (its slot returns to the pool).
    pub fn put(&self, instance: PluginInstance) {
        if instance.transactions() >= self.reuse {
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
