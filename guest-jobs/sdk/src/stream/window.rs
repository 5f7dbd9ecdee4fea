//! Windows over a keyed stream (Flink's `keyBy(..).window(..)`): tumbling, sliding and session
//! windows, in event or processing time, with `reduce`, `aggregate` and `process` over each
//! window's records, and allowed lateness.
//!
//! Each key's open windows are one map state (`window-contents`); a timer at a window's last
//! millisecond fires it. In event time a record whose window ended more than the allowed lateness
//! before the watermark is dropped and counted in `numLateRecordsDropped`; a record within the
//! lateness updates its window and fires it again, as Flink's window operator does.
//!
//! **Tumbling and sliding windows** store window end → accumulator (or the window's records for
//! `process`); the start follows from the end and the size. A batch's records are folded per
//! (key, window) in memory and merged into state once per batch.
//!
//! **Session windows** ([`SessionWindows`], and any assigner whose
//! [`WindowAssigner::is_merging`] is true) store window end → `[start, accumulator]`: a key's
//! sessions never overlap, so the end names one. Each record starts a window `[ts, ts + gap)`,
//! merged with every session of its key it overlaps or touches (Flink's `TimeWindow.intersects`
//! and `mergeWindows`), their accumulators combined with the fold's `merge`. A batch keeps its
//! records per key; then, per key, the stored sessions are read once (`entries`), the records
//! are applied in order (so lateness is judged as Flink judges it, record by record, on the
//! merged window), and only the sessions that changed are written back: one `put` per changed
//! session, one `remove` per session merged away. The timers of merged-away sessions (their last
//! millisecond, and their cleanup time with allowed lateness) are deleted unless a remaining
//! session of the key needs the same time, and the merged session's are registered. As in
//! Flink's `MergingWindowSet`, a record is late only if the session it ends up in is: a record
//! older than the watermark that extends an open session is kept.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::marker::PhantomData;

use super::format::decode_wire;
use super::function::{Collector, OutputTag, Push, SideWriter};
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
    /// Whether a key's windows that overlap (or touch) are merged into one, as Flink's
    /// `MergingWindowAssigner` (session windows). The operator then keeps each window's start in
    /// state and does not call [`WindowAssigner::window_ending`].
    fn is_merging(&self) -> bool {
        false
    }
    /// Whether every timestamp belongs to exactly one window, and every timestamp of that
    /// window to it alone (tumbling windows): the operator then reuses the window of the
    /// record before when it holds a record's time, instead of calling
    /// [`WindowAssigner::assign`] for every record.
    fn is_tumbling(&self) -> bool {
        false
    }
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

    fn is_tumbling(&self) -> bool {
        true
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

/// Windows that close after a gap of inactivity (Flink's `EventTimeSessionWindows.withGap` and
/// `ProcessingTimeSessionWindows.withGap`): each record opens `[ts, ts + gap)`, and a key's
/// windows that overlap or touch merge into one session.
#[derive(Clone, Copy, Debug)]
pub struct SessionWindows {
    gap: i64,
    domain: TimeDomain,
}

impl SessionWindows {
    /// Sessions in event time that end `gap_ms` after their last record.
    pub fn with_gap(gap_ms: i64) -> Self {
        SessionWindows { gap: gap_ms.max(1), domain: TimeDomain::EventTime }
    }

    /// Sessions in processing time that end `gap_ms` after their last record arrived.
    pub fn processing_time_with_gap(gap_ms: i64) -> Self {
        SessionWindows { gap: gap_ms.max(1), domain: TimeDomain::ProcessingTime }
    }
}

impl WindowAssigner for SessionWindows {
    fn assign(&self, timestamp: i64, windows: &mut Vec<Window>) {
        windows.push(Window { start: timestamp, end: timestamp.saturating_add(self.gap) });
    }

    /// The window of a lone record (a merged session's start is kept in state).
    fn window_ending(&self, end: i64) -> Window {
        Window { start: end.saturating_sub(self.gap), end }
    }

    fn domain(&self) -> TimeDomain {
        self.domain
    }

    fn is_merging(&self) -> bool {
        true
    }
}

/// Whether two windows overlap or touch (Flink's `TimeWindow.intersects`: `[0, 2)` and `[2, 4)`
/// merge).
fn intersects(a: Window, b: Window) -> bool {
    a.start <= b.end && b.start <= a.end
}

/// The smallest window covering both.
fn cover(a: Window, b: Window) -> Window {
    Window { start: a.start.min(b.start), end: a.end.max(b.end) }
}

/// Where `window` lands among a key's `sessions`: the session it becomes and the indices of the
/// sessions it absorbs, in start order (Flink's `MergingWindowSet.addWindow`).
fn merge_target(sessions: &[Window], window: Window) -> (Window, Vec<usize>) {
    let mut merged = window;
    let mut absorbed: Vec<usize> = Vec::new();
    // Sessions kept apart never intersect, so one pass finds them all; looping until nothing
    // grows keeps this right for any set.
    loop {
        let before = absorbed.len();
        for (i, &session) in sessions.iter().enumerate() {
            if !absorbed.contains(&i) && intersects(merged, session) {
                merged = cover(merged, session);
                absorbed.push(i);
            }
        }
        if absorbed.len() == before {
            break;
        }
    }
    absorbed.sort_by_key(|&i| (sessions[i].start, sessions[i].end));
    (merged, absorbed)
}

/// Merges windows that overlap or touch, as Flink's `TimeWindow.mergeWindows`: the sessions
/// they make, in start order.
#[cfg(test)]
fn merge_windows(windows: &[Window]) -> Vec<Window> {
    let mut sessions: Vec<Window> = Vec::new();
    for &window in windows {
        let (merged, absorbed) = merge_target(&sessions, window);
        for &i in absorbed.iter().rev() {
            sessions.remove(i);
        }
        sessions.push(merged);
        sessions.sort_by_key(|w| w.start);
    }
    sessions
}

/// A key's session windows while a batch is applied to them.
struct Sessions<Acc> {
    /// Each session, its accumulator, and whether the batch changed it.
    entries: Vec<(Window, Acc, bool)>,
}

impl<Acc> Sessions<Acc> {
    fn new(stored: impl IntoIterator<Item = (Window, Acc)>) -> Self {
        Sessions { entries: stored.into_iter().map(|(window, acc)| (window, acc, false)).collect() }
    }

    /// Adds `window`, merging the sessions it overlaps into one (their accumulators combined
    /// with `merge` in start order, or `fresh` when it overlaps none), and returns that
    /// session's accumulator; `None`, changing nothing, when the session it would make is
    /// `late`.
    fn add(
        &mut self,
        window: Window,
        late: impl Fn(Window) -> bool,
        fresh: Acc,
        mut merge: impl FnMut(Acc, Acc) -> Acc,
    ) -> Option<&mut Acc> {
        let windows: Vec<Window> = self.entries.iter().map(|(w, _, _)| *w).collect();
        let (merged, absorbed) = merge_target(&windows, window);
        if late(merged) {
            return None;
        }
        let mut merging = Vec::with_capacity(absorbed.len());
        let mut kept = Vec::with_capacity(self.entries.len() + 1 - absorbed.len());
        for (i, entry) in std::mem::take(&mut self.entries).into_iter().enumerate() {
            if absorbed.contains(&i) { merging.push(entry) } else { kept.push(entry) }
        }
        merging.sort_by_key(|(w, _, _)| (w.start, w.end));
        let acc = merging.into_iter().map(|(_, acc, _)| acc).reduce(&mut merge).unwrap_or(fresh);
        kept.push((merged, acc, true));
        self.entries = kept;
        self.entries.last_mut().map(|(_, acc, _)| acc)
    }

    /// Whether a session ends at `end`.
    fn ends_at(&self, end: i64) -> bool {
        self.entries.iter().any(|(w, _, _)| w.end == end)
    }
}

/// What a window keeps and what it emits when it fires.
trait WindowFold<K, T, O>: 'static {
    type Acc: Data;
    fn create(&self) -> Self::Acc;
    fn add(&mut self, acc: Self::Acc, value: T) -> Self::Acc;
    /// The accumulator with one more record added without reading it, when the fold never
    /// reads its records ([`AggregateFunction::add_unread`]); `None` when it does. The same
    /// for every accumulator: when it is `Some`, records may come without their values.
    fn add_unread(&mut self, acc: &Self::Acc) -> Option<Self::Acc> {
        let _ = acc;
        None
    }
    /// Combines what a batch gathered (`b`) with what the window held (`a`); for session
    /// windows, two merging sessions' accumulators (`a` the earlier).
    fn merge(&mut self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
    fn emit(&mut self, key: &K, window: Window, acc: &Self::Acc, out: &mut Collector<'_, O>) -> Result<(), String>;
}

/// A batch's entries per key (encoded), in the order the keys first came: what the batch
/// gathered, merged into state once per batch.
///
/// A batch holds few keys, and records of different keys tend to follow one another in the
/// same order: the key used last and the one after it are tried first, then the short list,
/// and only past [`ByKey::LIST_MAX`] keys a hash map. The key bytes are compared as they came
/// from the exchange, never decoded per record.
struct ByKey<V> {
    entries: Vec<(Vec<u8>, V)>,
    /// Where each key is, once there are too many to scan.
    index: HashMap<Vec<u8>, usize, FxBuildHasher>,
    /// The entry used last.
    last: usize,
}

impl<V> Default for ByKey<V> {
    fn default() -> Self {
        ByKey { entries: Vec::new(), index: HashMap::default(), last: 0 }
    }
}

/// Whether two keys are the same bytes: keys are short, and a byte loop inlined here beats a
/// call to the guest's `memcmp`.
#[inline]
fn same_key(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(true, |eq, (x, y)| eq & (x == y))
}

impl<V: Default> ByKey<V> {
    const LIST_MAX: usize = 16;

    /// The entry of `key`, a new (default) one if the batch had none.
    #[inline]
    fn entry(&mut self, key: &[u8]) -> &mut V {
        let at = match self.find(key) {
            Some(at) => at,
            None => {
                self.entries.push((key.to_vec(), V::default()));
                let at = self.entries.len() - 1;
                if self.entries.len() == Self::LIST_MAX + 1 {
                    self.index = self.entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
                } else if self.entries.len() > Self::LIST_MAX {
                    self.index.insert(key.to_vec(), at);
                }
                at
            }
        };
        self.last = at;
        &mut self.entries[at].1
    }

    #[inline]
    fn find(&self, key: &[u8]) -> Option<usize> {
        if let Some((k, _)) = self.entries.get(self.last)
            && same_key(k, key)
        {
            return Some(self.last);
        }
        let next = if self.last + 1 < self.entries.len() { self.last + 1 } else { 0 };
        match self.entries.get(next) {
            Some((k, _)) if same_key(k, key) => Some(next),
            _ if self.entries.len() <= Self::LIST_MAX => self.entries.iter().position(|(k, _)| same_key(k, key)),
            _ => self.index.get(key).copied(),
        }
    }

    /// Takes every entry out, in the order the keys first came.
    fn drain(&mut self) -> std::vec::Drain<'_, (Vec<u8>, V)> {
        self.index.clear();
        self.last = 0;
        self.entries.drain(..)
    }
}

/// A batch's accumulators per key (encoded) and window end, merged into state once per batch.
type BatchWindows<Acc> = ByKey<Vec<(i64, Acc)>>;

/// A batch's records per key (encoded), with their times, for merging windows: applied to the
/// key's sessions in order once per batch.
type BatchRecords<T> = ByKey<Vec<(i64, T)>>;

/// The operator behind every windowed stream. A batch's records are first folded per (key,
/// window) in memory, then merged into the key's state once per batch: a batch of thousands of
/// records of a few keys costs a handful of state calls.
struct WindowOperator<K, T, O, A, F: WindowFold<K, T, O>> {
    assigner: A,
    allowed_lateness: i64,
    fold: F,
    contents: MapState<i64, F::Acc>,
    /// The same map state for merging windows: window end → (start, accumulator). Only one of
    /// the two handles is ever opened.
    sessions: MapState<i64, (i64, F::Acc)>,
    late: OnceCell<Counter>,
    next: Box<dyn Push<O>>,
    /// Where late records go when the stream asked for them (`side_output_late_data`).
    late_output: Option<(String, SideWriter)>,
    batch: BatchWindows<F::Acc>,
    /// For merging windows, the batch's records per key.
    records: BatchRecords<T>,
    /// The windows of the record being gathered (kept to reuse its allocation).
    assigned: Vec<Window>,
    /// For tumbling windows, the window of the record gathered last.
    last_window: Option<Window>,
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
    fn new(
        assigner: A,
        allowed_lateness: i64,
        fold: F,
        next: Box<dyn Push<O>>,
        late_output: Option<(String, SideWriter)>,
    ) -> Self {
        WindowOperator {
            assigner,
            allowed_lateness,
            fold,
            contents: MapState::new(CONTENTS),
            sessions: MapState::new(CONTENTS),
            late: OnceCell::new(),
            next,
            late_output,
            batch: ByKey::default(),
            records: ByKey::default(),
            assigned: Vec::new(),
            last_window: None,
            _types: PhantomData,
        }
    }

    fn event_time(&self) -> bool {
        self.assigner.domain() == TimeDomain::EventTime
    }

    /// Whether a record at `time` would be dropped as late: event time, not a merging assigner,
    /// every window it belongs to past its allowed lateness, and the record itself behind the
    /// watermark by more than the allowed lateness.
    fn is_late_for_every_window(&mut self, time: i64, watermark: i64) -> bool {
        if !self.event_time() || self.assigner.is_merging() || time.saturating_add(self.allowed_lateness) > watermark {
            return false;
        }
        self.assigned.clear();
        self.assigner.assign(time, &mut self.assigned);
        let lateness = self.allowed_lateness;
        self.assigned.iter().all(|w| w.max_timestamp().saturating_add(lateness) <= watermark)
    }

    /// Folds one record (`bytes`, as the previous operator sent it) into the batch's
    /// accumulators. The record is decoded once, and only if a fold reads it.
    fn gather(&mut self, key: &[u8], time: i64, watermark: i64, bytes: &[u8]) -> Result<(), String> {
        let mut value = None;
        if self.assigner.is_tumbling() {
            // The record before's window when it holds this one's time: no division per record.
            let window = match self.last_window {
                Some(w) if w.start <= time && time < w.end => w,
                _ => {
                    self.assigned.clear();
                    self.assigner.assign(time, &mut self.assigned);
                    let Some(&w) = self.assigned.first() else { return Ok(()) };
                    self.last_window = Some(w);
                    w
                }
            };
            return self.gather_into(key, window, watermark, bytes, &mut value, true);
        }
        let mut assigned = std::mem::take(&mut self.assigned);
        assigned.clear();
        self.assigner.assign(time, &mut assigned);
        let last = assigned.len().saturating_sub(1);
        let mut result = Ok(());
        for (i, &window) in assigned.iter().enumerate() {
            // The last window takes the record itself; only sliding windows copy it.
            result = self.gather_into(key, window, watermark, bytes, &mut value, i == last);
            if result.is_err() {
                break;
            }
        }
        self.assigned = assigned;
        result
    }

    /// Folds one record into the batch's accumulator of one of its windows, unless that window
    /// is past its allowed lateness (the record is then counted as dropped). `value` is the
    /// record once decoded; the `last` window takes it, the others a copy.
    #[inline]
    fn gather_into(
        &mut self,
        key: &[u8],
        window: Window,
        watermark: i64,
        bytes: &[u8],
        value: &mut Option<T>,
        last: bool,
    ) -> Result<(), String> {
        let cleanup = window.max_timestamp().saturating_add(self.allowed_lateness);
        if self.event_time() && cleanup <= watermark {
            self.late.get_or_init(|| Counter::new("numLateRecordsDropped")).inc(1);
            return Ok(());
        }
        let windows = self.batch.entry(key);
        let acc = match windows.iter_mut().rev().find(|(end, _)| *end == window.end) {
            Some((_, acc)) => acc,
            None => {
                windows.push((window.end, self.fold.create()));
                let at = windows.len() - 1;
                &mut windows[at].1
            }
        };
        if let Some(next) = self.fold.add_unread(acc) {
            *acc = next;
            return Ok(());
        }
        let record = match value.take() {
            Some(record) => record,
            None => decode_wire(bytes)?,
        };
        let record = if last {
            record
        } else {
            let copy = record.clone();
            *value = Some(record);
            copy
        };
        let current = std::mem::replace(acc, self.fold.create());
        *acc = self.fold.add(current, record);
        Ok(())
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

    /// For merging windows: applies each key's records of the batch to its stored sessions (read
    /// once), writes back the sessions that changed, moves their timers, and fires those that
    /// are due (a late record within the allowed lateness).
    fn flush_sessions(&mut self, watermark: i64, out: &mut Output) -> Result<(), String> {
        let event_time = self.event_time();
        let WindowOperator { assigner, allowed_lateness, fold, sessions, late, next, records, assigned, .. } = self;
        let lateness = if event_time { *allowed_lateness } else { 0 };
        // The timers of the window ending at `end`: its last millisecond, and the end of its
        // allowed lateness.
        let timers_of = |end: i64| {
            let fire = end.saturating_sub(1);
            [Some(fire), (lateness > 0).then(|| fire.saturating_add(lateness))]
        };
        let is_late = |w: Window| event_time && w.max_timestamp().saturating_add(lateness) <= watermark;
        for (key, batch) in records.drain() {
            keyed_call::<K, O>(&key, MIN_TIMESTAMP, MIN_TIMESTAMP, None, next.as_mut(), out, |ctx, c| {
                let stored = sessions.entries()?;
                let stored_ends: Vec<i64> = stored.iter().map(|(end, _)| *end).collect();
                let mut set = Sessions::new(stored.into_iter().map(|(end, (start, acc))| (Window { start, end }, acc)));
                for (time, value) in batch {
                    assigned.clear();
                    assigner.assign(time, assigned);
                    let mut value = Some(value);
                    let last = assigned.len().saturating_sub(1);
                    for (i, &window) in assigned.iter().enumerate() {
                        let fresh = fold.create();
                        let Some(acc) = set.add(window, is_late, fresh, |a, b| fold.merge(a, b)) else {
                            late.get_or_init(|| Counter::new("numLateRecordsDropped")).inc(1);
                            continue;
                        };
                        let record = if i == last { value.take() } else { value.clone() };
                        let Some(record) = record else { break };
                        let current = std::mem::replace(acc, fold.create());
                        *acc = fold.add(current, record);
                    }
                }
                let register = |time| match assigner.domain() {
                    TimeDomain::EventTime => ctx.register_event_time_timer(time),
                    TimeDomain::ProcessingTime => ctx.register_processing_time_timer(time),
                };
                let delete = |time| match assigner.domain() {
                    TimeDomain::EventTime => ctx.delete_event_time_timer(time),
                    TimeDomain::ProcessingTime => ctx.delete_processing_time_timer(time),
                };
                // Sessions merged into others: their entries go, and their timers unless a
                // session of the key still needs the same time (timers are per key and time).
                let needed: Vec<i64> = set.entries.iter().flat_map(|(w, _, _)| timers_of(w.end)).flatten().collect();
                for &end in stored_ends.iter().filter(|&&end| !set.ends_at(end)) {
                    sessions.remove(&end)?;
                    for time in timers_of(end).into_iter().flatten().filter(|t| !needed.contains(t)) {
                        delete(time);
                    }
                }
                for (window, acc, changed) in std::mem::take(&mut set.entries) {
                    if !changed {
                        continue;
                    }
                    let entry = (window.start, acc);
                    sessions.put(&window.end, &entry)?;
                    if event_time && window.max_timestamp() <= watermark {
                        fold.emit(ctx.current_key(), window, &entry.1, c)?;
                    } else {
                        register(window.max_timestamp());
                    }
                    if lateness > 0 {
                        register(window.max_timestamp().saturating_add(lateness));
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
            let time = if !self.event_time() {
                now
            } else if record.timestamp == MIN_TIMESTAMP {
                return Err(
                    "an event-time window got a record without a timestamp: assign timestamps after the source".into(),
                );
            } else {
                record.timestamp
            };
            // A record every window of which is past its allowed lateness, and itself behind
            // the watermark by more than that, goes to the late-data side output when there is
            // one (Flink's `isSkippedElement && isElementLate`).
            if self.late_output.is_some() && self.is_late_for_every_window(time, watermark) {
                if let Some((tag, writer)) = &mut self.late_output {
                    let value: T = decode_wire(record.value)?;
                    writer.write(tag, &value, time, out)?;
                }
                continue;
            }
            if self.assigner.is_merging() {
                let value: T = decode_wire(record.value)?;
                self.records.entry(record.key).push((time, value));
            } else {
                self.gather(record.key, time, watermark, record.value)?;
            }
        }
        if self.assigner.is_merging() { self.flush_sessions(watermark, out) } else { self.flush(watermark, out) }
    }

    fn on_timers(&mut self, timers: Vec<Timer>, out: &mut Output) -> Result<(), String> {
        let event_time = self.event_time();
        let merging = self.assigner.is_merging();
        let WindowOperator { assigner, allowed_lateness, fold, contents, sessions, next, .. } = self;
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
                    let end = timer.time.saturating_add(1);
                    if merging {
                        // The session whose last millisecond this is fires.
                        if let Some((start, acc)) = sessions.get(&end)? {
                            fold.emit(ctx.current_key(), Window { start, end }, &acc, c)?;
                            if *allowed_lateness == 0 || !event_time {
                                sessions.remove(&end)?;
                            }
                        }
                        // The session whose lateness ends now is dropped.
                        if *allowed_lateness > 0 && event_time {
                            sessions.remove(&end.saturating_sub(*allowed_lateness))?;
                        }
                        return Ok(());
                    }
                    // The window whose last millisecond this is fires.
                    let fire = assigner.window_ending(end);
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
    fn add_unread(&mut self, acc: &Agg::Acc) -> Option<Agg::Acc> {
        self.aggregate.add_unread(acc)
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
    late_data: Option<String>,
}

impl<K, T, A> WindowedStream<K, T, A> {
    pub(super) fn new(keyed: KeyedStream<K, T>, assigner: A) -> Self {
        WindowedStream { keyed, assigner, allowed_lateness: 0, late_data: None }
    }
}

impl<K: Codec + 'static, T: Data + Clone, A: WindowAssigner> WindowedStream<K, T, A> {
    /// Keeps event-time windows for `millis` after they end: a late record updates its window
    /// and fires it again (Flink's `allowedLateness`).
    pub fn allowed_lateness(mut self, millis: i64) -> Self {
        self.allowed_lateness = millis.max(0);
        self
    }

    /// Sends records too late for their window (behind the watermark by more than the allowed
    /// lateness) to the side output `tag` instead of dropping them (Flink's
    /// `sideOutputLateData`); read it with `get_side_output(&tag)` on the window's result. For
    /// tumbling and sliding windows in event time.
    pub fn side_output_late_data(mut self, tag: &OutputTag<T>) -> Self {
        self.late_data = Some(tag.id().to_string());
        self
    }

    fn run<O: 'static, F: WindowFold<K, T, O>>(self, name: &str, mut fold: F) -> DataStream<O> {
        let WindowedStream { keyed, assigner, allowed_lateness, late_data } = self;
        // A fold that never reads its records (a count), of windows that keep none (not
        // merging) and send none late: the records cross the exchange as their keys alone.
        let unread = fold.add_unread(&fold.create()).is_some();
        let values = !(unread && late_data.is_none() && !assigner.is_merging());
        keyed.keyed_with(("window", name), values, move |next, sides| {
            let late_output = late_data.map(|tag| (tag, sides));
            Box::new(WindowOperator::new(assigner, allowed_lateness, fold, next, late_output))
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

    fn w(start: i64, end: i64) -> Window {
        Window { start, end }
    }

    #[test]
    fn a_record_opens_a_session_of_the_gap_and_only_sessions_merge() {
        let sessions = SessionWindows::with_gap(2000);
        assert_eq!(assign(&sessions, 1000), vec![w(1000, 3000)]);
        assert_eq!(sessions.domain(), TimeDomain::EventTime);
        assert_eq!(SessionWindows::processing_time_with_gap(5).domain(), TimeDomain::ProcessingTime);
        assert!(sessions.is_merging());
        assert!(!TumblingWindows::of_event_time(10).is_merging());
        assert!(!SlidingWindows::of_event_time(10, 5).is_merging());
        assert_eq!(assign(&SessionWindows::with_gap(0), 7), vec![w(7, 8)], "a gap is at least 1 ms");
    }

    #[test]
    fn overlapping_and_touching_windows_merge_as_flinks_time_windows_do() {
        // Records at 0, 1000 and 2500 with a gap of 2000: one session.
        assert_eq!(merge_windows(&[w(0, 2000), w(1000, 3000), w(2500, 4500)]), [w(0, 4500)]);
        // Apart: two sessions, in start order whatever the arrival order.
        assert_eq!(merge_windows(&[w(10_000, 12_000), w(0, 2000)]), [w(0, 2000), w(10_000, 12_000)]);
        // Touching windows merge (TimeWindow.intersects is inclusive).
        assert_eq!(merge_windows(&[w(0, 2000), w(2000, 4000)]), [w(0, 4000)]);
        assert_eq!(merge_windows(&[w(0, 2000), w(2001, 4001)]), [w(0, 2000), w(2001, 4001)]);
        // A later window bridges two sessions into one.
        assert_eq!(merge_windows(&[w(0, 2000), w(3000, 5000), w(1500, 3500)]), [w(0, 5000)]);
        // A window inside a session leaves it as it is.
        assert_eq!(merge_windows(&[w(0, 4500), w(1000, 3000)]), [w(0, 4500)]);
    }

    #[test]
    fn a_window_absorbs_every_session_it_reaches_in_start_order() {
        let sessions = [w(6000, 8000), w(0, 2000), w(3000, 5000), w(20_000, 22_000)];
        assert_eq!(merge_target(&sessions, w(1500, 6500)), (w(0, 8000), vec![1, 2, 0]));
        assert_eq!(merge_target(&sessions, w(10_000, 12_000)), (w(10_000, 12_000), vec![]));
        assert_eq!(merge_target(&[], w(1, 2)), (w(1, 2), vec![]));
    }

    /// Adds records (as windows of `gap`) counting them, as a count aggregate's fold does.
    fn count(sessions: &mut Sessions<u64>, times: &[i64], gap: i64, late: impl Fn(Window) -> bool + Copy) -> usize {
        let mut dropped = 0;
        for &t in times {
            match sessions.add(w(t, t + gap), late, 0, |a, b| a + b) {
                Some(acc) => *acc += 1,
                None => dropped += 1,
            }
        }
        dropped
    }

    fn state(sessions: &Sessions<u64>) -> Vec<(Window, u64, bool)> {
        let mut entries = sessions.entries.clone();
        entries.sort_by_key(|(w, _, _)| w.start);
        entries
    }

    #[test]
    fn sessions_merge_their_accumulators_and_mark_what_changed() {
        let never = |_: Window| false;
        let mut sessions = Sessions::new([]);
        assert_eq!(count(&mut sessions, &[0, 1000, 2500, 10_000], 2000, never), 0);
        assert_eq!(state(&sessions), [(w(0, 4500), 3, true), (w(10_000, 12_000), 1, true)]);

        // Stored sessions are unchanged until a record reaches them; a bridge sums them.
        let mut sessions = Sessions::new([(w(0, 2000), 1), (w(3000, 5000), 2), (w(9000, 11_000), 5)]);
        assert_eq!(count(&mut sessions, &[1500], 2000, never), 0);
        assert_eq!(state(&sessions), [(w(0, 5000), 4, true), (w(9000, 11_000), 5, false)]);
        assert!(sessions.ends_at(5000) && sessions.ends_at(11_000) && !sessions.ends_at(2000));

        // A reduce-like fold sees the sessions' accumulators in start order.
        let mut lists = Sessions::new([(w(3000, 5000), vec![3]), (w(0, 2000), vec![1])]);
        let acc = lists.add(w(1500, 3500), never, Vec::new(), |mut a, b| {
            a.extend(b);
            a
        });
        acc.expect("not late").push(2);
        assert_eq!(lists.entries, [(w(0, 5000), vec![1, 3, 2], true)]);
    }

    #[test]
    fn lateness_is_judged_on_the_session_a_record_ends_up_in() {
        // Watermark 4000, no allowed lateness: a window is late once its last ms <= 4000.
        let late = |w: Window| w.max_timestamp() <= 4000;
        let mut sessions = Sessions::new([(w(3500, 5500), 1)]);
        // 1000 alone makes [1000, 3000): late, dropped, nothing changes.
        assert_eq!(count(&mut sessions, &[1000], 2000, late), 1);
        assert_eq!(state(&sessions), [(w(3500, 5500), 1, false)]);
        // 2000 is older than the watermark but reaches the open session: kept, and extends it.
        assert_eq!(count(&mut sessions, &[2000], 2000, late), 0);
        assert_eq!(state(&sessions), [(w(2000, 5500), 2, true)]);
        // Now 1000 reaches the session too.
        assert_eq!(count(&mut sessions, &[1000], 2000, late), 0);
        assert_eq!(state(&sessions), [(w(1000, 5500), 3, true)]);
    }
}
