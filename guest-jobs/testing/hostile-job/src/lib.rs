//! A job that tries to make the host hold more than it should, for Weir's tests of the caps
//! on what a guest makes the host hold (issue 22's rows).
//!
//! `--attack <mode>` picks the attack and `--in plan|open|process` where (default `process`):
//! `log` (8 error-level log messages of 40 MiB per call), `log-flood` (100,000 short log lines
//! per call), `print` (a 40 MiB line on stdout and on stderr per call), `failure` (fails with a
//! 64 MiB message of control characters, which JSON escapes six-fold), `timers` (300,000
//! timers with 4 KiB namespaces), `counters` (3 counters with 100 MiB names), `state` (16
//! keyed-state values of 64 MiB), `map` (a map state of 12 values of 4 MiB read back whole), `emit` (one record of 64 MiB), `plan-names` (a plan whose
//! operator name is 16 MiB), `plan-operators` (a plan of 100,000 operators), `plan-subtasks` (a
//! plan of 32,768 subtasks) or `none`. The graph is a datagen source (`--count`, unbounded by
//! default, at `--rate` records per second) → hash → the attacking operator → discard sink.

use weir_sdk::args::Args;
use weir_sdk::bindings::weir::job::state as host_state;
use weir_sdk::graph::{DatagenSource, GraphBuilder, JobGraph, ShipStrategy, SinkConnector, SourceConnector};
use weir_sdk::metrics::{Counter, Level, log};
use weir_sdk::time::{self, TimeDomain};
use weir_sdk::{Job, Operator, OperatorContext, Output, Records};

struct HostileJob;

const ATTACKS: &[&str] = &[
    "none",
    "log",
    "log-flood",
    "print",
    "failure",
    "timers",
    "counters",
    "state",
    "map",
    "emit",
    "plan-names",
    "plan-operators",
    "plan-subtasks",
];

const MIB: usize = 1 << 20;

/// Runs the attack; an attack the host refuses traps (the host's refusal), one it cuts or
/// drops returns and the job runs on.
fn attack(mode: &str) -> Result<(), String> {
    match mode {
        "log" => {
            let message = "L".repeat(40 * MIB);
            for _ in 0..8 {
                log(Level::Error, &message);
            }
            Ok(())
        }
        "log-flood" => {
            for i in 0..100_000 {
                log(Level::Info, &format!("hostile flood line {i}"));
            }
            Ok(())
        }
        "print" => {
            let line = "P".repeat(40 * MIB);
            println!("{line}");
            eprintln!("{line}");
            Ok(())
        }
        "failure" => {
            let mut message = String::from("hostile failure message: ");
            message.push_str(&"\u{1}".repeat(64 * MIB));
            Err(message)
        }
        "timers" => {
            let namespace = vec![b'n'; 4096];
            for i in 0..300_000i64 {
                time::register_timer(TimeDomain::ProcessingTime, b"k", &namespace, i64::MAX - i);
            }
            Ok(())
        }
        "counters" => {
            let counters: Vec<Counter> =
                (0..3u8).map(|i| Counter::new(&char::from(b'a' + i).to_string().repeat(100 * MIB))).collect();
            for c in &counters {
                c.inc(1);
            }
            Ok(())
        }
        "state" => {
            let state = host_state::ValueState::new("hoard");
            let value = vec![b'v'; 64 * MIB];
            for i in 0..16u8 {
                state.set(b"k", &[i], &value);
            }
            Ok(())
        }
        "map" => {
            // Each value within the value cap; together more than the instance's memory budget
            // (the test sets 32 MiB), so the host must refuse to read them all back.
            let map = host_state::MapState::new("hoard");
            let value = vec![b'v'; 4 * MIB];
            for i in 0..12u8 {
                map.put(b"k", &[], &[i], &value);
            }
            let _ = map.entries(b"k", &[]);
            Ok(())
        }
        _ => Ok(()),
    }
}

impl Job for HostileJob {
    fn plan(raw: Vec<String>) -> Result<JobGraph, String> {
        let mut args = Args::parse(&raw)?;
        let mode = args.choice("attack", ATTACKS, "none")?.to_string();
        let stage = args.choice("in", &["plan", "open", "process"], "process")?.to_string();
        let count: Option<u64> = args.parsed("count")?;
        let rate: u64 = args.parsed("rate")?.unwrap_or(20);
        args.finish()?;
        if stage == "plan" {
            attack(&mode)?;
            if mode == "log" || mode == "print" {
                // A trap's report repeats what the guest said just before: cut as well.
                panic!("the hostile plan gives up after its attack");
            }
        }
        let mut g = GraphBuilder::new("Hostile Job");
        let datagen = SourceConnector::Datagen(DatagenSource { count, rate: Some(rate) });
        match mode.as_str() {
            "plan-operators" => {
                for i in 0..100_000 {
                    g.source(&format!("source-{i}"), "Numbers", datagen.clone(), None);
                }
            }
            "plan-subtasks" => {
                g.max_parallelism(32_768);
                let source = g.source("source", "Numbers", datagen.clone(), None);
                g.set_parallelism(&source, 32_768);
            }
            _ => {}
        }
        let name = if mode == "plan-names" { "N".repeat(16 * MIB) } else { "Numbers".to_string() };
        let source = g.source("numbers", &name, datagen, None);
        let op = g.transform("attack", "Attack", "attack", &[(&source, ShipStrategy::Hash)]);
        g.set_config(&op, format!("{mode}\n{stage}"));
        g.sink("sink", "Discard", SinkConnector::Discard, &op);
        Ok(g.build())
    }

    fn open(context: &OperatorContext) -> Result<Box<dyn Operator>, String> {
        let mut config = context.config.split('\n');
        let mode = config.next().unwrap_or("none").to_string();
        let stage = config.next().unwrap_or("process").to_string();
        if stage == "open" {
            attack(&mode)?;
        }
        Ok(Box::new(Attack { mode, stage }))
    }
}

struct Attack {
    mode: String,
    stage: String,
}

impl Operator for Attack {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        if self.stage == "process" {
            if self.mode == "emit" {
                out.emit(0, b"k", &vec![b'e'; 64 * MIB]);
                out.flush();
            }
            attack(&self.mode)?;
        }
        for record in records {
            out.emit_record(&record);
        }
        Ok(())
    }
}

weir_sdk::export_job!(HostileJob);
