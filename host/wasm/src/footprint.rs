//! What the guest instances of this process hold: how many are alive and how much linear
//! memory they have grown to, for the TaskManager's `Status.Wasm.*` metrics.
//!
//! Every instance's store has a [`TrackedLimits`]: the sandbox's memory limit (wasmtime's
//! `StoreLimits`), which also adds each permitted growth to the process's total and takes the
//! instance's memory back off when the store is dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::{ResourceLimiter, StoreLimits};

static INSTANCES: AtomicU64 = AtomicU64::new(0);
static MEMORY_BYTES: AtomicU64 = AtomicU64::new(0);

/// Guest instances alive in this process (one per store).
pub fn instances() -> u64 {
    INSTANCES.load(Ordering::Relaxed)
}

/// Linear memory held by the guest instances of this process, in bytes.
pub fn memory_bytes() -> u64 {
    MEMORY_BYTES.load(Ordering::Relaxed)
}

/// A store's limits that also account for the store's memory in the process totals.
pub struct TrackedLimits {
    inner: StoreLimits,
    /// Bytes this store's memories have grown to.
    held: u64,
    /// The last growth permitted, taken back if it then fails.
    pending: u64,
}

impl TrackedLimits {
    /// Tracks a new store (an instance) limited by `inner`.
    pub fn new(inner: StoreLimits) -> Self {
        INSTANCES.fetch_add(1, Ordering::Relaxed);
        TrackedLimits { inner, held: 0, pending: 0 }
    }
}

impl Drop for TrackedLimits {
    fn drop(&mut self) {
        INSTANCES.fetch_sub(1, Ordering::Relaxed);
        MEMORY_BYTES.fetch_sub(self.held, Ordering::Relaxed);
    }
}

impl ResourceLimiter for TrackedLimits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            // Memories are created at size 0 and grown to their initial size, so every byte
            // passes through here.
            self.pending = desired.saturating_sub(current) as u64;
            self.held += self.pending;
            MEMORY_BYTES.fetch_add(self.pending, Ordering::Relaxed);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        self.held -= pending;
        MEMORY_BYTES.fetch_sub(pending, Ordering::Relaxed);
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}
