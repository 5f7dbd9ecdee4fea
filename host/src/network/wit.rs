//! The `collector` import: a guest's output goes into the task's [`RecordWriter`].

use crate::component::bindings::weir::job::collector::Host;
use crate::component::host::{HostState, HostTrap, trap};

use super::NetworkError;

impl Host for HostState {
    fn emit(&mut self, records: Vec<u8>) -> wasmtime::Result<()> {
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
