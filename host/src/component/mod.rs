//! The WebAssembly side of the host: compiling and caching job components, checking that they
//! are Weir jobs, and running them sandboxed, one instance per operator subtask.
//!
//! - [`runtime`]: the wasmtime engine, its sandbox limits and the epoch ticker.
//! - [`cache`]: compile once per component content and engine, cached on disk.
//! - [`job`]: a loaded, validated job component, ready to instantiate.
//! - [`instance`]: one running instance and the calls into it, with errors that name the
//!   operator and the cause.
//! - [`host`]: the store data each instance carries: WASI, limits and the host services.
//! - [`footprint`]: how many instances the process holds and their linear memory.
//! - [`bindings`]: the Rust side of `wit/`.
//! - [`logging`] and [`stdio`]: the guest's log and its stdout/stderr, into the host's log.

pub mod bindings;
pub mod cache;
pub mod footprint;
pub mod host;
pub mod instance;
pub mod job;
pub mod logging;
pub mod runtime;
pub mod stdio;

pub use instance::{GuestError, GuestInstance};
pub use job::{JobComponent, LoadError};
pub use runtime::{Limits, WasmRuntime};
