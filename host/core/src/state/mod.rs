//! Keyed state, kept by the host in a [`backend::StateBackend`] (sled).
//!
//! State belongs to an operator (by `uid`), and within it to a state name, a key and a namespace
//! (a window, say). Every entry is stored under its key group first, so the state of any range of
//! key groups is one contiguous range of the operator's table: what checkpoints snapshot and what
//! rescaling redistributes. A subtask's [`KeyedState`] refuses keys outside its key groups.
//!
//! - [`backend`]: the state-backend trait and its sled implementation.
//! - [`changelog`]: the changes since the last snapshot, which incremental checkpoints write.

pub mod backend;
pub mod changelog;

use std::sync::{Arc, Mutex, MutexGuard};

use crate::keygroup::{KeyGroupRange, key_group};
pub use backend::{Entries, SledBackend, StateBackend, StateTable};
pub use changelog::StateChanges;

/// Why a state operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A key reached a subtask that does not own its key group: it did not come through a `keyBy`.
    #[error(
        "keyed state or timer for key {key:?} (key group {key_group}) used by subtask {subtask}, which owns key groups {range}: \
         keys must arrive through a hash exchange"
    )]
    KeyGroupNotOwned {
        /// The key, shown as text and cut short.
        key: String,
        /// The key group the key hashes to.
        key_group: u16,
        /// The subtask index that used it.
        subtask: u32,
        /// The key groups that subtask owns.
        range: KeyGroupRange,
    },
    /// A state name longer than the storage key's one-byte length allows.
    #[error("state name {0:?} is too long (at most 255 bytes)")]
    NameTooLong(String),
    /// The state backend (sled) failed.
    #[error("state backend: {0}")]
    Backend(String),
    /// A scan (a map state's entries) would return more than its caller can take.
    #[error("the entries read add up to more than {max_bytes} bytes")]
    ScanTooLarge {
        /// The most the caller takes, keys and values together.
        max_bytes: usize,
    },
    /// A key or namespace longer than the storage key's u32 length prefix allows.
    #[error("a state {what} of {len} bytes exceeds the storage key's limit of {max}")]
    TooLong {
        /// Which part of the storage key: "key" or "namespace".
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The longest the prefix can describe.
        max: u32,
    },
}

impl From<sled::Error> for StateError {
    fn from(e: sled::Error) -> Self {
        StateError::Backend(e.to_string())
    }
}

/// The key groups a subtask owns: the check every keyed state access and timer goes through.
#[derive(Clone, Copy, Debug)]
pub struct KeyGroupOwnership {
    /// The job's max parallelism: the number of key groups keys hash into.
    pub max_parallelism: u32,
    /// The key groups the subtask owns.
    pub range: KeyGroupRange,
    /// The subtask's index within its vertex (0-based).
    pub subtask: u32,
}

impl KeyGroupOwnership {
    /// Subtask `index` of `parallelism` with `max_parallelism` key groups.
    pub fn for_subtask(max_parallelism: u32, parallelism: u32, index: u32) -> Self {
        KeyGroupOwnership {
            max_parallelism,
            range: KeyGroupRange::for_subtask(max_parallelism, parallelism, index),
            subtask: index,
        }
    }

    /// The key group of `key`, checked to be this subtask's.
    pub fn check(&self, key: &[u8]) -> Result<u16, StateError> {
        let group = key_group(key, self.max_parallelism);
        if !self.range.contains(group) {
            return Err(StateError::KeyGroupNotOwned {
                key: show_key(key),
                key_group: group,
                subtask: self.subtask,
                range: self.range,
            });
        }
        Ok(group)
    }
}

/// A state entry with its key group: (key group, storage key, value).
pub type KeyGroupEntry = (u16, Vec<u8>, Vec<u8>);

/// The keyed state of one operator subtask.
pub struct KeyedState {
    table: Arc<dyn StateTable>,
    ownership: KeyGroupOwnership,
    /// The changes since the last snapshot, when checkpoints are incremental.
    changes: Option<Mutex<StateChanges>>,
}

/// The big-endian u32 length prefix of a storage key's `what` part.
fn length_prefix(what: &'static str, part: &[u8]) -> Result<[u8; 4], StateError> {
    let len = u32::try_from(part.len()).map_err(|_| StateError::TooLong { what, len: part.len(), max: u32::MAX })?;
    Ok(len.to_be_bytes())
}

/// Shows a key in errors: as text when it is, cut short.
pub(crate) fn show_key(key: &[u8]) -> String {
    let text = String::from_utf8_lossy(&key[..key.len().min(64)]).into_owned();
    if key.len() > 64 { format!("{text}…") } else { text }
}

impl KeyedState {
    /// The state of the subtask with `ownership`, in the operator's `table`.
    pub fn new(table: Arc<dyn StateTable>, ownership: KeyGroupOwnership) -> Self {
        KeyedState { table, ownership, changes: None }
    }

    /// The same state, keeping every change since the last [`Self::take_changes`] (for
    /// incremental checkpoints).
    pub fn tracking_changes(mut self) -> Self {
        self.changes = Some(Mutex::new(StateChanges::default()));
        self
    }

    /// True if the state keeps its changes.
    pub fn tracks_changes(&self) -> bool {
        self.changes.is_some()
    }

    fn changes(&self) -> Option<MutexGuard<'_, StateChanges>> {
        // Only the task's thread writes; a poisoned lock still holds every change made.
        self.changes.as_ref().map(|c| c.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Every change since the last call (at a barrier: constant time), or `None` if the state
    /// does not keep its changes.
    pub fn take_changes(&self) -> Option<StateChanges> {
        self.changes().map(|mut c| c.take())
    }

    /// The bytes of changes held since the last snapshot.
    pub fn changed_bytes(&self) -> usize {
        self.changes().map_or(0, |c| c.bytes())
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.table.put(key, value)?;
        if let Some(mut changes) = self.changes() {
            changes.put(key, value);
        }
        Ok(())
    }

    fn delete(&self, key: &[u8]) -> Result<(), StateError> {
        self.table.delete(key)?;
        if let Some(mut changes) = self.changes() {
            changes.delete(key);
        }
        Ok(())
    }

    /// Loads restored entries of one key group at once, as a batch (they are the snapshot's,
    /// not changes since it).
    pub fn load(&self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<usize, StateError> {
        let owned: Vec<(Vec<u8>, Option<Vec<u8>>)> = entries
            .into_iter()
            .filter(|(k, _)| k.len() >= 2 && self.ownership.range.contains(u16::from_be_bytes([k[0], k[1]])))
            .map(|(k, v)| (k, Some(v)))
            .collect();
        let n = owned.len();
        self.table.write_batch(owned)?;
        Ok(n)
    }

    /// Removes every entry of the subtask's key groups (before a restore loads its own).
    pub fn clear(&self) -> Result<(), StateError> {
        let (start, end) = self.owned_range();
        self.table.delete_range(&start, &end)
    }

    /// The key groups this state belongs to.
    pub fn ownership(&self) -> KeyGroupOwnership {
        self.ownership
    }

    /// The storage keys of the subtask's key groups: `[start, end)`.
    fn owned_range(&self) -> ([u8; 2], Vec<u8>) {
        let start = self.ownership.range.start.to_be_bytes();
        let end = (self.ownership.range.end as u32 + 1).to_be_bytes();
        // Key groups are two bytes; the end bound is the next key group, or past all of them.
        let end = if self.ownership.range.end == u16::MAX { vec![0xff, 0xff, 0xff] } else { end[2..].to_vec() };
        (start, end)
    }

    /// Every entry of the subtask's key groups, with its key group (for a checkpoint).
    pub fn snapshot(&self) -> Result<Vec<KeyGroupEntry>, StateError> {
        let (start, end) = self.owned_range();
        let entries = self.table.scan_range(&start, &end)?;
        Ok(entries.into_iter().map(|(k, v)| (u16::from_be_bytes([k[0], k[1]]), k, v)).collect())
    }

    /// The storage key of (name, key, namespace): key group, then length-prefixed parts, so
    /// that one entry's key is never a prefix of another's.
    fn entry_key(&self, name: &str, key: &[u8], namespace: &[u8], extra: usize) -> Result<Vec<u8>, StateError> {
        let group = self.ownership.check(key)?;
        let name_len = u8::try_from(name.len()).map_err(|_| StateError::NameTooLong(name.to_string()))?;
        let mut out = Vec::with_capacity(2 + 1 + name.len() + 8 + key.len() + namespace.len() + extra);
        out.extend_from_slice(&group.to_be_bytes());
        out.push(name_len);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&length_prefix("key", key)?);
        out.extend_from_slice(key);
        out.extend_from_slice(&length_prefix("namespace", namespace)?);
        out.extend_from_slice(namespace);
        Ok(out)
    }

    /// Flink's `ValueState.value()`: state `name`'s value for `key` in `namespace`, if set.
    pub fn value_get(&self, name: &str, key: &[u8], namespace: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.table.get(&self.entry_key(name, key, namespace, 0)?)
    }

    /// Flink's `ValueState.update()`: sets state `name`'s value for `key` in `namespace`.
    pub fn value_set(&self, name: &str, key: &[u8], namespace: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.put(&self.entry_key(name, key, namespace, 0)?, value)
    }

    /// Flink's `ValueState.clear()`: removes state `name`'s value for `key` in `namespace`.
    pub fn value_clear(&self, name: &str, key: &[u8], namespace: &[u8]) -> Result<(), StateError> {
        self.delete(&self.entry_key(name, key, namespace, 0)?)
    }

    fn map_key(&self, name: &str, key: &[u8], namespace: &[u8], map_key: &[u8]) -> Result<Vec<u8>, StateError> {
        // A map's entries share the prefix of (name, key, namespace) plus a marker byte, so
        // they never collide with a value state of the same name.
        let mut k = self.entry_key(name, key, namespace, 1 + map_key.len())?;
        k.push(b'm');
        k.extend_from_slice(map_key);
        Ok(k)
    }

    /// Flink's `MapState.get()`: the value under `map_key` in map state `name` of `key` in `namespace`.
    pub fn map_get(
        &self,
        name: &str,
        key: &[u8],
        namespace: &[u8],
        map_key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError> {
        self.table.get(&self.map_key(name, key, namespace, map_key)?)
    }

    /// Flink's `MapState.put()`: sets the value under `map_key` in map state `name` of `key` in `namespace`.
    pub fn map_put(
        &self,
        name: &str,
        key: &[u8],
        namespace: &[u8],
        map_key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        self.put(&self.map_key(name, key, namespace, map_key)?, value)
    }

    /// Flink's `MapState.remove()`: removes `map_key` from map state `name` of `key` in `namespace`.
    pub fn map_remove(&self, name: &str, key: &[u8], namespace: &[u8], map_key: &[u8]) -> Result<(), StateError> {
        self.delete(&self.map_key(name, key, namespace, map_key)?)
    }

    /// Flink's `MapState.entries()`: map state `name` of `key` in `namespace`, in map key order.
    pub fn map_entries(
        &self,
        name: &str,
        key: &[u8],
        namespace: &[u8],
        max_bytes: usize,
    ) -> Result<Entries, StateError> {
        let prefix = self.map_key(name, key, namespace, &[])?;
        let entries = self.table.scan_prefix(&prefix, max_bytes)?;
        Ok(entries.into_iter().map(|(k, v)| (k[prefix.len()..].to_vec(), v)).collect())
    }

    /// Flink's `MapState.clear()`: removes every entry of map state `name` of `key` in `namespace`.
    pub fn map_clear(&self, name: &str, key: &[u8], namespace: &[u8]) -> Result<(), StateError> {
        let removed = self.table.delete_prefix(&self.map_key(name, key, namespace, &[])?)?;
        if let Some(mut changes) = self.changes() {
            for key in removed {
                changes.delete(&key);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_scoped_and_confined_to_owned_key_groups() {
        let backend = SledBackend::temporary().unwrap();
        let table = backend.open_table("job", "op").unwrap();
        // "/help" is key group 111: subtask 1 of 2 owns it, subtask 0 does not.
        let owner = KeyedState::new(table.clone(), KeyGroupOwnership::for_subtask(128, 2, 1));
        let other = KeyedState::new(table, KeyGroupOwnership::for_subtask(128, 2, 0));

        owner.value_set("count", b"/help", b"w1", b"7").unwrap();
        assert_eq!(owner.value_get("count", b"/help", b"w1").unwrap(), Some(b"7".to_vec()));
        assert_eq!(owner.value_get("count", b"/help", b"w2").unwrap(), None);
        assert_eq!(owner.value_get("other", b"/help", b"w1").unwrap(), None);
        let err = other.value_get("count", b"/help", b"w1").unwrap_err();
        assert!(err.to_string().contains("key group 111"), "{err}");

        owner.map_put("m", b"/help", b"", b"b", b"2").unwrap();
        owner.map_put("m", b"/help", b"", b"a", b"1").unwrap();
        owner.map_put("m", b"/help", b"x", b"a", b"other namespace").unwrap();
        assert_eq!(
            owner.map_entries("m", b"/help", b"", 1 << 20).unwrap(),
            vec![(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), b"2".to_vec())]
        );
        // A map bigger than its reader takes is refused, not read whole.
        let err = owner.map_entries("m", b"/help", b"", 30).unwrap_err();
        assert!(matches!(err, StateError::ScanTooLarge { max_bytes: 30 }), "{err}");
        owner.map_remove("m", b"/help", b"", b"a").unwrap();
        assert_eq!(owner.map_get("m", b"/help", b"", b"a").unwrap(), None);
        owner.map_clear("m", b"/help", b"").unwrap();
        assert!(owner.map_entries("m", b"/help", b"", 1 << 20).unwrap().is_empty());
        assert_eq!(owner.map_entries("m", b"/help", b"x", 1 << 20).unwrap().len(), 1);
        owner.value_clear("count", b"/help", b"w1").unwrap();
        assert_eq!(owner.value_get("count", b"/help", b"w1").unwrap(), None);
    }

    #[test]
    fn changes_are_kept_only_when_tracked() {
        let backend = SledBackend::temporary().unwrap();
        let all = KeyGroupOwnership::for_subtask(128, 1, 0);
        let plain = KeyedState::new(backend.open_table("job", "a").unwrap(), all);
        plain.value_set("v", b"k", b"", b"1").unwrap();
        assert!(plain.take_changes().is_none());
        let tracked = KeyedState::new(backend.open_table("job", "b").unwrap(), all).tracking_changes();
        tracked.value_set("v", b"k", b"", b"1").unwrap();
        tracked.map_put("m", b"k", b"", b"x", b"2").unwrap();
        tracked.map_clear("m", b"k", b"").unwrap();
        let changes = tracked.take_changes().unwrap().into_sorted(all.range);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes.iter().filter(|(_, v)| v.is_none()).count(), 1, "the map entry is removed");
        assert!(tracked.take_changes().unwrap().is_empty());
    }

    #[test]
    fn snapshots_restore_by_key_group() {
        let backend = SledBackend::temporary().unwrap();
        let old = KeyedState::new(backend.open_table("job", "op").unwrap(), KeyGroupOwnership::for_subtask(128, 1, 0));
        for page in ["/help", "/index", "/shop"] {
            old.value_set("count", page.as_bytes(), b"w", page.as_bytes()).unwrap();
        }
        let snapshot = old.snapshot().unwrap();
        assert_eq!(snapshot.iter().map(|(kg, _, _)| *kg).collect::<Vec<_>>(), vec![16, 73, 111]);
        // Rescaled to 2: subtask 1 owns 64..=127, so /shop (73) and /help (111).
        let new = KeyedState::new(backend.open_table("job2", "op").unwrap(), KeyGroupOwnership::for_subtask(128, 2, 1));
        new.value_set("stale", b"/help", b"", b"x").unwrap();
        new.clear().unwrap();
        let restored = new.load(snapshot.into_iter().map(|(_, k, v)| (k, v)).collect()).unwrap();
        assert_eq!(restored, 2);
        assert_eq!(new.value_get("count", b"/help", b"w").unwrap(), Some(b"/help".to_vec()));
        assert_eq!(new.value_get("stale", b"/help", b"").unwrap(), None);
    }
}
