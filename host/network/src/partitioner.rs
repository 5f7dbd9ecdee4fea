//! Which downstream subtask a record goes to (Flink's `StreamPartitioner`s).

use weir_core::keygroup::{key_group, subtask_for_key_group};

/// How an edge distributes records over the downstream subtasks.
#[derive(Clone, Debug)]
pub enum Partitioner {
    /// To the one downstream subtask with the sender's index.
    Forward,
    /// To the subtask owning the record key's key group.
    Hash {
        /// The job's max parallelism: the number of key groups keys hash into.
        max_parallelism: u32,
        /// The channels of the keys routed last.
        recent: RecentKeys,
    },
    /// Round-robin, record by record.
    Rebalance {
        /// The channel the next record goes to.
        next: usize,
    },
}

impl Partitioner {
    /// Routes by key group over `max_parallelism` key groups.
    pub fn hash(max_parallelism: u32) -> Self {
        Partitioner::Hash { max_parallelism, recent: RecentKeys::default() }
    }

    /// The channel (downstream subtask) of a record with `key`, among `channels`.
    #[inline]
    pub fn select(&mut self, key: &[u8], channels: usize) -> usize {
        match self {
            Partitioner::Forward => 0,
            Partitioner::Hash { max_parallelism, recent } => recent.channel(key, channels, || {
                // `channels` is a vertex's parallelism, itself a u32.
                let parallelism = u32::try_from(channels).unwrap_or(u32::MAX);
                subtask_for_key_group(key_group(key, *max_parallelism), *max_parallelism, parallelism) as usize
            }),
            Partitioner::Rebalance { next } => {
                let chosen = *next;
                *next = (*next + 1) % channels;
                chosen
            }
        }
    }
}

/// The channels of the keys a hash partitioner routed last. A key's channel (Java hash, murmur,
/// key group, two divisions) costs more than comparing two short keys, and records tend to
/// repeat a key or cycle over a few: the last key and the one stored after it are tried,
/// nothing more, so a stream of ever-new keys pays two comparisons and a copy into a reused
/// buffer.
#[derive(Clone, Debug, Default)]
pub struct RecentKeys {
    entries: Vec<(Vec<u8>, usize)>,
    last: usize,
    /// The channel count the entries were computed for.
    channels: usize,
}

impl RecentKeys {
    const CAPACITY: usize = 8;

    #[inline]
    fn channel(&mut self, key: &[u8], channels: usize, compute: impl FnOnce() -> usize) -> usize {
        if channels != self.channels {
            self.entries.clear();
            self.channels = channels;
        }
        let n = self.entries.len();
        let next = if self.last + 1 < n { self.last + 1 } else { 0 };
        for at in [next, self.last] {
            if let Some((k, channel)) = self.entries.get(at)
                && k.as_slice() == key
            {
                self.last = at;
                return *channel;
            }
        }
        let channel = compute();
        let slot = if n < Self::CAPACITY {
            self.entries.push((Vec::new(), 0));
            n
        } else {
            next
        };
        let entry = &mut self.entries[slot];
        entry.0.clear();
        entry.0.extend_from_slice(key);
        entry.1 = channel;
        self.last = slot;
        channel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_keys_route_as_the_key_groups_do() {
        let mut partitioner = Partitioner::hash(128);
        // Cycles of 6 and 12 keys (more than remembered), repeats, ever-new keys, and another
        // channel count.
        let mut keys: Vec<String> = Vec::new();
        for round in 0..50 {
            keys.extend((0..6).map(|k| format!("/page{k}")));
            keys.extend((0..12).map(|k| format!("k{k}")));
            keys.extend(std::iter::repeat_n(format!("same{round}"), 3));
            keys.extend((0..5).map(|k| format!("new-{round}-{k}")));
        }
        for channels in [3u32, 2] {
            for key in &keys {
                let expected = subtask_for_key_group(key_group(key.as_bytes(), 128), 128, channels) as usize;
                assert_eq!(partitioner.select(key.as_bytes(), channels as usize), expected, "{key}");
            }
        }
        let Partitioner::Hash { recent, .. } = &partitioner else { unreachable!() };
        assert!(recent.entries.len() <= RecentKeys::CAPACITY);
    }
}
