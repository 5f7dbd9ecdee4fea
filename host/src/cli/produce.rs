//! `weir produce`: writes each line of standard input to a Kafka topic as a record
//! (`kafka-console-producer`), to feed a job by hand.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

#[derive(clap::Args)]
pub struct Args {
    /// Kafka brokers.
    #[arg(long = "bootstrap.servers", default_value = "localhost:9092")]
    bootstrap_servers: String,
    /// The topic to write to (created with 2 partitions if missing).
    #[arg(long)]
    topic: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    weir_connectors::kafka::ensure_topics(
        &args.bootstrap_servers,
        &[&args.topic],
        weir_connectors::kafka::DEFAULT_PARTITIONS,
    )
    .with_context(|| format!("cannot create the topic '{}' on {}", args.topic, args.bootstrap_servers))?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("linger.ms", "5")
        .create()
        .context("cannot make a Kafka producer")?;
    let mut written = 0u64;
    for line in std::io::stdin().lock().lines() {
        let line = line.context("cannot read standard input")?;
        let mut record = BaseRecord::<(), str>::to(&args.topic).payload(line.as_str());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
                Err((error, _)) => return Err(error).context(format!("cannot write to '{}'", args.topic)),
            }
        }
        producer.poll(Duration::ZERO);
        written += 1;
    }
    producer
        .flush(Duration::from_secs(30))
        .with_context(|| format!("the broker did not acknowledge every record written to '{}'", args.topic))?;
    tracing::info!(records = written, topic = args.topic, "written");
    Ok(ExitCode::SUCCESS)
}
