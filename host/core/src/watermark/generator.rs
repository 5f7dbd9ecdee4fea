//! Per-split watermarks with bounded out-of-orderness and idleness.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::MIN_WATERMARK;

struct Split {
    max_timestamp: i64,
    last_activity: Instant,
}

/// A source subtask's watermark state.
pub struct SplitWatermarks {
    splits: BTreeMap<u32, Split>,
    out_of_orderness_ms: i64,
    idleness: Option<Duration>,
}

/// What a source subtask should announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceWatermark {
    /// The minimum over active splits; when every split is idle, the largest split watermark.
    pub watermark: Option<i64>,
    /// True when every split is idle (or there are none).
    pub idle: bool,
}

impl SplitWatermarks {
    /// Watermarks `out_of_orderness_ms` + 1 behind each split's largest timestamp; a split without
    /// records for `idleness` goes idle.
    pub fn new(out_of_orderness_ms: u64, idleness: Option<Duration>) -> Self {
        SplitWatermarks { splits: BTreeMap::new(), out_of_orderness_ms: out_of_orderness_ms as i64, idleness }
    }

    /// Starts tracking `split`; it holds the watermark back until it has records or goes idle.
    pub fn add_split(&mut self, split: u32, now: Instant) {
        self.splits.entry(split).or_insert(Split { max_timestamp: MIN_WATERMARK, last_activity: now });
    }

    /// Stops tracking a split that has ended.
    pub fn remove_split(&mut self, split: u32) {
        self.splits.remove(&split);
    }

    /// Records read from `split`, the largest timestamp among them `max_timestamp`.
    pub fn on_records(&mut self, split: u32, max_timestamp: i64, now: Instant) {
        let entry = self.splits.entry(split).or_insert(Split { max_timestamp: MIN_WATERMARK, last_activity: now });
        entry.max_timestamp = entry.max_timestamp.max(max_timestamp);
        entry.last_activity = now;
    }

    /// The watermark and status at `now`.
    ///
    /// Idle splits do not hold the watermark back, as in Flink. When every split is idle, the
    /// subtask has read everything there is, so its watermark moves up to the largest of its
    /// splits' before it goes idle: otherwise splits that fall idle together (a backlog read
    /// at once) would leave the last windows waiting for records that may never come.
    pub fn current(&self, now: Instant) -> SourceWatermark {
        let mut active: Option<i64> = None;
        let mut largest: Option<i64> = None;
        for split in self.splits.values() {
            let wm = if split.max_timestamp == MIN_WATERMARK {
                MIN_WATERMARK
            } else {
                split.max_timestamp.saturating_sub(self.out_of_orderness_ms).saturating_sub(1)
            };
            largest = Some(largest.map_or(wm, |w| w.max(wm)));
            let idle = self.idleness.is_some_and(|timeout| now.duration_since(split.last_activity) >= timeout);
            if !idle {
                active = Some(active.map_or(wm, |w| w.min(wm)));
            }
        }
        match active {
            Some(wm) => SourceWatermark { watermark: Some(wm), idle: false },
            None => SourceWatermark { watermark: largest.filter(|wm| *wm != MIN_WATERMARK), idle: true },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_over_active_splits_minus_bound() {
        let t0 = Instant::now();
        let mut w = SplitWatermarks::new(200, Some(Duration::from_secs(5)));
        w.add_split(0, t0);
        w.add_split(1, t0);
        w.on_records(0, 10_000, t0);
        assert_eq!(w.current(t0), SourceWatermark { watermark: Some(MIN_WATERMARK), idle: false });
        w.on_records(1, 5_000, t0);
        assert_eq!(w.current(t0).watermark, Some(4_799));
        // Split 1 goes quiet: after the idleness timeout it no longer holds the watermark back.
        let t6 = t0 + Duration::from_secs(6);
        w.on_records(0, 20_000, t6);
        assert_eq!(w.current(t6).watermark, Some(19_799));
        // Everything quiet: idle, at the largest watermark read.
        let t12 = t0 + Duration::from_secs(12);
        assert_eq!(w.current(t12), SourceWatermark { watermark: Some(19_799), idle: true });
    }

    #[test]
    fn no_splits_is_idle() {
        let w = SplitWatermarks::new(200, None);
        assert!(w.current(Instant::now()).idle);
    }
}
