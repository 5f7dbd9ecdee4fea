//! The guest's stdout and stderr: each line goes to the host's log, tagged with the operator,
//! and the last lines are kept so that an error report can say what the guest printed before
//! it failed (a Rust panic message, for example).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Keep this many recent diagnostic lines per instance.
const KEPT_LINES: usize = 8;
/// Cut lines longer than this.
const MAX_LINE: usize = 4096;

/// Recent error-level messages and output lines of one guest instance.
#[derive(Clone, Default)]
pub struct Diagnostics {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl Diagnostics {
    /// Remembers a line.
    pub fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == KEPT_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The remembered lines, oldest first, and forgets them.
    pub fn take(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect()
    }

    /// Forgets what was remembered.
    pub fn clear(&self) {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A guest's stdout or stderr.
pub struct GuestOutput {
    tag: Arc<str>,
    stream: &'static str,
    diagnostics: Diagnostics,
    partial: Arc<Mutex<Vec<u8>>>,
}

impl GuestOutput {
    /// A stream named `stream` ("stdout" or "stderr") whose lines are logged under `tag` and
    /// remembered in `diagnostics`.
    pub fn new(tag: Arc<str>, stream: &'static str, diagnostics: Diagnostics) -> Self {
        GuestOutput { tag, stream, diagnostics, partial: Arc::default() }
    }

    fn clone_stream(&self) -> GuestOutput {
        GuestOutput {
            tag: self.tag.clone(),
            stream: self.stream,
            diagnostics: self.diagnostics.clone(),
            partial: self.partial.clone(),
        }
    }

    fn write_bytes(&self, bytes: &[u8]) {
        let mut partial = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        for &b in bytes {
            if b == b'\n' {
                self.emit_line(&partial);
                partial.clear();
            } else if partial.len() < MAX_LINE {
                partial.push(b);
            }
        }
    }

    fn emit_line(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line).into_owned();
        tracing::info!(target: "weir::guest", operator = &*self.tag, stream = self.stream, "{text}");
        self.diagnostics.push(text);
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone_stream())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone_stream())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
