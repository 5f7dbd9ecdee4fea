//! The asynchronous part of a keyed subtask's checkpoints (Flink's `AsyncCheckpointRunnable`).
//!
//! At a barrier the task only takes its state's and timers' changes since the last barrier
//! (constant time, see `weir_core::state::changelog`) and hands them here; it forwards the
//! barrier and reads on at once. A thread of the subtask's own then writes them and acknowledges
//! the checkpoint when the files are in place:
//!
//! - a checkpoint (or an upgrade's barrier) writes the changes as one `.delta` file in the job's
//!   `shared/` directory and names the subtask's whole chain of files
//!   (`weir_core::checkpoint::incremental`);
//! - a canonical savepoint merges the chain and the changes into one full file in the
//!   savepoint's directory (self-contained, Weir's format since before incremental checkpoints);
//!   a native savepoint copies the chain's files there and adds the changes as a delta.
//!
//! The chain is merged into one full file by a second thread when its deltas add up to more
//! than its full file (or it grows past [`MAX_CHAIN`] files), so a restore reads a bounded
//! chain; the writer goes on writing deltas meanwhile and swaps the merged file in when it is
//! done. A chain restored from elsewhere than this job's checkpoints (a savepoint, another
//! job's checkpoint) is merged into the job's own `shared/` before the first checkpoint names
//! it (Flink's `NO_CLAIM` restore mode), so no checkpoint depends on files it does not own.
//!
//! A checkpoint that a newer one overtakes before its writing starts is declined and its
//! changes go into the newer one; a cancelled task abandons what it writes (a merge between key
//! groups) and removes the partial file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use super::TaskListener;
use weir_core::cancel::CancelToken;
use weir_core::checkpoint::incremental::{
    self, DeltaSection, Layer, StateFile, StateFileWriter, shared_directory, shared_file_name,
};
use weir_core::checkpoint::storage::StorageError;
use weir_core::checkpoint::{Barrier, BarrierKind, KeyedStateHandle, SnapshotFormat, SubtaskSnapshot};
use weir_core::keygroup::{KeyGroupRange, key_group};
use weir_core::state::StateChanges;
use weir_core::timer::TimerChanges;

/// A chain longer than this is merged whatever its sizes.
pub const MAX_CHAIN: usize = 64;
/// Deltas below this many bytes in all are not worth a merge.
const MIN_MERGE_BYTES: u64 = 4 << 20;

/// What the writer needs to know of its subtask.
#[derive(Clone)]
pub struct SubtaskIdentity {
    /// The task's name, for logs.
    pub name: String,
    /// The operator's uid (names its files).
    pub uid: String,
    /// The subtask's index.
    pub subtask: u32,
    /// Its key groups.
    pub range: KeyGroupRange,
    /// The job's max parallelism (a timer's key group).
    pub max_parallelism: u32,
}

/// One barrier's changes, taken on the task's thread.
struct Request {
    barrier: Barrier,
    format: SnapshotFormat,
    state: StateChanges,
    timers: TimerChanges,
    sync_ms: u64,
}

/// The writer of a subtask's snapshots, on a thread of its own; dropping it waits for what was
/// asked (a stop-with-savepoint's file must be written before the task ends), unless the task
/// was cancelled.
pub struct SnapshotWriter {
    requests: Option<Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl SnapshotWriter {
    /// Starts the writer of a subtask whose state was restored from `restored` (its chain, empty
    /// for a fresh start).
    pub fn start(
        identity: SubtaskIdentity,
        restored: Vec<Layer>,
        listener: Arc<dyn TaskListener>,
        cancel: CancelToken,
    ) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(16);
        let name = format!("snapshot {}", identity.name);
        let mut writer =
            Writer { id: identity, listener, cancel, chain: restored, carry: Changes::default(), merging: None };
        let thread = std::thread::Builder::new().name(name).spawn(move || writer.run(rx)).ok();
        SnapshotWriter { requests: Some(tx), thread }
    }

    /// Hands barrier `barrier`'s changes to the writer; `sync_ms` is what taking them cost the
    /// task. The acknowledgement (or decline) follows from the writer's thread.
    pub fn submit(
        &self,
        barrier: Barrier,
        format: SnapshotFormat,
        state: StateChanges,
        timers: TimerChanges,
        sync_ms: u64,
    ) -> Result<(), String> {
        let request = Request { barrier, format, state, timers, sync_ms };
        match &self.requests {
            Some(tx) => tx.send(request).map_err(|_| "the snapshot writer has stopped".to_string()),
            None => Err("the snapshot writer has stopped".into()),
        }
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Changes not yet in a file of the chain, sorted by storage key (so by key group).
#[derive(Default)]
struct Changes {
    state: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    timers: TimerChanges,
}

impl Changes {
    fn add(&mut self, state: StateChanges, timers: TimerChanges, range: KeyGroupRange) {
        self.state.extend(state.into_sorted(range));
        self.timers.extend(timers);
    }

    fn is_empty(&self) -> bool {
        self.state.is_empty() && self.timers.is_empty()
    }

    /// The changes as delta sections by key group.
    fn sections(&self, max_parallelism: u32) -> BTreeMap<u16, DeltaSection> {
        let mut sections: BTreeMap<u16, DeltaSection> = BTreeMap::new();
        for (key, value) in &self.state {
            let kg = u16::from_be_bytes([key[0], key[1]]);
            let section = sections.entry(kg).or_default();
            match value {
                Some(v) => section.written.push((key.clone(), v.clone())),
                None => section.removed.push(key.clone()),
            }
        }
        for (timer, registered) in self.timers.iter() {
            let section = sections.entry(key_group(&timer.key, max_parallelism)).or_default();
            if registered {
                section.timers_registered.push(timer);
            } else {
                section.timers_removed.push(timer);
            }
        }
        sections
    }
}

/// A merge of the chain's first `layers` files running on its own thread.
struct Merging {
    layers: usize,
    done: Receiver<Result<Option<Layer>, StorageError>>,
    /// Set when the merge is no longer wanted: it stops between key groups.
    abandoned: Arc<AtomicBool>,
}

impl Merging {
    /// Stops the merge, waits for it, and deletes a file it finished nonetheless (no checkpoint
    /// names it).
    fn abandon(self) {
        self.abandoned.store(true, Ordering::Relaxed);
        if let Ok(Ok(Some(layer))) = self.done.recv() {
            let _ = incremental::delete_file(&layer.path);
        }
    }
}

struct Writer {
    id: SubtaskIdentity,
    listener: Arc<dyn TaskListener>,
    cancel: CancelToken,
    /// The subtask's state as files, oldest first.
    chain: Vec<Layer>,
    /// Changes taken at barriers but in no file of the chain yet (a savepoint's, an overtaken
    /// checkpoint's).
    carry: Changes,
    merging: Option<Merging>,
}

impl Writer {
    fn run(&mut self, requests: Receiver<Request>) {
        while let Ok(request) = requests.recv() {
            if self.cancel.is_cancelled() {
                break;
            }
            let id = request.barrier.id;
            self.carry.add(request.state, request.timers, self.id.range);
            // Overtaken by a newer checkpoint before its writing started: the newer one writes
            // these changes too.
            if request.barrier.kind == BarrierKind::Checkpoint && !requests.is_empty() {
                tracing::debug!(task = self.id.name, checkpoint = id, "snapshot superseded before it was written");
                self.listener.decline(id, format!("checkpoint {id} was superseded by a newer one on this task"));
                continue;
            }
            let started = Instant::now();
            let result = match request.barrier.kind {
                BarrierKind::Checkpoint | BarrierKind::Upgrade => {
                    self.checkpoint(&request.barrier, request.format == SnapshotFormat::Canonical)
                }
                _ => self.savepoint(&request.barrier, request.format),
            };
            let async_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            match result {
                Ok(mut snapshot) => {
                    snapshot.sync_ms = request.sync_ms;
                    snapshot.async_ms = async_ms;
                    self.listener.acknowledge(id, snapshot);
                }
                Err(error) if self.cancel.is_cancelled() => {
                    tracing::debug!(task = self.id.name, checkpoint = id, %error, "snapshot abandoned");
                }
                Err(error) => {
                    tracing::warn!(task = self.id.name, checkpoint = id, %error, "snapshot failed");
                    self.listener.decline(id, error.to_string());
                }
            }
        }
        if let Some(merging) = self.merging.take() {
            merging.abandon();
        }
    }

    fn snapshot_of(&self, handle: KeyedStateHandle, written: u64) -> SubtaskSnapshot {
        let state_size =
            handle.files.iter().map(|f| f.size).sum::<u64>() + handle.sections.iter().map(|(_, _, l)| *l).sum::<u64>();
        SubtaskSnapshot {
            subtask: self.id.subtask,
            keyed: Some(handle),
            size: written,
            state_size,
            ..Default::default()
        }
    }

    /// Writes the carried changes as a delta file at `path`, if there are any.
    fn write_changes(&self, path: PathBuf) -> Result<Option<Layer>, StorageError> {
        if self.carry.is_empty() {
            return Ok(None);
        }
        let mut writer = StateFileWriter::create(path.clone())?;
        for (kg, section) in self.carry.sections(self.id.max_parallelism) {
            writer.delta_section(kg, &section)?;
        }
        let (sections, size) = writer.finish()?;
        Ok(Some(Layer { path, delta: true, sections, size }))
    }

    /// A checkpoint: the changes as a delta in `shared/`, and the chain named; `full`, the chain
    /// merged into one file first.
    fn checkpoint(&mut self, barrier: &Barrier, full: bool) -> Result<SubtaskSnapshot, StorageError> {
        let shared = shared_directory(Path::new(&*barrier.location));
        self.take_merged(&shared)?;
        let mut written = 0;
        let path = shared.join(shared_file_name(barrier.id, &self.id.uid, self.id.subtask, "delta"));
        if let Some(delta) = self.write_changes(path)? {
            written += delta.size;
            self.chain.push(delta);
        }
        self.carry = Changes::default();
        // A chain from elsewhere is made the job's own: one full file in `shared/`.
        let foreign = self.chain.iter().any(|l| l.path.parent() != Some(shared.as_path()));
        if full || foreign {
            self.wait_for_merge();
            let path = shared.join(shared_file_name(barrier.id, &self.id.uid, self.id.subtask, "full"));
            let abandon = || self.cancel.is_cancelled();
            let Some((sections, size)) = incremental::write_merged(&self.chain, self.id.range, path.clone(), &abandon)?
            else {
                return Err(cancelled());
            };
            tracing::info!(task = self.id.name, bytes = size, foreign, "state chain merged into one file");
            written += size;
            self.chain = vec![Layer { path, delta: false, sections, size }];
        }
        let files = self
            .chain
            .iter()
            .map(|l| StateFile {
                path: format!("../{}/{}", incremental::SHARED, file_name(&l.path)),
                delta: l.delta,
                sections: l.sections.clone(),
                size: l.size,
            })
            .collect();
        let handle = KeyedStateHandle { range: Some(self.id.range), files, ..Default::default() };
        self.start_merge(&shared, barrier.id);
        Ok(self.snapshot_of(handle, written))
    }

    /// A savepoint: self-contained in its directory.
    fn savepoint(&mut self, barrier: &Barrier, format: SnapshotFormat) -> Result<SubtaskSnapshot, StorageError> {
        let dir = PathBuf::from(&*barrier.location);
        let stem = format!("{}-{}", safe(&self.id.uid), self.id.subtask);
        let delta = self.write_changes(dir.join(format!("{stem}.delta")))?;
        match format {
            SnapshotFormat::Native => {
                let mut files = Vec::with_capacity(self.chain.len() + 1);
                let mut written = 0;
                for (i, layer) in self.chain.iter().enumerate() {
                    let name = format!("{stem}.{i}.{}", if layer.delta { "delta" } else { "full" });
                    incremental::copy_file(layer, &dir.join(&name))?;
                    written += layer.size;
                    files.push(StateFile {
                        path: name,
                        delta: layer.delta,
                        sections: layer.sections.clone(),
                        size: layer.size,
                    });
                }
                if let Some(d) = delta {
                    written += d.size;
                    files.push(StateFile { path: file_name(&d.path), delta: true, sections: d.sections, size: d.size });
                }
                let handle = KeyedStateHandle { range: Some(self.id.range), files, ..Default::default() };
                Ok(self.snapshot_of(handle, written))
            }
            SnapshotFormat::Canonical => {
                let mut layers = self.chain.clone();
                layers.extend(delta.clone());
                let name = format!("{stem}.state");
                let abandon = || self.cancel.is_cancelled();
                let merged = incremental::write_merged(&layers, self.id.range, dir.join(&name), &abandon);
                if let Some(d) = &delta {
                    let _ = incremental::delete_file(&d.path);
                }
                let Some((sections, size)) = merged? else { return Err(cancelled()) };
                let handle = KeyedStateHandle { file: name, range: Some(self.id.range), sections, files: Vec::new() };
                Ok(self.snapshot_of(handle, size))
            }
        }
    }

    /// Starts merging the chain on a thread of its own if it is due and none runs.
    fn start_merge(&mut self, shared: &Path, checkpoint: u64) {
        if self.merging.is_some() || self.chain.len() < 2 {
            return;
        }
        let base = self.chain.first().filter(|l| !l.delta).map_or(0, |l| l.size);
        let deltas: u64 = self.chain.iter().filter(|l| l.delta).map(|l| l.size).sum();
        if self.chain.len() <= MAX_CHAIN && deltas < base.max(MIN_MERGE_BYTES) {
            return;
        }
        let layers = self.chain.clone();
        let (range, cancel) = (self.id.range, self.cancel.clone());
        let path = shared.join(shared_file_name(checkpoint, &self.id.uid, self.id.subtask, "full"));
        let (tx, rx) = crossbeam_channel::bounded(1);
        let name = self.id.name.clone();
        let abandoned = Arc::new(AtomicBool::new(false));
        let stop = abandoned.clone();
        let spawned = std::thread::Builder::new().name(format!("merge {name}")).spawn(move || {
            let started = Instant::now();
            let abandon = || cancel.is_cancelled() || stop.load(Ordering::Relaxed);
            let result = incremental::write_merged(&layers, range, path.clone(), &abandon)
                .map(|done| done.map(|(sections, size)| Layer { path, delta: false, sections, size }));
            if let Ok(Some(layer)) = &result {
                tracing::info!(
                    task = name,
                    files = layers.len(),
                    bytes = layer.size,
                    ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "state chain merged"
                );
            }
            let _ = tx.send(result);
        });
        if spawned.is_ok() {
            self.merging = Some(Merging { layers: self.chain.len(), done: rx, abandoned });
        }
    }

    /// Swaps a finished merge in for the files it merged.
    fn take_merged(&mut self, shared: &Path) -> Result<(), StorageError> {
        let Some(merging) = &self.merging else { return Ok(()) };
        match merging.done.try_recv() {
            Ok(Ok(Some(layer))) if layer.path.parent() == Some(shared) => {
                let n = merging.layers;
                self.chain.splice(..n, [layer]);
                self.merging = None;
            }
            Ok(Ok(Some(layer))) => {
                // Merged into another directory than the checkpoints' now: not used.
                let _ = incremental::delete_file(&layer.path);
                self.merging = None;
            }
            Ok(Ok(None)) | Err(TryRecvError::Disconnected) => self.merging = None,
            Ok(Err(error)) => {
                tracing::warn!(task = self.id.name, %error, "merging the state chain failed; it stays as it is");
                self.merging = None;
            }
            Err(TryRecvError::Empty) => {}
        }
        Ok(())
    }

    /// Stops a running merge (the chain is about to be replaced).
    fn wait_for_merge(&mut self) {
        if let Some(merging) = self.merging.take() {
            merging.abandon();
        }
    }
}

fn cancelled() -> StorageError {
    StorageError::Corrupt { path: String::new(), reason: "the task was cancelled".into() }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A uid reduced to the characters a file name may have.
fn safe(uid: &str) -> String {
    uid.chars().take(100).map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
