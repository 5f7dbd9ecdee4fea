//! The states of jobs and of their subtasks, with Flink's names (`JobStatus`,
//! `ExecutionState`), shared by the JobManager, the TaskManagers and the REST API.

use serde::{Deserialize, Serialize};

/// A job's status, in Flink's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Flink's `INITIALIZING`: the job was submitted and its JobMaster is being set up.
    Initializing,
    /// Flink's `CREATED`: the job exists but none of its tasks has been scheduled.
    Created,
    /// Flink's `RUNNING`: its tasks are being deployed or run.
    Running,
    /// Flink's `FAILING`: a task failed and the others are being cancelled.
    Failing,
    /// Flink's `FAILED`: the job failed and will not be restarted (terminal).
    Failed,
    /// Flink's `CANCELLING`: the job's tasks are being cancelled.
    Cancelling,
    /// Flink's `CANCELED`: the job was cancelled (terminal).
    Canceled,
    /// Flink's `FINISHED`: every task finished (terminal).
    Finished,
    /// Flink's `RESTARTING`: after a failure, the job waits to be redeployed by its restart strategy.
    Restarting,
    /// Flink's `SUSPENDED`: stopped but kept for an HA recovery; Weir never enters it.
    Suspended,
    /// Flink's `RECONCILING`: after a JobManager failover, waiting for its tasks' reports; Weir never enters it.
    Reconciling,
}

impl JobStatus {
    /// Every status, in Flink's order (the REST API reports when the job entered each).
    pub const ALL: [JobStatus; 11] = [
        JobStatus::Initializing,
        JobStatus::Created,
        JobStatus::Running,
        JobStatus::Failing,
        JobStatus::Failed,
        JobStatus::Cancelling,
        JobStatus::Canceled,
        JobStatus::Finished,
        JobStatus::Restarting,
        JobStatus::Suspended,
        JobStatus::Reconciling,
    ];

    /// The name on the wire (`RUNNING`).
    pub fn name(&self) -> &'static str {
        match self {
            JobStatus::Initializing => "INITIALIZING",
            JobStatus::Created => "CREATED",
            JobStatus::Running => "RUNNING",
            JobStatus::Failing => "FAILING",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelling => "CANCELLING",
            JobStatus::Canceled => "CANCELED",
            JobStatus::Finished => "FINISHED",
            JobStatus::Restarting => "RESTARTING",
            JobStatus::Suspended => "SUSPENDED",
            JobStatus::Reconciling => "RECONCILING",
        }
    }

    /// FINISHED, CANCELED and FAILED: the job will not change again.
    pub fn is_globally_terminal(&self) -> bool {
        matches!(self, JobStatus::Finished | JobStatus::Canceled | JobStatus::Failed)
    }
}

/// A subtask's state, in Flink's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionState {
    /// Flink's `CREATED`: the subtask exists but is not scheduled yet.
    Created,
    /// Flink's `SCHEDULED`: the subtask has a slot and waits to be deployed.
    Scheduled,
    /// Flink's `DEPLOYING`: the subtask is being sent to its TaskManager.
    Deploying,
    /// Flink's `RUNNING`: the task processes records.
    Running,
    /// Flink's `FINISHED`: the task reached the end of its input (terminal).
    Finished,
    /// Flink's `CANCELING`: the task was told to cancel and has not stopped yet.
    Canceling,
    /// Flink's `CANCELED`: the task was cancelled (terminal).
    Canceled,
    /// Flink's `FAILED`: the task failed (terminal).
    Failed,
    /// Flink's `RECONCILING`: a TaskManager has yet to report the task after a failover; Weir never enters it.
    Reconciling,
    /// Flink's `INITIALIZING`: the task is deployed and restores its state before it runs.
    Initializing,
}

impl ExecutionState {
    /// Every state, in Flink's order (the REST API counts a vertex's subtasks per state).
    pub const ALL: [ExecutionState; 10] = [
        ExecutionState::Created,
        ExecutionState::Scheduled,
        ExecutionState::Deploying,
        ExecutionState::Running,
        ExecutionState::Finished,
        ExecutionState::Canceling,
        ExecutionState::Canceled,
        ExecutionState::Failed,
        ExecutionState::Reconciling,
        ExecutionState::Initializing,
    ];

    /// The name on the wire (`RUNNING`).
    pub fn name(&self) -> &'static str {
        match self {
            ExecutionState::Created => "CREATED",
            ExecutionState::Scheduled => "SCHEDULED",
            ExecutionState::Deploying => "DEPLOYING",
            ExecutionState::Running => "RUNNING",
            ExecutionState::Finished => "FINISHED",
            ExecutionState::Canceling => "CANCELING",
            ExecutionState::Canceled => "CANCELED",
            ExecutionState::Failed => "FAILED",
            ExecutionState::Reconciling => "RECONCILING",
            ExecutionState::Initializing => "INITIALIZING",
        }
    }

    /// FINISHED, CANCELED and FAILED: the subtask will not change again.
    pub fn is_terminal(&self) -> bool {
        matches!(self, ExecutionState::Finished | ExecutionState::Canceled | ExecutionState::Failed)
    }

    /// The state a vertex shows for its subtasks' states (Flink's
    /// `ExecutionJobVertex.getAggregateExecutionState`).
    pub fn aggregate(states: impl IntoIterator<Item = ExecutionState>) -> ExecutionState {
        let mut counts = [0usize; 10];
        let mut total = 0;
        for s in states {
            counts[s as usize] += 1;
            total += 1;
        }
        let n = |s: ExecutionState| counts[s as usize];
        if total == 0 {
            return ExecutionState::Created;
        }
        if n(ExecutionState::Finished) == total {
            ExecutionState::Finished
        } else if n(ExecutionState::Canceling) > 0 {
            ExecutionState::Canceling
        } else if n(ExecutionState::Canceled) > 0 {
            ExecutionState::Canceled
        } else if n(ExecutionState::Failed) > 0 {
            ExecutionState::Failed
        } else if n(ExecutionState::Running) > 0 {
            ExecutionState::Running
        } else if n(ExecutionState::Initializing) > 0 {
            ExecutionState::Initializing
        } else if n(ExecutionState::Deploying) > 0 {
            ExecutionState::Deploying
        } else if n(ExecutionState::Scheduled) > 0 {
            ExecutionState::Scheduled
        } else if n(ExecutionState::Finished) > 0 {
            ExecutionState::Running
        } else {
            ExecutionState::Created
        }
    }
}

/// Milliseconds since the epoch, now (the wall clock: a test's processing-time offset does not
/// shift job timestamps).
pub fn now_ms() -> i64 {
    crate::timer::wall_clock_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aggregates() {
        assert_eq!(serde_json::to_string(&JobStatus::Running).unwrap(), "\"RUNNING\"");
        assert_eq!(serde_json::to_string(&ExecutionState::Initializing).unwrap(), "\"INITIALIZING\"");
        assert_eq!(
            ExecutionState::aggregate([ExecutionState::Running, ExecutionState::Scheduled]),
            ExecutionState::Running
        );
        assert_eq!(ExecutionState::aggregate([ExecutionState::Scheduled; 3]), ExecutionState::Scheduled);
        assert_eq!(
            ExecutionState::aggregate([ExecutionState::Finished, ExecutionState::Finished]),
            ExecutionState::Finished
        );
        assert_eq!(
            ExecutionState::aggregate([ExecutionState::Failed, ExecutionState::Running]),
            ExecutionState::Failed
        );
    }
}
