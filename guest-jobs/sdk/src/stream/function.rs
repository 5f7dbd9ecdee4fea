//! The user functions of keyed operators (Flink's `KeyedProcessFunction` and
//! `KeyedCoProcessFunction`), the context they see, the collector they emit into, and side
//! outputs ([`OutputTag`]).

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use serde::Serialize;

use super::format::encode_wire;
use crate::Output;
use crate::time::{self, MIN_TIMESTAMP, TimeDomain};

/// Names a side output of type `T` (Flink's `OutputTag<T>`): a function emits into it with
/// [`Collector::output`], and [`DataStream::get_side_output`](super::DataStream::get_side_output)
/// reads it.
pub struct OutputTag<T> {
    id: String,
    _type: PhantomData<fn(T)>,
}

impl<T> OutputTag<T> {
    /// The side output called `id` (unique within the operator).
    pub fn new(id: &str) -> Self {
        OutputTag { id: id.to_string(), _type: PhantomData }
    }

    /// The tag's name.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl<T> Clone for OutputTag<T> {
    fn clone(&self) -> Self {
        OutputTag::new(&self.id)
    }
}

/// The side outputs an operator's downstream reads, in the order they were asked for: the
/// `n`-th goes out with tag byte `n + 1` (main records with 0), once any is read. Shared with
/// the pipeline builder, which adds to it when `get_side_output` is called.
#[derive(Clone, Default)]
pub(crate) struct SideOutputs {
    tags: Rc<RefCell<Vec<String>>>,
}

impl SideOutputs {
    /// The tag byte of side output `id`, registering it.
    pub(crate) fn register(&self, id: &str) -> Result<u8, String> {
        let mut tags = self.tags.borrow_mut();
        let index = match tags.iter().position(|t| t == id) {
            Some(index) => index,
            None => {
                tags.push(id.to_string());
                tags.len() - 1
            }
        };
        u8::try_from(index + 1).map_err(|_| "an operator has more than 254 side outputs".to_string())
    }

    fn tag_of(&self, id: &str) -> Option<u8> {
        let index = self.tags.borrow().iter().position(|t| t == id)?;
        u8::try_from(index + 1).ok()
    }
}

/// Writes side-output records: the tag byte, then the record as between operators.
pub(crate) struct SideWriter {
    outputs: SideOutputs,
    scratch: Vec<u8>,
}

impl SideWriter {
    pub(crate) fn new(outputs: SideOutputs) -> Self {
        SideWriter { outputs, scratch: Vec::new() }
    }

    /// Emits `value` to side output `id`; nothing when no one reads it (as Flink drops it).
    pub(crate) fn write<X: Serialize>(
        &mut self,
        id: &str,
        value: &X,
        timestamp: i64,
        out: &mut Output,
    ) -> Result<(), String> {
        let Some(tag) = self.outputs.tag_of(id) else { return Ok(()) };
        self.scratch.clear();
        self.scratch.push(tag);
        encode_wire(value, &mut self.scratch)?;
        out.emit(timestamp, b"", &self.scratch);
        Ok(())
    }
}

/// Where a stage of a chain hands its records: the next stage, or the encoder at the chain's
/// end that writes them into the operator's output.
pub(crate) trait Push<T> {
    /// Hands one record with its timestamp ([`MIN_TIMESTAMP`] for none) to the next stage.
    fn push(&mut self, value: T, timestamp: i64, out: &mut Output) -> Result<(), String>;
}

/// Emits a function's records downstream (Flink's `Collector`). Records keep the timestamp of
/// the input record (or of the event-time timer) being processed, unless given another.
pub struct Collector<'a, O> {
    next: &'a mut dyn Push<O>,
    out: &'a mut Output,
    timestamp: i64,
    error: Option<String>,
    sides: Option<&'a mut SideWriter>,
}

impl<'a, O> Collector<'a, O> {
    pub(crate) fn new(
        next: &'a mut dyn Push<O>,
        out: &'a mut Output,
        timestamp: i64,
        sides: Option<&'a mut SideWriter>,
    ) -> Self {
        Collector { next, out, timestamp, error: None, sides }
    }

    /// Emits a record to the side output `tag`, with the current timestamp (Flink's
    /// `ctx.output(tag, value)`). Dropped when nothing reads that side output.
    pub fn output<X: Serialize>(&mut self, tag: &OutputTag<X>, value: X) {
        let Some(sides) = self.sides.as_deref_mut() else { return };
        if self.error.is_none()
            && let Err(e) = sides.write(&tag.id, &value, self.timestamp, self.out)
        {
            self.error = Some(e);
        }
    }

    /// Emits a record.
    pub fn collect(&mut self, value: O) {
        self.collect_with_timestamp(value, self.timestamp);
    }

    /// Emits a record with the given timestamp.
    pub fn collect_with_timestamp(&mut self, value: O, timestamp: i64) {
        if self.error.is_none()
            && let Err(e) = self.next.push(value, timestamp, self.out)
        {
            self.error = Some(e);
        }
    }

    /// The first error a downstream stage returned, which fails the call.
    pub(crate) fn finish(self) -> Result<(), String> {
        self.error.map_or(Ok(()), Err)
    }
}

/// What a keyed function knows about the record or timer it is called for, and its timers
/// (Flink's `KeyedProcessFunction.Context` with its `TimerService`). State handles
/// ([`super::state`]) read and write the same current key.
pub struct Context<'a, K> {
    key: &'a K,
    key_bytes: &'a [u8],
    timestamp: i64,
    domain: Option<TimeDomain>,
}

impl<'a, K> Context<'a, K> {
    pub(crate) fn new(key: &'a K, key_bytes: &'a [u8], timestamp: i64, domain: Option<TimeDomain>) -> Self {
        Context { key, key_bytes, timestamp, domain }
    }

    /// The key of the record or timer being processed.
    pub fn current_key(&self) -> &K {
        self.key
    }

    /// The record's timestamp (the timer's time in `on_timer`); `None` when it has none.
    pub fn timestamp(&self) -> Option<i64> {
        (self.timestamp != MIN_TIMESTAMP).then_some(self.timestamp)
    }

    /// In `on_timer`, which clock the timer was set on; `None` in `process_element`.
    pub fn time_domain(&self) -> Option<TimeDomain> {
        self.domain
    }

    /// The operator's current event-time watermark.
    pub fn current_watermark(&self) -> i64 {
        time::current_watermark()
    }

    /// The subtask's processing time (the wall clock, in ms since the epoch).
    pub fn current_processing_time(&self) -> i64 {
        time::current_processing_time()
    }

    /// Calls `on_timer` for the current key once the watermark reaches `time`.
    pub fn register_event_time_timer(&self, time: i64) {
        time::register_timer(TimeDomain::EventTime, self.key_bytes, b"", time);
    }

    /// Calls `on_timer` for the current key once the wall clock reaches `time`.
    pub fn register_processing_time_timer(&self, time: i64) {
        time::register_timer(TimeDomain::ProcessingTime, self.key_bytes, b"", time);
    }

    /// Deletes the current key's event-time timer at `time`.
    pub fn delete_event_time_timer(&self, time: i64) {
        time::delete_timer(TimeDomain::EventTime, self.key_bytes, b"", time);
    }

    /// Deletes the current key's processing-time timer at `time`.
    pub fn delete_processing_time_timer(&self, time: i64) {
        time::delete_timer(TimeDomain::ProcessingTime, self.key_bytes, b"", time);
    }
}

/// A function over a keyed stream with per-key state and timers (Flink's
/// `KeyedProcessFunction<K, I, O>`).
///
/// ```no_run
/// use weir_sdk::stream::{Collector, Context, KeyedProcessFunction, state::ValueState};
///
/// /// Counts the words seen per word and emits the running count.
/// struct CountWords {
///     count: ValueState<u64>,
/// }
///
/// impl KeyedProcessFunction<String, String, (String, u64)> for CountWords {
///     fn process_element(
///         &mut self,
///         word: String,
///         _ctx: &mut Context<'_, String>,
///         out: &mut Collector<'_, (String, u64)>,
///     ) -> Result<(), String> {
///         let count = self.count.value()?.unwrap_or(0) + 1;
///         self.count.update(&count)?;
///         out.collect((word, count));
///         Ok(())
///     }
/// }
/// ```
pub trait KeyedProcessFunction<K, I, O>: 'static {
    /// Processes one record of the current key.
    fn process_element(&mut self, value: I, ctx: &mut Context<'_, K>, out: &mut Collector<'_, O>)
    -> Result<(), String>;

    /// A timer registered for the current key fired at `timestamp`.
    fn on_timer(&mut self, timestamp: i64, ctx: &mut Context<'_, K>, out: &mut Collector<'_, O>) -> Result<(), String> {
        let _ = (timestamp, ctx, out);
        Ok(())
    }
}

/// A function over two connected keyed streams sharing the key type, with per-key state and
/// timers (Flink's `KeyedCoProcessFunction<K, I1, I2, O>`): joins and enrichments.
pub trait KeyedCoProcessFunction<K, I1, I2, O>: 'static {
    /// Processes a record of the first stream.
    fn process_element1(
        &mut self,
        value: I1,
        ctx: &mut Context<'_, K>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), String>;

    /// Processes a record of the second stream.
    fn process_element2(
        &mut self,
        value: I2,
        ctx: &mut Context<'_, K>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), String>;

    /// A timer registered for the current key fired at `timestamp`.
    fn on_timer(&mut self, timestamp: i64, ctx: &mut Context<'_, K>, out: &mut Collector<'_, O>) -> Result<(), String> {
        let _ = (timestamp, ctx, out);
        Ok(())
    }
}
