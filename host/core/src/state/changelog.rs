//! The changes made to a subtask's keyed state since its last snapshot (the role of Flink's
//! changelog state backend's in-memory log, and of RocksDB's new SST files in an incremental
//! checkpoint).
//!
//! Every write to a [`super::KeyedState`] that tracks changes also lands here, with its value:
//! the last value written to a storage key, or `None` if the key was removed. At a barrier the
//! task takes the whole set out in constant time ([`StateChanges::take`]) and hands it to a
//! thread that writes it; the set then holds only what changes after the barrier. So what a
//! checkpoint captures on the task's thread does not depend on the size of the state, and what it
//! writes is proportional to what changed.

use std::collections::HashMap;

use crate::keygroup::KeyGroupRange;

/// Storage keys changed since the last snapshot, each with its latest value (`None`: removed).
#[derive(Debug, Default)]
pub struct StateChanges {
    entries: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Keys and values held, in bytes.
    bytes: usize,
}

impl StateChanges {
    /// Records that `key` now holds `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.bytes += value.len();
        match self.entries.get_mut(key) {
            Some(slot) => {
                self.bytes -= slot.as_ref().map_or(0, Vec::len);
                match slot {
                    Some(old) => {
                        old.clear();
                        old.extend_from_slice(value);
                    }
                    None => *slot = Some(value.to_vec()),
                }
            }
            None => {
                self.bytes += key.len();
                self.entries.insert(key.to_vec(), Some(value.to_vec()));
            }
        }
    }

    /// Records that `key` was removed.
    pub fn delete(&mut self, key: &[u8]) {
        match self.entries.get_mut(key) {
            Some(slot) => {
                self.bytes -= slot.as_ref().map_or(0, Vec::len);
                *slot = None;
            }
            None => {
                self.bytes += key.len();
                self.entries.insert(key.to_vec(), None);
            }
        }
    }

    /// The number of keys changed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nothing changed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes of keys and values held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes every change out, leaving the set empty (at a barrier: constant time).
    pub fn take(&mut self) -> StateChanges {
        std::mem::take(self)
    }

    /// Adds `newer` changes over these: where both changed a key, `newer`'s value stands.
    pub fn extend(&mut self, newer: StateChanges) {
        if self.entries.is_empty() {
            *self = newer;
            return;
        }
        for (key, value) in newer.entries {
            match value {
                Some(v) => self.put(&key, &v),
                None => self.delete(&key),
            }
        }
    }

    /// The changes sorted by storage key, so grouped by key group (its first two bytes), keeping
    /// those of key groups in `range`.
    pub fn into_sorted(self, range: KeyGroupRange) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut sorted: Vec<_> = self
            .entries
            .into_iter()
            .filter(|(k, _)| k.len() >= 2 && range.contains(u16::from_be_bytes([k[0], k[1]])))
            .collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        sorted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_change_to_a_key_stands_and_bytes_follow() {
        let mut changes = StateChanges::default();
        changes.put(b"\0\x01a", b"1");
        changes.put(b"\0\x01a", b"22");
        changes.delete(b"\0\x02b");
        assert_eq!(changes.len(), 2);
        assert_eq!(changes.bytes(), 3 + 2 + 3);
        let mut older = changes.take();
        assert!(changes.is_empty());
        changes.delete(b"\0\x01a");
        changes.put(b"\0\x02b", b"x");
        older.extend(changes);
        let all = KeyGroupRange { start: 0, end: 127 };
        assert_eq!(
            older.into_sorted(all),
            vec![(b"\0\x01a".to_vec(), None), (b"\0\x02b".to_vec(), Some(b"x".to_vec()))]
        );
    }
}
