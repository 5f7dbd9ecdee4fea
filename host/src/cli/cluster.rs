//! `weir jobmanager` and `weir taskmanager`: the session cluster's processes, configured like
//! Flink's (a config file, `-D key=value` overrides, `FLINK_PROPERTIES`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use weir_cluster::jobmanager::dispatcher::CompileBudget;
use weir_cluster::jobmanager::{JobManager, JobManagerOptions};
use weir_cluster::taskmanager::{DataLimits, TaskManagerOptions};
use weir_config::{Configuration, keys};
use weir_core::cancel::CancelToken;
use weir_security::InternalTls;
use weir_wasm::Limits;

/// Options every cluster process takes.
#[derive(clap::Args, Clone, Debug)]
pub struct ConfigArgs {
    /// The directory with config.yaml or flink-conf.yaml (default: $WEIR_CONF_DIR,
    /// $FLINK_CONF_DIR, ./conf).
    #[arg(long)]
    config_dir: Option<PathBuf>,
    /// Overrides a configuration key, as Flink's -D.
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    dynamic: Vec<String>,
}

impl ConfigArgs {
    pub fn load(&self) -> anyhow::Result<Configuration> {
        let mut config = Configuration::load(self.config_dir.as_deref())?;
        config.apply_dynamic(&self.dynamic)?;
        // Checkpoint and savepoint paths may be `s3://...` in any process that reads them.
        weir_filesystems::register(&config)?;
        Ok(config)
    }
}

#[derive(clap::Args)]
pub struct JobManagerArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The REST port (rest.port, default 8081).
    #[arg(long = "rest.port")]
    rest_port: Option<u16>,
    /// Where jars and the job history are kept (weir.jobmanager.data-dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct TaskManagerArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The JobManager's RPC address host:port (default jobmanager.rpc.address:jobmanager.rpc.port).
    #[arg(long)]
    jobmanager: Option<String>,
    /// Task slots (taskmanager.numberOfTaskSlots, default 1).
    #[arg(long)]
    slots: Option<u32>,
}

fn bind(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    (host, port).to_socket_addrs()?.next().ok_or_else(|| anyhow::anyhow!("cannot resolve {host}"))
}

fn heartbeats(config: &Configuration) -> anyhow::Result<(Duration, Duration)> {
    let interval = config.get_duration_ms(keys::HEARTBEAT_INTERVAL, Duration::from_secs(1))?;
    let timeout = config.get_duration_ms(keys::HEARTBEAT_TIMEOUT, Duration::from_secs(5))?;
    if timeout <= interval {
        anyhow::bail!("heartbeat.timeout ({timeout:?}) must be longer than heartbeat.interval ({interval:?})");
    }
    Ok((interval, timeout))
}

/// The internal connections' mutual TLS, when `security.ssl.internal.enabled` is true: the
/// keystore and truststore must then be set and load, or the process does not start.
pub fn internal_tls(config: &Configuration) -> anyhow::Result<Option<InternalTls>> {
    if !config.get_bool(keys::SSL_INTERNAL_ENABLED, false)? {
        return Ok(None);
    }
    let path = |key: &str| {
        config
            .get_path(&[key])
            .ok_or_else(|| anyhow::anyhow!("{} is true, but {key} is not set", keys::SSL_INTERNAL_ENABLED))
    };
    let tls = InternalTls::load(&path(keys::SSL_INTERNAL_KEYSTORE)?, &path(keys::SSL_INTERNAL_TRUSTSTORE)?)?;
    tracing::info!("internal connections use mutual TLS (security.ssl.internal.enabled)");
    Ok(Some(tls))
}

/// What compiling an upload may cost (`weir.component.*`).
fn compile_budget(config: &Configuration) -> anyhow::Result<CompileBudget> {
    let default = CompileBudget::default();
    Ok(CompileBudget {
        max_functions: config.get_u64(keys::COMPONENT_MAX_FUNCTIONS, default.max_functions)?,
        timeout: config.get_duration_ms(keys::COMPONENT_COMPILE_TIMEOUT, default.timeout)?,
        plan_workers: usize::try_from(config.get_u64(keys::WASM_PLAN_WORKERS, u64::try_from(default.plan_workers)?)?)?
            .max(1),
        plan_queue: usize::try_from(config.get_u64(keys::WASM_PLAN_QUEUE, u64::try_from(default.plan_queue)?)?)?,
    })
}

/// The JobManager's options from its configuration.
pub fn jobmanager_options(
    config: Configuration,
    rest_port: Option<u16>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<JobManagerOptions> {
    let rest_port = match rest_port {
        Some(p) => p,
        None => u16::try_from(config.get_u64(keys::REST_PORT, 8081)?)?,
    };
    let rpc_port = u16::try_from(config.get_u64(keys::JOBMANAGER_PORT, 6123)?)?;
    let bind_host = config.get_or(keys::REST_BIND_ADDRESS, "0.0.0.0");
    let data_dir = data_dir
        .or_else(|| config.get(keys::JOBMANAGER_DATA_DIR).map(PathBuf::from))
        .unwrap_or_else(|| std::env::temp_dir().join("weir-jobmanager"));
    let (_, heartbeat_timeout) = heartbeats(&config)?;
    let default_parallelism = u32::try_from(config.get_u64(keys::DEFAULT_PARALLELISM, 1)?)?.max(1);
    Ok(JobManagerOptions {
        rest_bind: bind(&bind_host, rest_port)?,
        rpc_bind: bind(&config.get_or(keys::JOBMANAGER_BIND_HOST, "0.0.0.0"), rpc_port)?,
        data_dir,
        heartbeat_timeout,
        default_parallelism,
        limits: sandbox_limits(&config)?,
        upgrade: weir_cluster::jobmanager::upgrade::UpgradeOptions::from_config(&config)?,
        internal_tls: internal_tls(&config)?,
        compile_budget: compile_budget(&config)?,
        config,
    })
}

/// This machine's name, if it has one.
pub fn machine_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    ok.then(|| String::from_utf8_lossy(&buf[..buf.iter().position(|b| *b == 0).unwrap_or(buf.len())]).into_owned())
        .filter(|n| !n.is_empty())
}

/// A host name other machines can reach this one at: `taskmanager.host`, else this machine's
/// name if it resolves, else the loopback address.
fn advertised_host(config: &Configuration) -> String {
    if let Some(host) = config.get(keys::TASKMANAGER_HOST) {
        return host.to_string();
    }
    machine_name().filter(|n| (n.as_str(), 0).to_socket_addrs().is_ok()).unwrap_or_else(|| "127.0.0.1".into())
}

/// The TaskManager's options from its configuration.
pub fn taskmanager_options(
    config: &Configuration,
    jobmanager: Option<String>,
    slots: Option<u32>,
) -> anyhow::Result<TaskManagerOptions> {
    let jobmanager = match jobmanager {
        Some(jm) => jm,
        None => format!(
            "{}:{}",
            config.get_or(keys::JOBMANAGER_ADDRESS, "localhost"),
            config.get_u64(keys::JOBMANAGER_PORT, 6123)?
        ),
    };
    let slots = match slots {
        Some(s) => s,
        None => u32::try_from(config.get_u64(keys::TASK_SLOTS, 1)?)?,
    };
    if slots == 0 {
        anyhow::bail!("a TaskManager needs at least one slot");
    }
    let (heartbeat_interval, _) = heartbeats(config)?;
    let data_port = config.get_u64(keys::TASKMANAGER_DATA_PORT, 0)?;
    Ok(TaskManagerOptions {
        jobmanager,
        slots,
        host: advertised_host(config),
        data_bind: format!("{}:{data_port}", config.get_or(keys::TASKMANAGER_BIND_HOST, "0.0.0.0")),
        heartbeat_interval,
        limits: sandbox_limits(config)?,
        internal_tls: internal_tls(config)?,
        data_limits: data_limits(config)?,
        incremental_checkpoints: {
            let key = keys::CHECKPOINTING_INCREMENTAL.iter().find(|k| config.get(k).is_some());
            config.get_bool(key.unwrap_or(&keys::CHECKPOINTING_INCREMENTAL[0]), true)?
        },
        state_cache_bytes: config
            .get_memory_size(keys::STATE_BACKEND_SLED_CACHE_SIZE, weir_core::state::backend::DEFAULT_CACHE_BYTES)?,
    })
}

/// What peers may hold of a TaskManager's data server (`weir.taskmanager.data.*`).
fn data_limits(config: &Configuration) -> anyhow::Result<DataLimits> {
    let default = DataLimits::default();
    let max = u64::try_from(default.max_connections).unwrap_or(u64::MAX);
    let max = config.get_u64(keys::TASKMANAGER_DATA_MAX_CONNECTIONS, max)?;
    Ok(DataLimits {
        max_connections: usize::try_from(max)?,
        handshake_timeout: config
            .get_duration_ms(keys::TASKMANAGER_DATA_HANDSHAKE_TIMEOUT, default.handshake_timeout)?,
    })
}

/// Says so at start when the JobManager listens beyond this machine with nobody checked: its
/// REST API runs any component it is sent, its RPC port registers any TaskManager.
pub(crate) fn warn_if_open(options: &JobManagerOptions) -> anyhow::Result<()> {
    let token =
        options.config.get_secret(keys::REST_AUTHENTICATION_TOKEN, keys::REST_AUTHENTICATION_TOKEN_FILE)?.is_some();
    if !options.rest_bind.ip().is_loopback() && !token {
        tracing::warn!(
            address = %options.rest_bind,
            "the REST API listens beyond this machine without a token: anyone who reaches it can run code \
             on this cluster (set {} or bind {} to 127.0.0.1; see README, Securing a cluster)",
            keys::REST_AUTHENTICATION_TOKEN,
            keys::REST_BIND_ADDRESS,
        );
    }
    if !options.rpc_bind.ip().is_loopback() && options.internal_tls.is_none() {
        tracing::warn!(
            address = %options.rpc_bind,
            "the RPC port listens beyond this machine without mutual TLS: anyone who reaches it can \
             register as a TaskManager and be sent jobs (set {} or bind {} to 127.0.0.1; see README, \
             Securing a cluster)",
            keys::SSL_INTERNAL_ENABLED,
            keys::JOBMANAGER_BIND_HOST,
        );
    }
    Ok(())
}

/// Every Kafka client of this process gets the cluster's `weir.kafka.client.*` properties
/// (credentials, TLS): a job's plan may not set them.
pub(crate) fn kafka_client_properties(config: &Configuration) {
    let properties = weir_connectors::kafka::policy::cluster_properties(config.entries());
    if !properties.is_empty() {
        tracing::info!(
            properties = properties.len(),
            "Kafka clients get the cluster's {}* properties",
            keys::KAFKA_CLIENT_PREFIX
        );
    }
    weir_connectors::kafka::policy::set_cluster_properties(properties);
}

/// The sandbox limits of every guest instance, from the configuration (its resource budget
/// and time limits: `weir.wasm.*`; the caps on what a guest makes the host hold:
/// `weir.guest.*`, `weir.plan.*`).
pub fn sandbox_limits(config: &Configuration) -> anyhow::Result<Limits> {
    let default = Limits::default();
    let budget = default.budget;
    let size = |key: &str, default: usize| -> anyhow::Result<usize> {
        let bytes = config.get_memory_size(key, u64::try_from(default)?)?;
        usize::try_from(bytes).map_err(|_| anyhow::anyhow!("{key} is too large for this machine: {bytes} bytes"))
    };
    let count = |key: &str, default: usize| -> anyhow::Result<usize> {
        let n = config.get_u64(key, u64::try_from(default)?)?;
        usize::try_from(n).map_err(|_| anyhow::anyhow!("{key} is too large for this machine: {n}"))
    };
    let limits = Limits {
        memory_bytes: size(keys::WASM_MEMORY_LIMIT, default.memory_bytes)?,
        call_time: config.get_duration_ms(keys::WASM_CALL_TIMEOUT, default.call_time)?,
        plan_time: config.get_duration_ms(keys::WASM_PLAN_TIMEOUT, default.plan_time)?,
        budget: weir_wasm::Budget {
            memories: count(keys::WASM_MAX_MEMORIES, budget.memories)?,
            tables: count(keys::WASM_MAX_TABLES, budget.tables)?,
            instances: count(keys::WASM_MAX_INSTANCES, budget.instances)?,
            table_elements: count(keys::WASM_MAX_TABLE_ELEMENTS, budget.table_elements)?,
            stack_bytes: size(keys::WASM_STACK_SIZE, budget.stack_bytes)?,
        },
        caps: weir_wasm::caps::GuestCaps::from_config(config)?,
    };
    if limits.call_time.is_zero() || limits.plan_time.is_zero() {
        anyhow::bail!("{} and {} must be longer than 0", keys::WASM_CALL_TIMEOUT, keys::WASM_PLAN_TIMEOUT);
    }
    Ok(limits)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

pub fn jobmanager(args: JobManagerArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    let options = jobmanager_options(config, args.rest_port, args.data_dir)?;
    super::install_log_files(&options.config, "jobmanager", options.data_dir.join("log"))?;
    warn_if_open(&options)?;
    let shutdown = CancelToken::new();
    super::cancel_on_signal(shutdown.clone());
    kafka_client_properties(&options.config);
    let jm = JobManager::open(options)?;
    runtime()?.block_on(weir_rest::run(jm, shutdown))?;
    Ok(ExitCode::SUCCESS)
}

pub fn taskmanager(args: TaskManagerArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    let options = taskmanager_options(&config, args.jobmanager, args.slots)?;
    kafka_client_properties(&config);
    super::install_log_files(&config, "taskmanager", std::env::temp_dir().join("weir-log"))?;
    let shutdown = CancelToken::new();
    super::cancel_on_signal(shutdown.clone());
    runtime()?.block_on(weir_cluster::taskmanager::run(options, shutdown))?;
    Ok(ExitCode::SUCCESS)
}
