//! A job whose output depends on the order its two inputs arrive in, for Weir's tests of
//! exactly-once output (`tests/tests/exactly_once.rs`).
//!
//! Two Kafka sources read ids, each record's value an id in decimal text (`17`), from the topics
//! `--input-a` (default `a`) and `--input-b` (default `b`), from the earliest offset, unbounded.
//! Each source's function (`parse-id`) checks the id and keys it by `id % 4` (one ASCII digit);
//! a value that is not an id is skipped, counted in `numMalformedRecordsSkipped` and logged at
//! most once per 10 s. Both sources feed ONE operator with two inputs, which sees them
//! interleaved in whatever order the data arrives, so a job restored from a checkpoint replays
//! its input in another order than it first read it. `--mode` picks that operator:
//!
//! - `merge` (the default): one subtask (parallelism 1, both edges rebalance) writes each id as
//!   the record value `{"id":17}` to the sink (parallelism 1).
//! - `windows`: a keyed operator (both edges hash, at the job's parallelism) puts each id in the
//!   processing-time tumbling window of 1 s it arrives in, kept in keyed state (a `ValueState`
//!   per key and window, the window's start as the namespace, so pending ids survive a restore)
//!   with a processing-time timer at the window's last millisecond. When the timer fires, one
//!   record per id, `{"id":17,"window":<window start, ms since the epoch>}`, goes to the sink
//!   (the job's parallelism), and the window's state is cleared: every id lands in exactly one
//!   window.
//!
//! Records go to the `--output` topic (default `output`) without a key, through a Kafka sink
//! with `--delivery-guarantee exactly-once` (the default) or `at-least-once`. Checkpointing is
//! always on, every `--checkpointing.interval-ms` (default 1000). `--bootstrap.servers`
//! defaults to `localhost:9092`.
//!
//! For the tests of hot-swap upgrades (README "Hot-swap upgrade"), three arguments make other
//! versions of the job from the same component; without them the job is as above:
//!
//! - `--tag <s>` (letters, digits, `.`, `-`, `_`): the two-input operator's configuration
//!   carries the tag, and each record it writes gets it as its last field, `{"id":17,"tag":"v2"}`
//!   (`{"id":17,"window":…,"tag":"v2"}`). A version that differs only in its tag has the same
//!   graph with another operator configuration: `weir upgrade` swaps it in place.
//! - `--fail-after-records <k>`: the configuration carries it too, and each subtask of the
//!   two-input operator returns an error on the record after its first `k` (on the first if `k`
//!   is 0), counted from when the subtask opened: upgraded to in place while ids arrive, the new
//!   code fails in probation and the job rolls back.
//! - `--extra-stage`: a stateless operator (`pass-ids`, at the two-input operator's parallelism,
//!   through a forward edge) passes every record on unchanged between the two-input operator
//!   and the sink: another graph, so an upgrade to or from it redeploys the job.

use weir_sdk::args::Args;
use weir_sdk::graph::{
    DeliveryGuarantee, GraphBuilder, JobGraph, KafkaSink, KafkaSource, ShipStrategy, SinkConnector, SourceConnector,
    StartingOffsets, kafka_topic,
};
use weir_sdk::metrics::{Counter, Level, RateLimitedLog};
use weir_sdk::state::{Codec, ValueState};
use weir_sdk::time::{self, TimeDomain, Timer};
use weir_sdk::{Job, Operator, OperatorContext, Output, Records};

/// The size of the processing-time windows of `--mode windows`.
pub const WINDOW_MS: i64 = 1_000;

/// The operators' uids.
pub mod uid {
    pub const SOURCE_A: &str = "ids-a";
    pub const SOURCE_B: &str = "ids-b";
    pub const MERGE: &str = "merge";
    pub const WINDOWS: &str = "windows";
    pub const PASS: &str = "pass-through";
    pub const SINK: &str = "ids-sink";
}

/// The guest functions the graph names.
pub mod function {
    pub const PARSE: &str = "parse-id";
    pub const MERGE: &str = "merge-ids";
    pub const WINDOWS: &str = "window-ids";
    pub const PASS: &str = "pass-ids";
}

/// What the two-input operator does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Merge,
    Windows,
}

/// The program arguments.
#[derive(Debug)]
pub struct JobArgs {
    pub bootstrap_servers: String,
    pub input_a: String,
    pub input_b: String,
    pub output: String,
    pub mode: Mode,
    pub delivery_guarantee: DeliveryGuarantee,
    pub checkpoint_interval_ms: u64,
    /// The two-input operator's configuration: `--tag`, `--fail-after-records`.
    pub operator: OperatorConfig,
    pub extra_stage: bool,
}

impl JobArgs {
    pub fn parse(raw: &[String]) -> Result<JobArgs, String> {
        let mut a = Args::parse(raw)?;
        let parsed = JobArgs {
            bootstrap_servers: a.value_or("bootstrap.servers", "localhost:9092")?,
            input_a: a.value_or("input-a", "a")?,
            input_b: a.value_or("input-b", "b")?,
            output: a.value_or("output", "output")?,
            mode: match a.choice("mode", &["merge", "windows"], "merge")? {
                "windows" => Mode::Windows,
                _ => Mode::Merge,
            },
            // As click-event-count maps its flag of the same name.
            delivery_guarantee: match a.choice(
                "delivery-guarantee",
                &["exactly-once", "at-least-once"],
                "exactly-once",
            )? {
                "at-least-once" => DeliveryGuarantee::AtLeastOnce,
                _ => DeliveryGuarantee::ExactlyOnce,
            },
            checkpoint_interval_ms: a.parsed("checkpointing.interval-ms")?.unwrap_or(1_000),
            operator: OperatorConfig { tag: a.value("tag")?, fail_after_records: a.parsed("fail-after-records")? },
            extra_stage: a.flag("extra-stage")?,
        };
        a.finish()?;
        if parsed.bootstrap_servers.trim().is_empty() {
            return Err("argument --bootstrap.servers must not be empty".into());
        }
        for (name, topic) in [("input-a", &parsed.input_a), ("input-b", &parsed.input_b), ("output", &parsed.output)] {
            if topic.trim().is_empty() {
                return Err(format!("argument --{name} must not be empty"));
            }
        }
        if parsed.input_a == parsed.input_b {
            return Err("arguments --input-a and --input-b must name different topics".into());
        }
        if parsed.checkpoint_interval_ms == 0 {
            return Err("argument --checkpointing.interval-ms must be at least 1".into());
        }
        if let Some(tag) = &parsed.operator.tag
            && !valid_tag(tag)
        {
            return Err(format!("argument --tag must be letters, digits, '.', '-' or '_', not {tag:?}"));
        }
        Ok(parsed)
    }
}

/// A tag `--tag` takes: non-empty, letters, digits, `.`, `-` and `_` (nothing JSON escapes, no
/// space).
fn valid_tag(tag: &str) -> bool {
    !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The two-input operator's configuration, as the graph carries it: `tag=<s>` and
/// `fail-after-records=<k>`, space-separated, empty when neither is set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperatorConfig {
    /// Written into every record as `"tag":"<s>"`.
    pub tag: Option<String>,
    /// Each subtask fails on the record after its first `k`.
    pub fail_after_records: Option<u64>,
}

impl OperatorConfig {
    pub fn encode(&self) -> String {
        let tag = self.tag.as_ref().map(|t| format!("tag={t}"));
        let fail = self.fail_after_records.map(|k| format!("fail-after-records={k}"));
        tag.into_iter().chain(fail).collect::<Vec<_>>().join(" ")
    }

    pub fn decode(config: &str) -> Result<OperatorConfig, String> {
        let mut decoded = OperatorConfig::default();
        for word in config.split_ascii_whitespace() {
            match word.split_once('=') {
                Some(("tag", tag)) if valid_tag(tag) => decoded.tag = Some(tag.to_string()),
                Some(("fail-after-records", k)) if k.parse::<u64>().is_ok() => {
                    decoded.fail_after_records = k.parse().ok()
                }
                _ => return Err(format!("the operator's configuration {config:?} has a bad word {word:?}")),
            }
        }
        Ok(decoded)
    }
}

/// The job graph for `args`.
pub fn plan_graph(args: &JobArgs) -> JobGraph {
    let mut g = GraphBuilder::new("Merge Ids");
    let properties = [("group.id", "merge-job")];
    let source = |topic: &str| {
        SourceConnector::Kafka(KafkaSource {
            topic: kafka_topic(topic, &args.bootstrap_servers, &properties),
            starting_offsets: StartingOffsets::Earliest,
            bounded: false,
        })
    };
    let a = g.source(uid::SOURCE_A, "Ids A", source(&args.input_a), Some(function::PARSE));
    let b = g.source(uid::SOURCE_B, "Ids B", source(&args.input_b), Some(function::PARSE));
    let sink = SinkConnector::Kafka(KafkaSink {
        topic: kafka_topic(&args.output, &args.bootstrap_servers, &properties),
        delivery_guarantee: args.delivery_guarantee,
    });
    // The two-input operator, and the parallelism of it and what follows it (the job's, if None).
    let (two_input, parallelism) = match args.mode {
        Mode::Merge => {
            let inputs = [(&a, ShipStrategy::Rebalance), (&b, ShipStrategy::Rebalance)];
            let merge = g.transform(uid::MERGE, "Merge", function::MERGE, &inputs);
            (merge, Some(1))
        }
        Mode::Windows => {
            let inputs = [(&a, ShipStrategy::Hash), (&b, ShipStrategy::Hash)];
            (g.transform(uid::WINDOWS, "Windows", function::WINDOWS, &inputs), None)
        }
    };
    g.set_config(&two_input, args.operator.encode());
    // The two-input operator, the pass-through (`--extra-stage`) and the sink, one after the
    // other through forward edges.
    let mut chain = vec![two_input];
    if args.extra_stage {
        let pass = g.transform(uid::PASS, "Pass Through", function::PASS, &[(&chain[0], ShipStrategy::Forward)]);
        chain.push(pass);
    }
    let sink = g.sink(uid::SINK, "Ids Sink", sink, chain.last().expect("the two-input operator"));
    chain.push(sink);
    if let Some(p) = parallelism {
        for op in &chain {
            g.set_parallelism(op, p);
        }
    }
    g.checkpointing(args.checkpoint_interval_ms);
    g.build()
}

/// The job.
pub struct MergeJob;

impl Job for MergeJob {
    fn plan(raw: Vec<String>) -> Result<JobGraph, String> {
        Ok(plan_graph(&JobArgs::parse(&raw)?))
    }

    fn open(context: &OperatorContext) -> Result<Box<dyn Operator>, String> {
        match context.function.as_str() {
            function::PARSE => Ok(Box::new(ParseIds {
                malformed: Counter::new("numMalformedRecordsSkipped"),
                log: RateLimitedLog::new(10_000),
            })),
            function::MERGE => {
                let config = OperatorConfig::decode(&context.config)?;
                Ok(Box::new(MergeIds { fail: Fail::new(&config), tag: config.tag }))
            }
            function::WINDOWS => {
                let config = OperatorConfig::decode(&context.config)?;
                Ok(Box::new(WindowIds {
                    pending: ValueState::new("pending-ids"),
                    fail: Fail::new(&config),
                    tag: config.tag,
                }))
            }
            function::PASS => Ok(Box::new(PassIds)),
            other => Err(format!("this job has no function '{other}'")),
        }
    }
}

weir_sdk::export_job!(MergeJob);

/// The id in a record value: decimal digits only (surrounding ASCII whitespace allowed).
pub fn parse_id(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The key an id is partitioned by: `id % 4` as one ASCII digit.
pub fn key_of(id: u64) -> [u8; 1] {
    [b'0' + (id % 4) as u8]
}

/// `{"id":17}`, or with a tag `{"id":17,"tag":"v2"}`: what `merge` writes.
pub fn merge_record(id: u64, tag: Option<&str>) -> String {
    match tag {
        Some(tag) => format!(r#"{{"id":{id},"tag":"{tag}"}}"#),
        None => format!(r#"{{"id":{id}}}"#),
    }
}

/// `{"id":17,"window":1700000000000}`, or with a tag `{"id":17,"window":1700000000000,"tag":"v2"}`:
/// what `windows` writes.
pub fn window_record(id: u64, window_start: i64, tag: Option<&str>) -> String {
    match tag {
        Some(tag) => format!(r#"{{"id":{id},"window":{window_start},"tag":"{tag}"}}"#),
        None => format!(r#"{{"id":{id},"window":{window_start}}}"#),
    }
}

/// `--fail-after-records`: counts the records a subtask of the two-input operator processes.
struct Fail {
    after: Option<u64>,
    processed: u64,
}

impl Fail {
    fn new(config: &OperatorConfig) -> Fail {
        Fail { after: config.fail_after_records, processed: 0 }
    }

    /// Called before each record: an error once `k` records have been processed.
    fn next(&mut self) -> Result<(), String> {
        match self.after {
            Some(k) if self.processed >= k => {
                Err(format!("merge_job fails after {k} records (--fail-after-records, on purpose)"))
            }
            _ => {
                self.processed += 1;
                Ok(())
            }
        }
    }
}

/// The start of the window holding `time`.
pub fn window_start(time: i64) -> i64 {
    time - time.rem_euclid(WINDOW_MS)
}

/// The source function: checks each value is an id, keys it by `id % 4`, and passes the id on
/// as its decimal text.
struct ParseIds {
    malformed: Counter,
    log: RateLimitedLog,
}

impl Operator for ParseIds {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        let mut malformed = 0;
        for record in records {
            match parse_id(record.value) {
                Some(id) => out.emit(record.timestamp, &key_of(id), id.to_string().as_bytes()),
                None => {
                    malformed += 1;
                    self.log.log(Level::Warn, || {
                        let shown = String::from_utf8_lossy(&record.value[..record.value.len().min(100)]).into_owned();
                        format!("skipping a record that is not an id: {shown:?}")
                    });
                }
            }
        }
        self.malformed.inc(malformed);
        Ok(())
    }
}

/// The id of a record `parse-id` emitted.
fn parsed_id(value: &[u8]) -> Result<u64, String> {
    parse_id(value).ok_or_else(|| format!("not an id: {:?}", String::from_utf8_lossy(value)))
}

/// `merge`: every id of either input, as it comes.
struct MergeIds {
    fail: Fail,
    tag: Option<String>,
}

impl Operator for MergeIds {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        for record in records {
            self.fail.next()?;
            let id = parsed_id(record.value)?;
            out.emit(record.timestamp, b"", merge_record(id, self.tag.as_deref()).as_bytes());
        }
        Ok(())
    }
}

/// `--extra-stage`: every record on as it is.
struct PassIds;

impl Operator for PassIds {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        for record in records {
            out.emit_record(&record);
        }
        Ok(())
    }
}

/// The ids one key has in one window, kept in state as 8-byte little-endian numbers.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IdList(pub Vec<u64>);

impl Codec for IdList {
    fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.0.len() * 8);
        for id in &self.0 {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        if !bytes.len().is_multiple_of(8) {
            return Err(format!("an id list of {} bytes, not a multiple of 8", bytes.len()));
        }
        Ok(IdList(bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()))
    }
}

/// `windows`: ids kept per key and processing-time window until the window's timer fires.
struct WindowIds {
    pending: ValueState<IdList>,
    fail: Fail,
    tag: Option<String>,
}

impl Operator for WindowIds {
    fn process(&mut self, _input: u32, records: Records<'_>, _out: &mut Output) -> Result<(), String> {
        let start = window_start(time::current_processing_time());
        let namespace = start.to_be_bytes();
        // A batch's ids per key (a handful of keys), then one state update per key.
        let mut by_key: Vec<(&[u8], Vec<u64>)> = Vec::new();
        for record in records {
            self.fail.next()?;
            let id = parsed_id(record.value)?;
            match by_key.iter_mut().find(|(k, _)| *k == record.key) {
                Some((_, ids)) => ids.push(id),
                None => by_key.push((record.key, vec![id])),
            }
        }
        for (key, ids) in by_key {
            let list = match self.pending.get(key, &namespace)? {
                Some(mut list) => {
                    list.0.extend(ids);
                    list
                }
                None => {
                    time::register_timer(TimeDomain::ProcessingTime, key, &namespace, start + WINDOW_MS - 1);
                    IdList(ids)
                }
            };
            self.pending.set(key, &namespace, &list);
        }
        Ok(())
    }

    fn on_timers(&mut self, timers: Vec<Timer>, out: &mut Output) -> Result<(), String> {
        for timer in timers {
            let Ok(start) = <[u8; 8]>::try_from(timer.namespace.as_slice()).map(i64::from_be_bytes) else {
                continue;
            };
            if let Some(list) = self.pending.get(&timer.key, &timer.namespace)? {
                self.pending.clear(&timer.key, &timer.namespace);
                for id in list.0 {
                    out.emit(start + WINDOW_MS - 1, b"", window_record(id, start, self.tag.as_deref()).as_bytes());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::graph::{OperatorKind, SinkConnector};

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn the_arguments_have_defaults_and_errors_name_the_argument() {
        let a = JobArgs::parse(&[]).unwrap();
        assert_eq!((a.input_a.as_str(), a.input_b.as_str(), a.output.as_str()), ("a", "b", "output"));
        assert_eq!(a.mode, Mode::Merge);
        assert!(matches!(a.delivery_guarantee, DeliveryGuarantee::ExactlyOnce));
        assert_eq!(a.checkpoint_interval_ms, 1_000);
        assert_eq!((&a.operator, a.extra_stage), (&OperatorConfig::default(), false));
        let a = JobArgs::parse(&args(
            "--bootstrap.servers k:1 --input-a x --input-b y --output z --mode windows \
             --delivery-guarantee at-least-once --checkpointing.interval-ms 500 \
             --tag v2.1_b-3 --fail-after-records 7 --extra-stage",
        ))
        .unwrap();
        assert_eq!((a.bootstrap_servers.as_str(), a.input_a.as_str(), a.input_b.as_str()), ("k:1", "x", "y"));
        assert_eq!((a.output.as_str(), a.mode, a.checkpoint_interval_ms), ("z", Mode::Windows, 500));
        assert!(matches!(a.delivery_guarantee, DeliveryGuarantee::AtLeastOnce));
        assert_eq!((a.operator.tag.as_deref(), a.operator.fail_after_records), (Some("v2.1_b-3"), Some(7)));
        assert!(a.extra_stage);

        let error = |s: &str| JobArgs::parse(&args(s)).unwrap_err();
        assert!(error("--mode sideways").contains("--mode"));
        assert!(error("--delivery-guarantee none").contains("--delivery-guarantee"));
        assert!(error("--checkpointing.interval-ms 0").contains("--checkpointing.interval-ms"));
        assert!(error("--checkpointing.interval-ms soon").contains("--checkpointing.interval-ms"));
        assert!(error("--input-a b").contains("different topics"));
        for bad in ["--tag", "--tag a\"b", "--tag a,b", "--tag é"] {
            assert!(error(bad).contains("--tag"), "{bad}");
        }
        assert!(error("--fail-after-records -1").contains("--fail-after-records"));
        assert!(error("--extra-stage maybe").contains("--extra-stage"));
        assert_eq!(error("--typo 1"), "unknown argument --typo");
    }

    #[test]
    fn both_sources_feed_one_operator() {
        let graph = plan_graph(&JobArgs::parse(&args("--bootstrap.servers k:1")).unwrap());
        let uids: Vec<&str> = graph.operators.iter().map(|o| o.uid.as_str()).collect();
        assert_eq!(uids, [uid::SOURCE_A, uid::SOURCE_B, uid::MERGE, uid::SINK]);
        let merge = &graph.operators[2];
        let from: Vec<&str> = merge.inputs.iter().map(|i| i.from.as_str()).collect();
        assert_eq!(from, [uid::SOURCE_A, uid::SOURCE_B]);
        assert!(merge.inputs.iter().all(|i| matches!(i.strategy, ShipStrategy::Rebalance)));
        assert_eq!((merge.parallelism, graph.operators[3].parallelism), (Some(1), Some(1)));
        assert_eq!(graph.checkpoint_interval_ms, Some(1_000));
        match &graph.operators[3].kind {
            OperatorKind::Sink(SinkConnector::Kafka(sink)) => {
                assert_eq!((sink.topic.topic.as_str(), sink.topic.bootstrap_servers.as_str()), ("output", "k:1"));
                assert!(matches!(sink.delivery_guarantee, DeliveryGuarantee::ExactlyOnce));
            }
            _ => panic!("the sink is not Kafka"),
        }

        let graph = plan_graph(&JobArgs::parse(&args("--mode windows --delivery-guarantee at-least-once")).unwrap());
        let windows = &graph.operators[2];
        assert_eq!(windows.uid, uid::WINDOWS);
        assert!(windows.inputs.len() == 2 && windows.inputs.iter().all(|i| matches!(i.strategy, ShipStrategy::Hash)));
        assert_eq!((windows.parallelism, graph.operators[3].parallelism), (None, None));
        match &graph.operators[3].kind {
            OperatorKind::Sink(SinkConnector::Kafka(sink)) => {
                assert!(matches!(sink.delivery_guarantee, DeliveryGuarantee::AtLeastOnce))
            }
            _ => panic!("the sink is not Kafka"),
        }
    }

    #[test]
    fn the_tag_and_the_failure_go_to_the_two_input_operators_configuration_alone() {
        for mode in ["merge", "windows"] {
            let plain = plan_graph(&JobArgs::parse(&args(&format!("--mode {mode}"))).unwrap());
            assert!(plain.operators.iter().all(|o| o.config.is_empty()), "{mode}: no tag, no configuration");
            let tagged = plan_graph(&JobArgs::parse(&args(&format!("--mode {mode} --tag v2"))).unwrap());
            let failing =
                plan_graph(&JobArgs::parse(&args(&format!("--mode {mode} --tag v2 --fail-after-records 0"))).unwrap());
            // The same graph (what makes `weir upgrade` swap in place), but the operator's
            // configuration.
            for graph in [&tagged, &failing] {
                assert_eq!(graph.operators.len(), plain.operators.len());
                for (o, p) in graph.operators.iter().zip(&plain.operators) {
                    assert_eq!((&o.uid, &o.name, o.parallelism), (&p.uid, &p.name, p.parallelism));
                    assert_eq!(o.inputs.len(), p.inputs.len());
                    assert!(o.inputs.iter().zip(&p.inputs).all(|(x, y)| x.from == y.from && x.strategy == y.strategy));
                    assert_eq!(o.config.is_empty(), o.uid != uid::MERGE && o.uid != uid::WINDOWS, "{}", o.uid);
                }
            }
            assert_eq!(tagged.operators[2].config, "tag=v2");
            assert_eq!(failing.operators[2].config, "tag=v2 fail-after-records=0");
        }
    }

    #[test]
    fn the_operator_configuration_round_trips_and_refuses_what_it_does_not_know() {
        let configs = [
            OperatorConfig::default(),
            OperatorConfig { tag: Some("v2".into()), fail_after_records: None },
            OperatorConfig { tag: None, fail_after_records: Some(0) },
            OperatorConfig { tag: Some("faulty".into()), fail_after_records: Some(100) },
        ];
        for config in configs {
            assert_eq!(OperatorConfig::decode(&config.encode()).unwrap(), config);
        }
        assert_eq!(OperatorConfig::default().encode(), "");
        for bad in ["tag=", "tag=a\"b", "fail-after-records=x", "nope=1", "tag"] {
            assert!(OperatorConfig::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_failure_comes_on_the_record_after_the_first_k() {
        let mut fail = Fail::new(&OperatorConfig { tag: None, fail_after_records: Some(2) });
        assert!(fail.next().is_ok() && fail.next().is_ok());
        assert!(fail.next().unwrap_err().contains("fails after 2 records"));
        let mut fail = Fail::new(&OperatorConfig { tag: None, fail_after_records: Some(0) });
        assert!(fail.next().is_err());
        let mut never = Fail::new(&OperatorConfig::default());
        assert!((0..10_000).all(|_| never.next().is_ok()));
    }

    #[test]
    fn an_extra_stage_passes_records_between_the_operator_and_the_sink() {
        let graph = plan_graph(&JobArgs::parse(&args("--extra-stage")).unwrap());
        let uids: Vec<&str> = graph.operators.iter().map(|o| o.uid.as_str()).collect();
        assert_eq!(uids, [uid::SOURCE_A, uid::SOURCE_B, uid::MERGE, uid::PASS, uid::SINK]);
        let (pass, sink) = (&graph.operators[3], &graph.operators[4]);
        assert!(matches!(&pass.kind, OperatorKind::Transform(t) if t.function == function::PASS));
        assert_eq!((pass.inputs.len(), pass.inputs[0].from.as_str()), (1, uid::MERGE));
        assert!(matches!(pass.inputs[0].strategy, ShipStrategy::Forward));
        assert_eq!(sink.inputs[0].from, uid::PASS);
        assert_eq!((graph.operators[2].parallelism, pass.parallelism, sink.parallelism), (Some(1), Some(1), Some(1)));

        let graph = plan_graph(&JobArgs::parse(&args("--mode windows --extra-stage")).unwrap());
        let uids: Vec<&str> = graph.operators.iter().map(|o| o.uid.as_str()).collect();
        assert_eq!(uids, [uid::SOURCE_A, uid::SOURCE_B, uid::WINDOWS, uid::PASS, uid::SINK]);
        assert!(graph.operators[2..].iter().all(|o| o.parallelism.is_none()));
    }

    #[test]
    fn ids_are_parsed_keyed_and_written() {
        assert_eq!(parse_id(b"17"), Some(17));
        assert_eq!(parse_id(b" 40000\n"), Some(40_000));
        for bad in [&b""[..], b"-1", b"+1", b"1.5", b"x", b"99999999999999999999999"] {
            assert_eq!(parse_id(bad), None, "{bad:?}");
        }
        assert_eq!((key_of(17), key_of(40_000)), (*b"1", *b"0"));
        assert_eq!(merge_record(17, None), r#"{"id":17}"#);
        assert_eq!(merge_record(17, Some("v2")), r#"{"id":17,"tag":"v2"}"#);
        assert_eq!(window_record(17, 1_700_000_001_000, None), r#"{"id":17,"window":1700000001000}"#);
        assert_eq!(window_record(17, 1_700_000_001_000, Some("v2")), r#"{"id":17,"window":1700000001000,"tag":"v2"}"#);
        assert_eq!((window_start(1_999), window_start(2_000), window_start(-1)), (1_000, 2_000, -1_000));
    }

    #[test]
    fn id_lists_round_trip_and_refuse_torn_bytes() {
        let list = IdList(vec![1, 2, u64::MAX]);
        let mut bytes = Vec::new();
        list.encode(&mut bytes);
        assert_eq!(IdList::decode(&bytes).unwrap(), list);
        assert!(IdList::decode(&bytes[..7]).is_err());
    }
}
