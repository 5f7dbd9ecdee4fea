//! Metadata (which brokers and topics exist, who leads what), CreateTopics and
//! FindCoordinator. The broker is node 0: the leader and only replica of every partition and
//! the coordinator of every group.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, CreateTopicsResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::BrokerState;
use crate::topics::{Topic, TopicError};

/// The cluster id Metadata reports.
const CLUSTER_ID: &str = "weir-embedded-broker";

/// FindCoordinator's key type for transactional ids (0 is groups).
const TRANSACTION_KEY: i8 = 1;

fn topic_error_code(error: &TopicError) -> i16 {
    match error {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists.code(),
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException.code(),
        TopicError::InvalidPartitions(_) | TopicError::TooManyAssignments(_) => ResponseError::InvalidPartitions.code(),
    }
}

fn describe(topic: &Topic) -> MetadataResponseTopic {
    let node = BrokerId(crate::NODE_ID);
    // The broker creates at most i32::MAX partitions: counts arrive as i32.
    let partitions = (0..i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX))
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                // The leader never changes, so its epoch stays 0 (stored batches say 0 too).
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default().with_name(Some(topic.name.clone())).with_partitions(partitions)
}

/// Metadata: the broker itself and the topics asked for (all when the list is null, or empty
/// in version 0). A missing topic is created with the default partition count when the client
/// allows it (always before version 4, as Kafka's `auto.create.topics.enable` does).
pub(crate) fn metadata(state: &BrokerState, request: MetadataRequest, version: i16) -> MetadataResponse {
    let topics = match request.topics {
        Some(wanted) if !(version == 0 && wanted.is_empty()) => {
            let auto_create = version < 4 || request.allow_auto_topic_creation;
            wanted
                .into_iter()
                .map(|wanted| {
                    let Some(name) = wanted.name else {
                        // Asked by topic id (version 10+); the broker's topics have none.
                        return MetadataResponseTopic::default()
                            .with_name(None)
                            .with_topic_id(wanted.topic_id)
                            .with_error_code(ResponseError::UnknownTopicId.code());
                    };
                    let unknown = ResponseError::UnknownTopicOrPartition.code();
                    let found = if auto_create {
                        state.topics.get_or_create(&name).map_err(|error| match error {
                            TopicError::InvalidName(_) => ResponseError::InvalidTopicException.code(),
                            _ => unknown,
                        })
                    } else {
                        state.topics.get(&name).ok_or(unknown)
                    };
                    match found {
                        Ok(topic) => describe(&topic),
                        Err(code) => MetadataResponseTopic::default().with_name(Some(name)).with_error_code(code),
                    }
                })
                .collect()
        }
        _ => state.topics.all().iter().map(|t| describe(t)).collect(),
    };
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(state.node.id))
        .with_host(state.node.host.clone())
        .with_port(state.node.port);
    MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_cluster_id(Some(StrBytes::from_static_str(CLUSTER_ID)))
        .with_controller_id(BrokerId(state.node.id))
        .with_topics(topics)
}

/// CreateTopics: each topic with its partition count (-1: the default), replication factor 1
/// (or -1) as the broker is a single node; `TOPIC_ALREADY_EXISTS` for one that exists.
pub(crate) fn create_topics(state: &BrokerState, request: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let results = request
        .topics
        .into_iter()
        .map(|topic| {
            let result = CreatableTopicResult::default().with_name(topic.name.clone());
            let partitions = if !topic.assignments.is_empty() {
                match i32::try_from(topic.assignments.len()) {
                    Ok(n) => n,
                    Err(_) => {
                        let error = TopicError::TooManyAssignments(topic.assignments.len());
                        return result
                            .with_error_code(topic_error_code(&error))
                            .with_error_message(Some(StrBytes::from_string(error.to_string())));
                    }
                }
            } else if topic.num_partitions == -1 {
                state.topics.default_partitions()
            } else {
                topic.num_partitions
            };
            if topic.replication_factor != 1 && topic.replication_factor != -1 {
                return result.with_error_code(ResponseError::InvalidReplicationFactor.code()).with_error_message(
                    Some(StrBytes::from_string(format!(
                        "replication factor {} is impossible on a single broker",
                        topic.replication_factor
                    ))),
                );
            }
            let outcome = if request.validate_only {
                state.topics.validate(&topic.name, partitions)
            } else {
                state.topics.create(&topic.name, partitions).map(|_| ())
            };
            match outcome {
                Ok(()) => {
                    let result = result.with_error_message(None);
                    if version >= 5 {
                        result.with_num_partitions(partitions).with_replication_factor(1)
                    } else {
                        result
                    }
                }
                Err(error) => result
                    .with_error_code(topic_error_code(&error))
                    .with_error_message(Some(StrBytes::from_string(error.to_string()))),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(results)
}

/// FindCoordinator: this broker for every group; transactions are not supported.
pub(crate) fn find_coordinator(
    state: &BrokerState,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let (error_code, error_message) = if request.key_type == TRANSACTION_KEY {
        (
            ResponseError::InvalidRequest.code(),
            Some(StrBytes::from_static_str("transactions are not supported by Weir's embedded broker")),
        )
    } else {
        (0, None)
    };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(state.node.id))
                    .with_host(state.node.host.clone())
                    .with_port(state.node.port)
                    .with_error_code(error_code)
                    .with_error_message(error_message.clone())
            })
            .collect();
        FindCoordinatorResponse::default().with_coordinators(coordinators)
    } else {
        FindCoordinatorResponse::default()
            .with_node_id(BrokerId(state.node.id))
            .with_host(state.node.host.clone())
            .with_port(state.node.port)
            .with_error_code(error_code)
            .with_error_message(error_message)
    }
}
