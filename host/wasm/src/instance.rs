//! One running instance of a job component and the calls into it.
//!
//! Every call gets the per-call time limit (checked on each epoch tick, not counting time the
//! guest spends blocked in the host) and every failure becomes a [`GuestError`] naming the
//! operator and the cause: an error the guest returned, a trap (with what the guest logged or
//! printed just before, such as a panic message), the time or memory limit, or a host service
//! refusing a call. A trap poisons the instance; the caller drops it.

use std::time::Duration;

use wasmtime::{Store, Trap, UpdateDeadline, WasmBacktrace};

use super::bindings::{Job, Timer, plan_types};
use super::footprint::BudgetError;
use super::host::{HostState, HostTrap, trap};
use super::job::JobComponent;
use super::runtime::WasmRuntime;
use weir_core::timer::FiredTimer;
use weir_network::NetworkError;

/// What `open` tells a guest about the operator subtask it runs.
#[derive(Clone, Copy, Debug)]
pub struct OperatorInfo<'a> {
    /// The job's name.
    pub job_name: &'a str,
    /// The operator's uid.
    pub uid: &'a str,
    /// The operator's (vertex's) name.
    pub name: &'a str,
    /// The guest function the operator runs.
    pub function: &'a str,
    /// The operator's configuration, as the plan gave it.
    pub config: &'a str,
    /// This subtask's index (0-based).
    pub subtask_index: u32,
    /// The operator's parallelism.
    pub parallelism: u32,
    /// The job's max parallelism (its number of key groups).
    pub max_parallelism: u32,
    /// Whether the operator's input is keyed.
    pub keyed: bool,
}

/// A guest call that failed, and which operator it was.
#[derive(Debug, thiserror::Error)]
#[error("{operator}: {kind}")]
pub struct GuestError {
    /// The operator and subtask, as shown in logs.
    pub operator: String,
    /// What went wrong.
    pub kind: GuestErrorKind,
}

/// What went wrong in a guest call.
#[derive(Debug, thiserror::Error)]
pub enum GuestErrorKind {
    /// The component could not be instantiated (linking or its start function failed).
    #[error("could not instantiate the component: {0}")]
    Instantiate(String),
    /// The guest returned an error.
    #[error("{0}")]
    Failed(String),
    /// The guest trapped (a panic, an unreachable, an out-of-bounds access).
    #[error("the guest trapped: {cause}{}", guest_said(.said))]
    Trap {
        /// The trap as wasmtime describes it.
        cause: String,
        /// What the guest logged or printed just before the trap (a panic message, say).
        said: Vec<String>,
    },
    /// A call computed longer than the per-call time limit.
    #[error(
        "the guest exceeded the time limit of {0:?} per call (weir.wasm.call-timeout; an endless loop, or a wait in a WASI clock?)"
    )]
    TimeLimit(Duration),
    /// The instance's work took longer than its wall-clock deadline (second value: its key).
    #[error("the guest did not finish within {0:?} ({1})")]
    Deadline(Duration, &'static str),
    /// The guest went over its resource budget other than in bytes (a table's elements).
    #[error("{0}")]
    Budget(String),
    /// The guest tried to grow its linear memories and tables beyond the limit.
    #[error(
        "the guest exceeded its memory limit of {} (weir.wasm.memory-limit: all its linear memories and tables together){}",
        crate::footprint::size(*.limit),
        guest_said(.said)
    )]
    MemoryLimit {
        /// The instance's memory limit, in bytes.
        limit: usize,
        /// What the guest logged or printed just before it failed to grow.
        said: Vec<String>,
    },
    /// The subtask was cancelled during the call.
    #[error("cancelled")]
    Cancelled,
    /// A channel partner of the task went away (because its task stopped).
    #[error("{0}")]
    PartnerGone(String),
    /// A host service refused a call (the guest broke the contract).
    #[error("{0}")]
    Host(String),
}

/// wasmtime's refusal of an instance with too many memories, tables or instances, with the
/// key that raises the limit.
fn with_key(text: String) -> String {
    const KEYS: [(&str, &str); 3] = [
        ("memory count too high", "weir.wasm.max-memories"),
        ("table count too high", "weir.wasm.max-tables"),
        ("instance count too high", "weir.wasm.max-instances"),
    ];
    match KEYS.iter().find(|(what, _)| text.contains(what)) {
        Some((_, key)) => format!("{text} (the limit per guest instance is {key})"),
        None => text,
    }
}

fn guest_said(lines: &[String]) -> String {
    if lines.is_empty() { String::new() } else { format!(" (the guest said: {})", lines.join(" | ")) }
}

impl GuestError {
    /// True if the call failed because the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.kind, GuestErrorKind::Cancelled)
    }

    /// True if the call failed only because another task stopped.
    pub fn is_consequence(&self) -> bool {
        matches!(self.kind, GuestErrorKind::PartnerGone(_))
    }
}

/// A component instance with its store.
pub struct GuestInstance {
    store: Store<HostState>,
    job: Job,
    memory_limit: usize,
}

impl GuestInstance {
    /// Instantiates `job` with the given store data.
    pub fn new(runtime: &WasmRuntime, job: &JobComponent, host: HostState) -> Result<Self, GuestError> {
        Self::try_new(runtime, job, host).map_err(|failed| failed.0)
    }

    /// Instantiates `job`, handing the store data back if that fails (a hot swap puts the
    /// host services back into the instance it came from).
    pub fn try_new(
        runtime: &WasmRuntime,
        job: &JobComponent,
        host: HostState,
    ) -> Result<Self, Box<(GuestError, HostState)>> {
        let limits = runtime.limits();
        let tag = host.tag.to_string();
        let mut store = Store::new(runtime.engine(), host);
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_callback(move |ctx| {
            let state = ctx.data();
            state.interrupted().map_err(trap)?;
            if let Some(sampler) = state.services.sampler.as_ref().filter(|s| s.is_on()).cloned() {
                sampler.record(&WasmBacktrace::capture(&ctx));
            }
            Ok(UpdateDeadline::Continue(1))
        });
        store.set_epoch_deadline(1);
        store.data_mut().clock.start();
        match job.pre().instantiate(&mut store) {
            Ok(job) => Ok(GuestInstance { store, job, memory_limit: limits.memory_bytes }),
            Err(e) => Err(Box::new((
                GuestError { operator: tag, kind: GuestErrorKind::Instantiate(with_key(format!("{e:#}"))) },
                store.into_data(),
            ))),
        }
    }

    /// Drops the instance and keeps its store data.
    pub fn into_host(self) -> HostState {
        self.store.into_data()
    }

    /// The store data.
    pub fn host(&self) -> &HostState {
        self.store.data()
    }

    /// The store data, mutably (the task updates watermarks and flushes output through it).
    pub fn host_mut(&mut self) -> &mut HostState {
        self.store.data_mut()
    }

    fn call<R>(&mut self, f: impl FnOnce(&Job, &mut Store<HostState>) -> wasmtime::Result<R>) -> Result<R, GuestError> {
        let state = self.store.data_mut();
        state.clock.start();
        state.diagnostics.clear();
        self.store.set_epoch_deadline(1);
        f(&self.job, &mut self.store).map_err(|e| self.classify(e))
    }

    fn classify(&self, error: wasmtime::Error) -> GuestError {
        let state = self.store.data();
        let said = state.diagnostics.take();
        let kind = if let Some(host) = error.downcast_ref::<HostTrap>() {
            match host {
                HostTrap::TimeLimit(limit) => GuestErrorKind::TimeLimit(*limit),
                HostTrap::Cancelled => GuestErrorKind::Cancelled,
                HostTrap::Deadline(after, key) => GuestErrorKind::Deadline(*after, key),
                HostTrap::Output(NetworkError::ReceiverGone | NetworkError::SenderGone) => {
                    GuestErrorKind::PartnerGone(host.to_string())
                }
                other => GuestErrorKind::Host(other.to_string()),
            }
        } else if let Some(budget) = error.downcast_ref::<BudgetError>() {
            match budget {
                BudgetError::Memory { limit, .. } => GuestErrorKind::MemoryLimit { limit: *limit, said },
                other => GuestErrorKind::Budget(other.to_string()),
            }
        } else {
            let text = format!("{error:#}");
            if text.contains("forcing trap when growing memory") {
                GuestErrorKind::MemoryLimit { limit: self.memory_limit, said }
            } else {
                let cause = match error.downcast_ref::<Trap>() {
                    Some(trap) => trap.to_string(),
                    None => text,
                };
                let max = state.caps.failure_message_bytes;
                let cause = crate::caps::cut(cause, max, weir_config::keys::GUEST_MAX_FAILURE_MESSAGE_SIZE);
                GuestErrorKind::Trap { cause, said }
            }
        };
        GuestError { operator: state.tag.to_string(), kind }
    }

    /// The guest's own error, cut to the failure message cap (never dropped: it is the task's
    /// root cause, and it must fit the TaskManager's report to the JobManager).
    fn failed(&self, message: String) -> GuestError {
        let state = self.store.data();
        let message = crate::caps::cut(
            message,
            state.caps.failure_message_bytes,
            weir_config::keys::GUEST_MAX_FAILURE_MESSAGE_SIZE,
        );
        GuestError { operator: state.tag.to_string(), kind: GuestErrorKind::Failed(message) }
    }

    /// Calls `plan`. The inner error is the guest's own (bad arguments).
    pub fn plan(&mut self, args: &[String]) -> Result<Result<plan_types::JobGraph, String>, GuestError> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let result = self.call(|job, store| job.weir_job_plan().call_plan(store, &args))?;
        // The guest's refusal goes into a REST answer: cut like any failure message.
        let max = self.store.data().caps.failure_message_bytes;
        Ok(result.map_err(|m| crate::caps::cut(m, max, weir_config::keys::GUEST_MAX_FAILURE_MESSAGE_SIZE)))
    }

    /// Calls `open`.
    pub fn open(&mut self, operator: &OperatorInfo<'_>) -> Result<(), GuestError> {
        let context = crate::convert::operator_context(operator);
        let result = self.call(|job, store| job.weir_job_operator().call_open(store, context))?;
        result.map_err(|m| self.failed(m))
    }

    /// Calls `process` with one batch.
    pub fn process(&mut self, input: u32, batch: &[u8]) -> Result<(), GuestError> {
        let result = self.call(|job, store| job.weir_job_operator().call_process(store, input, batch))?;
        result.map_err(|m| self.failed(m))
    }

    /// Calls `on-timers`.
    pub fn on_timers(&mut self, timers: &[FiredTimer]) -> Result<(), GuestError> {
        let timers: Vec<Timer<'_>> = timers.iter().map(crate::convert::timer).collect();
        let result = self.call(|job, store| job.weir_job_operator().call_on_timers(store, &timers))?;
        result.map_err(|m| self.failed(m))
    }

    /// Calls `finish`.
    pub fn finish(&mut self) -> Result<(), GuestError> {
        let result = self.call(|job, store| job.weir_job_operator().call_finish(store))?;
        result.map_err(|m| self.failed(m))
    }
}
