//! The guest's stdout and stderr: each line goes to the host's log, tagged with the operator,
//! and the last lines are kept so that an error report can say what the guest printed before
//! it failed (a Rust panic message, for example).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::caps::LogBudget;

/// Keep this many recent diagnostic lines per instance (each at most the log message cap), so
/// an error report stays bounded.
const KEPT_LINES: usize = 8;

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
    budget: LogBudget,
    max_line: usize,
    /// The line so far (at most `max_line` bytes) and how many bytes past that were cut.
    partial: Arc<Mutex<(Vec<u8>, usize)>>,
}

impl GuestOutput {
    /// A stream named `stream` ("stdout" or "stderr") whose lines are logged under `tag` within
    /// `budget`, cut at `max_line` bytes, and remembered in `diagnostics`.
    pub fn new(
        tag: Arc<str>,
        stream: &'static str,
        diagnostics: Diagnostics,
        budget: LogBudget,
        max_line: usize,
    ) -> Self {
        GuestOutput { tag, stream, diagnostics, budget, max_line, partial: Arc::default() }
    }

    fn clone_stream(&self) -> GuestOutput {
        GuestOutput {
            tag: self.tag.clone(),
            stream: self.stream,
            diagnostics: self.diagnostics.clone(),
            budget: self.budget.clone(),
            max_line: self.max_line,
            partial: self.partial.clone(),
        }
    }

    fn write_bytes(&self, bytes: &[u8]) {
        let mut partial = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        let (line, cut) = &mut *partial;
        for &b in bytes {
            if b == b'\n' {
                self.emit_line(line, *cut);
                line.clear();
                *cut = 0;
            } else if line.len() < self.max_line {
                line.push(b);
            } else {
                *cut = cut.saturating_add(1);
            }
        }
    }

    fn emit_line(&self, line: &[u8], cut: usize) {
        let mut text = String::from_utf8_lossy(line).into_owned();
        if cut > 0 {
            text.push_str(&format!("… [{cut} more bytes cut: {}]", weir_config::keys::GUEST_LOG_MAX_MESSAGE_SIZE));
        }
        if self.budget.take() {
            tracing::info!(target: "weir::guest", operator = &*self.tag, stream = self.stream, "{text}");
        }
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
