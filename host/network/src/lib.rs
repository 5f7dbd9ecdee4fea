//! The data exchange between subtasks (Flink's network stack, in one process).
//!
//! Every (upstream subtask, downstream subtask) pair of an edge is a bounded channel of
//! [`StreamElement`]s: record batches in the frame format, watermarks, watermark status and the
//! end of input. A full channel blocks the sender, which is backpressure; the time blocked is
//! counted. A [`RecordWriter`] routes an operator's output over its edges ([`Partitioner`]); an
//! [`InputGate`] reads a task's input channels. Channels to subtasks on other machines are the
//! same channels, fed and drained by a network thread, so tasks never see the difference.

mod gate;
mod partitioner;
pub mod remote;
pub mod wiring;
mod writer;

pub use gate::{InputChannel, InputGate};
pub use partitioner::Partitioner;
pub use writer::{EdgeWriter, RecordWriter};

use crossbeam_channel::{Receiver, Sender};
use weir_core::watermark::WatermarkStatus;

/// Bytes of records a channel buffer holds before it is sent (Flink's 32 KiB network buffers).
pub const BUFFER_BYTES: usize = 32 * 1024;

/// Buffers in flight per channel before the sender blocks.
pub const CHANNEL_CAPACITY: usize = 4;

/// What travels through a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamElement {
    /// Records in the frame format.
    Records(Vec<u8>),
    /// No later record on this channel has a smaller timestamp.
    Watermark(i64),
    /// The sender stopped or resumed producing watermarks.
    Status(WatermarkStatus),
    /// A checkpoint barrier: what came before belongs to the checkpoint, what follows not.
    Barrier(weir_core::checkpoint::Barrier),
    /// The sender has finished: nothing follows.
    EndOfInput,
}

/// Why the exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The task was cancelled while it waited to send or receive.
    #[error("the task was cancelled")]
    Cancelled,
    /// A downstream subtask dropped its input channel: its task has ended or failed.
    #[error("a downstream task has gone away")]
    ReceiverGone,
    /// An upstream subtask dropped its output channel before sending end of input.
    #[error("an upstream task has gone away without finishing")]
    SenderGone,
    /// A record batch does not decode in the frame format.
    #[error(transparent)]
    Malformed(#[from] weir_frame::FrameError),
}

/// Creates a channel between two subtasks.
pub fn channel() -> (Sender<StreamElement>, Receiver<StreamElement>) {
    crossbeam_channel::bounded(CHANNEL_CAPACITY)
}
