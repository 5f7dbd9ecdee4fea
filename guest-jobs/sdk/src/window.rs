//! Tumbling windows on keyed state and timers, as Flink's `TumblingEventTimeWindows` /
//! `TumblingProcessingTimeWindows` with an `AggregateFunction`.
//!
//! Each record is assigned to the window `[start, start + size)` that holds its timestamp (event
//! time) or the current wall clock (processing time). Records of a batch are first aggregated in
//! a small local map, then merged into the host's keyed state once per (key, window), so a batch
//! of thousands of records costs a handful of state calls. A timer at the window's last
//! millisecond fires it: the accumulator is handed to the caller and cleared. In event time a
//! record whose window has already fired (end - 1 <= watermark) is late: it is dropped and
//! counted in `numLateRecordsDropped`, as Flink's window operator does.

use std::collections::HashMap;

use crate::hash::FxBuildHasher;
use crate::metrics::Counter;
use crate::state::{Codec, ValueState};
use crate::time::{self, TimeDomain, Timer};
use crate::{Record, Records};

/// An incremental aggregation (Flink's `AggregateFunction`).
pub trait Aggregate {
    /// The accumulator kept per (key, window).
    type Acc: Codec;
    fn create(&self) -> Self::Acc;
    fn add(&self, acc: &mut Self::Acc, record: &Record<'_>);
    fn merge(&self, into: &mut Self::Acc, other: Self::Acc);
}

/// Counts records.
pub struct Count;

impl Aggregate for Count {
    type Acc = i64;
    fn create(&self) -> i64 {
        0
    }
    fn add(&self, acc: &mut i64, _record: &Record<'_>) {
        *acc += 1;
    }
    fn merge(&self, into: &mut i64, other: i64) {
        *into += other;
    }
}

/// A window, `[start, end)` in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Window {
    /// The last millisecond in the window: its timer's time and its results' timestamp.
    pub fn max_timestamp(&self) -> i64 {
        self.end - 1
    }
}

/// Keyed tumbling windows with an incremental aggregate.
pub struct TumblingWindows<A: Aggregate> {
    size_ms: i64,
    domain: TimeDomain,
    aggregate: A,
    state: ValueState<A::Acc>,
    late: Counter,
}

impl<A: Aggregate> TumblingWindows<A> {
    /// Windows of `size_ms` in `domain`, keeping accumulators in the value state `state_name`.
    pub fn new(state_name: &str, size_ms: i64, domain: TimeDomain, aggregate: A) -> Self {
        assert!(size_ms > 0, "window size must be positive");
        TumblingWindows {
            size_ms,
            domain,
            aggregate,
            state: ValueState::new(state_name),
            late: Counter::new("numLateRecordsDropped"),
        }
    }

    fn window_of(&self, ts: i64) -> Window {
        let start = ts - ts.rem_euclid(self.size_ms);
        Window { start, end: start.saturating_add(self.size_ms) }
    }

    /// Adds a batch of keyed records to their windows.
    pub fn add(&mut self, records: Records<'_>) -> Result<(), String> {
        let mut local: HashMap<(&[u8], i64), A::Acc, FxBuildHasher> = HashMap::default();
        let mut late = 0u64;
        match self.domain {
            TimeDomain::EventTime => {
                let watermark = time::current_watermark();
                for record in records {
                    let window = self.window_of(record.timestamp);
                    if window.max_timestamp() <= watermark {
                        late += 1;
                        continue;
                    }
                    let acc = local.entry((record.key, window.start)).or_insert_with(|| self.aggregate.create());
                    self.aggregate.add(acc, &record);
                }
            }
            TimeDomain::ProcessingTime => {
                let window = self.window_of(time::current_processing_time());
                for record in records {
                    let acc = local.entry((record.key, window.start)).or_insert_with(|| self.aggregate.create());
                    self.aggregate.add(acc, &record);
                }
            }
        }
        self.late.inc(late);
        for ((key, start), acc) in local {
            let namespace = start.to_be_bytes();
            let merged = match self.state.get(key, &namespace)? {
                Some(mut stored) => {
                    self.aggregate.merge(&mut stored, acc);
                    stored
                }
                None => {
                    let window = Window { start, end: start.saturating_add(self.size_ms) };
                    time::register_timer(self.domain, key, &namespace, window.max_timestamp());
                    acc
                }
            };
            self.state.set(key, &namespace, &merged);
        }
        Ok(())
    }

    /// Fires the windows whose timers are in `timers`, handing each result to `emit`.
    pub fn fire(&mut self, timers: &[Timer], mut emit: impl FnMut(&[u8], Window, A::Acc)) -> Result<(), String> {
        for timer in timers {
            let start = match <[u8; 8]>::try_from(timer.namespace.as_slice()) {
                Ok(bytes) => i64::from_be_bytes(bytes),
                Err(_) => continue, // not one of this helper's timers
            };
            if let Some(acc) = self.state.get(&timer.key, &timer.namespace)? {
                self.state.clear(&timer.key, &timer.namespace);
                emit(&timer.key, Window { start, end: start.saturating_add(self.size_ms) }, acc);
            }
        }
        Ok(())
    }
}
