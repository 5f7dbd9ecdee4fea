//! The example jobs of `guest-jobs/examples`, written on the typed job API
//! (`weir_sdk::stream`), run on a real cluster against a real broker; their output is checked
//! record by record against what the input implies.

use std::collections::BTreeMap;
use std::time::Duration;

use weir_tests::*;

fn job_id(out: &str) -> String {
    out.trim().rsplit(' ').next().expect("a job id").to_string()
}

/// Flink's WordCount: every word's running count, `(word,1)` … `(word,n)`, each exactly once,
/// at parallelism 2 (words spread over two counting subtasks).
#[test]
fn word_count_emits_every_running_count_once() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 4);
    let lines: Vec<String> = [
        "To be, or not to be, that is the question:",
        "Whether 'tis nobler in the mind to suffer",
        "The slings and arrows of outrageous fortune,",
        "Or to take arms against a sea of troubles",
        "And by opposing end them. To die: to sleep;",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    produce(&bootstrap, "lines", &lines);
    let job = guest_component(cluster.dir.path(), "word_count", "word_count.wasm");
    // As README "Writing a job in Rust" and docs/JOBS.md print it.
    let run = [
        "-d",
        "-p",
        "2",
        &job,
        "--bootstrap.servers",
        &bootstrap,
        "--input",
        "lines",
        "--output",
        "counts",
        "--bounded",
    ];
    let (code, out, err) = cluster.cli("run", &run);
    assert_eq!(code, Some(0), "{out}{err}");
    let id = job_id(&out);
    cluster.wait_for_state(&id, "FINISHED", Duration::from_secs(120));

    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut expected = Vec::new();
    for line in &lines {
        for word in line.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let count = totals.entry(word.to_lowercase()).or_default();
            *count += 1;
            expected.push(format!("({},{count})", word.to_lowercase()));
        }
    }
    let mut got = witness(&bootstrap, "counts", expected.len(), Duration::from_secs(60)).expect("the counts");
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "{}", cluster.jobmanager_log());
    // The vertices carry the pipeline's names, chained as Flink chains them.
    let names: Vec<String> = cluster.vertices(&id).into_iter().map(|(_, name)| name).collect();
    assert_eq!(
        names,
        [
            "Source: Kafka lines -> Tokenizer -> Map",
            "Keyed Reduce -> Map",
            "Kafka counts: Writer",
            "Kafka counts: Committer"
        ]
    );
}

/// Runs an example component at parallelism 2 with `args`, writing to the topic `output`, waits
/// until the job has FINISHED (its sources are bounded), and returns the `expected` records the
/// witness reads there (all of them: the witness waits for at least that many).
fn run_to_end(name: &str, args: &[&str], expected: usize) -> Vec<String> {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 6);
    let job = guest_component(cluster.dir.path(), name, &format!("{name}.wasm"));
    let mut run = vec!["-d", "-p", "2", &job, "--bootstrap.servers", &bootstrap, "--output", "output"];
    run.extend_from_slice(args);
    let (code, out, err) = cluster.cli("run", &run);
    assert_eq!(code, Some(0), "{out}{err}");
    let id = job_id(&out);
    cluster.wait_for_state(&id, "FINISHED", Duration::from_secs(180));
    let got = if expected == 0 {
        Vec::new()
    } else {
        witness(&bootstrap, "output", expected, Duration::from_secs(60)).expect("the output")
    };
    assert_eq!(got.len(), expected, "{got:?}");
    got
}

/// The first `n` events of the training's ride generator.
fn ride_events(n: usize) -> Vec<taxi_data::TaxiRide> {
    taxi_data::TaxiRideGenerator::new().take(n).collect()
}

/// Flink training's Ride Cleansing: exactly the rides (START and END events) that start and end
/// in New York City, each once, printed as the Java `toString`.
#[test]
fn ride_cleansing_keeps_exactly_the_rides_in_new_york() {
    let events = 20_000;
    let mut expected: Vec<String> = ride_events(events)
        .into_iter()
        .filter(|r| {
            taxi_data::geo_utils::is_in_nyc(r.start_lon, r.start_lat)
                && taxi_data::geo_utils::is_in_nyc(r.end_lon, r.end_lat)
        })
        .map(|r| r.to_string())
        .collect();
    assert!(expected.len() > 1000 && expected.len() < events, "the filter keeps some and drops some");
    let mut got = run_to_end("ride_cleansing", &["--events", &events.to_string()], expected.len());
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

/// Flink training's Rides and Fares: every START event whose fare was generated too is joined
/// with it exactly once, whichever of the two came first (two sources, keyed state on a
/// connected stream).
#[test]
fn rides_and_fares_joins_every_ride_with_its_fare_once() {
    let events = 10_000;
    let fares: std::collections::HashMap<i64, taxi_data::TaxiFare> =
        taxi_data::TaxiFareGenerator::new().take(events).map(|f| (f.ride_id, f)).collect();
    let mut expected: Vec<String> = ride_events(events)
        .into_iter()
        .filter(|r| r.is_start)
        .filter_map(|r| fares.get(&r.ride_id).map(|f| taxi_data::RideAndFare::new(r.clone(), f.clone()).to_string()))
        .collect();
    assert!(expected.len() > 1000, "{}", expected.len());
    let mut got = run_to_end("rides_and_fares", &["--events", &events.to_string()], expected.len());
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

/// Flink training's Hourly Tips: for every hour, the driver with the most tips and that sum
/// (an event-time window per driver, then one over all drivers), each hour once.
#[test]
fn hourly_tips_names_each_hours_best_driver_once() {
    const HOUR: i64 = 3_600_000;
    let events = 20_000;
    // Tips per (hour end, driver), summed in the order the fares come, as the window does.
    let mut sums: BTreeMap<(i64, i64), f32> = BTreeMap::new();
    for fare in taxi_data::TaxiFareGenerator::new().take(events) {
        let end = fare.event_time_millis().div_euclid(HOUR) * HOUR + HOUR;
        *sums.entry((end, fare.driver_id)).or_default() += fare.tip;
    }
    let mut best: BTreeMap<i64, f32> = BTreeMap::new();
    for (&(end, _), &tips) in &sums {
        let max = best.entry(end).or_insert(f32::MIN);
        *max = max.max(tips);
    }
    let got = run_to_end("hourly_tips", &["--events", &events.to_string()], best.len());
    let mut hours = BTreeMap::new();
    for line in got {
        let (end, driver, tips): (i64, i64, f32) = serde_json::from_str(&line).expect(&line);
        assert_eq!(Some(&tips), best.get(&end), "hour ending {end}: {line}");
        assert_eq!(sums.get(&(end, driver)), Some(&tips), "driver {driver} did not earn {tips} in hour {end}");
        assert!(hours.insert(end, driver).is_none(), "hour {end} twice");
    }
    assert_eq!(hours.len(), best.len());
}

/// Flink training's Long Ride Alerts: one alert for every ride longer than two hours — known
/// from its END event, or from the START's timer when the END never comes (the input ends, so
/// the watermark passes every timer) — and none for the others.
#[test]
fn long_ride_alerts_flag_exactly_the_rides_over_two_hours() {
    let events = 20_000;
    let mut starts = std::collections::HashMap::new();
    let mut ends = std::collections::HashMap::new();
    for ride in ride_events(events) {
        if ride.is_start {
            starts.insert(ride.ride_id, ride.event_time)
        } else {
            ends.insert(ride.ride_id, ride.event_time)
        };
    }
    let mut expected: Vec<String> = starts
        .iter()
        .filter(|(id, start)| ends.get(id).is_none_or(|end| end - *start > 2 * 3_600_000))
        .map(|(id, _)| id.to_string())
        .collect();
    assert!(!expected.is_empty());
    let mut got = run_to_end("long_ride_alerts", &["--events", &events.to_string()], expected.len());
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

/// docs/JOBS.md shows the examples' code as it is: every `rust` or `python` block there that
/// starts with `struct`, `impl` or `class` is found, verbatim, in the example (or test job) it
/// comes from.
#[test]
fn the_code_docs_jobs_shows_is_the_examples_code() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/JOBS.md")).expect("docs/JOBS.md");
    let mut sources = String::new();
    for dir in ["guest-jobs/examples", "guest-jobs/testing"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("the example jobs").flatten() {
            if let Ok(code) = std::fs::read_to_string(entry.path().join("src/lib.rs")) {
                sources.push_str(&code);
            }
        }
    }
    for entry in std::fs::read_dir(root.join("guest-jobs/python/examples")).expect("the Python examples").flatten() {
        sources.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    let blocks: Vec<&str> = ["```rust\n", "```python\n"]
        .iter()
        .flat_map(|fence| doc.split(fence).skip(1))
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.starts_with("struct ") || b.starts_with("impl ") || b.starts_with("class "))
        .collect();
    assert!(blocks.len() >= 3, "the blocks taken from the examples: {}", blocks.len());
    for block in blocks {
        assert!(sources.contains(block), "docs/JOBS.md shows code no example has:\n{block}");
    }
}
