//! The `weir` command line.
//!
//! Each subcommand is a module; they parse with clap and call into the library. Errors reach
//! the user as one clear message and a non-zero exit code.

mod bench;
mod cluster;
mod consume;
pub mod flink;
mod generator;
mod playground;
mod run_local;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::task::CancelToken;

/// Weir: a stream-processing cluster whose job logic is WebAssembly components.
#[derive(Parser)]
#[command(name = "weir", version, about, long_about = None, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole Operations Playground here: broker, JobManager, TaskManager, generator, job.
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
    /// Measure the Click Event Count job's throughput.
    Bench(bench::Args),
}

/// Sets up logging: `RUST_LOG` if set, else `info` (guest logs included).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librdkafka=warn,rdkafka=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
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

/// The actions the Flink-compatible frontend handles (and its help and version options).
const FLINK_ACTIONS: [&str; 11] =
    ["run", "run-application", "info", "list", "stop", "cancel", "savepoint", "-h", "--help", "-v", "--version"];

/// Weir's own actions, listed after Flink's help.
fn weir_actions_help() -> String {
    use clap::CommandFactory;
    let mut text = String::from("\nWeir's own actions (\"weir <action> --help\" shows their options):\n");
    for sub in Cli::command().get_subcommands() {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        text.push_str(&format!("     {:<14} {about}\n", sub.get_name()));
    }
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
        return flink::main("flink", rest);
    }
    let first = rest.first().map(String::as_str);
    if first.is_none_or(|a| FLINK_ACTIONS.contains(&a)) {
        let code = flink::main("weir", rest.clone());
        if matches!(first, Some("-h" | "--help")) && rest.len() == 1 {
            use std::io::Write;
            // A closed pipe (`weir --help | head`) is not an error worth a panic.
            let _ = std::io::stdout().write_all(weir_actions_help().as_bytes());
        }
        return code;
    }
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Playground(args) => playground::run(args),
        Command::Jobmanager(args) => cluster::jobmanager(args),
        Command::Taskmanager(args) => cluster::taskmanager(args),
        Command::RunLocal(args) => run_local::run(args),
        Command::Generator(args) => generator::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
