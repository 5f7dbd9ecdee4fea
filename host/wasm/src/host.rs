//! The data every guest instance's store carries: its WASI context (no files, no network, no
//! environment), its memory limit, the clock that enforces the per-call time limit, and the host
//! services the guest imports. Each service module implements its own WIT side on this type.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::caps::{GuestCaps, LogBudget};
use super::footprint::TrackedLimits;
use super::runtime::Limits;
use super::stdio::{Diagnostics, GuestOutput};
use weir_core::cancel::CancelToken;
use weir_core::metrics::OperatorMetrics;
use weir_core::state::KeyedState;
use weir_core::timer::TimerService;
use weir_network::RecordWriter;

/// Why the host trapped a guest call.
#[derive(Debug, thiserror::Error)]
pub enum HostTrap {
    /// The call computed longer than the per-call time limit (blocking in the host excluded).
    #[error("the call exceeded the time limit of {0:?} per call")]
    TimeLimit(Duration),
    /// The subtask was cancelled while the guest was running.
    #[error("the task was cancelled")]
    Cancelled,
    /// The guest called a host service (first value) this instance does not get; the second
    /// value says where or why.
    #[error("{0} is not available {1}")]
    NotAvailable(&'static str, &'static str),
    /// A record batch the guest emitted does not follow the frame format.
    #[error(transparent)]
    Frame(#[from] weir_frame::FrameError),
    /// The subtask's keyed state backend refused the access.
    #[error(transparent)]
    State(#[from] weir_core::state::StateError),
    /// Emitting to the downstream channels failed.
    #[error("output failed: {0}")]
    Output(#[from] weir_network::NetworkError),
    /// The guest used a resource handle the instance's table does not hold.
    #[error("{0}")]
    Resource(String),
    /// The whole of an instance's work (a `plan`) took longer than its wall-clock deadline; the
    /// second value is the configuration key that sets it.
    #[error("it did not finish within {0:?} ({1})")]
    Deadline(Duration, &'static str),
    /// The guest asked the host to hold more than a cap allows.
    #[error(transparent)]
    Cap(#[from] crate::caps::CapExceeded),
    /// A map state's entries add up to more than the instance's memory budget could take.
    #[error(
        "the entries of map state '{name}' add up to more than {} (the instance's memory budget, {})",
        crate::footprint::size(*max_bytes),
        weir_config::keys::WASM_MEMORY_LIMIT
    )]
    MapTooLarge {
        /// The state's name.
        name: String,
        /// The budget.
        max_bytes: usize,
    },
}

impl From<wasmtime::component::ResourceTableError> for HostTrap {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        HostTrap::Resource(e.to_string())
    }
}

/// Tracks where the time of a call goes, so that blocking in the host does not count against
/// the call's time limit, and so that busy time and WASM time can be told apart.
#[derive(Debug)]
pub struct CallClock {
    started: Instant,
    /// Waiting for room in output channels (backpressure).
    back_pressured: Duration,
    /// Sleeping at the guest's request.
    sleeping: Duration,
}

impl CallClock {
    fn new() -> Self {
        CallClock { started: Instant::now(), back_pressured: Duration::ZERO, sleeping: Duration::ZERO }
    }

    /// Starts timing a new call.
    pub fn start(&mut self) {
        *self = CallClock::new();
    }

    /// Records time the guest waited for room downstream.
    pub fn add_back_pressured(&mut self, d: Duration) {
        self.back_pressured += d;
    }

    /// Records time the guest slept.
    pub fn add_sleeping(&mut self, d: Duration) {
        self.sleeping += d;
    }

    /// How long the current call has run WebAssembly (neither sleeping nor waiting).
    pub fn computing(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.back_pressured + self.sleeping)
    }

    /// How long the current call has been busy: everything but waiting for room downstream
    /// (Flink counts a sleeping user function as busy).
    pub fn busy(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.back_pressured)
    }
}

/// The host services a task gives its guest instance. Absent services trap when called
/// (for example keyed state in `plan`, or in an operator whose input is not keyed).
#[derive(Default)]
pub struct Services {
    /// The subtask's keyed state, present only when its input is partitioned by key.
    pub state: Option<KeyedState>,
    /// The subtask's event-time and processing-time timers, present only on keyed input.
    pub timers: Option<TimerService>,
    /// Where the guest's collector writes: the subtask's output channels.
    pub output: Option<RecordWriter>,
    /// The operator's metric group for the guest's own counters and gauges.
    pub metrics: Option<Arc<OperatorMetrics>>,
    /// The subtask's current watermark, as `time.current-watermark` reports it.
    pub watermark: i64,
    /// Where the guest's stacks are counted while a flame graph is sampled.
    pub sampler: Option<Arc<crate::StackSampler>>,
    /// A manual processing-time clock (ms since the epoch): when set, `time.current-processing-time`
    /// reports its value instead of the wall clock, so that a test (the operator test harness)
    /// decides what time the guest sees. `None`, the default, is the wall clock.
    pub processing_time: Option<Arc<AtomicI64>>,
}

/// The store data of one guest instance.
pub struct HostState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: TrackedLimits,
    pub(crate) clock: CallClock,
    pub(crate) cancel: CancelToken,
    /// The per-call time limit, which time blocked in a WASI poll counts against.
    pub(crate) call_time: Duration,
    /// When the instance must be done, wall-clock, whatever it does (for `plan`), with the
    /// deadline's length and key for the error.
    pub(crate) deadline: Option<(Instant, Duration, &'static str)>,
    /// What the guest said last (error logs, stderr), for error reports.
    pub(crate) diagnostics: Diagnostics,
    /// The operator and subtask, for logs.
    pub(crate) tag: Arc<str>,
    /// What the guest may make the host hold.
    pub(crate) caps: GuestCaps,
    /// The log rate limit shared by the `logging` import and stdout/stderr.
    pub(crate) log_budget: LogBudget,
    /// The host services this instance's imports reach.
    pub services: Services,
}

impl HostState {
    /// Store data for an instance tagged `tag` in logs, with the given services.
    pub fn new(tag: impl Into<Arc<str>>, limits: &Limits, cancel: CancelToken, services: Services) -> Self {
        let tag: Arc<str> = tag.into();
        let diagnostics = Diagnostics::default();
        let caps = limits.caps;
        let log_budget = LogBudget::new(tag.clone(), caps.log_lines_per_second);
        let output = |stream| {
            GuestOutput::new(tag.clone(), stream, diagnostics.clone(), log_budget.clone(), caps.log_message_bytes)
        };
        let mut wasi = WasiCtx::builder();
        wasi.stdout(output("stdout"));
        wasi.stderr(output("stderr"));
        HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits: TrackedLimits::new(limits),
            call_time: limits.call_time,
            deadline: None,
            clock: CallClock::new(),
            cancel,
            diagnostics,
            tag,
            caps,
            log_budget,
            services,
        }
    }

    /// Gives the instance a wall-clock deadline `after` from now, set by configuration `key`:
    /// past it, whatever the guest is doing (computing, sleeping, polling) traps.
    pub fn with_deadline(mut self, after: Duration, key: &'static str) -> Self {
        self.deadline = Instant::now().checked_add(after).map(|at| (at, after, key));
        self
    }

    /// Whether the current call must stop now: the task is cancelled, the wall-clock deadline
    /// has passed, or the call has computed (WASI polls included) past the time limit.
    pub(crate) fn interrupted(&self) -> Result<(), HostTrap> {
        if self.cancel.is_cancelled() {
            return Err(HostTrap::Cancelled);
        }
        if let Some((at, after, key)) = self.deadline
            && Instant::now() >= at
        {
            return Err(HostTrap::Deadline(after, key));
        }
        if self.clock.computing() > self.call_time {
            return Err(HostTrap::TimeLimit(self.call_time));
        }
        Ok(())
    }

    /// How long the guest may still wait in the host before [`HostState::interrupted`] stops it
    /// (cancellation aside).
    pub(crate) fn wait_budget(&self) -> Duration {
        let computing = self.call_time.saturating_sub(self.clock.computing());
        match self.deadline {
            Some((at, _, _)) => computing.min(at.saturating_duration_since(Instant::now())),
            None => computing,
        }
    }

    /// Where the time of the current (or last) call went.
    pub fn clock(&self) -> &CallClock {
        &self.clock
    }

    /// The record writer, or a trap if this instance has no output.
    pub(crate) fn output(&mut self) -> Result<&mut RecordWriter, HostTrap> {
        self.services.output.as_mut().ok_or(HostTrap::NotAvailable("output", "here"))
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Turns a host refusal into the trap the generated bindings expect.
pub(crate) fn trap(e: impl Into<HostTrap>) -> wasmtime::Error {
    wasmtime::Error::new(e.into())
}
