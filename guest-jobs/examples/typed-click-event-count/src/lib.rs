//! The Operations Playground's Click Event Count job written on the typed job API
//! (`weir_sdk::stream`), as its Flink counterpart reads: click events (JSON) keyed by page,
//! counted in 15-second tumbling windows, each window's count written as the playground's
//! statistics JSON. The low-level version (`click-event-job`) is what the playground runs;
//! `weir bench --job` measures this one beside it (docs/PERFORMANCE.md).
//!
//! Clicks are read with the job's own `DeserializationSchema` (as the playground's
//! `ClickEventDeserializationSchema`), on the same click parser as the low-level job; `--format
//! json` reads them through serde instead ([`Json`]). Pages are [`Str`]s: short strings that
//! are copied and decoded without allocating.
//!
//! Program arguments (the playground job's, where they apply): `--bootstrap.servers`,
//! `--input-topic` (default `input`), `--output-topic` (default `output`), `--source
//! kafka|datagen`, `--datagen.count N`, `--datagen.rate R`, `--event-time`, `--sink
//! kafka|print|discard`, `--checkpointing`, `--bounded`, `--format click-event|json`.

use std::cell::{Cell, RefCell};

use click_event::{EventReader, WINDOW_SIZE_MS, timestamp, write_statistics};
use serde::{Deserialize, Serialize};
use weir_sdk::args::Args;
use weir_sdk::stream::connectors::{Datagen, KafkaSink, KafkaSource, Source};
use weir_sdk::stream::state::Count;
use weir_sdk::stream::{
    DataStream, DeserializationSchema, Env, Json, SerializationSchema, Str, StreamJob, TumblingWindows,
};

/// A click (Flink's `ClickEvent`): its event time in ms since the epoch and its page.
#[derive(Clone, Serialize, Deserialize)]
struct ClickEvent {
    timestamp: i64,
    page: Str,
}

/// A click as the generator writes it, for serde: the timestamp is text.
#[derive(Deserialize)]
struct ClickEventJson {
    timestamp: Str,
    page: Str,
}

/// Reads the generator's click events (the playground's `ClickEventDeserializationSchema`):
/// the generator's layout at fixed offsets, anything else through a JSON parser, the 12-hour
/// clock resolved against the previous click as the low-level job does.
#[derive(Default)]
struct ClickEventSchema {
    reader: RefCell<EventReader>,
    last_timestamp: Cell<Option<i64>>,
}

impl DeserializationSchema<ClickEvent> for ClickEventSchema {
    fn decode(&self, _key: &[u8], value: &[u8]) -> Result<ClickEvent, String> {
        let event = self.reader.borrow_mut().read(value).map_err(|e| format!("malformed click event: {e}"))?;
        let timestamp = timestamp::resolve(event.timestamp_am, self.last_timestamp.get());
        self.last_timestamp.set(Some(timestamp));
        Ok(ClickEvent { timestamp, page: Str::from(&*event.page) })
    }
}

/// One window's count for one page.
struct Statistics {
    window_start: i64,
    window_end: i64,
    page: Str,
    count: i64,
}

/// The playground's statistics JSON.
struct StatisticsJson;

impl SerializationSchema<Statistics> for StatisticsJson {
    fn encode(&self, s: &Statistics, _key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<(), String> {
        write_statistics(value, s.window_start, s.window_end, &s.page, s.count);
        Ok(())
    }
}

struct TypedClickEventCount;

impl StreamJob for TypedClickEventCount {
    fn build(env: &mut Env, args: Vec<String>) -> Result<(), String> {
        let mut a = Args::parse(&args)?;
        let servers = a.value_or("bootstrap.servers", "localhost:9092")?;
        let input = a.value_or("input-topic", "input")?;
        let output = a.value_or("output-topic", "output")?;
        let source = a.choice("source", &["kafka", "datagen"], "kafka")?;
        let count: Option<u64> = a.parsed("datagen.count")?;
        let rate: Option<u64> = a.parsed("datagen.rate")?;
        let event_time = a.flag("event-time")?;
        let sink = a.choice("sink", &["kafka", "print", "discard"], "kafka")?;
        let checkpointing = a.flag("checkpointing")?;
        let bounded = a.flag("bounded")?;
        let format = a.choice("format", &["click-event", "json"], "click-event")?;
        a.finish()?;

        env.set_job_name("Click Event Count");
        if checkpointing {
            env.enable_checkpointing(1000);
        }
        let clicks = if source == "datagen" {
            read_clicks(env, Datagen::new().count(count).rate(rate), format)
        } else {
            let mut kafka = KafkaSource::new(&servers, &input).group_id("click-event-count");
            if bounded {
                kafka = kafka.bounded();
            }
            read_clicks(env, kafka, format)
        };
        let windows = if event_time {
            env.set_event_time(200, Some(5_000));
            TumblingWindows::of_event_time(WINDOW_SIZE_MS)
        } else {
            TumblingWindows::of_processing_time(WINDOW_SIZE_MS)
        };
        let statistics = clicks
            .assign_timestamps(|click| click.timestamp)
            .key_by(|click| click.page.clone())
            .window(windows)
            .aggregate(Count, |page: &Str, window, count: u64| Statistics {
                window_start: window.start,
                window_end: window.end,
                page: page.clone(),
                count: i64::try_from(count).unwrap_or(i64::MAX),
            })
            .name("ClickEvent Counter")
            .uid("click-event-counter");
        match sink {
            "kafka" => statistics.sink_to(KafkaSink::new(&servers, &output), StatisticsJson),
            "print" => statistics.map(|s| format_statistics(&s)).print(),
            _ => statistics.discard(),
        }
        .name("ClickEventStatistics Sink")
        .uid("click-event-statistics-sink");
        Ok(())
    }
}

fn format_statistics(s: &Statistics) -> String {
    let mut out = Vec::new();
    write_statistics(&mut out, s.window_start, s.window_end, &s.page, s.count);
    String::from_utf8_lossy(&out).into_owned()
}

/// The clicks `source` reads, in `format`; with serde, a click whose timestamp does not parse
/// is dropped.
fn read_clicks(env: &mut Env, source: impl Source, format: &str) -> DataStream<ClickEvent> {
    match format {
        "json" => env
            .from_source(source, Json::<ClickEventJson>::new())
            .name("ClickEvent Source")
            .uid("click-event-source")
            .flat_map(|e: ClickEventJson| {
                let timestamp = timestamp::parse(&e.timestamp).ok()?;
                Some(ClickEvent { timestamp, page: e.page })
            }),
        _ => env.from_source(source, ClickEventSchema::default()).name("ClickEvent Source").uid("click-event-source"),
    }
}

weir_sdk::export_stream_job!(TypedClickEventCount);
