//! `weir playground`: Flink's Operations Playground on one machine with one command: a
//! Kafka-protocol broker (embedded, unless `--bootstrap-servers` names one), a JobManager, a
//! TaskManager with 2 slots as its own process (so it can be killed and replaced), the click
//! generator, and the Click Event Count job submitted as the playground's client submits it.
//! With `--no-job`, only the broker (topics `input` and `output` made), the cluster and the REST
//! API: a development loop's cluster for one's own jobs. Ctrl-C stops everything.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::builtin;
use weir_broker::{BrokerConfig, EmbeddedBroker};
use weir_cluster::jobmanager::JobManager;
use weir_cluster::jobmanager::dispatcher::RunOptions;
use weir_config::{Configuration, keys};
use weir_connectors::generator::{DEFAULT_RATE, GeneratorOptions};
use weir_connectors::kafka::DEFAULT_PARTITIONS;
use weir_core::cancel::CancelToken;

#[derive(clap::Args)]
pub struct Args {
    /// Use this Kafka broker instead of starting the embedded one.
    #[arg(long)]
    bootstrap_servers: Option<String>,
    /// The embedded broker's port.
    #[arg(long, default_value_t = 9092)]
    kafka_port: u16,
    /// The REST API and web UI port.
    #[arg(long, default_value_t = 8081)]
    rest_port: u16,
    /// The port TaskManagers register at.
    #[arg(long, default_value_t = 6123)]
    rpc_port: u16,
    /// The address the REST API, the RPC port, the broker and the TaskManager's data port
    /// listen on: this machine only, unless another is given (the REST API runs any component
    /// it is sent, and the playground has no token).
    #[arg(long, default_value = "127.0.0.1")]
    bind_address: std::net::IpAddr,
    /// Slots of the TaskManager.
    #[arg(long, default_value_t = 2)]
    slots: u32,
    /// Click events per second from the generator (the playground's pace is about 500).
    #[arg(long, default_value_t = DEFAULT_RATE)]
    rate: f64,
    /// Where jars, job history, checkpoints, savepoints and logs go.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Start only the broker (topics `input` and `output` made), the JobManager, the TaskManager
    /// and the REST API / web UI: no Click Event Count job and no click generator.
    #[arg(long)]
    no_job: bool,
}

/// Stops the TaskManager child when the playground ends, however it ends.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            super::stop_child(&mut child);
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let data = args.data_dir.clone().unwrap_or_else(|| std::env::temp_dir().join("weir-playground"));
    std::fs::create_dir_all(&data)?;
    let shutdown = CancelToken::new();
    super::cancel_on_signal(shutdown.clone());

    // The broker.
    let broker = match &args.bootstrap_servers {
        Some(_) => None,
        None => Some(
            EmbeddedBroker::start_blocking(BrokerConfig {
                listen: SocketAddr::new(args.bind_address, args.kafka_port),
                advertised_host: "127.0.0.1".into(),
                default_partitions: 2,
            })
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot start the embedded Kafka broker: {e} (is port {} taken? try --kafka-port)",
                    args.kafka_port
                )
            })?,
        ),
    };
    let bootstrap = match (&args.bootstrap_servers, &broker) {
        (Some(servers), _) => servers.clone(),
        (None, Some(b)) => b.bootstrap_servers(),
        (None, None) => unreachable!("a broker was started when none was given"),
    };

    // The JobManager, in this process.
    let mut config = Configuration::default();
    config.set(keys::REST_PORT, args.rest_port.to_string());
    config.set(keys::JOBMANAGER_PORT, args.rpc_port.to_string());
    config.set(keys::REST_BIND_ADDRESS, args.bind_address.to_string());
    config.set(keys::JOBMANAGER_BIND_HOST, args.bind_address.to_string());
    config.set(keys::CHECKPOINTS_DIR[0], data.join("checkpoints").display().to_string());
    config.set(keys::SAVEPOINTS_DIR[0], data.join("savepoints").display().to_string());
    config.set(keys::JOBMANAGER_DATA_DIR, data.join("jobmanager").display().to_string());
    // Jobs submitted here may reach only the playground's broker (by either loopback name).
    let loopback = bootstrap.strip_prefix("localhost:").map(|port| format!(",127.0.0.1:{port}")).unwrap_or_default();
    config.set(keys::KAFKA_ALLOWED_BROKERS, format!("{bootstrap}{loopback}"));
    let options = super::cluster::jobmanager_options(config, None, None)?;
    // The JobManager's and the TaskManager's log files, served by the REST API and the web UI.
    let log_dir = data.join("log");
    super::install_log_files(&options.config, "jobmanager", log_dir.clone())?;
    super::cluster::warn_if_open(&options)?;
    let (rpc_bind, rest_bind) = (options.rpc_bind, options.rest_bind);
    let jm = JobManager::open(options)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let rpc = runtime.block_on(tokio::net::TcpListener::bind(rpc_bind))?;
    let rest = runtime.block_on(tokio::net::TcpListener::bind(rest_bind)).map_err(|e| {
        anyhow::anyhow!("cannot listen on port {} for the REST API: {e} (try --rest-port)", args.rest_port)
    })?;
    let server = runtime.spawn(weir_rest::serve(jm.clone(), rpc, rest, shutdown.clone()));

    // The TaskManager, as a process of its own.
    let log_path = data.join("taskmanager.log");
    let log = std::fs::File::create(&log_path)?;
    let taskmanager = Command::new(std::env::current_exe()?)
        .args([
            "taskmanager",
            "--jobmanager",
            &format!("127.0.0.1:{}", args.rpc_port),
            "--slots",
            &args.slots.to_string(),
        ])
        .arg("-Dtaskmanager.host=127.0.0.1")
        .arg(format!("-D{}={}", keys::TASKMANAGER_BIND_HOST, args.bind_address))
        .arg(format!("-Denv.log.dir={}", log_dir.display()))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let tm_pid = taskmanager.id();
    let _taskmanager = ChildGuard(Some(taskmanager));
    let deadline = Instant::now() + Duration::from_secs(30);
    while jm.state().taskmanagers.is_empty() {
        if Instant::now() > deadline || shutdown.is_cancelled() {
            anyhow::bail!("the TaskManager did not register; see {}", log_path.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // The generator and the job, unless only the cluster is wanted.
    let generator_stop = CancelToken::new();
    let generator = if args.no_job {
        weir_connectors::kafka::ensure_topics(&bootstrap, &["input", "output"], DEFAULT_PARTITIONS)
            .map_err(|e| anyhow::anyhow!("cannot make the topics input and output on {bootstrap}: {e}"))?;
        let banner = banner_without_job(&args, &bootstrap, broker.is_some(), tm_pid, &log_path, &data);
        let _ = std::io::stdout().write_all(banner.as_bytes());
        None
    } else {
        let options = GeneratorOptions {
            bootstrap_servers: bootstrap.clone(),
            topic: "input".into(),
            rate: (args.rate > 0.0).then_some(args.rate),
            count: None,
            start: 0,
        };
        let stop = generator_stop.clone();
        let generator = std::thread::Builder::new().name("generator".into()).spawn(move || {
            if let Err(error) = weir_connectors::generator::run(&options, &stop, |_| {}) {
                tracing::error!(%error, "the generator stopped");
            }
        })?;

        // The job, as the playground's client submits it.
        let jar = jm.upload_jar("ClickCountJob.jar", builtin::CLICK_EVENT_COUNT.to_vec())?;
        let program_args: Vec<String> = ["--bootstrap.servers", &bootstrap, "--checkpointing", "--event-time"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let job = jm.run_jar(&jar.id, RunOptions { program_args, ..Default::default() })?;

        // The upgrade demo's components, where the banner's commands find them.
        let demos = data.join("components");
        std::fs::create_dir_all(&demos)?;
        for (name, bytes) in builtin::UPGRADE_DEMOS {
            std::fs::write(demos.join(name), bytes)?;
        }
        let banner = banner(&args, &bootstrap, broker.is_some(), tm_pid, &log_path, &job, &demos);
        let _ = std::io::stdout().write_all(banner.as_bytes());
        Some(generator)
    };
    let _ = std::io::stdout().flush();

    while !shutdown.is_cancelled() {
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("Stopping the playground...");
    // Jobs end cancelled: the embedded broker's topics go with it, so nothing could resume.
    let running: Vec<String> = jm
        .state()
        .jobs
        .values()
        .filter(|j| !j.record.status.is_globally_terminal())
        .map(|j| j.record.id().to_string())
        .collect();
    for id in &running {
        let _ = jm.cancel_job(id);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && jm
            .state()
            .jobs
            .values()
            .any(|j| running.contains(&j.record.id().to_string()) && !j.record.status.is_globally_terminal())
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    generator_stop.cancel();
    if let Some(generator) = generator {
        let _ = generator.join();
    }
    drop(_taskmanager);
    let _ = runtime.block_on(server);
    if let Some(broker) = broker {
        broker.shutdown();
    }
    Ok(ExitCode::SUCCESS)
}

/// What the playground prints once it is up: where everything is and what to try.
fn banner(
    args: &Args,
    bootstrap: &str,
    embedded: bool,
    tm_pid: u32,
    tm_log: &std::path::Path,
    job: &str,
    demos: &std::path::Path,
) -> String {
    let broker = if embedded { "embedded broker" } else { "external broker" };
    let rest = args.rest_port;
    let rpc = args.rpc_port;
    format!(
        "
Weir playground is running.

  Web UI and REST API  http://localhost:{rest}   (curl localhost:{rest}/jobs/overview)
  Kafka                {bootstrap} ({broker}), topics input and output
  TaskManager          PID {tm_pid}, {slots} slots (log: {log})
  Job                  Click Event Count, {job}

Try:
  weir list -m localhost:{rest}
  weir consume --bootstrap.servers {bootstrap} --topic output
  kill -9 {tm_pid}      # then: weir taskmanager --jobmanager localhost:{rpc} --slots 2 -Dtaskmanager.host=127.0.0.1
  weir stop -m localhost:{rest} {job}

Hot-swap upgrade (code replaced at a checkpoint barrier, state kept, no restart):
  weir upgrade -m localhost:{rest} {job} {demos}/click_event_count_v1_1.wasm
  weir upgrade -m localhost:{rest} {job} {demos}/click_event_count_faulty.wasm   # rolled back

Ctrl-C stops everything.
",
        slots = args.slots,
        log = tm_log.display(),
        demos = demos.display(),
    )
}

/// What `playground --no-job` prints once it is up: what runs (and what does not), and how to
/// submit a job of one's own against it.
fn banner_without_job(
    args: &Args,
    bootstrap: &str,
    embedded: bool,
    tm_pid: u32,
    tm_log: &std::path::Path,
    data: &std::path::Path,
) -> String {
    let broker = if embedded { "embedded broker" } else { "external broker" };
    let rest = args.rest_port;
    format!(
        "
Weir playground is running without a job (--no-job): no Click Event Count job, no click generator.

  Web UI and REST API  http://localhost:{rest}   (curl localhost:{rest}/jobs/overview)
  Kafka                {bootstrap} ({broker}), topics input and output (made if missing)
  JobManager           in this process, TaskManagers register on port {rpc}
  TaskManager          PID {tm_pid}, {slots} slots (log: {log})
  Data                 {data}

Submit a job of your own:
  weir run -d -m localhost:{rest} <job.wasm> --bootstrap.servers {bootstrap}
  weir generator --bootstrap.servers {bootstrap} --topic input     # the playground's clicks, if it reads them
  weir consume --bootstrap.servers {bootstrap} --topic output

Ctrl-C stops everything.
",
        rpc = args.rpc_port,
        slots = args.slots,
        log = tm_log.display(),
        data = data.display(),
    )
}
