//! Conversions between the WIT-generated types and the engine's own, all in one place: the rest
//! of Weir sees only `weir-core`'s types, so a change to `wit/` shows up here and nowhere else.
//!
//! - [`plan`]: the guest's plan to the engine's job graph, with its checks.
//! - here: time domains, timers and the operator context `open` receives.

pub mod plan;

use weir_core::timer::{FiredTimer, TimeDomain};

use crate::bindings;
use crate::instance::OperatorInfo;

impl From<bindings::TimeDomain> for TimeDomain {
    fn from(domain: bindings::TimeDomain) -> Self {
        match domain {
            bindings::TimeDomain::EventTime => TimeDomain::EventTime,
            bindings::TimeDomain::ProcessingTime => TimeDomain::ProcessingTime,
        }
    }
}

impl From<TimeDomain> for bindings::TimeDomain {
    fn from(domain: TimeDomain) -> Self {
        match domain {
            TimeDomain::EventTime => bindings::TimeDomain::EventTime,
            TimeDomain::ProcessingTime => bindings::TimeDomain::ProcessingTime,
        }
    }
}

/// A fired timer as the guest receives it, borrowing the host's copy.
pub(crate) fn timer(fired: &FiredTimer) -> bindings::Timer<'_> {
    bindings::Timer { key: &fired.key, namespace: &fired.namespace, time: fired.time, domain: fired.domain.into() }
}

/// The operator context as the guest's `open` receives it.
pub(crate) fn operator_context<'a>(info: &OperatorInfo<'a>) -> bindings::OperatorContext<'a> {
    bindings::OperatorContext {
        job_name: info.job_name,
        uid: info.uid,
        name: info.name,
        function: info.function,
        config: info.config,
        subtask_index: info.subtask_index,
        parallelism: info.parallelism,
        max_parallelism: info.max_parallelism,
        keyed: info.keyed,
    }
}
