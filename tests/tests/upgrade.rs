//! Hot-swap upgrades, as a user drives them: `weir upgrade` and the REST API against a cluster of
//! real processes, a real broker, and kafka-python as the witness of `output`. Every test checks
//! that every window is in `output` exactly once with count 1000, through the swap, the rollback
//! or the redeploy.

use std::collections::BTreeMap;
use std::time::Duration;

use weir_tests::*;

/// Copies a built guest component into the test's directory, under its own file name.
fn component(dir: &std::path::Path, name: &str) -> String {
    guest_component(dir, name, &format!("{name}.wasm"))
}

fn job_id(out: &str) -> String {
    out.trim().rsplit(' ').next().expect("a job id").to_string()
}

/// Runs version 1 of the job at parallelism `p` with checkpointing and `extra` arguments;
/// returns the job id.
fn run_v1(cluster: &Cluster, bootstrap: &str, p: &str, extra: &[&str]) -> String {
    let mut args = vec!["--checkpointing"];
    args.extend(extra);
    run_v1_with(cluster, bootstrap, p, &args)
}

/// Runs version 1 of the job with event time and `extra` arguments; returns the job id.
fn run_v1_with(cluster: &Cluster, bootstrap: &str, p: &str, extra: &[&str]) -> String {
    let v1 = component(cluster.dir.path(), "click_event_count");
    let mut args = vec!["-d", "-p", p, v1.as_str(), "--bootstrap.servers", bootstrap, "--event-time"];
    args.extend(extra);
    let (code, out, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{out}{err}");
    let job = job_id(&out);
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));
    job
}

/// A job metric's value.
fn job_metric(cluster: &Cluster, job: &str, id: &str) -> f64 {
    metric_value(&cluster.metrics(&format!("/jobs/{job}/metrics"), &[id]), id).unwrap_or(f64::NAN)
}

/// Per page, the versions of its windows in window order: the old code's results, then only the
/// new code's (a swap at a barrier never goes back and forth).
fn versions_by_page(results: &[WindowCount]) -> BTreeMap<String, Vec<Option<String>>> {
    let mut counts = results.to_vec();
    counts.sort_by_key(|c| (c.page.clone(), click_event::timestamp::parse(&c.window_start).unwrap_or(0)));
    let mut by_page: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    for c in counts {
        by_page.entry(c.page).or_default().push(c.version);
    }
    by_page
}

fn assert_switches_once(results: &[WindowCount], to: &str) {
    for (page, versions) in versions_by_page(results) {
        let first_new = versions.iter().position(|v| v.as_deref() == Some(to));
        let first_new = first_new.unwrap_or_else(|| panic!("{page} never got the new code's results: {versions:?}"));
        assert!(versions[..first_new].iter().all(Option::is_none), "{page}: {versions:?}");
        assert!(versions[first_new..].iter().all(|v| v.as_deref() == Some(to)), "{page}: {versions:?}");
    }
}

/// Polls an upgrade's status until it is COMPLETED.
fn await_upgrade(cluster: &Cluster, job: &str, request: &str) -> serde_json::Value {
    eventually(Duration::from_secs(30), || {
        let status = cluster.get(&format!("/jobs/{job}/upgrade/{request}")).json();
        (status["status"]["id"] == "COMPLETED").then_some(status)
    })
    .unwrap_or_else(|| panic!("the upgrade never completed:\n{}", cluster.jobmanager_log()))
}

fn post(cluster: &Cluster, path: &str, body: serde_json::Value) -> HttpAnswer {
    curl(&["-X", "POST", "-d", &body.to_string(), &cluster.url(path)])
}

/// Waits until `output` holds the first `windows` windows, checked strictly.
fn first_windows(bootstrap: &str, windows: i64) {
    read_windows(bootstrap, "output", Windows::at_least(windows), Duration::from_secs(30)).expect("the first windows");
}

/// Waits until a result tagged `version` is in `output`, every read of it checked strictly.
fn await_version(bootstrap: &str, version: &str) {
    let tagged = eventually(Duration::from_secs(30), || {
        let results =
            read_windows(bootstrap, "output", Windows::at_least(1), Duration::from_secs(10)).expect("exact output");
        results.iter().any(|c| c.version.as_deref() == Some(version)).then_some(())
    });
    assert!(tagged.is_some(), "version {version} never wrote");
}

/// Reads `output` once the job has closed `windows` windows, the last one open: each window
/// exactly once, every page at 1000, whichever version wrote it.
fn exact_output(bootstrap: &str, windows: i64) -> Vec<WindowCount> {
    read_windows(bootstrap, "output", Windows::exactly(windows), Duration::from_secs(90)).expect("exact output")
}

/// README "Hot-swap upgrade": version 1 -> 1.1 is SWAPPED in place, no restart, state kept, every
/// window once at 1000, untagged then "1.1" per page.
#[test]
fn v1_to_v1_1_swaps_in_place_with_state_kept_and_every_window_exactly_once() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    // 20 windows at 6000 events a second, a window a second; 19 can close.
    let _generator = cluster.generator(&bootstrap, 120_000, 6_000);
    let job = run_v1(&cluster, &bootstrap, "2", &[]);
    first_windows(&bootstrap, 2);
    let before = cluster.vertices(&job);

    let v1_1 = component(cluster.dir.path(), "click_event_count_v1_1");
    let (code, out, err) = cluster.cli("upgrade", &[&job, &v1_1]);
    assert_eq!(code, Some(0), "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "one line as it starts, one as it ends: {out}");
    assert_eq!(lines[0], format!("Upgrading job \"{job}\" to {v1_1}."));
    assert!(lines[1].starts_with("Upgrade completed: SWAPPED at checkpoint "), "{out}");
    assert!(lines[1].contains("click-event-counter"), "{out}");

    // The same job, its tasks never restarted, the operators on the new component.
    assert_eq!(cluster.vertices(&job), before);
    assert_eq!(cluster.job_overview(&job)["state"], "RUNNING");
    assert_eq!(job_metric(&cluster, &job, "numRestarts"), 0.0);
    assert_eq!(job_metric(&cluster, &job, "numUpgrades"), 1.0);
    assert!(job_metric(&cluster, &job, "lastUpgradeDurationMs") >= 0.0);
    let details = cluster.get(&format!("/jobs/{job}")).json();
    let counter = details["vertices"].as_array().unwrap().iter().find(|v| v["name"] == "ClickEvent Counter").cloned();
    let counter = counter.expect("the counter vertex");
    assert_eq!(counter["component"]["name"], "click_event_count_v1_1.wasm", "{counter}");
    let history = cluster.get(&format!("/jobs/{job}/upgrades")).json();
    let last = &history["upgrades"][0];
    assert_eq!(last["status"]["id"], "COMPLETED", "{history}");
    assert_eq!(last["operation"]["result"], "SWAPPED", "{history}");
    assert_eq!(last["operation"]["mode"], "IN_PLACE", "{history}");
    assert!(last["operation"]["checkpoint-id"].as_u64().is_some(), "{history}");

    let results = exact_output(&bootstrap, 19);
    assert_switches_once(&results, "1.1");
}

/// README "Hot-swap upgrade", rollback: a faulty version is ROLLED_BACK by itself over REST, and
/// `output` holds the old code's results, each window once.
#[test]
fn a_faulty_upgrade_rolls_back_to_the_old_code_and_loses_nothing() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    let _generator = cluster.generator(&bootstrap, 90_000, 6_000);
    let job = run_v1(&cluster, &bootstrap, "2", &[]);
    first_windows(&bootstrap, 1);

    // Over REST: upload, then upgrade in Flink's asynchronous-operation style.
    let jar = cluster.upload(std::path::Path::new(&component(cluster.dir.path(), "click_event_count_faulty")));
    let answer = post(&cluster, &format!("/jobs/{job}/upgrade"), serde_json::json!({ "jarId": jar }));
    assert_eq!(answer.status, 202, "{}", answer.body);
    let request = answer.json()["request-id"].as_str().expect("request-id").to_string();
    let status = await_upgrade(&cluster, &job, &request);
    assert_eq!(status["operation"]["result"], "ROLLED_BACK", "{status}");
    let cause = status["operation"]["failure-cause"]["stack-trace"].as_str().unwrap_or_default();
    assert!(cause.contains("fails on its first call"), "{status}");

    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));
    assert_eq!(job_metric(&cluster, &job, "numUpgradeRollbacks"), 1.0);
    assert_eq!(job_metric(&cluster, &job, "numUpgrades"), 0.0);
    let details = cluster.get(&format!("/jobs/{job}")).json();
    for v in details["vertices"].as_array().unwrap() {
        assert_ne!(v["component"]["name"], "click_event_count_faulty.wasm", "{v}");
    }
    // 15 windows; 14 can close, all from the old code, each once.
    let results = exact_output(&bootstrap, 14);
    assert!(results.iter().all(|c| c.version.is_none()), "{results:?}");
}

/// README "Hot-swap upgrade": `--operators backpressure` with new arguments swaps that operator
/// alone; the counter's windows, counted partly before, close at 1000.
#[test]
fn the_backpressure_operator_alone_is_swapped_and_the_counters_state_stays() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    // 5 windows at 3000 events a second; 4 can close.
    let _generator = cluster.generator(&bootstrap, 30_000, 3_000);
    let slow = ["--backpressure", "--backpressure.schedule", "always"];
    let job = run_v1(&cluster, &bootstrap, "1", &slow);
    // Backpressured: 100 ms a record, so no window can close yet.
    let backpressured = eventually(Duration::from_secs(20), || {
        let source = cluster.vertices(&job)[0].0.clone();
        let answer = cluster.get(&format!("/jobs/{job}/vertices/{source}/backpressure")).json();
        (answer["backpressure-level"] == "high").then_some(())
    });
    assert!(backpressured.is_some(), "the job was never backpressured");

    let v1 = component(cluster.dir.path(), "click_event_count");
    let args = [
        "--operators",
        "backpressure",
        &job,
        &v1,
        "--bootstrap.servers",
        &bootstrap,
        "--checkpointing",
        "--event-time",
        "--backpressure",
        "--backpressure.schedule",
        "always",
        "--backpressure.sleep-ms",
        "0",
    ];
    let (code, out, err) = cluster.cli("upgrade", &args);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Upgrade completed: SWAPPED") && out.contains("(operators: backpressure)"), "{out}");
    let history = cluster.get(&format!("/jobs/{job}/upgrades")).json();
    assert_eq!(history["upgrades"][0]["operation"]["operators"], serde_json::json!(["backpressure"]), "{history}");

    // The backpressure ends, and the counter's windows, counted partly before the swap, close
    // at exactly 1000.
    exact_output(&bootstrap, 4);
    assert_eq!(job_metric(&cluster, &job, "numRestarts"), 0.0);
}

/// README "Hot-swap upgrade": a dry run changes nothing; version 2 (an operator added) is
/// REDEPLOYED under the same job id, every window once, untagged then "v2" per page.
#[test]
fn v1_to_v2_redeploys_the_new_graph_under_the_same_job_id() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    let _generator = cluster.generator(&bootstrap, 90_000, 6_000);
    let job = run_v1(&cluster, &bootstrap, "1", &[]);
    first_windows(&bootstrap, 1);

    let v2 = component(cluster.dir.path(), "click_event_count_v2");
    // A dry run says what would change, and changes nothing.
    let (code, out, err) = cluster.cli("upgrade", &["--dry-run", &job, &v2]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("redeploying") && out.contains("operators added: click-event-filter"), "{out}");
    assert!(cluster.get(&format!("/jobs/{job}/upgrades")).json()["upgrades"].as_array().unwrap().is_empty());

    let (code, out, err) = cluster.cli("upgrade", &[&job, &v2]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Upgrade completed: REDEPLOYED"), "{out}");
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));
    let names: Vec<String> = cluster.vertices(&job).into_iter().map(|(_, n)| n).collect();
    assert!(names.iter().any(|n| n == "ClickEvent Filter"), "{names:?}");

    let results = exact_output(&bootstrap, 14);
    assert_switches_once(&results, "v2");
}

/// README "Hot-swap upgrade", refused: bad requests get 4xx (409 when not running) and the job
/// runs on untouched.
#[test]
fn refused_upgrades_leave_the_job_untouched() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    let job = run_v1(&cluster, &bootstrap, "1", &["--backpressure"]);
    let v1 = component(cluster.dir.path(), "click_event_count");
    let jar = cluster.upload(std::path::Path::new(&v1));
    let upgrade = |body: serde_json::Value| post(&cluster, &format!("/jobs/{job}/upgrade"), body);

    let cases = [
        (serde_json::json!({"jarId": "nope.wasm"}), 400, "does not exist"),
        (serde_json::json!({}), 400, "jarId"),
        (serde_json::json!({"jarId": jar, "programArgs": "--no-such-option"}), 400, "cannot be planned"),
        (serde_json::json!({"jarId": jar}), 400, "Nothing to upgrade"),
        (serde_json::json!({"jarId": jar, "operators": ["nope"]}), 400, "has no operator 'nope'"),
        // Without --backpressure the Backpressure operator, and its keyed state, would go.
        (
            serde_json::json!({"jarId": jar, "programArgsList": ["--bootstrap.servers", bootstrap, "--checkpointing", "--event-time"]}),
            400,
            "Cannot map checkpoint/savepoint state for operator backpressure",
        ),
    ];
    for (body, status, says) in cases {
        let answer = upgrade(body.clone());
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert!(answer.body.contains(says), "{body}: {}", answer.body);
    }
    let answer = post(&cluster, "/jobs/00000000000000000000000000000000/upgrade", serde_json::json!({"jarId": jar}));
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert!(cluster.get(&format!("/jobs/{job}/upgrades")).json()["upgrades"].as_array().unwrap().is_empty());
    assert_eq!(job_metric(&cluster, &job, "numRestarts"), 0.0);
    assert_eq!(cluster.job_overview(&job)["tasks"]["running"], cluster.job_overview(&job)["tasks"]["total"]);

    // A job that is not running.
    let (code, _, err) = cluster.cli("cancel", &[&job]);
    assert_eq!(code, Some(0), "{err}");
    cluster.wait_for_state(&job, "CANCELED", Duration::from_secs(20));
    let answer = upgrade(serde_json::json!({"jarId": jar, "programArgs": "--event-time"}));
    assert_eq!(answer.status, 409, "{}", answer.body);
    let (code, out, err) = cluster.cli("upgrade", &[&job, &v1]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("Could not upgrade job") && err.contains("CANCELED"), "{err}");
}

/// README "Hot-swap upgrade": the JobManager records which component each operator runs, so a
/// restart after an upgrade resumes the new code; every window once at 1000.
#[test]
fn a_jobmanager_restart_after_an_upgrade_resumes_the_new_code() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut cluster = Cluster::start(1, 2);
    let _generator = cluster.generator(&bootstrap, 120_000, 6_000);
    let job = run_v1(&cluster, &bootstrap, "1", &[]);
    first_windows(&bootstrap, 1);
    let v1_1 = component(cluster.dir.path(), "click_event_count_v1_1");
    let (code, out, err) = cluster.cli("upgrade", &[&job, &v1_1]);
    assert_eq!(code, Some(0), "{out}{err}");
    await_version(&bootstrap, "1.1");

    cluster.kill_jobmanager();
    cluster.start_jobmanager();
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));
    let history = cluster.get(&format!("/jobs/{job}/upgrades")).json();
    assert_eq!(history["upgrades"][0]["operation"]["result"], "SWAPPED", "{history}");

    let results = exact_output(&bootstrap, 19);
    assert_switches_once(&results, "1.1");
}

/// README "Hot-swap upgrade", rollback: without periodic checkpoints the upgrade barrier's
/// snapshot is what a rollback restores; nothing lost or repeated.
#[test]
fn without_checkpointing_the_upgrade_barrier_still_snapshots_for_the_rollback() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    let _generator = cluster.generator(&bootstrap, 90_000, 6_000);
    let job = run_v1_with(&cluster, &bootstrap, "2", &[]);
    first_windows(&bootstrap, 1);
    assert_eq!(cluster.checkpoints_completed(&job), 0, "no periodic checkpoints");

    let faulty = component(cluster.dir.path(), "click_event_count_faulty");
    let (code, out, err) = cluster.cli("upgrade", &[&job, &faulty]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("Upgrade completed: ROLLED_BACK"), "{out}");
    assert!(err.contains("fails on its first call"), "{err}");
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));

    let v1_1 = component(cluster.dir.path(), "click_event_count_v1_1");
    let (code, out, err) = cluster.cli("upgrade", &[&job, &v1_1]);
    assert_eq!(code, Some(0), "{out}{err}");
    // The job works off the backlog the rollback rewound to: on a loaded machine the barrier
    // may be held up long enough for the tasks to swap at once instead.
    assert!(out.contains("Upgrade completed: SWAPPED "), "{out}");

    let results = exact_output(&bootstrap, 14);
    assert_switches_once(&results, "1.1");
}

/// README "Hot-swap upgrade": during probation a second upgrade is refused (409) and a lost
/// TaskManager rolls back; every window once at 1000.
#[test]
fn during_probation_a_second_upgrade_is_refused_and_a_lost_taskmanager_rolls_back() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut cluster = Cluster::start_with(1, 2, &["-Dweir.upgrade.probation=60 s"]);
    let _generator = cluster.generator(&bootstrap, 120_000, 6_000);
    let job = run_v1(&cluster, &bootstrap, "2", &[]);
    first_windows(&bootstrap, 1);

    let jar = cluster.upload(std::path::Path::new(&component(cluster.dir.path(), "click_event_count_v1_1")));
    let answer = post(&cluster, &format!("/jobs/{job}/upgrade"), serde_json::json!({ "jarId": jar }));
    assert_eq!(answer.status, 202, "{}", answer.body);
    let request = answer.json()["request-id"].as_str().expect("request-id").to_string();
    // The new code runs; probation lasts a minute. What it writes meanwhile the exactly-once
    // sink holds: the first checkpoint after the swap, which ends probation, would publish it.
    let swapped = eventually(Duration::from_secs(30), || {
        let status = cluster.get(&format!("/jobs/{job}/upgrade/{request}")).json();
        (status["operation"]["swap-duration"].as_i64()? >= 0).then_some(())
    });
    assert!(
        swapped.is_some(),
        "the tasks never swapped to version 1.1: {}\n{}",
        cluster.get(&format!("/jobs/{job}/upgrade/{request}")).body,
        cluster.jobmanager_log()
    );
    let held = eventually(Duration::from_secs(30), || {
        let held = cluster.vertex_metric_sum(&job, "ClickEventStatistics Sink: Writer", "numRecordsOutHeld")?;
        (held > 0.0).then_some(())
    });
    assert!(held.is_some(), "the writers hold nothing of version 1.1");
    let status = cluster.get(&format!("/jobs/{job}/upgrade/{request}")).json();
    assert_eq!(status["status"]["id"], "IN_PROGRESS", "{status}");
    let again = post(&cluster, &format!("/jobs/{job}/upgrade"), serde_json::json!({ "jarId": jar, "dryRun": true }));
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("already in progress"), "{}", again.body);
    // A rescale shares the upgrade's barrier and probation: refused too, the job untouched.
    let vertices: serde_json::Map<String, serde_json::Value> = cluster
        .vertices(&job)
        .into_iter()
        .map(|(id, _)| (id, serde_json::json!({"parallelism": {"lowerBound": 1, "upperBound": 1}})))
        .collect();
    let url = cluster.url(&format!("/jobs/{job}/resource-requirements"));
    let rescale = curl(&["-X", "PUT", "-d", &serde_json::Value::Object(vertices).to_string(), &url]);
    assert_eq!(rescale.status, 409, "{}", rescale.body);
    assert!(rescale.body.contains("already in progress"), "{}", rescale.body);

    // A TaskManager lost in probation: the job goes back to version 1 and recovers as usual.
    cluster.kill_taskmanager(0);
    let status = await_upgrade(&cluster, &job, &request);
    assert_eq!(status["operation"]["result"], "ROLLED_BACK", "{status}");
    let cause = status["operation"]["failure-cause"]["stack-trace"].as_str().unwrap_or_default();
    assert!(cause.contains("was lost"), "{status}");
    cluster.add_taskmanager(2);
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));
    let details = cluster.get(&format!("/jobs/{job}")).json();
    let counter = details["vertices"].as_array().unwrap().iter().find(|v| v["name"] == "ClickEvent Counter").cloned();
    assert_eq!(counter.expect("the counter")["component"]["name"], "click_event_count.wasm");

    // 20 windows; 19 can close, each once at 1000 — all from version 1: what version 1.1
    // wrote in probation was never published, and the rolled-back job wrote it again.
    let results = exact_output(&bootstrap, 19);
    assert!(results.iter().all(|c| c.version.is_none()), "version 1.1 results were published: {results:?}");
}

/// The Click Event Count component as built against WIT `weir:job@0.1.0`, committed and never
/// rebuilt (tests/fixtures/weir-job-0.1.0/README.md): components users built then must keep
/// running, restoring and upgrading on every later host.
fn contract_0_1_0_component(dir: &std::path::Path) -> String {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/weir-job-0.1.0/click_event_count.wasm");
    let bytes = std::fs::read(&fixture).expect("the committed weir:job@0.1.0 component");
    // The bytes committed, not a rebuild: a rebuild would test today's contract, not 0.1.0's.
    assert_eq!(
        weir_wasm::cache::content_hash(&bytes),
        "3d990170cbf0203bcfd3ed8128ecc555af68d436a6f90a0b4a3d1eed029931f1",
        "{} was changed: it must stay the component built against weir:job@0.1.0",
        fixture.display()
    );
    let path = dir.join("click_event_count_0_1_0.wasm");
    std::fs::write(&path, bytes).expect("copy the component");
    path.display().to_string()
}

/// The savepoint path `weir stop` printed.
fn savepoint_path(out: &str) -> String {
    out.lines().find_map(|l| l.strip_prefix("Savepoint completed. Path: ")).expect(out).trim().to_string()
}

/// Contract compatibility (README "Hot-swap upgrade", docs/TESTING.md): the component committed
/// as built against `weir:job@0.1.0` runs on today's host with a real broker, is stopped with a
/// savepoint, restored from it into a new job, and hot-swapped to today's build of the same job,
/// then of version 1.1; the windows open across the savepoint and across each swap close at
/// 1000, every window once.
#[test]
fn a_component_built_against_weir_job_0_1_0_runs_restores_and_upgrades_on_this_host() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    let old = contract_0_1_0_component(cluster.dir.path());
    let args = ["--bootstrap.servers", bootstrap.as_str(), "--checkpointing", "--event-time"];
    let run = |extra: &[&str]| {
        let (code, out, err) = cluster.cli("run", &[&["-d", "-p", "2"], extra, &[old.as_str()], &args[..]].concat());
        assert_eq!(code, Some(0), "{out}{err}");
        let job = job_id(&out);
        cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));
        job
    };

    // Windows 0-4 close; window 5 is half read when the job stops with a savepoint (6000
    // clicks a window).
    generate_from(&cluster.dir.path().join("cache"), &bootstrap, "input", 0, 33_000);
    let first = run(&[]);
    first_windows(&bootstrap, 5);
    let (code, out, err) = cluster.cli("stop", &[&first]);
    assert_eq!(code, Some(0), "{out}{err}");
    let savepoint = savepoint_path(&out);
    assert_eq!(cluster.get(&format!("/jobs/{first}/status")).json()["status"], "FINISHED");

    // The rest of the clicks at 6000 a second, a window a second, so that input never pauses
    // long enough for the sources to go idle (5 s): windows up to 29 can close.
    let _generator = WeirProcess::spawn_command(
        cluster.weir(),
        &[
            "generator",
            "--bootstrap.servers",
            &bootstrap,
            "--topic",
            "input",
            "--start",
            "33000",
            "--count",
            "153000",
            "--rate",
            "6000",
        ],
        cluster.dir.path().join("generator.log"),
    );
    // A new job of the same component from the savepoint: window 5 closes at 1000 with the
    // clicks counted before the savepoint.
    let second = run(&["-s", &savepoint]);
    first_windows(&bootstrap, 7);

    // Hot swap to today's build of the same job while the clicks come: the 0.1.0 code's keyed
    // state (the open windows) is the new code's.
    let today = component(cluster.dir.path(), "click_event_count");
    let (code, out, err) = cluster.cli("upgrade", &[&second, &today]);
    assert_eq!(code, Some(0), "today's build must differ from the 0.1.0 one to be swapped in: {out}{err}");
    assert!(out.contains("Upgrade completed: SWAPPED") && out.contains("click-event-counter"), "{out}");
    let details = cluster.get(&format!("/jobs/{second}")).json();
    let counter = details["vertices"].as_array().unwrap().iter().find(|v| v["name"] == "ClickEvent Counter").cloned();
    assert_eq!(counter.expect("the counter vertex")["component"]["name"], "click_event_count.wasm");
    first_windows(&bootstrap, 10);

    // And on to today's build of version 1.1, whose results say which code closed each window.
    let v1_1 = component(cluster.dir.path(), "click_event_count_v1_1");
    let (code, out, err) = cluster.cli("upgrade", &[&second, &v1_1]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Upgrade completed: SWAPPED"), "{out}");
    assert_eq!(job_metric(&cluster, &second, "numRestarts"), 0.0);

    // Windows 0-29, each once at 1000 across both swaps: untagged from the 0.1.0 component and
    // today's version 1, then, per page, from the window open at the second swap on, tagged
    // "1.1".
    let results =
        read_windows(&bootstrap, "output", Windows::exactly(30), Duration::from_secs(120)).expect("exact output");
    assert_switches_once(&results, "1.1");
}
