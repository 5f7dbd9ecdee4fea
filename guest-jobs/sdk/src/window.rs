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

/// A batch's accumulators per (key, window start), before they are merged into state.
///
/// A batch holds few distinct (key, window) pairs, and records of different keys tend to
/// follow one another in the same order: the entry after the last one used is tried first,
/// then the short list, and only past [`BatchAggregates::LIST_MAX`] entries a hash map.
struct BatchAggregates<'a, Acc> {
    entries: Vec<(&'a [u8], i64, Acc)>,
    /// Where each entry is, once there are too many to scan.
    index: HashMap<(&'a [u8], i64), usize, FxBuildHasher>,
    /// The entry used last.
    last: usize,
}

impl<Acc> Default for BatchAggregates<'_, Acc> {
    fn default() -> Self {
        BatchAggregates { entries: Vec::new(), index: HashMap::default(), last: 0 }
    }
}

impl<'a, Acc> BatchAggregates<'a, Acc> {
    const LIST_MAX: usize = 16;

    #[inline]
    fn entry(&mut self, key: &'a [u8], start: i64, create: impl FnOnce() -> Acc) -> &mut Acc {
        let at = self.find(key, start).unwrap_or_else(|| {
            self.entries.push((key, start, create()));
            let at = self.entries.len() - 1;
            if self.entries.len() == Self::LIST_MAX + 1 {
                self.index = self.entries.iter().enumerate().map(|(i, (k, s, _))| ((*k, *s), i)).collect();
            } else if self.entries.len() > Self::LIST_MAX {
                self.index.insert((key, start), at);
            }
            at
        });
        self.last = at;
        &mut self.entries[at].2
    }

    #[inline]
    fn find(&self, key: &[u8], start: i64) -> Option<usize> {
        // Keys are short: a byte loop inlined here beats a call to the guest's `memcmp`.
        let same = |e: &(&[u8], i64, Acc)| {
            e.1 == start && e.0.len() == key.len() && e.0.iter().zip(key).fold(true, |eq, (a, b)| eq & (a == b))
        };
        let next = if self.last + 1 < self.entries.len() { self.last + 1 } else { 0 };
        match self.entries.get(next) {
            Some(e) if same(e) => Some(next),
            _ if self.entries.len() <= Self::LIST_MAX => self.entries.iter().position(same),
            _ => self.index.get(&(key, start)).copied(),
        }
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
        let mut local = BatchAggregates::default();
        let mut late = 0u64;
        match self.domain {
            TimeDomain::EventTime => {
                let watermark = time::current_watermark();
                // Records of a batch mostly share a window: its bounds are computed again
                // only when a record falls outside them.
                let mut window = self.window_of(0);
                let mut is_late = window.max_timestamp() <= watermark;
                for record in records {
                    if !(window.start..window.end).contains(&record.timestamp) {
                        window = self.window_of(record.timestamp);
                        is_late = window.max_timestamp() <= watermark;
                    }
                    if is_late {
                        late += 1;
                        continue;
                    }
                    let acc = local.entry(record.key, window.start, || self.aggregate.create());
                    self.aggregate.add(acc, &record);
                }
            }
            TimeDomain::ProcessingTime => {
                let window = self.window_of(time::current_processing_time());
                for record in records {
                    let acc = local.entry(record.key, window.start, || self.aggregate.create());
                    self.aggregate.add(acc, &record);
                }
            }
        }
        self.late.inc(late);
        for (key, start, acc) in local.entries {
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

#[cfg(test)]
mod tests {
    use super::BatchAggregates;

    #[test]
    fn batch_aggregates_find_every_entry_past_the_list() {
        let keys: Vec<Vec<u8>> = (0..40u8).map(|k| vec![b'k', k]).collect();
        let mut local = BatchAggregates::default();
        // Cycling keys in two windows, then out of order: every (key, window) counted apart.
        for round in 0..3 {
            for start in [0, 15_000] {
                for k in keys.iter().rev().skip(round) {
                    *local.entry(k, start, || 0) += 1;
                }
            }
        }
        assert_eq!(local.entries.len(), 80);
        for (key, start, count) in &local.entries {
            let expected = if key[1] >= 38 { 3 - (key[1] as i64 - 37) } else { 3 };
            assert_eq!(*count, expected, "{key:?} {start}");
        }
    }
}
