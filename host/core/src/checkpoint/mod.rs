//! Checkpoints and savepoints: consistent snapshots of a running job (Flink's asynchronous
//! barrier snapshotting, aligned).
//!
//! The JobManager's coordinator triggers checkpoint `n` at the sources, which record their
//! positions (Kafka offsets) and send a [`Barrier`] downstream ahead of later records. A task
//! with several input channels aligns: it stops reading a channel once that channel's barrier has
//! arrived, until the barrier has arrived on all of them; then it snapshots its state and
//! forwards the barrier. Every subtask acknowledges with a [`SubtaskSnapshot`]; when all have,
//! the coordinator writes the checkpoint's `_metadata` and the checkpoint is complete.
//!
//! State files are written by the tasks straight into the checkpoint's directory (a path shared
//! by the JobManager and the TaskManagers, as Flink's checkpoint storage is: a local directory or
//! an object store's prefix such as `s3://bucket/path`, see [`crate::filesystem`]), so a
//! checkpoint never depends on the state backend's own durability.
//!
//! - [`storage`]: the on-disk format: keyed state files per subtask, indexed by key group, and
//!   `_metadata`; loading and validating savepoints (state files confined to the savepoint's
//!   directory, offsets, lengths and sizes checked before anything is read).
//! - [`incremental`]: incremental checkpoints: a subtask's state as a chain of shared files,
//!   merged in the background; the sweep of shared files no checkpoint names.
//! - [`align`]: barrier alignment over a task's input channels.

pub mod align;
pub mod incremental;
pub mod storage;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::keygroup::KeyGroupRange;

/// What a barrier asks of the tasks it passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BarrierKind {
    /// A periodic checkpoint.
    Checkpoint,
    /// A savepoint; the job goes on.
    Savepoint,
    /// A savepoint after which the job finishes (stop-with-savepoint). With `drain`, the
    /// sources first emit the maximum watermark so every window fires.
    Stop {
        /// Flink's `--drain`: sources first emit the maximum watermark, so every window fires.
        drain: bool,
    },
    /// A checkpoint at which the tasks of a hot-swap upgrade replace their guest code: records
    /// before it meet the old code, records after it the new code (see `task::upgrade`).
    Upgrade,
}

impl BarrierKind {
    /// Flink's `checkpoint_type` name.
    pub fn flink_name(&self) -> &'static str {
        match self {
            BarrierKind::Checkpoint | BarrierKind::Upgrade => "CHECKPOINT",
            BarrierKind::Savepoint => "SAVEPOINT",
            BarrierKind::Stop { .. } => "SYNC_SAVEPOINT",
        }
    }

    /// Whether the barrier takes a savepoint (plain or stop-with-savepoint) rather than a checkpoint.
    pub fn is_savepoint(&self) -> bool {
        !matches!(self, BarrierKind::Checkpoint | BarrierKind::Upgrade)
    }
}

/// How a snapshot's keyed state is written (Flink's `SavepointFormatType`, and its checkpoint
/// types `FULL` and `INCREMENTAL`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotFormat {
    /// One full file per keyed subtask: a canonical savepoint (self-contained, readable by every
    /// Weir), or a `FULL` checkpoint (the subtask's chain merged into one shared file).
    #[default]
    Canonical,
    /// The subtask's incremental chain: a checkpoint names it and adds the changes since the
    /// last one; a native savepoint copies it, self-contained as well.
    Native,
}

/// A checkpoint barrier, and where the checkpoint's files go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Barrier {
    /// The checkpoint's id: 1, 2, … within the job, savepoints included.
    pub id: u64,
    /// Whether it is a checkpoint, a savepoint, a stop-with-savepoint or an upgrade.
    pub kind: BarrierKind,
    /// The checkpoint's directory.
    pub location: Arc<str>,
    /// How the keyed state is written: incremental or full.
    pub format: SnapshotFormat,
}

/// Where a subtask's keyed state is in a checkpoint: one full file with a section per key
/// group (a canonical savepoint, and every checkpoint before incremental ones), or a chain of
/// files ([`incremental`]), or both (the one file first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedStateHandle {
    /// The full file's name inside the checkpoint's directory: a plain file name, no path
    /// ([`storage::load`] refuses anything else); empty if there is none.
    #[serde(default)]
    pub file: String,
    /// The key groups the subtask owned.
    pub range: Option<KeyGroupRange>,
    /// Each key group's section of `file`: (key group, offset, length).
    #[serde(default)]
    pub sections: Vec<(u16, u64, u64)>,
    /// The chain of files after `file`, applied in order (incremental checkpoints, native
    /// savepoints).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<incremental::StateFile>,
}

impl KeyedStateHandle {
    /// Whether it names a full file (an empty name with sections names one, wrongly).
    pub fn has_file(&self) -> bool {
        !self.file.is_empty() || !self.sections.is_empty()
    }

    /// The handle's files located for a checkpoint in `dir`, in the order they apply: `None`
    /// if a path is not allowed (see [`incremental::StateFile::resolve`]).
    pub fn layers(&self, dir: &Path, allow_shared: bool) -> Option<Vec<incremental::Layer>> {
        let mut layers = Vec::with_capacity(1 + self.files.len());
        if self.has_file() {
            if !storage::is_plain_file_name(&self.file) {
                return None;
            }
            let size = self.sections.iter().map(|(_, o, l)| o.saturating_add(*l)).max().unwrap_or(0);
            layers.push(incremental::Layer {
                path: dir.join(&self.file),
                delta: false,
                sections: self.sections.clone(),
                size,
            });
        }
        for file in &self.files {
            layers.push(incremental::Layer {
                path: file.resolve(dir, allow_shared)?,
                delta: file.delta,
                sections: file.sections.clone(),
                size: file.size,
            });
        }
        Some(layers)
    }
}

/// What a Kafka sink writer keeps for exactly-once output (see `connector::kafka::sink`).
///
/// A checkpoint written by Weir before write-ahead sinks has only `writer`, `sequence` and
/// `offsets`; the other fields then take their defaults, and the writer treats it as the old
/// deduplicating writer's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkState {
    /// The writer's identity in its records' headers.
    pub writer: String,
    /// The sequence number of the last record the writer assigned before the checkpoint.
    pub sequence: u64,
    /// Per output partition, where a restored writer starts looking for what it already
    /// published: at or before the first record it may have published after the checkpoint.
    pub offsets: Vec<(i32, i64)>,
    /// The records held for epochs whose checkpoints had not been known complete when the
    /// barrier passed: a restored writer publishes them (they are in a completed checkpoint).
    #[serde(default)]
    pub held: Option<HeldRecords>,
    /// Records published by the job's writers of this subtask up to the checkpoint, over
    /// every attempt (a restored writer counts on from here).
    #[serde(default)]
    pub published: u64,
    /// Records found already published and so not written again, over every attempt.
    #[serde(default)]
    pub skipped: u64,
}

/// A write-ahead sink's held records in a checkpoint: one file, a section per epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldRecords {
    /// The file's name inside the checkpoint's directory (a plain file name, as
    /// [`KeyedStateHandle::file`]).
    pub file: String,
    /// The epochs, oldest first.
    pub epochs: Vec<HeldEpoch>,
}

/// The records a sink received between two barriers, fixed with their identities.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldEpoch {
    /// The checkpoint whose barrier closed the epoch: its records are published when it (or a
    /// later checkpoint) completes.
    pub checkpoint: u64,
    /// The identity the epoch's records carry in their headers.
    pub writer: String,
    /// The sequence number of the epoch's first record; the others follow without gaps.
    pub first_sequence: u64,
    /// How many records the epoch holds.
    pub records: u64,
    /// Where the epoch's section starts in the file.
    pub offset: u64,
    /// The section's length in bytes.
    pub length: u64,
}

/// What one subtask snapshotted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtaskSnapshot {
    /// The subtask's index within its vertex (0-based).
    pub subtask: u32,
    /// Where its keyed state (state entries and timers) was written, if it has any.
    pub keyed: Option<KeyedStateHandle>,
    /// Source splits and their positions (Kafka partition → next offset; datagen → next index).
    pub source: Option<Vec<(u32, i64)>>,
    /// The exactly-once Kafka sink writer's state, if the subtask is such a sink.
    pub sink: Option<SinkState>,
    /// Bytes written for this snapshot (an incremental checkpoint's new files only).
    pub size: u64,
    /// Bytes of the whole state it names (its chain's files); 0 from Weir before incremental
    /// checkpoints, whose `size` is the whole state.
    #[serde(default)]
    pub state_size: u64,
    /// Milliseconds the task's thread spent on the snapshot (the barrier held its input).
    #[serde(default)]
    pub sync_ms: u64,
    /// Milliseconds the snapshot's files took to write, off the task's thread.
    #[serde(default)]
    pub async_ms: u64,
}

impl SubtaskSnapshot {
    /// True if there is nothing to restore from it.
    pub fn is_empty(&self) -> bool {
        self.keyed.as_ref().is_none_or(|k| k.sections.is_empty() && k.files.is_empty())
            && self.source.is_none()
            && self.sink.is_none()
    }
}

/// The state of one operator (by uid) in a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorSnapshot {
    /// The operator's parallelism when the checkpoint was taken.
    pub parallelism: u32,
    /// Each subtask's snapshot, by subtask index.
    pub subtasks: Vec<SubtaskSnapshot>,
}

/// A completed checkpoint's `_metadata`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    /// Identifies the format.
    pub format: String,
    /// The id of the job that took the checkpoint (32 hex digits).
    pub job_id: String,
    /// The job's name.
    pub job_name: String,
    /// The checkpoint's id within the job.
    pub checkpoint_id: u64,
    /// When the checkpoint completed, in milliseconds since the epoch.
    pub timestamp: i64,
    /// Whether it is a checkpoint or a savepoint (and of which sort).
    pub kind: BarrierKind,
    /// The job's max parallelism: how many key groups the state is split into.
    pub max_parallelism: u32,
    /// Operators with state, by uid.
    pub operators: BTreeMap<String, OperatorSnapshot>,
}

/// The format tag in `_metadata`.
pub const METADATA_FORMAT: &str = "weir-checkpoint-1";

impl CheckpointMetadata {
    /// Bytes written for this checkpoint (Flink's checkpointed size).
    pub fn size(&self) -> u64 {
        self.operators.values().flat_map(|o| &o.subtasks).map(|s| s.size).sum()
    }

    /// Bytes of the whole state the checkpoint names (Flink's state size).
    pub fn state_size(&self) -> u64 {
        self.operators.values().flat_map(|o| &o.subtasks).map(|s| s.state_size.max(s.size)).sum()
    }

    /// Whether its files may be in the job's `shared/` directory: a checkpoint's may, a
    /// savepoint is self-contained.
    pub fn may_share(&self) -> bool {
        !self.kind.is_savepoint()
    }
}

/// What a job restores from: a checkpoint's metadata and its directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestorePoint {
    /// The checkpoint's or savepoint's directory, where its state files are.
    pub directory: PathBuf,
    /// Its `_metadata`.
    pub metadata: CheckpointMetadata,
}

impl RestorePoint {
    /// The state of operator `uid`, if the checkpoint has any.
    pub fn operator(&self, uid: &str) -> Option<&OperatorSnapshot> {
        self.metadata.operators.get(uid)
    }

    /// All source positions of operator `uid`, merged over its old subtasks.
    pub fn source_positions(&self, uid: &str) -> std::collections::HashMap<u32, i64> {
        self.operator(uid)
            .into_iter()
            .flat_map(|o| &o.subtasks)
            .flat_map(|s| s.source.iter().flatten())
            .map(|(split, pos)| (*split, *pos))
            .collect()
    }
}

/// What a task hears from its TaskManager while it runs.
#[derive(Clone, Debug)]
pub enum TaskCommand {
    /// Sources: take checkpoint `barrier.id` now and send the barrier downstream.
    TriggerCheckpoint(Barrier),
    /// The checkpoint is complete everywhere: commit what waits for it.
    CheckpointComplete(u64),
}
