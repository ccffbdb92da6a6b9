//! One plugin instance for one SMTP transaction: a fresh `Store`, the limits armed for every
//! hook call, and every way a guest can fail turned into a [`Failure`].

use super::gen_::Policy;
use super::registry::LoadedPlugin;
use super::store::{MemoryCap, StoreData};
use super::wit::{Decision, DeliveryResult, Hook, Route, RouteRequest, Session};
use crate::capability::counters::CounterScope;
use crate::capability::log::PluginLog;
use crate::capability::message::{MessageView, ParsedMessage};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::WasiCtx;

/// Bytes of a guest's stdout and stderr kept (and logged) per instance.
const CAPTURE: usize = 4096;

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
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Trap(t) => write!(f, "trapped: {t}"),
            Failure::Timeout(d) => write!(f, "ran past its {} ms deadline", d.as_millis()),
            Failure::Memory(cap) => write!(f, "exceeded its memory cap of {cap} bytes"),
            Failure::Invalid(why) => write!(f, "returned an invalid answer: {why}"),
            Failure::BreakerOpen => f.write_str("is suspended after repeated failures"),
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
    policy: Policy,
    timeout: Duration,
    memory_cap: u64,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl PluginInstance {
    /// Instantiates `plugin` in a fresh store.
    pub async fn new(
        plugin: &LoadedPlugin,
        queue_id: Option<&str>,
    ) -> Result<PluginInstance, Failure> {
        let engine = &plugin.engine;
        let (stdout, stderr) = (
            MemoryOutputPipe::new(CAPTURE),
            MemoryOutputPipe::new(CAPTURE),
        );
        // Deny-all WASI: no preopened directories, no environment or arguments, stdin closed,
        // no sockets (every address is refused) and no name lookups.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let mut log = PluginLog::new(plugin.shared_label());
        log.queue_id = queue_id.map(str::to_owned);
        let data = StoreData {
            wasi,
            table: ResourceTable::new(),
            log,
            config: plugin.spec.config.clone(),
            counters: CounterScope::new(engine.counters.clone(), &plugin.tenant, &plugin.spec.name),
            limits: MemoryCap {
                max_bytes: plugin.spec.memory as usize,
                denied: false,
            },
            deadline: Instant::now() + plugin.spec.timeout,
        };
        let mut store = Store::new(&engine.engine, data);
        store.limiter(|d| &mut d.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                return Err(DeadlineExceeded.into());
            }
            // Give the thread back to other sessions every tick.
            Ok(UpdateDeadline::Yield(1))
        });
        let policy = match plugin.pre.instantiate_async(&mut store).await {
            Ok(p) => p,
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
            policy,
            timeout: plugin.spec.timeout,
            memory_cap: plugin.spec.memory,
            stdout,
            stderr,
        })
    }

    /// Asks a freshly loaded plugin which hooks it implements.
    pub async fn implemented(plugin: &LoadedPlugin) -> Result<Vec<Hook>, Failure> {
        let mut i = PluginInstance::new(plugin, None).await?;
        i.arm();
        let r = i
            .policy
            .sluice_policy_hooks()
            .call_implemented(&mut i.store)
            .await;
        i.finish(r)
    }

    fn arm(&mut self) {
        self.store.data_mut().deadline = Instant::now() + self.timeout;
    }

    fn classify(&self, e: wasmtime::Error) -> Failure {
        classify(self.store.data(), self.timeout, self.memory_cap, e)
    }

    fn finish<T>(&mut self, r: wasmtime::Result<T>) -> Result<T, Failure> {
        self.drain_output();
        r.map_err(|e| self.classify(e))
    }

    /// Moves what the guest printed into the plugin's log.
    fn drain_output(&mut self) {
        for pipe in [&self.stdout, &self.stderr] {
            let bytes = pipe.contents();
            if !bytes.is_empty() {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                self.store
                    .data_mut()
                    .log
                    .write(super::wit::Level::Info, text.trim_end());
            }
        }
    }

    pub fn set_queue_id(&mut self, id: &str) {
        let current = &mut self.store.data_mut().log.queue_id;
        if current.as_deref() != Some(id) {
            *current = Some(id.to_owned());
        }
    }

    /// Runs one hook. Everything the guest can do wrong comes back as a `Failure`.
    pub async fn call(
        &mut self,
        hook: Hook,
        session: &Session,
        rcpt: Option<&str>,
        message: Option<&Arc<ParsedMessage>>,
    ) -> Result<Decision, Failure> {
        let deadline = self.arm_with_deadline();
        let hooks = self.policy.sluice_policy_hooks();
        let call = async {
            match hook {
                Hook::Connect => hooks.call_on_connect(&mut self.store, session).await,
                Hook::Helo => hooks.call_on_helo(&mut self.store, session).await,
                Hook::Auth => hooks.call_on_auth(&mut self.store, session).await,
                Hook::MailFrom => hooks.call_on_mail_from(&mut self.store, session).await,
                Hook::RcptTo => {
                    hooks
                        .call_on_rcpt_to(&mut self.store, session, rcpt.unwrap_or_default())
                        .await
                }
                Hook::Data => {
                    let parsed = message
                        .cloned()
                        .unwrap_or_else(|| ParsedMessage::new(Arc::new(Vec::new())));
                    let handle = self.store.data_mut().table.push(MessageView(parsed))?;
                    let borrowed =
                        wasmtime::component::Resource::<MessageView>::new_borrow(handle.rep());
                    let r = hooks.call_on_data(&mut self.store, session, borrowed).await;
                    let _ = self.store.data_mut().table.delete(handle);
                    r
                }
                Hook::Route | Hook::DeliveryResult => {
                    Err(wasmtime::Error::msg("not a decision hook"))
                }
            }
        };
        let r = bounded(deadline, call).await;
        self.finish(r)
    }

    /// The routing hook.
    pub async fn route(&mut self, request: &RouteRequest) -> Result<Option<Route>, Failure> {
        let deadline = self.arm_with_deadline();
        let hooks = self.policy.sluice_policy_hooks();
        let r = bounded(deadline, hooks.call_on_route(&mut self.store, request)).await;
        self.finish(r)
    }

    /// The delivery-result hook, once per recipient.
    pub async fn delivery_result(&mut self, result: &DeliveryResult) -> Result<(), Failure> {
        let deadline = self.arm_with_deadline();
        let hooks = self.policy.sluice_policy_hooks();
        let r = bounded(
            deadline,
            hooks.call_on_delivery_result(&mut self.store, result),
        )
        .await;
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
