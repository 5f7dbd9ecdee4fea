//! An operator test harness for Weir jobs, like Flink's `KeyedOneInputStreamOperatorTestHarness`:
//! one operator of a job component, opened alone, fed by hand and read back, deterministically.
//!
//! [`OperatorHarness::open`] loads a component, runs its `plan` with the program arguments, picks
//! the operator with the given uid and opens its guest function as subtask 0 of parallelism 1
//! (with the graph's max parallelism), with the host services a task gives it: keyed state in a
//! temporary sled backend and timers when its input is keyed (a hash edge), and an output the
//! harness captures. Then:
//!
//! - records go in with [`OperatorHarness::process_element`] (key and value bytes),
//!   [`OperatorHarness::process_typed`] (a value postcard-encoded, as the typed SDK sends records
//!   between operators) or [`OperatorHarness::process_elements`] (a batch), on input 0 or, for a
//!   two-input operator, on the input given;
//! - time moves only when the test says so: [`OperatorHarness::advance_watermark`] sets the
//!   watermark the guest sees and fires the event-time timers it reached,
//!   [`OperatorHarness::set_processing_time`] sets the guest's processing-time clock (a manual
//!   clock: the wall clock is never read) and fires the processing-time timers it reached;
//!   [`OperatorHarness::finish`] ends the input as the runtime does;
//! - what the guest emitted comes out of [`OperatorHarness::take_output`] (or `_typed`, `_text`),
//!   its keyed state from [`OperatorHarness::value_state`] and its timers from
//!   [`OperatorHarness::timers`].
//!
//! ```no_run
//! # fn main() -> Result<(), weir_test_harness::HarnessError> {
//! use weir_test_harness::OperatorHarness;
//!
//! let component = std::fs::read("target/guest-jobs/wasm32-wasip2/release/word_count.wasm")
//!     .expect("the WordCount component");
//! let mut counter = OperatorHarness::open(&component, &[], "counter")?;
//! counter.process_typed(b"to", &("to".to_string(), 1u64), 1)?;
//! counter.process_typed(b"to", &("to".to_string(), 1u64), 2)?;
//! assert_eq!(counter.take_output_text()?, ["(to,1)", "(to,2)"]);
//! let state: Option<(String, u64)> = counter.value_state_json("reduce", b"to")?;
//! assert_eq!(state, Some(("to".to_string(), 2)));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crossbeam_channel::Receiver;
use serde::Serialize;
use serde::de::DeserializeOwned;
use weir_core::cancel::CancelToken;
use weir_core::jobgraph::{JobGraph, VertexKind};
use weir_core::metrics::{OperatorMetrics, TaskMetrics};
use weir_core::state::{Entries, KeyGroupOwnership, KeyedState, SledBackend, StateBackend, StateError};
use weir_core::timer::{FiredTimer, TimerService};
use weir_core::watermark::MAX_WATERMARK;
use weir_network::{EdgeWriter, NetworkError, Partitioner, RecordWriter, StreamElement};
use weir_wasm::cache::ComponentCache;
use weir_wasm::host::{HostState, Services};
use weir_wasm::plan::PlanError;
use weir_wasm::{GuestError, GuestInstance, JobComponent, Limits, LoadError, OperatorInfo, WasmRuntime};

pub use weir_core::timer::TimeDomain;

/// The timestamp of a record that has none (`i64::MIN`, the frame format's `NO_TIMESTAMP`).
pub const NO_TIMESTAMP: i64 = weir_frame::NO_TIMESTAMP;

/// The processing time the guest sees until [`OperatorHarness::set_processing_time`] sets another.
pub const INITIAL_PROCESSING_TIME: i64 = 0;

/// How many fired timers go to the guest in one `on-timers` call, as the runtime hands them.
const TIMERS_PER_CALL: usize = 1024;

/// Why the harness could not do what a test asked.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The WebAssembly engine could not be created.
    #[error("cannot create the WebAssembly runtime: {0}")]
    Runtime(String),
    /// A temporary directory (the component cache) could not be created.
    #[error("cannot create a temporary directory: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a job component.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The component's `plan` failed or refused the arguments.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The job has no operator with the uid asked for.
    #[error("the job '{job}' has no operator with uid '{uid}'; its operators' uids are: {}", .uids.join(", "))]
    NoSuchOperator {
        /// The job's name.
        job: String,
        /// The uid asked for.
        uid: String,
        /// The uids the job has.
        uids: Vec<String>,
    },
    /// The operator runs no guest function (a sink, or a source without a deserializer).
    #[error(
        "operator '{uid}' ({name}) runs no guest function (a sink, or a source without one), so there is nothing to test; operators with one: {}",
        .with_function.join(", ")
    )]
    NoFunction {
        /// The operator's uid.
        uid: String,
        /// The operator's name.
        name: String,
        /// The uids of the job's operators that do run a guest function.
        with_function: Vec<String>,
    },
    /// A guest call failed: the guest returned an error, trapped or broke a limit.
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// The keyed state backend failed, or a key is not the subtask's.
    #[error(transparent)]
    State(#[from] StateError),
    /// Collecting the guest's output failed.
    #[error("the operator's output failed: {0}")]
    Output(#[from] NetworkError),
    /// Records were given on an input the operator does not have.
    #[error("operator '{uid}' has {inputs} input(s) (numbered from 0), so there is no input {input}")]
    NoSuchInput {
        /// The operator's uid.
        uid: String,
        /// The input asked for.
        input: u32,
        /// How many inputs the operator has.
        inputs: usize,
    },
    /// A batch given to [`OperatorHarness::process_batch`], or one the guest emitted, does not
    /// follow the frame format.
    #[error(transparent)]
    Frame(#[from] weir_frame::FrameError),
    /// Keyed state was read from an operator whose input is not keyed.
    #[error("operator '{0}' has no keyed state or timers: its input is not keyed (a hash edge)")]
    NotKeyed(String),
    /// The watermark was moved backwards.
    #[error("the watermark only moves forward: it is {current}, so it cannot go back to {requested}")]
    WatermarkBackwards {
        /// The watermark now.
        current: i64,
        /// The watermark asked for.
        requested: i64,
    },
    /// A value could not be postcard-encoded for the guest.
    #[error("cannot encode a record with postcard: {0}")]
    Encode(postcard::Error),
    /// An output record's value is not the postcard encoding of the type asked for.
    #[error("output record {index} is not a postcard-encoded {type_name}: {error}")]
    DecodeOutput {
        /// The record's place in the output taken (0-based).
        index: usize,
        /// The type asked for.
        type_name: &'static str,
        /// What postcard said.
        error: postcard::Error,
    },
    /// An output record's value is not UTF-8.
    #[error("output record {index} is not UTF-8 text: {error}")]
    NotText {
        /// The record's place in the output taken (0-based).
        index: usize,
        /// Where the text is broken.
        error: std::string::FromUtf8Error,
    },
    /// A state value is not the JSON of the type asked for.
    #[error("state '{name}' of key {key:?} is not a JSON {type_name}: {error}")]
    DecodeState {
        /// The state's name.
        name: String,
        /// The key, as lossy text.
        key: String,
        /// The type asked for.
        type_name: &'static str,
        /// What serde_json said.
        error: serde_json::Error,
    },
}

/// One record the guest emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputRecord {
    /// The record's event-time timestamp (ms), or `None` when it has none.
    pub timestamp: Option<i64>,
    /// The record's key (empty for none); what a hash edge downstream partitions on.
    pub key: Vec<u8>,
    /// The record's value.
    pub value: Vec<u8>,
}

/// A registered timer, as the subtask's timer service holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredTimer {
    /// Which clock it follows.
    pub domain: TimeDomain,
    /// The key it was registered for.
    pub key: Vec<u8>,
    /// Its namespace (a window's, say; empty for a keyed function's own timers).
    pub namespace: Vec<u8>,
    /// When it fires, in ms on its domain's clock.
    pub time: i64,
}

/// One guest operator opened alone, as subtask 0 of 1, with its input, time and output in the
/// test's hands. See the [crate documentation](crate).
pub struct OperatorHarness {
    instance: GuestInstance,
    output: Receiver<StreamElement>,
    clock: Arc<AtomicI64>,
    metrics: Arc<OperatorMetrics>,
    graph: JobGraph,
    vertex: usize,
    /// The instance's engine: its epoch ticker runs while a clone lives.
    _runtime: WasmRuntime,
    /// The compiled component's cache, removed with the harness.
    _cache_dir: tempfile::TempDir,
    /// The keyed state's database (temporary: removed when the last handle drops).
    _backend: Option<SledBackend>,
}

impl std::fmt::Debug for OperatorHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorHarness")
            .field("job", &self.graph.name)
            .field("uid", &self.uid())
            .field("keyed", &self.is_keyed())
            .field("watermark", &self.watermark())
            .field("processing_time", &self.processing_time())
            .finish_non_exhaustive()
    }
}

impl OperatorHarness {
    /// Loads `component` (with the default sandbox limits), plans the job with the program
    /// arguments `args`, and opens the operator with uid `uid` as subtask 0 of parallelism 1:
    /// keyed (state and timers) when its input is a hash edge. The guest sees the watermark
    /// `i64::MIN` and the processing time [`INITIAL_PROCESSING_TIME`] until the test moves them.
    pub fn open(component_bytes: &[u8], args: &[&str], uid: &str) -> Result<Self, HarnessError> {
        let limits = Limits::default();
        let runtime = WasmRuntime::new(limits).map_err(|e| HarnessError::Runtime(format!("{e:#}")))?;
        let cache_dir = tempfile::tempdir()?;
        let component = JobComponent::load(&runtime, &ComponentCache::new(cache_dir.path()), component_bytes)?;
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let graph = weir_wasm::plan::compile(&runtime, &component, &args, 1, weir_core::jobgraph::new_job_id())?;

        // A sink is two vertices (`uid` and `uid#committer`); both are found by the planned uid.
        let matches = |v: &weir_core::jobgraph::JobVertex| v.uid == uid || v.uid == format!("{uid}#committer");
        let Some(index) = graph.vertices.iter().position(matches) else {
            let mut uids: Vec<String> = Vec::new();
            for v in &graph.vertices {
                let planned = v.uid.strip_suffix("#committer").unwrap_or(&v.uid).to_string();
                if !uids.contains(&planned) {
                    uids.push(planned);
                }
            }
            return Err(HarnessError::NoSuchOperator { job: graph.name.clone(), uid: uid.to_string(), uids });
        };
        let vertex = &graph.vertices[index];
        let Some(function) = vertex.function().map(str::to_string) else {
            let with_function =
                graph.vertices.iter().filter(|v| v.function().is_some()).map(|v| v.uid.clone()).collect();
            return Err(HarnessError::NoFunction { uid: uid.to_string(), name: vertex.name.clone(), with_function });
        };

        let keyed = vertex.is_keyed();
        let tag = format!("{} (1/1)", vertex.name);
        let cancel = CancelToken::new();
        let (sender, output) = crossbeam_channel::unbounded();
        let edge = EdgeWriter::new(Partitioner::Forward, vec![sender]);
        let writer = RecordWriter::new(vec![edge], Arc::new(TaskMetrics::default()), cancel.clone());
        let clock = Arc::new(AtomicI64::new(INITIAL_PROCESSING_TIME));
        let metrics = Arc::new(OperatorMetrics::default());
        let mut services = Services {
            output: Some(writer),
            metrics: Some(metrics.clone()),
            watermark: i64::MIN,
            processing_time: Some(clock.clone()),
            ..Default::default()
        };
        let mut backend = None;
        if keyed {
            let ownership = KeyGroupOwnership::for_subtask(graph.max_parallelism, 1, 0);
            let sled = SledBackend::temporary()?;
            let table = sled.open_table(&graph.job_id, &vertex.uid)?;
            services.state = Some(KeyedState::new(table, ownership));
            services.timers = Some(TimerService::new(ownership));
            backend = Some(sled);
        }
        let host = HostState::new(tag, &runtime.limits(), cancel, services);
        let mut instance = GuestInstance::new(&runtime, &component, host)?;
        instance.open(&OperatorInfo {
            job_name: &graph.name,
            uid: &vertex.uid,
            name: &vertex.name,
            function: &function,
            config: &vertex.config,
            subtask_index: 0,
            parallelism: 1,
            max_parallelism: graph.max_parallelism,
            keyed,
        })?;
        Ok(OperatorHarness {
            instance,
            output,
            clock,
            metrics,
            graph,
            vertex: index,
            _runtime: runtime,
            _cache_dir: cache_dir,
            _backend: backend,
        })
    }

    /// The job graph the component planned.
    pub fn graph(&self) -> &JobGraph {
        &self.graph
    }

    /// The operator's uid.
    pub fn uid(&self) -> &str {
        &self.graph.vertices[self.vertex].uid
    }

    /// True if the operator's input is keyed: it has keyed state and timers.
    pub fn is_keyed(&self) -> bool {
        self.graph.vertices[self.vertex].is_keyed()
    }

    /// How many inputs the operator reads (a source's deserializer reads its connector: one).
    pub fn inputs(&self) -> usize {
        let vertex = &self.graph.vertices[self.vertex];
        match vertex.kind {
            VertexKind::Source { .. } => 1,
            _ => vertex.inputs.len(),
        }
    }

    /// The watermark the guest sees.
    pub fn watermark(&self) -> i64 {
        self.instance.host().services.watermark
    }

    /// The processing time the guest sees.
    pub fn processing_time(&self) -> i64 {
        self.clock.load(Ordering::Relaxed)
    }

    /// Hands one record to the operator's input 0; `timestamp` is its event time
    /// ([`NO_TIMESTAMP`] for none).
    pub fn process_element(&mut self, key: &[u8], value: &[u8], timestamp: i64) -> Result<(), HarnessError> {
        self.process_element_on(0, key, value, timestamp)
    }

    /// Hands one record to the operator's input `input` (0 or 1 for a two-input operator).
    pub fn process_element_on(
        &mut self,
        input: u32,
        key: &[u8],
        value: &[u8],
        timestamp: i64,
    ) -> Result<(), HarnessError> {
        let mut batch = Vec::new();
        weir_frame::push(&mut batch, timestamp, key, value);
        self.process_batch(input, &batch)
    }

    /// Hands `value`, postcard-encoded as the typed SDK sends records between operators, to the
    /// operator's input 0 under `key` (the SDK's key encoding: integers little-endian, strings
    /// as their UTF-8 bytes).
    pub fn process_typed<T: Serialize>(&mut self, key: &[u8], value: &T, timestamp: i64) -> Result<(), HarnessError> {
        self.process_typed_on(0, key, value, timestamp)
    }

    /// [`Self::process_typed`] on input `input`.
    pub fn process_typed_on<T: Serialize>(
        &mut self,
        input: u32,
        key: &[u8],
        value: &T,
        timestamp: i64,
    ) -> Result<(), HarnessError> {
        let value = postcard::to_stdvec(value).map_err(HarnessError::Encode)?;
        self.process_element_on(input, key, &value, timestamp)
    }

    /// Hands records `(key, value, timestamp)` to input `input` as one batch (one `process`
    /// call), framed as the host frames every batch.
    pub fn process_elements<K, V>(
        &mut self,
        input: u32,
        records: impl IntoIterator<Item = (K, V, i64)>,
    ) -> Result<(), HarnessError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut batch = Vec::new();
        for (key, value, timestamp) in records {
            weir_frame::push(&mut batch, timestamp, key.as_ref(), value.as_ref());
        }
        self.process_batch(input, &batch)
    }

    /// Hands an already framed batch (see the `weir-frame` crate) to input `input` in one call.
    pub fn process_batch(&mut self, input: u32, batch: &[u8]) -> Result<(), HarnessError> {
        let inputs = self.inputs();
        if usize::try_from(input).map_or(true, |i| i >= inputs) {
            return Err(HarnessError::NoSuchInput { uid: self.uid().to_string(), input, inputs });
        }
        weir_frame::count(batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        Ok(self.instance.process(input, batch)?)
    }

    /// Sets the watermark the guest sees to `watermark` and fires, in time order and through
    /// `on-timers` as the runtime does, every event-time timer at or before it. The timers due
    /// are taken once: a timer the guest registers while they fire, at or before the watermark,
    /// fires at the next advance (as in the runtime). Moving the watermark backwards is an error.
    pub fn advance_watermark(&mut self, watermark: i64) -> Result<(), HarnessError> {
        let current = self.watermark();
        if watermark < current {
            return Err(HarnessError::WatermarkBackwards { current, requested: watermark });
        }
        self.instance.host_mut().services.watermark = watermark;
        self.fire(TimeDomain::EventTime, watermark)
    }

    /// Sets the processing time the guest sees (`time.current-processing-time`) to `time` and
    /// fires, in time order, every processing-time timer at or before it. The clock may be set
    /// anywhere, backwards too; nothing else moves it.
    pub fn set_processing_time(&mut self, time: i64) -> Result<(), HarnessError> {
        self.clock.store(time, Ordering::Relaxed);
        self.fire(TimeDomain::ProcessingTime, time)
    }

    /// Ends the input as the runtime does at the end of a bounded input: the watermark goes to
    /// its maximum (`i64::MAX`), firing every event-time timer; then every processing-time timer
    /// fires (the processing time the guest sees stays as it is); then the guest's `finish`
    /// emits what it still holds.
    pub fn finish(&mut self) -> Result<(), HarnessError> {
        if self.watermark() < MAX_WATERMARK {
            self.advance_watermark(MAX_WATERMARK)?;
        }
        self.fire(TimeDomain::ProcessingTime, i64::MAX)?;
        Ok(self.instance.finish()?)
    }

    /// Fires the timers of `domain` at or before `upto`, in the runtime's call sizes.
    fn fire(&mut self, domain: TimeDomain, upto: i64) -> Result<(), HarnessError> {
        let Some(timers) = self.instance.host_mut().services.timers.as_mut() else { return Ok(()) };
        let due = timers.pop_due(domain, upto);
        for chunk in due.chunks(TIMERS_PER_CALL) {
            self.instance.on_timers(chunk)?;
        }
        Ok(())
    }

    /// Every record the guest emitted since the last take, in order.
    pub fn take_output(&mut self) -> Result<Vec<OutputRecord>, HarnessError> {
        if let Some(writer) = self.instance.host_mut().services.output.as_mut() {
            writer.flush()?;
        }
        let mut records = Vec::new();
        for element in self.output.try_iter() {
            // Only records reach this channel: the harness never broadcasts watermarks.
            if let StreamElement::Records(batch) = element {
                for record in weir_frame::records(&batch) {
                    let record = record?;
                    records.push(OutputRecord {
                        timestamp: (record.timestamp != NO_TIMESTAMP).then_some(record.timestamp),
                        key: record.key.to_vec(),
                        value: record.value.to_vec(),
                    });
                }
            }
        }
        Ok(records)
    }

    /// The values emitted since the last take, decoded from postcard (what a typed operator sends
    /// to the next operator).
    pub fn take_output_typed<T: DeserializeOwned>(&mut self) -> Result<Vec<T>, HarnessError> {
        let records = self.take_output()?;
        records
            .iter()
            .enumerate()
            .map(|(index, r)| {
                postcard::from_bytes(&r.value).map_err(|error| HarnessError::DecodeOutput {
                    index,
                    type_name: std::any::type_name::<T>(),
                    error,
                })
            })
            .collect()
    }

    /// The values emitted since the last take, as UTF-8 text (what an operator before a text or
    /// print sink emits).
    pub fn take_output_text(&mut self) -> Result<Vec<String>, HarnessError> {
        let records = self.take_output()?;
        records
            .into_iter()
            .enumerate()
            .map(|(index, r)| String::from_utf8(r.value).map_err(|error| HarnessError::NotText { index, error }))
            .collect()
    }

    fn state(&self) -> Result<&KeyedState, HarnessError> {
        self.instance.host().services.state.as_ref().ok_or_else(|| HarnessError::NotKeyed(self.uid().to_string()))
    }

    /// The value of value state `name` for `key` (the empty namespace: a keyed function's own
    /// state), read from the state backend; `None` if unset.
    pub fn value_state(&self, name: &str, key: &[u8]) -> Result<Option<Vec<u8>>, HarnessError> {
        self.value_state_in(name, key, b"")
    }

    /// The value of value state `name` for `key` in `namespace` (a window's, say).
    pub fn value_state_in(&self, name: &str, key: &[u8], namespace: &[u8]) -> Result<Option<Vec<u8>>, HarnessError> {
        Ok(self.state()?.value_get(name, key, namespace)?)
    }

    /// The value of value state `name` for `key`, decoded from JSON as the typed SDK stores it
    /// (state without a TTL: a TTL's value starts with the 8-byte time it was written).
    pub fn value_state_json<T: DeserializeOwned>(&self, name: &str, key: &[u8]) -> Result<Option<T>, HarnessError> {
        let Some(bytes) = self.value_state(name, key)? else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(|error| HarnessError::DecodeState {
            name: name.to_string(),
            key: String::from_utf8_lossy(key).into_owned(),
            type_name: std::any::type_name::<T>(),
            error,
        })
    }

    /// The entries of map state `name` for `key` (empty namespace), in map key order.
    pub fn map_state(&self, name: &str, key: &[u8]) -> Result<Entries, HarnessError> {
        Ok(self.state()?.map_entries(name, key, b"", usize::MAX)?)
    }

    /// Every timer registered and not yet fired: event-time timers, then processing-time
    /// timers, each in time order. Empty for an operator that is not keyed.
    pub fn timers(&self) -> Vec<RegisteredTimer> {
        let Some(timers) = self.instance.host().services.timers.as_ref() else { return Vec::new() };
        timers
            .snapshot()
            .into_iter()
            .map(|FiredTimer { key, namespace, time, domain }| RegisteredTimer { domain, key, namespace, time })
            .collect()
    }

    /// The operator's own metrics (guest counters and gauges, and the SDK's, such as
    /// `numLateRecordsDropped`), by name.
    pub fn metrics(&self) -> Vec<(String, f64)> {
        self.metrics.values()
    }
}
