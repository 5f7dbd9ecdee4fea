//! The typed job API's operators beyond the examples, on a real cluster against a real broker:
//! side outputs.

use std::time::Duration;

use weir_tests::*;

fn job_id(out: &str) -> String {
    out.trim().rsplit(' ').next().expect("a job id").to_string()
}

/// docs/JOBS.md, side outputs: a keyed function's main output and two side outputs each reach
/// their own sink at p=2, every record in exactly one of them, and the main output's keyed
/// state (a running sum per last digit) is exact.
#[test]
fn a_keyed_functions_side_outputs_reach_their_own_sinks() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 8);
    let mut lines: Vec<String> = (1..=500u64).map(|n| n.to_string()).collect();
    lines.insert(100, "not a number".into());
    lines.insert(300, "12x".into());
    produce(&bootstrap, "numbers", &lines);
    let job = guest_component(cluster.dir.path(), "side_output_job", "side_output_job.wasm");
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
