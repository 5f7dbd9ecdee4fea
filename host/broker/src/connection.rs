//! One client connection: size-prefixed frames in, one response per request out, in request
//! order (Kafka's guarantee, which clients rely on to match correlation ids and to keep a
//! producer's batches in order).
//!
//! Requests are handled one at a time. Responses are gathered in a buffer and written when no
//! further request is already waiting to be read, so a client that pipelines (librdkafka keeps
//! many produce requests in flight) gets its responses in few writes.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, FetchRequest, FindCoordinatorRequest, HeartbeatRequest, InitProducerIdRequest,
    JoinGroupRequest, LeaveGroupRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetFetchRequest,
    ProduceRequest, RequestHeader, ResponseHeader, SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{BrokerState, apis, handlers};

/// The largest request accepted (Kafka's `socket.request.max.bytes`).
const MAX_FRAME: usize = 100 * 1024 * 1024;

/// Requests whose answer may be delayed until something happens.
const WAITING_APIS: [ApiKey; 3] = [ApiKey::Fetch, ApiKey::JoinGroup, ApiKey::SyncGroup];

/// Why a connection was closed by the broker.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the connection closed in the middle of a request")]
    Truncated,
    #[error("a request of {0} bytes is larger than the limit or negative")]
    FrameSize(i64),
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    #[error("{api:?} version {version} is not supported")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("a malformed {api:?} v{version} request: {problem}")]
    Malformed { api: ApiKey, version: i16, problem: String },
    #[error("the {api:?} v{version} response could not be encoded: {problem}")]
    Encode { api: ApiKey, version: i16, problem: String },
}

/// A client connection's socket and buffers.
struct Connection {
    stream: TcpStream,
    /// Bytes read but not yet handled.
    input: BytesMut,
    /// Responses not yet written.
    output: BytesMut,
}

impl Connection {
    /// The next complete request frame (without its size prefix), or `None` when the client
    /// closed the connection between requests.
    async fn read_frame(&mut self) -> Result<Option<Bytes>, ConnectionError> {
        loop {
            if let Some(frame) = self.parse_frame()? {
                return Ok(Some(frame));
            }
            if self.stream.read_buf(&mut self.input).await? == 0 {
                return if self.input.is_empty() { Ok(None) } else { Err(ConnectionError::Truncated) };
            }
        }
    }

    /// Takes one frame off the input buffer if it is all there.
    fn parse_frame(&mut self) -> Result<Option<Bytes>, ConnectionError> {
        if self.input.len() < 4 {
            return Ok(None);
        }
        let size = i32::from_be_bytes([self.input[0], self.input[1], self.input[2], self.input[3]]);
        let size =
            usize::try_from(size).ok().filter(|s| *s <= MAX_FRAME).ok_or(ConnectionError::FrameSize(size as i64))?;
        if self.input.len() < 4 + size {
            // Make room for the whole frame at once rather than growing step by step.
            self.input.reserve(4 + size - self.input.len());
            return Ok(None);
        }
        self.input.advance(4);
        Ok(Some(self.input.split_to(size).freeze()))
    }

    /// Whether another complete request is already buffered.
    fn has_frame(&self) -> bool {
        self.input.len() >= 4 && {
            let size = i32::from_be_bytes([self.input[0], self.input[1], self.input[2], self.input[3]]);
            usize::try_from(size).is_ok_and(|s| self.input.len() >= 4 + s)
        }
    }

    async fn flush(&mut self) -> Result<(), ConnectionError> {
        if !self.output.is_empty() {
            self.stream.write_all(&self.output).await?;
            self.output.clear();
        }
        Ok(())
    }
}

/// Serves one client until it disconnects or sends something the broker cannot answer.
pub(crate) async fn serve(stream: TcpStream, peer: SocketAddr, state: Arc<BrokerState>) {
    // Responses are written whole; Nagle would only delay the last segment of each.
    let _ = stream.set_nodelay(true);
    let mut connection =
        Connection { stream, input: BytesMut::with_capacity(64 * 1024), output: BytesMut::with_capacity(64 * 1024) };
    let result = async {
        while let Some(frame) = connection.read_frame().await? {
            // A request that may wait (for data, for a rebalance): answer everything before it first.
            if frame.len() >= 2 && WAITING_APIS.iter().any(|api| frame[..2] == (*api as i16).to_be_bytes()) {
                connection.flush().await?;
            }
            if let Err(error) = handle(&state, frame, &mut connection.output).await {
                // Deliver the answers to the requests before this one, then close.
                let _ = connection.flush().await;
                return Err(error);
            }
            if !connection.has_frame() {
                connection.flush().await?;
            }
        }
        Ok::<(), ConnectionError>(())
    }
    .await;
    match result {
        Ok(()) => tracing::debug!(%peer, "client disconnected"),
        Err(ConnectionError::Io(error)) => tracing::debug!(%peer, %error, "client connection lost"),
        // What Kafka does with requests it cannot parse or answer: log and close.
        Err(error) => tracing::warn!(%peer, %error, "closing a Kafka client connection"),
    }
}

fn decode<T: Decodable>(frame: &mut Bytes, api: ApiKey, version: i16) -> Result<T, ConnectionError> {
    T::decode(frame, version).map_err(|e| ConnectionError::Malformed { api, version, problem: e.to_string() })
}

/// Appends one response frame (size, header, body) to `output`.
fn respond<T: Encodable>(
    output: &mut BytesMut,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<(), ConnectionError> {
    let start = output.len();
    output.put_i32(0);
    let encoded = ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(output, api.response_header_version(version))
        .and_then(|()| body.encode(output, version));
    if let Err(e) = encoded {
        output.truncate(start);
        return Err(ConnectionError::Encode { api, version, problem: e.to_string() });
    }
    let len = output.len() - start - 4;
    let Ok(size) = i32::try_from(len) else {
        output.truncate(start);
        let problem = format!("the response of {len} bytes exceeds the protocol's limit of {}", i32::MAX);
        return Err(ConnectionError::Encode { api, version, problem });
    };
    output[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// Decodes one request, runs its handler and appends the response (if the request wants one).
async fn handle(state: &BrokerState, mut frame: Bytes, output: &mut BytesMut) -> Result<(), ConnectionError> {
    // The fixed start of every request header: api key, api version, correlation id.
    if frame.len() < 8 {
        return Err(ConnectionError::Truncated);
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api = ApiKey::try_from(key).map_err(|_| ConnectionError::UnknownApi(key))?;
    let Some((min, max)) = apis::supported(api) else {
        return Err(ConnectionError::UnsupportedVersion { api, version });
    };
    if version < min || version > max {
        if api == ApiKey::ApiVersions {
            // A newer client asks first in its newest version; the answer says which to use.
            return respond(output, api, 0, correlation_id, &apis::api_versions(true));
        }
        return Err(ConnectionError::UnsupportedVersion { api, version });
    }
    let header: RequestHeader = decode(&mut frame, api, api.request_header_version(version))?;
    tracing::trace!(?api, version, client = header.client_id.as_deref().unwrap_or(""), "request");
    let frame = &mut frame;
    match api {
        ApiKey::ApiVersions => respond(output, api, version, correlation_id, &apis::api_versions(false)),
        ApiKey::Metadata => {
            let response =
                handlers::metadata::metadata(state, decode::<MetadataRequest>(frame, api, version)?, version);
            respond(output, api, version, correlation_id, &response)
        }
        ApiKey::CreateTopics => {
            let request = decode::<CreateTopicsRequest>(frame, api, version)?;
            respond(output, api, version, correlation_id, &handlers::metadata::create_topics(state, request, version))
        }
        ApiKey::FindCoordinator => {
            let request = decode::<FindCoordinatorRequest>(frame, api, version)?;
            respond(
                output,
                api,
                version,
                correlation_id,
                &handlers::metadata::find_coordinator(state, request, version),
            )
        }
        ApiKey::Produce => {
            let request = decode::<ProduceRequest>(frame, api, version)?;
            // acks=0: the client expects no response at all.
            let silent = request.acks == 0;
            let response = handlers::produce::produce(state, request);
            if silent { Ok(()) } else { respond(output, api, version, correlation_id, &response) }
        }
        ApiKey::InitProducerId => {
            let request = decode::<InitProducerIdRequest>(frame, api, version)?;
            respond(output, api, version, correlation_id, &handlers::produce::init_producer_id(state, request))
        }
        ApiKey::Fetch => {
            let request = decode::<FetchRequest>(frame, api, version)?;
            let response = handlers::fetch::fetch(state, request).await;
            respond(output, api, version, correlation_id, &response)
        }
        ApiKey::ListOffsets => {
            let request = decode::<ListOffsetsRequest>(frame, api, version)?;
            respond(output, api, version, correlation_id, &handlers::fetch::list_offsets(state, request))
        }
        ApiKey::OffsetCommit => {
            let request = decode::<OffsetCommitRequest>(frame, api, version)?;
            respond(output, api, version, correlation_id, &handlers::offsets::offset_commit(state, request))
        }
        ApiKey::OffsetFetch => {
            let request = decode::<OffsetFetchRequest>(frame, api, version)?;
            respond(output, api, version, correlation_id, &handlers::offsets::offset_fetch(state, request, version))
        }
        ApiKey::JoinGroup => {
            let request = decode::<JoinGroupRequest>(frame, api, version)?;
            let client_id = header.client_id.as_deref().unwrap_or("");
            let response = handlers::membership::join_group(state, request, client_id).await;
            respond(output, api, version, correlation_id, &response)
        }
        ApiKey::SyncGroup => {
            let request = decode::<SyncGroupRequest>(frame, api, version)?;
            let response = handlers::membership::sync_group(state, request).await;
            respond(output, api, version, correlation_id, &response)
        }
        ApiKey::Heartbeat => {
            let request = decode::<HeartbeatRequest>(frame, api, version)?;
            respond(output, api, version, correlation_id, &handlers::membership::heartbeat(state, request))
        }
        ApiKey::LeaveGroup => {
            let request = decode::<LeaveGroupRequest>(frame, api, version)?;
            respond(output, api, version, correlation_id, &handlers::membership::leave_group(state, request, version))
        }
        // `apis::supported` lists exactly the APIs above.
        _ => Err(ConnectionError::UnsupportedVersion { api, version }),
    }
}

/// Fuzzing on stable Rust: arbitrary frames and mutated valid requests into the request
/// decoder and handlers (`PROPTEST_CASES=<n>` for more cases).
#[cfg(test)]
mod fuzz {
    use std::time::Duration;

    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ApiVersionsRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    use super::*;
    use crate::batch::tests::batch;

    /// `default` cases per property, or as many as `PROPTEST_CASES` asks for.
    fn cases(default: u32) -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default);
        ProptestConfig { cases, ..ProptestConfig::default() }
    }

    /// A request frame (without its size prefix): header and body at `version`, or `None` if
    /// the body has a field that version lacks.
    fn request<T: Encodable>(api: ApiKey, version: i16, body: &T) -> Option<Vec<u8>> {
        let mut out = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("fuzz")))
            .encode(&mut out, api.request_header_version(version))
            .ok()?;
        body.encode(&mut out, version).ok()?;
        Some(out.to_vec())
    }

    fn name(s: &'static str) -> TopicName {
        TopicName(StrBytes::from_static_str(s))
    }

    /// Valid requests of every API that takes a list or bytes from the client, at every
    /// version the broker supports.
    fn valid_requests() -> Vec<Vec<u8>> {
        let records = Bytes::from(batch(3, -1, -1, 1000));
        let mut requests = Vec::new();
        for &(api, min, max) in apis::SUPPORTED {
            for v in min..=max {
                let frame = match api {
                    ApiKey::ApiVersions => request(api, v, &ApiVersionsRequest::default()),
                    ApiKey::Metadata => {
                        let topics = vec![MetadataRequestTopic::default().with_name(Some(name("t")))];
                        request(api, v, &MetadataRequest::default().with_topics(Some(topics)))
                    }
                    ApiKey::CreateTopics => {
                        let topic = CreatableTopic::default().with_name(name("t")).with_num_partitions(2);
                        request(api, v, &CreateTopicsRequest::default().with_topics(vec![topic]))
                    }
                    ApiKey::Produce => {
                        let partition =
                            PartitionProduceData::default().with_index(0).with_records(Some(records.clone()));
                        let topic =
                            TopicProduceData::default().with_name(name("t")).with_partition_data(vec![partition]);
                        request(api, v, &ProduceRequest::default().with_acks(-1).with_topic_data(vec![topic]))
                    }
                    ApiKey::Fetch => {
                        let partition = FetchPartition::default().with_partition(0).with_partition_max_bytes(1 << 20);
                        let topic = FetchTopic::default().with_topic(name("t")).with_partitions(vec![partition]);
                        request(api, v, &FetchRequest::default().with_max_wait_ms(0).with_topics(vec![topic]))
                    }
                    ApiKey::FindCoordinator => request(
                        api,
                        v,
                        &FindCoordinatorRequest::default()
                            .with_key(StrBytes::from_static_str("g"))
                            .with_coordinator_keys(vec![StrBytes::from_static_str("g")]),
                    ),
                    ApiKey::InitProducerId => request(api, v, &InitProducerIdRequest::default()),
                    ApiKey::ListOffsets => request(api, v, &ListOffsetsRequest::default()),
                    ApiKey::OffsetCommit => request(api, v, &OffsetCommitRequest::default()),
                    ApiKey::OffsetFetch => request(api, v, &OffsetFetchRequest::default()),
                    ApiKey::Heartbeat => request(api, v, &HeartbeatRequest::default()),
                    ApiKey::LeaveGroup => request(api, v, &LeaveGroupRequest::default()),
                    _ => None,
                };
                requests.extend(frame);
            }
        }
        requests
    }

    /// A change to a valid request's bytes.
    #[derive(Debug, Clone)]
    enum Mutation {
        /// Overwrites a byte (at an index modulo the length).
        Set(usize, u8),
        /// Overwrites four bytes with an extreme i32 (a count, a length, a partition count).
        Int(usize, i32),
        /// Cuts the request.
        Truncate(usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Set(at, b)),
            (any::<usize>(), prop_oneof![Just(i32::MAX), Just(-1), Just(i32::MIN), Just(1 << 24), any::<i32>()])
                .prop_map(|(at, n)| Mutation::Int(at, n)),
            any::<usize>().prop_map(Mutation::Truncate),
        ]
    }

    fn apply(frame: &mut Vec<u8>, mutation: &Mutation) {
        if frame.is_empty() {
            return;
        }
        match *mutation {
            Mutation::Set(at, b) => {
                let at = at % frame.len();
                frame[at] = b;
            }
            Mutation::Int(at, n) => {
                let at = at % frame.len();
                let end = (at + 4).min(frame.len());
                frame[at..end].copy_from_slice(&n.to_be_bytes()[..end - at]);
            }
            Mutation::Truncate(at) => frame.truncate(at % frame.len()),
        }
    }

    /// Arbitrary bytes, often behind a supported API key and version so that decoding gets
    /// past the header.
    fn frame() -> impl Strategy<Value = Vec<u8>> {
        let body = proptest::collection::vec(any::<u8>(), 0..256);
        prop_oneof![
            body.clone(),
            (proptest::sample::select(apis::SUPPORTED.to_vec()), any::<u8>(), body).prop_map(
                |((api, min, max), v, body)| {
                    let version = min + i16::from(v) % (max - min + 1);
                    [(api as i16).to_be_bytes(), version.to_be_bytes()].concat().into_iter().chain(body).collect()
                }
            ),
        ]
    }

    /// Handles `frame` with `state`: an answer or an error, never a panic. A request that
    /// waits (a long poll, a rebalance) is given up on after a moment: waiting is an answer.
    /// Then the same broker still answers ApiVersions.
    fn handle_then_serve(runtime: &tokio::runtime::Runtime, state: &BrokerState, frame: Vec<u8>) {
        runtime.block_on(async {
            let mut output = BytesMut::new();
            let handled =
                tokio::time::timeout(Duration::from_millis(50), handle(state, Bytes::from(frame), &mut output)).await;
            if let Ok(Ok(())) = handled {
                // Whole response frames only.
                let mut rest = &output[..];
                while !rest.is_empty() {
                    let size = i32::from_be_bytes(rest[..4].try_into().unwrap());
                    rest = &rest[4 + usize::try_from(size).unwrap()..];
                }
            }
            let versions = request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).unwrap();
            let mut output = BytesMut::new();
            handle(state, Bytes::from(versions), &mut output).await.unwrap();
            assert!(!output.is_empty(), "the broker no longer answers");
        });
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    /// Found by fuzzing: a Metadata v0 request whose topic array declares i32::MAX elements
    /// (8 bytes after the header) made kafka-protocol allocate ~130 GB for them and abort the
    /// process. Now refused before allocating (the patched `vendor/kafka-protocol`).
    #[test]
    fn fuzz_regression_an_array_count_beyond_the_frame_is_refused() {
        let mut frame = request(ApiKey::Metadata, 0, &MetadataRequest::default().with_topics(Some(vec![]))).unwrap();
        let count = frame.len() - 4;
        frame[count..].copy_from_slice(&i32::MAX.to_be_bytes());
        let state = BrokerState::new("localhost", 9092, 2);
        let error = runtime().block_on(handle(&state, Bytes::from(frame.clone()), &mut BytesMut::new())).unwrap_err();
        assert!(error.to_string().contains("Array length 2147483647 is more than the 0 bytes that remain"), "{error}");
        handle_then_serve(&runtime(), &state, frame);
    }

    proptest! {
        #![proptest_config(cases(256))]

        /// Arbitrary request frames: a response or a refusal, and the broker serves on.
        #[test]
        fn fuzz_arbitrary_requests_are_answered_or_refused(frame in frame()) {
            handle_then_serve(&runtime(), &BrokerState::new("localhost", 9092, 2), frame);
        }

        /// Valid requests of every API and version, mutated: a response or a refusal, and the
        /// broker serves on.
        #[test]
        fn fuzz_mutated_requests_are_answered_or_refused(
            frame in proptest::sample::select(valid_requests()),
            mutations in proptest::collection::vec(mutation(), 1..4),
        ) {
            let mut frame = frame;
            for mutation in &mutations {
                apply(&mut frame, mutation);
            }
            handle_then_serve(&runtime(), &BrokerState::new("localhost", 9092, 2), frame);
        }
    }

    /// One broker for the whole property, as clients share one.
    fn broker() -> std::net::SocketAddr {
        static BROKER: std::sync::OnceLock<crate::EmbeddedBroker> = std::sync::OnceLock::new();
        let config = crate::BrokerConfig { listen: ([127, 0, 0, 1], 0).into(), ..Default::default() };
        BROKER.get_or_init(|| crate::EmbeddedBroker::start_blocking(config).unwrap()).local_addr()
    }

    /// Asks ApiVersions on a new connection and returns the response's correlation id.
    fn api_versions(addr: std::net::SocketAddr) -> std::io::Result<i32> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let request = request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).unwrap_or_default();
        let size = i32::try_from(request.len()).unwrap_or(i32::MAX);
        stream.write_all(&[size.to_be_bytes().as_slice(), &request].concat())?;
        let mut head = [0u8; 8];
        stream.read_exact(&mut head)?;
        Ok(i32::from_be_bytes([head[4], head[5], head[6], head[7]]))
    }

    proptest! {
        // Each case is a real connection to a real broker: fewer cases.
        #![proptest_config(cases(64))]

        /// Garbage written to a real broker's port (sized frames of arbitrary or mutated
        /// requests, or raw bytes): that connection is answered or dropped, and a new client
        /// is still served.
        #[test]
        fn fuzz_a_broker_serves_on_after_garbage(
            frames in proptest::collection::vec(prop_oneof![frame(), proptest::sample::select(valid_requests())], 1..4),
            sized in any::<bool>(),
        ) {
            use std::io::Write;
            let addr = broker();
            let mut garbage = std::net::TcpStream::connect(addr).unwrap();
            for frame in frames {
                let bytes = if sized {
                    let size = i32::try_from(frame.len()).unwrap_or(i32::MAX);
                    [size.to_be_bytes().as_slice(), &frame].concat()
                } else {
                    frame
                };
                // The broker may already have closed the connection.
                if garbage.write_all(&bytes).is_err() {
                    break;
                }
            }
            prop_assert_eq!(api_versions(addr).unwrap(), 7);
        }
    }
}
