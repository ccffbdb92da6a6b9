//! What a plugin's `Store` holds: one field per capability (each capability's context, which
//! owns its state and limits), plus the store's own limits.

use crate::capability::output::Capture;
use crate::capability::{counters::CounterScope, log::PluginLog, session::SessionInfo, HostCtx};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub struct StoreData {
    /// Deny-all WASI, made when the guest first calls a WASI function (most plugins never
    /// do: std only reaches for it to print or to exit).
    pub wasi: Option<DenyAllWasi>,
    /// Handles of the host resources the guest holds (the message).
    pub table: ResourceTable,
    /// The SMTP session the hooks are about; the `session` resource reads it.
    pub session: SessionInfo,
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

/// WASI with nothing granted: no preopened directories, no environment or arguments, stdin
/// closed, no sockets (every address is refused) and no name lookups; stdout and stderr are
/// captured for the plugin's log (`capability::output`).
pub struct DenyAllWasi {
    ctx: WasiCtx,
    pub stdout: Capture,
    pub stderr: Capture,
}

impl DenyAllWasi {
    fn new() -> DenyAllWasi {
        let (stdout, stderr) = (Capture::default(), Capture::default());
        let ctx = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        DenyAllWasi {
            ctx,
            stdout,
            stderr,
        }
    }
}

impl StoreData {
    /// The accessor the host interface is linked through (`capability::add_to_linker`).
    pub fn host(&mut self) -> HostCtx<'_> {
        HostCtx {
            log: &mut self.log,
            config: &self.config,
            counters: &self.counters,
            session: &self.session,
            table: &mut self.table,
        }
    }
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let wasi = self.wasi.get_or_insert_with(DenyAllWasi::new);
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut self.table,
        }
    }
}

/// Caps a store's linear memory and tables, and remembers a refusal so a failure can be
/// reported as "memory exhausted" rather than a bare trap.
pub struct MemoryCap {
    pub max_bytes: usize,
    pub denied: bool,
    /// The largest a linear memory of the instance has grown to.
    pub peak_bytes: usize,
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
        self.peak_bytes = self.peak_bytes.max(desired);
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
