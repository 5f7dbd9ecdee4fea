//! `weir generator`: the playground's `ClickEventGenerator`.

use std::process::ExitCode;

use weir_connectors::generator::{DEFAULT_RATE, GeneratorOptions};
use weir_core::cancel::CancelToken;

#[derive(clap::Args)]
pub struct Args {
    /// Kafka brokers.
    #[arg(long = "bootstrap.servers", default_value = "localhost:9092")]
    bootstrap_servers: String,
    /// The topic to write to (created with 2 partitions if missing).
    #[arg(long, default_value = "input")]
    topic: String,
    /// Events per second; 0 writes as fast as the broker takes them.
    #[arg(long, default_value_t = DEFAULT_RATE)]
    rate: f64,
    /// Stop after this many events (default: never).
    #[arg(long)]
    count: Option<u64>,
    /// Start at this event of the sequence (default 0), to go on where another run stopped.
    #[arg(long, default_value_t = 0)]
    start: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.rate < 0.0 || !args.rate.is_finite() {
        anyhow::bail!("--rate must be a number of events per second, 0 or more");
    }
    let options = GeneratorOptions {
        bootstrap_servers: args.bootstrap_servers,
        topic: args.topic,
        rate: (args.rate > 0.0).then_some(args.rate),
        count: args.count,
        start: args.start,
    };
    let cancel = CancelToken::new();
    super::cancel_on_signal(cancel.clone());
    tracing::info!(topic = options.topic, servers = options.bootstrap_servers, rate = ?options.rate, count = ?options.count, "generating click events");
    let written =
        weir_connectors::generator::run(&options, &cancel, |n| tracing::info!(events = n, "click events written"))?;
    tracing::info!(events = written, "generator stopped");
    Ok(ExitCode::SUCCESS)
}
