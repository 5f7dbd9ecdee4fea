//! `wasi:io/poll` within the sandbox's time limit: WASI's own implementation blocks for as long
//! as the guest asks (a `subscribe-duration` of years, `std::thread::sleep` in a Rust guest),
//! out of reach of the epoch that enforces the per-call time limit and of cancellation. This
//! one waits in slices, and stops the wait, trapping, when the call's time limit or the
//! instance's deadline is reached or the task is cancelled.
//!
//! Time waiting here counts as computing: unlike `weir:job/time.sleep`, a WASI wait is not
//! something the host can tell apart from work (it may be a busy poll loop).

use std::future::Future;
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::io::poll as async_poll;
use wasmtime_wasi::p2::bindings::sync::io::poll as sync_poll;
use wasmtime_wasi::runtime::in_tokio;

use crate::host::{HostState, HostTrap, trap};
use weir_core::cancel::CancelToken;

/// How often a wait checks for cancellation.
const SLICE: Duration = Duration::from_millis(10);

/// Waits for `wait` (made from the instance's resource table) for at most `budget`, waking
/// every [`SLICE`] to check for cancellation; `None` if it was stopped.
fn within<'t, R, F>(
    table: &'t mut ResourceTable,
    budget: Duration,
    cancel: &CancelToken,
    wait: impl FnOnce(&'t mut ResourceTable) -> F,
) -> Option<wasmtime::Result<R>>
where
    F: Future<Output = wasmtime::Result<R>>,
{
    let started = Instant::now();
    in_tokio(async move {
        let wait = wait(table);
        tokio::pin!(wait);
        loop {
            let left = budget.saturating_sub(started.elapsed());
            if left.is_zero() || cancel.is_cancelled() {
                return None;
            }
            if let Ok(result) = tokio::time::timeout(left.min(SLICE), &mut wait).await {
                return Some(result);
            }
        }
    })
}

/// The wait's result, or the trap that stopped it.
fn outcome<R>(host: &HostState, waited: Option<wasmtime::Result<R>>) -> wasmtime::Result<R> {
    match waited {
        Some(result) => result,
        None => {
            host.interrupted().map_err(trap)?;
            // Out of time by the budget's measure, a hair before the clock's.
            Err(trap(HostTrap::TimeLimit(host.call_time)))
        }
    }
}

impl sync_poll::Host for HostState {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        let (budget, cancel) = (self.wait_budget(), self.cancel.clone());
        let waited = within(&mut self.table, budget, &cancel, |table| async_poll::Host::poll(table, pollables));
        outcome(self, waited)
    }
}

impl sync_poll::HostPollable for HostState {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        // Never blocks: it polls the readiness once.
        in_tokio(async_poll::HostPollable::ready(&mut self.table, pollable))
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        let (budget, cancel) = (self.wait_budget(), self.cancel.clone());
        let waited = within(&mut self.table, budget, &cancel, |table| async_poll::HostPollable::block(table, pollable));
        outcome(self, waited)
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(&mut self.table, pollable)
    }
}

/// Links `wasi:io/poll` over WASI's own (the linker must allow shadowing).
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    sync_poll::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}
