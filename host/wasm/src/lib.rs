//! The WebAssembly side of the host: compiling and caching job components, checking that they
//! are Weir jobs, and running them sandboxed, one instance per operator subtask.
//!
//! - [`runtime`]: the wasmtime engine, its sandbox limits and the epoch ticker.
//! - [`cache`]: compile once per component content and engine, cached on disk.
//! - [`caps`]: the caps on what a guest makes the host hold (log lines, metrics, timers,
//!   state, output, plans), with the configuration key of each.
//! - [`job`]: a loaded, validated job component, ready to instantiate.
//! - [`instance`]: one running instance and the calls into it, with errors that name the
//!   operator and the cause.
//! - [`host`]: the store data each instance carries: WASI, limits and the host services.
//! - [`footprint`]: how many instances the process holds and their linear memory.
//! - [`services`]: the host services guests import (keyed state, time and timers, the
//!   collector, metrics, logging), each linking its own WIT interface.
//! - [`plan`]: running a component's `plan` export to get its job graph.
//! - `bindings`: the Rust side of `wit/`, generated once; `convert` turns its types into
//!   the engine's and back, and nothing else outside this crate sees them.
//! - [`stdio`]: the guest's stdout and stderr, into the host's log.
//! - [`wasi_poll`]: `wasi:io/poll` bounded by the call's time limit and woken by cancellation.

pub(crate) mod bindings;
pub mod cache;
pub mod caps;
pub(crate) mod convert;
pub mod footprint;
pub mod host;
pub mod instance;
pub mod job;
pub mod plan;
pub mod runtime;
pub mod sampler;
pub mod services;
pub mod stdio;
pub mod wasi_poll;

pub use instance::{GuestError, GuestInstance, OperatorInfo};
pub use job::{JobComponent, LoadError};
pub use runtime::{Budget, Limits, WasmRuntime};
pub use sampler::{StackCount, StackSampler};
