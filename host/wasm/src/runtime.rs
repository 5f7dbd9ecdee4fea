//! The wasmtime engine shared by every job component of a process, and the sandbox limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, OptLevel};

use super::host::HostState;

/// How often the engine's epoch advances: the granularity of the per-call time limit.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits applied to every guest instance.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The most one instance may hold in linear memories and tables together, in bytes
    /// (`weir.wasm.memory-limit`; a table element counts as
    /// [`crate::footprint::TABLE_ELEMENT_BYTES`]).
    pub memory_bytes: usize,
    /// Maximum time one call into the guest may compute (`weir.wasm.call-timeout`). Time the
    /// guest spends in `time.sleep` or waiting on backpressure does not count; time it waits
    /// in a WASI poll (a WASI clock, `std::thread::sleep`) does.
    pub call_time: Duration,
    /// How long a `plan` may take on the JobManager, wall-clock, whatever the guest does
    /// (`weir.wasm.plan-timeout`).
    pub plan_time: Duration,
    /// The instance's counts and stack (`weir.wasm.*`).
    pub budget: Budget,
    /// What a guest may make the host hold (log lines, metrics, timers, state, output, plans).
    pub caps: crate::caps::GuestCaps,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            call_time: Duration::from_secs(10),
            plan_time: Duration::from_secs(30),
            budget: Budget::default(),
            caps: crate::caps::GuestCaps::default(),
        }
    }
}

/// The engine configuration of every process of a cluster: a component compiled by one (or by
/// a child process compiling for it) runs in any other.
pub fn engine_config(limits: &Limits) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(OptLevel::Speed);
    // Explicit rather than wasmtime's default, so the guest's stack is part of the budget.
    config.max_wasm_stack(limits.budget.stack_bytes);
    config
}

/// What one guest instance may create besides its bytes of memory, and its stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The most linear memories one instance may create (`weir.wasm.max-memories`).
    pub memories: usize,
    /// The most tables one instance may create (`weir.wasm.max-tables`).
    pub tables: usize,
    /// The most core module instances one component instance may create
    /// (`weir.wasm.max-instances`).
    pub instances: usize,
    /// The most elements one table may grow to (`weir.wasm.max-table-elements`).
    pub table_elements: usize,
    /// The most native stack a guest's WebAssembly may use, in bytes (`weir.wasm.stack-size`;
    /// an engine setting, the same for every instance of the process).
    pub stack_bytes: usize,
}

impl Default for Budget {
    /// A component built by `cargo component`, `wit-component` or componentize-py has a few
    /// memories, tables and core instances, well within these; the stack is wasmtime's default.
    fn default() -> Self {
        Budget { memories: 16, tables: 64, instances: 256, table_elements: 1 << 20, stack_bytes: 512 << 10 }
    }
}

/// The engine, the linker with the host services, and the epoch ticker thread.
///
/// Cheap to clone; the ticker stops when the last clone is dropped.
#[derive(Clone)]
pub struct WasmRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    limits: Limits,
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl WasmRuntime {
    /// Creates the engine with epoch interruption and links WASI (no files, no network) and
    /// the `weir:job` host services.
    pub fn new(limits: Limits) -> wasmtime::Result<Self> {
        let engine = Engine::new(&engine_config(&limits))?;

        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        // WASI's own `wasi:io/poll` would block for as long as a guest asks; ours replaces it.
        linker.allow_shadowing(true);
        crate::wasi_poll::add_to_linker(&mut linker)?;
        linker.allow_shadowing(false);
        crate::services::add_to_linker(&mut linker)?;

        let stop_ticker = Arc::new(AtomicBool::new(false));
        let ticker_engine = engine.clone();
        let stop = stop_ticker.clone();
        thread::Builder::new().name("wasm-epoch".into()).spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(EPOCH_TICK);
                ticker_engine.increment_epoch();
            }
        })?;
        Ok(WasmRuntime { inner: Arc::new(Inner { engine, linker, limits, stop_ticker }) })
    }

    /// The shared wasmtime engine every job component is compiled for.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The linker holding WASI and the `weir:job` host services.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.inner.linker
    }

    /// The sandbox limits applied to every instance.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }
}
