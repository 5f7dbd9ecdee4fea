//! The typed job API's operators beyond the examples, on a real cluster against a real broker:
//! side outputs, broadcast streams and broadcast state.

use std::time::Duration;

use weir_tests::*;

fn job_id(out: &str) -> String {
    out.trim().rsplit(' ').next().expect("a job id").to_string()
}

/// A job component of the typed API as a user holds it: a Rust one the build made
/// (`guest-jobs/testing`), or a Python one `guest-jobs/python/build` made (which `tests/run`
/// runs).
fn component(cluster: &Cluster, name: &str) -> String {
    if name.ends_with("_py") {
        let built = target_dir().join("guest-jobs/python").join(format!("{name}.wasm"));
        assert!(built.exists(), "{} is missing: build it with guest-jobs/python/build", built.display());
        let path = cluster.dir.path().join(format!("{name}.wasm"));
        std::fs::copy(&built, &path).expect("copy the component");
        return path.display().to_string();
    }
    guest_component(cluster.dir.path(), name, &format!("{name}.wasm"))
}

/// docs/JOBS.md, side outputs: a keyed function's main output and two side outputs each reach
/// their own sink at p=2, every record in exactly one of them, and the main output's keyed
/// state (a running sum per last digit) is exact.
#[test]
fn a_keyed_functions_side_outputs_reach_their_own_sinks() {
    side_outputs("side_output_job");
}

/// The same with the Python typed API (`guest-jobs/python/testing/side_output_py.py`).
#[test]
fn a_python_keyed_functions_side_outputs_reach_their_own_sinks() {
    side_outputs("side_output_py");
}

fn side_outputs(name: &str) {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 8);
    let mut lines: Vec<String> = (1..=500u64).map(|n| n.to_string()).collect();
    lines.insert(100, "not a number".into());
    lines.insert(300, "12x".into());
    produce(&bootstrap, "numbers", &lines);
    let job = component(&cluster, name);
    let (code, out, err) = cluster.cli("run", &["-d", "-p", "2", &job, "--bootstrap.servers", &bootstrap, "--bounded"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let id = job_id(&out);
    cluster.wait_for_state(&id, "FINISHED", Duration::from_secs(120));

    let mut sums = std::collections::HashMap::new();
    let mut even = Vec::new();
    let mut odd = Vec::new();
    for n in 1..=500u64 {
        if n % 2 == 1 {
            odd.push(n.to_string());
        } else {
            let key = n % 10;
            let sum = sums.entry(key).or_insert(0u64);
            *sum += n;
            even.push(format!("{key}:{sum}"));
        }
    }
    for (topic, mut expected) in
        [("even", even), ("odd", odd), ("malformed", vec!["not a number".to_string(), "12x".to_string()])]
    {
        let mut got = witness(&bootstrap, topic, expected.len(), Duration::from_secs(60)).expect(topic);
        got.sort();
        expected.sort();
        assert_eq!(got, expected, "topic {topic}");
    }
    // The function's operator feeds its main output and each side output over edges of their own.
    let names: Vec<String> = cluster.vertices(&id).into_iter().map(|(_, name)| name).collect();
    for name in ["KeyedProcess", "Main Output", "odd -> Map", "malformed"] {
        assert!(names.iter().any(|n| n == name), "no vertex '{name}' in {names:?}");
    }
}

fn savepoint_path(out: &str) -> String {
    out.lines().find_map(|l| l.strip_prefix("Savepoint completed. Path: ")).expect(out).trim().to_string()
}

/// Every record of `topic` once it holds `expected.len()`, compared with `expected` as a
/// multiset (the topic's partitions interleave).
fn assert_topic(bootstrap: &str, topic: &str, expected: &[String], what: &str) {
    let mut all = witness(bootstrap, topic, expected.len(), Duration::from_secs(60)).expect(topic);
    all.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(all, expected, "{what}");
}

/// docs/JOBS.md, broadcast: every subtask of a keyed operator gets each broadcast record once
/// (p=2: two acknowledgements per factor, not one per key group), keyed records read the
/// broadcast state whatever their key, and the state survives a savepoint restored at p=3,
/// where the subtasks own other key groups.
#[test]
fn broadcast_records_reach_every_subtask_once_and_their_state_survives_a_rescale() {
    broadcast("broadcast_job");
}

/// The same with the Python typed API (`guest-jobs/python/testing/broadcast_py.py`), whose
/// broadcast keys and state are the Rust SDK's.
#[test]
fn python_broadcast_records_reach_every_subtask_once_and_their_state_survives_a_rescale() {
    broadcast("broadcast_py");
}

fn broadcast(name: &str) {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 12);
    let job = component(&cluster, name);
    let numbers = |range: std::ops::RangeInclusive<u64>| range.map(|n| n.to_string()).collect::<Vec<_>>();
    let products = |range: std::ops::RangeInclusive<u64>, f: u64| range.map(move |n| format!("{n}*{f}={}", n * f));
    produce(&bootstrap, "factors", &["3".to_string()]);
    produce(&bootstrap, "numbers", &[]);
    let run = |p: &str, savepoint: Option<&str>| {
        let mut args = vec!["-d", "-p", p];
        if let Some(s) = savepoint {
            args.extend(["-s", s]);
        }
        args.extend([job.as_str(), "--bootstrap.servers", bootstrap.as_str()]);
        let (code, out, err) = cluster.cli("run", &args);
        assert_eq!(code, Some(0), "{out}{err}");
        job_id(&out)
    };
    let first = run("2", None);
    let mut expected = vec!["factor 3".to_string(), "factor 3".to_string()];
    assert_topic(&bootstrap, "out", &expected, "each of the 2 subtasks acknowledges the factor once");
    produce(&bootstrap, "numbers", &numbers(1..=100));
    expected.extend(products(1..=100, 3));
    assert_topic(&bootstrap, "out", &expected, "every number multiplied by the broadcast factor");
    produce(&bootstrap, "factors", &["5".to_string()]);
    expected.extend(["factor 5".to_string(), "factor 5".to_string()]);
    assert_topic(&bootstrap, "out", &expected, "a new factor reaches both subtasks once");

    let (code, out, err) = cluster.cli("stop", &[&first]);
    assert_eq!(code, Some(0), "{out}{err}");
    run("3", Some(&savepoint_path(&out)));
    produce(&bootstrap, "numbers", &numbers(101..=200));
    expected.extend(products(101..=200, 5));
    assert_topic(&bootstrap, "out", &expected, "the factor came back from the savepoint at p=3");
}
