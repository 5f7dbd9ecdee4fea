//! The `collector` import: a guest's output goes into the task's [`RecordWriter`](weir_network::RecordWriter).

use crate::bindings::weir::job::collector::Host;
use crate::caps::GuestCaps;
use crate::host::{HostState, HostTrap, trap};
use weir_config::keys;

use weir_network::NetworkError;

impl Host for HostState {
    fn emit(&mut self, records: Vec<u8>) -> wasmtime::Result<()> {
        // One batch goes whole into an output buffer: bounded, so the host's copy of it is.
        let max = self.caps.emit_batch_bytes;
        GuestCaps::check("a record batch emitted in one call", records.len(), max, keys::GUEST_EMIT_MAX_BATCH_SIZE)
            .map_err(trap)?;
        let writer = self.output().map_err(trap)?;
        let result = writer.emit(&records);
        let blocked = writer.take_blocked();
        self.clock.add_back_pressured(blocked);
        match result {
            Ok(()) => Ok(()),
            Err(NetworkError::Cancelled) => Err(trap(HostTrap::Cancelled)),
            Err(e) => Err(trap(e)),
        }
    }
}

/// Links the `collector` interface.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    crate::bindings::weir::job::collector::add_to_linker::<_, wasmtime::component::HasSelf<_>>(linker, |state| state)
}
