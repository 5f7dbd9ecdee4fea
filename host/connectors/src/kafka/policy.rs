//! What a job may make the host's Kafka clients do: the properties a plan may set (an
//! allowlist of consumer and producer tuning), the brokers it may name, and the client
//! properties the cluster adds to every client (credentials come from there, never from a
//! component).
//!
//! librdkafka takes properties that load shared libraries (`plugin.library.paths`), read files
//! (`ssl.*.location`, `sasl.kerberos.keytab`), run commands (`sasl.kerberos.kinit.cmd`) or flood
//! the log (`debug`): a plan is a guest's output, so only what is listed here passes.

use std::sync::RwLock;

use weir_core::jobgraph::{JobGraph, KafkaTopic, SinkConnector, SourceConnector, VertexKind};

/// The most properties one topic of a plan may set.
pub const MAX_PROPERTIES: usize = 64;
/// The longest property value a plan may set, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;
/// The longest `bootstrap.servers` a plan may name, in bytes.
pub const MAX_SERVERS_BYTES: usize = 4096;
/// Kafka's own limit on a topic name's length.
pub const MAX_TOPIC_BYTES: usize = 249;

/// Client properties a plan may set: consumer and producer tuning, and Weir's own topic
/// properties. Each with the largest number it may take, where it sizes what the client holds.
const ALLOWED: &[(&str, Option<u64>)] = &[
    // Identity and consumer groups.
    ("group.id", None),
    ("group.instance.id", None),
    ("client.id", None),
    ("client.rack", None),
    ("auto.offset.reset", None),
    ("isolation.level", None),
    ("session.timeout.ms", None),
    ("heartbeat.interval.ms", None),
    ("max.poll.interval.ms", None),
    ("partition.assignment.strategy", None),
    ("check.crcs", None),
    // Fetching: sizes capped at librdkafka's defaults or a little above.
    ("fetch.min.bytes", Some(64 << 20)),
    ("fetch.max.bytes", Some(64 << 20)),
    ("fetch.message.max.bytes", Some(64 << 20)),
    ("max.partition.fetch.bytes", Some(64 << 20)),
    ("fetch.wait.max.ms", None),
    ("fetch.queue.backoff.ms", None),
    ("fetch.error.backoff.ms", None),
    ("queued.min.messages", Some(1_000_000)),
    ("queued.max.messages.kbytes", Some(256 << 10)),
    // Producing.
    ("acks", None),
    ("request.required.acks", None),
    ("linger.ms", None),
    ("queue.buffering.max.ms", None),
    ("queue.buffering.max.messages", Some(1_000_000)),
    ("queue.buffering.max.kbytes", Some(256 << 10)),
    ("batch.size", Some(64 << 20)),
    ("batch.num.messages", Some(1_000_000)),
    ("compression.type", None),
    ("compression.codec", None),
    ("compression.level", None),
    ("message.max.bytes", Some(64 << 20)),
    ("message.timeout.ms", None),
    ("delivery.timeout.ms", None),
    ("request.timeout.ms", None),
    ("retries", None),
    ("message.send.max.retries", None),
    ("retry.backoff.ms", None),
    ("retry.backoff.max.ms", None),
    ("enable.idempotence", None),
    ("max.in.flight", None),
    ("max.in.flight.requests.per.connection", None),
    ("transaction.timeout.ms", None),
    ("partitioner", None),
    ("sticky.partitioning.linger.ms", None),
    // Connections.
    ("socket.timeout.ms", None),
    ("socket.keepalive.enable", None),
    ("socket.send.buffer.bytes", Some(64 << 20)),
    ("socket.receive.buffer.bytes", Some(64 << 20)),
    ("receive.message.max.bytes", Some(128 << 20)),
    ("metadata.max.age.ms", None),
    ("topic.metadata.refresh.interval.ms", None),
    ("reconnect.backoff.ms", None),
    ("reconnect.backoff.max.ms", None),
    ("connections.max.idle.ms", None),
    ("allow.auto.create.topics", None),
    // Weir's own.
    (super::EXACTLY_ONCE_MODE, None),
    (super::HELD_MEMORY, Some(256 << 20)),
];

/// Why a plan's Kafka connector is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// A property that is not on the allowlist.
    #[error(
        "operator '{operator}': the Kafka property '{property}' may not be set by a job (only consumer and producer tuning such as group.id, client.id, fetch.*, linger.ms, acks, compression.type may; security and plugin settings come from the cluster's weir.kafka.client.* configuration)"
    )]
    Property {
        /// The operator's name.
        operator: String,
        /// The property's name.
        property: String,
    },
    /// A sizing property's value is not a number within its limit.
    #[error(
        "operator '{operator}': the Kafka property '{property}' = '{value}' must be a whole number of at most {max}"
    )]
    Value {
        /// The operator's name.
        operator: String,
        /// The property's name.
        property: String,
        /// Its value, cut to 64 bytes.
        value: String,
        /// The largest value allowed.
        max: u64,
    },
    /// More properties, or a longer value, broker list or topic name, than allowed.
    #[error("operator '{operator}': {what} is {len}, over the limit of {limit}")]
    TooLarge {
        /// The operator's name.
        operator: String,
        /// What is too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A topic name Kafka does not allow.
    #[error("operator '{operator}': '{topic}' is not a Kafka topic name (letters, digits, '.', '_', '-')")]
    TopicName {
        /// The operator's name.
        operator: String,
        /// The name, cut to 64 bytes.
        topic: String,
    },
    /// A broker outside the cluster's allowed brokers.
    #[error(
        "operator '{operator}': the Kafka broker '{broker}' is not one the cluster allows jobs to reach ({allowed}; weir.kafka.allowed-brokers)"
    )]
    Broker {
        /// The operator's name.
        operator: String,
        /// The broker as the plan names it.
        broker: String,
        /// The allowed brokers, comma-separated.
        allowed: String,
    },
}

/// What jobs may reach: the brokers they may name (any, as in Flink, when unrestricted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaPolicy {
    /// `host:port` entries, lower case; `None` allows any broker.
    allowed_brokers: Option<Vec<String>>,
}

/// A broker entry as compared: without a `PLAINTEXT://`-style scheme, trimmed, lower case.
fn normalize(broker: &str) -> String {
    let broker = broker.trim();
    let broker = broker.split_once("://").map_or(broker, |(_, rest)| rest);
    broker.trim_end_matches('/').to_ascii_lowercase()
}

/// The first `n` bytes of `s` (at a character boundary), for error messages.
fn cut(s: &str, n: usize) -> String {
    weir_core::text::prefix(s, n).to_string()
}

impl KafkaPolicy {
    /// A policy allowing the comma-separated `brokers` (`weir.kafka.allowed-brokers`); an
    /// empty list, or `*`, allows any.
    pub fn allowing(brokers: &str) -> KafkaPolicy {
        let list: Vec<String> = brokers.split(',').map(normalize).filter(|b| !b.is_empty()).collect();
        KafkaPolicy { allowed_brokers: (!list.is_empty() && !list.iter().any(|b| b == "*")).then_some(list) }
    }

    /// Checks every Kafka connector of `graph`: refused with the first problem found.
    pub fn check_graph(&self, graph: &JobGraph) -> Result<(), PolicyError> {
        for vertex in &graph.vertices {
            let topic = match &vertex.kind {
                VertexKind::Source { connector: SourceConnector::Kafka(k), .. } => &k.topic,
                VertexKind::SinkWriter { connector: SinkConnector::Kafka(k) } => &k.topic,
                _ => continue,
            };
            self.check_topic(&vertex.name, topic)?;
        }
        Ok(())
    }

    /// Checks one Kafka connector of the operator named `operator`.
    pub fn check_topic(&self, operator: &str, topic: &KafkaTopic) -> Result<(), PolicyError> {
        let too_large = |what, len, limit| PolicyError::TooLarge { operator: operator.to_string(), what, len, limit };
        if topic.topic.len() > MAX_TOPIC_BYTES {
            return Err(too_large("the Kafka topic name's length", topic.topic.len(), MAX_TOPIC_BYTES));
        }
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if topic.topic.is_empty() || !topic.topic.chars().all(valid) || topic.topic == "." || topic.topic == ".." {
            return Err(PolicyError::TopicName { operator: operator.to_string(), topic: cut(&topic.topic, 64) });
        }
        if topic.bootstrap_servers.len() > MAX_SERVERS_BYTES {
            return Err(too_large("the length of bootstrap.servers", topic.bootstrap_servers.len(), MAX_SERVERS_BYTES));
        }
        if let Some(allowed) = &self.allowed_brokers {
            for broker in topic.bootstrap_servers.split(',').filter(|b| !b.trim().is_empty()) {
                if !allowed.contains(&normalize(broker)) {
                    return Err(PolicyError::Broker {
                        operator: operator.to_string(),
                        broker: cut(broker.trim(), 256),
                        allowed: allowed.join(","),
                    });
                }
            }
        }
        if topic.properties.len() > MAX_PROPERTIES {
            return Err(too_large("the number of Kafka properties", topic.properties.len(), MAX_PROPERTIES));
        }
        for (key, value) in &topic.properties {
            check_property(key, value).map_err(|problem| match problem {
                Problem::NotAllowed => {
                    PolicyError::Property { operator: operator.to_string(), property: cut(key, 256) }
                }
                Problem::Value(max) => PolicyError::Value {
                    operator: operator.to_string(),
                    property: key.clone(),
                    value: cut(value, 64),
                    max,
                },
                Problem::Long => too_large("a Kafka property value's length", value.len(), MAX_VALUE_BYTES),
            })?;
        }
        Ok(())
    }
}

/// What is wrong with one property.
enum Problem {
    NotAllowed,
    Value(u64),
    Long,
}

fn check_property(key: &str, value: &str) -> Result<(), Problem> {
    let Some((_, max)) = ALLOWED.iter().find(|(k, _)| *k == key) else { return Err(Problem::NotAllowed) };
    if value.len() > MAX_VALUE_BYTES {
        return Err(Problem::Long);
    }
    match max {
        Some(max) if value.trim().parse::<u64>().is_ok_and(|v| v <= *max) => Ok(()),
        Some(max) => Err(Problem::Value(*max)),
        None => Ok(()),
    }
}

/// Whether a plan may set the client property `key` to `value` (the TaskManager drops any
/// other, whatever reached it).
pub fn allowed(key: &str, value: &str) -> bool {
    check_property(key, value).is_ok()
}

/// The client properties every Kafka client of this process gets, last, over the plan's.
static CLUSTER_PROPERTIES: RwLock<Vec<(String, String)>> = RwLock::new(Vec::new());

/// The configuration prefix of the cluster's client properties: `weir.kafka.client.<name>`.
pub const CLUSTER_PREFIX: &str = "weir.kafka.client.";

/// Sets the client properties every Kafka client of this process gets (credentials,
/// `security.protocol`, `ssl.*`, `sasl.*`): from the `weir.kafka.client.*` configuration of the
/// JobManager and each TaskManager.
pub fn set_cluster_properties(properties: Vec<(String, String)>) {
    *CLUSTER_PROPERTIES.write().unwrap_or_else(|e| e.into_inner()) = properties;
}

/// The cluster's client properties, from configuration entries: those under [`CLUSTER_PREFIX`],
/// the prefix removed.
pub fn cluster_properties<'a>(entries: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    entries
        .filter_map(|(k, v)| k.strip_prefix(CLUSTER_PREFIX).map(|k| (k.to_string(), v.to_string())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// Applies the cluster's client properties to `config`.
pub(super) fn apply_cluster_properties(config: &mut rdkafka::ClientConfig) {
    for (k, v) in CLUSTER_PROPERTIES.read().unwrap_or_else(|e| e.into_inner()).iter() {
        config.set(k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(servers: &str, properties: &[(&str, &str)]) -> KafkaTopic {
        KafkaTopic {
            topic: "input".into(),
            bootstrap_servers: servers.into(),
            properties: properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn tuning_passes_and_what_reaches_the_host_is_refused() {
        let any = KafkaPolicy::default();
        let tuning = [
            ("group.id", "click-event-count"),
            ("auto.offset.reset", "earliest"),
            ("linger.ms", "5"),
            ("compression.type", "lz4"),
            ("fetch.max.bytes", "1048576"),
            ("weir.exactly-once", "transactions"),
        ];
        assert_eq!(any.check_topic("Source", &topic("kafka:9092", &tuning)), Ok(()));
        for property in [
            "plugin.library.paths",
            "ssl.ca.location",
            "ssl.key.password",
            "sasl.kerberos.kinit.cmd",
            "sasl.password",
            "security.protocol",
            "debug",
            "bootstrap.servers",
            "max.poll.records",
            "weir.unknown",
        ] {
            let error = any.check_topic("Source", &topic("kafka:9092", &[(property, "x")])).unwrap_err();
            assert_eq!(error, PolicyError::Property { operator: "Source".into(), property: property.into() });
            let message = error.to_string();
            assert!(message.contains(property) && message.contains("'Source'"), "{message}");
        }
        let huge = any.check_topic("Sink", &topic("k:1", &[("queued.max.messages.kbytes", "2097151")])).unwrap_err();
        assert!(matches!(huge, PolicyError::Value { max, .. } if max == 256 << 10), "{huge}");
        let word = any.check_topic("Sink", &topic("k:1", &[("fetch.max.bytes", "lots")])).unwrap_err();
        assert!(matches!(word, PolicyError::Value { .. }), "{word}");
        let many: Vec<(&str, &str)> = (0..=MAX_PROPERTIES).map(|_| ("linger.ms", "1")).collect();
        assert!(matches!(any.check_topic("S", &topic("k:1", &many)), Err(PolicyError::TooLarge { .. })));
        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        assert!(matches!(
            any.check_topic("S", &topic("k:1", &[("client.id", &long)])),
            Err(PolicyError::TooLarge { .. })
        ));
        let mut bad = topic("k:1", &[]);
        bad.topic = "../etc".into();
        assert!(matches!(any.check_topic("S", &bad), Err(PolicyError::TopicName { .. })));
    }

    #[test]
    fn brokers_are_confined_when_the_cluster_says_so() {
        assert_eq!(KafkaPolicy::allowing(""), KafkaPolicy::default());
        assert_eq!(KafkaPolicy::allowing(" * "), KafkaPolicy::default());
        let any = KafkaPolicy::default();
        assert_eq!(any.check_topic("S", &topic("evil.example:9092", &[])), Ok(()));
        let policy = KafkaPolicy::allowing("localhost:9092, Kafka:9092");
        assert_eq!(policy.check_topic("S", &topic("localhost:9092", &[])), Ok(()));
        assert_eq!(policy.check_topic("S", &topic("kafka:9092,PLAINTEXT://LOCALHOST:9092", &[])), Ok(()));
        let error = policy.check_topic("Sink", &topic("localhost:9092,evil.example:9092", &[])).unwrap_err();
        let message = error.to_string();
        assert!(matches!(&error, PolicyError::Broker { broker, .. } if broker == "evil.example:9092"), "{message}");
        assert!(message.contains("weir.kafka.allowed-brokers") && message.contains("'Sink'"), "{message}");
    }

    #[test]
    fn cluster_properties_come_from_their_prefix() {
        let entries = [
            ("weir.kafka.client.security.protocol", "SASL_SSL"),
            ("weir.kafka.client.", "ignored"),
            ("weir.kafka.allowed-brokers", "k:1"),
        ];
        let properties = cluster_properties(entries.into_iter());
        assert_eq!(properties, [("security.protocol".to_string(), "SASL_SSL".to_string())]);
    }
}
