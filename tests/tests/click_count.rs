//! The Click Event Count job end to end, through the real parts: the `weir generator` process
//! writes to a real broker, `weir run-local` runs the job, and kafka-python reads `output`.

use std::collections::HashMap;
use std::time::Duration;

use weir_tests::*;

/// Runs the job at `parallelism` over a backlog of 6 windows and checks that `output` holds
/// exactly the first 5, each page once at 1000 (the 6th cannot close: no later event moves the
/// watermark past it).
fn event_time_counts_are_exactly_1000(parallelism: &str) {
    let broker = Broker::start();
    let dir = temp_dir();
    let bootstrap = broker.bootstrap();
    generate(dir.path(), &bootstrap, "input", 36_000);
    let mut job = WeirProcess::spawn(
        dir.path(),
        &[
            "run-local",
            "-p",
            parallelism,
            "click-event-count",
            "--bootstrap.servers",
            &bootstrap,
            "--event-time",
            "--checkpointing",
        ],
        dir.path().join("job.log"),
    );
    let counts = read_windows(&bootstrap, "output", Windows::exactly(5), Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("{e:#}\nthe job said:\n{}", job.output()));
    for c in &counts {
        assert_eq!(window_length(c), WINDOW_MS, "{c:?}");
    }
    let first = counts.iter().find(|c| c.window_start == "01-01-1970 12:00:00:000" && c.page == "/help");
    assert_eq!(first.map(|c| c.window_end.as_str()), Some("01-01-1970 12:00:15:000"), "{counts:#?}");
    assert_eq!(job.stop(), Some(0), "run-local should stop cleanly on SIGTERM:\n{}", job.output());
}

/// README: exactly 1000 clicks per page per 15 s event-time window, each written once (p=1).
#[test]
fn event_time_at_parallelism_1() {
    event_time_counts_are_exactly_1000("1");
}

/// README: exactly 1000 clicks per page per 15 s event-time window, each written once (p=2).
#[test]
fn event_time_at_parallelism_2() {
    event_time_counts_are_exactly_1000("2");
}

/// A window's length in ms (on the 12-hour clock, which may wrap between its start and end).
fn window_length(c: &WindowCount) -> i64 {
    let start = click_event::timestamp::parse(&c.window_start).expect("a window start");
    let end = click_event::timestamp::parse(&c.window_end).expect("a window end");
    (end - start).rem_euclid(12 * 3_600_000)
}

const WINDOW_MS: i64 = 15_000;

/// Without `--event-time`, windows follow the wall clock: every event read is counted once, in
/// a 15 s window aligned to the clock, whatever instant its timestamp names.
#[test]
fn processing_time_variant_emits_windows() {
    let broker = Broker::start();
    let dir = temp_dir();
    let bootstrap = broker.bootstrap();
    generate(dir.path(), &bootstrap, "input", 6_000);
    let mut job = WeirProcess::spawn(
        dir.path(),
        &["run-local", "click-event-count", "--bootstrap.servers", &bootstrap],
        dir.path().join("job.log"),
    );
    // The job reads the 6000 events at once; the wall-clock window (or two) they fall into
    // closes at the next multiple of 15 s, and then every page has counted its 1000 events.
    let mut counts: Vec<WindowCount> = Vec::new();
    let complete = eventually(Duration::from_secs(60), || {
        let lines = witness(&bootstrap, "output", 1, Duration::from_secs(30)).expect("the witness reads output");
        counts = lines.iter().map(|l| parse_statistics(l).expect("well-formed statistics")).collect();
        let mut per_page: HashMap<String, i64> = HashMap::new();
        for c in &counts {
            *per_page.entry(c.page.clone()).or_default() += c.count;
        }
        PAGES.iter().all(|p| per_page.get(*p).copied().unwrap_or(0) >= 1000).then_some(per_page)
    });
    let per_page = complete.unwrap_or_else(|| panic!("not every event was counted: {counts:#?}\n{}", job.output()));
    assert!(per_page.values().all(|n| *n == 1000), "events counted more than once: {counts:#?}");
    let mut windows = std::collections::HashSet::new();
    for c in &counts {
        assert!(c.count > 0 && windows.insert((c.window_start.clone(), c.page.clone())), "{counts:#?}");
        assert_ne!(c.window_start, "01-01-1970 12:00:00:000", "processing-time windows follow the wall clock");
        // Window bounds are multiples of 15 s: the seconds field is 00, 15, 30 or 45 and ms are 000.
        assert!(matches!(&c.window_start[17..], "00:000" | "15:000" | "30:000" | "45:000"), "{c:?}");
        assert_eq!(window_length(c), WINDOW_MS, "{c:?}");
    }
    assert_eq!(job.stop(), Some(0), "{}", job.output());
}

#[test]
fn bad_program_arguments_are_named() {
    let dir = temp_dir();
    for (args, expected) in [
        (&["--frobnicate"][..], "unknown argument --frobnicate"),
        (&["--bootstrap.servers"][..], "argument --bootstrap.servers needs a value"),
        (&["--source", "nowhere"][..], "invalid value 'nowhere' for --source"),
        (&["--datagen.count", "many", "--source", "datagen"][..], "invalid value 'many' for --datagen.count"),
        (&["--checkpointing.interval-ms", "500"][..], "argument --checkpointing.interval-ms needs --checkpointing"),
        (
            &["--checkpointing", "--checkpointing.interval-ms", "0"][..],
            "--checkpointing.interval-ms must be at least 1",
        ),
    ] {
        let mut cmd = vec!["run-local", "click-event-count"];
        cmd.extend_from_slice(args);
        let out = weir_output(dir.path(), &cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("invalid program arguments") && stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn the_generator_writes_the_playground_sequence() {
    let broker = Broker::start();
    let dir = temp_dir();
    generate(dir.path(), &broker.bootstrap(), "clicks", 12);
    let lines =
        witness(&broker.bootstrap(), "clicks", 12, Duration::from_secs(30)).expect("the witness reads the topic");
    assert_eq!(lines.len(), 12);
    assert!(lines.contains(&r#"{"timestamp":"01-01-1970 12:00:00:000","page":"/help"}"#.to_string()), "{lines:?}");
    assert!(lines.contains(&r#"{"timestamp":"01-01-1970 12:00:00:015","page":"/news"}"#.to_string()), "{lines:?}");
}
