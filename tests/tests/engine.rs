//! The engine seen through its metrics: hash partitioning by Flink's key groups, backpressure,
//! late and malformed records, and the 12-hour clock, with a real broker where Kafka is involved.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use weir::builtin::CLICK_EVENT_COUNT;
use weir_runtime::minicluster::{JobStatus, MiniCluster};
use weir_tests::*;
use weir_wasm::Limits;
use weir_wasm::cache::ComponentCache;

fn cluster() -> MiniCluster {
    MiniCluster::new(Limits::default(), ComponentCache::disabled()).expect("a mini cluster")
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn subtask_values(job: &weir_runtime::minicluster::JobHandle, vertex: &str, metric: &str) -> Vec<f64> {
    let metrics = job.metrics();
    let v = metrics.vertices.iter().find(|v| v.name == vertex).expect("vertex");
    v.subtasks.iter().map(|t| t.values().into_iter().find(|(n, _)| n == metric).map_or(0.0, |(_, v)| v)).collect()
}

/// The window counts among `lines` for the window starting at `start`.
fn window(lines: &[String], start: &str) -> Vec<WindowCount> {
    let mut counts: Vec<WindowCount> =
        lines.iter().map(|l| parse_statistics(l).expect("statistics")).filter(|c| c.window_start == start).collect();
    counts.sort();
    counts
}

#[test]
fn records_are_partitioned_by_flinks_key_groups() {
    let cluster = cluster();
    let job = cluster
        .run(CLICK_EVENT_COUNT, &args("--source datagen --datagen.count 6000 --event-time --sink discard"), 2)
        .expect("starts");
    let metrics = job.metrics().clone();
    assert_eq!(job.wait(), JobStatus::Finished);
    let counter = metrics.vertices.iter().find(|v| v.name == "ClickEvent Counter").expect("counter");
    // Key groups at p=2: /index (16), /jobs (15), /about (61), /news (38) -> subtask 0;
    // /help (111), /shop (73) -> subtask 1. 1000 events each.
    let received: Vec<u64> = counter.subtasks.iter().map(|t| t.num_records_in.get()).collect();
    assert_eq!(received, vec![4000, 2000]);
    assert_eq!(metrics.sum("ClickEventStatistics Sink: Writer", "numRecordsIn"), 6.0);
}

#[test]
fn windows_keep_coming_after_12_hours_of_event_time() {
    // 12 h of event time is 2,880,000 events per page; Flink's job reads the 12-hour clock as
    // AM and drops everything from 12:00 to 24:00 as late. Weir reads the nearest instant.
    let per_page = 2_880_000 + 2_000;
    let events = 6 * per_page;
    let cluster = cluster();
    let job = cluster
        .run(
            CLICK_EVENT_COUNT,
            &args(&format!("--source datagen --datagen.count {events} --event-time --sink discard")),
            2,
        )
        .expect("starts");
    let metrics = job.metrics().clone();
    assert_eq!(job.wait(), JobStatus::Finished);
    // Windows of 15 s: ceil over the last timestamp.
    let windows_per_page = ((per_page - 1) * 15 / 15_000) + 1;
    assert_eq!(metrics.sum("ClickEventStatistics Sink: Writer", "numRecordsIn"), (6 * windows_per_page) as f64);
    assert_eq!(metrics.sum("ClickEvent Counter", "numLateRecordsDropped"), 0.0);
}

#[test]
fn backpressure_slows_the_source_and_counts_stay_1000() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = cluster();
    let started = Instant::now();
    // The generator in the engine offers far more than the Backpressure operator passes at
    // 1 ms per record, so the source spends its time waiting for room downstream.
    let job = cluster
        .run(
            CLICK_EVENT_COUNT,
            &args(&format!(
                "--bootstrap.servers {bootstrap} --source datagen --datagen.count 100000 --event-time \
                 --backpressure --backpressure.schedule always --backpressure.sleep-ms 1"
            )),
            1,
        )
        .expect("starts");
    assert_eq!(job.graph().vertices[1].name, "Backpressure");
    // Window 0 needs a little over 6000 records through the Backpressure operator.
    let lines = witness(&bootstrap, "output", 6, Duration::from_secs(60)).expect("the witness reads output");
    let elapsed = started.elapsed().as_millis() as f64;
    let backpressured = subtask_values(&job, "Source: ClickEvent Source", "accumulatedBackPressuredTimeMs")[0];
    let busy = subtask_values(&job, "Backpressure", "accumulatedBusyTimeMs")[0];
    let sent = subtask_values(&job, "Source: ClickEvent Source", "numRecordsOut")[0];
    let passed = subtask_values(&job, "Backpressure", "numRecordsIn")[0];
    job.cancel();
    assert_eq!(job.wait(), JobStatus::Canceled);
    assert!(elapsed >= 6_000.0, "window 0 came after only {elapsed} ms");
    assert!(backpressured >= elapsed / 2.0, "the source was back-pressured for {backpressured} ms of {elapsed} ms");
    assert!(busy >= elapsed / 2.0, "the Backpressure operator was busy for {busy} ms of {elapsed} ms");
    // The source got no further than what the channels between them hold.
    assert!(sent - passed < 12_000.0, "the source ran {} records ahead", sent - passed);
    let first = window(&lines, "01-01-1970 12:00:00:000");
    assert_eq!(first.len(), 6, "{lines:#?}");
    assert!(first.iter().all(|c| c.count == 1000), "{first:#?}");
}

#[test]
fn malformed_records_are_skipped_and_counted() {
    let broker = Broker::start();
    let dir = temp_dir();
    let bootstrap = broker.bootstrap();
    generate(dir.path(), &bootstrap, "input", 6_600);
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", &bootstrap).create().expect("producer");
    for bad in [
        &b"not json"[..],
        br#"{"page":"/help"}"#,
        br#"{"timestamp":"31-02-1970 12:00:00:000","page":"/help"}"#,
        b"",
        b"{\"timestamp\":1}",
    ] {
        producer.send(BaseRecord::<[u8], [u8]>::to("input").payload(bad)).expect("queued");
    }
    producer.flush(Duration::from_secs(10)).expect("delivered");
    let cluster = cluster();
    let job = cluster
        .run(CLICK_EVENT_COUNT, &args(&format!("--bootstrap.servers {bootstrap} --event-time --bounded")), 2)
        .expect("starts");
    let metrics = job.metrics().clone();
    assert_eq!(job.wait(), JobStatus::Finished);
    assert_eq!(metrics.sum("Source: ClickEvent Source", "numMalformedRecordsSkipped"), 5.0);
    let lines = witness(&bootstrap, "output", 12, Duration::from_secs(30)).expect("the witness reads output");
    let first = window(&lines, "01-01-1970 12:00:00:000");
    assert_eq!(first.len(), 6);
    assert!(first.iter().all(|c| c.count == 1000), "{first:#?}");
}

#[test]
fn late_records_are_dropped_and_counted() {
    let broker = Broker::start();
    let dir = temp_dir();
    let bootstrap = broker.bootstrap();
    generate(dir.path(), &bootstrap, "input", 12_000);
    let cluster = cluster();
    let job = cluster
        .run(CLICK_EVENT_COUNT, &args(&format!("--bootstrap.servers {bootstrap} --event-time")), 1)
        .expect("starts");
    witness(&bootstrap, "output", 6, Duration::from_secs(60)).expect("window 0 fires");
    // The generator starts again from the epoch, as when the playground's generator restarts:
    // every one of these events belongs to the window that already fired.
    generate(dir.path(), &bootstrap, "input", 6_000);
    let late = eventually(Duration::from_secs(30), || {
        let late = job.metrics().sum("ClickEvent Counter", "numLateRecordsDropped");
        (late >= 6_000.0).then_some(late)
    });
    job.cancel();
    assert_eq!(job.wait(), JobStatus::Canceled);
    assert_eq!(late, Some(6_000.0));
    let lines = witness(&bootstrap, "output", 6, Duration::from_secs(10)).expect("the witness reads output");
    let first = window(&lines, "01-01-1970 12:00:00:000");
    assert_eq!(first.len(), 6, "window 0 fired once: {lines:#?}");
    assert!(first.iter().all(|c| c.count == 1000));
}
