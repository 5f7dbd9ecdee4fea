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
