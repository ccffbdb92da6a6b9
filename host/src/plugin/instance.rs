//! One plugin instance for one SMTP transaction: a fresh `Store`, the limits armed for every
//! hook call, and every way a guest can fail turned into a [`Failure`].

use super::exports::HookExports;
use super::gen_::Policy;
use super::registry::LoadedPlugin;
use super::store::{MemoryCap, StoreData};
use super::wit::{Decision, DeliveryResult, Hook, Route, RouteRequest};
use crate::capability::counters::CounterError;
use crate::capability::log::PluginLog;
use crate::capability::message::{MessageView, ParsedMessage};
use crate::capability::session::{SessionInfo, SessionView};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use wasmtime::component::{
    ComponentExportIndex, ComponentNamedList, Func, Instance, Lift, Lower, Resource, ResourceTable,
    TypedFunc,
};
use wasmtime::{Store, UpdateDeadline};

/// How a hook call failed. Each maps to the plugin's configured failure action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The guest trapped (panic, unreachable, stack overflow, out-of-bounds access…).
    Trap(String),
    /// The hook ran past its wall-clock deadline.
    Timeout(Duration),
    /// The guest asked for more memory than its cap.
    Memory(u64),
    /// The guest answered something the host refuses (e.g. an oversized header).
    Invalid(String),
    /// The breaker is open after repeated failures; the plugin was not called.
    BreakerOpen,
    /// The tenant had its whole share of instance slots in use for the hook's whole
    /// deadline; the plugin was not called. Load, not a fault of the plugin: it does not
    /// count towards the breaker, and the timeout action applies.
    Busy(Duration),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Trap(t) => write!(f, "trapped: {t}"),
            Failure::Timeout(d) => write!(f, "ran past its {} ms deadline", d.as_millis()),
            Failure::Memory(cap) => write!(f, "exceeded its memory cap of {cap} bytes"),
            Failure::Invalid(why) => write!(f, "returned an invalid answer: {why}"),
            Failure::BreakerOpen => f.write_str("is suspended after repeated failures"),
            Failure::Busy(d) => write!(
                f,
                "had no instance free in its tenant's share within {} ms",
                d.as_millis()
            ),
        }
    }
}

impl Failure {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Trap(_) => "trap",
            Failure::Timeout(_) => "timeout",
            Failure::Memory(_) => "memory",
            Failure::Invalid(_) => "invalid",
            Failure::BreakerOpen => "breaker",
            Failure::Busy(_) => "busy",
        }
    }
}

/// The error the epoch callback raises when the hook's deadline has passed.
#[derive(Debug)]
struct DeadlineExceeded;

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

fn classify(data: &StoreData, timeout: Duration, memory_cap: u64, e: wasmtime::Error) -> Failure {
    if e.is::<DeadlineExceeded>() {
        return Failure::Timeout(timeout);
    }
    if let Some(refused) = e.downcast_ref::<CounterError>() {
        return Failure::Invalid(refused.to_string());
    }
    if data.limits.denied {
        return Failure::Memory(memory_cap);
    }
    let trap = e.downcast_ref::<wasmtime::Trap>().map(|t| t.to_string());
    Failure::Trap(
        trap.unwrap_or_else(|| format!("{e:#}"))
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
    )
}

pub struct PluginInstance {
    store: Store<StoreData>,
    instance: Instance,
    exports: HookExports,
    timeout: Duration,
    memory_cap: u64,
    /// Whether the engine meters fuel; then what the last hook burned.
    metered: bool,
    fuel_used: Option<u64>,
    /// Transactions this instance has served, the current one included.
    transactions: u32,
    /// When it was instantiated (`max_age` of a reused instance).
    born: std::time::Instant,
    /// Hook functions looked up so far (by `Hook` ordinal): an instance kept for `reuse`
    /// calls each many times.
    funcs: [Option<Func>; 8],
    /// Its units of the tenant's share while a transaction holds it; none when idle.
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl PluginInstance {
    /// Instantiates `plugin` in a fresh store.
    pub async fn new(
        plugin: &LoadedPlugin,
        queue_id: Option<&str>,
    ) -> Result<PluginInstance, Failure> {
        let engine = &plugin.engine;
        let mut log = PluginLog::new(plugin.shared_label());
        log.queue_id = queue_id.map(str::to_owned);
        let data = StoreData {
            wasi: None,
            table: ResourceTable::new(),
            session: SessionInfo::default(),
            log,
            config: plugin.spec.config.clone(),
            counters: plugin.counters.clone(),
            limits: MemoryCap {
                max_bytes: plugin.spec.memory as usize,
                denied: false,
                peak_bytes: 0,
            },
            deadline: Instant::now() + plugin.spec.timeout,
        };
        let mut store = Store::new(&engine.engine, data);
        store.limiter(|d| &mut d.limits);
        store.set_epoch_deadline(1);
        // Fuel is only counted (the dry run's report), never a limit: each hook, and the
        // instantiation before them, starts with a full tank.
        let metered = engine.settings.fuel;
        if metered {
            let _ = store.set_fuel(u64::MAX);
        }
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                return Err(DeadlineExceeded.into());
            }
            // Give the thread back to other sessions every tick.
            Ok(UpdateDeadline::Yield(1))
        });
        let instance = match plugin.pre.instantiate_async(&mut store).await {
            Ok(i) => i,
            Err(e) => {
                return Err(classify(
                    store.data(),
                    plugin.spec.timeout,
                    plugin.spec.memory,
                    e,
                ))
            }
        };
        Ok(PluginInstance {
            store,
            instance,
            exports: plugin.exports,
            metered,
            fuel_used: None,
            transactions: 1,
            born: std::time::Instant::now(),
            funcs: [None; 8],
            permit: None,
            timeout: plugin.spec.timeout,
            memory_cap: plugin.spec.memory,
        })
    }

    /// Introduces a freshly loaded plugin: checks the types of all its hook functions against
    /// the world (once: later instances trust them), has it check its config (`init`: the
    /// inner error is its refusal, in its words), then asks which hooks it implements.
    pub async fn introduce(plugin: &LoadedPlugin) -> Result<Result<Vec<Hook>, String>, Failure> {
        let mut i = PluginInstance::new(plugin, None).await?;
        if let Err(e) = Policy::new(&mut i.store, &i.instance) {
            return Err(Failure::Invalid(format!("{e:#}")));
        }
        i.arm();
        let index = i.exports.init;
        let r = async {
            let f = i.func::<(), (Result<(), String>,)>(&index)?;
            Ok(f.call_async(&mut i.store, ()).await?.0)
        }
        .await;
        if let Err(refused) = i.finish(r)? {
            return Ok(Err(refused));
        }
        i.arm();
        let index = i.exports.implemented;
        let r = async {
            let f = i.func::<(), (Vec<Hook>,)>(&index)?;
            Ok(f.call_async(&mut i.store, ()).await?.0)
        }
        .await;
        i.finish(r).map(Ok)
    }

    /// An exported function, typed. Its type was checked when the plugin loaded
    /// (`introduce`); debug builds, which the tests run, check it again on every call.
    fn func<P, R>(&mut self, index: &ComponentExportIndex) -> wasmtime::Result<TypedFunc<P, R>>
    where
        P: ComponentNamedList + Lower,
        R: ComponentNamedList + Lift,
    {
        let func = self.lookup(index)?;
        self.typed(func)
    }

    fn lookup(&mut self, index: &ComponentExportIndex) -> wasmtime::Result<Func> {
        self.instance
            .get_func(&mut self.store, index)
            .ok_or_else(|| wasmtime::Error::msg("hook function missing"))
    }

    /// The function of `hook`, typed (see [`Self::func`]), found once per instance.
    fn hook_func<P, R>(&mut self, hook: Hook) -> wasmtime::Result<TypedFunc<P, R>>
    where
        P: ComponentNamedList + Lower,
        R: ComponentNamedList + Lift,
    {
        let slot = hook as usize;
        if let Some(Some(f)) = self.funcs.get(slot) {
            return self.typed(*f);
        }
        let f = self.lookup(&self.exports.of(hook))?;
        if let Some(cached) = self.funcs.get_mut(slot) {
            *cached = Some(f);
        }
        self.typed(f)
    }

    fn typed<P, R>(&self, func: Func) -> wasmtime::Result<TypedFunc<P, R>>
    where
        P: ComponentNamedList + Lower,
        R: ComponentNamedList + Lift,
    {
        if cfg!(debug_assertions) {
            return func.typed(&self.store);
        }
        // SAFETY: `introduce` type-checked every hook function of this same component with
        // the generated bindings (`Policy::new`) before the plugin was put in service, and the
        // parameter and result types used here are those of the generated bindings.
        Ok(unsafe { TypedFunc::new_unchecked(func) })
    }

    fn arm(&mut self) {
        if self.metered {
            let _ = self.store.set_fuel(u64::MAX);
        }
        self.store.data_mut().deadline = Instant::now() + self.timeout;
        // Count epochs from now: an instance waits for the client between hooks, and a
        // deadline left over from the last hook would make this one yield as it starts.
        self.store.set_epoch_deadline(1);
    }

    fn classify(&self, e: wasmtime::Error) -> Failure {
        classify(self.store.data(), self.timeout, self.memory_cap, e)
    }

    fn finish<T>(&mut self, r: wasmtime::Result<T>) -> Result<T, Failure> {
        if self.metered {
            self.fuel_used = self.store.get_fuel().ok().map(|left| u64::MAX - left);
        }
        self.drain_output();
        r.map_err(|e| self.classify(e))
    }

    /// Moves what the guest printed since the last hook into the plugin's log, a line per
    /// line: stdout at info, stderr (panic messages) at warn.
    fn drain_output(&mut self) {
        let Some(wasi) = &self.store.data().wasi else {
            return;
        };
        let printed = [
            (super::wit::Level::Info, wasi.stdout.take()),
            (super::wit::Level::Warn, wasi.stderr.take()),
        ];
        for (level, bytes) in printed {
            for line in String::from_utf8_lossy(&bytes).lines() {
                if !line.trim().is_empty() {
                    self.store.data_mut().log.write(level, line.trim_end());
                }
            }
        }
    }

    /// Readies an instance kept from an earlier transaction (`reuse`) for the next one. What
    /// the host holds per transaction starts over; the guest's own memory does not, which is
    /// the trade the operator chose.
    /// Takes its units of the tenant's share for the transaction it now serves.
    pub fn hold(&mut self, permit: tokio::sync::OwnedSemaphorePermit) {
        self.permit = Some(permit);
    }

    /// Gives the units back: the transaction is over.
    pub fn unhold(&mut self) {
        self.permit = None;
    }

    pub fn recycle(&mut self, queue_id: Option<&str>) {
        let data = self.store.data_mut();
        data.session = SessionInfo::default();
        data.log.begin_transaction(queue_id);
        data.limits.denied = false;
        if let Some(wasi) = &data.wasi {
            wasi.stdout.begin_transaction();
            wasi.stderr.begin_transaction();
        }
        self.fuel_used = None;
        self.transactions += 1;
    }

    /// Transactions this instance has served, the current one included.
    pub fn transactions(&self) -> u32 {
        self.transactions
    }

    /// How long ago it was instantiated.
    pub fn age(&self) -> Duration {
        self.born.elapsed()
    }

    /// The most linear memory it has had.
    pub fn peak_memory(&self) -> usize {
        self.store.data().limits.peak_bytes
    }

    /// Fuel the last hook burned, when the engine meters fuel (the dry run).
    pub fn fuel_used(&self) -> Option<u64> {
        self.fuel_used
    }

    pub fn set_queue_id(&mut self, id: &str) {
        let current = &mut self.store.data_mut().log.queue_id;
        if current.as_deref() != Some(id) {
            *current = Some(id.to_owned());
        }
    }

    /// The session the next hook is about (the guest reads it through `session`).
    pub fn session_mut(&mut self) -> &mut SessionInfo {
        &mut self.store.data_mut().session
    }

    /// Runs one hook. Everything the guest can do wrong comes back as a `Failure`.
    pub async fn call(
        &mut self,
        hook: Hook,
        rcpt: Option<&str>,
        message: Option<&Arc<ParsedMessage>>,
    ) -> Result<Decision, Failure> {
        let deadline = self.arm_with_deadline();
        // The handle is only lent for the call; its accessors read the store's SessionInfo.
        let session = Resource::<SessionView>::new_borrow(0);
        let call = async {
            let (decision,) = match hook {
                Hook::Connect | Hook::Helo | Hook::Auth | Hook::MailFrom => {
                    let f = self.hook_func::<(Resource<SessionView>,), (Decision,)>(hook)?;
                    f.call_async(&mut self.store, (session,)).await?
                }
                Hook::RcptTo => {
                    let f = self.hook_func::<(Resource<SessionView>, &str), (Decision,)>(hook)?;
                    let rcpt = rcpt.unwrap_or_default();
                    f.call_async(&mut self.store, (session, rcpt)).await?
                }
                Hook::Data => {
                    let parsed = message
                        .cloned()
                        .unwrap_or_else(|| ParsedMessage::new(Arc::new(Vec::new())));
                    let handle = self.store.data_mut().table.push(MessageView(parsed))?;
                    let borrowed = Resource::<MessageView>::new_borrow(handle.rep());
                    let f = self
                        .hook_func::<(Resource<SessionView>, Resource<MessageView>), (Decision,)>(
                            hook,
                        )?;
                    let r = f.call_async(&mut self.store, (session, borrowed)).await;
                    let _ = self.store.data_mut().table.delete(handle);
                    r?
                }
                Hook::Route | Hook::DeliveryResult => {
                    return Err(wasmtime::Error::msg("not a decision hook"))
                }
            };
            Ok(decision)
        };
        let r = bounded(deadline, call).await;
        self.finish(r)
    }

    /// The routing hook.
    pub async fn route(&mut self, request: &RouteRequest) -> Result<Option<Route>, Failure> {
        let deadline = self.arm_with_deadline();
        let call = async {
            let f = self.hook_func::<(&RouteRequest,), (Option<Route>,)>(Hook::Route)?;
            Ok(f.call_async(&mut self.store, (request,)).await?.0)
        };
        let r = bounded(deadline, call).await;
        self.finish(r)
    }

    /// The delivery-result hook, once per recipient.
    pub async fn delivery_result(&mut self, result: &DeliveryResult) -> Result<(), Failure> {
        let deadline = self.arm_with_deadline();
        let call = async {
            let f = self.hook_func::<(&DeliveryResult,), ()>(Hook::DeliveryResult)?;
            f.call_async(&mut self.store, (result,)).await
        };
        let r = bounded(deadline, call).await;
        self.finish(r)
    }

    /// Arms the guest's deadline; returns the wall-clock one (a tick or two later) that
    /// also covers time spent in host calls.
    fn arm_with_deadline(&mut self) -> Instant {
        self.arm();
        self.store.data().deadline + 2 * super::engine::EPOCH_TICK
    }
}

/// Runs a hook call, cut off at `deadline`.
async fn bounded<T>(
    deadline: Instant,
    call: impl std::future::Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    match tokio::time::timeout_at(deadline, call).await {
        Ok(r) => r,
        Err(_) => Err(DeadlineExceeded.into()),
    }
}
