//! A job that misbehaves on request, for Weir's tests of the sandbox and of error reports.
//!
//! `--fail <mode>` picks what goes wrong and `--fail-in plan|open|process` where (default
//! `process`): `trap` (executes `unreachable`), `panic`, `loop` (never returns), `oom`
//! (allocates without bound), `error` (returns an error), `error-beside-slow-open` (subtask 0
//! sleeps `--duration-ms` in `open` while the others return an error), `foreign-key` (uses keyed state for
//! "/help" in the keyed operator, which at parallelism 2 subtask 0 does not own),
//! `unkeyed-state` (uses keyed state in an operator whose input is not keyed), `sleep` (sleeps
//! `--duration-ms` per batch, in steps), `spin` (computes for `--duration-ms` per batch),
//! `flood` (emits 4 MiB per batch to a keyed operator that sleeps `--duration-ms` on its first
//! batch, so the emitting call waits on backpressure), `probe` (fails with a report of what
//! the sandbox let it see: a file, the root and working directories, the environment, the
//! network) or `none`. The graph is a datagen source → rebalance → the misbehaving operator →
//! hash → a keyed counter → discard sink. The misbehaving operator reports the longest
//! wall-clock time one of its calls took as the gauge `longestCallMs`; `--max-parallelism` sets
//! the job's. `--kafka-sink <bootstrap servers>` makes the sink a Kafka sink of the topic
//! `test-out` there, with the client property `--kafka-property <key>=<value>` if given;
//! `--checkpoint-interval-ms <n>` turns checkpointing on.

use weir_sdk::args::Args;
use weir_sdk::graph::{
    DatagenSource, DeliveryGuarantee, GraphBuilder, JobGraph, KafkaSink, ShipStrategy, SinkConnector, SourceConnector,
    kafka_topic,
};
use weir_sdk::metrics::{Counter, Gauge};
use weir_sdk::state::ValueState;
use weir_sdk::time;
use weir_sdk::{Job, Operator, OperatorContext, Output, Records};

struct TestJob;

const MODES: &[&str] = &[
    "none",
    "trap",
    "panic",
    "loop",
    "oom",
    "error",
    "error-beside-slow-open",
    "foreign-key",
    "unkeyed-state",
    "sleep",
    "spin",
    "flood",
    "probe",
];

/// What `flood` emits per call: far more than the channel between two tasks holds (four
/// buffers, each what one emit hands over: up to the SDK's 256 KiB).
const FLOOD_BYTES: usize = 4 << 20;

/// The size of each record `flood` emits: large, so the keyed operator gets through them fast.
const FLOOD_RECORD_BYTES: usize = 4 << 10;

fn misbehave(config: &Config) -> Result<(), String> {
    match config.mode.as_str() {
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
        "error" | "error-beside-slow-open" => Err("the test job refuses this batch".to_string()),
        "foreign-key" | "unkeyed-state" => {
            ValueState::<u64>::new("seen").set(b"/help", b"", &1);
            Ok(())
        }
        "sleep" => {
            // In steps: what the limit must not count is the total within one call.
            let mut left = config.duration_ms;
            while left > 0 {
                let step = left.min(250);
                time::sleep(step);
                left -= step;
            }
            Ok(())
        }
        "spin" => {
            let until = time::current_processing_time() + config.duration_ms as i64;
            let mut i: u64 = 0;
            while time::current_processing_time() < until {
                i = std::hint::black_box(i.wrapping_add(1));
            }
            Ok(())
        }
        "probe" => Err(probe(&config.probe_file, &config.probe_address)),
        _ => Ok(()),
    }
}

/// What the sandbox lets a guest see: `name=OPEN`/`CONNECTED`/`FOUND` where it let the guest
/// through, `name=refused (why)` where not, and the counts of environment variables and
/// arguments.
fn probe(file: &str, address: &str) -> String {
    fn outcome<T>(result: std::io::Result<T>, success: &str) -> String {
        match result {
            Ok(_) => success.to_string(),
            Err(e) => format!("refused ({e})"),
        }
    }
    let report = [
        format!("file={}", outcome(std::fs::File::open(file), "OPEN")),
        format!("root={}", outcome(std::fs::read_dir("/"), "OPEN")),
        format!("here={}", outcome(std::fs::read_dir("."), "OPEN")),
        format!("env-vars={}", std::env::vars_os().count()),
        format!("args={}", std::env::args_os().count()),
        format!("tcp={}", outcome(std::net::TcpStream::connect(address), "CONNECTED")),
        format!("udp={}", outcome(std::net::UdpSocket::bind("0.0.0.0:0"), "OPEN")),
        format!("dns={}", outcome(std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 80)), "FOUND")),
    ];
    format!("probe: {}", report.join("; "))
}

/// The misbehaving operator's configuration, as the plan hands it on (one field a line).
struct Config {
    mode: String,
    stage: String,
    duration_ms: u64,
    probe_file: String,
    probe_address: String,
}

impl Config {
    fn parse(config: &str) -> Config {
        let mut fields = config.split('\n');
        let mut next = |default: &str| fields.next().unwrap_or(default).to_string();
        Config {
            mode: next("none"),
            stage: next("process"),
            duration_ms: next("1000").parse().unwrap_or(1000),
            probe_file: next("/etc/passwd"),
            probe_address: next("127.0.0.1:9"),
        }
    }

    fn to_config(&self) -> String {
        [self.mode.as_str(), &self.stage, &self.duration_ms.to_string(), &self.probe_file, &self.probe_address]
            .join("\n")
    }
}

impl Job for TestJob {
    fn plan(raw: Vec<String>) -> Result<JobGraph, String> {
        let mut args = Args::parse(&raw)?;
        let config = Config {
            mode: args.choice("fail", MODES, "none")?.to_string(),
            stage: args.choice("fail-in", &["plan", "open", "process"], "process")?.to_string(),
            duration_ms: args.parsed("duration-ms")?.unwrap_or(1000),
            probe_file: args.value_or("probe-file", "/etc/passwd")?,
            probe_address: args.value_or("probe-address", "127.0.0.1:9")?,
        };
        let count: u64 = args.parsed("count")?.unwrap_or(1000);
        let max_parallelism: Option<u32> = args.parsed("max-parallelism")?;
        let kafka_sink = args.value("kafka-sink")?;
        let kafka_property = args.value("kafka-property")?;
        let checkpoint_interval: Option<u64> = args.parsed("checkpoint-interval-ms")?;
        args.finish()?;
        if config.stage == "plan" {
            misbehave(&config)?;
        }
        let mut g = GraphBuilder::new("Test Job");
        if let Some(max) = max_parallelism {
            g.max_parallelism(max);
        }
        if let Some(interval) = checkpoint_interval {
            g.checkpointing(interval);
        }
        let source = g.source(
            "source",
            "Numbers",
            SourceConnector::Datagen(DatagenSource { count: Some(count), rate: None }),
            None,
        );
        let op = g.transform("misbehave", "Misbehave", "misbehave", &[(&source, ShipStrategy::Rebalance)]);
        g.set_config(&op, config.to_config());
        let keyed = g.transform("keyed", "Keyed", "count-keys", &[(&op, ShipStrategy::Hash)]);
        g.set_config(&keyed, config.to_config());
        match kafka_sink {
            Some(servers) => {
                let property = kafka_property.as_deref().and_then(|p| p.split_once('='));
                let topic = kafka_topic("test-out", &servers, property.as_slice());
                let sink = KafkaSink { topic, delivery_guarantee: DeliveryGuarantee::AtLeastOnce };
                g.sink("sink", "Kafka Sink", SinkConnector::Kafka(sink), &keyed)
            }
            None => g.sink("sink", "Discard", SinkConnector::Discard, &keyed),
        };
        Ok(g.build())
    }

    fn open(context: &OperatorContext) -> Result<Box<dyn Operator>, String> {
        let config = Config::parse(&context.config);
        match context.function.as_str() {
            "misbehave" => {
                if config.stage == "open" {
                    misbehave(&config)?;
                }
                if config.mode == "error-beside-slow-open" && context.subtask_index == 0 {
                    // Still opening (for `--duration-ms`) when subtask 1 fails: this subtask is
                    // cancelled inside `open`.
                    time::sleep(config.duration_ms);
                }
                Ok(Box::new(Misbehave {
                    config,
                    records: Counter::new("recordsSeen"),
                    longest_call: Gauge::new("longestCallMs"),
                    longest_ms: 0,
                }))
            }
            "count-keys" => Ok(Box::new(CountKeys { seen: ValueState::new("seen"), config, calls: 0 })),
            other => Err(format!("no function '{other}'")),
        }
    }
}

struct Misbehave {
    config: Config,
    records: Counter,
    /// The longest wall-clock time of one call, sleeping and waiting included.
    longest_call: Gauge,
    longest_ms: i64,
}

impl Operator for Misbehave {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        let started = time::current_processing_time();
        // (foreign-key misbehaves in the keyed operator below)
        if self.config.stage == "process" && self.config.mode != "foreign-key" {
            misbehave(&self.config)?;
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
            if self.config.mode == "flood" {
                let padding = vec![b' '; FLOOD_RECORD_BYTES];
                for _ in 0..FLOOD_BYTES / FLOOD_RECORD_BYTES {
                    out.emit(record.timestamp, &page, &padding);
                }
                // Hand it all over within this call, so the wait happens inside it.
                out.flush();
            }
        }
        self.records.inc(n);
        let took = time::current_processing_time() - started;
        if took > self.longest_ms {
            self.longest_ms = took;
            self.longest_call.set(took as f64);
        }
        Ok(())
    }
}

/// Counts records per key in keyed state; in `foreign-key` mode it also touches "/help", in
/// `flood` mode it sleeps on its first batch.
struct CountKeys {
    seen: ValueState<u64>,
    config: Config,
    calls: u64,
}

impl Operator for CountKeys {
    fn process(&mut self, _input: u32, records: Records<'_>, _out: &mut Output) -> Result<(), String> {
        match self.config.mode.as_str() {
            "foreign-key" => misbehave(&self.config)?,
            "flood" if self.calls == 0 => time::sleep(self.config.duration_ms),
            _ => {}
        }
        self.calls += 1;
        for record in records {
            let n = self.seen.get(record.key, b"")?.unwrap_or(0);
            self.seen.set(record.key, b"", &(n + 1));
        }
        Ok(())
    }
}

weir_sdk::export_job!(TestJob);
