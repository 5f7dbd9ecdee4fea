//! OffsetCommit and OffsetFetch: consumer groups' committed positions (see `groups`).
//!
//! Commits are accepted from any member id and generation (Kafka checks them against the
//! group's generation; a dev broker gains nothing from refusing a late commit).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::BrokerState;
use crate::groups::Committed;

/// OffsetCommit: records each partition's position for the group.
pub(crate) fn offset_commit(state: &BrokerState, request: OffsetCommitRequest) -> OffsetCommitResponse {
    let group = request.group_id.as_str();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = state.topics.get(&topic.name);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let error_code = if group.is_empty() {
                        ResponseError::InvalidGroupId.code()
                    } else if found.as_ref().and_then(|t| t.partition(p.partition_index)).is_none() {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        let committed = Committed {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p.committed_metadata.map(|m| m.as_str().to_string()),
                        };
                        state.groups.commit(group, &topic.name, p.partition_index, committed);
                        0
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error_code)
                })
                .collect();
            OffsetCommitResponseTopic::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// One partition's answer: its committed position, or offset -1 if the group has none.
struct Position {
    partition: i32,
    committed: Option<Committed>,
}

impl Position {
    fn offset(&self) -> i64 {
        self.committed.as_ref().map_or(-1, |c| c.offset)
    }

    fn leader_epoch(&self) -> i32 {
        self.committed.as_ref().map_or(-1, |c| c.leader_epoch)
    }

    fn metadata(&self) -> Option<StrBytes> {
        // Kafka answers "" for no metadata.
        Some(StrBytes::from_string(self.committed.as_ref().and_then(|c| c.metadata.clone()).unwrap_or_default()))
    }
}

/// The positions of `group` in the partitions asked for, or in every partition it committed
/// when `topics` is null.
fn positions(
    state: &BrokerState,
    group: &str,
    topics: Option<Vec<(TopicName, Vec<i32>)>>,
) -> Vec<(TopicName, Vec<Position>)> {
    match topics {
        Some(topics) => topics
            .into_iter()
            .map(|(name, partitions)| {
                let positions = partitions
                    .into_iter()
                    .map(|partition| Position { partition, committed: state.groups.committed(group, &name, partition) })
                    .collect();
                (name, positions)
            })
            .collect(),
        None => {
            let mut out: Vec<(TopicName, Vec<Position>)> = Vec::new();
            for (topic, partition, committed) in state.groups.all(group) {
                let position = Position { partition, committed: Some(committed) };
                match out.last_mut() {
                    Some((name, positions)) if name.as_str() == topic => positions.push(position),
                    _ => out.push((TopicName(StrBytes::from_string(topic)), vec![position])),
                }
            }
            out
        }
    }
}

/// OffsetFetch: the group's committed positions; one group per request before version 8,
/// several from version 8 on.
pub(crate) fn offset_fetch(state: &BrokerState, request: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = request
            .groups
            .into_iter()
            .map(|group| {
                let wanted = group.topics.map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect());
                let topics = positions(state, &group.group_id, wanted)
                    .into_iter()
                    .map(|(name, positions)| {
                        let partitions = positions
                            .iter()
                            .map(|p| {
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(p.partition)
                                    .with_committed_offset(p.offset())
                                    .with_committed_leader_epoch(p.leader_epoch())
                                    .with_metadata(p.metadata())
                            })
                            .collect();
                        OffsetFetchResponseTopics::default().with_name(name).with_partitions(partitions)
                    })
                    .collect();
                OffsetFetchResponseGroup::default().with_group_id(group.group_id).with_topics(topics)
            })
            .collect();
        OffsetFetchResponse::default().with_groups(groups)
    } else {
        let wanted = request.topics.map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect());
        let topics = positions(state, &request.group_id, wanted)
            .into_iter()
            .map(|(name, positions)| {
                let partitions = positions
                    .iter()
                    .map(|p| {
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(p.partition)
                            .with_committed_offset(p.offset())
                            .with_committed_leader_epoch(p.leader_epoch())
                            .with_metadata(p.metadata())
                    })
                    .collect();
                OffsetFetchResponseTopic::default().with_name(name).with_partitions(partitions)
            })
            .collect();
        OffsetFetchResponse::default().with_topics(topics)
    }
}
