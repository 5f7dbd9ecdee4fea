//! Connectors: where sources read and sinks write. Guests name them in the plan; the host
//! implements them.
//!
//! - [`kafka`]: the Kafka source and sink (rdkafka), and topic creation.
//! - [`write_ahead`]: records a sink holds by checkpoint epoch until the checkpoint completes.
//! - [`datagen`]: the click-event generator as a source, with no broker.
//! - [`StdoutSink`] and [`DiscardSink`]: for trying and measuring jobs.

pub mod datagen;
pub mod generator;
pub mod kafka;
pub mod write_ahead;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use weir_core::metrics::{Counter, Gauge};

/// Why a connector failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The Kafka client (librdkafka) or admin API failed.
    #[error("Kafka: {0}")]
    Kafka(String),
    /// A topic is missing or not as the connector needs it.
    #[error("Kafka topic '{topic}' {problem}")]
    Topic {
        /// The topic's name.
        topic: String,
        /// What is wrong with it, as the rest of a sentence ("does not exist").
        problem: String,
    },
    /// Writing to standard output (the print sink) failed.
    #[error("writing to standard output: {0}")]
    Io(#[from] std::io::Error),
    /// A record batch does not decode in the frame format.
    #[error(transparent)]
    Frame(#[from] weir_frame::FrameError),
    /// A sink writer could not recover its position from its checkpointed state.
    #[error("{0}")]
    Restore(String),
}

impl From<rdkafka::error::KafkaError> for ConnectorError {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        ConnectorError::Kafka(e.to_string())
    }
}

/// Records read from one split (a Kafka partition, a generator's share).
pub struct SourceBatch {
    /// The split's id: the Kafka partition number, or the datagen subtask's index.
    pub split: u32,
    /// The records, in the frame format.
    pub records: Vec<u8>,
}

/// What a source read in one poll.
#[derive(Default)]
pub struct SourcePoll {
    /// What was read, a batch per split that had records.
    pub batches: Vec<SourceBatch>,
    /// Splits that have reached their end (bounded sources).
    pub ended_splits: Vec<u32>,
    /// Every split has ended: the source is done.
    pub finished: bool,
    /// How long the poll waited for records to arrive: the source's idle time (a poll that
    /// returns no records counts as idle throughout, whatever this says).
    pub waited: Duration,
}

/// The reading side of a source subtask (Flink's `SourceReader`).
pub trait SourceReader: Send {
    /// The splits this subtask reads.
    fn splits(&self) -> Vec<u32>;

    /// Reads what is available, waiting up to `timeout` if nothing is.
    fn poll(&mut self, timeout: Duration) -> Result<SourcePoll, ConnectorError>;

    /// Each split's position after what has been read: what a checkpoint records.
    fn positions(&self) -> Vec<(u32, i64)>;

    /// A checkpoint with these positions is complete (Kafka commits them to the group).
    fn commit(&mut self, positions: &[(u32, i64)]) {
        let _ = positions;
    }
}

/// Where a sink subtask snapshots at a barrier.
pub struct SnapshotContext<'a> {
    /// The barrier: the checkpoint's id, kind and directory.
    pub barrier: &'a weir_core::checkpoint::Barrier,
    /// The sink operator's uid.
    pub uid: &'a str,
    /// The subtask's index.
    pub subtask: u32,
}

/// What a sink writer counts, in the task's metrics (see `weir_core::metrics`).
#[derive(Clone, Default)]
pub struct SinkMetrics {
    /// Records made visible downstream, over every attempt of the job.
    pub published: Arc<Counter>,
    /// Records not written again because they had been published before a failure.
    pub skipped: Arc<Counter>,
    /// Records held until their checkpoint completes.
    pub held: Arc<Gauge>,
}

/// The writing side of a sink subtask (Flink's `SinkWriter`).
pub trait SinkWriter: Send {
    /// Writes a batch of records (frame format).
    fn write(&mut self, batch: &[u8]) -> Result<(), ConnectorError>;

    /// Waits until everything written is durable (for Kafka: acknowledged by the broker).
    fn flush(&mut self, timeout: Duration) -> Result<(), ConnectorError>;

    /// What the writer keeps in a checkpoint, after a flush.
    fn snapshot(
        &mut self,
        at: &SnapshotContext<'_>,
    ) -> Result<Option<weir_core::checkpoint::SinkState>, ConnectorError> {
        let _ = at;
        Ok(None)
    }

    /// Checkpoint `checkpoint` is complete everywhere.
    fn checkpoint_complete(&mut self, checkpoint: u64) -> Result<(), ConnectorError> {
        let _ = checkpoint;
        Ok(())
    }

    /// True while records wait for a checkpoint to complete (the task then listens for
    /// completions more often, and waits for them before it finishes after a stop).
    fn awaits_completion(&self) -> bool {
        false
    }

    /// The input has ended: writes out whatever is still held, and flushes.
    fn finish(&mut self, timeout: Duration) -> Result<(), ConnectorError> {
        self.flush(timeout)
    }
}

/// Writes record values to standard output, one per line.
pub struct StdoutSink;

impl SinkWriter for StdoutSink {
    fn write(&mut self, batch: &[u8]) -> Result<(), ConnectorError> {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for record in weir_frame::records(batch) {
            out.write_all(record?.value)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn flush(&mut self, _timeout: Duration) -> Result<(), ConnectorError> {
        std::io::stdout().flush()?;
        Ok(())
    }
}

/// Drops everything.
pub struct DiscardSink;

impl SinkWriter for DiscardSink {
    fn write(&mut self, _batch: &[u8]) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn flush(&mut self, _timeout: Duration) -> Result<(), ConnectorError> {
        Ok(())
    }
}
