//! What a plugin's `Store` holds: one field per capability, plus the limits.

use crate::capability::{counters::CounterScope, log::PluginLog};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub struct StoreData {
    /// Deny-all WASI: no files, sockets, environment; stdin closed, stdout/stderr captured.
    pub wasi: WasiCtx,
    /// Handles of the host resources the guest holds (the message).
    pub table: ResourceTable,
    /// The plugin's log, tagged with its name and the queue id.
    pub log: PluginLog,
    /// The plugin's `[config]` table from the operator's file.
    pub config: Arc<HashMap<String, String>>,
    /// Counters in this tenant's and plugin's namespace only.
    pub counters: CounterScope,
    /// The memory cap; records whether it refused a growth.
    pub limits: MemoryCap,
    /// Wall-clock deadline of the hook call in progress; epochs check it.
    pub deadline: Instant,
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps a store's linear memory and tables, and remembers a refusal so a failure can be
/// reported as "memory exhausted" rather than a bare trap.
pub struct MemoryCap {
    pub max_bytes: usize,
    pub denied: bool,
}

/// Table elements one store may hold.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
