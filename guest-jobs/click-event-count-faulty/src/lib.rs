//! A faulty Click Event Count component, for the rollback demo: version 1's graph, whose window
//! counter fails on its first call (`open`). Upgrading a running job to it makes the new code
//! fail during probation, so Weir rolls the job back to the code it ran before.

use click_event_job::{ClickEventCount, function, open_function};
use weir_sdk::graph::JobGraph;
use weir_sdk::{Job, Operator, OperatorContext};

struct FaultyClickEventCount;

impl Job for FaultyClickEventCount {
    fn plan(raw: Vec<String>) -> Result<JobGraph, String> {
        ClickEventCount::plan(raw)
    }

    fn open(context: &OperatorContext) -> Result<Box<dyn Operator>, String> {
        if context.function == function::COUNT {
            return Err("the counter of click_event_count_faulty.wasm fails on its first call (on purpose)".into());
        }
        open_function(context)
    }
}

weir_sdk::export_job!(FaultyClickEventCount);
