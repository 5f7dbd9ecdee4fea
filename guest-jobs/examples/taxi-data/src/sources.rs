//! The Flink training's two sources, `TaxiRideGenerator` and `TaxiFareGenerator`, as iterators.

use std::collections::VecDeque;
use std::time::Duration;

use crate::data_generator::BEGINNING_MILLIS;
use crate::datatypes::{TaxiFare, TaxiRide};
use crate::java_random::{JavaRandom, shuffle};

/// `TaxiRideGenerator.SLEEP_MILLIS_PER_EVENT`: the Java sources pace themselves to about one
/// event per 10 ms. The iterators here do not sleep; a caller that wants the Java pacing can use it.
pub const SLEEP_MILLIS_PER_EVENT: u64 = 10;

/// The number of rides started per batch.
pub const BATCH_SIZE: i64 = 5;

/// `TaxiRideGenerator`: an endless, out-of-order stream of START and END events, the same
/// sequence as the Java `SourceFunction` emits (without its sleeps).
///
/// Per batch of ride ids `id+1 ..= id+5` (`id` = 0, 5, 10, …):
/// 1. the five START events are created and the largest start time is noted;
/// 2. the five END events go into a priority queue ordered by [`TaxiRide::compare_to`];
/// 3. every queued END event with a time up to that largest start time is emitted, smallest
///    first (so a few END events precede their ride's START event);
/// 4. the START events are emitted in the order `Collections.shuffle(starts, new Random(id))`
///    leaves them.
///
/// The queue is a port of `java.util.PriorityQueue`'s binary heap, so END events with equal
/// times come out in the same order as in Java.
///
/// The one divergence: if the queue ever ran empty in step 3, the Java would throw a
/// `NullPointerException` (it calls `peek().getEventTimeMillis()`); this iterator just moves on
/// to step 4. It does not happen in practice (the queue holds the END events of the rides still
/// in progress, about a hundred).
#[derive(Clone, Debug, Default)]
pub struct TaxiRideGenerator {
    end_event_queue: JavaPriorityQueue,
    id: i64,
    max_start_time: i64,
    pending: VecDeque<TaxiRide>,
}

impl TaxiRideGenerator {
    /// A generator positioned at the beginning of the stream.
    pub fn new() -> Self {
        Self::default()
    }

    fn next_batch(&mut self) {
        // generate a batch of START events
        let mut start_events: Vec<TaxiRide> = (1..=BATCH_SIZE).map(|i| TaxiRide::new(self.id + i, true)).collect();
        for ride in &start_events {
            self.max_start_time = self.max_start_time.max(ride.event_time_millis());
        }
        // enqueue the corresponding END events
        for i in 1..=BATCH_SIZE {
            self.end_event_queue.offer(TaxiRide::new(self.id + i, false));
        }
        // release the END events coming before the end of this new batch
        while self.end_event_queue.peek().is_some_and(|r| r.event_time_millis() <= self.max_start_time) {
            self.pending.extend(self.end_event_queue.poll());
        }
        // then emit the new START events (out-of-order)
        shuffle(&mut start_events, &mut JavaRandom::new(self.id));
        self.pending.extend(start_events);
        self.id += BATCH_SIZE;
    }
}

impl Iterator for TaxiRideGenerator {
    type Item = TaxiRide;

    fn next(&mut self) -> Option<TaxiRide> {
        while self.pending.is_empty() {
            self.next_batch();
        }
        self.pending.pop_front()
    }
}

/// `TaxiFareGenerator`: the fares of rides 1, 2, 3, … in order, optionally bounded like the Java
/// `TaxiFareGenerator.runFor(duration)`.
#[derive(Clone, Debug)]
pub struct TaxiFareGenerator {
    id: i64,
    /// Fares starting at or after this time (epoch millis) end the stream.
    limit_millis: Option<i64>,
}

impl TaxiFareGenerator {
    /// An endless generator.
    pub fn new() -> Self {
        TaxiFareGenerator { id: 1, limit_millis: None }
    }

    /// `TaxiFareGenerator.runFor(duration)`: stops before the first fare whose start time is at
    /// or after [`BEGINNING_MILLIS`] + `duration`.
    pub fn run_for(duration: Duration) -> Self {
        // A whole-millisecond start time t satisfies t >= limit iff t >= ceil(limit in millis).
        let millis = duration.as_nanos().div_ceil(1_000_000);
        let limit = i64::try_from(millis).ok().and_then(|ms| ms.checked_add(BEGINNING_MILLIS));
        TaxiFareGenerator { id: 1, limit_millis: limit }
    }
}

impl Default for TaxiFareGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl Iterator for TaxiFareGenerator {
    type Item = TaxiFare;

    fn next(&mut self) -> Option<TaxiFare> {
        let fare = TaxiFare::new(self.id);
        // don't emit events that exceed the specified limit
        if self.limit_millis.is_some_and(|limit| fare.start_time >= limit) {
            return None;
        }
        self.id += 1;
        Some(fare)
    }
}

/// `java.util.PriorityQueue<TaxiRide>` with natural ordering: a binary min-heap whose sift-up and
/// sift-down match the JDK's, so ties leave in the JDK's order.
#[derive(Clone, Debug, Default)]
struct JavaPriorityQueue {
    heap: Vec<TaxiRide>,
}

impl JavaPriorityQueue {
    fn offer(&mut self, key: TaxiRide) {
        // siftUpComparable: move parents down until the key's place is found
        let mut k = self.heap.len();
        self.heap.push(key);
        while k > 0 {
            let parent = (k - 1) >> 1;
            if self.heap[k].compare_to(&self.heap[parent]).is_ge() {
                break;
            }
            self.heap.swap(k, parent);
            k = parent;
        }
    }

    fn peek(&self) -> Option<&TaxiRide> {
        self.heap.first()
    }

    fn poll(&mut self) -> Option<TaxiRide> {
        let last = self.heap.pop()?;
        if self.heap.is_empty() {
            return Some(last);
        }
        let result = std::mem::replace(&mut self.heap[0], last);
        // siftDownComparable(0, last): the key sits at k while we look for its place
        let n = self.heap.len();
        let half = n >> 1;
        let mut k = 0;
        while k < half {
            let mut child = (k << 1) + 1;
            let right = child + 1;
            if right < n && self.heap[child].compare_to(&self.heap[right]).is_gt() {
                child = right;
            }
            if self.heap[k].compare_to(&self.heap[child]).is_le() {
                break;
            }
            self.heap.swap(k, child);
            k = child;
        }
        Some(result)
    }
}
