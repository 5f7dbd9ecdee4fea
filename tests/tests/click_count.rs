//! The Click Event Count job end to end, through the real parts: the `weir generator` process
//! writes to a real broker, `weir run-local` runs the job, and kafka-python reads `output`.

use std::collections::HashMap;
use std::time::Duration;

use weir_tests::*;

/// Runs the job at `parallelism` over a backlog of 6 windows and checks the first 5 windows
/// (the 6th cannot close: no later event moves the watermark past it).
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
    let lines = witness(&bootstrap, "output", 30, Duration::from_secs(90)).expect("the witness reads output");
    if lines.len() < 30 {
        panic!("only {} results; the job said:\n{}", lines.len(), job.output());
    }
    let counts: Vec<WindowCount> = lines.iter().map(|l| parse_statistics(l).expect("well-formed statistics")).collect();
    assert_eq!(counts.len(), 30, "expected 5 windows × 6 pages, got {counts:#?}\n{}", job.output());
    let mut seen = HashMap::new();
    for c in &counts {
        assert_eq!(c.count, 1000, "{c:?}");
        assert!(
            seen.insert((c.window_start.clone(), c.page.clone()), c.window_end.clone()).is_none(),
            "duplicate {c:?}"
        );
    }
    for key in expected_windows(5) {
        assert!(seen.contains_key(&key), "missing window {key:?}");
    }
    assert_eq!(seen[&("01-01-1970 12:00:00:000".to_string(), "/help".to_string())], "01-01-1970 12:00:15:000");
    assert_eq!(job.stop(), Some(0), "run-local should stop cleanly on SIGTERM:\n{}", job.output());
}

#[test]
fn event_time_at_parallelism_1() {
    event_time_counts_are_exactly_1000("1");
}

#[test]
fn event_time_at_parallelism_2() {
    event_time_counts_are_exactly_1000("2");
}

#[test]
fn processing_time_variant_emits_windows() {
    let broker = Broker::start();
    let dir = temp_dir();
    let bootstrap = broker.bootstrap();
    let mut generator = WeirProcess::spawn(
        dir.path(),
        &["generator", "--bootstrap.servers", &bootstrap, "--rate", "2000"],
        dir.path().join("generator.log"),
    );
    let mut job = WeirProcess::spawn(
        dir.path(),
        &["run-local", "click-event-count", "--bootstrap.servers", &bootstrap],
        dir.path().join("job.log"),
    );
    // A processing-time window closes at the next multiple of 15 s of wall-clock time.
    let lines = witness(&bootstrap, "output", 1, Duration::from_secs(60)).expect("the witness reads output");
    let first = parse_statistics(&lines[0]).expect("well-formed statistics");
    assert!(first.count > 0, "{first:?}");
    assert_ne!(first.window_start, "01-01-1970 12:00:00:000", "processing-time windows follow the wall clock");
    // Window bounds are multiples of 15 s: the seconds field is 00, 15, 30 or 45 and ms are 000.
    assert!(matches!(&first.window_start[17..], "00:000" | "15:000" | "30:000" | "45:000"), "{first:?}");
    assert_eq!(job.stop(), Some(0), "{}", job.output());
    generator.stop();
}

#[test]
fn bad_program_arguments_are_named() {
    let dir = temp_dir();
    for (args, expected) in [
        (&["--frobnicate"][..], "unknown argument --frobnicate"),
        (&["--bootstrap.servers"][..], "argument --bootstrap.servers needs a value"),
        (&["--source", "nowhere"][..], "invalid value 'nowhere' for --source"),
        (&["--datagen.count", "many", "--source", "datagen"][..], "invalid value 'many' for --datagen.count"),
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
