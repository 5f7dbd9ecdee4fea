//! The control channel between the JobManager and its TaskManagers (Flink's RPC): one TCP
//! connection per TaskManager, carrying length-prefixed JSON messages both ways.
//!
//! A TaskManager opens it, registers with its slots and data address, then heartbeats with
//! its tasks' metrics and reports task state changes; the JobManager deploys and cancels
//! tasks over it. A dropped connection is a lost TaskManager.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use weir_core::checkpoint::{BarrierKind, RestorePoint, SubtaskSnapshot};
use weir_core::execution::ExecutionState;
use weir_core::framing::{self, Framing, FramingError, Prefix};
use weir_core::jobgraph::{Id, JobGraph};

/// A message: a big-endian u32 length and the JSON, refused beyond 256 MiB by the sender and
/// the receiver alike (a corrupt or hostile peer).
const MESSAGE: Framing = Framing::new("an RPC message's length", Prefix::U32Be, 256 << 20);

/// A registration, the first message on a connection: small, so a peer that has not registered
/// cannot make the JobManager hold much.
const REGISTRATION: Framing = Framing::new("a registration's length", Prefix::U32Be, 64 << 10);

/// The longest TaskManager ID or data address a registration may carry, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// How long a peer may take over the TLS handshake of the control channel.
pub const HANDSHAKE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The machine a TaskManager runs on.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Hardware {
    /// The CPU cores available to the process.
    pub cpu_cores: u32,
    /// The machine's total RAM, in bytes (0 if unknown).
    pub physical_memory: u64,
    /// The machine's free plus buffer RAM, in bytes (0 if unknown).
    pub free_memory: u64,
}

/// One task's metrics, as a TaskManager reports them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskReport {
    /// The job the task belongs to.
    pub job: Id,
    /// The index of the task's vertex in the job graph.
    pub vertex: usize,
    /// The subtask's index within its vertex (0-based).
    pub subtask: u32,
    /// The job's execution attempt the task belongs to: reports of an older one are stale.
    pub attempt: u32,
    /// The task's metrics as (Flink metric name, value) pairs.
    pub metrics: Vec<(String, f64)>,
}

/// What a TaskManager tells the JobManager. A heartbeat carries the tasks' metrics and the
/// TaskManager's own (`metrics`; `None` in the extra report a task sends as it ends).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToJobManager {
    /// The first message on a connection: the TaskManager offers its slots.
    Register {
        /// The TaskManager's resource ID, unique in the cluster.
        id: String,
        /// Where other TaskManagers reach its data server (`host:port`).
        data_address: String,
        /// How many task slots it offers.
        slots: u32,
        /// The machine it runs on.
        hardware: Hardware,
    },
    /// The periodic sign of life, with the metrics of everything running there.
    Heartbeat {
        /// The metrics of each task running on the TaskManager.
        tasks: Vec<TaskReport>,
        /// The machine, with its current free memory.
        hardware: Hardware,
        /// The TaskManager's own metrics as (name, value) pairs; `None` in a task's final report.
        metrics: Option<Vec<(String, f64)>>,
    },
    /// A task moved to a new execution state (running, finished, failed, canceled).
    TaskState {
        /// The job the task belongs to.
        job: Id,
        /// The index of the task's vertex in the job graph.
        vertex: usize,
        /// The subtask's index within its vertex (0-based).
        subtask: u32,
        /// The job's execution attempt the task belongs to.
        attempt: u32,
        /// The state the task entered.
        state: ExecutionState,
        /// The root cause, when the task failed.
        failure: Option<String>,
        /// The failure only follows another task's (a channel partner went away).
        #[serde(default)]
        consequence: bool,
    },
    /// A task took its part of a checkpoint.
    AcknowledgeCheckpoint {
        /// The job the checkpoint belongs to.
        job: Id,
        /// The index of the task's vertex in the job graph.
        vertex: usize,
        /// The subtask's index within its vertex (0-based).
        subtask: u32,
        /// The checkpoint's ID.
        checkpoint: u64,
        /// Where the task wrote its state and what its sources and sinks must restore.
        snapshot: Box<SubtaskSnapshot>,
    },
    /// A task could not take its part of a checkpoint, which therefore fails.
    DeclineCheckpoint {
        /// The job the checkpoint belongs to.
        job: Id,
        /// The checkpoint's ID.
        checkpoint: u64,
        /// Why the task declined.
        reason: String,
    },
    /// The upgrade's new component is compiled and staged with the tasks here (or, with a
    /// `failure`, could not be).
    UpgradePrepared {
        /// The job being upgraded.
        job: Id,
        /// The upgrade's ID.
        upgrade: String,
        /// Why the component could not be compiled or staged, if it could not.
        failure: Option<String>,
    },
    /// A task swapped to the new code at upgrade barrier `checkpoint` (or, with a `failure`,
    /// the new code did not start and the old code runs on).
    Swapped {
        /// The job being upgraded.
        job: Id,
        /// The index of the task's vertex in the job graph.
        vertex: usize,
        /// The subtask's index within its vertex (0-based).
        subtask: u32,
        /// The job's execution attempt the task belongs to.
        attempt: u32,
        /// The ID of the upgrade barrier at which the task swapped.
        checkpoint: u64,
        /// Why the new code did not start, if it did not.
        failure: Option<String>,
    },
    /// Send the component of content `hash` (Flink's BlobServer: a TaskManager fetches a
    /// component once, the first time a deployment or upgrade names one it has not compiled).
    FetchComponent {
        /// The component's SHA-256, hex encoded.
        hash: String,
    },
    /// The answer to the JobManager's [`ToTaskManager::Request`] of the same `id`.
    Response {
        /// The request's ID.
        id: u64,
        /// What the TaskManager found.
        response: Response,
    },
}

/// What the JobManager asks a TaskManager about itself, for the REST API (Flink's
/// `TaskExecutorGateway` requests for logs and thread dumps).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Request {
    /// The TaskManager's log files.
    LogList,
    /// One log file by name, from byte `start` (at most `logs::MAX_READ` bytes).
    Log {
        /// The file's name, as the list gave it.
        name: String,
        /// Where to start reading.
        start: u64,
    },
    /// The TaskManager's threads.
    ThreadDump,
    /// Sample the guest stacks of the job's vertex's subtasks here for `millis` milliseconds
    /// (the TaskManager caps it), for a flame graph.
    SampleStacks {
        /// The job's ID.
        job: String,
        /// The vertex's index in the job graph.
        vertex: usize,
        /// Only this subtask (all of the vertex's here when absent).
        subtask: Option<u32>,
        /// How long to sample.
        millis: u64,
    },
}

/// A TaskManager's answer to a [`Request`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Response {
    /// Its log files.
    LogList(Vec<crate::logs::LogFile>),
    /// Part of a log file.
    Log(crate::logs::LogPart),
    /// Its threads.
    ThreadDump(Vec<crate::thread_dump::ThreadInfo>),
    /// The guest stacks sampled, each with how often it was seen.
    Stacks(Vec<StackSample>),
    /// The request could not be answered (no such log file, say).
    Failed {
        /// Why not.
        reason: String,
        /// The thing asked for does not exist (a 404 rather than a 500).
        not_found: bool,
    },
}

/// A guest stack seen `count` times by a flame-graph sampling.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StackSample {
    /// Function names, outermost first.
    pub frames: Vec<String>,
    /// How many samples saw it.
    pub count: u64,
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
    /// The job graph, of which this TaskManager runs the subtasks `placement` puts here.
    pub graph: JobGraph,
    /// The hash of the component each vertex runs, by vertex index (after an upgrade of some
    /// operators, a job's vertices may run different components).
    pub vertex_components: Vec<String>,
    /// Where every subtask of the job runs, so channels to other TaskManagers can be wired.
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
    /// The registration was accepted; heartbeats may start.
    Registered,
    /// The registration was refused; the connection closes.
    Rejected {
        /// Why the JobManager refused it.
        reason: String,
    },
    /// The JobManager no longer counts this TaskManager (its heartbeats timed out while the
    /// connection stayed open: a paused process or machine). Its tasks have been failed over,
    /// so it cancels them and registers again, as Flink's TaskExecutor does when the
    /// ResourceManager disconnects it.
    Disconnect {
        /// Why the JobManager let it go.
        reason: String,
    },
    /// Run the subtasks of a job placed on this TaskManager.
    Deploy(Box<Deployment>),
    /// Cancel every task of a job running here.
    CancelJob {
        /// The job to cancel.
        job: Id,
    },
    /// Sources `tasks` (vertex, subtask) of the job start checkpoint `checkpoint`.
    TriggerCheckpoint {
        /// The job to checkpoint.
        job: Id,
        /// The checkpoint's ID.
        checkpoint: u64,
        /// Checkpoint, savepoint, stop-with-savepoint or upgrade barrier.
        kind: BarrierKind,
        /// The directory the tasks write their state into.
        location: String,
        /// The source subtasks to inject the barrier, as (vertex index, subtask index).
        tasks: Vec<(usize, u32)>,
        /// How a savepoint's keyed state is written.
        #[serde(default)]
        format: weir_core::checkpoint::SnapshotFormat,
    },
    /// Every task acknowledged the checkpoint: sinks may commit their transactions.
    CheckpointComplete {
        /// The job the checkpoint belongs to.
        job: Id,
        /// The completed checkpoint's ID.
        checkpoint: u64,
    },
    /// Compile the component of content `component` and stage it with the job's tasks of
    /// `operators` (uids), which swap to it at the next upgrade barrier; `graph` is the job after it.
    PrepareUpgrade {
        /// The job being upgraded.
        job: Id,
        /// The upgrade's ID.
        upgrade: String,
        /// The new component's SHA-256, hex encoded (fetched with `FetchComponent` if need be).
        component: String,
        /// The job graph after the upgrade.
        graph: Box<JobGraph>,
        /// The uids of the operators that swap to the new component.
        operators: Vec<String>,
    },
    /// The upgrade barrier is stuck behind queued input (a backpressured operator): the tasks
    /// that staged `upgrade` and have not swapped yet swap now.
    SwapNow {
        /// The job being upgraded.
        job: Id,
        /// The upgrade's ID.
        upgrade: String,
    },
    /// The answer to [`ToJobManager::FetchComponent`]: the bytes, hex encoded, or why not.
    Component {
        /// The SHA-256 asked for.
        hash: String,
        /// The component's bytes, hex encoded.
        component: Option<String>,
        /// Why the JobManager cannot send it.
        failure: Option<String>,
    },
    /// Answer `request` with a [`ToJobManager::Response`] of the same `id`.
    Request {
        /// The request's ID, unique within the JobManager.
        id: u64,
        /// What the JobManager asks.
        request: Request,
    },
}

/// Why a message could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The TCP connection failed or closed mid-message.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// A message is not valid JSON for the expected type (or could not be serialized).
    #[error("malformed message: {0}")]
    Json(#[from] serde_json::Error),
    /// A message's length, sent or declared, exceeds the framing's limit of 256 MiB, or the
    /// connection ended inside a message.
    #[error(transparent)]
    Framing(#[from] FramingError),
}

/// Writes one message; one over the limit is refused before anything is sent.
pub async fn write<T: Serialize>(out: &mut (impl AsyncWriteExt + Unpin), message: &T) -> Result<(), RpcError> {
    let bytes = serde_json::to_vec(message)?;
    let header = MESSAGE.header(bytes.len())?;
    out.write_all(header.as_bytes()).await?;
    out.write_all(&bytes).await?;
    out.flush().await?;
    Ok(())
}

/// Reads one message; `None` when the peer closed the connection. A declared length over the
/// limit is refused before anything is allocated for it, and the buffer grows only as the
/// message arrives.
pub async fn read<T: DeserializeOwned>(input: &mut (impl AsyncReadExt + Unpin)) -> Result<Option<T>, RpcError> {
    read_framed(input, MESSAGE).await
}

/// Reads a connection's first message, a registration, within its smaller limit (64 KiB).
pub async fn read_registration(input: &mut (impl AsyncReadExt + Unpin)) -> Result<Option<ToJobManager>, RpcError> {
    read_framed(input, REGISTRATION).await
}

/// Checks a registration's fields: an ID of printable ASCII, a `host:port` data address, both
/// at most [`MAX_NAME_BYTES`], and between 1 and `max_slots` slots
/// (`weir.jobmanager.max-slots-per-taskmanager`).
pub fn check_registration(id: &str, data_address: &str, slots: u32, max_slots: u32) -> Result<(), String> {
    let printable = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
    if id.is_empty() || id.len() > MAX_NAME_BYTES || !printable(id) {
        return Err(format!("a TaskManager ID must be 1 to {MAX_NAME_BYTES} printable ASCII characters"));
    }
    let port = data_address.rsplit_once(':').map(|(host, port)| (host, port.parse::<u16>()));
    if data_address.len() > MAX_NAME_BYTES
        || !printable(data_address)
        || !matches!(port, Some((host, Ok(_))) if !host.is_empty())
    {
        return Err(format!("a TaskManager's data address must be host:port, at most {MAX_NAME_BYTES} characters"));
    }
    if slots == 0 {
        return Err("a TaskManager needs at least one slot".into());
    }
    if slots > max_slots {
        return Err(format!(
            "a TaskManager may offer at most {max_slots} slots, not {slots} (weir.jobmanager.max-slots-per-taskmanager)"
        ));
    }
    Ok(())
}

/// Reads one message within `framing`'s limit.
async fn read_framed<T: DeserializeOwned>(
    input: &mut (impl AsyncReadExt + Unpin),
    framing: Framing,
) -> Result<Option<T>, RpcError> {
    let mut header = [0u8; 4];
    match input.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = framing.length(&header)?;
    let mut bytes = Vec::with_capacity(len.min(framing::READ_AHEAD));
    (&mut *input).take(len as u64).read_to_end(&mut bytes).await?;
    framing.complete(len, bytes.len())?;
    Ok(Some(serde_json::from_slice(&bytes)?))
}

/// The machine this process runs on.
pub fn hardware() -> Hardware {
    let cpu_cores =
        std::thread::available_parallelism().map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX)).unwrap_or(1);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_keep_their_big_endian_frame() {
        let mut out = Vec::new();
        write(&mut out, &ToTaskManager::Registered).await.unwrap();
        let json = serde_json::to_vec(&ToTaskManager::Registered).unwrap();
        assert_eq!(&out[..4], &u32::try_from(json.len()).unwrap().to_be_bytes());
        assert_eq!(&out[4..], &json[..]);
        let back: Option<ToTaskManager> = read(&mut &out[..]).await.unwrap();
        assert!(matches!(back, Some(ToTaskManager::Registered)));
        // A closed connection between messages is the end, not an error.
        assert!(read::<ToTaskManager>(&mut &[][..]).await.unwrap().is_none());
    }

    #[test]
    fn registrations_are_checked_field_by_field() {
        assert_eq!(check_registration("127.0.0.1:6121-ab12cd", "127.0.0.1:6121", 4, 1024), Ok(()));
        let refused = |id: &str, address: &str, slots: u32| check_registration(id, address, slots, 1024).unwrap_err();
        assert!(refused("tm", "127.0.0.1:6121", u32::MAX).contains("weir.jobmanager.max-slots-per-taskmanager"));
        assert!(refused("tm", "127.0.0.1:6121", 0).contains("at least one slot"));
        assert!(refused("", "127.0.0.1:6121", 1).contains("ID"));
        assert!(refused(&"x".repeat(MAX_NAME_BYTES + 1), "h:1", 1).contains("ID"));
        assert!(refused("tm\n", "h:1", 1).contains("ID"));
        for address in ["nowhere", ":1", "h:99999", "h:port", "h :1"] {
            assert!(refused("tm", address, 1).contains("data address"), "{address}");
        }
    }

    #[tokio::test]
    async fn registrations_are_read_within_their_small_limit() {
        let register = ToJobManager::Register {
            id: "tm".into(),
            data_address: "h:1".into(),
            slots: u32::MAX,
            hardware: Hardware::default(),
        };
        let mut out = Vec::new();
        write(&mut out, &register).await.unwrap();
        assert!(matches!(read_registration(&mut &out[..]).await, Ok(Some(ToJobManager::Register { .. }))));
        let declared = [0x00, 0x01, 0x00, 0x01, b'{'];
        let error = read_registration(&mut &declared[..]).await.unwrap_err();
        assert!(matches!(error, RpcError::Framing(FramingError::TooLarge { .. })), "{error:?}");
    }

    #[tokio::test]
    async fn oversized_or_truncated_messages_are_refused() {
        // Declared beyond the limit: refused after the four bytes of length.
        let declared = [0xff, 0xff, 0xff, 0xff, b'{'];
        let error = read::<ToTaskManager>(&mut &declared[..]).await.unwrap_err();
        assert!(matches!(error, RpcError::Framing(FramingError::TooLarge { len: 0xffff_ffff, .. })), "{error:?}");
        assert!(error.to_string().contains("an RPC message's length is 4294967295, over the limit of 268435456"));
        // Declared within it, but the connection ends first.
        let mut cut = 200u32.to_be_bytes().to_vec();
        cut.extend_from_slice(b"{\"Registered\"");
        let error = read::<ToTaskManager>(&mut &cut[..]).await.unwrap_err();
        assert!(matches!(error, RpcError::Framing(FramingError::Truncated { len: 200, .. })), "{error:?}");
        // The sender enforces the receiver's limit.
        assert!(MESSAGE.header((256 << 20) + 1).is_err() && MESSAGE.header(256 << 20).is_ok());
    }
}

/// Fuzzing on stable Rust: arbitrary and mutated frames into the RPC decoder
/// (`PROPTEST_CASES=<n>` for more cases).
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// `default` cases per property, or as many as `PROPTEST_CASES` asks for.
    fn cases(default: u32) -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default);
        ProptestConfig { cases, ..ProptestConfig::default() }
    }

    /// Real messages of both directions, as JSON, for mutations to start from.
    fn real_messages() -> Vec<Vec<u8>> {
        let hardware = Hardware { cpu_cores: 2, physical_memory: 1 << 30, free_memory: 1 << 29 };
        let to_job_manager = [
            ToJobManager::Register {
                id: "tm-1".into(),
                data_address: "localhost:6121".into(),
                slots: 2,
                hardware: hardware.clone(),
            },
            ToJobManager::Heartbeat {
                tasks: Vec::new(),
                hardware,
                metrics: Some(vec![("Status.JVM.CPU.Load".into(), 0.5)]),
            },
            ToJobManager::DeclineCheckpoint { job: "5e20cb6b".into(), checkpoint: 3, reason: "no".into() },
        ];
        let to_task_manager = [
            ToTaskManager::Registered,
            ToTaskManager::Rejected { reason: "full".into() },
            ToTaskManager::Disconnect { reason: "heartbeats timed out".into() },
            ToTaskManager::CheckpointComplete { job: "5e20cb6b".into(), checkpoint: 3 },
        ];
        let mut messages: Vec<Vec<u8>> = to_job_manager.iter().map(|m| serde_json::to_vec(m).unwrap()).collect();
        messages.extend(to_task_manager.iter().map(|m| serde_json::to_vec(m).unwrap()));
        messages
    }

    /// A message's payload: arbitrary bytes, or a real message with bytes overwritten or cut.
    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256),
            (
                proptest::sample::select(real_messages()),
                proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
                any::<usize>(),
            )
                .prop_map(|(mut json, sets, cut)| {
                    for (at, byte) in sets {
                        let at = at % json.len();
                        json[at] = byte;
                    }
                    json.truncate(cut % (json.len() + 1));
                    json
                }),
            // Deep nesting, which a recursive decoder must refuse rather than overflow its stack.
            (1usize..2000).prop_map(|depth| [vec![b'['; depth], vec![b']'; depth]].concat()),
        ]
    }

    /// A frame: the payload behind its true length, or behind an arbitrary declared one.
    fn frame() -> impl Strategy<Value = Vec<u8>> {
        (payload(), prop_oneof![Just(None), any::<u32>().prop_map(Some)]).prop_map(|(payload, declared)| {
            let len = declared.unwrap_or(u32::try_from(payload.len()).unwrap_or(u32::MAX));
            [len.to_be_bytes().to_vec(), payload].concat()
        })
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
    }

    proptest! {
        #![proptest_config(cases(256))]

        /// Arbitrary frames, one after another, into both sides' decoders: a message, the end
        /// of the connection or an error, never a panic.
        #[test]
        fn fuzz_rpc_frames_decode_or_are_refused(frames in proptest::collection::vec(frame(), 1..4)) {
            let bytes = frames.concat();
            block_on(async {
                let mut input = &bytes[..];
                while let Ok(Some(_)) = read::<ToJobManager>(&mut input).await {}
                let mut input = &bytes[..];
                while let Ok(Some(_)) = read::<ToTaskManager>(&mut input).await {}
            });
        }

        /// Messages with arbitrary text written by `write` are read back by `read`, in order.
        #[test]
        fn fuzz_rpc_messages_round_trip(reasons in proptest::collection::vec(any::<String>(), 1..4), checkpoint in any::<u64>()) {
            block_on(async {
                let mut out = Vec::new();
                for reason in &reasons {
                    let message = ToJobManager::DeclineCheckpoint { job: reason.clone(), checkpoint, reason: reason.clone() };
                    write(&mut out, &message).await.unwrap();
                }
                let mut input = &out[..];
                for reason in &reasons {
                    let back = read::<ToJobManager>(&mut input).await.unwrap();
                    let Some(ToJobManager::DeclineCheckpoint { job, checkpoint: c, reason: r }) = back else {
                        panic!("{back:?}");
                    };
                    assert_eq!((&job, c, &r), (reason, checkpoint, reason));
                }
                assert!(read::<ToJobManager>(&mut input).await.unwrap().is_none());
            });
        }
    }
}
