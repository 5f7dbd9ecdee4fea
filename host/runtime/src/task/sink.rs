//! Sink tasks: the writer (records to the connector; flushed and snapshotted at every
//! checkpoint, told when checkpoints complete so that an exactly-once writer publishes what it
//! held for them, and finished at the end) and the committer (which commits what writers
//! prepared; for a sink without transactions there is nothing to commit, as in Flink's
//! `KafkaSink` at least once).

use std::time::Duration;

use super::{TaskContext, TaskError, TaskOutcome, outcome_of};
use weir_connectors::{SinkWriter, SnapshotContext};
use weir_core::checkpoint::align::{Aligner, Alignment};
use weir_core::checkpoint::{Barrier, SubtaskSnapshot, TaskCommand};
use weir_network::{InputGate, RecordWriter, StreamElement};

const POLL: Duration = Duration::from_millis(100);
/// How long a poll waits while held records wait for a checkpoint's completion: the completion
/// is heard within this, so it adds little to the records' latency.
const POLL_AWAITING: Duration = Duration::from_millis(2);
/// How long a writer whose input ended waits for the completion of the checkpoints its held
/// records belong to (a stop-with-savepoint's above all) before it publishes them anyway.
const COMPLETION_WAIT: Duration = Duration::from_secs(60);
/// How long a flush may take, at a checkpoint or at the end.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

struct WriterTask<'a> {
    ctx: &'a TaskContext,
    sink: &'a mut dyn SinkWriter,
    downstream: &'a mut RecordWriter,
    aligner: Aligner,
}

impl WriterTask<'_> {
    fn connector(&self, e: weir_connectors::ConnectorError) -> TaskError {
        TaskError::Connector(self.ctx.name(), e)
    }

    fn network(&self, e: weir_network::NetworkError) -> TaskError {
        TaskError::Network(self.ctx.name(), e)
    }

    /// All records before the barrier are written: flush them, snapshot, pass the barrier on.
    fn checkpoint(&mut self, gate: &mut InputGate, barrier: Barrier) -> Result<(), TaskError> {
        let vertex = self.ctx.vertex();
        if let Err(refused) = self.ctx.listener.check_location(barrier.id, &barrier.location) {
            // The sink writes under the location: it takes no part in this checkpoint.
            tracing::warn!(task = self.ctx.name(), checkpoint = barrier.id, refused, "barrier refused");
            self.ctx.listener.decline(barrier.id, refused.clone());
            return Err(TaskError::Barrier(self.ctx.name(), refused));
        }
        let at = SnapshotContext { barrier: &barrier, uid: &vertex.uid, subtask: self.ctx.subtask };
        if let Err(error) = self.sink.flush(FLUSH_TIMEOUT) {
            // A sink that cannot flush cannot promise what it wrote: fail the task.
            self.ctx.listener.decline(barrier.id, error.to_string());
            return Err(self.connector(error));
        }
        match self.sink.snapshot(&at) {
            Ok(sink) => {
                let snapshot = SubtaskSnapshot { subtask: self.ctx.subtask, sink, ..Default::default() };
                self.ctx.listener.acknowledge(barrier.id, snapshot);
            }
            Err(error) => {
                // Everything written is durable, but this checkpoint's part could not be
                // written (its checkpoint may have been given up, its directory deleted, while
                // the barrier was on its way): the checkpoint is declined, as an operator's
                // is, and the writer runs on. What it holds stays held, and the next
                // checkpoint carries it.
                tracing::warn!(task = self.ctx.name(), checkpoint = barrier.id, %error, "sink snapshot failed");
                self.ctx.listener.decline(barrier.id, error.to_string());
            }
        }
        self.downstream.broadcast(StreamElement::Barrier(barrier)).map_err(|e| self.network(e))?;
        gate.unblock_all();
        Ok(())
    }

    /// Hands the checkpoint completions the TaskManager passed on to the writer.
    fn commands(&mut self) -> Result<(), TaskError> {
        while let Ok(command) = self.ctx.commands.try_recv() {
            self.command(command)?;
        }
        Ok(())
    }

    fn command(&mut self, command: TaskCommand) -> Result<(), TaskError> {
        // A cancelled attempt publishes nothing more: a completion meant for the attempt that
        // replaces it must not publish this one's epochs.
        if let TaskCommand::CheckpointComplete(id) = command
            && !self.ctx.cancel.is_cancelled()
        {
            self.sink.checkpoint_complete(id).map_err(|e| self.connector(e))?;
        }
        Ok(())
    }

    /// The input has ended: waits (up to [`COMPLETION_WAIT`]) for the checkpoints that held
    /// records wait for, so that a stop-with-savepoint's output is published by this job.
    /// False if the task was cancelled meanwhile.
    fn await_completions(&mut self) -> Result<bool, TaskError> {
        let deadline = std::time::Instant::now() + COMPLETION_WAIT;
        while self.sink.awaits_completion() {
            if self.ctx.cancel.is_cancelled() {
                return Ok(false);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                tracing::warn!(
                    task = self.ctx.name(),
                    waited = ?COMPLETION_WAIT,
                    "the input ended, but the checkpoint the sink's held records belong to did not complete; publishing them now"
                );
                break;
            }
            if let Ok(command) = self.ctx.commands.recv_timeout(left.min(POLL)) {
                self.command(command)?;
            }
        }
        Ok(true)
    }

    fn run(&mut self, mut gate: InputGate) -> Result<TaskOutcome, TaskError> {
        loop {
            if self.ctx.cancel.is_cancelled() {
                return Ok(TaskOutcome::Cancelled);
            }
            self.commands()?;
            let poll = if self.sink.awaits_completion() { POLL_AWAITING } else { POLL };
            let Some((channel, element)) = gate.next(poll).map_err(|e| self.network(e))? else { continue };
            match element {
                StreamElement::Records(batch) => {
                    let records = weir_frame::count(&batch).unwrap_or(0);
                    self.ctx.metrics.num_records_in.inc(records as u64);
                    self.ctx.metrics.num_bytes_in.inc(batch.len() as u64);
                    self.sink.write(&batch).map_err(|e| self.connector(e))?;
                }
                StreamElement::Watermark(w) => self.ctx.metrics.current_input_watermark.set(w),
                StreamElement::Status(_) => {}
                StreamElement::Barrier(barrier) => {
                    if let Some(b) = gate.align(&mut self.aligner, channel, barrier) {
                        self.checkpoint(&mut gate, b)?;
                    }
                }
                StreamElement::EndOfInput => {
                    if let Some(Alignment::Aligned(b)) = self.aligner.on_end(&gate.open_channels()) {
                        self.checkpoint(&mut gate, b)?;
                    }
                    if gate.is_finished() {
                        if !self.await_completions()? {
                            return Ok(TaskOutcome::Cancelled);
                        }
                        self.sink.finish(FLUSH_TIMEOUT).map_err(|e| self.connector(e))?;
                        self.downstream.broadcast(StreamElement::EndOfInput).map_err(|e| self.network(e))?;
                        return Ok(TaskOutcome::Finished);
                    }
                }
            }
        }
    }
}

/// Runs a sink writer until its input ends or it is cancelled.
pub fn run_writer(
    ctx: &TaskContext,
    gate: InputGate,
    mut sink: Box<dyn SinkWriter>,
    mut downstream: RecordWriter,
) -> Result<TaskOutcome, TaskError> {
    let mut task = WriterTask { ctx, sink: sink.as_mut(), downstream: &mut downstream, aligner: Aligner::default() };
    task.run(gate).or_else(outcome_of)
}

/// Runs a sink committer until its writer finishes or it is cancelled. It takes part in
/// checkpoints (acknowledging once its input's barriers are in) and has no state of its own.
pub fn run_committer(ctx: &TaskContext, mut gate: InputGate) -> Result<TaskOutcome, TaskError> {
    let mut aligner = Aligner::default();
    let acknowledge = |barrier: Barrier| {
        ctx.listener.acknowledge(barrier.id, SubtaskSnapshot { subtask: ctx.subtask, ..Default::default() });
    };
    loop {
        if ctx.cancel.is_cancelled() {
            return Ok(TaskOutcome::Cancelled);
        }
        while ctx.commands.try_recv().is_ok() {}
        match gate.next(POLL) {
            Ok(Some((channel, StreamElement::Barrier(barrier)))) => {
                if let Some(b) = gate.align(&mut aligner, channel, barrier) {
                    acknowledge(b);
                    gate.unblock_all();
                }
            }
            Ok(Some((_, StreamElement::EndOfInput))) => {
                if let Some(Alignment::Aligned(b)) = aligner.on_end(&gate.open_channels()) {
                    acknowledge(b);
                }
                if gate.is_finished() {
                    return Ok(TaskOutcome::Finished);
                }
            }
            Ok(_) => {}
            Err(e) => return outcome_of(TaskError::Network(ctx.name(), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use weir_connectors::ConnectorError;
    use weir_core::cancel::CancelToken;
    use weir_core::checkpoint::{BarrierKind, SinkState, SnapshotFormat};
    use weir_core::jobgraph::{JobGraph, JobVertex, SinkConnector, TimeCharacteristic, VertexKind};
    use weir_network::{EdgeWriter, InputChannel, Partitioner};

    /// What the task told the JobManager: acknowledged and declined checkpoints.
    #[derive(Default)]
    struct Heard {
        acknowledged: Mutex<Vec<u64>>,
        declined: Mutex<Vec<u64>>,
    }

    impl super::super::TaskListener for Heard {
        fn running(&self) {}
        fn acknowledge(&self, checkpoint: u64, _: SubtaskSnapshot) {
            self.acknowledged.lock().unwrap().push(checkpoint);
        }
        fn decline(&self, checkpoint: u64, _: String) {
            self.declined.lock().unwrap().push(checkpoint);
        }
    }

    /// A sink whose snapshots fail for the checkpoints in `failing` (a given-up checkpoint
    /// whose directory is gone) and whose flushes fail once `flush_fails` is set.
    struct Flaky {
        failing: Vec<u64>,
        flush_fails: bool,
    }

    impl weir_connectors::SinkWriter for Flaky {
        fn write(&mut self, _: &[u8]) -> Result<(), ConnectorError> {
            Ok(())
        }
        fn flush(&mut self, _: Duration) -> Result<(), ConnectorError> {
            match self.flush_fails {
                true => Err(ConnectorError::Restore("the broker is gone".into())),
                false => Ok(()),
            }
        }
        fn snapshot(&mut self, at: &SnapshotContext<'_>) -> Result<Option<SinkState>, ConnectorError> {
            match self.failing.contains(&at.barrier.id) {
                true => Err(ConnectorError::Restore(format!("{}: No such file or directory", at.barrier.location))),
                false => Ok(None),
            }
        }
    }

    fn context(listener: Arc<Heard>) -> TaskContext {
        let vertex = JobVertex {
            id: "v".into(),
            uid: "sink".into(),
            name: "Sink: Writer".into(),
            kind: VertexKind::SinkWriter { connector: SinkConnector::Discard },
            parallelism: 1,
            inputs: Vec::new(),
            config: String::new(),
        };
        let job = JobGraph {
            job_id: "job".into(),
            name: "job".into(),
            vertices: vec![vertex],
            time: TimeCharacteristic::ProcessingTime,
            checkpoint_interval_ms: Some(1000),
            max_parallelism: 128,
        };
        TaskContext {
            job: Arc::new(job),
            vertex: 0,
            subtask: 0,
            cancel: CancelToken::new(),
            metrics: Arc::default(),
            listener,
            attempt: 0,
            commands: crossbeam_channel::never(),
            restore: None,
            upgrade: Arc::default(),
        }
    }

    fn barrier(id: u64) -> StreamElement {
        StreamElement::Barrier(Barrier {
            id,
            kind: BarrierKind::Checkpoint,
            location: Arc::from(format!("/checkpoints/job/chk-{id}").as_str()),
            format: SnapshotFormat::Native,
        })
    }

    /// Runs a writer over `elements` and returns how it ended, what it told the JobManager and
    /// what it passed downstream.
    fn run(
        sink: Flaky,
        elements: Vec<StreamElement>,
    ) -> (Result<TaskOutcome, TaskError>, Arc<Heard>, Vec<StreamElement>) {
        let heard = Arc::new(Heard::default());
        let ctx = context(heard.clone());
        let (input, gate_side) = weir_network::channel();
        for e in elements {
            input.send(e).unwrap();
        }
        drop(input);
        let gate = InputGate::new(vec![InputChannel::new(gate_side, 0)]);
        let (out, downstream_side) = weir_network::channel();
        let writer = RecordWriter::new(
            vec![EdgeWriter::new(Partitioner::Forward, vec![out])],
            ctx.metrics.clone(),
            ctx.cancel.clone(),
        );
        let outcome = run_writer(&ctx, gate, Box::new(sink), writer);
        (outcome, heard, downstream_side.try_iter().collect())
    }

    /// A checkpoint given up while its barrier was on the way (superseded by an upgrade
    /// barrier, its directory deleted) costs that checkpoint, not the task: the writer declines
    /// it, passes the barrier on and takes the next one.
    #[test]
    fn a_snapshot_that_cannot_be_written_declines_its_checkpoint_and_the_writer_runs_on() {
        let sink = Flaky { failing: vec![21], flush_fails: false };
        let (outcome, heard, downstream) = run(sink, vec![barrier(21), barrier(22), StreamElement::EndOfInput]);
        assert!(matches!(outcome, Ok(TaskOutcome::Finished)), "{outcome:?}");
        assert_eq!(*heard.declined.lock().unwrap(), [21]);
        assert_eq!(*heard.acknowledged.lock().unwrap(), [22]);
        assert_eq!(downstream, [barrier(21), barrier(22), StreamElement::EndOfInput]);
    }

    /// A flush that fails leaves records the sink cannot vouch for: the task fails.
    #[test]
    fn a_flush_that_fails_fails_the_writer() {
        let sink = Flaky { failing: Vec::new(), flush_fails: true };
        let (outcome, heard, _) = run(sink, vec![barrier(3), StreamElement::EndOfInput]);
        assert!(outcome.is_err(), "{outcome:?}");
        assert_eq!(*heard.declined.lock().unwrap(), [3]);
    }
}
