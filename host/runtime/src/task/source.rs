//! A source task (Flink's `SourceOperator` with a `SourceReader`): it polls its connector,
//! hands each split's batch to the guest deserializer (or passes it on as it is), tracks per-split
//! watermarks and emits the combined watermark every 200 ms.

use std::time::{Duration, Instant};

use super::guest::GuestOperator;
use super::{TaskContext, TaskError, TaskOutcome, outcome_of};
use weir_connectors::SourceReader;
use weir_core::checkpoint::{Barrier, BarrierKind, SubtaskSnapshot, TaskCommand};
use weir_core::jobgraph::TimeCharacteristic;
use weir_core::watermark::WatermarkStatus;
use weir_core::watermark::{MAX_WATERMARK, MIN_WATERMARK, SplitWatermarks, WATERMARK_INTERVAL};
use weir_network::{NetworkError, RecordWriter, StreamElement};

/// How long a poll waits for records.
const POLL: Duration = Duration::from_millis(50);
/// Send partly filled buffers at least this often (Flink's buffer timeout).
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Where a source's records go: through the guest's deserializer or straight out.
pub enum SourceOutput {
    /// The source's guest deserializer turns the connector's records into the stream's.
    Guest(Box<GuestOperator>),
    /// The connector's records go downstream unchanged.
    Direct(RecordWriter),
}

impl SourceOutput {
    fn writer(&mut self) -> &mut RecordWriter {
        match self {
            SourceOutput::Guest(op) => op.writer(),
            SourceOutput::Direct(w) => w,
        }
    }
}

struct SourceTask<'a> {
    ctx: &'a TaskContext,
    output: SourceOutput,
    watermarks: Option<SplitWatermarks>,
    watermark: i64,
    status: WatermarkStatus,
    /// Positions of checkpoints taken and not yet complete, to commit once they are.
    pending: Vec<(u64, Vec<(u32, i64)>)>,
}

/// What a checkpoint trigger means for the source's loop.
enum AfterCheckpoint {
    Continue,
    /// Stop-with-savepoint: the source ends here.
    Stop,
}

impl SourceTask<'_> {
    fn net(&self, e: NetworkError) -> TaskError {
        TaskError::Network(self.ctx.name(), e)
    }

    fn emit(&mut self, split: u32, records: &[u8]) -> Result<(), TaskError> {
        let count = weir_frame::count(records).unwrap_or(0) as u64;
        self.ctx.metrics.num_records_in.inc(count);
        self.ctx.metrics.num_bytes_in.inc(records.len() as u64);
        match &mut self.output {
            SourceOutput::Guest(op) => op.process(0, records)?,
            SourceOutput::Direct(w) => w.emit(records).map_err(|e| TaskError::Network(self.ctx.name(), e))?,
        }
        let max = self.output.writer().take_max_timestamp();
        if let Some(w) = &mut self.watermarks
            && max != MIN_WATERMARK
        {
            w.on_records(split, max, Instant::now());
        }
        Ok(())
    }

    /// Emits the watermark and status if they changed.
    fn emit_watermark(&mut self) -> Result<(), TaskError> {
        let Some(w) = &self.watermarks else { return Ok(()) };
        let current = w.current(Instant::now());
        let advanced = current.watermark.filter(|wm| *wm > self.watermark);
        // A watermark travels on an active stream: resume before it, go idle after it.
        if (!current.idle || advanced.is_some()) && self.status == WatermarkStatus::Idle {
            self.set_status(WatermarkStatus::Active)?;
        }
        if let Some(wm) = advanced {
            self.set_watermark(wm)?;
        }
        if current.idle && self.status == WatermarkStatus::Active {
            self.set_status(WatermarkStatus::Idle)?;
        }
        Ok(())
    }

    fn set_status(&mut self, status: WatermarkStatus) -> Result<(), TaskError> {
        self.status = status;
        self.output.writer().broadcast(StreamElement::Status(status)).map_err(|e| self.net(e))
    }

    fn set_watermark(&mut self, wm: i64) -> Result<(), TaskError> {
        tracing::trace!(task = self.ctx.name(), watermark = wm, "emitting watermark");
        self.watermark = wm;
        if let SourceOutput::Guest(op) = &mut self.output {
            op.set_watermark(wm);
        }
        self.output.writer().broadcast(StreamElement::Watermark(wm)).map_err(|e| self.net(e))?;
        self.ctx.metrics.current_output_watermark.set(wm);
        Ok(())
    }

    /// Takes the source's part of a checkpoint: its positions, then the barrier downstream.
    fn checkpoint(&mut self, reader: &dyn SourceReader, barrier: Barrier) -> Result<AfterCheckpoint, TaskError> {
        let positions = reader.positions();
        if let BarrierKind::Stop { drain: true } = barrier.kind
            && self.watermarks.is_some()
        {
            // Drain: every window fires before the savepoint.
            self.set_watermark(MAX_WATERMARK)?;
        }
        let snapshot =
            SubtaskSnapshot { subtask: self.ctx.subtask, source: Some(positions.clone()), ..Default::default() };
        self.ctx.listener.acknowledge(barrier.id, snapshot);
        self.pending.push((barrier.id, positions));
        let stop = matches!(barrier.kind, BarrierKind::Stop { .. });
        let (id, upgrade) = (barrier.id, barrier.kind == BarrierKind::Upgrade);
        self.output.writer().broadcast(StreamElement::Barrier(barrier)).map_err(|e| self.net(e))?;
        if upgrade && let SourceOutput::Guest(op) = &mut self.output {
            op.swap_staged(id);
        }
        Ok(if stop { AfterCheckpoint::Stop } else { AfterCheckpoint::Continue })
    }

    /// Handles commands from the TaskManager; true if the source must stop.
    fn commands(&mut self, reader: &mut dyn SourceReader) -> Result<bool, TaskError> {
        while let Ok(command) = self.ctx.commands.try_recv() {
            match command {
                TaskCommand::TriggerCheckpoint(barrier) => {
                    if let AfterCheckpoint::Stop = self.checkpoint(reader, barrier)? {
                        return Ok(true);
                    }
                }
                TaskCommand::CheckpointComplete(id) => {
                    if let Some(i) = self.pending.iter().position(|(p, _)| *p == id) {
                        let (_, positions) = self.pending.remove(i);
                        self.pending.retain(|(p, _)| *p > id);
                        reader.commit(&positions);
                    }
                }
            }
        }
        Ok(false)
    }

    fn run(&mut self, mut reader: Box<dyn SourceReader>) -> Result<TaskOutcome, TaskError> {
        let name = self.ctx.name();
        if let Some(w) = &mut self.watermarks {
            let now = Instant::now();
            for split in reader.splits() {
                w.add_split(split, now);
            }
        }
        let mut next_watermark = Instant::now() + WATERMARK_INTERVAL;
        let mut next_flush = Instant::now() + FLUSH_INTERVAL;
        loop {
            if self.ctx.cancel.is_cancelled() {
                return Ok(TaskOutcome::Cancelled);
            }
            if self.commands(reader.as_mut())? {
                // Stopped with a savepoint: the downstream tasks finish without firing what is
                // pending; it is in the savepoint.
                self.output.writer().broadcast(StreamElement::EndOfInput).map_err(|e| self.net(e))?;
                tracing::info!(task = name, "source stopped with a savepoint");
                return Ok(TaskOutcome::Finished);
            }
            let polled = Instant::now();
            let poll = reader.poll(POLL).map_err(|e| TaskError::Connector(name.clone(), e))?;
            let idle = poll.batches.is_empty();
            // Waiting for the connector to have records is the source's idle time.
            let waited = if idle { polled.elapsed() } else { poll.waited };
            self.ctx.metrics.idle_time_ns.inc(u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX));
            for batch in &poll.batches {
                self.emit(batch.split, &batch.records)?;
            }
            if let Some(w) = &mut self.watermarks {
                for split in &poll.ended_splits {
                    w.remove_split(*split);
                }
            }
            if poll.finished {
                break;
            }
            let now = Instant::now();
            if idle || now >= next_flush {
                self.output.writer().flush().map_err(|e| self.net(e))?;
                next_flush = now + FLUSH_INTERVAL;
            }
            if now >= next_watermark {
                self.emit_watermark()?;
                next_watermark = now + WATERMARK_INTERVAL;
            }
        }
        // The input is exhausted: end of event time, then end of input.
        if self.watermarks.is_some() {
            self.set_watermark(MAX_WATERMARK)?;
        }
        if let SourceOutput::Guest(op) = &mut self.output {
            op.finish()?;
        }
        self.output.writer().broadcast(StreamElement::EndOfInput).map_err(|e| self.net(e))?;
        tracing::info!(task = name, "source finished");
        Ok(TaskOutcome::Finished)
    }
}

/// Runs a source until its reader is exhausted or the task is cancelled.
pub fn run(ctx: &TaskContext, reader: Box<dyn SourceReader>, output: SourceOutput) -> Result<TaskOutcome, TaskError> {
    let watermarks = match ctx.job.time {
        TimeCharacteristic::EventTime { max_out_of_orderness_ms, idleness_ms } => {
            Some(SplitWatermarks::new(max_out_of_orderness_ms, idleness_ms.map(Duration::from_millis)))
        }
        TimeCharacteristic::ProcessingTime => None,
    };
    let mut task = SourceTask {
        ctx,
        output,
        watermarks,
        watermark: MIN_WATERMARK,
        status: WatermarkStatus::Active,
        pending: Vec::new(),
    };
    task.run(reader).or_else(outcome_of)
}
