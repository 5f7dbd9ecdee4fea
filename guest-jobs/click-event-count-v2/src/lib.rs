//! Version 2 of the Click Event Count component: what a user would change in an upgrade.
//!
//! It adds a stateless operator, "ClickEvent Filter", which drops the pages given with
//! `--exclude-pages /a,/b` (none by default), and tags every result with `"version":"v2"`. The
//! stateful operators (the source's offsets, the window counter, the sink) keep their uids, so
//! a savepoint of version 1 restores into version 2 and the open windows carry over.

use click_event_job::{JobArgs, Upgrade, open_function, plan_graph};
use weir_sdk::graph::JobGraph;
use weir_sdk::{Job, Operator, OperatorContext};

struct ClickEventCountV2;

impl Job for ClickEventCountV2 {
    fn plan(raw: Vec<String>) -> Result<JobGraph, String> {
        let (args, excluded) = JobArgs::parse_with(&raw, |a| {
            Ok(a.value("exclude-pages")?.map(|p| p.split(',').map(str::to_string).collect()).unwrap_or_default())
        })?;
        Ok(plan_graph(&args, Some(&Upgrade { version: "v2".into(), page_filter: true, excluded_pages: excluded })))
    }

    fn open(context: &OperatorContext) -> Result<Box<dyn Operator>, String> {
        // Version 2 runs version 1's functions, plus its filter.
        open_function(context)
    }
}

weir_sdk::export_job!(ClickEventCountV2);
