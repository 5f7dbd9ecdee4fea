//! The `logging` import: guest log lines go to the host's log, tagged with the operator and
//! subtask; error-level lines are also kept for error reports.

use crate::bindings::weir::job::logging::{Host, Level};
use crate::caps::cut;
use crate::host::HostState;
use weir_config::keys;

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        // Cut first: neither the log nor an error report holds more than the cap of a message.
        let message = cut(message, self.caps.log_message_bytes, keys::GUEST_LOG_MAX_MESSAGE_SIZE);
        if !self.log_budget.take() {
            // Over the rate: dropped and counted, but an error still reaches error reports.
            if matches!(level, Level::Error) {
                self.diagnostics.push(message);
            }
            return Ok(());
        }
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

/// Links the `logging` interface.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    crate::bindings::weir::job::logging::add_to_linker::<_, wasmtime::component::HasSelf<_>>(linker, |state| state)
}
