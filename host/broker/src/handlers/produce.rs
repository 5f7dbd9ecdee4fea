//! Produce (append record batches to partition logs) and InitProducerId (ids for idempotent
//! producers).

use std::sync::atomic::Ordering;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, ProducerId,
};
use kafka_protocol::protocol::StrBytes;

use crate::BrokerState;
use crate::batch::{self, BatchError};
use crate::log::AppendError;

/// The acks values Kafka accepts: none, the leader, all in-sync replicas (here: the leader).
const VALID_ACKS: [i16; 3] = [0, 1, -1];

fn failed(index: i32, error: ResponseError, message: String) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(error.code())
        .with_base_offset(-1)
        .with_error_message(Some(StrBytes::from_string(message)))
}

/// Produce: appends each partition's batches and reports the base offset each got. The data
/// is in the log before the response is written, so acks=1 and acks=-1 mean the same here;
/// for acks=0 the caller sends no response.
pub(crate) fn produce(state: &BrokerState, request: ProduceRequest) -> ProduceResponse {
    let acks_valid = VALID_ACKS.contains(&request.acks);
    let responses = request
        .topic_data
        .into_iter()
        .map(|data| {
            let topic = state.topics.get(&data.name);
            let partitions = data
                .partition_data
                .into_iter()
                .map(|partition| {
                    let index = partition.index;
                    if !acks_valid {
                        return failed(index, ResponseError::InvalidRequiredAcks, format!("acks={}", request.acks));
                    }
                    let Some(log) = topic.as_ref().and_then(|t| t.partition(index)) else {
                        return failed(
                            index,
                            ResponseError::UnknownTopicOrPartition,
                            format!("{}/{index} does not exist", data.name.as_str()),
                        );
                    };
                    let batches = match batch::split(&partition.records.unwrap_or_default()) {
                        Ok(batches) => batches,
                        Err(error @ BatchError::Magic(_)) => {
                            return failed(index, ResponseError::UnsupportedForMessageFormat, error.to_string());
                        }
                        Err(error) => return failed(index, ResponseError::CorruptMessage, error.to_string()),
                    };
                    match log.append(&batches) {
                        Ok(base_offset) => PartitionProduceResponse::default()
                            .with_index(index)
                            .with_base_offset(base_offset)
                            .with_log_start_offset(0),
                        Err(error @ AppendError::OutOfOrderSequence { .. }) => {
                            failed(index, ResponseError::OutOfOrderSequenceNumber, error.to_string())
                        }
                    }
                })
                .collect();
            TopicProduceResponse::default().with_name(data.name).with_partition_responses(partitions)
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}

/// InitProducerId: a fresh producer id (epoch 0) for every idempotent producer, including one
/// that asks to bump the epoch of its old id (a new id serves it just as well). Transactional
/// producers are refused: the broker has no transaction coordinator.
pub(crate) fn init_producer_id(state: &BrokerState, request: InitProducerIdRequest) -> InitProducerIdResponse {
    if request.transactional_id.as_ref().is_some_and(|id| !id.is_empty()) {
        return InitProducerIdResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    let id = state.next_producer_id.fetch_add(1, Ordering::Relaxed);
    InitProducerIdResponse::default().with_producer_id(ProducerId(id)).with_producer_epoch(0)
}
