//! Hot-swap upgrades, the task's side: the new code a TaskManager staged for a task, and the
//! swap itself once the upgrade barrier has passed.
//!
//! The JobManager first has every TaskManager involved compile and pre-link the new component
//! and stage it with its tasks ([`UpgradeMailbox`]); only then does it trigger the upgrade
//! barrier. A task that has aligned on that barrier snapshots as for any
//! checkpoint, passes the barrier on, and then swaps: a new instance of the new component gets
//! the old instance's host services (keyed state, timers, output, metrics) and is opened; the
//! old instance is dropped. So the barrier only swaps, and the state stays where it is.
//!
//! A barrier can be held up for minutes behind a backpressured operator's queued input. Then
//! the JobManager has the tasks swap at once ([`UpgradeMailbox::swap_now`]): each operator
//! swaps between two guest calls, ahead of its queue ([`GuestOperator::swap_if_requested`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::TaskContext;
use super::guest::GuestOperator;
use weir_core::jobgraph::JobGraph;
use weir_wasm::JobComponent;

/// New code for some of a job's operators, compiled and pre-linked on this TaskManager.
#[derive(Debug)]
pub struct StagedUpgrade {
    /// The upgrade's request id, for logs.
    pub id: String,
    /// The new component.
    pub component: JobComponent,
    /// The job graph after the upgrade: same vertices, in the same order, with the swapped
    /// operators' new names, functions and configurations.
    pub graph: Arc<JobGraph>,
    /// The uids of the operators that swap.
    pub operators: Vec<String>,
}

impl StagedUpgrade {
    /// True if the task's operator is one that swaps.
    pub fn concerns(&self, ctx: &TaskContext) -> bool {
        self.operators.iter().any(|uid| *uid == ctx.vertex().uid)
    }
}

/// The checkpoint id a swap reports when it happened at once rather than at the barrier.
pub const IMMEDIATE: u64 = 0;

/// Where a TaskManager leaves an upgrade for a task: the staged code, and a flag asking the task
/// to swap at once. Shared rather than sent, so that a task busy with a long batch still finds it
/// between two guest calls.
#[derive(Debug, Default)]
pub struct UpgradeMailbox {
    staged: Mutex<Option<Arc<StagedUpgrade>>>,
    swap_now: AtomicBool,
}

impl UpgradeMailbox {
    /// Leaves `staged` for the task, replacing whatever was staged before (an upgrade that was
    /// given up is never swapped to).
    pub fn stage(&self, staged: Arc<StagedUpgrade>) {
        *self.staged.lock().unwrap_or_else(|e| e.into_inner()) = Some(staged);
        self.swap_now.store(false, Ordering::Release);
    }

    /// Asks the task to swap to upgrade `id` at once, if it is the one staged.
    pub fn swap_now(&self, id: &str) {
        let staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
        if staged.as_ref().is_some_and(|s| s.id == id) {
            self.swap_now.store(true, Ordering::Release);
        }
    }

    /// Takes the staged upgrade, if it concerns the task's operator.
    fn take(&self, ctx: &TaskContext) -> Option<Arc<StagedUpgrade>> {
        self.swap_now.store(false, Ordering::Release);
        let staged = self.staged.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        staged.concerns(ctx).then_some(staged)
    }
}

impl GuestOperator {
    /// At the upgrade barrier `checkpoint` (or [`IMMEDIATE`]): swaps to the staged code, if any,
    /// and tells the listener how it went. A swap that fails leaves the old code running; the
    /// JobManager then rolls the whole job back.
    pub fn swap_staged(&mut self, checkpoint: u64) {
        let Some(staged) = self.context().upgrade.take(self.context()) else { return };
        let started = std::time::Instant::now();
        let result = self.swap(&staged);
        let ctx = self.context();
        match result {
            Ok(()) => {
                tracing::info!(
                    task = ctx.name(),
                    upgrade = staged.id,
                    component = &staged.component.hash()[..12],
                    at = if checkpoint == IMMEDIATE { "once" } else { "the barrier" },
                    took = ?started.elapsed(),
                    "swapped to the new code"
                );
                ctx.listener.swapped(checkpoint, None);
            }
            Err(error) => {
                tracing::warn!(task = ctx.name(), upgrade = staged.id, %error, "the new code failed to start; the old code runs on");
                ctx.listener.swapped(checkpoint, Some(error.to_string()));
            }
        }
    }

    /// Swaps at once if the JobManager asked for it (the upgrade barrier is held up behind the
    /// queued input): called between guest calls, so even a task working through a long
    /// backlog swaps within one call's time.
    pub fn swap_if_requested(&mut self) {
        if self.context().upgrade.swap_now.load(Ordering::Acquire) {
            self.swap_staged(IMMEDIATE);
        }
    }
}
