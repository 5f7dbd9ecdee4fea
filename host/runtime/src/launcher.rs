//! The one place a subtask's thread is started: local runs ([`crate::minicluster`]) and
//! TaskManagers both launch through [`launch`], so a task fails, cancels its job's other tasks
//! and reports its end the same way wherever it runs.

use std::thread::JoinHandle;

use weir_core::execution::ExecutionState;
use weir_network::InputGate;
use weir_network::wiring::TaskChannels;

use crate::task::{self, TaskContext, TaskError, TaskOutcome, TaskResources};

/// How a subtask ended, in Flink's execution states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// FINISHED, CANCELED or FAILED.
    pub state: ExecutionState,
    /// Why it failed (also set for a channel error during cancellation).
    pub failure: Option<String>,
    /// The failure only follows another task's: a channel partner went away. Whoever collects
    /// failures prefers another task's as the root cause.
    pub consequence: bool,
}

impl Ending {
    /// Classifies a task's result. `cancelled_before`: the job was being cancelled when the
    /// task ended, so a channel partner going away is part of cancelling, not a failure.
    pub fn of(result: &Result<TaskOutcome, TaskError>, cancelled_before: bool) -> Ending {
        match result {
            Ok(TaskOutcome::Finished) => Ending { state: ExecutionState::Finished, failure: None, consequence: false },
            Ok(TaskOutcome::Cancelled) => Ending { state: ExecutionState::Canceled, failure: None, consequence: false },
            Err(error) => {
                let state = if error.is_consequence() && cancelled_before {
                    ExecutionState::Canceled
                } else {
                    ExecutionState::Failed
                };
                Ending { state, failure: Some(error.to_string()), consequence: error.is_consequence() }
            }
        }
    }
}

/// Starts `ctx`'s subtask on a thread of its own, named after the subtask. When the task ends,
/// a failure is logged (unless it only follows another task's), `on_end` hears how it ended,
/// then after a failure the tasks sharing `ctx.cancel` are cancelled; then the thread returns
/// the result.
pub fn launch(
    ctx: TaskContext,
    resources: TaskResources,
    channels: TaskChannels,
    on_end: impl FnOnce(&TaskContext, Ending) + Send + 'static,
) -> std::io::Result<JoinHandle<Result<TaskOutcome, TaskError>>> {
    let name = ctx.name();
    std::thread::Builder::new().name(name).spawn(move || {
        // Thread dumps show the subtask's full name, not the kernel's 15 bytes of it.
        let _named = weir_core::threads::register_current();
        let result = task::run(&ctx, &resources, InputGate::new(channels.inputs), channels.edges);
        let cancelled_before = ctx.cancel.is_cancelled();
        match &result {
            Ok(outcome) => tracing::debug!(task = ctx.name(), ?outcome, "task ended"),
            Err(error) if !error.is_consequence() => tracing::error!(task = ctx.name(), %error, "task failed"),
            Err(_) => {}
        }
        // Reported before the others are stopped: their endings ("cancelled") follow this one,
        // so whoever collects failures hears the root cause first.
        on_end(&ctx, Ending::of(&result, cancelled_before));
        if result.is_err() {
            // One failed task fails the job: stop the others that share its token.
            ctx.cancel.cancel();
        }
        result
    })
}
