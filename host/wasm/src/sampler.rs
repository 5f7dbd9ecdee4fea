//! Sampling a guest's WebAssembly stacks for flame graphs (Flink's `ThreadInfoSampleService`,
//! for the guest's code rather than the host's threads).
//!
//! Sampling is off until [`StackSampler::start`]; while on, each epoch tick during a guest call
//! (every `EPOCH_TICK`, only while the guest computes) captures the guest's stack and counts it.
//! The cost stays bounded: at most [`MAX_STACKS`] distinct stacks of at most [`MAX_FRAMES`]
//! frames each; the caller bounds the sampling time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::{FrameInfo, WasmBacktrace};

/// At most this many distinct stacks are counted per sampling (later new ones are dropped).
pub const MAX_STACKS: usize = 10_000;
/// Frames kept per stack: wasmtime's default backtrace depth (`Config::wasm_backtrace_max_frames`),
/// which keeps the innermost frames of deeper stacks.
pub const MAX_FRAMES: usize = 20;

/// A stack seen `count` times: function names, outermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackCount {
    /// The frames' function names, outermost first.
    pub frames: Vec<String>,
    /// How many samples saw this stack.
    pub count: u64,
}

/// The stack samples of one subtask's guest, switched on and off from another thread.
#[derive(Debug, Default)]
pub struct StackSampler {
    on: AtomicBool,
    stacks: Mutex<HashMap<Vec<String>, u64>>,
}

impl StackSampler {
    /// Starts a new sampling (dropping what an earlier one left).
    pub fn start(&self) {
        self.stacks.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.on.store(true, Ordering::Relaxed);
    }

    /// Stops sampling and hands over the counted stacks.
    pub fn stop(&self) -> Vec<StackCount> {
        self.on.store(false, Ordering::Relaxed);
        let stacks = std::mem::take(&mut *self.stacks.lock().unwrap_or_else(|e| e.into_inner()));
        stacks.into_iter().map(|(frames, count)| StackCount { frames, count }).collect()
    }

    /// Whether a sampling is under way (checked on every epoch tick, so it is cheap).
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Counts one captured stack.
    pub(crate) fn record(&self, backtrace: &WasmBacktrace) {
        // wasmtime lists the innermost frame first; flame graphs want the outermost first.
        let frames: Vec<String> = backtrace.frames().iter().take(MAX_FRAMES).rev().map(frame_name).collect();
        if frames.is_empty() {
            return;
        }
        let mut stacks = self.stacks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = stacks.get_mut(&frames) {
            *count += 1;
        } else if stacks.len() < MAX_STACKS {
            stacks.insert(frames, 1);
        }
    }
}

/// A frame's function name from the name section, demangled without its hash, or its index.
fn frame_name(frame: &FrameInfo) -> String {
    match frame.func_name() {
        Some(name) => format!("{:#}", rustc_demangle::demangle(name)),
        None => format!("wasm-function[{}]", frame.func_index()),
    }
}
