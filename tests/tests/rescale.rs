//! Rescaling a running job as a user drives it: Flink's `GET`/`PUT
//! /jobs/:jobid/resource-requirements` with curl and `weir rescale`, against a cluster of real
//! processes and a real broker, with kafka-python as the strict witness of `output`: every
//! window once, at 1000, through a scale up and a scale down.

use std::time::Duration;

use weir_tests::*;

/// Runs the Click Event Count job at parallelism 1 with checkpoints and event time, and waits
/// for its tasks; returns its id.
fn run_at_parallelism_1(cluster: &Cluster, bootstrap: &str) -> String {
    let component = guest_component(cluster.dir.path(), "click_event_count", "click_event_count.wasm");
    let (code, out, err) = cluster.cli(
        "run",
        &["-d", "-p", "1", &component, "--bootstrap.servers", bootstrap, "--checkpointing", "--event-time"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let job = out.trim().rsplit(' ').next().expect("a job id").to_string();
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));
    job
}

/// Each vertex's parallelism, in the job's order.
fn parallelisms(cluster: &Cluster, job: &str) -> Vec<u64> {
    let details = cluster.get(&format!("/jobs/{job}")).json();
    details["vertices"].as_array().expect("vertices").iter().map(|v| v["parallelism"].as_u64().unwrap_or(0)).collect()
}

fn put_requirements(cluster: &Cluster, job: &str, body: &serde_json::Value) -> HttpAnswer {
    let url = cluster.url(&format!("/jobs/{job}/resource-requirements"));
    curl(&["-X", "PUT", "-H", "Content-Type: application/json", "-d", &body.to_string(), &url])
}

/// Every vertex at `p`, lower bound 1, as Flink's web UI sends it.
fn every_vertex_at(cluster: &Cluster, job: &str, p: u32) -> serde_json::Value {
    let body: serde_json::Map<String, serde_json::Value> = cluster
        .vertices(job)
        .into_iter()
        .map(|(id, _)| (id, serde_json::json!({"parallelism": {"lowerBound": 1, "upperBound": p}})))
        .collect();
    serde_json::Value::Object(body)
}

/// README "Rescaling a job": the Click Event Count job at parallelism 1 is scaled up to 2 with
/// `weir rescale -p 2` and down again with `PUT /jobs/:jobid/resource-requirements`; it keeps its
/// job id, each rescale is in its history, and every window is in `output` once at 1000.
#[test]
fn a_job_rescaled_up_and_down_keeps_its_state_and_every_window_exactly_once() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    // 20 windows at 6000 events a second, a window a second; 19 can close.
    let _generator = cluster.generator(&bootstrap, 120_000, 6_000);
    let job = run_at_parallelism_1(&cluster, &bootstrap);
    read_windows(&bootstrap, "output", Windows::at_least(2), Duration::from_secs(30)).expect("the first windows");

    // Flink's answer for a job submitted at a fixed parallelism: lower 1, upper its parallelism.
    let requirements = cluster.get(&format!("/jobs/{job}/resource-requirements")).json();
    let (counter, _) = cluster.vertices(&job).into_iter().nth(1).expect("the counter vertex");
    assert_eq!(requirements[&counter]["parallelism"], serde_json::json!({"lowerBound": 1, "upperBound": 1}));

    // Refused with Flink's 400 and a reason naming what is wrong, the job untouched.
    let unknown = put_requirements(
        &cluster,
        &job,
        &serde_json::json!({"00000000000000000000000000000000": {"parallelism": {"lowerBound": 1, "upperBound": 2}}}),
    );
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(unknown.body.contains("no vertex 00000000000000000000000000000000"), "{}", unknown.body);
    let split = put_requirements(
        &cluster,
        &job,
        &serde_json::json!({&counter: {"parallelism": {"lowerBound": 1, "upperBound": 2}}}),
    );
    assert_eq!(split.status, 400, "{}", split.body);
    assert!(split.body.contains("FORWARD"), "{}", split.body);
    assert_eq!(parallelisms(&cluster, &job), [1, 1, 1, 1]);

    // Up, with the CLI.
    let (code, out, err) = cluster.cli("rescale", &[&job, "-p", "2"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Rescale completed: parallelism 2,2,2,2"), "{out}");
    eprintln!("{out}");
    assert_eq!(parallelisms(&cluster, &job), [2, 2, 2, 2]);
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));
    read_windows(&bootstrap, "output", Windows::at_least(6), Duration::from_secs(30))
        .expect("windows after scaling up");

    // Down, with Flink's REST call: answered at once, the change visible in /jobs/:jobid.
    let answer = put_requirements(&cluster, &job, &every_vertex_at(&cluster, &job, 1));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let down = eventually(Duration::from_secs(30), || {
        let history = cluster.get(&format!("/jobs/{job}/upgrades")).json();
        let newest = history["upgrades"].as_array()?.first()?.clone();
        (newest["status"]["id"] == "COMPLETED" && history["upgrades"].as_array()?.len() == 2).then_some(newest)
    })
    .expect("the rescale down never completed");
    assert_eq!(down["operation"]["mode"], "RESCALE", "{down}");
    assert_eq!(down["operation"]["result"], "REDEPLOYED", "{down}");
    assert_eq!(down["operation"]["parallelism"], serde_json::json!({"from": [2, 2, 2, 2], "to": [1, 1, 1, 1]}));
    assert_eq!(down["operation"]["component"]["name"], "click_event_count.wasm", "{down}");
    assert_eq!(parallelisms(&cluster, &job), [1, 1, 1, 1]);
    let requirements = cluster.get(&format!("/jobs/{job}/resource-requirements")).json();
    assert_eq!(requirements[&counter]["parallelism"], serde_json::json!({"lowerBound": 1, "upperBound": 1}));

    // Every window once, at 1000, counted across both rescales.
    read_windows(&bootstrap, "output", Windows::exactly(19), Duration::from_secs(120)).expect("exact output");
    assert_eq!(cluster.job_overview(&job)["state"], "RUNNING");
}

/// A TaskManager lost while a rescale runs (item 3 of the rescale issue): the job ends
/// consistent, at the old parallelism or the new one from a consistent snapshot, running again
/// once slots are back, and every window is in `output` once at 1000 (strict witness).
#[test]
fn a_taskmanager_lost_during_a_rescale_leaves_a_consistent_job_and_every_window_once() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut cluster = Cluster::start(2, 2);
    // 20 windows at 6000 events a second, a window a second; 19 can close.
    let _generator = cluster.generator(&bootstrap, 120_000, 6_000);
    let job = run_at_parallelism_1(&cluster, &bootstrap);
    read_windows(&bootstrap, "output", Windows::at_least(3), Duration::from_secs(30)).expect("the first windows");

    let answer = put_requirements(&cluster, &job, &every_vertex_at(&cluster, &job, 2));
    assert_eq!(answer.status, 200, "{}", answer.body);
    cluster.kill_taskmanager(0);
    let ended = eventually(Duration::from_secs(60), || {
        let history = cluster.get(&format!("/jobs/{job}/upgrades")).json();
        let newest = history["upgrades"].as_array()?.first()?.clone();
        (newest["status"]["id"] == "COMPLETED").then_some(newest)
    })
    .expect("the rescale never ended");
    // Slots back, whatever happened: the job runs again at one of the two parallelisms.
    cluster.add_taskmanager(2);
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(60));
    let p = parallelisms(&cluster, &job);
    assert!(p == [1, 1, 1, 1] || p == [2, 2, 2, 2], "{p:?} after {ended}");
    eprintln!("rescale with a TaskManager lost: {} -> parallelism {p:?}", ended["operation"]["result"]);

    read_windows(&bootstrap, "output", Windows::exactly(19), Duration::from_secs(120)).expect("exact output");
}
