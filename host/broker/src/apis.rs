//! The APIs the broker speaks and their versions: what ApiVersions advertises and what a
//! request is checked against.
//!
//! Clients pick the highest version both sides know, so every version in this table must be
//! handled completely. The ranges stop below versions that need features the broker lacks:
//! Fetch 13+ addresses topics by id, ListOffsets 7+ asks for the record with the largest
//! timestamp (which needs a look inside batches), OffsetCommit/OffsetFetch 9+ belong to the
//! KIP-848 group protocol, CreateTopics 7+ returns topic ids.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};

/// `(api, min version, max version)` of every API the broker implements. The minimums are the
/// oldest versions the `kafka-protocol` crate decodes (Kafka 4's), which every supported
/// client version also speaks.
pub(crate) const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 6),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 6),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::JoinGroup, 0, 7),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 4),
];

/// The versions of `api` the broker implements, if any.
pub(crate) fn supported(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED.iter().find(|(key, _, _)| *key == api).map(|(_, min, max)| (*min, *max))
}

/// The ApiVersions response: every supported API, and `UNSUPPORTED_VERSION` if the client
/// asked in a version the broker does not speak (it then retries with one it does; such an
/// answer is encoded as version 0, which every client can read).
pub(crate) fn api_versions(unsupported: bool) -> ApiVersionsResponse {
    let api_keys = SUPPORTED
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default().with_api_key(*key as i16).with_min_version(*min).with_max_version(*max)
        })
        .collect();
    let error = if unsupported { ResponseError::UnsupportedVersion.code() } else { 0 };
    ApiVersionsResponse::default().with_error_code(error).with_api_keys(api_keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_version_is_one_kafka_protocol_knows() {
        for (key, min, max) in SUPPORTED {
            let known = key.valid_versions();
            assert!(known.min <= *min && *max <= known.max, "{key:?} {min}..={max} vs {known:?}");
        }
    }
}
