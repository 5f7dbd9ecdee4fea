//! Host bindings generated from the `weir:job` WIT world.
//!
//! Every import may trap (`trappable`): a host service refuses a call (keyed state outside the
//! subtask's key groups, a malformed batch, a cancelled task) by trapping the guest with an error
//! that says why. Imported resources map to the host types that back them.

// The generated items carry the WIT's own docs where it has them; the rest are self-describing.
#[allow(missing_docs)]
mod generated {
    wasmtime::component::bindgen!({
        world: "job",
        path: "../../wit",
        imports: { default: trappable },
        // Batches are handed to the guest as borrowed slices: no copy on the host side.
        ownership: Borrowing { duplicate_if_necessary: true },
        with: {
            "weir:job/state.value-state": crate::services::state::ValueStateHandle,
            "weir:job/state.map-state": crate::services::state::MapStateHandle,
            "weir:job/metrics.counter": crate::services::metrics::CounterHandle,
            "weir:job/metrics.gauge": crate::services::metrics::GaugeHandle,
        },
    });
}

pub use generated::*;

pub use exports::weir::job::operator::OperatorContext;
pub use exports::weir::job::plan as plan_types;
pub use weir::job::types::{TimeDomain, Timer};

/// The interface names a job component must export, for error messages.
pub const REQUIRED_EXPORTS: [&str; 2] = ["weir:job/plan@0.1.0", "weir:job/operator@0.1.0"];
