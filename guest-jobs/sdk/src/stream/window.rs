//! Windows over a keyed stream (Flink's `keyBy(..).window(..)`): tumbling and sliding, in event
//! or processing time, with `reduce`, `aggregate` and `process` over each window's records, and
//! allowed lateness.
//!
//! Each key's open windows are one map state (`window-contents`: window end → accumulator, or
//! the window's records for `process`); a timer at a window's last millisecond fires it. In event
//! time a record whose window ended more than the allowed lateness before the watermark is
//! dropped and counted in `numLateRecordsDropped`; a record within the lateness updates its
//! window and fires it again, as Flink's window operator does.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::marker::PhantomData;

use super::format::decode_wire;
use super::function::{Collector, Push};
use super::operators::{keyed_call, timer_output_timestamp};
use super::state::{AggregateFunction, MapState};
use super::{Data, DataStream, KeyedStream};
use crate::hash::FxBuildHasher;
use crate::metrics::Counter;
use crate::state::Codec;
use crate::time::{self, MIN_TIMESTAMP, TimeDomain, Timer};
use crate::{Operator, Output, Records};

pub use crate::window::Window;

/// The name of the map state holding each key's open windows.
const CONTENTS: &str = "window-contents";

/// Which windows a record belongs to (Flink's `WindowAssigner`).
pub trait WindowAssigner: 'static {
    /// Appends the windows holding `timestamp` to `windows`.
    fn assign(&self, timestamp: i64, windows: &mut Vec<Window>);
    /// The window that ends at `end`.
    fn window_ending(&self, end: i64) -> Window;
    /// The clock the windows follow.
    fn domain(&self) -> TimeDomain;
}

/// The start of the window of `size` (shifted by `offset`) holding `timestamp`, as Flink's
/// `TimeWindow.getWindowStartWithOffset`.
fn window_start(timestamp: i64, offset: i64, size: i64) -> i64 {
    timestamp - (timestamp - offset).rem_euclid(size)
}

/// Fixed-size, non-overlapping windows (Flink's `TumblingEventTimeWindows` and
/// `TumblingProcessingTimeWindows`).
#[derive(Clone, Copy, Debug)]
pub struct TumblingWindows {
    size: i64,
    offset: i64,
    domain: TimeDomain,
}

impl TumblingWindows {
    /// Windows of `size_ms` in event time.
    pub fn of_event_time(size_ms: i64) -> Self {
        TumblingWindows { size: size_ms.max(1), offset: 0, domain: TimeDomain::EventTime }
    }

    /// Windows of `size_ms` in processing time.
    pub fn of_processing_time(size_ms: i64) -> Self {
        TumblingWindows { size: size_ms.max(1), offset: 0, domain: TimeDomain::ProcessingTime }
    }

    /// Shifts the windows by `offset_ms` (for example to align days to a time zone).
    pub fn with_offset(mut self, offset_ms: i64) -> Self {
        self.offset = offset_ms.rem_euclid(self.size);
        self
    }
}

impl WindowAssigner for TumblingWindows {
    fn assign(&self, timestamp: i64, windows: &mut Vec<Window>) {
        let start = window_start(timestamp, self.offset, self.size);
        windows.push(Window { start, end: start.saturating_add(self.size) });
    }

    fn window_ending(&self, end: i64) -> Window {
        Window { start: end.saturating_sub(self.size), end }
    }

    fn domain(&self) -> TimeDomain {
        self.domain
    }
}

/// Fixed-size windows starting every `slide` (Flink's `SlidingEventTimeWindows` and
/// `SlidingProcessingTimeWindows`): a record belongs to `size / slide` windows.
#[derive(Clone, Copy, Debug)]
pub struct SlidingWindows {
    size: i64,
    slide: i64,
    domain: TimeDomain,
}

impl SlidingWindows {
    /// Windows of `size_ms` every `slide_ms`, in event time.
    pub fn of_event_time(size_ms: i64, slide_ms: i64) -> Self {
        SlidingWindows { size: size_ms.max(1), slide: slide_ms.max(1), domain: TimeDomain::EventTime }
    }

    /// Windows of `size_ms` every `slide_ms`, in processing time.
    pub fn of_processing_time(size_ms: i64, slide_ms: i64) -> Self {
        SlidingWindows { size: size_ms.max(1), slide: slide_ms.max(1), domain: TimeDomain::ProcessingTime }
    }
}

impl WindowAssigner for SlidingWindows {
    fn assign(&self, timestamp: i64, windows: &mut Vec<Window>) {
        let mut start = window_start(timestamp, 0, self.slide);
        while start > timestamp.saturating_sub(self.size) {
            windows.push(Window { start, end: start.saturating_add(self.size) });
            start = start.saturating_sub(self.slide);
        }
    }

    fn window_ending(&self, end: i64) -> Window {
        Window { start: end.saturating_sub(self.size), end }
    }

    fn domain(&self) -> TimeDomain {
        self.domain
    }
}

/// What a window keeps and what it emits when it fires.
trait WindowFold<K, T, O>: 'static {
    type Acc: Data;
    fn create(&self) -> Self::Acc;
    fn add(&mut self, acc: Self::Acc, value: T) -> Self::Acc;
    /// Combines what a batch gathered (`b`) with what the window held (`a`).
    fn merge(&mut self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
    fn emit(&mut self, key: &K, window: Window, acc: &Self::Acc, out: &mut Collector<'_, O>) -> Result<(), String>;
}

/// A batch's accumulators per key (encoded) and window end, merged into state once per batch.
type BatchWindows<Acc> = HashMap<Vec<u8>, Vec<(i64, Acc)>, FxBuildHasher>;

/// The operator behind every windowed stream. A batch's records are first folded per (key,
/// window) in memory, then merged into the key's state once per batch: a batch of thousands of
/// records of a few keys costs a handful of state calls.
struct WindowOperator<K, T, O, A, F: WindowFold<K, T, O>> {
    assigner: A,
    allowed_lateness: i64,
    fold: F,
    contents: MapState<i64, F::Acc>,
    late: OnceCell<Counter>,
    next: Box<dyn Push<O>>,
    batch: BatchWindows<F::Acc>,
    /// The windows of the record being gathered (kept to reuse its allocation).
    assigned: Vec<Window>,
    _types: PhantomData<fn(K, T)>,
}

impl<K, T, O, A, F> WindowOperator<K, T, O, A, F>
where
    K: Codec + 'static,
    T: Data + Clone,
    O: 'static,
    A: WindowAssigner,
    F: WindowFold<K, T, O>,
{
    fn new(assigner: A, allowed_lateness: i64, fold: F, next: Box<dyn Push<O>>) -> Self {
        WindowOperator {
            assigner,
            allowed_lateness,
            fold,
            contents: MapState::new(CONTENTS),
            late: OnceCell::new(),
            next,
            batch: HashMap::default(),
            assigned: Vec::new(),
            _types: PhantomData,
        }
    }

    fn event_time(&self) -> bool {
        self.assigner.domain() == TimeDomain::EventTime
    }

    /// Folds one record into the batch's accumulators.
    fn gather(&mut self, key: &[u8], time: i64, watermark: i64, value: T) {
        let mut assigned = std::mem::take(&mut self.assigned);
        assigned.clear();
        self.assigner.assign(time, &mut assigned);
        let mut value = Some(value);
        let last = assigned.len().saturating_sub(1);
        for (i, &window) in assigned.iter().enumerate() {
            let cleanup = window.max_timestamp().saturating_add(self.allowed_lateness);
            if self.event_time() && cleanup <= watermark {
                self.late.get_or_init(|| Counter::new("numLateRecordsDropped")).inc(1);
                continue;
            }
            let windows = match self.batch.get_mut(key) {
                Some(windows) => windows,
                None => self.batch.entry(key.to_vec()).or_default(),
            };
            let index = match windows.iter().position(|(end, _)| *end == window.end) {
                Some(index) => index,
                None => {
                    windows.push((window.end, self.fold.create()));
                    windows.len() - 1
                }
            };
            // The last window takes the record itself; only sliding windows copy it.
            let record = if i == last { value.take() } else { value.clone() };
            let Some(record) = record else { break };
            let (_, acc) = &mut windows[index];
            let current = std::mem::replace(acc, self.fold.create());
            *acc = self.fold.add(current, record);
        }
        self.assigned = assigned;
    }

    /// Merges the batch's accumulators into state, registers the windows' timers, and fires
    /// windows a late record (within the allowed lateness) updated.
    fn flush(&mut self, watermark: i64, out: &mut Output) -> Result<(), String> {
        let event_time = self.event_time();
        let WindowOperator { assigner, allowed_lateness, fold, contents, next, batch, .. } = self;
        for (key, windows) in batch.drain() {
            keyed_call::<K, O>(&key, MIN_TIMESTAMP, MIN_TIMESTAMP, None, next.as_mut(), out, |ctx, c| {
                for (end, gathered) in windows {
                    let window = assigner.window_ending(end);
                    let merged = match contents.get(&end)? {
                        Some(stored) => fold.merge(stored, gathered),
                        None => gathered,
                    };
                    contents.put(&end, &merged)?;
                    let register = |time| match assigner.domain() {
                        TimeDomain::EventTime => ctx.register_event_time_timer(time),
                        TimeDomain::ProcessingTime => ctx.register_processing_time_timer(time),
                    };
                    if event_time && window.max_timestamp() <= watermark {
                        fold.emit(ctx.current_key(), window, &merged, c)?;
                    } else {
                        register(window.max_timestamp());
                    }
                    if *allowed_lateness > 0 && event_time {
                        register(window.max_timestamp().saturating_add(*allowed_lateness));
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}

impl<K, T, O, A, F> Operator for WindowOperator<K, T, O, A, F>
where
    K: Codec + 'static,
    T: Data + Clone,
    O: 'static,
    A: WindowAssigner,
    F: WindowFold<K, T, O>,
{
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        let watermark = time::current_watermark();
        // One clock reading per batch: the batch is processed in microseconds.
        let now = if self.event_time() { MIN_TIMESTAMP } else { time::current_processing_time() };
        for record in records {
            let value: T = decode_wire(record.value)?;
            let time = if !self.event_time() {
                now
            } else if record.timestamp == MIN_TIMESTAMP {
                return Err(
                    "an event-time window got a record without a timestamp: assign timestamps after the source".into(),
                );
            } else {
                record.timestamp
            };
            self.gather(record.key, time, watermark, value);
        }
        self.flush(watermark, out)
    }

    fn on_timers(&mut self, timers: Vec<Timer>, out: &mut Output) -> Result<(), String> {
        let event_time = self.event_time();
        let WindowOperator { assigner, allowed_lateness, fold, contents, next, .. } = self;
        for timer in timers {
            let output_timestamp = timer_output_timestamp(&timer);
            keyed_call::<K, O>(
                &timer.key,
                timer.time,
                output_timestamp,
                Some(timer.domain),
                next.as_mut(),
                out,
                |ctx, c| {
                    // The window whose last millisecond this is fires.
                    let fire = assigner.window_ending(timer.time.saturating_add(1));
                    if let Some(acc) = contents.get(&fire.end)? {
                        fold.emit(ctx.current_key(), fire, &acc, c)?;
                        if *allowed_lateness == 0 || !event_time {
                            contents.remove(&fire.end)?;
                        }
                    }
                    // The window whose lateness ends now is dropped.
                    if *allowed_lateness > 0 && event_time {
                        let end = timer.time.saturating_sub(*allowed_lateness).saturating_add(1);
                        contents.remove(&end)?;
                    }
                    Ok(())
                },
            )?;
        }
        Ok(())
    }
}

/// Each window's records are folded with a reduce function.
struct ReduceFold<T, F> {
    f: F,
    _type: PhantomData<fn(T)>,
}

impl<K: 'static, T: Data + Clone, F: FnMut(T, T) -> T + 'static> WindowFold<K, T, T> for ReduceFold<T, F> {
    type Acc = Option<T>;
    fn create(&self) -> Option<T> {
        None
    }
    fn add(&mut self, acc: Option<T>, value: T) -> Option<T> {
        Some(match acc {
            Some(acc) => (self.f)(acc, value),
            None => value,
        })
    }
    fn merge(&mut self, a: Option<T>, b: Option<T>) -> Option<T> {
        match (a, b) {
            (Some(a), Some(b)) => Some((self.f)(a, b)),
            (a, b) => a.or(b),
        }
    }
    fn emit(&mut self, _key: &K, window: Window, acc: &Option<T>, out: &mut Collector<'_, T>) -> Result<(), String> {
        if let Some(acc) = acc {
            out.collect_with_timestamp(acc.clone(), window.max_timestamp());
        }
        Ok(())
    }
}

/// Each window's records are aggregated, and `result` turns key, window and aggregate into the
/// output (Flink's `aggregate(AggregateFunction, ProcessWindowFunction)`).
struct AggregateFold<T, M, Agg, R> {
    aggregate: Agg,
    result: R,
    _types: PhantomData<fn(T) -> M>,
}

impl<K, T, M, O, Agg, R> WindowFold<K, T, O> for AggregateFold<T, M, Agg, R>
where
    K: 'static,
    T: 'static,
    M: 'static,
    O: 'static,
    Agg: AggregateFunction<T, M> + 'static,
    Agg::Acc: Data,
    R: FnMut(&K, Window, M) -> O + 'static,
{
    type Acc = Agg::Acc;
    fn create(&self) -> Agg::Acc {
        self.aggregate.create_accumulator()
    }
    fn add(&mut self, acc: Agg::Acc, value: T) -> Agg::Acc {
        self.aggregate.add(value, acc)
    }
    fn merge(&mut self, a: Agg::Acc, b: Agg::Acc) -> Agg::Acc {
        self.aggregate.merge(a, b)
    }
    fn emit(&mut self, key: &K, window: Window, acc: &Agg::Acc, out: &mut Collector<'_, O>) -> Result<(), String> {
        let result = (self.result)(key, window, self.aggregate.get_result(acc));
        out.collect_with_timestamp(result, window.max_timestamp());
        Ok(())
    }
}

/// Each window keeps its records, handed to `f` when it fires (Flink's
/// `process(ProcessWindowFunction)`).
struct ProcessFold<T, F> {
    f: F,
    _type: PhantomData<fn(T)>,
}

impl<K, T, O, F> WindowFold<K, T, O> for ProcessFold<T, F>
where
    K: 'static,
    T: Data + Clone,
    O: 'static,
    F: FnMut(&K, Window, &[T], &mut Collector<'_, O>) -> Result<(), String> + 'static,
{
    type Acc = Vec<T>;
    fn create(&self) -> Vec<T> {
        Vec::new()
    }
    fn add(&mut self, mut acc: Vec<T>, value: T) -> Vec<T> {
        acc.push(value);
        acc
    }
    fn merge(&mut self, mut a: Vec<T>, b: Vec<T>) -> Vec<T> {
        a.extend(b);
        a
    }
    fn emit(&mut self, key: &K, window: Window, acc: &Vec<T>, out: &mut Collector<'_, O>) -> Result<(), String> {
        (self.f)(key, window, acc, out)
    }
}

/// A keyed stream grouped into windows (Flink's `WindowedStream`).
pub struct WindowedStream<K, T, A> {
    keyed: KeyedStream<K, T>,
    assigner: A,
    allowed_lateness: i64,
}

impl<K, T, A> WindowedStream<K, T, A> {
    pub(super) fn new(keyed: KeyedStream<K, T>, assigner: A) -> Self {
        WindowedStream { keyed, assigner, allowed_lateness: 0 }
    }
}

impl<K: Codec + 'static, T: Data + Clone, A: WindowAssigner> WindowedStream<K, T, A> {
    /// Keeps event-time windows for `millis` after they end: a late record updates its window
    /// and fires it again (Flink's `allowedLateness`).
    pub fn allowed_lateness(mut self, millis: i64) -> Self {
        self.allowed_lateness = millis.max(0);
        self
    }

    fn run<O: 'static, F: WindowFold<K, T, O>>(self, name: &str, fold: F) -> DataStream<O> {
        let WindowedStream { keyed, assigner, allowed_lateness } = self;
        keyed.keyed(("window", name), move |next, _sides| {
            Box::new(WindowOperator::new(assigner, allowed_lateness, fold, next))
        })
    }

    /// Emits, per key and window, the reduction of the window's records (timestamped with the
    /// window's last millisecond).
    pub fn reduce(self, f: impl FnMut(T, T) -> T + 'static) -> DataStream<T> {
        self.run("Window(Reduce)", ReduceFold { f, _type: PhantomData })
    }

    /// Emits, per key and window, `result(key, window, aggregate)` of the window's records.
    pub fn aggregate<M: 'static, O: 'static, Agg>(
        self,
        aggregate: Agg,
        result: impl FnMut(&K, Window, M) -> O + 'static,
    ) -> DataStream<O>
    where
        Agg: AggregateFunction<T, M> + 'static,
        Agg::Acc: Data,
    {
        self.run("Window(Aggregate)", AggregateFold { aggregate, result, _types: PhantomData })
    }

    /// Calls `f` with each key's window and all its records when the window fires.
    pub fn process<O: 'static>(
        self,
        f: impl FnMut(&K, Window, &[T], &mut Collector<'_, O>) -> Result<(), String> + 'static,
    ) -> DataStream<O> {
        self.run("Window(Process)", ProcessFold { f, _type: PhantomData })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assign(assigner: &impl WindowAssigner, timestamp: i64) -> Vec<Window> {
        let mut windows = Vec::new();
        assigner.assign(timestamp, &mut windows);
        windows
    }

    #[test]
    fn tumbling_windows_hold_their_timestamps() {
        let w = TumblingWindows::of_event_time(1000);
        assert_eq!(assign(&w, 0), vec![Window { start: 0, end: 1000 }]);
        assert_eq!(assign(&w, 999), vec![Window { start: 0, end: 1000 }]);
        assert_eq!(assign(&w, 1000), vec![Window { start: 1000, end: 2000 }]);
        assert_eq!(assign(&w, -1), vec![Window { start: -1000, end: 0 }]);
        assert_eq!(w.window_ending(2000), Window { start: 1000, end: 2000 });
        let shifted = TumblingWindows::of_event_time(1000).with_offset(100);
        assert_eq!(assign(&shifted, 50), vec![Window { start: -900, end: 100 }]);
    }

    #[test]
    fn a_record_belongs_to_size_over_slide_sliding_windows() {
        let w = SlidingWindows::of_event_time(1000, 250);
        let windows = assign(&w, 1100);
        assert_eq!(windows.len(), 4);
        for window in &windows {
            assert!(window.start <= 1100 && 1100 < window.end, "{window:?}");
            assert_eq!(window.end - window.start, 1000);
        }
        assert_eq!(windows[0], Window { start: 1000, end: 2000 });
        assert_eq!(windows[3], Window { start: 250, end: 1250 });
    }
}
