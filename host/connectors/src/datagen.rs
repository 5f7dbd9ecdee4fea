//! The click-event generator as a source: the same records `weir generator` writes to Kafka,
//! made in the engine, so a job can be measured without a broker (as Flink's
//! `DataGeneratorSource`).
//!
//! Subtask `i` of `p` makes events `i, i + p, i + 2p, …` of the generator's sequence, so all
//! subtasks together make the sequence once. It is one split per subtask.

use std::time::{Duration, Instant};

use super::{ConnectorError, SourceBatch, SourcePoll, SourceReader};

/// Records per batch: large enough that per-batch costs vanish.
const BATCH_RECORDS: u64 = 2048;

/// A datagen source subtask's reader: its share of the click-event sequence, at its share of the rate.
pub struct DatagenReader {
    subtask: u32,
    next: u64,
    step: u64,
    /// Total events over all subtasks.
    count: Option<u64>,
    /// This subtask's share of the rate, events per second.
    rate: Option<f64>,
    started: Instant,
    produced: u64,
    events: click_event::EventWriter,
}

impl DatagenReader {
    /// Subtask `subtask` of `parallelism`, starting at its first event or, restored, at `next`.
    pub fn new(subtask: u32, parallelism: u32, count: Option<u64>, rate: Option<u64>, next: Option<u64>) -> Self {
        DatagenReader {
            subtask,
            next: next.unwrap_or(subtask as u64),
            step: parallelism as u64,
            count,
            rate: rate.map(|r| r as f64 / parallelism as f64),
            started: Instant::now(),
            produced: 0,
            events: click_event::EventWriter::default(),
        }
    }

    fn exhausted(&self) -> bool {
        self.count.is_some_and(|c| self.next >= c)
    }
}

impl SourceReader for DatagenReader {
    fn splits(&self) -> Vec<u32> {
        vec![self.subtask]
    }

    fn positions(&self) -> Vec<(u32, i64)> {
        vec![(self.subtask, self.next as i64)]
    }

    fn poll(&mut self, timeout: Duration) -> Result<SourcePoll, ConnectorError> {
        if self.exhausted() {
            return Ok(SourcePoll { ended_splits: vec![self.subtask], finished: true, ..Default::default() });
        }
        let mut allowed = BATCH_RECORDS;
        if let Some(rate) = self.rate {
            // why: a non-negative rate times elapsed seconds; `as` saturates, and a count past
            // u64::MAX events is never due.
            #[allow(clippy::cast_possible_truncation)]
            let due = (self.started.elapsed().as_secs_f64() * rate) as u64;
            if due <= self.produced {
                // why max: the clock moved on since `due` was computed; a negative wait panics.
                let wait = Duration::from_secs_f64(
                    (((self.produced + 1) as f64 / rate) - self.started.elapsed().as_secs_f64()).max(0.0),
                );
                std::thread::sleep(wait.min(timeout));
                return Ok(SourcePoll::default());
            }
            allowed = allowed.min(due - self.produced);
        }
        let mut records = Vec::with_capacity(usize::try_from(allowed).unwrap_or(usize::MAX).saturating_mul(72));
        let mut n = 0;
        while n < allowed && !self.exhausted() {
            let (events, next) = (&mut self.events, self.next);
            weir_frame::push_written(&mut records, weir_frame::NO_TIMESTAMP, |out| events.write_nth(out, next));
            self.next += self.step;
            n += 1;
        }
        self.produced += n;
        Ok(SourcePoll { batches: vec![SourceBatch { split: self.subtask, records }], ..Default::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtasks_split_the_sequence() {
        let mut all = Vec::new();
        for subtask in 0..3 {
            let mut r = DatagenReader::new(subtask, 3, Some(10), None, None);
            loop {
                let poll = r.poll(Duration::ZERO).unwrap();
                for b in poll.batches {
                    for rec in weir_frame::records(&b.records) {
                        all.push(rec.unwrap().value.to_vec());
                    }
                }
                if poll.finished {
                    break;
                }
            }
        }
        assert_eq!(all.len(), 10);
        let mut expected = Vec::new();
        click_event::write_event(&mut expected, 0, "/help");
        assert!(all.contains(&expected));
    }
}
