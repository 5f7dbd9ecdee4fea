//! Creating the topics a job or the generator needs, as the playground's broker auto-creates
//! them (2 partitions, replication 1).

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use weir_core::jobgraph::JobGraph;

use crate::ConnectorError;
use crate::kafka::DEFAULT_PARTITIONS;

const TIMEOUT: Duration = Duration::from_secs(15);

fn admin(bootstrap_servers: &str) -> Result<AdminClient<DefaultClientContext>, ConnectorError> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap_servers);
    super::policy::apply_cluster_properties(&mut config);
    Ok(config.create()?)
}

/// The number of partitions of `topic`, or `None` if it does not exist.
pub fn partition_count(bootstrap_servers: &str, topic: &str) -> Result<Option<usize>, ConnectorError> {
    let admin = admin(bootstrap_servers)?;
    existing_partitions(&admin, topic)
}

fn existing_partitions(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Result<Option<usize>, ConnectorError> {
    let metadata = admin.inner().fetch_metadata(Some(topic), TIMEOUT)?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len()))
}

/// Creates the Kafka topics `graph` reads and writes that do not exist yet, on each broker the
/// graph names, with the playground broker's [`DEFAULT_PARTITIONS`].
pub fn create_job_topics(graph: &JobGraph) -> Result<(), ConnectorError> {
    let mut by_servers: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for topic in graph.kafka_topics() {
        by_servers.entry(&topic.bootstrap_servers).or_default().push(&topic.topic);
    }
    for (servers, topics) in by_servers {
        ensure_topics(servers, &topics, DEFAULT_PARTITIONS)?;
    }
    Ok(())
}

/// Creates each of `topics` that does not exist, with `partitions` partitions, and waits until
/// the broker lists them.
pub fn ensure_topics(bootstrap_servers: &str, topics: &[&str], partitions: i32) -> Result<(), ConnectorError> {
    let admin = admin(bootstrap_servers)?;
    let mut missing = Vec::new();
    for topic in topics {
        if existing_partitions(&admin, topic)?.is_none() && !missing.contains(topic) {
            missing.push(*topic);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let new: Vec<NewTopic> = missing.iter().map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1))).collect();
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ConnectorError::Kafka(e.to_string()))?;
    let results = runtime.block_on(admin.create_topics(&new, &options))?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(topic, partitions, "created Kafka topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(ConnectorError::Topic { topic, problem: format!("could not be created: {code}") });
            }
        }
    }
    let deadline = Instant::now() + TIMEOUT;
    for topic in missing {
        while existing_partitions(&admin, topic)?.is_none() {
            if Instant::now() > deadline {
                return Err(ConnectorError::Topic {
                    topic: topic.to_string(),
                    problem: "was created but never appeared".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}
