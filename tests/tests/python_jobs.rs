//! Jobs in Python: Click Event Count written in Python on the Python SDK (`guest-jobs/python`),
//! built with componentize-py by `guest-jobs/python/build`, end to end against the broker, across
//! savepoints with the Rust job, and misbehaving in the sandbox.
//!
//! A Python component is some 17 MiB; compiling it takes seconds on a loaded machine. It is
//! compiled once into a cache shared by these tests (the host caches compiled components on disk
//! by content hash, as `weir` always does), which each cluster's cache is seeded from.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use weir_runtime::minicluster::{JobStatus, MiniCluster};
use weir_tests::*;
use weir_wasm::Limits;
use weir_wasm::cache::ComponentCache;

/// A component built by `guest-jobs/python/build` (which `tests/run` calls).
fn python_component(name: &str) -> PathBuf {
    let path = target_dir().join("guest-jobs/python").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: build it with guest-jobs/python/build (tests/run does)", path.display());
    path
}

/// The compiled-component cache these tests share, with the Python components compiled into it
/// (by `weir run-local` with an argument the jobs refuse: the component is compiled and planned,
/// nothing runs).
fn shared_cache() -> PathBuf {
    let cache = target_dir().join("python-jobs-cache");
    for name in ["click_event_count_py", "misbehave_py", "ride_cleansing_py", "long_ride_alerts_py"] {
        let component = python_component(name);
        let out = weir(&cache)
            .args(["run-local", component.to_str().expect("utf-8 path"), "--compile-only-probe"])
            .output()
            .expect("run weir");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("unknown argument --compile-only-probe"), "{name} did not compile and plan: {stderr}");
    }
    cache
}

/// Copies the shared cache's compiled components into a cluster's own cache.
fn seed(cluster: &Cluster, cache: &Path) {
    let into = cluster.dir.path().join("cache");
    std::fs::create_dir_all(&into).expect("the cluster's cache directory");
    for entry in std::fs::read_dir(cache).expect("the shared cache").flatten() {
        if entry.path().extension().is_some_and(|e| e == "cwasm") {
            std::fs::copy(entry.path(), into.join(entry.file_name())).expect("seed the cache");
        }
    }
}

/// Copies a component into the cluster's directory, as a user holds a file.
fn component_file(cluster: &Cluster, source: &Path, file: &str) -> String {
    let path = cluster.dir.path().join(file);
    std::fs::copy(source, &path).expect("copy the component");
    path.display().to_string()
}

fn job_id(out: &str) -> String {
    out.trim().rsplit(' ').next().expect("a job id").to_string()
}

fn savepoint_path(out: &str) -> String {
    out.lines().find_map(|l| l.strip_prefix("Savepoint completed. Path: ")).expect(out).trim().to_string()
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// README "Writing a job in Python": the Python job counts exactly 1000 clicks per page per
/// window against the broker, at parallelism 1 and 2 side by side, each window written once.
#[test]
fn the_python_job_counts_exactly_at_parallelism_1_and_2() {
    let cache = shared_cache();
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 3);
    seed(&cluster, &cache);
    let job = component_file(&cluster, &python_component("click_event_count_py"), "ClickCountJob.py.wasm");
    generate(cluster.dir.path(), &bootstrap, "input", 36_000);
    let mut jobs = Vec::new();
    for (p, topic) in [("1", "output-p1"), ("2", "output-p2")] {
        let run = [
            "-d",
            "-p",
            p,
            &job,
            "--bootstrap.servers",
            &bootstrap,
            "--output-topic",
            topic,
            "--event-time",
            "--checkpointing",
            "--bounded",
        ];
        let (code, out, err) = cluster.cli("run", &run);
        assert_eq!(code, Some(0), "{out}{err}");
        jobs.push(job_id(&out));
    }
    // The graph is the Rust job's: the same vertices, by name.
    let names: Vec<String> = cluster.vertices(&jobs[1]).into_iter().map(|(_, name)| name).collect();
    assert_eq!(
        names,
        [
            "Source: ClickEvent Source",
            "ClickEvent Counter",
            "ClickEventStatistics Sink: Writer",
            "ClickEventStatistics Sink: Committer"
        ],
        "{names:?}"
    );
    for topic in ["output-p1", "output-p2"] {
        // Bounded input: at its end the watermark passes every window, so all six close.
        read_windows(&bootstrap, topic, Windows::exactly(6), Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("{topic}: {e:#}\n{}", cluster.jobmanager_log()));
    }
    for job in &jobs {
        cluster.wait_for_state(job, "FINISHED", Duration::from_secs(60));
    }
}

/// README "Writing a job in Python": a savepoint moves between the Rust and the Python job —
/// Rust at p=2, stopped with a savepoint, restored into the Python job at p=2, stopped again,
/// restored into the Rust job at p=1: every window once at 1000 across the switches.
#[test]
fn savepoints_move_between_the_rust_and_the_python_job() {
    let cache = shared_cache();
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    seed(&cluster, &cache);
    let rust = guest_component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let python = component_file(&cluster, &python_component("click_event_count_py"), "ClickCountJob.py.wasm");
    // 16 windows; 15 can close.
    let _generator = cluster.generator(&bootstrap, 96_000, 6_000);
    let common = ["--bootstrap.servers", bootstrap.as_str(), "--checkpointing", "--event-time"];
    let run = |parallelism: &str, savepoint: Option<&str>, job: &str| {
        let mut run = vec!["-d", "-p", parallelism];
        if let Some(savepoint) = savepoint {
            run.extend(["-s", savepoint]);
        }
        run.push(job);
        run.extend(common);
        let (code, out, err) = cluster.cli("run", &run);
        assert_eq!(code, Some(0), "{out}{err}");
        job_id(&out)
    };
    let stop = |job: &str| {
        let (code, out, err) = cluster.cli("stop", &[job]);
        assert_eq!(code, Some(0), "{out}{err}");
        cluster.wait_for_state(job, "FINISHED", Duration::from_secs(30));
        savepoint_path(&out)
    };
    // The writer of a job has written results (from the REST API: reading `output` while two
    // sinks work off a backlog could catch one a window ahead).
    let wrote = |job: &str| {
        let written = eventually(Duration::from_secs(60), || {
            let details = cluster.get(&format!("/jobs/{job}")).json();
            let writer = details["vertices"]
                .as_array()?
                .iter()
                .find(|v| v["name"] == "ClickEventStatistics Sink: Writer")?
                .clone();
            (writer["metrics"]["read-records"].as_u64()? > 0).then_some(())
        });
        assert!(written.is_some(), "job {job} never wrote: {}", cluster.get(&format!("/jobs/{job}")).body);
    };

    let first = run("2", None, &rust);
    wrote(&first);
    let savepoint = stop(&first);
    let second = run("2", Some(&savepoint), &python);
    wrote(&second);
    let savepoint = stop(&second);
    run("1", Some(&savepoint), &rust);
    read_windows(&bootstrap, "output", Windows::exactly(15), Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e:#}\n{}", cluster.jobmanager_log()));
}

/// In-process cluster for the sandbox cases: the default memory limit, a short call limit so
/// the endless loop is quick, and the shared cache so the component is not compiled again.
fn mini_cluster(cache: &Path) -> MiniCluster {
    let limits = Limits { call_time: Duration::from_secs(2), ..Limits::default() };
    MiniCluster::new(limits, ComponentCache::new(cache)).expect("a mini cluster")
}

/// README "How Weir differs" (sandboxed user code) for Python: a guest that raises, loops or
/// allocates without bound fails its job with an error naming the operator and the Python
/// exception (with its traceback) or the limit, and the host goes on running Python jobs.
#[test]
fn a_misbehaving_python_guest_fails_its_task_and_the_host_lives() {
    let cluster = mini_cluster(&shared_cache());
    let bytes = std::fs::read(python_component("misbehave_py")).expect("the component");
    let fail = |fault: &str| {
        let started = Instant::now();
        let job = cluster.run(&bytes, &args(&format!("--fault {fault}")), 1).expect("the job starts");
        match job.wait() {
            JobStatus::Failed(cause) => (cause, started.elapsed()),
            other => panic!("--fault {fault} should fail the job, it ended {other:?}"),
        }
    };
    let (cause, _) = fail("raise");
    assert!(
        cause.contains("Misbehave (1/1)")
            && cause.contains("PageNotWelcome: the Python test job refuses this batch")
            && cause.contains("line "),
        "{cause}"
    );
    let (cause, took) = fail("loop");
    assert!(cause.contains("Misbehave (1/1)") && cause.contains("time limit of 2s"), "{cause}");
    assert!(took < Duration::from_secs(60), "the loop ran {took:?}");
    let (cause, _) = fail("allocate");
    assert!(
        cause.contains("Misbehave (1/1)")
            && (cause.contains("MemoryError") || cause.contains("memory limit of 256 MiB")),
        "{cause}"
    );
    let good = cluster.run(&bytes, &args("--count 30000"), 2).expect("a good job starts");
    assert_eq!(good.wait(), JobStatus::Finished);
}

/// README "The job's arguments" for the Python job: the same graph as the Rust job for the same
/// arguments (uids, names, configuration, connectors, time, checkpointing), and bad arguments
/// refused with the message that names the argument.
#[test]
fn the_python_job_plans_the_rust_jobs_graph_and_names_bad_arguments() {
    let cluster = mini_cluster(&shared_cache());
    let python = cluster.load(&std::fs::read(python_component("click_event_count_py")).expect("read")).expect("load");
    let rust = cluster.load(weir::builtin::CLICK_EVENT_COUNT).expect("load the Rust job");
    let graph = |component, line: &str| {
        let graph = cluster.plan(component, &args(line), 2).map_err(|e| e.to_string())?;
        let mut value = serde_json::to_value(&graph).expect("a graph serializes");
        value["job_id"] = serde_json::Value::Null;
        Ok::<_, String>(value)
    };
    for line in [
        "",
        "--bootstrap.servers kafka:9092 --checkpointing --event-time",
        "--backpressure --backpressure.schedule always --backpressure.sleep-ms 0 --chaining",
        "--source datagen --datagen.count 60000 --datagen.rate 1000 --sink print",
        "--sink discard --checkpointing --checkpointing.interval-ms 250 --starting-offsets latest --bounded",
        "--input-topic in --output-topic out --delivery-guarantee at-least-once",
        "--sink.transactions --checkpointing",
    ] {
        assert_eq!(graph(&python, line), graph(&rust, line), "program arguments: {line}");
    }
    for (line, message) in [
        ("--frobnicate", "invalid program arguments: unknown argument --frobnicate"),
        ("--source datagen --datagen.count lots", "invalid value 'lots' for --datagen.count"),
        ("--source nowhere", "invalid value 'nowhere' for --source: expected one of kafka, datagen"),
        ("--checkpointing.interval-ms 5", "argument --checkpointing.interval-ms needs --checkpointing"),
        ("--bootstrap.servers", "argument --bootstrap.servers needs a value"),
        ("--event-time maybe", "argument --event-time is a flag; it takes no value (got 'maybe')"),
    ] {
        let error = graph(&python, line).expect_err(line);
        assert!(error.contains(message), "{line}: {error}");
        assert!(graph(&rust, line).is_err(), "the Rust job accepts {line}");
    }
}

/// The first `n` events of Flink training's ride generator, as the JSON the Python examples read.
fn produce_rides(bootstrap: &str, n: usize) -> Vec<taxi_data::TaxiRide> {
    let rides: Vec<taxi_data::TaxiRide> = taxi_data::TaxiRideGenerator::new().take(n).collect();
    let lines: Vec<String> = rides.iter().map(|r| serde_json::to_string(r).expect("a ride as JSON")).collect();
    produce(bootstrap, "rides", &lines);
    rides
}

/// Runs a Python example on the typed API at p=2 over the rides in Kafka, until it finishes.
fn run_python_example(name: &str, bootstrap: &str, cache: &Path) -> Cluster {
    let cluster = Cluster::start(1, 4);
    seed(&cluster, cache);
    let job = component_file(&cluster, &python_component(name), &format!("{name}.wasm"));
    let run = ["-d", "-p", "2", &job, "--bootstrap.servers", bootstrap, "--output", "output", "--bounded"];
    let (code, out, err) = cluster.cli("run", &run);
    assert_eq!(code, Some(0), "{out}{err}");
    cluster.wait_for_state(&job_id(&out), "FINISHED", Duration::from_secs(180));
    cluster
}

/// docs/JOBS.md, the typed API in Python: Flink training's Ride Cleansing keeps exactly the
/// rides that start and end in New York City, each once, as the JSON it read.
#[test]
fn ride_cleansing_in_python_keeps_exactly_the_rides_in_new_york() {
    let cache = shared_cache();
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let rides = produce_rides(&bootstrap, 5_000);
    let mut expected: Vec<taxi_data::TaxiRide> = rides
        .into_iter()
        .filter(|r| {
            taxi_data::geo_utils::is_in_nyc(r.start_lon, r.start_lat)
                && taxi_data::geo_utils::is_in_nyc(r.end_lon, r.end_lat)
        })
        .collect();
    let _cluster = run_python_example("ride_cleansing_py", &bootstrap, &cache);
    let lines = witness(&bootstrap, "output", expected.len(), Duration::from_secs(60)).expect("the output");
    let mut got: Vec<taxi_data::TaxiRide> =
        lines.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect();
    let order =
        |a: &taxi_data::TaxiRide, b: &taxi_data::TaxiRide| (a.ride_id, a.is_start).cmp(&(b.ride_id, b.is_start));
    got.sort_by(order);
    expected.sort_by(order);
    assert_eq!(got, expected);
}

/// docs/JOBS.md, the typed API in Python: Flink training's Long Ride Alerts (keyed state,
/// event-time timers) flags exactly the rides the Rust example flags.
#[test]
fn long_ride_alerts_in_python_flag_exactly_the_rides_over_two_hours() {
    let cache = shared_cache();
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let rides = produce_rides(&bootstrap, 5_000);
    let mut starts = std::collections::HashMap::new();
    let mut ends = std::collections::HashMap::new();
    for ride in rides {
        if ride.is_start {
            starts.insert(ride.ride_id, ride.event_time);
        } else {
            ends.insert(ride.ride_id, ride.event_time);
        }
    }
    let mut expected: Vec<String> = starts
        .iter()
        .filter(|(id, start)| ends.get(id).is_none_or(|end| end - *start > 2 * 3_600_000))
        .map(|(id, _)| id.to_string())
        .collect();
    let _cluster = run_python_example("long_ride_alerts_py", &bootstrap, &cache);
    let mut got = witness(&bootstrap, "output", expected.len(), Duration::from_secs(60)).expect("the output");
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

/// docs/JOBS.md, the typed API in Python: a savepoint of the Python long ride alerts restores
/// into the Rust one (same uids, key bytes, JSON state and timers). The Python job reads the
/// first half of the rides and stops with a savepoint holding the rides still open; the Rust job
/// restores it and reads the second half: every long ride is flagged once, including those that
/// started before the switch and ended after it.
#[test]
fn a_python_typed_jobs_savepoint_restores_into_the_rust_one() {
    let cache = shared_cache();
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let rides: Vec<taxi_data::TaxiRide> = taxi_data::TaxiRideGenerator::new().take(4_000).collect();
    let lines: Vec<String> = rides.iter().map(|r| serde_json::to_string(r).expect("a ride as JSON")).collect();
    let (first_half, second_half) = lines.split_at(2_000);
    produce(&bootstrap, "rides", first_half);

    let cluster = Cluster::start(1, 4);
    seed(&cluster, &cache);
    let python = component_file(&cluster, &python_component("long_ride_alerts_py"), "long_ride_alerts_py.wasm");
    let rust = guest_component(cluster.dir.path(), "long_ride_alerts", "long_ride_alerts.wasm");
    let common = ["--bootstrap.servers", bootstrap.as_str(), "--input", "rides", "--output", "output"];
    let mut run = vec!["-d", "-p", "2", python.as_str()];
    run.extend(common);
    let (code, out, err) = cluster.cli("run", &run);
    assert_eq!(code, Some(0), "{out}{err}");
    let first = job_id(&out);
    // Every ride of the first half read before the savepoint.
    let read = eventually(Duration::from_secs(120), || {
        let details = cluster.get(&format!("/jobs/{first}")).json();
        let source = details["vertices"].as_array()?.first()?.clone();
        (source["metrics"]["write-records"].as_u64()? >= 2_000).then_some(())
    });
    assert!(read.is_some(), "the Python job never read the rides: {}", cluster.get(&format!("/jobs/{first}")).body);
    let (code, out, err) = cluster.cli("stop", &[&first]);
    assert_eq!(code, Some(0), "{out}{err}");
    let savepoint = savepoint_path(&out);

    produce(&bootstrap, "rides", second_half);
    let mut run = vec!["-d", "-p", "2", "-s", savepoint.as_str(), rust.as_str()];
    run.extend(common);
    run.push("--bounded");
    let (code, out, err) = cluster.cli("run", &run);
    assert_eq!(code, Some(0), "{out}{err}");
    cluster.wait_for_state(&job_id(&out), "FINISHED", Duration::from_secs(120));

    let mut starts = std::collections::HashMap::new();
    let mut ends = std::collections::HashMap::new();
    for ride in &rides {
        if ride.is_start {
            starts.insert(ride.ride_id, ride.event_time);
        } else {
            ends.insert(ride.ride_id, ride.event_time);
        }
    }
    let crossing = (0..2_000)
        .filter(|&i| rides[i].is_start)
        .filter(|&i| rides[2_000..].iter().any(|r| r.ride_id == rides[i].ride_id))
        .count();
    assert!(crossing > 10, "rides open across the switch: {crossing}");
    let mut expected: Vec<String> = starts
        .iter()
        .filter(|(id, start)| ends.get(id).is_none_or(|end| end - *start > 2 * 3_600_000))
        .map(|(id, _)| id.to_string())
        .collect();
    let mut got = witness(&bootstrap, "output", expected.len(), Duration::from_secs(60)).expect("the output");
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}
