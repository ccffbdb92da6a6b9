//! The process-wide engine: wasmtime `Engine`, the `Linker` with Sluice's host interfaces and
//! deny-all WASI, the epoch ticker, and the on-disk cache of compiled components.

use super::store::StoreData;
use crate::capability::{self, counters::Counters};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of deadlines, and the longest a plugin runs
/// before yielding the thread back to other sessions.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Pool units per component instance slot. A unit is one core instance, memory or table of
/// the pooling allocator; an instance takes [`super::registry::Footprint::units`] of them (a
/// Rust or JavaScript plugin 4, a Python one about 14), so the pool holds
/// `max_instances` plugins of the usual size and proportionally fewer large ones.
pub const UNITS_PER_SLOT: u32 = 4;
/// The most units one component instance may take; a larger component is refused at load.
pub const MAX_UNITS_PER_COMPONENT: u32 = 64;

/// Settings of the whole runtime (the `[plugins]` table).
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Where compiled components are cached, keyed by content hash and engine version.
    pub cache_dir: PathBuf,
    /// Whether what is compiled is written to `cache_dir`; if not, the cache is only read
    /// (`check-config`: checking a config leaves nothing behind unless asked to).
    pub cache_writes: bool,
    /// Plugin instances alive at once (pooling allocator slots).
    pub max_instances: u32,
    /// Largest linear memory any plugin may have; per-plugin caps are at most this.
    pub max_memory: u64,
    /// Count the fuel (about one unit per wasm instruction) each hook burns, for the dry
    /// run's report. Off in the relay: metering slows guest code, and epochs bound CPU.
    pub fuel: bool,
}

pub struct PluginEngine {
    pub engine: Engine,
    pub linker: Linker<StoreData>,
    /// Counters of every tenant and plugin; each loaded plugin holds its own scope.
    pub counters: Arc<Counters>,
    pub settings: EngineSettings,
    /// Compatibility of cached compiled code with this engine build.
    pub(super) compat: String,
}

impl PluginEngine {
    pub fn new(settings: EngineSettings) -> wasmtime::Result<Arc<PluginEngine>> {
        let mut config = Config::new();
        config
            .consume_fuel(settings.fuel)
            .epoch_interruption(true)
            .wasm_component_model(true);
        let mut pool = PoolingAllocationConfig::default();
        // Sized in units (see UNITS_PER_SLOT): however the tenants' shares are spent, no
        // kind of slot runs out before the units do.
        let units = settings.max_instances * UNITS_PER_SLOT;
        pool.total_component_instances(settings.max_instances)
            .total_core_instances(units)
            .total_memories(units)
            .total_tables(units)
            .total_stacks(settings.max_instances)
            .max_core_instances_per_component(MAX_UNITS_PER_COMPONENT)
            .max_memories_per_component(MAX_UNITS_PER_COMPONENT)
            .max_tables_per_component(MAX_UNITS_PER_COMPONENT)
            .max_memory_size(settings.max_memory as usize)
            // A plugin instance lives for one message, so returning a slot is the hot path.
            // PAGEMAP_SCAN (Linux 6.7+; otherwise the memset-then-madvise of older kernels)
            // finds the pages the guest wrote, and only those are reset, by copy, keeping
            // them resident: no madvise, so no page faults on the next instance and no
            // TLB-shootdown IPIs between the relay's threads. Up to 1 MiB of dirty linear
            // memory is reset that way; a plugin's tables (a page or so) are zeroed.
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(4096)
            .pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        // For profiling the relay: name the plugins' compiled functions in /tmp/perf-PID.map,
        // so that `perf report` shows guest functions instead of bare addresses.
        if std::env::var_os("SLUICE_WASM_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        capability::add_to_linker(&mut linker, StoreData::host)?;
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || loop {
                std::thread::sleep(EPOCH_TICK);
                match ticker.upgrade() {
                    Some(e) => e.increment_epoch(),
                    None => return,
                }
            })?;
        // SHA-256 of everything that makes compiled code fit this engine (wasmtime's version,
        // target and settings): a stable key across builds of the relay, unlike std's hasher.
        let mut h = Sha256Hasher(sha2::Sha256::default());
        engine.precompile_compatibility_hash().hash(&mut h);
        let compat: String = sha2::Digest::finalize(h.0)
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Arc::new(PluginEngine {
            engine,
            linker,
            counters: Arc::new(Counters::default()),
            settings,
            compat,
        }))
    }
}

/// Nice value of the threads plugin code runs on (Linux: per thread).
const PLUGIN_NICE: i32 = 10;

/// The runtime plugin code runs on: its own threads, apart from the tokio workers that serve
/// SMTP sessions, one per CPU, at a lower scheduling priority (nice 10). However much CPU the
/// plugins of one tenant legitimately use, the kernel keeps giving the session threads their
/// turn, so another tenant's replies are not held up behind them (BENCHMARKS.md, "CPU
/// fairness"). Started on first use and kept for the life of the process.
pub fn executor() -> &'static tokio::runtime::Handle {
    static EXECUTOR: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    EXECUTOR.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("wasm-runtime".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads)
                    .thread_name("wasm")
                    .on_thread_start(|| {
                        // SAFETY: setpriority(2) on the calling thread (who = 0; Linux keeps a
                        // nice value per thread); a failure only leaves the default priority.
                        unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, PLUGIN_NICE) };
                    })
                    .enable_all()
                    .build()
                    .expect("the plugin runtime starts");
                let _ = tx.send(runtime.handle().clone());
                runtime.block_on(std::future::pending::<()>());
            })
            .expect("the plugin runtime thread starts");
        rx.recv().expect("the plugin runtime's handle")
    })
}

/// Feeds what a `Hash` writes into SHA-256.
struct Sha256Hasher(sha2::Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }

    fn finish(&self) -> u64 {
        // Only the SHA-256 digest is used; `Hasher` requires this.
        0
    }
}
