//! The input side of a task: its channels from upstream subtasks, read fairly.
//!
//! With the task's metrics attached ([`InputGate::with_metrics`]) the gate counts the time the
//! task waits for input (idle time) and how full its input channels are.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, TryRecvError};

use super::{NetworkError, StreamElement};
use weir_core::checkpoint::Barrier;
use weir_core::checkpoint::align::{Aligner, Alignment};
use weir_core::metrics::TaskMetrics;

/// A channel from one upstream subtask, and which of the task's inputs it belongs to.
pub struct InputChannel {
    /// The receiving end of the channel.
    pub receiver: Receiver<StreamElement>,
    /// Which of the task's inputs (the index of the vertex's incoming edge) the channel belongs to.
    pub input: u32,
    finished: bool,
    /// Not read while a checkpoint barrier waits for the other channels' barriers.
    blocked: bool,
}

impl InputChannel {
    /// A channel of the task's input `input`, open and readable.
    pub fn new(receiver: Receiver<StreamElement>, input: u32) -> Self {
        InputChannel { receiver, input, finished: false, blocked: false }
    }

    fn readable(&self) -> bool {
        !self.finished && !self.blocked
    }
}

/// All input channels of a task.
pub struct InputGate {
    channels: Vec<InputChannel>,
    /// Where the next fair scan starts.
    next: usize,
    open: usize,
    metrics: Option<Arc<TaskMetrics>>,
}

impl InputGate {
    /// A gate over `channels`, none finished yet.
    pub fn new(channels: Vec<InputChannel>) -> Self {
        let open = channels.len();
        InputGate { channels, next: 0, open, metrics: None }
    }

    /// Counts the task's idle time and input buffer levels into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<TaskMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Records how full the input channels are (Flink's `inputQueueLength`/`inPoolUsage`).
    fn sample_queues(&self) {
        let Some(metrics) = &self.metrics else { return };
        let (mut queued, mut capacity) = (0, 0);
        for channel in &self.channels {
            queued += channel.receiver.len();
            capacity += channel.receiver.capacity().unwrap_or(super::CHANNEL_CAPACITY);
        }
        metrics.input_buffers.record(queued, capacity);
    }

    /// The number of channels.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether the task has no input channels (a source).
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// The input (of the task's inputs) that channel `channel` belongs to.
    pub fn input_of(&self, channel: usize) -> u32 {
        self.channels[channel].input
    }

    /// True when every channel has delivered its end of input.
    pub fn is_finished(&self) -> bool {
        self.open == 0
    }

    /// The channels that have not ended.
    pub fn open_channels(&self) -> Vec<usize> {
        self.channels.iter().enumerate().filter(|(_, c)| !c.finished).map(|(i, _)| i).collect()
    }

    /// Stops reading `channel` until [`InputGate::unblock_all`] (barrier alignment).
    pub fn block(&mut self, channel: usize) {
        self.channels[channel].blocked = true;
    }

    /// A barrier arrived on `channel`: blocks and unblocks channels as `aligner` says, and
    /// returns the barrier once it has arrived on every open channel (then snapshot, forward
    /// it and [`InputGate::unblock_all`]).
    pub fn align(&mut self, aligner: &mut Aligner, channel: usize, barrier: Barrier) -> Option<Barrier> {
        let alignment = aligner.on_barrier(channel, barrier, &self.open_channels());
        if aligner.take_abandoned() {
            // The alignment of a checkpoint given up: what it blocked is read again.
            self.unblock_all();
        }
        match alignment {
            Alignment::Block(c) => {
                self.block(c);
                None
            }
            Alignment::Aligned(barrier) => Some(barrier),
            Alignment::Stale => None,
        }
    }

    /// Reads every channel again.
    pub fn unblock_all(&mut self) {
        for c in &mut self.channels {
            c.blocked = false;
        }
    }

    fn received(&mut self, channel: usize, element: StreamElement) -> (usize, StreamElement) {
        if element == StreamElement::EndOfInput {
            self.channels[channel].finished = true;
            self.open -= 1;
        }
        self.next = (channel + 1) % self.channels.len();
        (channel, element)
    }

    /// The next element available now, scanning channels round-robin.
    pub fn try_next(&mut self) -> Result<Option<(usize, StreamElement)>, NetworkError> {
        let n = self.channels.len();
        for i in 0..n {
            let c = (self.next + i) % n;
            if !self.channels[c].readable() {
                continue;
            }
            match self.channels[c].receiver.try_recv() {
                Ok(element) => {
                    self.sample_queues();
                    return Ok(Some(self.received(c, element)));
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => return Err(NetworkError::SenderGone),
            }
        }
        Ok(None)
    }

    /// The next element, waiting up to `timeout` for one; the wait counts as idle time.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<(usize, StreamElement)>, NetworkError> {
        if let Some(found) = self.try_next()? {
            return Ok(Some(found));
        }
        self.sample_queues();
        let started = Instant::now();
        let result = self.wait_next(timeout);
        if let Some(metrics) = &self.metrics {
            metrics.idle_time_ns.inc(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        result
    }

    fn wait_next(&mut self, timeout: Duration) -> Result<Option<(usize, StreamElement)>, NetworkError> {
        if !self.channels.iter().any(InputChannel::readable) {
            std::thread::sleep(timeout);
            return Ok(None);
        }
        let deadline = Instant::now() + timeout;
        let mut select = Select::new();
        let mut indices = Vec::with_capacity(self.open);
        for (c, channel) in self.channels.iter().enumerate() {
            if channel.readable() {
                select.recv(&channel.receiver);
                indices.push(c);
            }
        }
        let (c, received) = match select.select_deadline(deadline) {
            Ok(op) => {
                let c = indices[op.index()];
                (c, op.recv(&self.channels[c].receiver))
            }
            Err(_) => return Ok(None),
        };
        drop(select);
        match received {
            Ok(element) => Ok(Some(self.received(c, element))),
            Err(_) => Err(NetworkError::SenderGone),
        }
    }
}
