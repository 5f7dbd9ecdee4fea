//! Where an operator's records go: a framed buffer handed to the host's collector in large
//! pieces (at the end of every call, or sooner when it grows big).

use crate::Record;
use crate::host::collector;

/// Hand the buffer over once it holds this much, so a call that emits a lot does not hold it
/// all in guest memory.
const FLUSH_BYTES: usize = 256 * 1024;

/// The output of an operator.
pub struct Output {
    buffer: Vec<u8>,
}

impl Output {
    pub(crate) fn new() -> Self {
        Output { buffer: Vec::with_capacity(FLUSH_BYTES) }
    }

    /// Emits a record. An empty key is no key.
    #[inline]
    pub fn emit(&mut self, timestamp: i64, key: &[u8], value: &[u8]) {
        weir_frame::push(&mut self.buffer, timestamp, key, value);
        if self.buffer.len() >= FLUSH_BYTES {
            self.flush();
        }
    }

    /// Emits a record unchanged.
    #[inline]
    pub fn emit_record(&mut self, record: &Record<'_>) {
        self.emit(record.timestamp, record.key, record.value);
    }

    /// Emits a whole batch unchanged (it must be in frame format, as input batches are).
    pub fn emit_batch(&mut self, batch: &[u8]) {
        self.flush();
        collector::emit(batch);
    }

    /// Hands what is buffered to the host.
    pub fn flush(&mut self) {
        if !self.buffer.is_empty() {
            collector::emit(&self.buffer);
            self.buffer.clear();
        }
    }
}
