//! Key groups, exactly as Flink computes them (`KeyGroupRangeAssignment`, `MathUtils`), so
//! that keyed state can be snapshotted and redistributed per key group and so that a key lands
//! on the same subtask as in Flink.
//!
//! A key is hashed with Java's `String.hashCode` (keys are the bytes of a UTF-8 string; other
//! bytes hash like Java's `Arrays.hashCode(byte[])`), that hash is mixed with Flink's 32-bit
//! murmur finaliser, and the key group is the result modulo the maximum parallelism. Subtask
//! `i` of `p` owns a contiguous range of key groups.

pub use weir_keygroup::{java_hash, key_group, murmur_hash, subtask_for_key_group};

/// A contiguous, inclusive range of key groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyGroupRange {
    /// The first key group of the range.
    pub start: u16,
    /// The last key group of the range (inclusive).
    pub end: u16,
}

impl KeyGroupRange {
    /// The key groups subtask `index` of `parallelism` owns.
    pub fn for_subtask(max_parallelism: u32, parallelism: u32, index: u32) -> Self {
        let (start, end) = weir_keygroup::key_group_range(max_parallelism, parallelism, index);
        KeyGroupRange { start, end }
    }

    /// Whether `key_group` lies in the range.
    pub fn contains(&self, key_group: u16) -> bool {
        (self.start..=self.end).contains(&key_group)
    }
}

impl std::fmt::Display for KeyGroupRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..={}", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_match_the_reference_table() {
        // (page, String.hashCode, key group at M=128, subtask at p=1/2/3/4)
        let table = [
            ("/help", 46604272, 111, [0, 1, 2, 3]),
            ("/index", 1445916163, 16, [0, 0, 0, 0]),
            ("/shop", 46934949, 73, [0, 1, 1, 2]),
            ("/jobs", 46673157, 15, [0, 0, 0, 0]),
            ("/about", 1438181566, 61, [0, 0, 1, 1]),
            ("/news", 46783362, 38, [0, 0, 0, 1]),
        ];
        for (page, hash, group, subtasks) in table {
            assert_eq!(java_hash(page.as_bytes()), hash, "{page}");
            assert_eq!(key_group(page.as_bytes(), 128), group, "{page}");
            for (p, expected) in (1..=4).zip(subtasks) {
                assert_eq!(subtask_for_key_group(group, 128, p), expected, "{page} at p={p}");
                assert!(KeyGroupRange::for_subtask(128, p, expected).contains(group));
            }
        }
        assert_eq!(key_group(b"flink", 128), 98);
    }

    #[test]
    fn ranges_cover_all_groups() {
        assert_eq!(KeyGroupRange::for_subtask(128, 2, 0), KeyGroupRange { start: 0, end: 63 });
        assert_eq!(KeyGroupRange::for_subtask(128, 2, 1), KeyGroupRange { start: 64, end: 127 });
        assert_eq!(KeyGroupRange::for_subtask(128, 3, 1), KeyGroupRange { start: 43, end: 85 });
        for p in 1..=128 {
            let mut next = 0;
            for i in 0..p {
                let r = KeyGroupRange::for_subtask(128, p, i);
                assert_eq!(r.start, next);
                for g in r.start..=r.end {
                    assert_eq!(subtask_for_key_group(g, 128, p), i);
                }
                next = r.end + 1;
            }
            assert_eq!(next, 128);
        }
    }

    #[test]
    fn non_ascii_keys_hash_like_java() {
        // "é".hashCode() == 233, "😀".hashCode() == 1772897 (two UTF-16 units).
        assert_eq!(java_hash("é".as_bytes()), 233);
        assert_eq!(java_hash("😀".as_bytes()), 0xd83d * 31 + 0xde00);
    }
}
