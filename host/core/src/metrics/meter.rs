//! Per-second rates from counters (Flink's `MeterView`): the difference between a counter now
//! and its value a window ago, divided by the time between.
//!
//! Flink updates its meters every 5 s over a 60 s span; Weir samples whenever the metrics are
//! read (with every heartbeat) over a [`RATE_WINDOW`] of 10 s, so that the web UI and a
//! backpressure check react within seconds instead of a minute.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The span over which rates are averaged.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// Samples closer together than this are not kept: a reader polling in a loop cannot grow the
/// history beyond `RATE_WINDOW / MIN_SPACING` entries.
const MIN_SPACING: Duration = Duration::from_millis(200);

/// Rates of `N` counters over a sliding window.
#[derive(Debug)]
pub struct MeterView<const N: usize> {
    window: Duration,
    /// Oldest first; the front is the newest sample at or before the window's start.
    samples: VecDeque<(Instant, [u64; N])>,
}

impl<const N: usize> MeterView<N> {
    /// A meter whose counters were all zero at `start`.
    pub fn new(start: Instant, window: Duration) -> Self {
        MeterView { window, samples: VecDeque::from([(start, [0; N])]) }
    }

    /// Records the counters' values at `now` and returns each one's rate per second over the
    /// window (or since the first sample, if the meter is younger than the window).
    pub fn rates(&mut self, now: Instant, counts: [u64; N]) -> [f64; N] {
        let newest = self.samples.back().map(|(t, _)| *t);
        if newest.is_none_or(|t| now.saturating_duration_since(t) >= MIN_SPACING) {
            self.samples.push_back((now, counts));
        }
        // Keep exactly one sample at or before the window's start, so the rate always covers
        // at least the whole window once the meter is old enough.
        while self.samples.len() > 2 && now.saturating_duration_since(self.samples[1].0) >= self.window {
            self.samples.pop_front();
        }
        let Some((then, old)) = self.samples.front() else { return [0.0; N] };
        let seconds = now.saturating_duration_since(*then).as_secs_f64();
        let mut rates = [0.0; N];
        if seconds > 0.0 {
            for (rate, (new, old)) in rates.iter_mut().zip(counts.iter().zip(old)) {
                *rate = new.saturating_sub(*old) as f64 / seconds;
            }
        }
        rates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_cover_the_window_and_forget_older_samples() {
        let start = Instant::now();
        let mut meter = MeterView::<2>::new(start, Duration::from_secs(10));
        let at = |s: u64| start + Duration::from_secs(s);
        // 100/s on the first counter, 10/s on the second, for 5 s.
        assert_eq!(meter.rates(at(5), [500, 50]), [100.0, 10.0]);
        assert_eq!(meter.rates(at(10), [1000, 100]), [100.0, 10.0]);
        // Then the first counter stops: after a whole window its rate is 0.
        let half = meter.rates(at(15), [1000, 150]);
        assert_eq!(half, [50.0, 10.0]);
        assert_eq!(meter.rates(at(25), [1000, 250]), [0.0, 10.0]);
        assert!(meter.samples.len() <= 3, "{:?}", meter.samples);
    }

    #[test]
    fn rapid_reads_do_not_grow_the_history() {
        let start = Instant::now();
        let mut meter = MeterView::<1>::new(start, Duration::from_secs(10));
        for i in 0..10_000u64 {
            meter.rates(start + Duration::from_millis(i), [i]);
        }
        assert!(meter.samples.len() <= 51, "{}", meter.samples.len());
    }
}
