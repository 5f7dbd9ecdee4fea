//! A job that misbehaves on request, for Weir's tests of the sandbox and of error reports.
//!
//! `--fail <mode>` picks what goes wrong and `--fail-in plan|open|process` where (default
//! `process`): `trap` (executes `unreachable`), `panic`, `loop` (never returns), `oom`
//! (allocates without bound), `error` (returns an error), `foreign-key` (uses keyed state for
//! "/help" in the keyed operator, which at parallelism 2 subtask 0 does not own),
//! `unkeyed-state` (uses keyed state in an operator whose input is not keyed), `sleep` (sleeps
//! 1 s per batch) or `none`. The graph is a datagen source → hash → the misbehaving operator → discard sink.

use weir_sdk::args::Args;
use weir_sdk::graph::{DatagenSource, GraphBuilder, JobGraph, ShipStrategy, SinkConnector, SourceConnector};
use weir_sdk::metrics::Counter;
use weir_sdk::state::ValueState;
use weir_sdk::{Job, Operator, OperatorContext, Output, Records};

struct TestJob;

fn misbehave(mode: &str) -> Result<(), String> {
    match mode {
        "trap" => core::arch::wasm32::unreachable(),
        "panic" => panic!("boom from the test job"),
        "loop" => {
            let mut i: u64 = 0;
            loop {
                i = std::hint::black_box(i.wrapping_add(1));
            }
        }
        "oom" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "error" => Err("the test job refuses this batch".to_string()),
        "foreign-key" | "unkeyed-state" => {
            ValueState::<u64>::new("seen").set(b"/help", b"", &1);
            Ok(())
        }
        "sleep" => {
            weir_sdk::time::sleep(1_000);
            Ok(())
        }
        _ => Ok(()),
    }
}

struct Config {
    mode: String,
    stage: String,
}

impl Config {
    fn parse(config: &str) -> Config {
        let (mode, stage) = config.split_once(' ').unwrap_or(("none", "process"));
        Config { mode: mode.to_string(), stage: stage.to_string() }
    }
}

impl Job for TestJob {
    fn plan(raw: Vec<String>) -> Result<JobGraph, String> {
        let mut args = Args::parse(&raw)?;
        let mode = args.choice(
            "fail",
            &["none", "trap", "panic", "loop", "oom", "error", "foreign-key", "unkeyed-state", "sleep"],
            "none",
        )?;
        let stage = args.choice("fail-in", &["plan", "open", "process"], "process")?;
        let count: u64 = args.parsed("count")?.unwrap_or(1000);
        args.finish()?;
        if stage == "plan" {
            misbehave(mode)?;
        }
        let mut g = GraphBuilder::new("Test Job");
        let source = g.source(
            "source",
            "Numbers",
            SourceConnector::Datagen(DatagenSource { count: Some(count), rate: None }),
            None,
        );
        let op = g.transform("misbehave", "Misbehave", "misbehave", &[(&source, ShipStrategy::Rebalance)]);
        g.set_config(&op, format!("{mode} {stage}"));
        let keyed = g.transform("keyed", "Keyed", "count-keys", &[(&op, ShipStrategy::Hash)]);
        g.set_config(&keyed, mode);
        g.sink("sink", "Discard", SinkConnector::Discard, &keyed);
        Ok(g.build())
    }

    fn open(context: &OperatorContext) -> Result<Box<dyn Operator>, String> {
        match context.function.as_str() {
            "misbehave" => {
                let config = Config::parse(&context.config);
                if config.stage == "open" {
                    misbehave(&config.mode)?;
                }
                Ok(Box::new(Misbehave { config, records: Counter::new("recordsSeen") }))
            }
            "count-keys" => Ok(Box::new(CountKeys { seen: ValueState::new("seen"), mode: context.config.clone() })),
            other => Err(format!("no function '{other}'")),
        }
    }
}

struct Misbehave {
    config: Config,
    records: Counter,
}

impl Operator for Misbehave {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        if self.config.stage == "process" && self.config.mode != "foreign-key" {
            // (foreign-key misbehaves in the keyed operator below)
            misbehave(&self.config.mode)?;
        }
        let mut n = 0;
        for record in records {
            n += 1;
            // Key every record by its page so the next operator is keyed.
            let page = weir_sdk::json::fields(record.value)
                .filter_map(Result::ok)
                .find(|(k, _)| k.eq_str("page"))
                .and_then(|(_, v)| v.as_str())
                .map(|s| s.raw().to_vec())
                .unwrap_or_default();
            out.emit(record.timestamp, &page, record.value);
        }
        self.records.inc(n);
        Ok(())
    }
}

/// Counts records per key in keyed state; in `foreign-key` mode it also touches "/help".
struct CountKeys {
    seen: ValueState<u64>,
    mode: String,
}

impl Operator for CountKeys {
    fn process(&mut self, _input: u32, records: Records<'_>, _out: &mut Output) -> Result<(), String> {
        if self.mode == "foreign-key" {
            misbehave("foreign-key")?;
        }
        for record in records {
            let n = self.seen.get(record.key, b"")?.unwrap_or(0);
            self.seen.set(record.key, b"", &(n + 1));
        }
        Ok(())
    }
}

weir_sdk::export_job!(TestJob);
