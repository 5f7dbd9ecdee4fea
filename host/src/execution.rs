//! The states of jobs and of their subtasks, with Flink's names (`JobStatus`,
//! `ExecutionState`), shared by the JobManager, the TaskManagers and the REST API.

use serde::{Deserialize, Serialize};

/// A job's status, in Flink's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Initializing,
    Created,
    Running,
    Failing,
    Failed,
    Cancelling,
    Canceled,
    Finished,
    Restarting,
    Suspended,
    Reconciling,
}

impl JobStatus {
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
    Created,
    Scheduled,
    Deploying,
    Running,
    Finished,
    Canceling,
    Canceled,
    Failed,
    Reconciling,
    Initializing,
}

impl ExecutionState {
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

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    crate::timer::processing_time_now()
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
