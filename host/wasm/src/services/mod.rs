//! The host services a guest imports, one module per WIT interface. Each links only its own
//! interface (as Spin's factors do), so what a guest can reach is exactly the list in
//! [`add_to_linker`], and each service finds what it needs in [`crate::host::Services`].

pub mod collector;
pub mod logging;
pub mod metrics;
pub mod state;
pub mod time;

use wasmtime::component::Linker;

use crate::host::HostState;

/// Links every `weir:job` host service.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    state::add_to_linker(linker)?;
    time::add_to_linker(linker)?;
    collector::add_to_linker(linker)?;
    metrics::add_to_linker(linker)?;
    logging::add_to_linker(linker)
}
