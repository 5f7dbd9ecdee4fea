//! The user functions of keyed operators (Flink's `KeyedProcessFunction` and
//! `KeyedCoProcessFunction`), the context they see, and the collector they emit into.

use crate::Output;
use crate::time::{self, MIN_TIMESTAMP, TimeDomain};

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
}

impl<'a, O> Collector<'a, O> {
    pub(crate) fn new(next: &'a mut dyn Push<O>, out: &'a mut Output, timestamp: i64) -> Self {
        Collector { next, out, timestamp, error: None }
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
