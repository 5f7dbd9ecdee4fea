//! The Operations Playground's Click Event Count job: its arguments, graph and operators,
//! shared by the job's component versions (`click-event-count`, `click-event-count-v1-1`,
//! `click-event-count-v2`, and `click-event-count-faulty` for the rollback demo).
//!
//! Clicks are read from Kafka (or the built-in generator), keyed by page and counted in 15 s
//! tumbling windows; each window's count goes to the `output` topic as
//! `{"windowStart":…,"windowEnd":…,"page":…,"count":1000}`. The graph, the operator names and
//! the arguments are the playground's (see the module [`args`](crate::JobArgs)); Weir adds a few
//! of its own, listed in the README.

use click_event::{EventReader, WINDOW_SIZE_MS, timestamp, write_statistics};
use weir_sdk::args::Args;
use weir_sdk::graph::{
    DatagenSource, DeliveryGuarantee, GraphBuilder, JobGraph, KafkaSink, KafkaSource, ShipStrategy, SinkConnector,
    SourceConnector, StartingOffsets, kafka_topic,
};
use weir_sdk::metrics::{Counter, Level, RateLimitedLog};
use weir_sdk::time::{self, TimeDomain, Timer};
use weir_sdk::window::{Count, TumblingWindows};
use weir_sdk::{Job, Operator, OperatorContext, Output, Records};

/// The operators' stable uids: state is matched by them across savepoints and upgrades.
pub mod uid {
    pub const SOURCE: &str = "click-event-source";
    /// Version 2's page filter (stateless).
    pub const FILTER: &str = "click-event-filter";
    pub const BACKPRESSURE: &str = "backpressure";
    pub const COUNTER: &str = "click-event-counter";
    pub const SINK: &str = "click-event-statistics-sink";
}

/// The guest functions the graph names.
pub mod function {
    pub const DESERIALIZE: &str = "deserialize-click-event";
    pub const FILTER: &str = "filter-pages";
    pub const BACKPRESSURE: &str = "backpressure-map";
    pub const COUNT: &str = "count-clicks";
}

/// The program arguments.
#[derive(Debug)]
pub struct JobArgs {
    bootstrap_servers: String,
    input_topic: String,
    output_topic: String,
    checkpointing: bool,
    /// `--checkpointing.interval-ms`; the playground's job checkpoints every second.
    checkpoint_interval_ms: Option<u64>,
    event_time: bool,
    backpressure: bool,
    source: &'static str,
    sink: &'static str,
    datagen_count: Option<u64>,
    datagen_rate: Option<u64>,
    bounded: bool,
    starting_offsets: StartingOffsets,
    delivery_guarantee: DeliveryGuarantee,
    backpressure_config: String,
    transactions: bool,
}

impl JobArgs {
    pub fn parse(raw: &[String]) -> Result<JobArgs, String> {
        Self::parse_with(raw, |_| Ok(())).map(|(args, ())| args)
    }

    /// Parses the job's arguments and, with `more`, a later version's own.
    pub fn parse_with<T>(
        raw: &[String],
        more: impl FnOnce(&mut Args) -> Result<T, String>,
    ) -> Result<(JobArgs, T), String> {
        let mut a = Args::parse(raw)?;
        let extra = more(&mut a)?;
        let parsed = JobArgs {
            bootstrap_servers: a.value_or("bootstrap.servers", "localhost:9092")?,
            input_topic: a.value_or("input-topic", "input")?,
            output_topic: a.value_or("output-topic", "output")?,
            checkpointing: a.flag("checkpointing")?,
            checkpoint_interval_ms: a.parsed("checkpointing.interval-ms")?,
            event_time: a.flag("event-time")?,
            backpressure: a.flag("backpressure")?,
            source: a.choice("source", &["kafka", "datagen"], "kafka")?,
            sink: a.choice("sink", &["kafka", "print", "discard"], "kafka")?,
            datagen_count: a.parsed("datagen.count")?,
            datagen_rate: a.parsed("datagen.rate")?,
            bounded: a.flag("bounded")?,
            starting_offsets: match a.choice("starting-offsets", &["earliest", "latest", "committed"], "earliest")? {
                "latest" => StartingOffsets::Latest,
                "committed" => StartingOffsets::Committed,
                _ => StartingOffsets::Earliest,
            },
            delivery_guarantee: match a.choice(
                "delivery-guarantee",
                &["at-least-once", "exactly-once", "none"],
                // Weir's exactly-once sink works on any Kafka-protocol broker (README).
                "exactly-once",
            )? {
                "exactly-once" => DeliveryGuarantee::ExactlyOnce,
                "none" => DeliveryGuarantee::None,
                _ => DeliveryGuarantee::AtLeastOnce,
            },
            backpressure_config: {
                let sleep_ms: u64 = a.parsed("backpressure.sleep-ms")?.unwrap_or(100);
                let schedule = a.choice("backpressure.schedule", &["even-minutes", "always"], "even-minutes")?;
                format!("{schedule} {sleep_ms}")
            },
            transactions: a.flag("sink.transactions")?,
        };
        // Accepted for compatibility: Weir never chains operators, as the playground's job
        // runs without `--chaining`.
        a.flag("chaining")?;
        a.finish()?;
        if parsed.bootstrap_servers.trim().is_empty() {
            return Err("argument --bootstrap.servers must not be empty".into());
        }
        if parsed.checkpoint_interval_ms.is_some() && !parsed.checkpointing {
            return Err("argument --checkpointing.interval-ms needs --checkpointing".into());
        }
        if parsed.checkpoint_interval_ms == Some(0) {
            return Err("argument --checkpointing.interval-ms must be at least 1".into());
        }
        if parsed.transactions && !matches!(parsed.delivery_guarantee, DeliveryGuarantee::ExactlyOnce) {
            return Err("argument --sink.transactions needs --delivery-guarantee exactly-once".into());
        }
        if parsed.source == "kafka" && (parsed.datagen_count.is_some() || parsed.datagen_rate.is_some()) {
            return Err("arguments --datagen.count and --datagen.rate need --source datagen".into());
        }
        Ok((parsed, extra))
    }
}

/// The job.
pub struct ClickEventCount;

/// What a later version of the job changes: a version tag on its results and, optionally, an
/// added page filter (stateless; it changes the graph). The stateful operators keep their uids,
/// so a savepoint of one version restores into the other, and a version without the filter
/// has version 1's graph, so it can be swapped in place.
#[derive(Clone, Debug, Default)]
pub struct Upgrade {
    /// Added to every result as `"version"`.
    pub version: String,
    /// Adds the page filter operator.
    pub page_filter: bool,
    /// Pages the filter drops.
    pub excluded_pages: Vec<String>,
}

/// The job graph for `args`, as version 1 or, with `upgrade`, a later version.
pub fn plan_graph(args: &JobArgs, upgrade: Option<&Upgrade>) -> JobGraph {
    {
        let mut g = GraphBuilder::new("Click Event Count");
        let kafka_properties = [("group.id", "click-event-count")];
        let connector = match args.source {
            "datagen" => SourceConnector::Datagen(DatagenSource { count: args.datagen_count, rate: args.datagen_rate }),
            _ => SourceConnector::Kafka(KafkaSource {
                topic: kafka_topic(&args.input_topic, &args.bootstrap_servers, &kafka_properties),
                starting_offsets: args.starting_offsets,
                bounded: args.bounded,
            }),
        };
        let mut upstream = g.source(uid::SOURCE, "ClickEvent Source", connector, Some(function::DESERIALIZE));
        if let Some(upgrade) = upgrade.filter(|u| u.page_filter) {
            let filter =
                g.transform(uid::FILTER, "ClickEvent Filter", function::FILTER, &[(&upstream, ShipStrategy::Forward)]);
            g.set_config(&filter, upgrade.excluded_pages.join(","));
            upstream = filter;
        }
        if args.backpressure {
            let bp = g.transform(
                uid::BACKPRESSURE,
                "Backpressure",
                function::BACKPRESSURE,
                &[(&upstream, ShipStrategy::Hash)],
            );
            g.set_config(&bp, args.backpressure_config.clone());
            upstream = bp;
        }
        let counter =
            g.transform(uid::COUNTER, "ClickEvent Counter", function::COUNT, &[(&upstream, ShipStrategy::Hash)]);
        let domain = if args.event_time { "event-time" } else { "processing-time" };
        match upgrade {
            Some(u) => g.set_config(&counter, format!("{domain} {}", u.version)),
            None => g.set_config(&counter, domain),
        }
        let sink = match args.sink {
            "print" => SinkConnector::Print,
            "discard" => SinkConnector::Discard,
            _ => {
                let mut topic = kafka_topic(&args.output_topic, &args.bootstrap_servers, &kafka_properties);
                if args.transactions {
                    topic.properties.push(("weir.exactly-once".into(), "transactions".into()));
                }
                SinkConnector::Kafka(KafkaSink { topic, delivery_guarantee: args.delivery_guarantee })
            }
        };
        g.sink(uid::SINK, "ClickEventStatistics Sink", sink, &counter);
        if args.event_time {
            // The playground's WatermarkStrategy: 200 ms out of orderness, 5 s idleness.
            g.event_time(200, Some(5_000));
        }
        if args.checkpointing {
            g.checkpointing(args.checkpoint_interval_ms.unwrap_or(1_000));
        }
        g.build()
    }
}

/// Creates the operator for one of the job's functions.
pub fn open_function(context: &OperatorContext) -> Result<Box<dyn Operator>, String> {
    match context.function.as_str() {
        function::DESERIALIZE => Ok(Box::new(Deserializer::new())),
        function::BACKPRESSURE => Ok(Box::new(BackpressureMap::from_config(&context.config)?)),
        function::FILTER => Ok(Box::new(PageFilter {
            excluded: context.config.split(',').filter(|p| !p.is_empty()).map(|p| p.as_bytes().to_vec()).collect(),
        })),
        function::COUNT => {
            let (domain, version) = context.config.split_once(' ').unwrap_or((context.config.as_str(), ""));
            let domain = match domain {
                "event-time" => TimeDomain::EventTime,
                "processing-time" => TimeDomain::ProcessingTime,
                other => return Err(format!("unknown time characteristic '{other}'")),
            };
            Ok(Box::new(ClickEventCounter {
                windows: TumblingWindows::new("window-contents", WINDOW_SIZE_MS, domain, Count),
                version: (!version.is_empty()).then(|| version.to_string()),
            }))
        }
        other => Err(format!("this job has no function '{other}'")),
    }
}

impl Job for ClickEventCount {
    fn plan(raw: Vec<String>) -> Result<JobGraph, String> {
        let args = JobArgs::parse(&raw)?;
        Ok(plan_graph(&args, None))
    }

    fn open(context: &OperatorContext) -> Result<Box<dyn Operator>, String> {
        open_function(context)
    }
}

/// Version 2's filter: drops the clicks of excluded pages (keyed by page already).
struct PageFilter {
    excluded: Vec<Vec<u8>>,
}

impl Operator for PageFilter {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        if self.excluded.is_empty() {
            out.emit_batch(records.as_batch());
            return Ok(());
        }
        for record in records {
            if !self.excluded.iter().any(|p| p.as_slice() == record.key) {
                out.emit_record(&record);
            }
        }
        Ok(())
    }
}

/// Reads click events (Flink's `ClickEventDeserializationSchema` and timestamp assigner):
/// the page becomes the record's key and the event time its timestamp. Malformed records are
/// skipped, counted and logged at a bounded rate.
struct Deserializer {
    reader: EventReader,
    malformed: Counter,
    log: RateLimitedLog,
    /// The last event time read: the reference for the 12-hour clock.
    last_timestamp: Option<i64>,
}

impl Deserializer {
    fn new() -> Self {
        Deserializer {
            reader: EventReader::default(),
            malformed: Counter::new("numMalformedRecordsSkipped"),
            log: RateLimitedLog::new(10_000),
            last_timestamp: None,
        }
    }
}

impl Operator for Deserializer {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        let watermark = time::current_watermark();
        let mut reference = self.last_timestamp.or((watermark != time::MIN_TIMESTAMP).then_some(watermark));
        let mut malformed = 0;
        for record in records {
            match self.reader.read(record.value) {
                Ok(event) => {
                    let ts = timestamp::resolve(event.timestamp_am, reference);
                    reference = Some(ts);
                    out.emit(ts, event.page.as_bytes(), b"");
                }
                Err(error) => {
                    malformed += 1;
                    self.log.log(Level::Warn, || {
                        let shown = String::from_utf8_lossy(&record.value[..record.value.len().min(200)]).into_owned();
                        format!("skipping a malformed click event ({error}): {shown}")
                    });
                }
            }
        }
        self.last_timestamp = reference;
        self.malformed.inc(malformed);
        Ok(())
    }
}

/// The playground's `BackpressureMap`: passes records through, sleeping per record during even
/// minutes of the wall clock (or always, with `--backpressure.schedule always`).
struct BackpressureMap {
    always: bool,
    sleep_ms: u64,
}

impl BackpressureMap {
    fn from_config(config: &str) -> Result<Self, String> {
        let bad = || format!("bad backpressure configuration '{config}'");
        let (schedule, sleep) = config.split_once(' ').ok_or_else(bad)?;
        Ok(BackpressureMap { always: schedule == "always", sleep_ms: sleep.parse().map_err(|_| bad())? })
    }

    fn cause_backpressure(&self) -> bool {
        self.always || (time::current_processing_time() / 60_000) % 2 == 0
    }
}

impl Operator for BackpressureMap {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        if !self.cause_backpressure() {
            out.emit_batch(records.as_batch());
            return Ok(());
        }
        for record in records {
            if self.cause_backpressure() {
                time::sleep(self.sleep_ms);
            }
            out.emit_record(&record);
            // Hand each record on at once, as Flink's map does, rather than holding the batch.
            out.flush();
        }
        Ok(())
    }
}

/// The window operator: counts clicks per page and window (Flink's `CountingAggregator` and
/// `ClickEventStatisticsCollector`).
struct ClickEventCounter {
    windows: TumblingWindows<Count>,
    /// Version 2 tags its results.
    version: Option<String>,
}

impl Operator for ClickEventCounter {
    fn process(&mut self, _input: u32, records: Records<'_>, _out: &mut Output) -> Result<(), String> {
        self.windows.add(records)
    }

    fn on_timers(&mut self, timers: Vec<Timer>, out: &mut Output) -> Result<(), String> {
        let mut json = Vec::with_capacity(128);
        self.windows.fire(&timers, |page, window, count| {
            json.clear();
            write_statistics(&mut json, window.start, window.end, &String::from_utf8_lossy(page), count);
            if let Some(version) = &self.version {
                json.pop(); // the closing brace
                json.extend_from_slice(b",\"version\":");
                weir_sdk::json::write_str(&mut json, version);
                json.push(b'}');
            }
            out.emit(window.max_timestamp(), b"", &json);
        })
    }
}
