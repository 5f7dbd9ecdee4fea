//! Consumer groups' committed offsets, per group, topic and partition, in memory.
//!
//! The broker is its own group coordinator. It keeps what a consumer commits so that the
//! consumer (or a successor with the same `group.id`) can read it back. Commits are not checked
//! against group membership (see `membership`): a consumer that assigns its partitions itself,
//! as Weir's do, commits outside any generation.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// One committed position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// One group's positions by (topic, partition); ordered, so that "all of a group's offsets"
/// come out grouped by topic.
type GroupOffsets = BTreeMap<(String, i32), Committed>;

/// Committed offsets of every group.
#[derive(Default)]
pub(crate) struct Groups {
    committed: Mutex<HashMap<String, GroupOffsets>>,
}

impl Groups {
    /// Records `group`'s position in `topic`/`partition`.
    pub fn commit(&self, group: &str, topic: &str, partition: i32, committed: Committed) {
        let mut groups = self.committed.lock().unwrap_or_else(|e| e.into_inner());
        groups.entry(group.to_string()).or_default().insert((topic.to_string(), partition), committed);
    }

    /// `group`'s position in `topic`/`partition`, if it committed one.
    pub fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<Committed> {
        let groups = self.committed.lock().unwrap_or_else(|e| e.into_inner());
        groups.get(group).and_then(|g| g.get(&(topic.to_string(), partition))).cloned()
    }

    /// Every position `group` committed, ordered by topic and partition.
    pub fn all(&self, group: &str) -> Vec<(String, i32, Committed)> {
        let groups = self.committed.lock().unwrap_or_else(|e| e.into_inner());
        groups.get(group).map(|g| g.iter().map(|((t, p), c)| (t.clone(), *p, c.clone())).collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_kept_per_group() {
        let groups = Groups::default();
        let at = |offset| Committed { offset, leader_epoch: -1, metadata: None };
        groups.commit("a", "input", 1, at(10));
        groups.commit("a", "input", 0, at(5));
        groups.commit("a", "input", 1, at(12));
        groups.commit("b", "input", 0, at(1));
        assert_eq!(groups.committed("a", "input", 1), Some(at(12)));
        assert_eq!(groups.committed("a", "output", 0), None);
        let all: Vec<_> = groups.all("a").into_iter().map(|(t, p, c)| (t, p, c.offset)).collect();
        assert_eq!(all, [("input".to_string(), 0, 5), ("input".to_string(), 1, 12)]);
        assert!(groups.all("c").is_empty());
    }
}
