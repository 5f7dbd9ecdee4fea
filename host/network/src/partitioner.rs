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
    },
    /// Round-robin, record by record.
    Rebalance {
        /// The channel the next record goes to.
        next: usize,
    },
}

impl Partitioner {
    /// The channel (downstream subtask) of a record with `key`, among `channels`.
    #[inline]
    pub fn select(&mut self, key: &[u8], channels: usize) -> usize {
        match self {
            Partitioner::Forward => 0,
            Partitioner::Hash { max_parallelism } => {
                // `channels` is a vertex's parallelism, itself a u32.
                let parallelism = u32::try_from(channels).unwrap_or(u32::MAX);
                subtask_for_key_group(key_group(key, *max_parallelism), *max_parallelism, parallelism) as usize
            }
            Partitioner::Rebalance { next } => {
                let chosen = *next;
                *next = (*next + 1) % channels;
                chosen
            }
        }
    }
}
