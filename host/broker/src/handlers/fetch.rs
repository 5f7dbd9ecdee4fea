//! Fetch (read batches from the requested offsets, waiting for data if there is none yet) and
//! ListOffsets (the earliest, latest or by-time offset of partitions).

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, TopicName};
use tokio::sync::futures::Notified;
use tokio::time::Instant;

use crate::BrokerState;
use crate::log::PartitionLog;

/// ListOffsets' special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

/// The longest a fetch may wait, whatever the client asks (Kafka has no limit, but a request
/// stuck for minutes is a client bug, and the connection answers nothing else meanwhile).
const MAX_WAIT: Duration = Duration::from_secs(30);

/// One requested partition, resolved to its log once per request.
struct Wanted {
    index: i32,
    offset: i64,
    max_bytes: usize,
    log: Option<Arc<PartitionLog>>,
}

/// Reads every requested partition once. Returns the response topics, the bytes of records
/// they hold, and whether any partition failed (which ends the wait as data does).
fn read_all(topics: &[(TopicName, Vec<Wanted>)], max_bytes: usize) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let mut total = 0;
    let mut failed = false;
    let responses = topics
        .iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .iter()
                .map(|wanted| {
                    let data = PartitionData::default().with_partition_index(wanted.index);
                    let Some(log) = &wanted.log else {
                        failed = true;
                        return data
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_high_watermark(-1);
                    };
                    // The first partition with data may exceed the limits by one batch (KIP-74),
                    // so a batch larger than the limits never blocks a consumer.
                    let budget = wanted.max_bytes.min(max_bytes.saturating_sub(total));
                    match log.read(wanted.offset, budget, total == 0) {
                        Ok(read) => {
                            total += read.records.len();
                            data.with_high_watermark(read.high_watermark)
                                .with_last_stable_offset(read.high_watermark)
                                .with_log_start_offset(0)
                                .with_records(Some(read.records))
                        }
                        Err(_) => {
                            failed = true;
                            let (start, end) = log.offsets();
                            data.with_error_code(ResponseError::OffsetOutOfRange.code())
                                .with_high_watermark(end)
                                .with_last_stable_offset(end)
                                .with_log_start_offset(start)
                        }
                    }
                })
                .collect();
            FetchableTopicResponse::default().with_topic(name.clone()).with_partitions(partitions)
        })
        .collect();
    (responses, total, failed)
}

/// Fetch: the stored batches of every requested partition from its fetch offset. When there
/// is less than `min_bytes` of data, it waits (as a suspended task, no thread blocked) until
/// an append to one of the partitions or `max_wait_ms`, then answers with what there is.
///
/// Every requested partition is in the response, with data or not: the broker keeps no fetch
/// sessions (it answers session id 0), so each response is a full one.
pub(crate) async fn fetch(state: &BrokerState, request: FetchRequest) -> FetchResponse {
    let wait = Duration::from_millis(request.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    let min_bytes = request.min_bytes.max(0) as usize;
    let max_bytes = if request.max_bytes > 0 { request.max_bytes as usize } else { usize::MAX };
    let topics: Vec<(TopicName, Vec<Wanted>)> = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = state.topics.get(&topic.topic);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| Wanted {
                    index: p.partition,
                    offset: p.fetch_offset,
                    max_bytes: p.partition_max_bytes.max(0) as usize,
                    log: found.as_ref().and_then(|t| t.partition(p.partition)).cloned(),
                })
                .collect();
            (topic.topic, partitions)
        })
        .collect();
    let logs: Vec<&PartitionLog> =
        topics.iter().flat_map(|(_, ps)| ps.iter().filter_map(|p| p.log.as_deref())).collect();
    loop {
        // Register for wake-ups before reading, so an append between the read and the wait
        // still wakes this fetch.
        let mut appended: Vec<Pin<Box<Notified<'_>>>> =
            logs.iter().map(|log| Box::pin(log.appended().notified())).collect();
        for notified in &mut appended {
            notified.as_mut().enable();
        }
        let (responses, bytes, failed) = read_all(&topics, max_bytes);
        if bytes >= min_bytes || failed || Instant::now() >= deadline {
            return FetchResponse::default().with_responses(responses);
        }
        let any_append = poll_fn(|cx| {
            if appended.iter_mut().any(|notified| notified.as_mut().poll(cx).is_ready()) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        // On time-out the loop reads once more and answers, data or not.
        let _ = tokio::time::timeout_at(deadline, any_append).await;
    }
}

/// ListOffsets: per partition the log start (-2), the log end (-1: the true end, one past the
/// last record) or the first offset at or after a timestamp (batch precision).
pub(crate) fn list_offsets(state: &BrokerState, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = state.topics.get(&topic.name);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
                    let Some(log) = found.as_ref().and_then(|t| t.partition(p.partition_index)) else {
                        return response.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let (start, end) = log.offsets();
                    let (timestamp, offset) = match p.timestamp {
                        LATEST => (-1, end),
                        EARLIEST => (-1, start),
                        at if at >= 0 => match log.offset_for_timestamp(at) {
                            Some((offset, timestamp)) => (timestamp, offset),
                            None => (-1, -1),
                        },
                        _ => return response.with_error_code(ResponseError::InvalidRequest.code()),
                    };
                    response.with_timestamp(timestamp).with_offset(offset).with_leader_epoch(0)
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
