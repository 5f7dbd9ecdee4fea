//! A guest function running one operator subtask: its instance, its host services, and calls
//! sized so each takes a bounded time.
//!
//! Input batches are cut into calls of at most `max_records` records, a number that adapts:
//! it halves when a call takes longer than [`SLOW_CALL`] and doubles while calls are quick. A
//! guest that sleeps per record (the Backpressure operator) thus gets single records and stays
//! responsive to watermarks and cancellation, while a fast guest gets thousands per call.

use std::time::{Duration, Instant};

use super::snapshot::{SnapshotWriter, SubtaskIdentity};
use super::{TaskContext, TaskResources};
use std::collections::BTreeMap;
use std::path::Path;
use weir_core::checkpoint::incremental::{self, Layer};
use weir_core::checkpoint::storage::{self, Section, StorageError};
use weir_core::checkpoint::{Barrier, RestorePoint, SnapshotFormat, SubtaskSnapshot};
use weir_core::jobgraph::JobVertex;
use weir_core::keygroup::key_group;
use weir_core::state::{KeyGroupOwnership, KeyedState, StateError};
use weir_core::timer::{FiredTimer, TimerService};
use weir_network::RecordWriter;
use weir_wasm::host::{HostState, Services};
use weir_wasm::{GuestError, GuestInstance, OperatorInfo, WasmRuntime};

/// Calls slower than this shrink the next call.
const SLOW_CALL: Duration = Duration::from_millis(50);
/// Calls quicker than this may grow the next call.
const QUICK_CALL: Duration = Duration::from_millis(10);
const MAX_RECORDS_PER_CALL: usize = 1 << 16;
const TIMERS_PER_CALL: usize = 1024;

/// Why a guest operator could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Guest(#[from] GuestError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Restore(#[from] StorageError),
}

/// A subtask's guest function: its component instance with keyed state, timers and output.
pub struct GuestOperator {
    instance: GuestInstance,
    max_records: usize,
    ctx: TaskContext,
    runtime: WasmRuntime,
    /// Writes the keyed state's snapshots off the task's thread (incremental checkpoints).
    writer: Option<SnapshotWriter>,
}

impl GuestOperator {
    /// Instantiates the component for this subtask and opens `function` with `output`.
    pub fn open(
        ctx: &TaskContext,
        resources: &TaskResources,
        function: &str,
        output: RecordWriter,
    ) -> Result<Self, OpenError> {
        let vertex = ctx.vertex();
        let job = &ctx.job;
        let keyed = vertex.is_keyed();
        let mut services = Services {
            output: Some(output),
            metrics: Some(ctx.metrics.operator.clone()),
            watermark: i64::MIN,
            sampler: Some(resources.sampler.clone()),
            ..Default::default()
        };
        let mut writer = None;
        if keyed {
            let ownership = KeyGroupOwnership::for_subtask(job.max_parallelism, vertex.parallelism, ctx.subtask);
            let table = resources.state.open_table(&ctx.state_scope(), &vertex.uid)?;
            let mut state = KeyedState::new(table, ownership);
            let mut timers = TimerService::new(ownership);
            let chain = match &ctx.restore {
                Some(point) => restore_keyed(point, &vertex.uid, &state, &mut timers)?,
                None => Vec::new(),
            };
            // Changes are kept only for checkpoints to write: a job without them keeps none.
            if resources.incremental && job.checkpoint_interval_ms.is_some() {
                state = state.tracking_changes();
                timers = timers.tracking_changes();
                let identity = SubtaskIdentity {
                    name: ctx.name(),
                    uid: vertex.uid.clone(),
                    subtask: ctx.subtask,
                    range: ownership.range,
                    max_parallelism: job.max_parallelism,
                };
                writer = Some(SnapshotWriter::start(identity, chain, ctx.listener.clone(), ctx.cancel.clone()));
            }
            services.state = Some(state);
            services.timers = Some(timers);
        }
        let host = HostState::new(ctx.name(), &resources.runtime.limits(), ctx.cancel.clone(), services);
        let mut instance = GuestInstance::new(&resources.runtime, &resources.component, host)?;
        instance.open(&operator_info(ctx, vertex, function))?;
        Ok(GuestOperator { instance, max_records: 1, ctx: ctx.clone(), runtime: resources.runtime.clone(), writer })
    }

    /// Replaces the guest code with `staged`'s (a hot-swap upgrade): a new instance takes over
    /// this one's host services and is opened with the operator's new definition; then the old
    /// instance is dropped. If the new code cannot be instantiated or opened, the services go
    /// back and the old instance runs on.
    pub fn swap(&mut self, staged: &super::StagedUpgrade) -> Result<(), GuestError> {
        let uid = self.ctx.vertex().uid.clone();
        let failed = |message: String| GuestError {
            operator: self.ctx.name(),
            kind: weir_wasm::instance::GuestErrorKind::Failed(message),
        };
        let Some(index) = staged.graph.vertices.iter().position(|v| v.uid == uid) else {
            return Err(failed(format!("the upgraded job has no operator '{uid}'")));
        };
        let vertex = &staged.graph.vertices[index];
        let Some(function) = vertex.function() else {
            return Err(failed(format!("the upgraded operator '{uid}' runs no guest function")));
        };
        let services = std::mem::take(&mut self.instance.host_mut().services);
        let host = HostState::new(self.ctx.name(), &self.runtime.limits(), self.ctx.cancel.clone(), services);
        let mut ctx = self.ctx.clone();
        ctx.job = staged.graph.clone();
        ctx.vertex = index;
        let mut instance = match GuestInstance::try_new(&self.runtime, &staged.component, host) {
            Ok(instance) => instance,
            Err(failure) => {
                let (error, host) = *failure;
                self.instance.host_mut().services = host.services;
                return Err(error);
            }
        };
        if let Err(error) = instance.open(&operator_info(&ctx, vertex, function)) {
            self.instance.host_mut().services = instance.into_host().services;
            return Err(error);
        }
        self.instance = instance;
        self.ctx = ctx;
        self.max_records = 1;
        Ok(())
    }

    /// The task this operator runs in (after a swap, with the upgraded graph).
    pub(super) fn context(&self) -> &TaskContext {
        &self.ctx
    }

    /// The instance's store data (its host services and call clock).
    pub fn host(&mut self) -> &mut HostState {
        self.instance.host_mut()
    }

    /// The output of the operator.
    pub fn writer(&mut self) -> &mut RecordWriter {
        self.instance.host_mut().services.output.as_mut().expect("a guest operator always has an output")
    }

    /// The operator's timers, if it is keyed.
    pub fn timers(&mut self) -> Option<&mut TimerService> {
        self.instance.host_mut().services.timers.as_mut()
    }

    /// Sets the watermark the guest sees.
    pub fn set_watermark(&mut self, watermark: i64) {
        self.instance.host_mut().services.watermark = watermark;
    }

    /// Makes a call and accounts its time: busy, and running WebAssembly.
    fn timed<R>(&mut self, f: impl FnOnce(&mut GuestInstance) -> R) -> (R, Duration) {
        let started = Instant::now();
        let result = f(&mut self.instance);
        let elapsed = started.elapsed();
        let clock = self.instance.host().clock();
        self.ctx.metrics.busy_time_ns.inc(u64::try_from(clock.busy().as_nanos()).unwrap_or(u64::MAX));
        self.ctx.metrics.wasm_time_ns.inc(u64::try_from(clock.computing().as_nanos()).unwrap_or(u64::MAX));
        (result, elapsed)
    }

    /// Hands a batch to the guest, in calls of adaptive size.
    pub fn process(&mut self, input: u32, batch: &[u8]) -> Result<(), GuestError> {
        let mut rest = batch;
        while !rest.is_empty() {
            // The host framed this batch itself (or checked it when a guest emitted it).
            let (chunk, tail, n) = weir_frame::split(rest, self.max_records).unwrap_or((rest, &[], 0));
            let (result, elapsed) = self.timed(|i| i.process(input, chunk));
            result?;
            self.swap_if_requested();
            if elapsed > SLOW_CALL {
                self.max_records = (n / 2).max(1);
            } else if elapsed < QUICK_CALL && n == self.max_records {
                self.max_records = (self.max_records * 2).min(MAX_RECORDS_PER_CALL);
            }
            rest = tail;
        }
        Ok(())
    }

    /// Hands fired timers to the guest.
    pub fn fire(&mut self, timers: Vec<FiredTimer>) -> Result<(), GuestError> {
        for chunk in timers.chunks(TIMERS_PER_CALL) {
            self.timed(|i| i.on_timers(chunk)).0?;
        }
        Ok(())
    }

    /// Tells the guest its input has ended, so it can emit what it still holds.
    pub fn finish(&mut self) -> Result<(), GuestError> {
        self.timed(|i| i.finish()).0
    }

    /// Takes the subtask's part of checkpoint `barrier`. With incremental checkpoints only the
    /// changes since the last barrier are taken here and written by the snapshot writer, which
    /// acknowledges later: `None`. Otherwise the whole keyed state is written now.
    pub fn snapshot(
        &mut self,
        barrier: &Barrier,
        format: SnapshotFormat,
    ) -> Result<Option<SubtaskSnapshot>, OpenError> {
        let started = Instant::now();
        let services = &mut self.instance.host_mut().services;
        let (Some(state), Some(timers)) = (&services.state, &mut services.timers) else {
            return Ok(Some(SubtaskSnapshot { subtask: self.ctx.subtask, ..Default::default() }));
        };
        if let Some(writer) = &self.writer {
            let changes = state.take_changes().unwrap_or_default();
            let timer_changes = timers.take_changes().unwrap_or_default();
            let sync_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            writer.submit(barrier.clone(), format, changes, timer_changes, sync_ms).map_err(|reason| {
                OpenError::Restore(StorageError::Corrupt { path: barrier.location.to_string(), reason })
            })?;
            return Ok(None);
        }
        let mut sections: BTreeMap<u16, Section> = BTreeMap::new();
        for (kg, key, value) in state.snapshot()? {
            sections.entry(kg).or_default().entries.push((key, value));
        }
        let max = self.ctx.job.max_parallelism;
        for timer in timers.snapshot() {
            sections.entry(key_group(&timer.key, max)).or_default().timers.push(timer);
        }
        let sections: Vec<(u16, Section)> = sections.into_iter().collect();
        let ownership = state.ownership();
        let location = Path::new(&*barrier.location);
        let (handle, size) =
            storage::write_keyed_state(location, &self.ctx.vertex().uid, self.ctx.subtask, ownership.range, &sections)?;
        let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(Some(SubtaskSnapshot {
            subtask: self.ctx.subtask,
            keyed: Some(handle),
            size,
            state_size: size,
            sync_ms: elapsed,
            ..Default::default()
        }))
    }
}

/// What `open` tells the guest about its operator.
fn operator_info<'a>(ctx: &'a TaskContext, vertex: &'a JobVertex, function: &'a str) -> OperatorInfo<'a> {
    OperatorInfo {
        job_name: &ctx.job.name,
        uid: &vertex.uid,
        name: &vertex.name,
        function,
        config: &vertex.config,
        subtask_index: ctx.subtask,
        parallelism: vertex.parallelism,
        max_parallelism: ctx.job.max_parallelism,
        keyed: vertex.is_keyed(),
    }
}

/// Loads the subtask's key groups of operator `uid` from a checkpoint: from every old subtask
/// whose key groups overlap this one's, which is how state is redistributed when rescaling. A key
/// group at a time is read (its chain merged) and written to the state backend as one batch.
/// Returns the files read, narrowed to this subtask's key groups: the start of its chain.
fn restore_keyed(
    point: &RestorePoint,
    uid: &str,
    state: &KeyedState,
    timers: &mut TimerService,
) -> Result<Vec<Layer>, OpenError> {
    let Some(operator) = point.operator(uid) else { return Ok(Vec::new()) };
    let started = Instant::now();
    let range = state.ownership().range;
    let mut layers = Vec::new();
    for old in &operator.subtasks {
        let Some(handle) = &old.keyed else { continue };
        if handle.range.is_some_and(|r| r.end < range.start || r.start > range.end) {
            continue;
        }
        let Some(mut files) = handle.layers(&point.directory, point.metadata.may_share()) else {
            return Err(OpenError::Restore(StorageError::Corrupt {
                path: point.directory.display().to_string(),
                reason: format!("operator '{uid}' subtask {} names a state file outside the checkpoint", old.subtask),
            }));
        };
        for layer in &mut files {
            layer.sections.retain(|(kg, _, _)| range.contains(*kg));
        }
        layers.extend(files.into_iter().filter(|l| !l.sections.is_empty()));
    }
    state.clear()?;
    let (mut entries, mut restored_timers) = (0, 0);
    // Reading and merging the next key groups overlaps writing this one into the state backend.
    let groups = incremental::key_groups(&layers, range);
    std::thread::scope(|scope| -> Result<(), OpenError> {
        let (tx, rx) = crossbeam_channel::bounded(2);
        let chain = &layers;
        scope.spawn(move || {
            for kg in groups {
                let merged = incremental::merge_key_group(chain, kg);
                let failed = merged.is_err();
                if tx.send(merged).is_err() || failed {
                    break;
                }
            }
        });
        for section in rx {
            let section = section?;
            restored_timers += section.timers.len();
            timers.restore(section.timers);
            entries += state.load(section.entries)?;
        }
        Ok(())
    })?;
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(uid, %range, entries, timers = restored_timers, files = layers.len(), ms, "keyed state restored");
    Ok(layers)
}
