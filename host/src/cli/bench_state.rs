//! `weir bench --state`: what keyed state costs, per number of keys.
//!
//! The cluster: a JobManager in this process (its REST API on a loopback port of its own) and a
//! TaskManager with one slot as a child process of this binary (`weir taskmanager`), so that it
//! can be killed with SIGKILL and replaced, and its memory measured alone. A fresh TaskManager
//! starts for every number of keys. The job is the embedded state job
//! (`guest-jobs/testing/state-job`): a datagen source whose records become keys `k0` … `k<N-1>`
//! (every run of N records touches every key once), a keyed operator `state-updater` that reads
//! its key's value and writes back `--value-size` bytes, and a discard sink, at parallelism 1.
//!
//! For each N, after a warm-up in which the state updater has written all N keys:
//!
//! 1. without checkpoints: records per second into the state updater (`numRecordsIn`) over the
//!    window (`--seconds`), then the job is cancelled;
//! 2. with checkpoints every `--checkpoint-interval`: records per second, the end-to-end
//!    durations and sizes of the checkpoints triggered in the window (`/jobs/:id/checkpoints`,
//!    read as the window goes, since the history holds only the last ten), the synchronous part
//!    of the state updater's snapshot where the REST API reports it, and the peak RSS (`VmHWM`)
//!    of a TaskManager started for this run;
//! 3. a hot-swap upgrade of that job to the same component with another `--generation` (only
//!    the state updater's configuration changes, so its code is swapped in place): the time from
//!    the request to COMPLETED, and the server's swap duration;
//! 4. stop-with-savepoint: the time from the request until the savepoint has completed;
//! 5. a new job from that savepoint: the time from the submission until every task is RUNNING,
//!    and until records reach the state updater;
//! 6. SIGKILL of the TaskManager once the restored job has completed a checkpoint, and a new
//!    TaskManager started at once: the time until the job (restarted from its latest checkpoint
//!    by the default restart strategy) runs again, and until records reach the state updater.
//!
//! After 5 and 6 the state is checked: the restored job's deserializer begins again at its
//! first key, so its first [`CHECKED_KEYS`] records are of different keys, all written before
//! the snapshot; the state updater counts those it does not find (`newKeys`), and a cell says
//! `KEYS LOST` if there are any.
//!
//! Progress goes to stderr, one Markdown table row per N to stdout. Every wait is bounded.
//! Records reach the JobManager's metrics with the TaskManager's heartbeats, every
//! [`HEARTBEAT_MS`] here, which bounds the precision of the "records" times.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::stop_child;
use crate::builtin;
use weir_cluster::jobmanager::JobManager;
use weir_cluster::jobmanager::dispatcher::RunOptions;
use weir_config::{Configuration, keys};
use weir_core::cancel::CancelToken;
use weir_core::execution::{ExecutionState, JobStatus, now_ms};
use weir_flink_cli::client::{Operation, RestClient, UpgradeRequest};

/// The state updater's uid in the state job's plan.
const UPDATER: &str = "state-updater";
/// The TaskManager's heartbeat interval, which carries its metrics to the JobManager.
pub const HEARTBEAT_MS: u64 = 200;
/// How often the harness looks at the JobManager's state.
const POLL: Duration = Duration::from_millis(5);
/// How often the checkpoint history is read during the window.
const HISTORY_POLL: Duration = Duration::from_millis(500);
/// The least time a job runs before its window starts.
const MIN_WARM_UP: Duration = Duration::from_secs(3);
/// How long a job may take to reach RUNNING, a TaskManager to register, a job to end.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long records may stop reaching the state updater before the harness gives up.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How many records of a restored job are checked against its state: its deserializer begins
/// again at its first key, and N consecutive records touch N different keys, all of which the
/// state must hold.
const CHECKED_KEYS: u64 = 10_000;

/// What `weir bench --state` measures.
pub struct Options {
    /// The numbers of keys, one table row each.
    pub keys: Vec<u64>,
    /// Bytes written per key and record.
    pub value_size: u32,
    /// Records per second of the source; none: as fast as it goes.
    pub rate: Option<u64>,
    /// The checkpoint interval of the checkpointed runs.
    pub checkpoint_interval: Duration,
    /// The measuring window.
    pub seconds: u64,
}

/// Runs the benchmark for every number of keys.
pub fn run(options: &Options) -> anyhow::Result<()> {
    anyhow::ensure!(!options.keys.is_empty(), "--keys needs at least one number of keys");
    anyhow::ensure!(options.keys.iter().all(|&n| n >= 1), "every --keys value must be at least 1");
    anyhow::ensure!(options.value_size >= 8, "--value-size must be at least 8 (the counter)");
    anyhow::ensure!(options.seconds >= 1, "--seconds must be at least 1");
    anyhow::ensure!(options.rate != Some(0), "--rate must be at least 1");
    let interval_ms = u64::try_from(options.checkpoint_interval.as_millis()).unwrap_or(u64::MAX);
    anyhow::ensure!(interval_ms >= 1, "--checkpoint-interval must be at least 1 ms");
    let mut cluster = Cluster::start()?;
    let jar = cluster.jm.upload_jar("state_job.wasm", builtin::STATE_JOB.to_vec())?;
    let rate = options.rate.map_or("unlimited".to_string(), |r| format!("{r} records/s"));
    println!(
        "State benchmark: value {} bytes, checkpoint interval {interval_ms} ms, source rate {rate}, window {} s, \
         parallelism 1, {} CPU cores; TaskManager in its own process, heartbeats every {HEARTBEAT_MS} ms",
        options.value_size,
        options.seconds,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!();
    println!(
        "| N keys (state size) | checkpoint p50 / max (sync p50) | records/s with / without checkpoints | \
         peak RSS with checkpoints | stop-with-savepoint | restore -> RUNNING | TaskManager kill -> RUNNING | \
         hot-swap upgrade | bytes per checkpoint p50 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in &options.keys {
        let row = measure(&mut cluster, &jar.id, options, n, interval_ms)?;
        println!("{}", row.markdown());
        let _ = std::io::stdout().flush();
    }
    Ok(())
}

/// One table row.
struct Row {
    keys: u64,
    state_size: Option<u64>,
    checkpoints: Checkpoints,
    rate_with: f64,
    rate_without: f64,
    peak_rss: Option<u64>,
    stop: Duration,
    restore: (Duration, Duration),
    kill: (Duration, Duration),
    /// Keys the state updater found missing after the restore and after the kill.
    lost: (f64, f64),
    /// Request to COMPLETED, and the server's swap duration in ms.
    upgrade: (Duration, Option<i64>),
}

impl Row {
    fn markdown(&self) -> String {
        let c = &self.checkpoints;
        let durations: Vec<f64> = c.completed.values().map(|s| s.duration_ms).collect();
        let sizes: Vec<u64> = c.completed.values().map(|s| s.checkpointed_size).collect();
        let checkpoint = match (median(&durations), durations.iter().copied().reduce(f64::max)) {
            (Some(p50), Some(max)) => {
                let syncs: Vec<f64> = c.completed.values().filter_map(|s| s.sync_ms).collect();
                // The REST API answers 0 for both parts where the snapshot's parts are not timed.
                let timed =
                    c.completed.values().any(|s| s.sync_ms.unwrap_or(0.0) > 0.0 || s.async_ms.unwrap_or(0.0) > 0.0);
                let sync = match median(&syncs) {
                    Some(s) if timed => format!("{s:.0} ms"),
                    _ => "n/a".to_string(),
                };
                let failed = if c.failed.is_empty() { String::new() } else { format!(", {} failed", c.failed.len()) };
                format!("{p50:.0} / {max:.0} ms (sync {sync}; {} in window{failed})", durations.len())
            }
            _ => format!("none completed in the window ({} failed)", c.failed.len()),
        };
        let state = self.state_size.map_or("?".to_string(), bytes);
        let swap = self.upgrade.1.map_or("?".to_string(), |ms| format!("{ms} ms"));
        let lost = |keys: f64| if keys > 0.0 { format!(", {keys:.0} KEYS LOST") } else { String::new() };
        format!(
            "| {} ({state}) | {checkpoint} | {:.0} / {:.0} | {} | {:.2} s | {:.2} s (records {:.2} s{}) | {:.2} s (records {:.2} s{}) | {:.0} ms (swap {swap}) | {} |",
            self.keys,
            self.rate_with,
            self.rate_without,
            self.peak_rss.map_or("?".to_string(), bytes),
            self.stop.as_secs_f64(),
            self.restore.0.as_secs_f64(),
            self.restore.1.as_secs_f64(),
            lost(self.lost.0),
            self.kill.0.as_secs_f64(),
            self.kill.1.as_secs_f64(),
            lost(self.lost.1),
            self.upgrade.0.as_secs_f64() * 1000.0,
            median(&sizes).map_or("?".to_string(), bytes),
        )
    }
}

/// Bytes in binary units.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// The median (the lower one of an even count's middle two).
fn median<T: Copy + PartialOrd>(values: &[T]) -> Option<T> {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    sorted.get(sorted.len().checked_sub(1)? / 2).copied()
}

/// Progress on stderr.
fn progress(n: u64, what: &str) {
    eprintln!("bench --state [N={n}] {what}");
}

fn measure(cluster: &mut Cluster, jar: &str, options: &Options, n: u64, interval_ms: u64) -> anyhow::Result<Row> {
    let window = Duration::from_secs(options.seconds);
    let mut args =
        vec!["--keys".to_string(), n.to_string(), "--value-size".to_string(), options.value_size.to_string()];
    if let Some(rate) = options.rate {
        args.extend(["--rate".to_string(), rate.to_string()]);
    }
    // A warm-up writes every key; allow at least 1000 records/s (or half the requested rate).
    let floor = options.rate.map_or(1000, |r| (r / 2).max(1));
    let warm_up_timeout = STEP_TIMEOUT + Duration::from_secs(n / floor);
    let check_timeout = STEP_TIMEOUT + Duration::from_secs(n.min(CHECKED_KEYS) / floor);

    progress(n, "starting a fresh TaskManager");
    cluster.restart_taskmanager()?;

    // 1. Without checkpoints.
    progress(n, "without checkpoints: running, writing every key");
    let job = cluster.run(jar, &args, None)?;
    cluster.wait_running(&job, None)?;
    cluster.warm_up(&job, n, warm_up_timeout)?;
    progress(n, &format!("without checkpoints: measuring for {} s", window.as_secs()));
    let rate_without = cluster.throughput(&job, window, |_| Ok(()))?;
    progress(n, &format!("without checkpoints: {rate_without:.0} records/s"));
    cluster.cancel(&job)?;
    // What the TaskManager holds once the job's state is dropped (it is not reused below).
    std::thread::sleep(Duration::from_secs(2));
    let pid = cluster.taskmanager_pid()?;
    let (rss, peak) = (memory_field(pid, "VmRSS:"), peak_rss(pid));
    progress(
        n,
        &format!(
            "without checkpoints: the TaskManager's RSS after the job ended {} (peak {})",
            rss.map_or("?".to_string(), bytes),
            peak.map_or("?".to_string(), bytes)
        ),
    );

    // 2. With checkpoints.
    let mut checkpointed = args.clone();
    checkpointed.extend(["--checkpoint-interval".to_string(), interval_ms.to_string()]);
    // A fresh TaskManager, so that its peak RSS is this run's alone (memory the run without
    // checkpoints freed need not go back to the system).
    cluster.restart_taskmanager()?;
    let pid = cluster.taskmanager_pid()?;
    progress(n, "with checkpoints: running, writing every key");
    let job = cluster.run(jar, &checkpointed, None)?;
    cluster.wait_running(&job, None)?;
    cluster.warm_up(&job, n, warm_up_timeout)?;
    progress(n, &format!("with checkpoints: measuring for {} s", window.as_secs()));
    let vertex = cluster.vertex_id(&job)?;
    let mut checkpoints = Checkpoints::default();
    let from_ms = now_ms();
    let mut last_poll = Instant::now();
    let rate_with = cluster.throughput(&job, window, |c| {
        if last_poll.elapsed() >= HISTORY_POLL {
            last_poll = Instant::now();
            checkpoints.poll(c, &job, &vertex, from_ms)?;
        }
        Ok(())
    })?;
    let to_ms = now_ms();
    checkpoints.poll(cluster, &job, &vertex, from_ms)?;
    checkpoints.completed.retain(|_, s| s.trigger_ms <= to_ms);
    checkpoints.failed.retain(|_, trigger| *trigger <= to_ms);
    let peak_rss = peak_rss(pid);
    let state_size = checkpoints.completed.values().next_back().map(|s| s.state_size);
    progress(
        n,
        &format!(
            "with checkpoints: {rate_with:.0} records/s, {} checkpoints completed and {} failed in the window, peak RSS {}",
            checkpoints.completed.len(),
            checkpoints.failed.len(),
            peak_rss.map_or("?".to_string(), bytes)
        ),
    );

    // 3. Hot-swap upgrade to the same component, the state updater's configuration changed.
    let mut upgraded = checkpointed.clone();
    upgraded.extend(["--generation".to_string(), "1".to_string()]);
    progress(n, "hot-swap upgrade");
    let upgrade = cluster.upgrade(&job, jar, &upgraded)?;
    progress(
        n,
        &format!(
            "hot-swap upgrade: SWAPPED in {:.0} ms (swap {} ms)",
            upgrade.0.as_secs_f64() * 1000.0,
            upgrade.1.map_or("?".to_string(), |s| s.to_string())
        ),
    );
    cluster.next_sample(&job)?;

    // 4. Stop with a savepoint.
    progress(n, "stop-with-savepoint");
    let (stop, savepoint) = cluster.stop_with_savepoint(&job)?;
    progress(n, &format!("stop-with-savepoint: {:.2} s, {savepoint}", stop.as_secs_f64()));

    // 5. Restore from it.
    progress(n, "restoring from the savepoint");
    let submitted = Instant::now();
    let job = cluster.run(jar, &upgraded, Some(savepoint))?;
    let running = cluster.wait_running(&job, None)?;
    cluster.wait_records(&job)?;
    let restore = (running - submitted, submitted.elapsed());
    progress(
        n,
        &format!(
            "restore: RUNNING after {:.2} s, records after {:.2} s",
            restore.0.as_secs_f64(),
            restore.1.as_secs_f64()
        ),
    );
    let lost_on_restore = cluster.check_restored(&job, n, check_timeout)?;

    // 6. Kill the TaskManager once the restored job has a checkpoint of its own.
    let timeout = STEP_TIMEOUT + Duration::from_millis(interval_ms);
    cluster.wait_until("the restored job's first completed checkpoint", timeout, |c| {
        let stats = c.get(&format!("/jobs/{job}/checkpoints"))?;
        Ok((stats["counts"]["completed"].as_u64().unwrap_or(0) > 0).then_some(()))
    })?;
    let attempt = cluster.view(&job)?.attempt;
    progress(n, "SIGKILL of the TaskManager; starting a new one");
    let killed = Instant::now();
    cluster.kill_taskmanager()?;
    cluster.start_taskmanager()?;
    let running = cluster.wait_running(&job, Some(attempt))?;
    cluster.wait_records(&job)?;
    let kill = (running - killed, killed.elapsed());
    progress(
        n,
        &format!(
            "TaskManager kill: RUNNING after {:.2} s, records after {:.2} s",
            kill.0.as_secs_f64(),
            kill.1.as_secs_f64()
        ),
    );
    let lost_on_kill = cluster.check_restored(&job, n, check_timeout)?;
    cluster.cancel(&job)?;
    Ok(Row {
        keys: n,
        state_size,
        checkpoints,
        rate_with,
        rate_without,
        peak_rss,
        stop,
        restore,
        kill,
        lost: (lost_on_restore, lost_on_kill),
        upgrade,
    })
}

/// One completed checkpoint, as the REST API reported it.
struct CheckpointStats {
    trigger_ms: i64,
    duration_ms: f64,
    checkpointed_size: u64,
    state_size: u64,
    /// The state updater's synchronous and asynchronous parts, if reported.
    sync_ms: Option<f64>,
    async_ms: Option<f64>,
}

/// The checkpoints triggered since the window started, gathered as they complete or fail.
#[derive(Default)]
struct Checkpoints {
    completed: BTreeMap<u64, CheckpointStats>,
    /// Failed checkpoints and when they were triggered.
    failed: BTreeMap<u64, i64>,
}

impl Checkpoints {
    /// Reads the job's checkpoint history and takes in what is new and triggered at `from_ms`
    /// or later.
    fn poll(&mut self, cluster: &Cluster, job: &str, vertex: &str, from_ms: i64) -> anyhow::Result<()> {
        let stats = cluster.get(&format!("/jobs/{job}/checkpoints"))?;
        let history = stats["history"].as_array().cloned().unwrap_or_default();
        for c in history {
            let (Some(id), Some(trigger_ms)) = (c["id"].as_u64(), c["trigger_timestamp"].as_i64()) else { continue };
            if trigger_ms < from_ms
                || c["is_savepoint"].as_bool().unwrap_or(false)
                || self.completed.contains_key(&id)
                || self.failed.contains_key(&id)
            {
                continue;
            }
            match c["status"].as_str() {
                Some("COMPLETED") => {
                    let details = cluster.get(&format!("/jobs/{job}/checkpoints/details/{id}/subtasks/{vertex}")).ok();
                    let part = |name: &str| {
                        let subtasks = details.as_ref()?["subtasks"].as_array()?;
                        subtasks.iter().filter_map(|s| s["checkpoint"][name].as_f64()).reduce(f64::max)
                    };
                    self.completed.insert(
                        id,
                        CheckpointStats {
                            trigger_ms,
                            duration_ms: c["end_to_end_duration"].as_f64().unwrap_or(0.0),
                            checkpointed_size: c["checkpointed_size"].as_u64().unwrap_or(0),
                            state_size: c["state_size"].as_u64().unwrap_or(0),
                            sync_ms: part("sync"),
                            async_ms: part("async"),
                        },
                    );
                }
                Some("FAILED") => {
                    self.failed.insert(id, trigger_ms);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The peak resident set size of process `pid` (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    memory_field(pid, "VmHWM:")
}

/// A memory figure of process `pid`'s `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), in bytes.
fn memory_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.trim_start_matches(field).trim().trim_end_matches("kB").trim().parse().ok()?;
    kb.checked_mul(1024)
}

/// What the harness reads of a job from the JobManager.
struct View {
    status: JobStatus,
    attempt: u32,
    /// Every subtask RUNNING.
    all_running: bool,
    /// The state updater's `numRecordsIn` (this attempt's), if reported yet.
    records: Option<f64>,
    /// The state updater's `newKeys` counter, if reported yet.
    new_keys: Option<f64>,
    /// The latest exception's message.
    failure: Option<String>,
}

/// The TaskManager child process.
struct TaskManager {
    child: Child,
    /// Its ID at the JobManager.
    id: String,
}

/// The JobManager in this process, its REST API, and the TaskManager child.
struct Cluster {
    jm: Arc<JobManager>,
    rpc: SocketAddr,
    client: RestClient,
    taskmanager: Option<TaskManager>,
    /// TaskManagers started so far (their log files are numbered).
    started: u32,
    shutdown: CancelToken,
    _runtime: tokio::runtime::Runtime,
    /// Removed last, once the TaskManager and the JobManager's services have stopped.
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts the JobManager and its REST API on loopback ports of their own.
    fn start() -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new().prefix("weir-bench-state-").tempdir()?;
        let shutdown = CancelToken::new();
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let mut config = Configuration::default();
        config.set(keys::CHECKPOINTS_DIR[0], dir.path().join("checkpoints").display().to_string());
        config.set(keys::SAVEPOINTS_DIR[0], dir.path().join("savepoints").display().to_string());
        let mut options = super::cluster::jobmanager_options(config, Some(0), Some(dir.path().join("jm")))?;
        options.rpc_bind = SocketAddr::from(([127, 0, 0, 1], 0));
        options.rest_bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let jm = JobManager::open(options)?;
        let rpc_listener = runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))?;
        let rest_listener = runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))?;
        let (rpc, rest) = (rpc_listener.local_addr()?, rest_listener.local_addr()?);
        runtime.spawn(weir_rest::serve(jm.clone(), rpc_listener, rest_listener, shutdown.clone()));
        eprintln!("bench --state: JobManager REST API at http://{rest}, files in {}", dir.path().display());
        Ok(Cluster {
            jm,
            rpc,
            client: RestClient::new("127.0.0.1", rest.port()),
            taskmanager: None,
            started: 0,
            shutdown,
            _runtime: runtime,
            dir,
        })
    }

    /// Starts a TaskManager process and waits until it has registered.
    fn start_taskmanager(&mut self) -> anyhow::Result<()> {
        let known: BTreeSet<String> = self.jm.state().taskmanagers.keys().cloned().collect();
        self.started += 1;
        let log_path = self.dir.path().join(format!("taskmanager-{}.log", self.started));
        let log = std::fs::File::create(&log_path)?;
        // Its state (sled) goes into a temporary directory: inside ours, so a killed
        // TaskManager leaves nothing behind.
        let tmp = self.dir.path().join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let child = Command::new(std::env::current_exe()?)
            .args(["taskmanager", "--jobmanager", &self.rpc.to_string(), "--slots", "1"])
            .arg(format!("-D{}=127.0.0.1", keys::TASKMANAGER_HOST))
            .arg(format!("-D{}=127.0.0.1", keys::TASKMANAGER_BIND_HOST))
            .arg(format!("-D{}={HEARTBEAT_MS}", keys::HEARTBEAT_INTERVAL))
            .arg(format!("-D{}={}", keys::LOG_DIR, self.dir.path().join("log").display()))
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut tm = TaskManager { child, id: String::new() };
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let new = self.jm.state().taskmanagers.keys().find(|id| !known.contains(*id)).cloned();
            if let Some(id) = new {
                tm.id = id;
                break;
            }
            if let Ok(Some(status)) = tm.child.try_wait() {
                anyhow::bail!("the TaskManager exited ({status}) before it registered; see {}", log_path.display());
            }
            if Instant::now() > deadline {
                let _ = tm.child.kill();
                let _ = tm.child.wait();
                anyhow::bail!(
                    "the TaskManager did not register within {} s; see {}",
                    STEP_TIMEOUT.as_secs(),
                    log_path.display()
                );
            }
            std::thread::sleep(POLL);
        }
        self.taskmanager = Some(tm);
        Ok(())
    }

    /// Stops the TaskManager (SIGTERM, SIGKILL after 10 s) and waits until the JobManager has
    /// let it go, then starts a new one.
    fn restart_taskmanager(&mut self) -> anyhow::Result<()> {
        if let Some(mut tm) = self.taskmanager.take() {
            stop_child(&mut tm.child);
            self.wait_until("the JobManager to let the stopped TaskManager go", STEP_TIMEOUT, |c| {
                Ok((!c.jm.state().taskmanagers.contains_key(&tm.id)).then_some(()))
            })?;
        }
        self.start_taskmanager()
    }

    /// SIGKILL of the TaskManager.
    fn kill_taskmanager(&mut self) -> anyhow::Result<()> {
        let mut tm = self.taskmanager.take().ok_or_else(|| anyhow::anyhow!("no TaskManager runs"))?;
        tm.child.kill()?;
        tm.child.wait()?;
        Ok(())
    }

    fn taskmanager_pid(&self) -> anyhow::Result<u32> {
        self.taskmanager.as_ref().map(|tm| tm.child.id()).ok_or_else(|| anyhow::anyhow!("no TaskManager runs"))
    }

    /// `GET` of a REST path, its JSON answer (plain HTTP to this process's REST API).
    fn get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        self.client.get(path).map_err(|e| anyhow::anyhow!("GET {path}: {e}"))
    }

    /// Submits the state job.
    fn run(&self, jar: &str, args: &[String], savepoint: Option<String>) -> anyhow::Result<String> {
        let options = RunOptions {
            program_args: args.to_vec(),
            parallelism: Some(1),
            savepoint_path: savepoint,
            ..Default::default()
        };
        Ok(self.jm.run_jar(jar, options)?)
    }

    /// The job as the JobManager sees it now.
    fn view(&self, job: &str) -> anyhow::Result<View> {
        let state = self.jm.state();
        let j = state.jobs.get(job).ok_or_else(|| anyhow::anyhow!("the JobManager has no job {job}"))?;
        let vertex = j.record.graph.vertices.iter().position(|v| v.uid == UPDATER);
        let updater = vertex.and_then(|v| j.subtasks.get(v));
        let sum = |name: &str| -> Option<f64> {
            let values: Vec<f64> = updater?.iter().filter_map(|s| s.metric(name)).collect();
            (!values.is_empty()).then(|| values.iter().sum())
        };
        let new_keys = updater.and_then(|subtasks| {
            let values: Vec<f64> = subtasks
                .iter()
                .filter_map(|s| s.metrics.iter().find(|(name, _)| name.ends_with("newKeys")).map(|(_, v)| *v))
                .collect();
            (!values.is_empty()).then(|| values.iter().sum())
        });
        Ok(View {
            status: j.record.status,
            attempt: j.record.attempt,
            all_running: j.all_subtasks().all(|s| s.state == ExecutionState::Running),
            records: sum("numRecordsIn"),
            new_keys,
            failure: j.record.exceptions.last().map(|e| e.message.clone()),
        })
    }

    /// The REST API's vertex id of the state updater.
    fn vertex_id(&self, job: &str) -> anyhow::Result<String> {
        let state = self.jm.state();
        let j = state.jobs.get(job).ok_or_else(|| anyhow::anyhow!("the JobManager has no job {job}"))?;
        j.record
            .graph
            .vertices
            .iter()
            .find(|v| v.uid == UPDATER)
            .map(|v| v.id.to_string())
            .ok_or_else(|| anyhow::anyhow!("the job has no operator {UPDATER}"))
    }

    /// Polls `check` until it answers something, for at most `timeout`; fails on `check`'s
    /// error or at the deadline, naming `what` was awaited.
    fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Cluster) -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = check(self)? {
                return Ok(value);
            }
            anyhow::ensure!(Instant::now() < deadline, "gave up after {} s waiting for {what}", timeout.as_secs());
            std::thread::sleep(POLL);
        }
    }

    /// Fails if the job has ended or is failing.
    fn check_alive(view: &View, job: &str) -> anyhow::Result<()> {
        if view.status.is_globally_terminal() {
            anyhow::bail!(
                "job {job} ended {}{}",
                view.status.name(),
                view.failure.as_deref().map(|f| format!(": {f}")).unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Waits until the job (at an attempt after `after`, if given) runs with every task
    /// RUNNING; returns that moment.
    fn wait_running(&self, job: &str, after: Option<u32>) -> anyhow::Result<Instant> {
        self.wait_until(&format!("job {job} to run"), STEP_TIMEOUT, |c| {
            let view = c.view(job)?;
            Self::check_alive(&view, job)?;
            let fresh = after.is_none_or(|a| view.attempt > a);
            Ok((fresh && view.status == JobStatus::Running && view.all_running).then(Instant::now))
        })
    }

    /// Waits until records reach the state updater (its `numRecordsIn` above 0).
    fn wait_records(&self, job: &str) -> anyhow::Result<()> {
        self.wait_until(&format!("records to reach the state updater of job {job}"), STEP_TIMEOUT, |c| {
            let view = c.view(job)?;
            Self::check_alive(&view, job)?;
            Ok((view.records.unwrap_or(0.0) > 0.0).then_some(()))
        })
    }

    /// Waits until the state updater has taken `n` records (so written every key) and the job
    /// has run for [`MIN_WARM_UP`].
    fn warm_up(&self, job: &str, n: u64, timeout: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut last = 0.0;
        self.wait_until(&format!("the state updater to write all {n} keys"), timeout, |c| {
            let view = c.view(job)?;
            Self::check_alive(&view, job)?;
            last = view.records.unwrap_or(0.0);
            Ok((last >= n as f64 && started.elapsed() >= MIN_WARM_UP).then_some(()))
        })
        .map_err(|e| anyhow::anyhow!("{e:#} (it took {last:.0} records in {:.0} s)", started.elapsed().as_secs_f64()))
    }

    /// Checks a restored job's state: waits until the state updater has taken
    /// [`CHECKED_KEYS`] records (or `n`), each of another key written before the snapshot, and
    /// returns how many of those keys it did not find (its `newKeys` counter).
    fn check_restored(&self, job: &str, n: u64, timeout: Duration) -> anyhow::Result<f64> {
        let want = n.min(CHECKED_KEYS);
        let lost = self.wait_until(&format!("the restored state updater to take {want} records"), timeout, |c| {
            let view = c.view(job)?;
            Self::check_alive(&view, job)?;
            Ok((view.records.unwrap_or(0.0) >= want as f64).then(|| view.new_keys.unwrap_or(0.0)))
        })?;
        if lost > 0.0 {
            progress(
                n,
                &format!("WARNING: {lost:.0} of the first {want} keys read were missing from the restored state"),
            );
        } else {
            progress(n, &format!("the first {want} keys read were all in the restored state"));
        }
        Ok(lost)
    }

    /// Waits for the state updater's `numRecordsIn` to change (a heartbeat with new figures);
    /// returns the new value and when it arrived.
    fn next_sample(&self, job: &str) -> anyhow::Result<(f64, Instant)> {
        let current = self.view(job)?.records;
        self.wait_until(&format!("records to keep reaching the state updater of job {job}"), STALL_TIMEOUT, |c| {
            let view = c.view(job)?;
            Self::check_alive(&view, job)?;
            Ok(view.records.filter(|r| Some(*r) != current).map(|r| (r, Instant::now())))
        })
    }

    /// Records per second into the state updater over `window`, calling `during` as it goes.
    fn throughput(
        &self,
        job: &str,
        window: Duration,
        mut during: impl FnMut(&Cluster) -> anyhow::Result<()>,
    ) -> anyhow::Result<f64> {
        let (first, from) = self.next_sample(job)?;
        while from.elapsed() < window {
            during(self)?;
            let view = self.view(job)?;
            Self::check_alive(&view, job)?;
            std::thread::sleep(Duration::from_millis(20));
        }
        let (last, to) = self.next_sample(job)?;
        Ok((last - first) / (to - from).as_secs_f64())
    }

    /// Cancels the job and waits until it has ended.
    fn cancel(&self, job: &str) -> anyhow::Result<()> {
        self.jm.cancel_job(job)?;
        self.wait_until(&format!("job {job} to end"), STEP_TIMEOUT, |c| {
            Ok(c.view(job)?.status.is_globally_terminal().then_some(()))
        })
    }

    /// Upgrades the job in place to the jar with `args`; returns the time from the request to
    /// COMPLETED and the server's swap duration.
    fn upgrade(&self, job: &str, jar: &str, args: &[String]) -> anyhow::Result<(Duration, Option<i64>)> {
        let request =
            UpgradeRequest { jar_id: jar.to_string(), program_args_list: Some(args.to_vec()), ..Default::default() };
        let requested = Instant::now();
        let answer = self.client.upgrade(job, &request)?;
        let id = answer["request-id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the upgrade answer has no request id: {answer}"))?
            .to_string();
        let (done, completed) =
            self.wait_until(&format!("upgrade {id} of job {job} to complete"), STEP_TIMEOUT, |c| {
                let status = c.client.upgrade_status(job, &id)?;
                Ok((status["status"]["id"] == "COMPLETED").then(|| (status, requested.elapsed())))
            })?;
        let op = &done["operation"];
        let result = op["result"].as_str().unwrap_or("none");
        if result != "SWAPPED" {
            let cause = op["failure-cause"]["stack-trace"].as_str().unwrap_or("no cause given");
            anyhow::bail!("the upgrade ended {result}, not SWAPPED: {cause}");
        }
        Ok((completed, op["swap-duration"].as_i64().filter(|ms| *ms >= 0)))
    }

    /// Stops the job with a savepoint; returns the time from the request until the savepoint
    /// completed, and its location. Waits until the job has finished.
    fn stop_with_savepoint(&self, job: &str) -> anyhow::Result<(Duration, String)> {
        let target = self.dir.path().join("savepoints").display().to_string();
        let requested = Instant::now();
        let trigger = self.client.stop_with_savepoint(job, false, Some(&target), None)?;
        let (took, location) = self.wait_until(&format!("the savepoint of job {job}"), STEP_TIMEOUT, |c| {
            match c.client.savepoint_status(job, &trigger)? {
                Operation::InProgress => Ok(None),
                Operation::Completed(Some(location)) => Ok(Some((requested.elapsed(), location))),
                Operation::Completed(None) => anyhow::bail!("the savepoint of job {job} completed without a location"),
                Operation::Failed(failure) => {
                    anyhow::bail!("the savepoint of job {job} failed: {}", failure.headline())
                }
            }
        })?;
        self.wait_until(&format!("job {job} to finish after its savepoint"), STEP_TIMEOUT, |c| {
            let status = c.view(job)?.status;
            match status {
                JobStatus::Finished => Ok(Some(())),
                s if s.is_globally_terminal() => anyhow::bail!("job {job} ended {} after its savepoint", s.name()),
                _ => Ok(None),
            }
        })?;
        Ok((took, location))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The jobs go with the cluster: cancelled, so the TaskManager stops cleanly.
        let running: Vec<String> = self
            .jm
            .state()
            .jobs
            .iter()
            .filter(|(_, j)| !j.record.status.is_globally_terminal())
            .map(|(id, _)| id.to_string())
            .collect();
        for job in &running {
            let _ = self.jm.cancel_job(job);
        }
        if let Some(mut tm) = self.taskmanager.take() {
            stop_child(&mut tm.child);
        }
        self.shutdown.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_medians() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.0));
        assert_eq!(median::<f64>(&[]), None);
    }
}
