//! The data every guest instance's store carries: its WASI context (no files, no network, no
//! environment), its memory limit, the clock that enforces the per-call time limit, and the host
//! services the guest imports. Each service module implements its own WIT side on this type.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::StoreLimitsBuilder;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::footprint::TrackedLimits;
use super::runtime::Limits;
use super::stdio::{Diagnostics, GuestOutput};
use crate::metrics::OperatorMetrics;
use crate::network::RecordWriter;
use crate::state::KeyedState;
use crate::task::CancelToken;
use crate::timer::TimerService;

/// Why the host trapped a guest call.
#[derive(Debug, thiserror::Error)]
pub enum HostTrap {
    #[error("the call exceeded the time limit of {0:?} per call")]
    TimeLimit(Duration),
    #[error("the task was cancelled")]
    Cancelled,
    #[error("{0} is not available {1}")]
    NotAvailable(&'static str, &'static str),
    #[error(transparent)]
    Frame(#[from] weir_frame::FrameError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error("output failed: {0}")]
    Output(#[from] crate::network::NetworkError),
    #[error("{0}")]
    Resource(String),
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
    pub state: Option<KeyedState>,
    pub timers: Option<TimerService>,
    pub output: Option<RecordWriter>,
    pub metrics: Option<Arc<OperatorMetrics>>,
    /// The subtask's current watermark, as `time.current-watermark` reports it.
    pub watermark: i64,
}

/// The store data of one guest instance.
pub struct HostState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: TrackedLimits,
    pub(crate) clock: CallClock,
    pub(crate) cancel: CancelToken,
    /// What the guest said last (error logs, stderr), for error reports.
    pub(crate) diagnostics: Diagnostics,
    /// The operator and subtask, for logs.
    pub(crate) tag: Arc<str>,
    pub services: Services,
}

impl HostState {
    /// Store data for an instance tagged `tag` in logs, with the given services.
    pub fn new(tag: impl Into<Arc<str>>, limits: &Limits, cancel: CancelToken, services: Services) -> Self {
        let tag: Arc<str> = tag.into();
        let diagnostics = Diagnostics::default();
        let mut wasi = WasiCtx::builder();
        wasi.stdout(GuestOutput::new(tag.clone(), "stdout", diagnostics.clone()));
        wasi.stderr(GuestOutput::new(tag.clone(), "stderr", diagnostics.clone()));
        HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits: TrackedLimits::new(
                StoreLimitsBuilder::new().memory_size(limits.memory_bytes).trap_on_grow_failure(true).build(),
            ),
            clock: CallClock::new(),
            cancel,
            diagnostics,
            tag,
            services,
        }
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
