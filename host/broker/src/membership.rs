//! Consumer group membership: Kafka's classic rebalance protocol, so that clients that
//! `subscribe` (rather than assign partitions themselves) can share a topic's partitions.
//!
//! A group moves through Kafka's states. A JoinGroup starts a rebalance (`PreparingRebalance`)
//! and waits until every member has rejoined (members that do not are dropped after the
//! rebalance timeout, dead ones after their session timeout); the rebalance then completes
//! (`CompletingRebalance`, a new generation), the leader receives every member's metadata,
//! computes the assignment on the client side and hands it over in its SyncGroup, which
//! answers every member's SyncGroup (`Stable`). Heartbeats tell members when to rejoin.
//!
//! Simplifications: every JoinGroup starts a rebalance (Kafka lets a follower with unchanged
//! metadata rejoin a stable group without one); there is no initial rebalance delay; static
//! membership (`group.instance.id`) is treated as dynamic.
//!
//! Waiting requests are suspended tasks woken through the group's `Notify`; they also wake
//! every second to expire dead members, so no background task is needed.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How often a waiting JoinGroup or SyncGroup checks for expired members.
const EXPIRY_CHECK: Duration = Duration::from_secs(1);

/// The session timeout assumed when a client sends none.
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(45);

/// Why a membership request failed; each maps to Kafka's error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MembershipError {
    #[error("the group id is empty")]
    InvalidGroupId,
    #[error("the member is not (or no longer) in the group")]
    UnknownMember,
    #[error("the member's generation is not the group's")]
    IllegalGeneration,
    #[error("the group is rebalancing: rejoin")]
    RebalanceInProgress,
    #[error("the member's protocol type or protocols do not match the group's")]
    InconsistentProtocol,
}

impl MembershipError {
    /// The wire error code.
    pub fn code(self) -> i16 {
        match self {
            MembershipError::InvalidGroupId => ResponseError::InvalidGroupId.code(),
            MembershipError::UnknownMember => ResponseError::UnknownMemberId.code(),
            MembershipError::IllegalGeneration => ResponseError::IllegalGeneration.code(),
            MembershipError::RebalanceInProgress => ResponseError::RebalanceInProgress.code(),
            MembershipError::InconsistentProtocol => ResponseError::InconsistentGroupProtocol.code(),
        }
    }
}

/// A JoinGroup, in the broker's terms.
pub(crate) struct JoinRequest {
    pub group: String,
    /// Empty for a member joining for the first time.
    pub member_id: String,
    /// Prefix of a new member's id (Kafka uses the client id).
    pub client_id: String,
    pub protocol_type: String,
    /// The assignment protocols the member supports, by preference, with its metadata for each.
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
}

/// A completed join: the generation the member is now part of.
#[derive(Debug, Clone)]
pub(crate) struct Joined {
    pub generation: i32,
    pub protocol: String,
    pub leader: String,
    pub member_id: String,
    /// Every member's metadata for the chosen protocol, for the leader only.
    pub members: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

struct Member {
    protocols: Vec<(String, Bytes)>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    last_seen: Instant,
    /// Joined in the current rebalance.
    joined: bool,
    /// Its part of the leader's assignment, once the leader synced.
    assignment: Bytes,
}

/// What the last completed rebalance decided, as join responses report it.
struct Generation {
    generation: i32,
    protocol: String,
    leader: String,
    members: Vec<(String, Bytes)>,
}

struct Group {
    state: State,
    generation: i32,
    protocol_type: String,
    members: BTreeMap<String, Member>,
    rebalance_deadline: Instant,
    completed: Option<Arc<Generation>>,
    /// Woken on every change of state; waiting requests re-check.
    changed: Arc<Notify>,
}

impl Group {
    fn new() -> Group {
        Group {
            state: State::Empty,
            generation: 0,
            protocol_type: String::new(),
            members: BTreeMap::new(),
            rebalance_deadline: Instant::now(),
            completed: None,
            changed: Arc::new(Notify::new()),
        }
    }

    fn leader(&self) -> Option<&str> {
        self.completed.as_ref().map(|c| c.leader.as_str())
    }

    /// Starts a rebalance: every member must (re)join.
    fn prepare_rebalance(&mut self, now: Instant) {
        self.state = State::PreparingRebalance;
        let longest = self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or_default();
        self.rebalance_deadline = now + longest;
        for member in self.members.values_mut() {
            member.joined = false;
            member.assignment = Bytes::new();
        }
        self.changed.notify_waiters();
    }

    /// Removes members whose session expired (except those waiting in a JoinGroup) and
    /// rebalances if that changed the group.
    fn expire(&mut self, now: Instant) {
        let before = self.members.len();
        let preparing = self.state == State::PreparingRebalance;
        self.members.retain(|_, m| (preparing && m.joined) || now < m.last_seen + m.session_timeout);
        if self.members.len() != before {
            self.membership_changed(now);
        }
    }

    /// After members left or expired: rebalance, or finish one in progress without them.
    fn membership_changed(&mut self, now: Instant) {
        match self.state {
            State::PreparingRebalance => {
                self.try_complete_join(now);
            }
            _ if self.members.is_empty() => {
                self.state = State::Empty;
                self.completed = None;
                self.changed.notify_waiters();
            }
            _ => self.prepare_rebalance(now),
        }
    }

    /// Completes the rebalance when every member has joined, or at the deadline without
    /// those that did not.
    fn try_complete_join(&mut self, now: Instant) {
        if self.state != State::PreparingRebalance {
            return;
        }
        if !self.members.values().all(|m| m.joined) {
            if now < self.rebalance_deadline {
                return;
            }
            self.members.retain(|_, m| m.joined);
        }
        self.generation += 1;
        if self.members.is_empty() {
            self.state = State::Empty;
            self.completed = None;
            self.changed.notify_waiters();
            return;
        }
        // The previous leader stays leader if it is still here, as in Kafka.
        let leader = match self.leader() {
            Some(leader) if self.members.contains_key(leader) => leader.to_string(),
            _ => self.members.keys().next().cloned().unwrap_or_default(),
        };
        // The leader's most preferred protocol that every member supports (a join is refused
        // unless there is one).
        let protocol = self.members[&leader]
            .protocols
            .iter()
            .map(|(name, _)| name)
            .find(|name| self.members.values().all(|m| m.protocols.iter().any(|(n, _)| n == *name)))
            .cloned()
            .unwrap_or_default();
        let members = self
            .members
            .iter()
            .map(|(id, m)| {
                let metadata = m.protocols.iter().find(|(n, _)| *n == protocol).map(|(_, md)| md.clone());
                (id.clone(), metadata.unwrap_or_default())
            })
            .collect();
        self.completed = Some(Arc::new(Generation { generation: self.generation, protocol, leader, members }));
        self.state = State::CompletingRebalance;
        self.changed.notify_waiters();
    }
}

/// Every group's membership.
#[derive(Default)]
pub(crate) struct Membership {
    groups: Mutex<HashMap<String, Group>>,
    next_member: AtomicU64,
}

impl Membership {
    fn with_group<T>(&self, group: &str, f: impl FnOnce(&mut Group) -> T) -> Option<T> {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.get_mut(group).map(f)
    }

    /// JoinGroup: adds or refreshes the member and waits for the rebalance to complete.
    pub async fn join(&self, request: JoinRequest) -> Result<Joined, (MembershipError, String)> {
        let JoinRequest { group: group_id, member_id, client_id, protocol_type, protocols, .. } = request;
        if group_id.is_empty() {
            return Err((MembershipError::InvalidGroupId, member_id));
        }
        let (member_id, target, changed) = {
            let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
            let group = groups.entry(group_id.clone()).or_insert_with(Group::new);
            let now = Instant::now();
            group.expire(now);
            let member_id = if member_id.is_empty() {
                let n = self.next_member.fetch_add(1, Ordering::Relaxed);
                format!("{}-{n}", if client_id.is_empty() { "member" } else { &client_id })
            } else if group.members.contains_key(&member_id) {
                member_id
            } else {
                return Err((MembershipError::UnknownMember, member_id));
            };
            let others_agree = group
                .members
                .iter()
                .filter(|(id, _)| **id != member_id)
                .all(|(_, m)| m.protocols.iter().any(|(name, _)| protocols.iter().any(|(n, _)| n == name)));
            let same_type = group.members.is_empty() || group.protocol_type == protocol_type;
            if protocols.is_empty() || !others_agree || !same_type {
                return Err((MembershipError::InconsistentProtocol, member_id));
            }
            if group.state != State::PreparingRebalance {
                group.prepare_rebalance(now);
            }
            group.protocol_type = protocol_type;
            let session_timeout =
                if request.session_timeout.is_zero() { DEFAULT_SESSION_TIMEOUT } else { request.session_timeout };
            group.members.insert(
                member_id.clone(),
                Member {
                    protocols,
                    session_timeout,
                    rebalance_timeout: request.rebalance_timeout.max(session_timeout),
                    last_seen: now,
                    joined: true,
                    assignment: Bytes::new(),
                },
            );
            let longest = group.members.values().map(|m| m.rebalance_timeout).max().unwrap_or_default();
            group.rebalance_deadline = group.rebalance_deadline.max(now + longest);
            let target = group.generation + 1;
            group.try_complete_join(now);
            (member_id, target, group.changed.clone())
        };
        loop {
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let outcome = self.with_group(&group_id, |group| {
                let now = Instant::now();
                group.expire(now);
                group.try_complete_join(now);
                match &group.completed {
                    Some(done) if done.generation >= target => {
                        if !done.members.iter().any(|(id, _)| *id == member_id) {
                            return Some(Err(MembershipError::UnknownMember));
                        }
                        let members = if done.leader == member_id { done.members.clone() } else { Vec::new() };
                        Some(Ok(Joined {
                            generation: done.generation,
                            protocol: done.protocol.clone(),
                            leader: done.leader.clone(),
                            member_id: member_id.clone(),
                            members,
                        }))
                    }
                    _ if !group.members.contains_key(&member_id) => Some(Err(MembershipError::UnknownMember)),
                    _ => None,
                }
            });
            match outcome {
                None => return Err((MembershipError::UnknownMember, member_id)),
                Some(Some(result)) => return result.map_err(|e| (e, member_id)),
                Some(None) => {
                    let deadline = self.with_group(&group_id, |g| g.rebalance_deadline).unwrap_or_else(Instant::now);
                    let _ = tokio::time::timeout_at(deadline.min(Instant::now() + EXPIRY_CHECK), notified).await;
                }
            }
        }
    }

    /// SyncGroup: the leader hands over the assignment; every member gets its part once the
    /// leader has.
    pub async fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<Bytes, MembershipError> {
        let changed = self
            .with_group(group_id, |group| {
                let now = Instant::now();
                group.expire(now);
                let member = group.members.get_mut(member_id).ok_or(MembershipError::UnknownMember)?;
                member.last_seen = now;
                if generation != group.generation {
                    return Err(MembershipError::IllegalGeneration);
                }
                if group.state == State::CompletingRebalance && group.leader() == Some(member_id) {
                    for (id, assignment) in assignments {
                        if let Some(member) = group.members.get_mut(&id) {
                            member.assignment = assignment;
                        }
                    }
                    group.state = State::Stable;
                    group.changed.notify_waiters();
                }
                Ok(group.changed.clone())
            })
            .ok_or(MembershipError::UnknownMember)??;
        loop {
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let outcome = self
                .with_group(group_id, |group| {
                    group.expire(Instant::now());
                    let member = group.members.get(member_id).ok_or(MembershipError::UnknownMember)?;
                    match group.state {
                        _ if group.generation != generation => Err(MembershipError::RebalanceInProgress),
                        State::Stable => Ok(Some(member.assignment.clone())),
                        State::CompletingRebalance => Ok(None),
                        _ => Err(MembershipError::RebalanceInProgress),
                    }
                })
                .ok_or(MembershipError::UnknownMember)??;
            if let Some(assignment) = outcome {
                return Ok(assignment);
            }
            let _ = tokio::time::timeout(EXPIRY_CHECK, notified).await;
        }
    }

    /// Heartbeat: keeps the member's session alive and tells it whether to rejoin.
    pub fn heartbeat(&self, group_id: &str, generation: i32, member_id: &str) -> Result<(), MembershipError> {
        self.with_group(group_id, |group| {
            let now = Instant::now();
            group.expire(now);
            let member = group.members.get_mut(member_id).ok_or(MembershipError::UnknownMember)?;
            member.last_seen = now;
            if group.state == State::PreparingRebalance {
                Err(MembershipError::RebalanceInProgress)
            } else if generation != group.generation {
                Err(MembershipError::IllegalGeneration)
            } else {
                Ok(())
            }
        })
        .unwrap_or(Err(MembershipError::UnknownMember))
    }

    /// LeaveGroup: removes the member; the others rebalance without it.
    pub fn leave(&self, group_id: &str, member_id: &str) -> Result<(), MembershipError> {
        self.with_group(group_id, |group| {
            if group.members.remove(member_id).is_none() {
                return Err(MembershipError::UnknownMember);
            }
            group.membership_changed(Instant::now());
            Ok(())
        })
        .unwrap_or(Err(MembershipError::UnknownMember))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(group: &str, member_id: &str) -> JoinRequest {
        JoinRequest {
            group: group.into(),
            member_id: member_id.into(),
            client_id: "test".into(),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn a_lone_member_joins_syncs_and_heartbeats() {
        let membership = Membership::default();
        let joined = membership.join(join("g", "")).await.expect("joined");
        assert_eq!((joined.generation, joined.leader.as_str()), (1, joined.member_id.as_str()));
        assert_eq!(joined.members.len(), 1);
        let assignment = vec![(joined.member_id.clone(), Bytes::from_static(b"all"))];
        let mine = membership.sync("g", 1, &joined.member_id, assignment).await.expect("synced");
        assert_eq!(mine, Bytes::from_static(b"all"));
        assert_eq!(membership.heartbeat("g", 1, &joined.member_id), Ok(()));
        assert_eq!(membership.heartbeat("g", 0, &joined.member_id), Err(MembershipError::IllegalGeneration));
        assert_eq!(membership.heartbeat("g", 1, "stranger"), Err(MembershipError::UnknownMember));
        assert_eq!(membership.leave("g", &joined.member_id), Ok(()));
        assert_eq!(membership.heartbeat("g", 1, &joined.member_id), Err(MembershipError::UnknownMember));
    }

    #[tokio::test]
    async fn a_second_member_makes_the_first_rejoin_and_both_get_assignments() {
        let membership = Arc::new(Membership::default());
        let first = membership.join(join("g", "")).await.expect("joined");
        membership.sync("g", 1, &first.member_id, vec![]).await.expect("synced");
        // The second join waits for the first member to rejoin, which its heartbeat asks for.
        let second = tokio::spawn({
            let membership = membership.clone();
            async move { membership.join(join("g", "")).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(membership.heartbeat("g", 1, &first.member_id), Err(MembershipError::RebalanceInProgress));
        let first = membership.join(join("g", &first.member_id)).await.expect("rejoined");
        let second = second.await.expect("the task ran").expect("joined");
        assert_eq!((first.generation, second.generation), (2, 2));
        assert_eq!(first.leader, first.member_id, "the leader stays leader");
        assert_eq!(first.members.len(), 2);
        assert!(second.members.is_empty(), "only the leader sees the members");
        let follower = tokio::spawn({
            let membership = membership.clone();
            let id = second.member_id.clone();
            async move { membership.sync("g", 2, &id, vec![]).await }
        });
        let assignments = vec![
            (first.member_id.clone(), Bytes::from_static(b"p0")),
            (second.member_id.clone(), Bytes::from_static(b"p1")),
        ];
        assert_eq!(membership.sync("g", 2, &first.member_id, assignments).await, Ok(Bytes::from_static(b"p0")));
        assert_eq!(follower.await.expect("the task ran"), Ok(Bytes::from_static(b"p1")));
    }

    #[tokio::test]
    async fn a_member_that_does_not_rejoin_is_dropped_at_its_session_timeout() {
        let membership = Membership::default();
        let mut short = join("g", "");
        short.session_timeout = Duration::from_millis(200);
        short.rebalance_timeout = Duration::from_millis(200);
        let first = membership.join(short).await.expect("joined");
        membership.sync("g", 1, &first.member_id, vec![]).await.expect("synced");
        // The first member never heartbeats again; the second join completes without it.
        let started = Instant::now();
        let second = membership.join(join("g", "")).await.expect("joined");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        assert_eq!(second.generation, 2);
        assert_eq!(second.leader, second.member_id);
        assert_eq!(second.members.len(), 1);
    }

    #[tokio::test]
    async fn mismatched_protocols_are_refused() {
        let membership = Membership::default();
        membership.join(join("g", "")).await.expect("joined");
        let mut other = join("g", "");
        other.protocols = vec![("sticky".into(), Bytes::new())];
        assert_eq!(
            membership.join(other).await.map(|_| ()).map_err(|e| e.0),
            Err(MembershipError::InconsistentProtocol)
        );
        let mut empty_group = join("", "");
        empty_group.group = String::new();
        assert_eq!(
            membership.join(empty_group).await.map(|_| ()).map_err(|e| e.0),
            Err(MembershipError::InvalidGroupId)
        );
    }
}
