//! Version 1.1 of the Click Event Count component: version 1's graph (same operators, uids,
//! edges and arguments), whose results carry `"version":"1.1"`. Its graph being version 1's,
//! `weir upgrade` swaps it into a running version 1 in place, at a checkpoint barrier.

use click_event_job::{JobArgs, Upgrade, open_function, plan_graph};
use weir_sdk::graph::JobGraph;
use weir_sdk::{Job, Operator, OperatorContext};

struct ClickEventCountV1_1;

impl Job for ClickEventCountV1_1 {
    fn plan(raw: Vec<String>) -> Result<JobGraph, String> {
        let args = JobArgs::parse(&raw)?;
        Ok(plan_graph(&args, Some(&Upgrade { version: "1.1".into(), ..Upgrade::default() })))
    }

    fn open(context: &OperatorContext) -> Result<Box<dyn Operator>, String> {
        open_function(context)
    }
}

weir_sdk::export_job!(ClickEventCountV1_1);
