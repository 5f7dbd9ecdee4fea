//! Kafka through rdkafka (librdkafka): the source, the sink, and creating missing topics.

mod admin;
mod sink;
mod source;

pub use admin::{ensure_topics, partition_count};
pub use sink::KafkaWriter;
pub use source::KafkaReader;

use rdkafka::ClientConfig;

use crate::jobgraph::KafkaTopic;

/// How many partitions Weir gives the topics it creates (like the playground's broker).
pub const DEFAULT_PARTITIONS: i32 = 2;

/// Properties that only a consumer understands; a producer given them logs a warning.
const CONSUMER_ONLY: [&str; 3] = ["group.id", "auto.offset.reset", "isolation.level"];

/// Client configuration for `topic`: its servers, then `defaults`, then its own properties.
fn client_config(topic: &KafkaTopic, defaults: &[(&str, &str)], producer: bool) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &topic.bootstrap_servers);
    for (k, v) in defaults {
        config.set(*k, *v);
    }
    for (k, v) in &topic.properties {
        if !(producer && CONSUMER_ONLY.contains(&k.as_str())) {
            config.set(k, v);
        }
    }
    config
}
