//! Sources and sinks of a typed pipeline, built the way Flink's `KafkaSource.builder()` and
//! `KafkaSink.builder()` are. The connectors themselves run in the host.

use crate::graph::{
    DatagenSource, DeliveryGuarantee, KafkaSink as KafkaSinkSpec, KafkaSource as KafkaSourceSpec, KafkaTopic,
    SinkConnector, SourceConnector, StartingOffsets,
};

/// Something a pipeline can read from: what [`super::Env::from_source`] takes.
pub trait Source {
    /// The host connector and the default operator name.
    fn connector(self) -> (SourceConnector, String);
}

/// Something a pipeline can write to: what [`super::DataStream::sink_to`] takes.
pub trait Sink {
    /// The host connector and the default operator name.
    fn connector(self) -> (SinkConnector, String);
}

fn topic(topic: &str, bootstrap_servers: &str, properties: Vec<(String, String)>) -> KafkaTopic {
    KafkaTopic { topic: topic.to_string(), bootstrap_servers: bootstrap_servers.to_string(), properties }
}

/// A Kafka topic to read (Flink's `KafkaSource`). Earliest offsets and unbounded by default.
#[derive(Clone, Debug)]
pub struct KafkaSource {
    bootstrap_servers: String,
    topic: String,
    properties: Vec<(String, String)>,
    starting_offsets: StartingOffsets,
    bounded: bool,
}

impl KafkaSource {
    /// Reads `topic` from the brokers `bootstrap_servers` (`host:port,…`).
    pub fn new(bootstrap_servers: &str, topic: &str) -> Self {
        KafkaSource {
            bootstrap_servers: bootstrap_servers.to_string(),
            topic: topic.to_string(),
            properties: Vec::new(),
            starting_offsets: StartingOffsets::Earliest,
            bounded: false,
        }
    }

    /// Sets the consumer group (`group.id`).
    pub fn group_id(self, group_id: &str) -> Self {
        self.property("group.id", group_id)
    }

    /// Sets a Kafka client property.
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.push((key.to_string(), value.to_string()));
        self
    }

    /// Where to start when not restored from a checkpoint.
    pub fn starting_offsets(mut self, offsets: StartingOffsets) -> Self {
        self.starting_offsets = offsets;
        self
    }

    /// Stops at the end offsets of start-up: the job finishes once they are processed.
    pub fn bounded(mut self) -> Self {
        self.bounded = true;
        self
    }
}

impl Source for KafkaSource {
    fn connector(self) -> (SourceConnector, String) {
        let name = format!("Kafka {}", self.topic);
        let spec = KafkaSourceSpec {
            topic: topic(&self.topic, &self.bootstrap_servers, self.properties),
            starting_offsets: self.starting_offsets,
            bounded: self.bounded,
        };
        (SourceConnector::Kafka(spec), name)
    }
}

/// The built-in click-event generator (JSON records as `weir generator` writes them).
#[derive(Clone, Copy, Debug, Default)]
pub struct Datagen {
    count: Option<u64>,
    rate: Option<u64>,
}

impl Datagen {
    /// An unbounded generator, as fast as it goes.
    pub fn new() -> Self {
        Datagen::default()
    }

    /// Stops after `count` records over all subtasks (`None`: never).
    pub fn count(mut self, count: impl Into<Option<u64>>) -> Self {
        self.count = count.into();
        self
    }

    /// Generates `rate` records per second over all subtasks (`None`: as fast as it goes).
    pub fn rate(mut self, rate: impl Into<Option<u64>>) -> Self {
        self.rate = rate.into();
        self
    }
}

impl Source for Datagen {
    fn connector(self) -> (SourceConnector, String) {
        (SourceConnector::Datagen(DatagenSource { count: self.count, rate: self.rate }), "Datagen".into())
    }
}

/// A Kafka topic to write (Flink's `KafkaSink`), at least once by default.
#[derive(Clone, Debug)]
pub struct KafkaSink {
    bootstrap_servers: String,
    topic: String,
    properties: Vec<(String, String)>,
    delivery_guarantee: DeliveryGuarantee,
}

impl KafkaSink {
    /// Writes `topic` on the brokers `bootstrap_servers`.
    pub fn new(bootstrap_servers: &str, topic: &str) -> Self {
        KafkaSink {
            bootstrap_servers: bootstrap_servers.to_string(),
            topic: topic.to_string(),
            properties: Vec::new(),
            delivery_guarantee: DeliveryGuarantee::AtLeastOnce,
        }
    }

    /// Sets a Kafka client property.
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.push((key.to_string(), value.to_string()));
        self
    }

    /// What the sink promises after a failure.
    pub fn delivery_guarantee(mut self, guarantee: DeliveryGuarantee) -> Self {
        self.delivery_guarantee = guarantee;
        self
    }
}

impl Sink for KafkaSink {
    fn connector(self) -> (SinkConnector, String) {
        let name = format!("Kafka {}", self.topic);
        let spec = KafkaSinkSpec {
            topic: topic(&self.topic, &self.bootstrap_servers, self.properties),
            delivery_guarantee: self.delivery_guarantee,
        };
        (SinkConnector::Kafka(spec), name)
    }
}
