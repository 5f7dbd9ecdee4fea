//! A typed job API in the spirit of Flink's DataStream API.
//!
//! A job describes its pipeline once, in [`StreamJob::build`]: sources with a
//! [`DeserializationSchema`],
//! `map`, `filter`, `flat_map`, `key_by`, keyed functions with per-key state and timers
//! ([`KeyedProcessFunction`], [`KeyedCoProcessFunction`] over two connected streams), `union`,
//! and sinks. The SDK turns that into the job graph (`plan`) and, in every subtask, into the
//! operator the subtask runs (`open`), so records, keys and state are typed end to end:
//!
//! ```no_run
//! use weir_sdk::stream::{DataStream, Env, StreamJob, Text, connectors::KafkaSource};
//!
//! struct WordCount;
//!
//! impl StreamJob for WordCount {
//!     fn build(env: &mut Env, args: Vec<String>) -> Result<(), String> {
//!         let servers = args.first().cloned().unwrap_or_else(|| "localhost:9092".into());
//!         env.set_job_name("WordCount");
//!         env.from_source(KafkaSource::new(&servers, "lines").bounded(), Text)
//!             .flat_map(|line: String| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
//!             .map(|word| (word, 1u64))
//!             .key_by(|(word, _)| word.clone())
//!             .reduce(|(word, a), (_, b)| (word, a + b))
//!             .map(|(word, count)| format!("({word},{count})"))
//!             .print();
//!         Ok(())
//!     }
//! }
//!
//! weir_sdk::export_stream_job!(WordCount);
//! ```
//!
//! **Chaining.** Stateless stages (`map`, `filter`, `flat_map`, `assign_timestamps`) run in
//! the operator before them, as Flink chains operators: a source's deserializer and the maps
//! after it are one operator; `key_by`, `union` and `rebalance` start a new one. Records cross
//! from one operator to the next encoded with serde (postcard); sources and sinks read and
//! write their schema ([`Json`], [`Text`], [`Raw`] or your own).
//!
//! **Uids.** Every operator gets a uid (`source-0`, `process-2`, …, numbered in the order the
//! pipeline is built); keyed state is matched by uid across savepoints and upgrades, so set
//! your own with [`DataStream::uid`] on stateful operators, as Flink advises.
//!
//! **Determinism.** `build` runs in `plan` and again when each subtask opens (with the same
//! arguments, which the SDK hands to every operator), so it must build the same pipeline from
//! the same arguments.

#![deny(missing_docs)]

pub mod broadcast;
pub mod connectors;
pub(crate) mod format;
mod function;
mod operators;
mod short_str;
pub mod state;
mod window;

use std::cell::RefCell;
use std::rc::Rc;

pub use broadcast::{BroadcastState, KeyedBroadcastProcessFunction};
pub use format::{Data, DeserializationSchema, Json, Keyed, Raw, SerializationSchema, Text};
pub use function::{Collector, Context, KeyedCoProcessFunction, KeyedProcessFunction, OutputTag};
pub use short_str::Str;
pub use window::{SessionWindows, SlidingWindows, TumblingWindows, Window, WindowAssigner, WindowedStream};

use self::connectors::{Sink, Source};
use self::function::{Push, SideOutputs, SideWriter};
use self::operators::{KeyedCoHead, KeyedHead, SourceHead, TaggedHead, WireHead, stage};
use crate::graph::{GraphBuilder, JobGraph, OperatorRef, ShipStrategy, SinkConnector, SourceConnector};
use crate::state::Codec;
use crate::{Job, Operator, OperatorContext, Output};

/// A job written with the typed API: [`export_stream_job!`](crate::export_stream_job) exports it.
pub trait StreamJob {
    /// Builds the pipeline on `env` from the program arguments. Errors name the argument at
    /// fault; they fail the submission.
    fn build(env: &mut Env, args: Vec<String>) -> Result<(), String>;
}

/// Adapts a [`StreamJob`] to the low-level [`Job`] contract.
pub struct Streamed<S>(std::marker::PhantomData<S>);

impl<S: StreamJob> Job for Streamed<S> {
    fn plan(args: Vec<String>) -> Result<JobGraph, String> {
        let config = serde_json::to_string(&args).map_err(|e| e.to_string())?;
        let mut env = Env::new(config, None);
        S::build(&mut env, args)?;
        env.into_graph()
    }

    fn open(context: &OperatorContext) -> Result<Box<dyn Operator>, String> {
        let args: Vec<String> = serde_json::from_str(&context.config)
            .map_err(|e| format!("operator '{}' has no program arguments in its configuration: {e}", context.uid))?;
        broadcast::set_subtask(broadcast::Subtask {
            index: context.subtask_index,
            parallelism: context.parallelism,
            max_parallelism: context.max_parallelism,
        });
        let mut env = Env::new(context.config.clone(), Some(context.function.clone()));
        S::build(&mut env, args)?;
        env.into_operator(&context.function)
    }
}

/// Exports a [`StreamJob`] as the component's `weir:job` world.
#[macro_export]
macro_rules! export_stream_job {
    ($job:ty) => {
        $crate::export_job!($crate::stream::Streamed<$job>);
    };
}

/// A sink waiting to be added once the pipeline is built (so that its uid and name can still
/// be set).
struct PendingSink {
    uid: Option<String>,
    name: String,
    connector: SinkConnector,
    input: OperatorRef,
    index: u32,
    parallelism: Option<u32>,
}

struct Inner {
    graph: GraphBuilder,
    /// Every operator's configuration: the program arguments, as JSON.
    config: String,
    /// In a subtask, the function (operator uid) it opens.
    selected: Option<String>,
    operator: Option<Box<dyn Operator>>,
    uids: Vec<String>,
    next_index: u32,
    sinks: Vec<PendingSink>,
    errors: Vec<String>,
    /// The job's number of key groups (broadcast records go to each).
    max_parallelism: u32,
}

/// The physical operator a stream's records are produced in, not yet added to the graph:
/// stages are still being chained onto it.
struct Pending<T> {
    uid: Option<String>,
    names: Vec<String>,
    /// The prefix of the generated uid.
    base: &'static str,
    kind: PendingKind,
    parallelism: Option<u32>,
    /// The side outputs of a keyed function's operator (none for other operators).
    sides: Option<SideOutputs>,
    /// Builds the operator, given where the chain's records go.
    build: BuildOperator<T>,
}

/// Builds a physical operator from where its chain's records of type `T` go.
type BuildOperator<T> = Box<dyn FnOnce(Box<dyn Push<T>>) -> Box<dyn Operator>>;

impl<T> Pending<T> {
    /// Stands in for a pending operator that was moved out; never added to a graph.
    fn placeholder() -> Self {
        Pending {
            uid: None,
            names: Vec::new(),
            base: "placeholder",
            kind: PendingKind::Transform(Vec::new()),
            parallelism: None,
            sides: None,
            build: Box::new(|_| Box::new(Failing("a moved-out operator was built".into()))),
        }
    }
}

/// An operator that fails its first call: what a pipeline with an error (already reported by
/// `plan`) builds in its place.
struct Failing(String);

impl Operator for Failing {
    fn process(&mut self, _input: u32, _records: crate::Records<'_>, _out: &mut Output) -> Result<(), String> {
        Err(self.0.clone())
    }
}

enum PendingKind {
    Source(SourceConnector),
    Transform(Vec<(OperatorRef, ShipStrategy)>),
}

impl Inner {
    fn register_uid(&mut self, uid: &str) {
        if self.uids.iter().any(|u| u == uid) {
            self.errors.push(format!("two operators have the uid '{uid}'; uids must be unique"));
        }
        self.uids.push(uid.to_string());
    }

    /// Adds the operator to the graph, its chain ending in `end`; in the subtask that runs it,
    /// builds it.
    fn materialize<T>(&mut self, pending: Pending<T>, end: impl FnOnce() -> Box<dyn Push<T>>) -> OperatorRef {
        let Pending { uid, names, base, kind, parallelism, build, .. } = pending;
        let index = self.next_index;
        self.next_index += 1;
        let uid = uid.unwrap_or_else(|| format!("{base}-{index}"));
        self.register_uid(&uid);
        let name = names.join(" -> ");
        let op = match kind {
            PendingKind::Source(connector) => self.graph.source(&uid, &name, connector, Some(&uid)),
            PendingKind::Transform(inputs) => {
                let inputs: Vec<(&OperatorRef, ShipStrategy)> = inputs.iter().map(|(op, s)| (op, *s)).collect();
                self.graph.transform(&uid, &name, &uid, &inputs)
            }
        };
        self.graph.set_config(&op, self.config.clone());
        if let Some(parallelism) = parallelism {
            self.graph.set_parallelism(&op, parallelism);
        }
        if self.selected.as_deref() == Some(uid.as_str()) {
            self.operator = Some(build(end()));
        }
        op
    }
}

/// The environment a pipeline is built on (Flink's `StreamExecutionEnvironment`).
pub struct Env {
    inner: Rc<RefCell<Inner>>,
}

impl Env {
    fn new(config: String, selected: Option<String>) -> Self {
        let inner = Inner {
            graph: GraphBuilder::new("Weir Job"),
            config,
            selected,
            operator: None,
            uids: Vec::new(),
            next_index: 0,
            sinks: Vec::new(),
            errors: Vec::new(),
            max_parallelism: crate::graph::DEFAULT_MAX_PARALLELISM,
        };
        Env { inner: Rc::new(RefCell::new(inner)) }
    }

    /// Names the job (Flink's `env.execute(name)`).
    pub fn set_job_name(&mut self, name: &str) {
        self.inner.borrow_mut().graph.set_name(name);
    }

    /// Checkpoints every `interval_ms`.
    pub fn enable_checkpointing(&mut self, interval_ms: u64) {
        self.inner.borrow_mut().graph.checkpointing(interval_ms);
    }

    /// Uses event time: timestamps come from the sources (see
    /// [`DataStream::assign_timestamps`]), watermarks trail the largest seen by
    /// `max_out_of_orderness_ms`, and a source partition idle for `idleness_ms` stops holding
    /// them back (Flink's `WatermarkStrategy.forBoundedOutOfOrderness(..).withIdleness(..)`).
    pub fn set_event_time(&mut self, max_out_of_orderness_ms: u64, idleness_ms: Option<u64>) {
        self.inner.borrow_mut().graph.event_time(max_out_of_orderness_ms, idleness_ms);
    }

    /// Sets the number of key groups (Flink's max parallelism; 128 by default).
    pub fn set_max_parallelism(&mut self, max_parallelism: u32) {
        let mut inner = self.inner.borrow_mut();
        inner.graph.max_parallelism(max_parallelism);
        inner.max_parallelism = max_parallelism;
    }

    /// Reads `source`, decoding its records with `format`.
    pub fn from_source<T: 'static>(
        &mut self,
        source: impl Source,
        format: impl DeserializationSchema<T>,
    ) -> DataStream<T> {
        let (connector, name) = source.connector();
        let build = move |next: Box<dyn Push<T>>| -> Box<dyn Operator> { Box::new(SourceHead::new(format, next)) };
        DataStream::new(
            &self.inner,
            Pending {
                uid: None,
                names: vec![name],
                base: "source",
                kind: PendingKind::Source(connector),
                parallelism: None,
                sides: None,
                build: Box::new(build),
            },
        )
    }

    fn into_graph(self) -> Result<JobGraph, String> {
        let inner = Rc::try_unwrap(self.inner)
            .map_err(|_| "a stream outlived the job's build function".to_string())?
            .into_inner();
        let Inner { mut graph, mut uids, sinks, errors, .. } = inner;
        let mut errors = errors;
        for sink in sinks {
            let uid = sink.uid.unwrap_or_else(|| format!("sink-{}", sink.index));
            if uids.contains(&uid) {
                errors.push(format!("two operators have the uid '{uid}'; uids must be unique"));
            }
            uids.push(uid.clone());
            let op = graph.sink(&uid, &sink.name, sink.connector, &sink.input);
            if let Some(parallelism) = sink.parallelism {
                graph.set_parallelism(&op, parallelism);
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        if uids.is_empty() {
            return Err("the job's pipeline has no operators: read a source and write to a sink".into());
        }
        Ok(graph.build())
    }

    fn into_operator(self, function: &str) -> Result<Box<dyn Operator>, String> {
        let mut inner = self.inner.borrow_mut();
        if !inner.errors.is_empty() {
            return Err(inner.errors.join("; "));
        }
        inner.operator.take().ok_or_else(|| format!("this job has no operator with uid '{function}'"))
    }
}

/// A stream of `T` records (Flink's `DataStream<T>`).
pub struct DataStream<T> {
    env: Rc<RefCell<Inner>>,
    pending: Pending<T>,
    /// Once a side output was read: the keyed function's operator, whose outputs this stream's
    /// main records and the side outputs are read from.
    split: Option<Split>,
}

/// A keyed function's operator whose side outputs are read.
struct Split {
    op: OperatorRef,
    sides: SideOutputs,
    parallelism: Option<u32>,
}

/// A stream that is an edge from `op`, keeping the records of output `tag`.
fn tagged_pending<T: Data>(split: &Split, tag: u8, name: &str) -> Pending<T> {
    Pending {
        uid: None,
        names: vec![name.to_string()],
        base: if tag == 0 { "main-output" } else { "side-output" },
        kind: PendingKind::Transform(vec![(split.op.clone(), ShipStrategy::Forward)]),
        parallelism: split.parallelism,
        sides: None,
        build: Box::new(move |next| Box::new(TaggedHead::new(tag, next))),
    }
}

impl<T: 'static> DataStream<T> {
    fn new(env: &Rc<RefCell<Inner>>, pending: Pending<T>) -> Self {
        DataStream { env: Rc::clone(env), pending, split: None }
    }

    /// Adds a stage to the operator's chain: `stage` turns the chain's downstream into this
    /// stage's input.
    fn chain<U: 'static>(
        self,
        name: &str,
        stage: impl FnOnce(Box<dyn Push<U>>) -> Box<dyn Push<T>> + 'static,
    ) -> DataStream<U> {
        let Pending { uid, mut names, base, kind, parallelism, build, .. } = self.pending;
        names.push(name.to_string());
        let build = move |next: Box<dyn Push<U>>| build(stage(next));
        // Side outputs come from the function itself: once a stage follows it, they are gone.
        let sides = None;
        let pending = Pending { uid, names, base, kind, parallelism, sides, build: Box::new(build) };
        DataStream { env: self.env, pending, split: None }
    }

    /// Sets the uid of the operator this stream's records come from (keyed state is matched by
    /// it across savepoints and upgrades).
    pub fn uid(mut self, uid: &str) -> Self {
        self.pending.uid = Some(uid.to_string());
        self
    }

    /// Names the last stage (shown in the REST API and the web UI).
    pub fn name(mut self, name: &str) -> Self {
        if let Some(last) = self.pending.names.last_mut() {
            *last = name.to_string();
        }
        self
    }

    /// Sets the parallelism of the operator this stream's records come from.
    pub fn set_parallelism(mut self, parallelism: u32) -> Self {
        self.pending.parallelism = Some(parallelism);
        self
    }

    /// Applies `f` to every record.
    pub fn map<U: 'static>(self, mut f: impl FnMut(T) -> U + 'static) -> DataStream<U> {
        self.chain("Map", move |mut next: Box<dyn Push<U>>| stage(move |v: T, ts, out| next.push(f(v), ts, out)))
    }

    /// Keeps the records for which `f` is true.
    pub fn filter(self, mut f: impl FnMut(&T) -> bool + 'static) -> DataStream<T> {
        self.chain("Filter", move |mut next: Box<dyn Push<T>>| {
            stage(move |v: T, ts, out| if f(&v) { next.push(v, ts, out) } else { Ok(()) })
        })
    }

    /// Replaces every record by the records `f` returns for it.
    pub fn flat_map<U: 'static, I: IntoIterator<Item = U>>(self, mut f: impl FnMut(T) -> I + 'static) -> DataStream<U> {
        self.chain("Flat Map", move |mut next: Box<dyn Push<U>>| {
            stage(move |v: T, ts, out| {
                for u in f(v) {
                    next.push(u, ts, out)?;
                }
                Ok(())
            })
        })
    }

    /// Sets every record's event-time timestamp (ms since the epoch) to `f(record)`. Directly
    /// after a source, so that the source's watermarks follow these timestamps.
    pub fn assign_timestamps(self, mut f: impl FnMut(&T) -> i64 + 'static) -> DataStream<T> {
        self.chain("Timestamps", move |mut next: Box<dyn Push<T>>| {
            stage(move |v: T, _ts, out| {
                let ts = f(&v);
                next.push(v, ts, out)
            })
        })
    }

    /// Partitions the stream by the key `f` selects (Flink's `keyBy`): records of one key go to
    /// one subtask, where keyed state and timers are scoped to it.
    pub fn key_by<K: Codec + 'static>(self, f: impl FnMut(&T) -> K + 'static) -> KeyedStream<K, T> {
        KeyedStream { stream: self, key: Box::new(f) }
    }

    /// Writes the stream to `sink` in `format`.
    pub fn sink_to(self, sink: impl Sink, format: impl SerializationSchema<T>) -> StreamSink {
        let (connector, name) = sink.connector();
        self.add_sink(connector, name, || operators::format_encoder(format))
    }

    /// Prints every record's `Display` as a line on the TaskManager's standard output (Flink's
    /// `print()`).
    pub fn print(self) -> StreamSink
    where
        T: std::fmt::Display,
    {
        self.add_sink(SinkConnector::Print, "Print to Std. Out".into(), operators::display_encoder)
    }

    /// Drops every record (for measuring).
    pub fn discard(self) -> StreamSink {
        // Empty records still reach the sink, so its metrics count what the job produced.
        let end = || {
            stage(|_: T, timestamp, out: &mut Output| {
                out.emit(timestamp, b"", b"");
                Ok(())
            })
        };
        self.add_sink(SinkConnector::Discard, "Discard".into(), end)
    }

    fn add_sink(self, connector: SinkConnector, name: String, end: impl FnOnce() -> Box<dyn Push<T>>) -> StreamSink {
        let env = self.env;
        let mut inner = env.borrow_mut();
        // The sink is fed over a forward edge: it runs at its input's parallelism.
        let parallelism = self.pending.parallelism;
        let input = inner.materialize(self.pending, end);
        let index = inner.next_index;
        inner.next_index += 1;
        inner.sinks.push(PendingSink { uid: None, name, connector, input, index, parallelism });
        let position = inner.sinks.len() - 1;
        drop(inner);
        StreamSink { env, position }
    }
}

impl<T: Data> DataStream<T> {
    /// Ends this operator's chain here: its records go to the operator built by `head`.
    fn boundary<U: 'static>(
        self,
        strategy: ShipStrategy,
        others: Vec<DataStream<T>>,
        names: (&'static str, &str),
        head: impl FnOnce(Box<dyn Push<U>>) -> Box<dyn Operator> + 'static,
    ) -> DataStream<U> {
        let env = Rc::clone(&self.env);
        let mut inputs = Vec::new();
        {
            let mut inner = env.borrow_mut();
            for stream in std::iter::once(self).chain(others) {
                inputs.push((inner.materialize(stream.pending, operators::wire_encoder::<T>), strategy));
            }
        }
        let pending = Pending {
            uid: None,
            names: vec![names.1.to_string()],
            base: names.0,
            kind: PendingKind::Transform(inputs),
            parallelism: None,
            sides: None,
            build: Box::new(head),
        };
        DataStream::new(&env, pending)
    }

    /// The records the keyed function emitted to side output `tag` (Flink's
    /// `getSideOutput`). Call it on the stream `process` returned, before chaining anything
    /// after it. The function's operator then sends its main records and each side output to
    /// operators of their own, over forward edges.
    pub fn get_side_output<X: Data>(&mut self, tag: &OutputTag<X>) -> DataStream<X> {
        let split = match self.split.take() {
            Some(split) => split,
            None => {
                let Some(sides) = self.pending.sides.clone() else {
                    self.env.borrow_mut().errors.push(format!(
                        "side output '{}' is read from a stream that is not a keyed function's output: call \
                         get_side_output on what process returned, before map, filter or other stages",
                        tag.id()
                    ));
                    return DataStream::new(&self.env, Pending::placeholder());
                };
                let parallelism = self.pending.parallelism;
                let function = std::mem::replace(&mut self.pending, Pending::placeholder());
                let op = self.env.borrow_mut().materialize(function, || operators::tagged_wire_encoder::<T>(0));
                let split = Split { op, sides, parallelism };
                self.pending = tagged_pending(&split, 0, "Main Output");
                split
            }
        };
        let tag_byte = split.sides.register(tag.id()).unwrap_or_else(|e| {
            self.env.borrow_mut().errors.push(e);
            0
        });
        let side = DataStream::new(&self.env, tagged_pending(&split, tag_byte, tag.id()));
        self.split = Some(split);
        side
    }

    /// Windows over the whole stream (Flink's `windowAll`): every record goes to one subtask
    /// (keyed by the constant `0u32`), which the window's functions see as the key.
    pub fn window_all<A: WindowAssigner>(self, assigner: A) -> WindowedStream<u32, T, A> {
        self.key_by(|_| 0u32).window(assigner)
    }

    /// Sends every record to every subtask of the operator it is connected to (Flink's
    /// `broadcast()`); see [`KeyedStream::connect_broadcast`].
    pub fn broadcast(self) -> BroadcastStream<T> {
        BroadcastStream { stream: self }
    }

    /// Merges this stream with `others` of the same type (Flink's `union`).
    pub fn union(self, others: impl IntoIterator<Item = DataStream<T>>) -> DataStream<T> {
        let others = others.into_iter().collect();
        self.boundary(ShipStrategy::Rebalance, others, ("union", "Union"), |next| Box::new(WireHead::new(next)))
    }

    /// Spreads the records round-robin over the next operator's subtasks (Flink's `rebalance`).
    pub fn rebalance(self) -> DataStream<T> {
        self.boundary(ShipStrategy::Rebalance, Vec::new(), ("rebalance", "Rebalance"), |next| {
            Box::new(WireHead::new(next))
        })
    }
}

/// A handle on a sink, to set its uid and name.
pub struct StreamSink {
    env: Rc<RefCell<Inner>>,
    position: usize,
}

impl StreamSink {
    /// Sets the sink's uid.
    pub fn uid(self, uid: &str) -> Self {
        if let Some(sink) = self.env.borrow_mut().sinks.get_mut(self.position) {
            sink.uid = Some(uid.to_string());
        }
        self
    }

    /// Sets the sink's name.
    pub fn name(self, name: &str) -> Self {
        if let Some(sink) = self.env.borrow_mut().sinks.get_mut(self.position) {
            sink.name = name.to_string();
        }
        self
    }
}

/// A stream partitioned by a key of type `K` (Flink's `KeyedStream<T, K>`).
pub struct KeyedStream<K, T> {
    stream: DataStream<T>,
    key: Box<dyn FnMut(&T) -> K>,
}

impl<K: Codec + 'static, T: Data> KeyedStream<K, T> {
    /// Ends the upstream chain with the keyed encoder and returns the edge into the next
    /// operator.
    fn into_input(self) -> (Rc<RefCell<Inner>>, (OperatorRef, ShipStrategy)) {
        self.into_input_with(true)
    }

    /// [`into_input`](Self::into_input); without `values`, records cross the exchange as their
    /// keys alone (for an operator that never reads them).
    fn into_input_with(self, values: bool) -> (Rc<RefCell<Inner>>, (OperatorRef, ShipStrategy)) {
        let KeyedStream { stream, key } = self;
        let env = stream.env;
        let input = env.borrow_mut().materialize(stream.pending, move || operators::keyed_wire_encoder(key, values));
        (env, (input, ShipStrategy::Hash))
    }

    fn keyed<U: 'static>(
        self,
        names: (&'static str, &str),
        head: impl FnOnce(Box<dyn Push<U>>, SideWriter) -> Box<dyn Operator> + 'static,
    ) -> DataStream<U> {
        self.keyed_with(names, true, head)
    }

    /// [`keyed`](Self::keyed); without `values`, the operator gets its records' keys alone.
    fn keyed_with<U: 'static>(
        self,
        names: (&'static str, &str),
        values: bool,
        head: impl FnOnce(Box<dyn Push<U>>, SideWriter) -> Box<dyn Operator> + 'static,
    ) -> DataStream<U> {
        let (env, input) = self.into_input_with(values);
        let sides = SideOutputs::default();
        let writer = SideWriter::new(sides.clone());
        let pending = Pending {
            uid: None,
            names: vec![names.1.to_string()],
            base: names.0,
            kind: PendingKind::Transform(vec![input]),
            parallelism: None,
            sides: Some(sides),
            build: Box::new(move |next| head(next, writer)),
        };
        DataStream::new(&env, pending)
    }

    /// Runs `function` on every record, with state and timers scoped to the record's key
    /// (Flink's `keyBy(..).process(..)`).
    pub fn process<O: 'static>(self, function: impl KeyedProcessFunction<K, T, O>) -> DataStream<O> {
        self.keyed(("process", "KeyedProcess"), move |next, sides| Box::new(KeyedHead::new(function, next, sides)))
    }

    /// Emits, for every record, the key's running reduction of all its records so far (Flink's
    /// `keyBy(..).reduce(..)`); the value is kept in state `reduce`.
    pub fn reduce(self, f: impl FnMut(T, T) -> T + 'static) -> DataStream<T> {
        self.keyed(("reduce", "Keyed Reduce"), move |next, sides| {
            Box::new(KeyedHead::<K, T, T, _>::new(Reduce { state: state::ValueState::new("reduce"), f }, next, sides))
        })
    }

    /// Connects this stream to `other`, keyed the same way, for a [`KeyedCoProcessFunction`]
    /// (Flink's `connect`).
    pub fn connect<U: Data>(self, other: KeyedStream<K, U>) -> ConnectedStreams<K, T, U> {
        ConnectedStreams { first: self, second: other }
    }

    /// Connects this stream to a broadcast stream, for a [`KeyedBroadcastProcessFunction`]
    /// (Flink's `keyedStream.connect(broadcastStream)`).
    pub fn connect_broadcast<B: Data>(self, broadcast: BroadcastStream<B>) -> BroadcastConnectedStream<K, T, B> {
        BroadcastConnectedStream { keyed: self, broadcast }
    }

    /// Groups each key's records into windows (Flink's `keyBy(..).window(..)`).
    pub fn window<A: WindowAssigner>(self, assigner: A) -> WindowedStream<K, T, A> {
        WindowedStream::new(self, assigner)
    }
}

/// Two keyed streams with the same key type, processed together (Flink's
/// `ConnectedStreams`).
pub struct ConnectedStreams<K, T, U> {
    first: KeyedStream<K, T>,
    second: KeyedStream<K, U>,
}

impl<K: Codec + 'static, T: Data, U: Data> ConnectedStreams<K, T, U> {
    /// Runs `function` on the records of both streams, with state and timers scoped to the key.
    pub fn process<O: 'static>(self, function: impl KeyedCoProcessFunction<K, T, U, O>) -> DataStream<O> {
        let (env, first) = self.first.into_input();
        let (_, second) = self.second.into_input();
        let sides = SideOutputs::default();
        let writer = SideWriter::new(sides.clone());
        let build =
            move |next: Box<dyn Push<O>>| -> Box<dyn Operator> { Box::new(KeyedCoHead::new(function, next, writer)) };
        let pending = Pending {
            uid: None,
            names: vec!["KeyedCoProcess".to_string()],
            base: "co-process",
            kind: PendingKind::Transform(vec![first, second]),
            parallelism: None,
            sides: Some(sides),
            build: Box::new(build),
        };
        DataStream::new(&env, pending)
    }
}

/// The function behind [`KeyedStream::reduce`].
struct Reduce<T, F> {
    state: state::ValueState<T>,
    f: F,
}

impl<K, T: Data, F: FnMut(T, T) -> T + 'static> KeyedProcessFunction<K, T, T> for Reduce<T, F> {
    fn process_element(
        &mut self,
        value: T,
        _ctx: &mut Context<'_, K>,
        out: &mut Collector<'_, T>,
    ) -> Result<(), String> {
        let next = match self.state.value()? {
            Some(current) => (self.f)(current, value),
            None => value,
        };
        self.state.update(&next)?;
        out.collect(next);
        Ok(())
    }
}

/// A stream whose records every subtask of the next operator receives (Flink's
/// `BroadcastStream`).
pub struct BroadcastStream<T> {
    stream: DataStream<T>,
}

/// A keyed stream connected to a broadcast stream (Flink's `BroadcastConnectedStream`).
pub struct BroadcastConnectedStream<K, T, B> {
    keyed: KeyedStream<K, T>,
    broadcast: BroadcastStream<B>,
}

impl<K: Codec + 'static, T: Data, B: Data> BroadcastConnectedStream<K, T, B> {
    /// Runs `function`: keyed records with their key's state and timers, broadcast records
    /// into the broadcast state every subtask holds.
    pub fn process<O: 'static>(self, function: impl KeyedBroadcastProcessFunction<K, T, B, O>) -> DataStream<O> {
        let (env, keyed) = self.keyed.into_input();
        let broadcast = {
            let mut inner = env.borrow_mut();
            let max_parallelism = inner.max_parallelism;
            let stream = self.broadcast.stream;
            let op = inner.materialize(stream.pending, move || broadcast::broadcast_encoder::<B>(max_parallelism));
            (op, ShipStrategy::Hash)
        };
        let sides = SideOutputs::default();
        let writer = SideWriter::new(sides.clone());
        let build = move |next: Box<dyn Push<O>>| -> Box<dyn Operator> {
            Box::new(broadcast::BroadcastHead::new(function, next, writer))
        };
        let pending = Pending {
            uid: None,
            names: vec!["KeyedBroadcastProcess".to_string()],
            base: "broadcast-process",
            kind: PendingKind::Transform(vec![keyed, broadcast]),
            parallelism: None,
            sides: Some(sides),
            build: Box::new(build),
        };
        DataStream::new(&env, pending)
    }
}
