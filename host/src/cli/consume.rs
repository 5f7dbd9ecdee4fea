//! `weir consume`: prints a topic's record values, one per line (`kafka-console-consumer`).

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use weir_core::cancel::CancelToken;

#[derive(clap::Args)]
pub struct Args {
    /// Kafka brokers.
    #[arg(long = "bootstrap.servers", default_value = "localhost:9092")]
    bootstrap_servers: String,
    /// The topic to read.
    #[arg(long, default_value = "output")]
    topic: String,
    /// Start at the beginning of the topic instead of its end.
    #[arg(long)]
    from_beginning: bool,
    /// Stop after this many records.
    #[arg(long)]
    count: Option<u64>,
    /// Stop when no record arrives for this many seconds.
    #[arg(long)]
    idle_timeout: Option<u64>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("group.id", "weir-consume")
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&args.topic), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == args.topic && t.error().is_none())
        .map(|t| t.partitions().len())
        .filter(|n| *n > 0)
        .ok_or_else(|| anyhow::anyhow!("topic '{}' does not exist", args.topic))?;
    let mut assignment = TopicPartitionList::new();
    let start = if args.from_beginning { Offset::Beginning } else { Offset::End };
    let partitions = i32::try_from(partitions).map_err(|_| {
        anyhow::anyhow!("topic '{}' reports {partitions} partitions, more than Kafka allows", args.topic)
    })?;
    for p in 0..partitions {
        assignment.add_partition_offset(&args.topic, p, start)?;
    }
    consumer.assign(&assignment)?;
    let cancel = CancelToken::new();
    super::cancel_on_signal(cancel.clone());
    let stdout = std::io::stdout();
    let mut seen = 0u64;
    let mut last = Instant::now();
    while !cancel.is_cancelled() && args.count.is_none_or(|c| seen < c) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                let mut out = stdout.lock();
                out.write_all(message.payload().unwrap_or_default())?;
                out.write_all(b"\n")?;
                out.flush()?;
                seen += 1;
                last = Instant::now();
            }
            Some(Err(error)) => tracing::warn!(%error, "Kafka consumer error"),
            None => {
                if args.idle_timeout.is_some_and(|t| last.elapsed() >= Duration::from_secs(t)) {
                    break;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
