//! The output side of a task: routes emitted records over the task's outgoing edges, buffers
//! them per channel, and sends full buffers (blocking while the receiver is behind).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender};

use super::{BUFFER_BYTES, NetworkError, Partitioner, StreamElement};
use weir_core::cancel::CancelToken;
use weir_core::metrics::TaskMetrics;

/// How often a blocked sender checks for cancellation.
const CANCEL_CHECK: Duration = Duration::from_millis(50);

/// One outgoing edge: a partitioner over the channels to the downstream subtasks.
pub struct EdgeWriter {
    partitioner: Partitioner,
    channels: Vec<Sender<StreamElement>>,
    buffers: Vec<Vec<u8>>,
}

impl EdgeWriter {
    /// An edge distributing records over `channels`, one per downstream subtask, by `partitioner`.
    pub fn new(partitioner: Partitioner, channels: Vec<Sender<StreamElement>>) -> Self {
        let buffers = channels.iter().map(|_| Vec::new()).collect();
        EdgeWriter { partitioner, channels, buffers }
    }
}

/// The output of a task over all its edges.
pub struct RecordWriter {
    edges: Vec<EdgeWriter>,
    metrics: Arc<TaskMetrics>,
    cancel: CancelToken,
    /// The largest record timestamp written since [`RecordWriter::take_max_timestamp`].
    max_timestamp: i64,
    /// Time spent blocked on full channels since [`RecordWriter::take_blocked`].
    blocked: Duration,
}

impl RecordWriter {
    /// A writer over the task's `edges`, counting into `metrics` and giving up when `cancel` is set.
    pub fn new(edges: Vec<EdgeWriter>, metrics: Arc<TaskMetrics>, cancel: CancelToken) -> Self {
        RecordWriter { edges, metrics, cancel, max_timestamp: i64::MIN, blocked: Duration::ZERO }
    }

    /// Routes a framed batch of records.
    pub fn emit(&mut self, batch: &[u8]) -> Result<(), NetworkError> {
        let mut records = 0u64;
        let mut max_ts = self.max_timestamp;
        // Validate and measure once, whatever the number of edges.
        for record in weir_frame::records(batch) {
            let record = record?;
            records += 1;
            max_ts = max_ts.max(record.timestamp);
        }
        self.max_timestamp = max_ts;
        self.metrics.num_records_out.inc(records);
        self.metrics.num_bytes_out.inc(batch.len() as u64);
        for e in 0..self.edges.len() {
            let edge = &mut self.edges[e];
            let channels = edge.channels.len();
            if channels == 1 {
                edge.buffers[0].extend_from_slice(batch);
                if edge.buffers[0].len() >= BUFFER_BYTES {
                    self.send_buffer(e, 0)?;
                }
                continue;
            }
            for record in weir_frame::records(batch) {
                let record = record?;
                let edge = &mut self.edges[e];
                let target = edge.partitioner.select(record.key, channels);
                let buffer = &mut edge.buffers[target];
                weir_frame::push_record(buffer, &record);
                if buffer.len() >= BUFFER_BYTES {
                    self.send_buffer(e, target)?;
                }
            }
        }
        Ok(())
    }

    fn send_buffer(&mut self, edge: usize, channel: usize) -> Result<(), NetworkError> {
        let buffer = std::mem::replace(&mut self.edges[edge].buffers[channel], Vec::with_capacity(BUFFER_BYTES));
        self.send(edge, channel, StreamElement::Records(buffer))
    }

    fn send(&mut self, edge: usize, channel: usize, element: StreamElement) -> Result<(), NetworkError> {
        let sender = &self.edges[edge].channels[channel];
        let element = match sender.try_send(element) {
            Ok(()) => {
                self.sample_queues();
                return Ok(());
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => return Err(NetworkError::ReceiverGone),
            Err(crossbeam_channel::TrySendError::Full(element)) => element,
        };
        // The receiver is behind: backpressure. The time is counted as it passes, so that the
        // metric moves during a long wait.
        self.metrics.is_back_pressured.set(true);
        let result = self.send_blocking(edge, channel, element);
        self.metrics.is_back_pressured.set(false);
        self.sample_queues();
        result
    }

    fn send_blocking(&mut self, edge: usize, channel: usize, mut element: StreamElement) -> Result<(), NetworkError> {
        loop {
            let started = Instant::now();
            let result = self.edges[edge].channels[channel].send_timeout(element, CANCEL_CHECK);
            let blocked = started.elapsed();
            self.blocked += blocked;
            self.metrics.back_pressured_time_ns.inc(u64::try_from(blocked.as_nanos()).unwrap_or(u64::MAX));
            match result {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Disconnected(_)) => return Err(NetworkError::ReceiverGone),
                Err(SendTimeoutError::Timeout(back)) => {
                    if self.cancel.is_cancelled() {
                        return Err(NetworkError::Cancelled);
                    }
                    self.sample_queues();
                    element = back;
                }
            }
        }
    }

    /// Records how full the output channels are (Flink's `outputQueueLength` and
    /// `outPoolUsage`): buffers queued over all channels, and that over what they can hold.
    /// A handful of atomic reads, done on every send and whenever the task flushes or waits, so
    /// the gauges follow the receivers draining too.
    fn sample_queues(&self) {
        let (mut queued, mut capacity) = (0, 0);
        for sender in self.edges.iter().flat_map(|e| &e.channels) {
            queued += sender.len();
            capacity += sender.capacity().unwrap_or(super::CHANNEL_CAPACITY);
        }
        self.metrics.output_buffers.record(queued, capacity);
    }

    /// Sends every partly filled buffer.
    pub fn flush(&mut self) -> Result<(), NetworkError> {
        // Tasks flush whenever they run out of input or their buffer timeout passes: a
        // regular moment to look at the output channels even when nothing is sent.
        self.sample_queues();
        for e in 0..self.edges.len() {
            for c in 0..self.edges[e].channels.len() {
                if !self.edges[e].buffers[c].is_empty() {
                    self.send_buffer(e, c)?;
                }
            }
        }
        Ok(())
    }

    /// Sends `element` to every downstream subtask, after the records buffered before it.
    pub fn broadcast(&mut self, element: StreamElement) -> Result<(), NetworkError> {
        self.flush()?;
        for e in 0..self.edges.len() {
            for c in 0..self.edges[e].channels.len() {
                self.send(e, c, element.clone())?;
            }
        }
        Ok(())
    }

    /// True if the task has no outgoing edges.
    pub fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }

    /// The largest timestamp written since the last call, and resets it.
    pub fn take_max_timestamp(&mut self) -> i64 {
        std::mem::replace(&mut self.max_timestamp, i64::MIN)
    }

    /// Time spent blocked since the last call, and resets it.
    pub fn take_blocked(&mut self) -> Duration {
        std::mem::take(&mut self.blocked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel;

    fn batch(keys: &[&str]) -> Vec<u8> {
        let mut b = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            weir_frame::push(&mut b, i as i64, k.as_bytes(), b"");
        }
        b
    }

    #[test]
    fn hash_edges_route_by_key_group_and_keep_order() {
        let (tx0, rx0) = channel();
        let (tx1, rx1) = channel();
        let metrics = Arc::new(TaskMetrics::default());
        let edge = EdgeWriter::new(Partitioner::hash(128), vec![tx0, tx1]);
        let mut writer = RecordWriter::new(vec![edge], metrics.clone(), CancelToken::new());
        // At p=2, "/help" and "/shop" go to subtask 1, "/index" and "/jobs" to subtask 0.
        writer.emit(&batch(&["/help", "/index", "/shop", "/jobs"])).unwrap();
        writer.broadcast(StreamElement::Watermark(7)).unwrap();
        let keys = |rx: &crossbeam_channel::Receiver<StreamElement>| match rx.recv().unwrap() {
            StreamElement::Records(b) => {
                weir_frame::records(&b).map(|r| String::from_utf8(r.unwrap().key.to_vec()).unwrap()).collect::<Vec<_>>()
            }
            other => panic!("expected records, got {other:?}"),
        };
        assert_eq!(keys(&rx0), vec!["/index", "/jobs"]);
        assert_eq!(keys(&rx1), vec!["/help", "/shop"]);
        assert_eq!(rx0.recv().unwrap(), StreamElement::Watermark(7));
        assert_eq!(rx1.recv().unwrap(), StreamElement::Watermark(7));
        assert_eq!(metrics.num_records_out.get(), 4);
        assert_eq!(writer.take_max_timestamp(), 3);
    }

    #[test]
    fn a_blocked_sender_gives_up_when_cancelled() {
        let (tx, _rx) = channel();
        let cancel = CancelToken::new();
        let edge = EdgeWriter::new(Partitioner::Forward, vec![tx]);
        let mut writer = RecordWriter::new(vec![edge], Arc::new(TaskMetrics::default()), cancel.clone());
        for _ in 0..crate::CHANNEL_CAPACITY {
            writer.broadcast(StreamElement::Watermark(1)).unwrap();
        }
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            cancel.cancel();
        });
        assert!(matches!(writer.broadcast(StreamElement::Watermark(2)), Err(NetworkError::Cancelled)));
        canceller.join().unwrap();
    }
}
