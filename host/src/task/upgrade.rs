//! Hot-swap upgrades, the task's side: the new code a TaskManager staged for a task, and the
//! swap itself once the upgrade barrier has passed.
//!
//! The JobManager first has every TaskManager involved compile and pre-link the new component
//! and stage it with the tasks it concerns ([`TaskCommand::StageUpgrade`]); only then does it
//! trigger the upgrade barrier. A task that has aligned on that barrier snapshots as for any
//! checkpoint, passes the barrier on, and then swaps: a new instance of the new component gets
//! the old instance's host services (keyed state, timers, output, metrics) and is opened; the
//! old instance is dropped. So the barrier only swaps, and the state stays where it is.
//!
//! [`TaskCommand::StageUpgrade`]: crate::checkpoint::TaskCommand::StageUpgrade

use std::sync::Arc;

use super::TaskContext;
use super::guest::GuestOperator;
use crate::component::JobComponent;
use crate::jobgraph::JobGraph;

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

/// The upgrade a task holds until its upgrade barrier.
#[derive(Default)]
pub(crate) struct UpgradeSlot(Option<Arc<StagedUpgrade>>);

impl UpgradeSlot {
    /// Keeps `staged` if it concerns this task (a newer staging replaces an older one).
    pub fn stage(&mut self, ctx: &TaskContext, staged: Arc<StagedUpgrade>) {
        if staged.concerns(ctx) {
            tracing::debug!(task = ctx.name(), upgrade = staged.id, "upgrade staged");
            self.0 = Some(staged);
        }
    }

    /// At the upgrade barrier `checkpoint`: swaps `op` to the staged code, if any, and tells the
    /// listener how it went. A swap that fails leaves the old code running; the JobManager then
    /// rolls the whole job back to the barrier's snapshot.
    pub fn swap(&mut self, ctx: &TaskContext, op: &mut GuestOperator, checkpoint: u64) {
        let Some(staged) = self.0.take() else { return };
        let started = std::time::Instant::now();
        match op.swap(&staged) {
            Ok(()) => {
                tracing::info!(
                    task = ctx.name(),
                    upgrade = staged.id,
                    component = &staged.component.hash()[..12],
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
}
