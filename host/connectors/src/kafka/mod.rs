//! Kafka through rdkafka (librdkafka): the source, the sink, and creating missing topics.

mod admin;
pub mod policy;
mod sink;
mod source;

pub use admin::{create_job_topics, ensure_topics, partition_count};
pub use policy::{KafkaPolicy, PolicyError};
pub use sink::{HELD_MEMORY, KafkaWriter, RestoredSink};
pub use source::{Backlog, KafkaReader, read_backlog};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::ConnectorError;
use weir_core::jobgraph::KafkaTopic;

/// How many partitions Weir gives the topics it creates (like the playground's broker).
pub const DEFAULT_PARTITIONS: i32 = 2;

/// Properties that only a consumer understands; a producer given them logs a warning.
const CONSUMER_ONLY: [&str; 3] = ["group.id", "auto.offset.reset", "isolation.level"];

/// Weir's own topic property choosing how an exactly-once sink gets there: `dedup` (the
/// default; works on any Kafka-protocol broker) or `transactions`. Never passed to librdkafka.
pub const EXACTLY_ONCE_MODE: &str = "weir.exactly-once";

/// Client configuration for `topic`: its servers, then `defaults`, then its own properties
/// that the allowlist lets through ([`policy`]; submission refused the others, so one here came
/// from elsewhere and is dropped), then the cluster's (`weir.kafka.client.*`).
fn client_config(topic: &KafkaTopic, defaults: &[(&str, &str)], producer: bool) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &topic.bootstrap_servers);
    for (k, v) in defaults {
        config.set(*k, *v);
    }
    for (k, v) in &topic.properties {
        if !policy::allowed(k, v) {
            tracing::warn!(topic = topic.topic, property = k, "dropped a Kafka property a job may not set");
            continue;
        }
        if !(k.starts_with("weir.") || producer && CONSUMER_ONLY.contains(&k.as_str())) {
            config.set(k, v);
        }
    }
    policy::apply_cluster_properties(&mut config);
    config
}

/// The `count` partitions the broker's metadata reports for `topic` as the exclusive end of
/// their ids, which Kafka keeps in an i32.
fn partition_ids(topic: &str, count: usize) -> Result<i32, ConnectorError> {
    i32::try_from(count).map_err(|_| ConnectorError::Topic {
        topic: topic.to_string(),
        problem: format!("reports {count} partitions, more than Kafka's limit of {}", i32::MAX),
    })
}

/// The high watermark of `partition` as the last fetch response reported it, if any.
///
/// Some Kafka-protocol brokers (tansu 0.6) answer ListOffsets for the latest offset with the
/// first offset of the partition's last record batch, short of its real end; fetch responses
/// carry the true high watermark, which librdkafka caches.
fn fetched_high_watermark(consumer: &BaseConsumer, topic: &str, partition: i32) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` lives; the call only reads
    // librdkafka's cache and writes the two integers we pass.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}
