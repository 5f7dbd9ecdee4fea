//! `weir run-local`: a job in this process, reporting progress until it ends or Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use crate::builtin;
use weir_core::jobgraph::JobGraph;
use weir_runtime::minicluster::{JobStatus, MiniCluster};
use weir_wasm::Limits;
use weir_wasm::cache::ComponentCache;

#[derive(clap::Args)]
pub struct Args {
    /// Parallelism of every operator.
    #[arg(short = 'p', long, default_value_t = 1)]
    parallelism: u32,
    /// Seconds between progress reports (0: none).
    #[arg(long, default_value_t = 10)]
    progress_interval: u64,
    /// Memory limit of each guest instance, in MiB.
    #[arg(long, default_value_t = 256)]
    wasm_memory_mib: usize,
    /// Time limit of each call into a guest, in seconds.
    #[arg(long, default_value_t = 10)]
    wasm_call_timeout: u64,
    /// The job: a component file, or `click-event-count` for the built-in job.
    job: String,
    /// The program arguments, passed to the job's plan as they are.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    program_args: Vec<String>,
}

/// One line describing the job's graph.
pub fn describe(graph: &JobGraph) -> String {
    let mut parts = Vec::new();
    for v in &graph.vertices {
        let strategy = v.inputs.first().map(|e| format!("-{}-> ", e.strategy.flink_name())).unwrap_or_default();
        parts.push(format!("{strategy}{} [{}]", v.name, v.parallelism));
    }
    parts.join(" ")
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bytes = builtin::read_job(&args.job)?;
    let memory_bytes = args
        .wasm_memory_mib
        .checked_mul(1 << 20)
        .ok_or_else(|| anyhow::anyhow!("--wasm-memory-mib {} is too large", args.wasm_memory_mib))?;
    let limits = Limits { memory_bytes, call_time: Duration::from_secs(args.wasm_call_timeout), ..Limits::default() };
    let cluster = MiniCluster::new(limits, ComponentCache::default_location())?;
    let component = cluster.load(&bytes)?;
    let graph = cluster.plan(&component, &args.program_args, args.parallelism)?;
    tracing::info!(job = graph.job_id, name = graph.name, "{}", describe(&graph));
    let job = cluster.submit(component, graph)?;
    super::cancel_on_signal(job.cancel_token());

    let interval = Duration::from_secs(args.progress_interval);
    let mut waited = Duration::ZERO;
    while !job.is_done() {
        std::thread::sleep(Duration::from_millis(100));
        waited += Duration::from_millis(100);
        if !interval.is_zero() && waited >= interval {
            waited = Duration::ZERO;
            for v in &job.metrics().vertices {
                let sum =
                    |f: &dyn Fn(&weir_core::metrics::TaskMetrics) -> u64| v.subtasks.iter().map(|t| f(t)).sum::<u64>();
                tracing::info!(
                    vertex = v.name,
                    records_in = sum(&|t| t.num_records_in.get()),
                    records_out = sum(&|t| t.num_records_out.get()),
                    back_pressured_ms = sum(&|t| t.back_pressured_time_ns.get()) / 1_000_000,
                    wasm_ms = sum(&|t| t.wasm_time_ns.get()) / 1_000_000,
                    "progress"
                );
            }
        }
    }
    match job.wait() {
        JobStatus::Finished => {
            tracing::info!("job finished");
            Ok(ExitCode::SUCCESS)
        }
        JobStatus::Canceled => {
            tracing::info!("job cancelled");
            Ok(ExitCode::SUCCESS)
        }
        JobStatus::Failed(cause) => anyhow::bail!("the job failed: {cause}"),
    }
}
