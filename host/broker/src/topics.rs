//! The topics the broker holds: names, partition logs, creation (explicit or on first use).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

use super::log::PartitionLog;

/// Kafka's limit on topic name length.
const MAX_NAME_LEN: usize = 249;

/// The most partitions a topic may have here: each is a log in memory, created up front, so a
/// request asking for `i32::MAX` of them must be refused rather than allocated (Kafka itself
/// has no such limit, but clusters stay far below it).
pub(crate) const MAX_PARTITIONS: i32 = 10_000;

/// Why a topic could not be created.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum TopicError {
    #[error("topic '{0}' already exists")]
    AlreadyExists(String),
    #[error("'{0}' is not a valid topic name (1 to 249 of [a-zA-Z0-9._-], not '.' or '..')")]
    InvalidName(String),
    #[error("a topic needs 1 to {MAX_PARTITIONS} partitions, not {0}")]
    InvalidPartitions(i32),
    #[error("{0} partition assignments exceed the protocol's limit of {max}", max = i32::MAX)]
    TooManyAssignments(usize),
}

/// A topic: its name (kept as the wire type, so responses clone it without allocating) and
/// its partitions.
pub(crate) struct Topic {
    pub name: TopicName,
    pub partitions: Vec<Arc<PartitionLog>>,
}

impl Topic {
    /// Partition `index`, if the topic has it.
    pub fn partition(&self, index: i32) -> Option<&Arc<PartitionLog>> {
        usize::try_from(index).ok().and_then(|i| self.partitions.get(i))
    }
}

/// All topics, by name.
pub(crate) struct Topics {
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    default_partitions: i32,
}

/// Kafka's rules for a new topic's name and partition count.
fn check(name: &str, partitions: i32) -> Result<(), TopicError> {
    let valid_name = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if !valid_name {
        return Err(TopicError::InvalidName(name.to_string()));
    }
    if !(1..=MAX_PARTITIONS).contains(&partitions) {
        return Err(TopicError::InvalidPartitions(partitions));
    }
    Ok(())
}

impl Topics {
    /// No topics yet; auto-created ones get `default_partitions` partitions.
    pub fn new(default_partitions: i32) -> Topics {
        Topics { topics: RwLock::new(HashMap::new()), default_partitions }
    }

    /// The partition count auto-created topics get.
    pub fn default_partitions(&self) -> i32 {
        self.default_partitions
    }

    /// The topic called `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// Every topic, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<_> = self.topics.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Checks that `name` with `partitions` partitions could be created now.
    pub fn validate(&self, name: &str, partitions: i32) -> Result<(), TopicError> {
        check(name, partitions)?;
        if self.get(name).is_some() {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        Ok(())
    }

    /// Creates topic `name` with `partitions` empty partitions.
    pub fn create(&self, name: &str, partitions: i32) -> Result<Arc<Topic>, TopicError> {
        check(name, partitions)?;
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        if topics.contains_key(name) {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        let topic = Arc::new(Topic {
            name: TopicName(StrBytes::from_string(name.to_string())),
            partitions: (0..partitions).map(|_| Arc::new(PartitionLog::default())).collect(),
        });
        topics.insert(name.to_string(), topic.clone());
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// The topic called `name`, created with the default partition count if missing (Kafka's
    /// `auto.create.topics.enable`, on in the playground's broker).
    pub fn get_or_create(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        if let Some(topic) = self.get(name) {
            return Ok(topic);
        }
        match self.create(name, self.default_partitions) {
            // Another connection created it in between.
            Err(TopicError::AlreadyExists(_)) => self.get(name).ok_or(TopicError::AlreadyExists(name.to_string())),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_created_once_with_valid_names() {
        let topics = Topics::new(2);
        assert_eq!(topics.get_or_create("input").expect("created").partitions.len(), 2);
        assert_eq!(topics.create("input", 3).err(), Some(TopicError::AlreadyExists("input".into())));
        assert_eq!(topics.create("output", 1).expect("created").partitions.len(), 1);
        assert_eq!(topics.all().iter().map(|t| t.name.as_str().to_string()).collect::<Vec<_>>(), ["input", "output"]);
        for bad in ["", ".", "..", "a b", "ä", &"x".repeat(250)] {
            assert!(matches!(topics.create(bad, 1), Err(TopicError::InvalidName(_))), "{bad}");
        }
        assert_eq!(topics.create("zero", 0).err(), Some(TopicError::InvalidPartitions(0)));
        // A CreateTopics request asking for i32::MAX partitions once had them allocated.
        assert_eq!(topics.create("huge", i32::MAX).err(), Some(TopicError::InvalidPartitions(i32::MAX)));
        assert!(topics.create("largest", MAX_PARTITIONS).is_ok());
    }
}
