//! The TaskManager: registers its slots with the JobManager, heartbeats with its tasks'
//! metrics, and runs the subtasks it is given on the engine (`task`), exchanging records with
//! other TaskManagers through its data server.
//!
//! It keeps going when the JobManager goes away: its tasks are cancelled (the JobManager no
//! longer knows them) and it registers again once the JobManager is back.

mod deploy;

pub use weir_network::remote::DataLimits;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::rpc::{self, TaskReport, ToJobManager, ToTaskManager};
use weir_core::cancel::CancelToken;
use weir_core::checkpoint::{Barrier, TaskCommand};
use weir_core::jobgraph::Id;
use weir_core::metrics::{TaskMetrics, process};
use weir_core::state::{SledBackend, StateBackend};
use weir_network::remote::DataServer;
use weir_security::InternalTls;
use weir_wasm::cache::ComponentCache;
use weir_wasm::footprint;
use weir_wasm::{Limits, WasmRuntime};

/// How a TaskManager is set up.
#[derive(Clone, Debug)]
pub struct TaskManagerOptions {
    /// The JobManager's RPC address, `host:port`.
    pub jobmanager: String,
    /// How many task slots it offers (`taskmanager.numberOfTaskSlots`).
    pub slots: u32,
    /// The host name other TaskManagers reach this one at.
    pub host: String,
    /// Where the data server listens (`host:port`; port 0 picks one).
    pub data_bind: String,
    /// How often it heartbeats to the JobManager.
    pub heartbeat_interval: Duration,
    /// The sandbox limits for every guest instance it runs.
    pub limits: Limits,
    /// Mutual TLS for the control channel and the data exchange (`security.ssl.internal.*`).
    pub internal_tls: Option<InternalTls>,
    /// What peers may hold of the data server (`weir.taskmanager.data.*`).
    pub data_limits: DataLimits,
    /// Whether keyed state is checkpointed incrementally (`execution.checkpointing.incremental`).
    pub incremental_checkpoints: bool,
    /// The state backend's page cache, bytes (`state.backend.sled.cache-size`).
    pub state_cache_bytes: u64,
}

/// A task running here: for metrics, and to hand it commands.
struct RunningTask {
    vertex: usize,
    subtask: u32,
    metrics: Arc<TaskMetrics>,
    commands: crossbeam_channel::Sender<TaskCommand>,
    /// Where an upgrade's new code is left for the task.
    upgrade: Arc<weir_runtime::task::UpgradeMailbox>,
    /// Counts the task's guest stacks while a flame graph is sampled.
    sampler: Arc<weir_wasm::StackSampler>,
}

/// An attempt of a job with tasks here.
struct RunningJob {
    job: Id,
    attempt: u32,
    cancel: CancelToken,
    tasks: Vec<RunningTask>,
}

/// A task waiting for a component from the JobManager: its hex-encoded bytes, or why not.
type FetchWaiter = crossbeam_channel::Sender<Result<String, String>>;

/// What the TaskManager's threads share.
pub(crate) struct Shared {
    runtime: WasmRuntime,
    cache: ComponentCache,
    state: Arc<dyn StateBackend>,
    data: DataServer,
    /// Mutual TLS for outgoing data channels, when the cluster has it on.
    tls: Option<InternalTls>,
    /// Compiled components by content hash: each is fetched and compiled once.
    components: Mutex<HashMap<String, weir_wasm::JobComponent>>,
    /// Components asked of the JobManager, by hash: who waits for the hex-encoded bytes.
    fetches: Mutex<HashMap<String, Vec<FetchWaiter>>>,
    /// Running jobs by scope (`<job>@<attempt>`).
    jobs: Mutex<HashMap<String, RunningJob>>,
    /// Jobs cancelled before their deployment got here: their tasks must not start.
    cancelled: Mutex<std::collections::HashSet<Id>>,
    /// Where the JobManager said each job's recent checkpoints go.
    locations: Arc<CheckpointLocations>,
    /// Whether keyed state is checkpointed incrementally.
    incremental: bool,
}

/// How many recent checkpoint locations are kept per job, and for how many jobs.
const ANNOUNCED_PER_JOB: usize = 16;
const ANNOUNCED_JOBS: usize = 1024;
/// How long a task waits for the JobManager's word on a checkpoint whose barrier came first.
const ANNOUNCEMENT_WAIT: Duration = Duration::from_secs(10);

/// The checkpoint locations the JobManager announced (with `TriggerCheckpoint`, to every
/// TaskManager of the job): a barrier that reaches a task over a data connection must name the
/// location announced for its checkpoint, so no peer can make a task write its state elsewhere.
#[derive(Default)]
pub(crate) struct CheckpointLocations {
    announced: Mutex<HashMap<Id, std::collections::VecDeque<(u64, String)>>>,
    changed: std::sync::Condvar,
}

impl CheckpointLocations {
    /// The JobManager announced checkpoint `checkpoint` of `job` at `location`.
    fn announce(&self, job: &str, checkpoint: u64, location: &str) {
        let mut announced = self.announced.lock().unwrap_or_else(|e| e.into_inner());
        if announced.len() >= ANNOUNCED_JOBS && !announced.contains_key(job) {
            // Forget some other job's (ended jobs are never told apart from running ones here).
            if let Some(other) = announced.keys().next().cloned() {
                announced.remove(&other);
            }
        }
        let recent = announced.entry(job.to_string()).or_default();
        recent.retain(|(id, _)| *id != checkpoint);
        recent.push_back((checkpoint, location.to_string()));
        while recent.len() > ANNOUNCED_PER_JOB {
            recent.pop_front();
        }
        self.changed.notify_all();
    }

    /// Whether a barrier of `job`'s checkpoint `checkpoint` may name `location`: only the one
    /// the JobManager announced (waiting up to [`ANNOUNCEMENT_WAIT`] for its word).
    pub(crate) fn check(&self, job: &str, checkpoint: u64, location: &str) -> Result<(), String> {
        let deadline = Instant::now() + ANNOUNCEMENT_WAIT;
        let mut announced = self.announced.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let expected =
                announced.get(job).and_then(|r| r.iter().find(|(id, _)| *id == checkpoint)).map(|(_, l)| l.clone());
            match expected {
                Some(expected) if expected == location => return Ok(()),
                Some(expected) => {
                    return Err(format!(
                        "the barrier of checkpoint {checkpoint} names the directory '{}', not the one the JobManager chose for it ('{expected}'): refused",
                        location.chars().take(512).collect::<String>()
                    ));
                }
                None => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "the JobManager named no location for checkpoint {checkpoint} within {ANNOUNCEMENT_WAIT:?}: its barrier (naming '{}') is refused",
                    location.chars().take(512).collect::<String>()
                ));
            }
            announced = self.changed.wait_timeout(announced, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

impl Shared {
    fn cancel_all(&self) {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        for job in jobs.values() {
            job.cancel.cancel();
        }
    }

    /// The TaskManager's own metrics: its process (CPU, memory, threads), its running tasks,
    /// and its WASM instances with their linear memory.
    fn status_metrics(&self) -> Vec<(String, f64)> {
        static CPU_LOAD: process::CpuLoad = process::CpuLoad::new();
        let running: usize = {
            let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            jobs.values().map(|j| j.tasks.len()).sum()
        };
        let mut metrics = process::metrics(&CPU_LOAD);
        metrics.extend([
            ("Status.Tasks.Running".to_string(), running as f64),
            ("Status.Wasm.Instances".to_string(), footprint::instances() as f64),
            ("Status.Wasm.Memory.Used".to_string(), footprint::memory_bytes() as f64),
        ]);
        metrics
    }

    fn reports(&self) -> Vec<TaskReport> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.values()
            .flat_map(|job| {
                job.tasks.iter().map(move |t| TaskReport {
                    job: job.job.clone(),
                    vertex: t.vertex,
                    subtask: t.subtask,
                    attempt: job.attempt,
                    metrics: t.metrics.values(),
                })
            })
            .collect()
    }
}

/// A TaskManager's ID as Flink shows them: `<data address>-<6 hex>`.
fn new_id(address: &str) -> String {
    format!("{address}-{}", &hex::encode(rand::random::<[u8; 3]>()))
}

/// Runs a TaskManager until `shutdown` is set.
pub async fn run(options: TaskManagerOptions, shutdown: CancelToken) -> anyhow::Result<()> {
    let data = DataServer::start_limited(
        &options.data_bind,
        &options.host,
        options.internal_tls.clone(),
        options.data_limits,
    )?;
    let state_dir = tempfile::tempdir()?;
    let shared = Arc::new(Shared {
        runtime: WasmRuntime::new(options.limits).map_err(|e| anyhow::anyhow!("WebAssembly runtime: {e:#}"))?,
        cache: ComponentCache::default_location(),
        state: Arc::new(SledBackend::open(state_dir.path(), options.state_cache_bytes)?),
        incremental: options.incremental_checkpoints,
        data,
        tls: options.internal_tls.clone(),
        components: Mutex::new(HashMap::new()),
        fetches: Mutex::new(HashMap::new()),
        jobs: Mutex::new(HashMap::new()),
        cancelled: Mutex::new(Default::default()),
        locations: Default::default(),
    });
    let id = new_id(shared.data.address());
    tracing::info!(
        id,
        slots = options.slots,
        data = shared.data.address(),
        jobmanager = options.jobmanager,
        "TaskManager starting"
    );
    const FIRST_BACKOFF: Duration = Duration::from_millis(200);
    let mut backoff = FIRST_BACKOFF;
    while !shutdown.is_cancelled() {
        let started = Instant::now();
        match session(&options, &id, &shared, &shutdown).await {
            Ok(()) => return Ok(()),
            Err(error) => {
                shared.cancel_all();
                tracing::warn!(jobmanager = options.jobmanager, %error, "lost the JobManager; registering again");
                // A session that had lasted is a new failure, not another failed attempt.
                if started.elapsed() > Duration::from_secs(10) {
                    backoff = FIRST_BACKOFF;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    shared.cancel_all();
    Ok(())
}

/// One connection to the JobManager: register, then serve it until it drops or shutdown.
async fn session(
    options: &TaskManagerOptions,
    id: &str,
    shared: &Arc<Shared>,
    shutdown: &CancelToken,
) -> anyhow::Result<()> {
    let stream = TcpStream::connect(&options.jobmanager).await?;
    stream.set_nodelay(true)?;
    match &options.internal_tls {
        Some(tls) => {
            let connector = tokio_rustls::TlsConnector::from(tls.client());
            let handshake = connector.connect(InternalTls::server_name(), stream);
            let stream = tokio::time::timeout(rpc::HANDSHAKE_WAIT, handshake)
                .await
                .map_err(|_| anyhow::anyhow!("the TLS handshake with the JobManager timed out"))?
                .map_err(|e| anyhow::anyhow!("the TLS handshake with the JobManager failed: {e}"))?;
            serve_jobmanager(stream, options, id, shared, shutdown).await
        }
        None => serve_jobmanager(stream, options, id, shared, shutdown).await,
    }
}

/// Registers over `stream`, then serves the JobManager until the connection drops or shutdown.
async fn serve_jobmanager(
    stream: impl AsyncRead + AsyncWrite + Send + 'static,
    options: &TaskManagerOptions,
    id: &str,
    shared: &Arc<Shared>,
    shutdown: &CancelToken,
) -> anyhow::Result<()> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    rpc::write(
        &mut writer,
        &ToJobManager::Register {
            id: id.to_string(),
            data_address: shared.data.address().to_string(),
            slots: options.slots,
            hardware: rpc::hardware(),
        },
    )
    .await?;
    // With TLS 1.3 the JobManager checks our certificate after our side of the handshake is
    // done: a refusal arrives here, as an alert in place of the answer.
    let answer = rpc::read::<ToTaskManager>(&mut reader)
        .await
        .map_err(|e| anyhow::anyhow!("the JobManager did not accept the registration: {e}"))?;
    match answer {
        Some(ToTaskManager::Registered) => tracing::info!(id, "registered with the JobManager"),
        Some(ToTaskManager::Rejected { reason }) => anyhow::bail!("the JobManager refused registration: {reason}"),
        other => anyhow::bail!("unexpected answer to registration: {other:?}"),
    }

    // Everything for the JobManager goes through one queue: task states from task threads,
    // heartbeats from the timer below.
    let (outbox, mut outgoing) = mpsc::unbounded_channel::<ToJobManager>();
    let writer_task = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if rpc::write(&mut writer, &message).await.is_err() {
                break;
            }
        }
    });
    let heartbeat_outbox = outbox.clone();
    let heartbeat_shared = shared.clone();
    let interval = options.heartbeat_interval;
    let heartbeats = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            let message = ToJobManager::Heartbeat {
                tasks: heartbeat_shared.reports(),
                hardware: rpc::hardware(),
                metrics: Some(heartbeat_shared.status_metrics()),
            };
            if heartbeat_outbox.send(message).is_err() {
                break;
            }
        }
    });

    let result = loop {
        let message = tokio::select! {
            m = rpc::read::<ToTaskManager>(&mut reader) => m,
            _ = wait_cancelled(shutdown.clone()) => break Ok(()),
        };
        match message {
            Ok(Some(ToTaskManager::Deploy(deployment))) => {
                let shared = shared.clone();
                let outbox = outbox.clone();
                tokio::task::spawn_blocking(move || deploy::deploy(&shared, *deployment, outbox));
            }
            Ok(Some(ToTaskManager::CancelJob { job })) => {
                let jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
                let running: Vec<&RunningJob> = jobs.values().filter(|r| r.job == job).collect();
                if running.is_empty() {
                    // Its deployment is still being prepared: it will not start.
                    shared.cancelled.lock().unwrap_or_else(|e| e.into_inner()).insert(job);
                } else {
                    tracing::info!(job, "cancelling the job's tasks");
                    for r in running {
                        r.cancel.cancel();
                    }
                }
            }
            Ok(Some(ToTaskManager::TriggerCheckpoint { job, checkpoint, kind, location, tasks, format })) => {
                shared.locations.announce(&job, checkpoint, &location);
                let barrier = Barrier { id: checkpoint, kind, location: location.into(), format };
                let jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
                for running in jobs.values().filter(|r| r.job == job) {
                    for t in running.tasks.iter().filter(|t| tasks.contains(&(t.vertex, t.subtask))) {
                        let _ = t.commands.send(TaskCommand::TriggerCheckpoint(barrier.clone()));
                    }
                }
            }
            Ok(Some(ToTaskManager::CheckpointComplete { job, checkpoint })) => {
                let jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
                let mut tasks = 0;
                for running in jobs.values().filter(|r| r.job == job) {
                    for t in &running.tasks {
                        let _ = t.commands.send(TaskCommand::CheckpointComplete(checkpoint));
                        tasks += 1;
                    }
                }
                // As Flink's log after start-up: one line per completed checkpoint.
                if tasks > 0 {
                    tracing::info!(tasks, "Completed checkpoint {checkpoint} for job {job}");
                }
            }
            Ok(Some(ToTaskManager::Request { id, request })) => {
                let outbox = outbox.clone();
                let shared = shared.clone();
                // Reading files and /proc, or sampling for a while, is blocking work kept off
                // the connection's reader.
                tokio::task::spawn_blocking(move || {
                    let _ = outbox.send(ToJobManager::Response { id, response: respond(&shared, request) });
                });
            }
            Ok(Some(ToTaskManager::Component { hash, component, failure })) => {
                let waiting =
                    shared.fetches.lock().unwrap_or_else(|e| e.into_inner()).remove(&hash).unwrap_or_default();
                let answer = component.ok_or_else(|| failure.unwrap_or_else(|| "the JobManager sent nothing".into()));
                for waiter in waiting {
                    let _ = waiter.send(answer.clone());
                }
            }
            Ok(Some(ToTaskManager::PrepareUpgrade { job, upgrade, component, graph, operators })) => {
                let shared = shared.clone();
                let outbox = outbox.clone();
                tokio::task::spawn_blocking(move || {
                    let failure =
                        prepare_upgrade(&shared, &job, &upgrade, &component, *graph, operators, &outbox).err();
                    let _ = outbox.send(ToJobManager::UpgradePrepared { job, upgrade, failure });
                });
            }
            Ok(Some(ToTaskManager::SwapNow { job, upgrade })) => {
                let jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
                tracing::info!(job, upgrade, "the upgrade barrier is held up: the tasks swap at once");
                for running in jobs.values().filter(|r| r.job == job) {
                    for t in &running.tasks {
                        t.upgrade.swap_now(&upgrade);
                    }
                }
            }
            Ok(Some(ToTaskManager::Disconnect { reason })) => {
                break Err(anyhow::anyhow!("the JobManager disconnected this TaskManager: {reason}"));
            }
            Ok(Some(other)) => tracing::warn!(?other, "unexpected message from the JobManager"),
            Ok(None) => break Err(anyhow::anyhow!("the JobManager closed the connection")),
            Err(e) => break Err(e.into()),
        }
    };
    heartbeats.abort();
    drop(outbox);
    writer_task.abort();
    result
}

/// Compiles an upgrade's component (or takes it from the cache) and stages it with the job's
/// running tasks here, before the JobManager sends the upgrade barrier.
fn prepare_upgrade(
    shared: &Shared,
    job: &str,
    upgrade: &str,
    component: &str,
    graph: weir_core::jobgraph::JobGraph,
    operators: Vec<String>,
    outbox: &mpsc::UnboundedSender<ToJobManager>,
) -> Result<(), String> {
    let started = std::time::Instant::now();
    let component = deploy::component(shared, component, outbox)?;
    let staged = Arc::new(weir_runtime::task::StagedUpgrade {
        id: upgrade.to_string(),
        component,
        graph: Arc::new(graph),
        operators,
    });
    let jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
    let mut staged_with = 0;
    for running in jobs.values().filter(|r| r.job == job) {
        for t in &running.tasks {
            t.upgrade.stage(staged.clone());
            staged_with += 1;
        }
    }
    if staged_with == 0 {
        return Err(format!("job {job} has no running tasks on this TaskManager"));
    }
    tracing::info!(job, upgrade, tasks = staged_with, took = ?started.elapsed(), "upgrade staged");
    Ok(())
}

/// Answers the JobManager's request about this TaskManager.
fn respond(shared: &Shared, request: rpc::Request) -> rpc::Response {
    match request {
        rpc::Request::LogList => rpc::Response::LogList(crate::logs::list()),
        rpc::Request::Log { name, start } => match crate::logs::read(&name, start) {
            Ok(part) => rpc::Response::Log(part),
            Err(error) => rpc::Response::Failed {
                not_found: matches!(error, crate::logs::LogError::NotFound(_) | crate::logs::LogError::NoLogs),
                reason: error.to_string(),
            },
        },
        rpc::Request::ThreadDump => rpc::Response::ThreadDump(crate::thread_dump::threads()),
        rpc::Request::SampleStacks { job, vertex, subtask, millis } => {
            rpc::Response::Stacks(sample_stacks(shared, &job, (vertex, subtask), Duration::from_millis(millis)))
        }
    }
}

/// The longest a flame-graph sampling runs, whatever the JobManager asks.
const MAX_SAMPLING: Duration = Duration::from_secs(5);

/// Samples the guest stacks of `job`'s `vertex` subtasks here (or only the one given) for
/// `duration` (capped), merged over the subtasks. One sampling runs at a time: a second waits.
fn sample_stacks(
    shared: &Shared,
    job: &str,
    (vertex, subtask): (usize, Option<u32>),
    duration: Duration,
) -> Vec<rpc::StackSample> {
    static SAMPLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = SAMPLING.lock().unwrap_or_else(|e| e.into_inner());
    let samplers: Vec<_> = {
        let jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.values()
            .filter(|r| r.job == job)
            .flat_map(|r| r.tasks.iter().filter(|t| t.vertex == vertex && subtask.is_none_or(|s| s == t.subtask)))
            .map(|t| t.sampler.clone())
            .collect()
    };
    for sampler in &samplers {
        sampler.start();
    }
    std::thread::sleep(duration.min(MAX_SAMPLING));
    let mut merged: HashMap<Vec<String>, u64> = HashMap::new();
    for stack in samplers.iter().flat_map(|s| s.stop()) {
        if merged.len() < weir_wasm::sampler::MAX_STACKS || merged.contains_key(&stack.frames) {
            *merged.entry(stack.frames).or_default() += stack.count;
        }
    }
    merged.into_iter().map(|(frames, count)| rpc::StackSample { frames, count }).collect()
}

/// Resolves when `token` is cancelled.
async fn wait_cancelled(token: CancelToken) {
    while !token.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barriers_must_name_the_location_the_jobmanager_announced() {
        let locations = CheckpointLocations::default();
        locations.announce("job", 3, "/checkpoints/job/chk-3");
        assert_eq!(locations.check("job", 3, "/checkpoints/job/chk-3"), Ok(()));
        let error = locations.check("job", 3, "/home/user/.ssh").unwrap_err();
        assert!(error.contains("/home/user/.ssh") && error.contains("/checkpoints/job/chk-3"), "{error}");
        // Another job's location is not this one's.
        assert!(locations.check("other", 3, "/checkpoints/job/chk-3").is_err());
        // A barrier ahead of the announcement waits for it.
        let locations = Arc::new(locations);
        let announcer = locations.clone();
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            announcer.announce("job", 4, "/checkpoints/job/chk-4");
        });
        assert_eq!(locations.check("job", 4, "/checkpoints/job/chk-4"), Ok(()));
        late.join().unwrap();
        for id in 5..5 + ANNOUNCED_PER_JOB as u64 {
            locations.announce("job", id, "/x");
        }
        let kept = locations.announced.lock().unwrap()["job"].len();
        assert_eq!(kept, ANNOUNCED_PER_JOB);
    }
}
