//! The `weir` command line.
//!
//! Each subcommand is a module; they parse with clap and call into the library. Errors reach
//! the user as one clear message and a non-zero exit code.

mod bench;
mod bench_backend;
mod bench_cluster;
mod bench_latency;
mod bench_state;
mod bench_upgrade;
mod build;
mod certificates;
mod cluster;
mod compile;
mod consume;

mod generator;
mod info;
mod new;
mod playground;
mod produce;
mod run_local;
pub(crate) mod wasm_target;

use std::process::{Child, ExitCode};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use weir_core::cancel::CancelToken;

/// Weir: a stream-processing cluster whose job logic is WebAssembly components.
#[derive(Parser)]
#[command(name = "weir", version, about, long_about = None, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole Operations Playground here: broker, JobManager, TaskManager, generator, job
    /// (--no-job: broker and cluster only, for your own jobs).
    Playground(playground::Args),
    /// Run the JobManager: REST API (port 8081), dispatcher, scheduler.
    Jobmanager(cluster::JobManagerArgs),
    /// Run a TaskManager that registers its slots with the JobManager.
    Taskmanager(cluster::TaskManagerArgs),
    /// Run a job in this process, with N parallel subtasks per operator (like Flink's MiniCluster).
    RunLocal(run_local::Args),
    /// Write the playground's click events to a Kafka topic.
    Generator(generator::Args),
    /// Print the records of a Kafka topic.
    Consume(consume::Args),
    /// Write each line of standard input to a Kafka topic as a record.
    Produce(produce::Args),
    /// Make a Rust job project in a new directory: a sample job, its README, the SDK it builds on.
    New(new::Args),
    /// Build the job project in a directory (default: here) into a component for wasm32-wasip2.
    Build(build::Args),
    /// Measure the Click Event Count job's throughput (or upgrades, latency, keyed state).
    Bench(bench::Args),
    /// Make a cluster's CA, TLS certificates and REST token, and print the configuration that uses them.
    Certificates(certificates::Args),
}

/// Sets up logging: `RUST_LOG` if set, else `info` (guest logs included), to stderr and, once a
/// cluster process calls [`install_log_files`], to its rotated log files as well.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librdkafka=warn,rdkafka=warn"));
    // Colours only on a terminal: a log redirected to a file (a TaskManager's, say) is plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    // The log files are always plain text.
    let files = tracing_subscriber::fmt::layer().with_writer(|| weir_cluster::logs::LogWriter).with_ansi(false);
    let _ = tracing_subscriber::registry().with(filter).with(stderr).with(files).try_init();
}

/// The size at which a log file rotates by default (`weir.log.file-size`).
const LOG_FILE_SIZE: u64 = 10 << 20;
/// How many rotated files are kept by default (`env.log.max`, Flink's default).
const LOG_MAX: u64 = 10;

/// Writes this process's log into `env.log.dir` (else `default_dir`) as `weir-<role>-<pid>.log`,
/// rotated at `weir.log.file-size` bytes, keeping `env.log.max` rotated files: at most
/// `(env.log.max + 1) × weir.log.file-size` bytes on disk.
pub(crate) fn install_log_files(
    config: &weir_config::Configuration,
    role: &str,
    default_dir: std::path::PathBuf,
) -> anyhow::Result<()> {
    use weir_config::keys;
    let dir = config.get(keys::LOG_DIR).map(std::path::PathBuf::from).unwrap_or(default_dir);
    let max_size = config.get_u64(keys::LOG_FILE_SIZE, LOG_FILE_SIZE)?.max(1024);
    let max_files = u32::try_from(config.get_u64(keys::LOG_MAX, LOG_MAX)?)
        .map_err(|_| anyhow::anyhow!("{} is too large", keys::LOG_MAX))?;
    let base = format!("weir-{role}-{}.log", std::process::id());
    let files = weir_cluster::logs::LogFiles { dir: dir.clone(), base, max_size, max_files };
    weir_cluster::logs::install(files)
        .map_err(|e| anyhow::anyhow!("cannot write log files into {} ({}): {e}", dir.display(), keys::LOG_DIR))?;
    tracing::info!(dir = %dir.display(), role, "logging into files");
    Ok(())
}

/// The environment variable that shifts the processing-time clock guests see, in milliseconds
/// (a testing aid: tests put the clock into a chosen minute rather than wait for it).
pub const CLOCK_OFFSET_VAR: &str = "WEIR_TESTING_CLOCK_OFFSET_MS";

/// Applies [`CLOCK_OFFSET_VAR`], read once at start; a malformed value stops the command.
fn shift_processing_time() -> anyhow::Result<()> {
    let Some(value) = std::env::var_os(CLOCK_OFFSET_VAR) else { return Ok(()) };
    let offset: i64 = value
        .to_str()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{CLOCK_OFFSET_VAR} must be a whole number of milliseconds, not {value:?}"))?;
    weir_core::timer::set_processing_time_offset(offset);
    tracing::warn!(offset_ms = offset, "processing time is shifted by {CLOCK_OFFSET_VAR} (a testing aid)");
    Ok(())
}

/// Cancels `token` on Ctrl-C or SIGTERM.
fn cancel_on_signal(token: CancelToken) {
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        });
        tracing::info!("stopping (signal received)");
        token.cancel();
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot watch for Ctrl-C");
    }
}

/// The actions the Flink-compatible frontend handles (and its version option).
const FLINK_ACTIONS: [&str; 11] =
    ["run", "run-application", "info", "list", "stop", "cancel", "savepoint", "upgrade", "rescale", "-v", "--version"];

/// Flink's actions as `weir` lists them in its short help, one line each.
const FLINK_ACTION_LINES: [(&str, &str); 9] = [
    ("run", "Submit a job component (a \"jar\"): weir run -d [-p N] [-s <savepoint> [-n]] <job.wasm> <args...>"),
    ("run-application", "Refused: Weir runs jobs on a session cluster"),
    ("info", "Print a job component's plan as JSON, planned here (nothing is uploaded)"),
    ("list", "List jobs: -r running, -s scheduled, -a all"),
    ("stop", "Stop a job with a savepoint: weir stop [-p <dir>] [-d] <job id>"),
    ("cancel", "Cancel a job: weir cancel <job id>"),
    ("savepoint", "Trigger a savepoint (weir savepoint <job id> [dir]) or dispose one (-d <path>)"),
    ("upgrade", "Weir: swap a running job's code, state kept: weir upgrade [--dry-run] <job id> <job.wasm> [args]"),
    ("rescale", "Weir: change a running job's parallelism, state kept: weir rescale <job id> -p N | --vertex <v>=N"),
];

/// `weir`, `weir -h`: a short help of every action, Flink's and Weir's, and the options Weir honours.
fn short_help() -> String {
    use clap::CommandFactory;
    let mut text = String::from(
        "Weir: a stream-processing cluster whose job logic is WebAssembly components.\n\n\
         Usage: weir <ACTION> [OPTIONS] [ARGUMENTS]\n\n\
         Flink's actions (the same as Flink's CLI, over the JobManager's REST API), upgrade and rescale:\n",
    );
    for (name, about) in FLINK_ACTION_LINES {
        text.push_str(&format!("  {name:<16} {about}\n"));
    }
    text.push_str("\nWeir's own actions (\"weir <action> --help\" shows their options):\n");
    for sub in Cli::command().get_subcommands() {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        text.push_str(&format!("  {:<16} {about}\n", sub.get_name()));
    }
    text.push_str(
        "\nOptions of Flink's actions that Weir honours:\n\
         \x20 -m, --jobmanager <host:port>   The JobManager's REST address (default: rest.address:rest.port)\n\
         \x20 -D <key=value>                 A configuration option, as in config.yaml\n\
         \x20 -p, --parallelism <n>          run: the job's parallelism\n\
         \x20 -d, --detached                 run: return once the job is submitted\n\
         \x20 -s, --fromSavepoint <path>     run: restore from a savepoint\n\
         \x20 -n, --allowNonRestoredState    run: skip savepoint state no operator takes\n\
         \x20 -t, --target remote            the only deployment target\n\
         Flink's Python (-py...), classpath (-C) and YARN options are refused with an error.\n\n\
         The full Flink-compatible help: \"weir <action> -h\" for one action, \"weir --flink-help\" for all\n\
         (or \"flink -h\" where the binary is linked as flink). \"weir -v\" prints the version.\n",
    );
    text
}

/// Runs the command line. Invoked as `flink`, or with one of Flink's actions, it is Flink's
/// CLI; otherwise Weir's own commands.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let program = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rest: Vec<String> = args.iter().skip(1).cloned().collect();
    if program == "flink" {
        return weir_flink_cli::main("flink", rest, &info::plan_locally);
    }
    let first = rest.first().map(String::as_str);
    match first {
        None | Some("-h" | "--help" | "help") => {
            use std::io::Write;
            // A closed pipe (`weir --help | head`) is not an error worth a panic.
            let _ = std::io::stdout().write_all(short_help().as_bytes());
            return if first.is_none() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        }
        Some("--flink-help") => return weir_flink_cli::main("weir", vec!["--help".to_string()], &info::plan_locally),
        // The JobManager's compiler process: no logging, nothing but the component's fate.
        Some(weir_wasm::cache::COMPILE_COMMAND) => return compile::run(&rest[1..]),
        Some(action) if FLINK_ACTIONS.contains(&action) => {
            return weir_flink_cli::main("weir", rest, &info::plan_locally);
        }
        Some(_) => {}
    }
    let cli = Cli::parse();
    init_logging();
    if let Err(error) = shift_processing_time() {
        eprintln!("error: {error:#}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Playground(args) => playground::run(args),
        Command::Jobmanager(args) => cluster::jobmanager(args),
        Command::Taskmanager(args) => cluster::taskmanager(args),
        Command::RunLocal(args) => run_local::run(args),
        Command::Generator(args) => generator::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Produce(args) => produce::run(args),
        Command::New(args) => new::run(args),
        Command::Build(args) => build::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Certificates(args) => certificates::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM to a child process, SIGKILL if it has not exited 10 s later; reaps it.
pub(crate) fn stop_child(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) on our own child's pid, which is not reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
