//! The Operations Playground's Click Event Count job written on the typed job API
//! (`weir_sdk::stream`), as its Flink counterpart reads: click events (JSON, through serde) keyed
//! by page, counted in 15-second tumbling windows, each window's count written as the
//! playground's statistics JSON. The low-level version (`click-event-job`) is what the playground
//! runs; `weir bench --job` measures this one beside it (docs/PERFORMANCE.md).
//!
//! Program arguments (the playground job's, where they apply): `--bootstrap.servers`,
//! `--input-topic` (default `input`), `--output-topic` (default `output`), `--source
//! kafka|datagen`, `--datagen.count N`, `--datagen.rate R`, `--event-time`, `--sink
//! kafka|print|discard`, `--checkpointing`, `--bounded`.

use click_event::{WINDOW_SIZE_MS, timestamp, write_statistics};
use serde::Deserialize;
use weir_sdk::args::Args;
use weir_sdk::stream::connectors::{Datagen, KafkaSink, KafkaSource};
use weir_sdk::stream::state::Count;
use weir_sdk::stream::{DataStream, Env, Json, SerializationSchema, StreamJob, TumblingWindows};

/// A click as the generator writes it.
#[derive(Deserialize)]
struct ClickEvent {
    timestamp: String,
    page: String,
}

/// One window's count for one page.
struct Statistics {
    window_start: i64,
    window_end: i64,
    page: String,
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
        a.finish()?;

        env.set_job_name("Click Event Count");
        if checkpointing {
            env.enable_checkpointing(1000);
        }
        let clicks: DataStream<ClickEvent> = if source == "datagen" {
            env.from_source(Datagen::new().count(count).rate(rate), Json::new())
        } else {
            let mut kafka = KafkaSource::new(&servers, &input).group_id("click-event-count");
            if bounded {
                kafka = kafka.bounded();
            }
            env.from_source(kafka, Json::new())
        };
        let windows = if event_time {
            env.set_event_time(200, Some(5_000));
            TumblingWindows::of_event_time(WINDOW_SIZE_MS)
        } else {
            TumblingWindows::of_processing_time(WINDOW_SIZE_MS)
        };
        let statistics = clicks
            .name("ClickEvent Source")
            .uid("click-event-source")
            .filter_map_timestamps()
            .key_by(|(page, _): &(String, i64)| page.clone())
            .window(windows)
            .aggregate(Count, |page: &String, window, count: u64| Statistics {
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

/// The click's page and event time; a click whose timestamp does not parse is dropped.
trait ClickTimestamps {
    fn filter_map_timestamps(self) -> DataStream<(String, i64)>;
}

impl ClickTimestamps for DataStream<ClickEvent> {
    fn filter_map_timestamps(self) -> DataStream<(String, i64)> {
        self.flat_map(|e: ClickEvent| timestamp::parse(&e.timestamp).ok().map(|ts| (e.page, ts)))
            .assign_timestamps(|(_, ts)| *ts)
    }
}

weir_sdk::export_stream_job!(TypedClickEventCount);
