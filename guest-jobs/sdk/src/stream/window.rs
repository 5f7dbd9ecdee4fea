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
use std::marker::PhantomData;

use super::function::{Collector, Context, KeyedProcessFunction};
use super::operators::KeyedHead;
use super::state::{AggregateFunction, MapState};
use super::{Data, DataStream, KeyedStream};
use crate::metrics::Counter;
use crate::state::Codec;
use crate::time::TimeDomain;

pub use crate::window::Window;

/// The name of the map state holding each key's open windows.
const CONTENTS: &str = "window-contents";

/// Which windows a record belongs to (Flink's `WindowAssigner`).
pub trait WindowAssigner: 'static {
    /// The windows holding `timestamp`.
    fn assign(&self, timestamp: i64) -> Vec<Window>;
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
    fn assign(&self, timestamp: i64) -> Vec<Window> {
        let start = window_start(timestamp, self.offset, self.size);
        vec![Window { start, end: start.saturating_add(self.size) }]
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
    fn assign(&self, timestamp: i64) -> Vec<Window> {
        let mut windows = Vec::new();
        let mut start = window_start(timestamp, 0, self.slide);
        while start > timestamp - self.size {
            windows.push(Window { start, end: start.saturating_add(self.size) });
            start -= self.slide;
        }
        windows
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
    fn emit(&mut self, key: &K, window: Window, acc: &Self::Acc, out: &mut Collector<'_, O>) -> Result<(), String>;
}

/// The keyed function behind every windowed stream.
struct WindowOperator<K, T, O, A, F: WindowFold<K, T, O>> {
    assigner: A,
    allowed_lateness: i64,
    fold: F,
    contents: MapState<i64, <F as WindowFold<K, T, O>>::Acc>,
    late: OnceCell<Counter>,
    _types: PhantomData<fn(K, T) -> O>,
}

impl<K, T, O, A, F> WindowOperator<K, T, O, A, F>
where
    K: 'static,
    T: Clone + 'static,
    O: 'static,
    A: WindowAssigner,
    F: WindowFold<K, T, O>,
{
    fn new(assigner: A, allowed_lateness: i64, fold: F) -> Self {
        WindowOperator {
            assigner,
            allowed_lateness,
            fold,
            contents: MapState::new(CONTENTS),
            late: OnceCell::new(),
            _types: PhantomData,
        }
    }

    fn event_time(&self) -> bool {
        self.assigner.domain() == TimeDomain::EventTime
    }

    fn register(&self, ctx: &Context<'_, K>, time: i64) {
        match self.assigner.domain() {
            TimeDomain::EventTime => ctx.register_event_time_timer(time),
            TimeDomain::ProcessingTime => ctx.register_processing_time_timer(time),
        }
    }
}

impl<K, T, O, A, F> KeyedProcessFunction<K, T, O> for WindowOperator<K, T, O, A, F>
where
    K: 'static,
    T: Clone + 'static,
    O: 'static,
    A: WindowAssigner,
    F: WindowFold<K, T, O>,
{
    fn process_element(
        &mut self,
        value: T,
        ctx: &mut Context<'_, K>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), String> {
        let time = if self.event_time() {
            ctx.timestamp()
                .ok_or("an event-time window got a record without a timestamp: assign timestamps after the source")?
        } else {
            ctx.current_processing_time()
        };
        let watermark = ctx.current_watermark();
        for window in self.assigner.assign(time) {
            let cleanup = window.max_timestamp().saturating_add(self.allowed_lateness);
            if self.event_time() && cleanup <= watermark {
                self.late.get_or_init(|| Counter::new("numLateRecordsDropped")).inc(1);
                continue;
            }
            let acc = self.contents.get(&window.end)?.unwrap_or_else(|| self.fold.create());
            let acc = self.fold.add(acc, value.clone());
            self.contents.put(&window.end, &acc)?;
            if self.event_time() && window.max_timestamp() <= watermark {
                // Late but within the allowed lateness: the window fires again with the record.
                let key = ctx.current_key();
                self.fold.emit(key, window, &acc, out)?;
            } else {
                self.register(ctx, window.max_timestamp());
            }
            if self.allowed_lateness > 0 {
                self.register(ctx, cleanup);
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, timestamp: i64, ctx: &mut Context<'_, K>, out: &mut Collector<'_, O>) -> Result<(), String> {
        // The window whose last millisecond this is fires.
        let fire = self.assigner.window_ending(timestamp.saturating_add(1));
        if let Some(acc) = self.contents.get(&fire.end)? {
            self.fold.emit(ctx.current_key(), fire, &acc, out)?;
            if self.allowed_lateness == 0 || !self.event_time() {
                self.contents.remove(&fire.end)?;
            }
        }
        // The window whose lateness ends now is dropped.
        if self.allowed_lateness > 0 && self.event_time() {
            let end = timestamp.saturating_sub(self.allowed_lateness).saturating_add(1);
            self.contents.remove(&end)?;
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
        keyed.keyed(("window", name), move |next| {
            Box::new(KeyedHead::new(WindowOperator::new(assigner, allowed_lateness, fold), next))
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

    #[test]
    fn tumbling_windows_hold_their_timestamps() {
        let w = TumblingWindows::of_event_time(1000);
        assert_eq!(w.assign(0), vec![Window { start: 0, end: 1000 }]);
        assert_eq!(w.assign(999), vec![Window { start: 0, end: 1000 }]);
        assert_eq!(w.assign(1000), vec![Window { start: 1000, end: 2000 }]);
        assert_eq!(w.assign(-1), vec![Window { start: -1000, end: 0 }]);
        assert_eq!(w.window_ending(2000), Window { start: 1000, end: 2000 });
        let shifted = TumblingWindows::of_event_time(1000).with_offset(100);
        assert_eq!(shifted.assign(50), vec![Window { start: -900, end: 100 }]);
    }

    #[test]
    fn a_record_belongs_to_size_over_slide_sliding_windows() {
        let w = SlidingWindows::of_event_time(1000, 250);
        let windows = w.assign(1100);
        assert_eq!(windows.len(), 4);
        for window in &windows {
            assert!(window.start <= 1100 && 1100 < window.end, "{window:?}");
            assert_eq!(window.end - window.start, 1000);
        }
        assert_eq!(windows[0], Window { start: 1000, end: 2000 });
        assert_eq!(windows[3], Window { start: 250, end: 1250 });
    }
}
