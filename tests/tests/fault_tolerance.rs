//! Fault tolerance as the playground's second half shows it: a TaskManager killed and the job
//! recovering from its checkpoint with every count exactly 1000 and every result written once;
//! stop with a savepoint, restore, upgrade to version 2 of the job, rescale; and clear errors
//! for savepoints that cannot be used. Real processes, killed with SIGKILL.

use std::time::Duration;

use weir_tests::*;

use weir_tests::guest_component as component;

fn job_id(out: &str) -> String {
    out.trim().rsplit(' ').next().expect("a job id").to_string()
}

/// The path `weir stop`/`weir savepoint` printed.
fn savepoint_path(out: &str) -> String {
    out.lines().find_map(|l| l.strip_prefix("Savepoint completed. Path: ")).expect(out).trim().to_string()
}

#[test]
fn a_killed_taskmanager_recovers_with_every_count_exact_and_written_once() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut cluster = Cluster::start(1, 2);
    // 20 windows at 6000 events a second: a window a second; the last cannot close.
    let _generator = cluster.generator(&bootstrap, 120_000, 6_000);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let (code, out, err) = cluster
        .cli("run", &["-d", "-p", "2", &jar, "--bootstrap.servers", &bootstrap, "--checkpointing", "--event-time"]);
    assert_eq!(code, Some(0), "{err}");
    let job = job_id(&out);
    let checkpointed = eventually(Duration::from_secs(30), || (cluster.checkpoints_completed(&job) >= 2).then_some(()));
    assert!(checkpointed.is_some(), "no checkpoints: {}", cluster.get(&format!("/jobs/{job}/checkpoints")).body);
    witness(&bootstrap, "output", 12, Duration::from_secs(30)).expect("the first windows");

    cluster.kill_taskmanager(0);
    // Noticed (connection lost, or heartbeat timeout), restarted, waiting for slots.
    let waiting = eventually(Duration::from_secs(20), || {
        let o = cluster.job_overview(&job);
        (o["state"] == "RUNNING" && o["tasks"]["scheduled"] == 8).then_some(o)
    });
    assert!(waiting.is_some(), "{}", cluster.job_overview(&job));
    let exceptions = cluster.get(&format!("/jobs/{job}/exceptions")).json();
    let root = exceptions["root-exception"].as_str().unwrap_or_default().to_string();
    assert!(
        root.contains("TaskManager with id") && (root.contains("no longer reachable") || root.contains("timed out")),
        "{exceptions}"
    );

    cluster.add_taskmanager(2);
    cluster.wait_for_state(&job, "RUNNING", Duration::from_secs(10));
    let lines = witness(&bootstrap, "output", 19 * 6, Duration::from_secs(90)).expect("the witness reads output");
    assert_exactly_once(&lines, 19);
    let stats = cluster.get(&format!("/jobs/{job}/checkpoints")).json();
    assert!(stats["counts"]["restored"].as_u64().unwrap_or(0) >= 1, "{stats}");
    assert!(stats["latest"]["completed"]["external_path"].as_str().unwrap_or_default().starts_with("file:"), "{stats}");
}

#[test]
fn without_checkpointing_a_lost_taskmanager_fails_the_job() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut cluster = Cluster::start(1, 2);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let (code, out, err) = cluster.cli("run", &["-d", &jar, "--bootstrap.servers", &bootstrap, "--event-time"]);
    assert_eq!(code, Some(0), "{err}");
    let job = job_id(&out);
    let running =
        eventually(Duration::from_secs(20), || (cluster.job_overview(&job)["tasks"]["running"] == 4).then_some(()));
    assert!(running.is_some());
    cluster.kill_taskmanager(0);
    let failed = cluster.wait_for_state(&job, "FAILED", Duration::from_secs(20));
    assert_eq!(failed["tasks"]["failed"], 4, "{failed}");
}

#[test]
fn stop_restore_upgrade_and_rescale_keep_every_window_exact() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut cluster = Cluster::start(1, 2);
    let v1 = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let v2 = component(cluster.dir.path(), "click_event_count_v2", "ClickCountJobV2.wasm");
    // 16 windows; 15 can close.
    let _generator = cluster.generator(&bootstrap, 96_000, 6_000);
    let common = ["--bootstrap.servers", bootstrap.as_str(), "--checkpointing", "--event-time"];

    // Version 1 at parallelism 2.
    let mut args = vec!["-d", "-p", "2", v1.as_str()];
    args.extend(common);
    let (_, out, err) = cluster.cli("run", &args);
    let first = job_id(&out);
    assert!(first.len() == 32, "{out}{err}");
    witness(&bootstrap, "output", 12, Duration::from_secs(30)).expect("the first windows");

    // Stop it with a savepoint: Flink's lines, FINISHED, open windows kept.
    let savepoints = cluster.dir.path().join("my-savepoints");
    let (code, out, err) = cluster.cli("stop", &["-p", savepoints.to_str().unwrap(), &first]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with(&format!("Suspending job \"{first}\" with a CANONICAL savepoint.\n")), "{out}");
    let savepoint = savepoint_path(&out);
    assert!(savepoint.starts_with(&format!("file:{}/savepoint-{}-", savepoints.display(), &first[..6])), "{savepoint}");
    cluster.wait_for_state(&first, "FINISHED", Duration::from_secs(20));

    // Version 2 from it at parallelism 3: 2 slots available, 3 needed, until a TaskManager joins.
    let mut args = vec!["-d", "-p", "3", "-s", savepoint.as_str(), v2.as_str()];
    args.extend(common);
    let (code, out, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{err}");
    let second = job_id(&out);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(cluster.job_overview(&second)["tasks"]["scheduled"], 15, "{}", cluster.job_overview(&second));
    cluster.add_taskmanager(2);
    let running =
        eventually(Duration::from_secs(30), || (cluster.job_overview(&second)["tasks"]["running"] == 15).then_some(()));
    assert!(running.is_some(), "{}", cluster.job_overview(&second));
    let v2_seen = eventually(Duration::from_secs(30), || {
        let lines = witness(&bootstrap, "output", 1, Duration::from_secs(10)).ok()?;
        lines.iter().any(|l| l.contains("\"version\":\"v2\"")).then_some(())
    });
    assert!(v2_seen.is_some(), "version 2 never wrote");

    // And back to version 1 at parallelism 1 through another savepoint.
    let (code, out, err) = cluster.cli("stop", &[&second]);
    assert_eq!(code, Some(0), "{err}");
    let savepoint = savepoint_path(&out);
    cluster.wait_for_state(&second, "FINISHED", Duration::from_secs(20));
    let mut args = vec!["-d", "-p", "1", "-s", savepoint.as_str(), v1.as_str()];
    args.extend(common);
    let (code, _, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{err}");

    let lines = witness(&bootstrap, "output", 15 * 6, Duration::from_secs(90)).expect("the witness reads output");
    assert_exactly_once(&lines, 15);
    let versions: std::collections::BTreeSet<Option<String>> =
        lines.iter().map(|l| parse_statistics(l).unwrap().version).collect();
    assert!(versions.contains(&None) && versions.contains(&Some("v2".into())), "{versions:?}");
}

#[test]
fn savepoints_that_cannot_be_used_give_clear_errors() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let test_job = component(cluster.dir.path(), "test_job", "test-job.wasm");

    // A savepoint of another job, whose keyed operator "keyed" this job does not have.
    let (_, out, err) = cluster.cli("run", &["-d", &test_job, "--count", "1000000000"]);
    let other = job_id(&out);
    assert_eq!(other.len(), 32, "{out}{err}");
    let running =
        eventually(Duration::from_secs(20), || (cluster.job_overview(&other)["tasks"]["running"] == 5).then_some(()));
    assert!(running.is_some(), "{}", cluster.job_overview(&other));
    std::thread::sleep(Duration::from_secs(1));
    let (code, out, err) = cluster.cli("savepoint", &[&other]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with(&format!(
            "Triggering savepoint for job {other}.\nWaiting for response...\nSavepoint completed. Path: "
        )),
        "{out}"
    );
    assert!(out.contains("You can resume your program from this savepoint with the run command."));
    let savepoint = savepoint_path(&out);
    cluster.cli("cancel", &[&other]);

    let run = |extra: &[&str]| {
        let mut args = vec!["-d"];
        args.extend_from_slice(extra);
        args.extend([jar.as_str(), "--bootstrap.servers", bootstrap.as_str(), "--event-time"]);
        cluster.cli("run", &args)
    };
    let (code, _, err) = run(&["-s", &savepoint]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("Cannot map checkpoint/savepoint state for operator keyed to the new program")
            && err.contains("--allowNonRestoredState"),
        "{err}"
    );
    let (code, out, err) = run(&["-s", &savepoint, "-n"]);
    assert_eq!(code, Some(0), "{err}");
    cluster.cli("cancel", &[&job_id(&out)]);

    let (code, _, err) = run(&["-s", "/no/such/savepoint"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("/no/such/savepoint does not exist"), "{err}");
    let corrupt = cluster.dir.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join("_metadata"), "{ this is not a savepoint").unwrap();
    let (code, _, err) = run(&["-s", corrupt.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("is corrupt"), "{err}");
    assert!(cluster.get("/jobs/overview").json()["jobs"].as_array().unwrap().iter().all(|j| j["state"] != "RUNNING"));

    // Disposal removes the savepoint, with Flink's lines.
    let (code, out, err) = cluster.cli("savepoint", &["-d", &savepoint]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&format!("Savepoint '{savepoint}' disposed.")), "{out}");
    assert!(!std::path::Path::new(&savepoint.replace("file:", "")).exists());
}

#[test]
fn a_restarted_jobmanager_resumes_running_jobs_from_their_checkpoint() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut cluster = Cluster::start(1, 2);
    let _generator = cluster.generator(&bootstrap, 60_000, 6_000);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let (code, out, err) =
        cluster.cli("run", &["-d", &jar, "--bootstrap.servers", &bootstrap, "--checkpointing", "--event-time"]);
    assert_eq!(code, Some(0), "{err}");
    let job = job_id(&out);
    let checkpointed = eventually(Duration::from_secs(30), || (cluster.checkpoints_completed(&job) >= 2).then_some(()));
    assert!(checkpointed.is_some());
    cluster.kill_jobmanager();
    cluster.start_jobmanager();
    // The TaskManager registers again; the job runs on from its checkpoint.
    let resumed =
        eventually(Duration::from_secs(40), || (cluster.job_overview(&job)["tasks"]["running"] == 4).then_some(()));
    assert!(resumed.is_some(), "{}\n{}", cluster.job_overview(&job), cluster.jobmanager_log());
    let lines = witness(&bootstrap, "output", 9 * 6, Duration::from_secs(90)).expect("the witness reads output");
    assert_exactly_once(&lines, 9);
}

#[test]
fn checkpoint_metrics_match_the_checkpoint_statistics() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    let _generator = cluster.generator(&bootstrap, 1_000_000, 3_000);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let (code, out, err) =
        cluster.cli("run", &["-d", &jar, "--bootstrap.servers", &bootstrap, "--checkpointing", "--event-time"]);
    assert_eq!(code, Some(0), "{err}");
    let job = job_id(&out);
    // Read the statistics, the metrics, and the statistics again: compare when no checkpoint
    // completed in between.
    let matched = eventually(Duration::from_secs(30), || {
        let before = cluster.get(&format!("/jobs/{job}/checkpoints")).json();
        let metrics = cluster
            .get(&format!(
                "/jobs/{job}/metrics?get=lastCheckpointSize,numberOfCompletedCheckpoints,lastCheckpointExternalPath"
            ))
            .json();
        let after = cluster.get(&format!("/jobs/{job}/checkpoints")).json();
        let latest = &before["latest"]["completed"];
        if latest.is_null() || latest["id"] != after["latest"]["completed"]["id"] {
            return None;
        }
        Some((latest.clone(), before["counts"]["completed"].clone(), metrics))
    });
    let (latest, completed, metrics) = matched.expect("a completed checkpoint");
    let value = |id: &str| {
        metrics.as_array().unwrap().iter().find(|m| m["id"] == id).map(|m| m["value"].as_str().unwrap().to_string())
    };
    let size = latest["checkpointed_size"].as_u64().unwrap();
    assert!(size > 0, "{latest}");
    assert_eq!(value("lastCheckpointSize"), Some(size.to_string()), "{metrics}");
    assert_eq!(value("numberOfCompletedCheckpoints"), Some(completed.as_u64().unwrap().to_string()), "{metrics}");
    assert_eq!(value("lastCheckpointExternalPath").as_deref(), latest["external_path"].as_str(), "{metrics}");
    cluster.cli("cancel", &[&job]);
}
