//! The control channel between the JobManager and its TaskManagers (Flink's RPC): one TCP
//! connection per TaskManager, carrying length-prefixed JSON messages both ways.
//!
//! A TaskManager opens it, registers with its slots and data address, then heartbeats with
//! its tasks' metrics and reports task state changes; the JobManager deploys and cancels
//! tasks over it. A dropped connection is a lost TaskManager.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::checkpoint::{BarrierKind, RestorePoint, SubtaskSnapshot};
use crate::execution::ExecutionState;
use crate::jobgraph::{Id, JobGraph};

/// Messages are refused beyond this size (a corrupt or hostile peer).
const MAX_MESSAGE: usize = 256 << 20;

/// The machine a TaskManager runs on.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Hardware {
    pub cpu_cores: u32,
    pub physical_memory: u64,
    pub free_memory: u64,
}

/// One task's metrics, as a TaskManager reports them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskReport {
    pub job: Id,
    pub vertex: usize,
    pub subtask: u32,
    /// The job's execution attempt the task belongs to: reports of an older one are stale.
    pub attempt: u32,
    pub metrics: Vec<(String, f64)>,
}

/// What a TaskManager tells the JobManager. A heartbeat carries the tasks' metrics and the
/// TaskManager's own (`metrics`; `None` in the extra report a task sends as it ends).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToJobManager {
    Register {
        id: String,
        data_address: String,
        slots: u32,
        hardware: Hardware,
    },
    Heartbeat {
        tasks: Vec<TaskReport>,
        hardware: Hardware,
        metrics: Option<Vec<(String, f64)>>,
    },
    TaskState {
        job: Id,
        vertex: usize,
        subtask: u32,
        attempt: u32,
        state: ExecutionState,
        failure: Option<String>,
    },
    AcknowledgeCheckpoint {
        job: Id,
        vertex: usize,
        subtask: u32,
        checkpoint: u64,
        snapshot: SubtaskSnapshot,
    },
    DeclineCheckpoint {
        job: Id,
        checkpoint: u64,
        reason: String,
    },
    /// The upgrade's new component is compiled and staged with the tasks here (or, with a
    /// `failure`, could not be).
    UpgradePrepared {
        job: Id,
        upgrade: String,
        failure: Option<String>,
    },
    /// A task swapped to the new code at upgrade barrier `checkpoint` (or, with a `failure`,
    /// the new code did not start and the old code runs on).
    Swapped {
        job: Id,
        vertex: usize,
        subtask: u32,
        attempt: u32,
        checkpoint: u64,
        failure: Option<String>,
    },
}

/// Where the subtasks of a job run: the TaskManagers involved and, per vertex and subtask,
/// which of them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Placement {
    /// Data addresses of the TaskManagers, by index.
    pub addresses: Vec<String>,
    /// `hosts[vertex][subtask]` is an index into `addresses`.
    pub hosts: Vec<Vec<usize>>,
}

/// What a TaskManager must run of a job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Deployment {
    pub graph: JobGraph,
    /// The job's components by content hash, hex encoded.
    pub components: std::collections::BTreeMap<String, String>,
    /// The hash of the component each vertex runs, by vertex index (after an upgrade of some
    /// operators, a job's vertices may run different components).
    pub vertex_components: Vec<String>,
    pub placement: Placement,
    /// This TaskManager's index in `placement.addresses`.
    pub local: usize,
    /// Which execution of the job this is (0, then one more per restart).
    pub attempt: u32,
    /// The checkpoint or savepoint to start from.
    pub restore: Option<RestorePoint>,
}

/// What the JobManager tells a TaskManager.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToTaskManager {
    Registered,
    Rejected {
        reason: String,
    },
    Deploy(Box<Deployment>),
    CancelJob {
        job: Id,
    },
    /// Sources `tasks` (vertex, subtask) of the job start checkpoint `checkpoint`.
    TriggerCheckpoint {
        job: Id,
        checkpoint: u64,
        kind: BarrierKind,
        location: String,
        tasks: Vec<(usize, u32)>,
    },
    CheckpointComplete {
        job: Id,
        checkpoint: u64,
    },
    /// Compile `component` (hex encoded) and stage it with the job's tasks of `operators`
    /// (uids), which swap to it at the next upgrade barrier; `graph` is the job after it.
    PrepareUpgrade {
        job: Id,
        upgrade: String,
        component: String,
        graph: Box<JobGraph>,
        operators: Vec<String>,
    },
    /// The upgrade barrier is stuck behind queued input (a backpressured operator): the tasks
    /// that staged `upgrade` and have not swapped yet swap now.
    SwapNow {
        job: Id,
        upgrade: String,
    },
}

/// Why a message could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("message of {0} bytes is too large")]
    TooLarge(usize),
}

/// Writes one message.
pub async fn write<T: Serialize>(out: &mut (impl AsyncWriteExt + Unpin), message: &T) -> Result<(), RpcError> {
    let bytes = serde_json::to_vec(message)?;
    out.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    out.write_all(&bytes).await?;
    out.flush().await?;
    Ok(())
}

/// Reads one message; `None` when the peer closed the connection.
pub async fn read<T: DeserializeOwned>(input: &mut (impl AsyncReadExt + Unpin)) -> Result<Option<T>, RpcError> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(RpcError::TooLarge(len));
    }
    let mut bytes = vec![0u8; len];
    input.read_exact(&mut bytes).await?;
    Ok(Some(serde_json::from_slice(&bytes)?))
}

/// The machine this process runs on.
pub fn hardware() -> Hardware {
    let cpu_cores = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
    // SAFETY: sysinfo only writes into the struct we pass.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    let (physical_memory, free_memory) = if unsafe { libc::sysinfo(&mut info) } == 0 {
        let unit = info.mem_unit as u64;
        (info.totalram as u64 * unit, (info.freeram as u64 + info.bufferram as u64) * unit)
    } else {
        (0, 0)
    };
    Hardware { cpu_cores, physical_memory, free_memory }
}
