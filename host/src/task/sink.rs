//! Sink tasks: the writer (records to the connector, flushed at the end, and at checkpoints
//! once there are checkpoints) and the committer (which commits what writers prepared; for an
//! at-least-once sink there is nothing to commit, as in Flink's `KafkaSink`).

use std::time::Duration;

use super::{TaskContext, TaskError, TaskOutcome, outcome_of};
use crate::connector::SinkWriter;
use crate::network::{InputGate, RecordWriter, StreamElement};

const POLL: Duration = Duration::from_millis(100);
/// How long the final flush may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

fn writer_loop(
    ctx: &TaskContext,
    mut gate: InputGate,
    sink: &mut dyn SinkWriter,
    downstream: &mut RecordWriter,
) -> Result<TaskOutcome, TaskError> {
    let name = ctx.name();
    let connector = |e| TaskError::Connector(name.clone(), e);
    let network = |e| TaskError::Network(name.clone(), e);
    loop {
        if ctx.cancel.is_cancelled() {
            return Ok(TaskOutcome::Cancelled);
        }
        let Some((_, element)) = gate.next(POLL).map_err(network)? else { continue };
        match element {
            StreamElement::Records(batch) => {
                let records = weir_frame::count(&batch).unwrap_or(0);
                ctx.metrics.num_records_in.inc(records as u64);
                ctx.metrics.num_bytes_in.inc(batch.len() as u64);
                sink.write(&batch).map_err(connector)?;
            }
            StreamElement::Watermark(w) => ctx.metrics.current_input_watermark.set(w),
            StreamElement::Status(_) => {}
            StreamElement::EndOfInput => {
                if gate.is_finished() {
                    sink.flush(FLUSH_TIMEOUT).map_err(connector)?;
                    downstream.broadcast(StreamElement::EndOfInput).map_err(network)?;
                    return Ok(TaskOutcome::Finished);
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
    writer_loop(ctx, gate, sink.as_mut(), &mut downstream).or_else(outcome_of)
}

/// Runs a sink committer until its writer finishes or it is cancelled.
pub fn run_committer(ctx: &TaskContext, mut gate: InputGate) -> Result<TaskOutcome, TaskError> {
    loop {
        if ctx.cancel.is_cancelled() {
            return Ok(TaskOutcome::Cancelled);
        }
        match gate.next(POLL) {
            Ok(Some((_, StreamElement::EndOfInput))) if gate.is_finished() => return Ok(TaskOutcome::Finished),
            Ok(_) => {}
            Err(e) => return outcome_of(TaskError::Network(ctx.name(), e)),
        }
    }
}
