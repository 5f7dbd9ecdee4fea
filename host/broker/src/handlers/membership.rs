//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup: the classic group protocol (see
//! `membership`), translated from and to the wire types.

use std::time::Duration;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
    SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::BrokerState;
use crate::membership::JoinRequest;

fn millis(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

/// JoinGroup: waits for the rebalance to complete; the leader gets every member's metadata.
pub(crate) async fn join_group(state: &BrokerState, request: JoinGroupRequest, client_id: &str) -> JoinGroupResponse {
    let session_timeout = millis(request.session_timeout_ms);
    // Version 0 has no rebalance timeout (-1): Kafka uses the session timeout.
    let rebalance_timeout =
        if request.rebalance_timeout_ms < 0 { session_timeout } else { millis(request.rebalance_timeout_ms) };
    let protocol_type = request.protocol_type.clone();
    let join = JoinRequest {
        group: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        client_id: client_id.to_string(),
        protocol_type: request.protocol_type.to_string(),
        protocols: request.protocols.into_iter().map(|p| (p.name.to_string(), p.metadata)).collect(),
        session_timeout,
        rebalance_timeout,
    };
    match state.membership.join(join).await {
        Ok(joined) => {
            let members = joined
                .members
                .into_iter()
                .map(|(id, metadata)| {
                    JoinGroupResponseMember::default().with_member_id(StrBytes::from_string(id)).with_metadata(metadata)
                })
                .collect();
            JoinGroupResponse::default()
                .with_generation_id(joined.generation)
                .with_protocol_type(Some(protocol_type))
                .with_protocol_name(Some(StrBytes::from_string(joined.protocol)))
                .with_leader(StrBytes::from_string(joined.leader))
                .with_member_id(StrBytes::from_string(joined.member_id))
                .with_members(members)
        }
        Err((error, member_id)) => JoinGroupResponse::default()
            .with_error_code(error.code())
            .with_generation_id(-1)
            .with_protocol_name(Some(StrBytes::new()))
            .with_member_id(StrBytes::from_string(member_id)),
    }
}

/// SyncGroup: the member's part of the leader's assignment, once the leader has sent it.
pub(crate) async fn sync_group(state: &BrokerState, request: SyncGroupRequest) -> SyncGroupResponse {
    let assignments =
        request.assignments.into_iter().map(|a| (a.member_id.to_string(), a.assignment)).collect::<Vec<_>>();
    let result = state.membership.sync(&request.group_id, request.generation_id, &request.member_id, assignments).await;
    let response = SyncGroupResponse::default()
        .with_protocol_type(request.protocol_type)
        .with_protocol_name(request.protocol_name);
    match result {
        Ok(assignment) => response.with_assignment(assignment),
        Err(error) => response.with_error_code(error.code()),
    }
}

/// Heartbeat: `REBALANCE_IN_PROGRESS` tells the member to rejoin.
pub(crate) fn heartbeat(state: &BrokerState, request: HeartbeatRequest) -> HeartbeatResponse {
    let result = state.membership.heartbeat(&request.group_id, request.generation_id, &request.member_id);
    HeartbeatResponse::default().with_error_code(result.err().map_or(0, |e| e.code()))
}

/// LeaveGroup: one member before version 3, a list of members from version 3 on.
pub(crate) fn leave_group(state: &BrokerState, request: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    if version < 3 {
        let result = state.membership.leave(&request.group_id, &request.member_id);
        return LeaveGroupResponse::default().with_error_code(result.err().map_or(0, |e| e.code()));
    }
    let members = request
        .members
        .into_iter()
        .map(|member| {
            let result = state.membership.leave(&request.group_id, &member.member_id);
            MemberResponse::default()
                .with_member_id(member.member_id)
                .with_group_instance_id(member.group_instance_id)
                .with_error_code(result.err().map_or(0, |e| e.code()))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}
