//! A task running a guest function over its input (Flink's `OneInputStreamTask` and window
//! operator): records to `process`, watermarks to event-time timers, the wall clock to
//! processing-time timers.

use std::time::Duration;

use super::guest::GuestOperator;
use super::{TaskContext, TaskError, TaskOutcome, outcome_of};
use weir_core::checkpoint::align::{Aligner, Alignment};
use weir_core::checkpoint::{Barrier, BarrierKind};
use weir_core::timer::TimeDomain;
use weir_core::timer::processing_time_now;
use weir_core::watermark::{ValveOutput, WatermarkValve};
use weir_network::{InputGate, NetworkError, StreamElement};

/// The longest the task waits for input before looking at the clock again.
const POLL: Duration = Duration::from_millis(100);

struct OperatorTask<'a> {
    ctx: &'a TaskContext,
    op: GuestOperator,
    valve: WatermarkValve,
    aligner: Aligner,
    /// A stop-with-savepoint (without drain) passed: the input's end fires nothing.
    stopping: bool,
}

impl OperatorTask<'_> {
    fn net(&self, e: NetworkError) -> TaskError {
        TaskError::Network(self.ctx.name(), e)
    }

    fn fire_processing_timers(&mut self, upto: i64) -> Result<(), TaskError> {
        if let Some(timers) = self.op.timers() {
            let due = timers.pop_due(TimeDomain::ProcessingTime, upto);
            if !due.is_empty() {
                self.op.fire(due)?;
            }
        }
        Ok(())
    }

    /// How long until the next processing-time timer, at most [`POLL`].
    fn wait(&mut self) -> Duration {
        match self.op.timers().and_then(|t| t.next_processing_time()) {
            Some(at) => {
                let poll_ms = i64::try_from(POLL.as_millis()).unwrap_or(i64::MAX);
                Duration::from_millis((at - processing_time_now()).clamp(0, poll_ms) as u64)
            }
            None => POLL,
        }
    }

    fn advance(&mut self, out: ValveOutput) -> Result<(), TaskError> {
        if let Some(watermark) = out.watermark {
            self.ctx.metrics.current_input_watermark.set(watermark);
            self.op.set_watermark(watermark);
            if let Some(timers) = self.op.timers() {
                let due = timers.pop_due(TimeDomain::EventTime, watermark);
                if !due.is_empty() {
                    self.op.fire(due)?;
                }
            }
            self.op.writer().broadcast(StreamElement::Watermark(watermark)).map_err(|e| self.net(e))?;
            self.ctx.metrics.current_output_watermark.set(watermark);
        }
        if let Some(status) = out.status {
            self.op.writer().broadcast(StreamElement::Status(status)).map_err(|e| self.net(e))?;
        }
        Ok(())
    }

    /// The barrier is in on every channel: snapshot (its changes only, when checkpoints are
    /// incremental: the snapshot writer acknowledges once they are written), pass it on, read on.
    fn checkpoint(&mut self, gate: &mut InputGate, barrier: Barrier) -> Result<(), TaskError> {
        let taken = match self.ctx.listener.check_location(barrier.id, &barrier.location) {
            Ok(()) => self.op.snapshot(&barrier, barrier.format).map_err(|e| e.to_string()),
            Err(refused) => Err(refused),
        };
        match taken {
            Ok(Some(snapshot)) => self.ctx.listener.acknowledge(barrier.id, snapshot),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(task = self.ctx.name(), checkpoint = barrier.id, %error, "snapshot failed");
                self.ctx.listener.decline(barrier.id, error.to_string());
            }
        }
        if let BarrierKind::Stop { drain: false } = barrier.kind {
            self.stopping = true;
        }
        let (id, upgrade) = (barrier.id, barrier.kind == BarrierKind::Upgrade);
        self.op.writer().broadcast(StreamElement::Barrier(barrier)).map_err(|e| self.net(e))?;
        if upgrade {
            self.op.swap_staged(id);
        }
        gate.unblock_all();
        Ok(())
    }

    /// Operators have no offsets to commit when a checkpoint completes: they only swap to an
    /// upgrade at once when asked to.
    fn commands(&mut self) {
        while self.ctx.commands.try_recv().is_ok() {}
        self.op.swap_if_requested();
    }

    fn run(&mut self, mut gate: InputGate) -> Result<TaskOutcome, TaskError> {
        loop {
            if self.ctx.cancel.is_cancelled() {
                return Ok(TaskOutcome::Cancelled);
            }
            self.commands();
            self.fire_processing_timers(processing_time_now())?;
            let element = match gate.try_next().map_err(|e| self.net(e))? {
                Some(element) => Some(element),
                None => {
                    // Nothing queued: send what is buffered before waiting.
                    self.op.writer().flush().map_err(|e| self.net(e))?;
                    // The gate counts the wait as idle time.
                    let wait = self.wait();
                    gate.next(wait).map_err(|e| self.net(e))?
                }
            };
            let Some((channel, element)) = element else { continue };
            match element {
                StreamElement::Records(batch) => {
                    let records = weir_frame::count(&batch).unwrap_or(0);
                    self.ctx.metrics.num_records_in.inc(records as u64);
                    self.ctx.metrics.num_bytes_in.inc(batch.len() as u64);
                    self.op.process(gate.input_of(channel), &batch)?;
                }
                StreamElement::Watermark(w) => {
                    let out = self.valve.on_watermark(channel, w);
                    self.advance(out)?;
                }
                StreamElement::Status(s) => {
                    let out = self.valve.on_status(channel, s);
                    self.advance(out)?;
                }
                StreamElement::Barrier(barrier) => {
                    if let Some(barrier) = gate.align(&mut self.aligner, channel, barrier) {
                        self.checkpoint(&mut gate, barrier)?;
                    }
                }
                StreamElement::EndOfInput if self.stopping => {
                    if gate.is_finished() {
                        // Stopped with a savepoint: open windows stay in the savepoint.
                        self.op.writer().broadcast(StreamElement::EndOfInput).map_err(|e| self.net(e))?;
                        return Ok(TaskOutcome::Finished);
                    }
                }
                StreamElement::EndOfInput => {
                    if let Some(Alignment::Aligned(barrier)) = self.aligner.on_end(&gate.open_channels()) {
                        self.checkpoint(&mut gate, barrier)?;
                    }
                    let out = self.valve.on_end(channel);
                    self.advance(out)?;
                    if gate.is_finished() {
                        // Bounded input: whatever waits on the wall clock fires now.
                        self.fire_processing_timers(i64::MAX)?;
                        self.op.finish()?;
                        self.op.writer().broadcast(StreamElement::EndOfInput).map_err(|e| self.net(e))?;
                        return Ok(TaskOutcome::Finished);
                    }
                }
            }
        }
    }
}

/// Runs a guest operator over `gate` until its input ends or it is cancelled.
pub fn run(ctx: &TaskContext, gate: InputGate, op: GuestOperator) -> Result<TaskOutcome, TaskError> {
    let valve = WatermarkValve::new(gate.len());
    let mut task = OperatorTask { ctx, op, valve, aligner: Aligner::default(), stopping: false };
    task.run(gate).or_else(outcome_of)
}
