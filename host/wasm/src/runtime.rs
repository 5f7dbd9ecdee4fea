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
    /// Maximum linear memory of one instance, in bytes.
    pub memory_bytes: usize,
    /// Maximum time one call into the guest may compute (time the guest spends blocked in the
    /// host, sleeping or waiting on backpressure, does not count).
    pub call_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: 256 << 20, call_time: Duration::from_secs(10) }
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
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(OptLevel::Speed);
        let engine = Engine::new(&config)?;

        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
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
