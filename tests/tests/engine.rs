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

/// README "How Weir differs from Flink", the 12-hour clock: a run longer than 12 hours of event
/// time still produces every window, each page once at 1000.
#[test]
fn windows_keep_coming_after_12_hours_of_event_time() {
    // 12 h of event time is 2,880,000 events per page; Flink's job reads the 12-hour clock as
    // AM and drops everything from 12:00 to 24:00 as late. Weir reads the nearest instant.
    let per_page = 2_880_000 + 2_000;
    let events = 6 * per_page;
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = cluster();
    let job = cluster
        .run(
            CLICK_EVENT_COUNT,
            &args(&format!("--bootstrap.servers {bootstrap} --source datagen --datagen.count {events} --event-time")),
            2,
        )
        .expect("starts");
    let metrics = job.metrics().clone();
    assert_eq!(job.wait(), JobStatus::Finished);
    assert_eq!(metrics.sum("ClickEvent Counter", "numLateRecordsDropped"), 0.0);
    // Every window of the 12 hours and after, each page once at 1000 (17,292 results; the
    // bounded input's end closes the last window). Past 12 hours the 12-hour clock writes the
    // first windows' starts again, so those results are compared as a multiset.
    let windows: i64 = per_page / 1000;
    read_windows(&bootstrap, "output", Windows::exactly(windows), Duration::from_secs(120)).expect("exact output");
}

/// README "Backpressure": behind the Backpressure operator the source is back-pressured most of
/// the time and the operator busy, and the counts stay 1000.
#[test]
fn backpressure_slows_the_source_and_counts_stay_1000() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = cluster();
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
    // Times are measured from when records reach the Backpressure operator: compiling and
    // starting the job are no part of them, however long a loaded machine takes.
    let backpressured = || subtask_values(&job, "Source: ClickEvent Source", "accumulatedBackPressuredTimeMs")[0];
    let busy = || subtask_values(&job, "Backpressure", "accumulatedBusyTimeMs")[0];
    let passed = || subtask_values(&job, "Backpressure", "numRecordsIn")[0];
    let deadline = Instant::now() + Duration::from_secs(60);
    while passed() == 0.0 {
        assert!(Instant::now() < deadline, "no record reached the Backpressure operator");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (started, backpressured_0, busy_0, passed_0) = (Instant::now(), backpressured(), busy(), passed());
    // Window 0 needs a little over 6000 records through the Backpressure operator; every
    // window written by then counts 1000.
    read_windows(&bootstrap, "output", Windows::at_least(1), Duration::from_secs(60)).expect("exact output");
    let elapsed = started.elapsed().as_millis() as f64;
    let backpressured = backpressured() - backpressured_0;
    let busy = busy() - busy_0;
    let sent = subtask_values(&job, "Source: ClickEvent Source", "numRecordsOut")[0];
    let passed = passed();
    job.cancel();
    assert_eq!(job.wait(), JobStatus::Canceled);
    // At 1 ms a record, the records of window 0 not yet through took at least that long.
    assert!(elapsed >= 6_000.0 - passed_0, "window 0 came after only {elapsed} ms, {passed_0} records in");
    assert!(backpressured >= elapsed / 2.0, "the source was back-pressured for {backpressured} ms of {elapsed} ms");
    assert!(busy >= elapsed / 2.0, "the Backpressure operator was busy for {busy} ms of {elapsed} ms");
    // The source got no further than what the channels between them hold.
    assert!(sent - passed < 12_000.0, "the source ran {} records ahead", sent - passed);
}

/// README "How Weir differs from Flink": malformed input is skipped and counted in
/// `numMalformedRecordsSkipped`, not fatal; the window counts stay exact.
#[test]
fn malformed_records_are_skipped_and_counted() {
    let broker = Broker::start();
    let dir = temp_dir();
    let bootstrap = broker.bootstrap();
    // One window's events: the bounded input's end closes it.
    generate(dir.path(), &bootstrap, "input", 6_000);
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", &bootstrap).create().expect("producer");
    for bad in [
        &b"not json"[..],
        br#"{"page":"/help"}"#,
        br#"{"timestamp":"31-02-1970 12:00:00:000","page":"/help"}"#,
        b"",
        b"{\"timestamp\":1}",
        // The generator's layout with a letter for a digit, and a quote in the page: refused by
        // the fast path's simd128 checks, then by the general parser.
        br#"{"timestamp":"01-01-1970 12:0a:00:000","page":"/help"}"#,
        br#"{"timestamp":"01-01-1970 12:00:00:000","page":"/he"lp"}"#,
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
    assert_eq!(metrics.sum("Source: ClickEvent Source", "numMalformedRecordsSkipped"), 7.0);
    read_windows(&bootstrap, "output", Windows::exactly(1), Duration::from_secs(30)).expect("exact output");
}

/// README "Walkthrough": a fired window is not written again; events late for it are dropped and
/// counted (`numLateRecordsDropped`).
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
    // Two windows of events: window 0 fires, window 1 cannot close.
    read_windows(&bootstrap, "output", Windows::exactly(1), Duration::from_secs(60)).expect("window 0 fires");
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
    // Window 0 fired once, its counts untouched by the late events.
    read_windows(&bootstrap, "output", Windows::exactly(1), Duration::from_secs(10)).expect("window 0 fired once");
}

/// README "Upgrading and rescaling": version 2 "adds a stateless "ClickEvent Filter" operator
/// (`--exclude-pages /a,/b`)": the excluded pages leave `output`, the others count exactly 1000
/// in every window, once.
#[test]
fn version_2_leaves_out_the_excluded_pages() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let v2 = std::fs::read(weir::builtin::guest_path("click_event_count_v2")).expect("version 2 is built");
    let cluster = cluster();
    // Six windows; the bounded input's end closes the last.
    let job = cluster
        .run(
            &v2,
            &args(&format!(
                "--bootstrap.servers {bootstrap} --source datagen --datagen.count 36000 --event-time \
                 --exclude-pages /help,/shop"
            )),
            2,
        )
        .expect("starts");
    assert!(job.graph().vertices.iter().any(|v| v.name == "ClickEvent Filter"));
    assert_eq!(job.wait(), JobStatus::Finished);
    let lines = witness(&bootstrap, "output", 24, Duration::from_secs(30)).expect("the witness reads output");
    let mut results: Vec<(String, String)> = Vec::new();
    for line in &lines {
        let c = parse_statistics(line).expect("a window result");
        assert!(c.count == 1000 && c.version.as_deref() == Some("v2"), "{line}");
        results.push((c.window_start, c.page));
    }
    results.sort();
    let mut expected: Vec<(String, String)> =
        window_range(0, 6).into_iter().filter(|(_, page)| page != "/help" && page != "/shop").collect();
    expected.sort();
    assert_eq!(results, expected, "each remaining page once a window, no excluded page");
}

/// Starts `weir <args>` with stderr in `log` and the processing-time clock shifted by
/// `offset_ms`; the process is killed on drop.
struct ShiftedWeir(std::process::Child);

impl ShiftedWeir {
    fn spawn(cache: &std::path::Path, offset_ms: i64, args: &[&str], log: &std::path::Path) -> ShiftedWeir {
        let file = std::fs::File::create(log).expect("a log file");
        let child = weir(cache)
            .env(weir::cli::CLOCK_OFFSET_VAR, offset_ms.to_string())
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start weir");
        ShiftedWeir(child)
    }
}

impl Drop for ShiftedWeir {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `field=value` of `weir run-local`'s progress lines for `vertex`, in order.
fn progress(log: &str, vertex: &str, field: &str) -> Vec<u64> {
    let tag = format!("progress vertex=\"{vertex}\"");
    let key = format!(" {field}=");
    log.lines()
        .filter(|l| l.contains(&tag))
        .filter_map(|l| l.split(&key).nth(1)?.split_whitespace().next()?.parse().ok())
        .collect()
}

/// README "Backpressure": by default the Backpressure operator "sleeps 100 ms per record during
/// even minutes" — with the processing-time clock shifted into an even and an odd minute
/// (`WEIR_TESTING_CLOCK_OFFSET_MS`) instead of waiting for one.
#[test]
fn the_default_backpressure_schedule_follows_the_minutes_of_processing_time() {
    let dir = temp_dir();
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as i64;
    // 5 s into an even (or odd) minute: each run stays in its minute for the 55 s it may take.
    let into_minute = |odd: i64| (now / 120_000) * 120_000 + odd * 60_000 + 5_000 - now;
    // At 100 ms a record the 60,000 events would take 100 minutes.
    let job = [
        "run-local",
        "click-event-count",
        "--progress-interval",
        "1",
        "--source",
        "datagen",
        "--datagen.count",
        "60000",
        "--event-time",
        "--backpressure",
        "--sink",
        "discard",
    ];
    let (even_log, odd_log) = (dir.path().join("even.log"), dir.path().join("odd.log"));
    let started = Instant::now();
    let mut odd = ShiftedWeir::spawn(dir.path(), into_minute(1), &job, &odd_log);
    let _even = ShiftedWeir::spawn(dir.path(), into_minute(0), &job, &even_log);

    // Odd minute: the operator passes records on at once, and the job finishes.
    let finished = eventually(Duration::from_secs(50), || odd.0.try_wait().ok().flatten());
    let odd_text = std::fs::read_to_string(&odd_log).unwrap_or_default();
    assert!(finished.is_some_and(|s| s.success()) && odd_text.contains("job finished"), "{odd_text}");

    // Even minute: the operator sleeps, the source waits for room downstream.
    let backpressured = eventually(Duration::from_secs(50), || {
        let log = std::fs::read_to_string(&even_log).unwrap_or_default();
        progress(&log, "Source: ClickEvent Source", "back_pressured_ms").iter().any(|ms| *ms >= 2_000).then_some(log)
    });
    let seconds = started.elapsed().as_secs() + 1;
    let log = backpressured.unwrap_or_else(|| std::fs::read_to_string(&even_log).unwrap_or_default());
    let passed = progress(&log, "Backpressure", "records_out");
    assert!(!passed.is_empty() && !log.contains("job finished"), "{log}");
    assert!(passed.iter().all(|n| *n <= 10 * seconds + 10), "more than 10 records a second passed: {passed:?}\n{log}");

    // A malformed offset stops the command before anything runs.
    let out = weir(dir.path()).env(weir::cli::CLOCK_OFFSET_VAR, "soon").args(job).output().expect("run weir");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && stderr.contains(weir::cli::CLOCK_OFFSET_VAR), "{stderr}");
}

/// README "How Weir differs": malformed input is skipped, "counts it in
/// `numMalformedRecordsSkipped` and logs at most one line per 10 s".
#[test]
fn a_burst_of_malformed_records_logs_one_line() {
    use rdkafka::producer::Producer as _;
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let dir = temp_dir();
    generate(dir.path(), &bootstrap, "input", 6_000);
    let producer: rdkafka::producer::BaseProducer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &bootstrap).create().expect("producer");
    let malformed = 5_000;
    for i in 0..malformed {
        let payload = format!("not a click event {i}");
        producer
            .send(rdkafka::producer::BaseRecord::<[u8], [u8]>::to("input").payload(payload.as_bytes()))
            .expect("queued");
    }
    producer.flush(Duration::from_secs(30)).expect("delivered");

    let cluster = Cluster::start(1, 1);
    let jar = guest_component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let (code, out, err) = cluster.cli("run", &["-d", &jar, "--bootstrap.servers", &bootstrap, "--event-time"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let job = out.trim().rsplit(' ').next().expect("a job id").to_string();
    let source = cluster.vertices(&job).first().map(|(id, _)| id.clone()).expect("the source vertex");
    let id = "0.Source__ClickEvent_Source.numMalformedRecordsSkipped";
    let skipped = eventually(Duration::from_secs(60), || {
        let answer = cluster.metrics(&format!("/jobs/{job}/vertices/{source}/metrics"), &[id]);
        metric_value(&answer, id).filter(|n| *n >= malformed as f64)
    });
    assert_eq!(skipped, Some(malformed as f64), "{}", cluster.jobmanager_log());
    let log = std::fs::read_to_string(cluster.dir.path().join("taskmanager-0.log")).expect("the TaskManager's log");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("skipping a malformed click event")).collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    cluster.cli("cancel", &[&job]);
}

/// README "Performance": `weir bench` checks every run's windows, and on Kafka measures bare
/// consumers first and prints the job's share of them.
#[test]
fn weir_bench_checks_its_windows_and_compares_kafka_with_bare_consumers() {
    let broker = Broker::start();
    let dir = temp_dir();
    let out = weir_output(
        dir.path(),
        &["bench", "--parallelism", "1,2", "--events", "60000", "--bootstrap.servers", &broker.bootstrap()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "weir bench failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let rows = |label: &str| stdout.lines().filter(|l| l.starts_with(label)).map(str::to_string).collect::<Vec<_>>();
    let (datagen, bare, kafka) = (rows("datagen"), rows("bare"), rows("kafka"));
    assert_eq!((datagen.len(), bare.len(), kafka.len()), (2, 2, 2), "{stdout}");
    for row in datagen.iter().chain(&kafka) {
        assert!(row.contains("60 windows (ok)"), "{row}");
    }
    for row in &kafka {
        assert!(row.contains("% of the bare consumer"), "{row}");
    }
    for row in &bare {
        assert!(row.contains("events/s") && !row.contains("windows"), "{row}");
    }
}

/// README "Exactly-once output" and docs/PERFORMANCE.md: `weir bench --latency` measures the
/// latency each guarantee and checkpoint interval gives, and the throughput of each beside a
/// run without checkpoints, checking every throughput run's windows.
#[test]
fn weir_bench_latency_measures_every_guarantee_and_interval() {
    let dir = temp_dir();
    let out = weir_output(dir.path(), &["bench", "--latency", "--seconds", "2", "--events", "300000"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "weir bench failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let rows = |label: &str| stdout.lines().filter(|l| l.starts_with(label)).map(str::to_string).collect::<Vec<_>>();
    let (at_least_once, exactly_once) = (rows("at-least-once"), rows("exactly-once"));
    // Two latency rows and two throughput rows each (1000 ms and 100 ms).
    assert_eq!((at_least_once.len(), exactly_once.len()), (4, 4), "{stdout}");
    let unchecked = rows("no checkpoints");
    assert_eq!(unchecked.len(), 1, "{stdout}");
    for row in at_least_once.iter().chain(&exactly_once).filter(|r| r.contains("events/s") || r.contains("windows")) {
        assert!(row.contains("300 windows (ok)"), "{row}");
    }
    assert!(unchecked[0].contains("300 windows (ok)"), "{}", unchecked[0]);
    for row in at_least_once.iter().chain(&exactly_once).filter(|r| !r.contains("windows")) {
        // guarantee, interval, p50, p99, max, results: a result read for each.
        let results: usize = row.split_whitespace().last().and_then(|n| n.parse().ok()).unwrap_or(0);
        assert!(results > 0, "{row}");
    }
}

/// README "State and checkpoints at scale" and docs/PERFORMANCE.md: `weir bench --state` runs
/// every step (checkpoints, upgrade, stop-with-savepoint, restore, TaskManager kill) and finds
/// every key it reads again after the restore and the kill; `--state-backend` measures sled
/// alone.
#[test]
fn weir_bench_state_measures_every_step_and_loses_no_key() {
    let dir = temp_dir();
    let out = weir_output(dir.path(), &["bench", "--state", "--keys", "2000", "--seconds", "2"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "weir bench --state failed: {stdout}\n{stderr}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| 2000 ")).collect();
    assert_eq!(rows.len(), 1, "{stdout}");
    let cells: Vec<&str> = rows[0].split('|').map(str::trim).collect();
    // | N | checkpoints | records/s | RSS | stop | restore | kill | upgrade | bytes |
    assert_eq!(cells.len(), 11, "{}", rows[0]);
    assert!(cells[2].contains(" in window") && !cells[2].contains("none completed"), "{}", rows[0]);
    assert!(!rows[0].contains("KEYS LOST"), "{}", rows[0]);
    assert!(cells[8].contains("swap ") && !cells[8].contains('?'), "{}", rows[0]);
    assert_eq!(stderr.matches("the first 2000 keys read were all in the restored state").count(), 2, "{stderr}");

    let out = weir_output(dir.path(), &["bench", "--state-backend", "--keys", "1000,3000", "--value-size", "100"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "weir bench --state-backend failed: {stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("| 100 B | ")).count(), 2, "{stdout}");
}
