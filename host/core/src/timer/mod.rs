//! Event-time and processing-time timers of a keyed operator subtask (Flink's
//! `InternalTimerService`). The guest's `time` and `timers` imports are in `weir-wasm`.
//!
//! Timers are kept in memory, ordered by time, one set per time domain; registering the same
//! (key, namespace, time) twice keeps one timer. Event-time timers fire when the subtask's input
//! watermark reaches them, processing-time timers when the wall clock does.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::state::{KeyGroupOwnership, StateError};

/// Which clock a timer follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeDomain {
    /// Fires when the subtask's input watermark reaches the timer's time.
    EventTime,
    /// Fires when the wall clock reaches the timer's time.
    ProcessingTime,
}

/// A timer that fired, owned by the host until it is handed to the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FiredTimer {
    /// The key the timer was registered for (the operator's `keyBy` key).
    pub key: Vec<u8>,
    /// The timer's namespace, e.g. the window it belongs to.
    pub namespace: Vec<u8>,
    /// The time it was set for: milliseconds, on the clock of its domain.
    pub time: i64,
    /// Whether it followed event time or processing time.
    pub domain: TimeDomain,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    time: i64,
    key: Vec<u8>,
    namespace: Vec<u8>,
}

/// The timers of one subtask.
pub struct TimerService {
    ownership: KeyGroupOwnership,
    event_time: BTreeSet<Entry>,
    processing_time: BTreeSet<Entry>,
    /// The bytes of keys and namespaces held, for the guest's cap on them.
    bytes: usize,
    /// The timers registered and removed since the last snapshot, when checkpoints are
    /// incremental.
    changes: Option<TimerChanges>,
}

/// Timers registered (`true`) or removed (`false`) since the last snapshot; for each timer only
/// the last change counts.
#[derive(Debug, Default)]
pub struct TimerChanges(std::collections::HashMap<(bool, i64, Vec<u8>, Vec<u8>), bool>);

impl TimerChanges {
    fn record(&mut self, domain: TimeDomain, entry: &Entry, registered: bool) {
        let processing = domain == TimeDomain::ProcessingTime;
        self.0.insert((processing, entry.time, entry.key.clone(), entry.namespace.clone()), registered);
    }

    /// The number of timers changed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if no timer changed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `newer` changes over these.
    pub fn extend(&mut self, newer: TimerChanges) {
        self.0.extend(newer.0);
    }

    /// Each changed timer, and whether it is registered (`true`) or removed.
    pub fn iter(&self) -> impl Iterator<Item = (FiredTimer, bool)> + '_ {
        self.0.iter().map(|((processing, time, key, namespace), registered)| {
            let domain = if *processing { TimeDomain::ProcessingTime } else { TimeDomain::EventTime };
            (FiredTimer { key: key.clone(), namespace: namespace.clone(), time: *time, domain }, *registered)
        })
    }
}

/// Milliseconds added to the wall clock to make processing time (see
/// [`set_processing_time_offset`]); zero unless a test shifted it.
static PROCESSING_TIME_OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Shifts this process's processing-time clock by `offset_ms`: what guests read as processing
/// time and what processing-time timers follow (the wall clock of logs, job timestamps and
/// metrics stays as it is). A testing aid, so that a test can put the clock in a chosen minute
/// instead of waiting for it (the `weir` command sets it from `WEIR_TESTING_CLOCK_OFFSET_MS` at
/// start).
pub fn set_processing_time_offset(offset_ms: i64) {
    PROCESSING_TIME_OFFSET_MS.store(offset_ms, Ordering::Relaxed);
}

/// Milliseconds since the epoch on the wall clock.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Processing time: milliseconds since the epoch on the wall clock, shifted by the offset a
/// test may have set ([`set_processing_time_offset`]).
pub fn processing_time_now() -> i64 {
    wall_clock_ms().saturating_add(PROCESSING_TIME_OFFSET_MS.load(Ordering::Relaxed))
}

impl TimerService {
    /// No timers yet, for the subtask owning the key groups of `ownership`.
    pub fn new(ownership: KeyGroupOwnership) -> Self {
        TimerService {
            ownership,
            event_time: BTreeSet::new(),
            processing_time: BTreeSet::new(),
            bytes: 0,
            changes: None,
        }
    }

    /// The same timers, keeping every change since the last [`Self::take_changes`] (for
    /// incremental checkpoints).
    pub fn tracking_changes(mut self) -> Self {
        self.changes = Some(TimerChanges::default());
        self
    }

    /// Every change since the last call, or `None` if the service does not keep its changes.
    pub fn take_changes(&mut self) -> Option<TimerChanges> {
        self.changes.as_mut().map(std::mem::take)
    }

    fn set(&mut self, domain: TimeDomain) -> &mut BTreeSet<Entry> {
        match domain {
            TimeDomain::EventTime => &mut self.event_time,
            TimeDomain::ProcessingTime => &mut self.processing_time,
        }
    }

    /// Registers a timer for (`key`, `namespace`) at `time`; the key must be one of the subtask's.
    pub fn register(
        &mut self,
        domain: TimeDomain,
        key: Vec<u8>,
        namespace: Vec<u8>,
        time: i64,
    ) -> Result<(), StateError> {
        self.ownership.check(&key)?;
        let size = key.len() + namespace.len();
        let entry = Entry { time, key, namespace };
        if let Some(changes) = &mut self.changes {
            changes.record(domain, &entry, true);
        }
        if self.set(domain).insert(entry) {
            self.bytes += size;
        }
        Ok(())
    }

    /// Deletes the timer for (`key`, `namespace`) at `time`, if one is registered.
    pub fn delete(
        &mut self,
        domain: TimeDomain,
        key: Vec<u8>,
        namespace: Vec<u8>,
        time: i64,
    ) -> Result<(), StateError> {
        self.ownership.check(&key)?;
        let size = key.len() + namespace.len();
        let entry = Entry { time, key, namespace };
        if self.set(domain).remove(&entry) {
            self.bytes -= size;
            if let Some(changes) = &mut self.changes {
                changes.record(domain, &entry, false);
            }
        }
        Ok(())
    }

    /// Removes and returns, in time order, the timers of `domain` at or before `time`.
    pub fn pop_due(&mut self, domain: TimeDomain, time: i64) -> Vec<FiredTimer> {
        let set = match domain {
            TimeDomain::EventTime => &mut self.event_time,
            TimeDomain::ProcessingTime => &mut self.processing_time,
        };
        let mut due = Vec::new();
        while let Some(first) = set.first() {
            if first.time > time {
                break;
            }
            let entry = set.pop_first().expect("first exists");
            if let Some(changes) = &mut self.changes {
                changes.record(domain, &entry, false);
            }
            let Entry { time, key, namespace } = entry;
            due.push(FiredTimer { key, namespace, time, domain });
        }
        self.bytes -= due.iter().map(|t| t.key.len() + t.namespace.len()).sum::<usize>();
        due
    }

    /// The earliest processing-time timer.
    pub fn next_processing_time(&self) -> Option<i64> {
        self.processing_time.first().map(|e| e.time)
    }

    /// Every registered timer (for a checkpoint).
    pub fn snapshot(&self) -> Vec<FiredTimer> {
        let mut timers = Vec::with_capacity(self.event_time.len() + self.processing_time.len());
        for (set, domain) in
            [(&self.event_time, TimeDomain::EventTime), (&self.processing_time, TimeDomain::ProcessingTime)]
        {
            timers.extend(set.iter().map(|e| FiredTimer {
                key: e.key.clone(),
                namespace: e.namespace.clone(),
                time: e.time,
                domain,
            }));
        }
        timers
    }

    /// Registers restored timers, keeping only those of the subtask's key groups.
    pub fn restore(&mut self, timers: impl IntoIterator<Item = FiredTimer>) {
        for t in timers {
            if self.ownership.check(&t.key).is_ok() {
                let size = t.key.len() + t.namespace.len();
                if self.set(t.domain).insert(Entry { time: t.time, key: t.key, namespace: t.namespace }) {
                    self.bytes += size;
                }
            }
        }
    }

    /// All registered timers, and the bytes of their keys and namespaces.
    pub fn held(&self) -> (usize, usize) {
        (self.event_time.len() + self.processing_time.len(), self.bytes)
    }

    /// True if the timer for (`key`, `namespace`) at `time` is registered.
    pub fn contains(&self, domain: TimeDomain, key: &[u8], namespace: &[u8], time: i64) -> bool {
        let set = match domain {
            TimeDomain::EventTime => &self.event_time,
            TimeDomain::ProcessingTime => &self.processing_time,
        };
        set.contains(&Entry { time, key: key.to_vec(), namespace: namespace.to_vec() })
    }

    /// The number of registered timers of `domain`.
    pub fn len(&self, domain: TimeDomain) -> usize {
        match domain {
            TimeDomain::EventTime => self.event_time.len(),
            TimeDomain::ProcessingTime => self.processing_time.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_time_order_once() {
        let mut timers = TimerService::new(KeyGroupOwnership::for_subtask(128, 1, 0));
        timers.register(TimeDomain::EventTime, b"b".to_vec(), vec![], 20).unwrap();
        timers.register(TimeDomain::EventTime, b"a".to_vec(), vec![], 10).unwrap();
        timers.register(TimeDomain::EventTime, b"a".to_vec(), vec![], 10).unwrap();
        timers.register(TimeDomain::EventTime, b"c".to_vec(), vec![], 30).unwrap();
        timers.delete(TimeDomain::EventTime, b"c".to_vec(), vec![], 30).unwrap();
        timers.register(TimeDomain::ProcessingTime, b"p".to_vec(), vec![], 5).unwrap();
        assert_eq!(timers.len(TimeDomain::EventTime), 2);
        let due = timers.pop_due(TimeDomain::EventTime, 15);
        assert_eq!(due.iter().map(|t| (t.key.clone(), t.time)).collect::<Vec<_>>(), vec![(b"a".to_vec(), 10)]);
        assert_eq!(timers.pop_due(TimeDomain::EventTime, i64::MAX).len(), 1);
        assert_eq!(timers.next_processing_time(), Some(5));
        assert_eq!(timers.held(), (1, 1));
        assert!(timers.contains(TimeDomain::ProcessingTime, b"p", b"", 5));
    }

    #[test]
    fn timers_are_confined_to_owned_key_groups() {
        let mut timers = TimerService::new(KeyGroupOwnership::for_subtask(128, 2, 0));
        // "/help" is in key group 111, owned by subtask 1 of 2.
        assert!(timers.register(TimeDomain::EventTime, b"/help".to_vec(), vec![], 1).is_err());
        assert!(timers.register(TimeDomain::EventTime, b"/index".to_vec(), vec![], 1).is_ok());
    }

    #[test]
    fn an_offset_shifts_processing_time_and_not_the_wall_clock() {
        // Nothing else in this crate's tests reads processing time.
        set_processing_time_offset(-3_600_000);
        let (shifted, wall) = (processing_time_now(), wall_clock_ms());
        set_processing_time_offset(0);
        assert!((wall - 3_600_000 - shifted).abs() < 1_000, "{shifted} is not an hour before {wall}");
        assert!((processing_time_now() - wall_clock_ms()).abs() < 1_000);
    }
}
