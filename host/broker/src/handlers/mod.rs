//! What each API does: a function per request type, from the decoded request to the response
//! to encode (the version is passed where fields depend on it).
//!
//! - `metadata`: Metadata (with topic auto-creation), CreateTopics, FindCoordinator.
//! - `produce`: Produce, InitProducerId.
//! - `fetch`: Fetch (with long polling), ListOffsets.
//! - `offsets`: OffsetCommit, OffsetFetch.
//! - `membership`: JoinGroup, SyncGroup, Heartbeat, LeaveGroup.

pub(crate) mod fetch;
pub(crate) mod membership;
pub(crate) mod metadata;
pub(crate) mod offsets;
pub(crate) mod produce;

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::leave_group_request::MemberIdentity;
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    use kafka_protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;
    use crate::batch::tests::batch;
    use crate::{BrokerState, apis};

    fn name(s: &'static str) -> TopicName {
        TopicName(StrBytes::from_static_str(s))
    }

    fn encode<T: Encodable>(api: ApiKey, version: i16, response: &T) {
        let mut buf = BytesMut::new();
        if let Err(e) = response.encode(&mut buf, version) {
            panic!("{api:?} v{version}: {e}");
        }
    }

    /// kafka-protocol refuses to encode a field that the chosen version lacks (a bug that
    /// would close the client's connection), so every handler is run, on successes and
    /// failures, at every version the broker advertises.
    #[tokio::test]
    async fn every_response_encodes_at_every_advertised_version() {
        let state = BrokerState::new("localhost", 9092, 2);
        let records = Bytes::from(batch(3, -1, -1, 1000));
        for &(api, min, max) in apis::SUPPORTED {
            for v in min..=max {
                match api {
                    ApiKey::ApiVersions => {
                        encode(api, v, &apis::api_versions(false));
                        encode(api, 0, &apis::api_versions(true));
                    }
                    ApiKey::Metadata => {
                        let topics = vec![
                            MetadataRequestTopic::default().with_name(Some(name("t"))),
                            MetadataRequestTopic::default().with_name(Some(name("bad name"))),
                            MetadataRequestTopic::default().with_name(None),
                        ];
                        let request =
                            MetadataRequest::default().with_topics(Some(topics)).with_allow_auto_topic_creation(true);
                        encode(api, v, &metadata::metadata(&state, request, v));
                        encode(api, v, &metadata::metadata(&state, MetadataRequest::default().with_topics(None), v));
                    }
                    ApiKey::CreateTopics => {
                        let topics = ["t", "bad name", "replicated"]
                            .into_iter()
                            .map(|t| {
                                CreatableTopic::default()
                                    .with_name(name(t))
                                    .with_num_partitions(-1)
                                    .with_replication_factor(if t == "replicated" { 3 } else { 1 })
                            })
                            .chain([CreatableTopic::default()
                                .with_name(TopicName(StrBytes::from_string(format!("new-{v}"))))
                                .with_num_partitions(2)])
                            .collect();
                        let request = CreateTopicsRequest::default().with_topics(topics);
                        encode(api, v, &metadata::create_topics(&state, request, v));
                    }
                    ApiKey::FindCoordinator => {
                        for key_type in [0, 1] {
                            let request = FindCoordinatorRequest::default()
                                .with_key(StrBytes::from_static_str("g"))
                                .with_key_type(key_type)
                                .with_coordinator_keys(vec![StrBytes::from_static_str("g")]);
                            encode(api, v, &metadata::find_coordinator(&state, request, v));
                        }
                    }
                    ApiKey::Produce => {
                        let partitions = vec![
                            PartitionProduceData::default().with_index(1).with_records(Some(records.clone())),
                            PartitionProduceData::default().with_index(9).with_records(Some(records.clone())),
                            PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(Bytes::from_static(b"junk"))),
                        ];
                        let topics = vec![
                            TopicProduceData::default().with_name(name("t")).with_partition_data(partitions),
                            TopicProduceData::default().with_name(name("missing")),
                        ];
                        let request = ProduceRequest::default().with_acks(-1).with_topic_data(topics);
                        encode(api, v, &produce::produce(&state, request));
                    }
                    ApiKey::InitProducerId => {
                        encode(api, v, &produce::init_producer_id(&state, InitProducerIdRequest::default()));
                        let transactional = InitProducerIdRequest::default()
                            .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx"))));
                        encode(api, v, &produce::init_producer_id(&state, transactional));
                    }
                    ApiKey::Fetch => {
                        let partitions = [0, 1, 7]
                            .into_iter()
                            .map(|p| FetchPartition::default().with_partition(p).with_partition_max_bytes(1 << 20))
                            .chain([FetchPartition::default().with_partition(1).with_fetch_offset(1_000)])
                            .collect();
                        let topics = vec![
                            FetchTopic::default().with_topic(name("t")).with_partitions(partitions),
                            FetchTopic::default()
                                .with_topic(name("missing"))
                                .with_partitions(vec![FetchPartition::default()]),
                        ];
                        let request = FetchRequest::default().with_max_bytes(1 << 20).with_topics(topics);
                        encode(api, v, &fetch::fetch(&state, request).await);
                    }
                    ApiKey::ListOffsets => {
                        let partitions = [(0, -1), (1, -2), (0, 0), (1, i64::MAX), (5, -1)]
                            .into_iter()
                            .map(|(p, t)| ListOffsetsPartition::default().with_partition_index(p).with_timestamp(t))
                            .collect();
                        let topics = vec![ListOffsetsTopic::default().with_name(name("t")).with_partitions(partitions)];
                        encode(api, v, &fetch::list_offsets(&state, ListOffsetsRequest::default().with_topics(topics)));
                    }
                    ApiKey::OffsetCommit => {
                        let partitions = [0, 4]
                            .into_iter()
                            .map(|p| {
                                OffsetCommitRequestPartition::default().with_partition_index(p).with_committed_offset(5)
                            })
                            .collect();
                        let topics =
                            vec![OffsetCommitRequestTopic::default().with_name(name("t")).with_partitions(partitions)];
                        let request = OffsetCommitRequest::default()
                            .with_group_id(GroupId(StrBytes::from_static_str("g")))
                            .with_topics(topics);
                        encode(api, v, &offsets::offset_commit(&state, request));
                    }
                    ApiKey::OffsetFetch => {
                        let group = GroupId(StrBytes::from_static_str("g"));
                        for all in [false, true] {
                            let request = if v >= 8 {
                                let topics = vec![
                                    OffsetFetchRequestTopics::default()
                                        .with_name(name("t"))
                                        .with_partition_indexes(vec![0, 1]),
                                ];
                                let group = OffsetFetchRequestGroup::default()
                                    .with_group_id(group.clone())
                                    .with_topics(if all { None } else { Some(topics) });
                                OffsetFetchRequest::default().with_groups(vec![group])
                            } else {
                                let topics = vec![
                                    OffsetFetchRequestTopic::default()
                                        .with_name(name("t"))
                                        .with_partition_indexes(vec![0, 1]),
                                ];
                                OffsetFetchRequest::default().with_group_id(group.clone()).with_topics(if all {
                                    None
                                } else {
                                    Some(topics)
                                })
                            };
                            encode(api, v, &offsets::offset_fetch(&state, request, v));
                        }
                    }
                    ApiKey::JoinGroup => {
                        let protocols =
                            vec![JoinGroupRequestProtocol::default().with_name(StrBytes::from_static_str("range"))];
                        let request = JoinGroupRequest::default()
                            .with_group_id(GroupId(StrBytes::from_static_str("members")))
                            .with_session_timeout_ms(10_000)
                            .with_protocol_type(StrBytes::from_static_str("consumer"))
                            .with_protocols(protocols);
                        let joined = membership::join_group(&state, request.clone(), "client").await;
                        assert_eq!(joined.error_code, 0);
                        encode(api, v, &joined);
                        let unknown = request.with_member_id(StrBytes::from_static_str("stranger"));
                        encode(api, v, &membership::join_group(&state, unknown, "client").await);
                        let sync = SyncGroupRequest::default()
                            .with_group_id(GroupId(StrBytes::from_static_str("members")))
                            .with_generation_id(joined.generation_id)
                            .with_member_id(joined.member_id.clone());
                        for sv in 0..=5 {
                            encode(ApiKey::SyncGroup, sv, &membership::sync_group(&state, sync.clone()).await);
                        }
                        let leave = LeaveGroupRequest::default()
                            .with_group_id(GroupId(StrBytes::from_static_str("members")))
                            .with_member_id(joined.member_id.clone())
                            .with_members(vec![MemberIdentity::default().with_member_id(joined.member_id)]);
                        for lv in 0..=4 {
                            encode(ApiKey::LeaveGroup, lv, &membership::leave_group(&state, leave.clone(), lv));
                        }
                    }
                    ApiKey::SyncGroup => {
                        let request =
                            SyncGroupRequest::default().with_group_id(GroupId(StrBytes::from_static_str("none")));
                        encode(api, v, &membership::sync_group(&state, request).await);
                    }
                    ApiKey::Heartbeat => {
                        let request =
                            HeartbeatRequest::default().with_group_id(GroupId(StrBytes::from_static_str("none")));
                        encode(api, v, &membership::heartbeat(&state, request));
                    }
                    ApiKey::LeaveGroup => {
                        let request = LeaveGroupRequest::default()
                            .with_group_id(GroupId(StrBytes::from_static_str("none")))
                            .with_members(vec![MemberIdentity::default()]);
                        encode(api, v, &membership::leave_group(&state, request, v));
                    }
                    other => panic!("{other:?} is advertised but not tested"),
                }
            }
        }
    }
}
