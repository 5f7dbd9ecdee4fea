//! The `logging` import: guest log lines go to the host's log, tagged with the operator and
//! subtask; error-level lines are also kept for error reports.

use super::bindings::weir::job::logging::{Host, Level};
use super::host::HostState;

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let operator = &*self.tag;
        match level {
            Level::Trace => tracing::trace!(target: "weir::guest", operator, "{message}"),
            Level::Debug => tracing::debug!(target: "weir::guest", operator, "{message}"),
            Level::Info => tracing::info!(target: "weir::guest", operator, "{message}"),
            Level::Warn => tracing::warn!(target: "weir::guest", operator, "{message}"),
            Level::Error => {
                tracing::error!(target: "weir::guest", operator, "{message}");
                self.diagnostics.push(message);
            }
        }
        Ok(())
    }
}
