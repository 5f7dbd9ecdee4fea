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

/// The vertex that writes `output`.
const WRITER: &str = "ClickEventStatistics Sink: Writer";

/// Waits until the scheduler has found too few slots for `job` and said it waits (it tries
/// again only when slots change), then checks that its `tasks` subtasks are all SCHEDULED.
fn await_waiting_for_slots(cluster: &Cluster, job: &str, tasks: u64) {
    let said = eventually(Duration::from_secs(20), || {
        let log = cluster.jobmanager_log();
        log.lines()
            .any(|l| l.contains("waiting for task slots: 2 available, 3 needed") && l.contains(job))
            .then_some(())
    });
    assert!(said.is_some(), "the scheduler never said it waits for slots:\n{}", cluster.jobmanager_log());
    let overview = cluster.job_overview(job);
    assert_eq!(
        (overview["state"].as_str(), overview["tasks"]["scheduled"].as_u64()),
        (Some("RUNNING"), Some(tasks)),
        "{overview}"
    );
    assert_eq!(overview["tasks"]["total"].as_u64(), Some(tasks), "{overview}");
}

/// The click-count job at p=2 (8 tasks) after its only TaskManager was killed: noticed
/// (connection lost, or heartbeat timeout), restarted, and waiting for slots, with the lost
/// TaskManager as the root exception.
fn await_restart_after_the_kill(cluster: &Cluster, job: &str) {
    let waiting = eventually(Duration::from_secs(20), || {
        let o = cluster.job_overview(job);
        (o["state"] == "RUNNING" && o["tasks"]["scheduled"] == 8).then_some(o)
    });
    assert!(waiting.is_some(), "{}", cluster.job_overview(job));
    let exceptions = cluster.get(&format!("/jobs/{job}/exceptions")).json();
    let root = exceptions["root-exception"].as_str().unwrap_or_default().to_string();
    assert!(
        root.contains("TaskManager with id") && (root.contains("no longer reachable") || root.contains("timed out")),
        "{exceptions}"
    );
}

/// A job killed with results in `output` that its checkpoint does not cover, and recovered.
struct Recovered {
    _broker: Broker,
    _generator: WeirProcess,
    bootstrap: String,
    cluster: Cluster,
    job: String,
    /// Results in `output` when the checkpoint had completed: at least what it covers.
    covered: usize,
    /// Results in `output` just before the kill.
    seen_at_kill: usize,
}

/// Runs Click Event Count at parallelism 2 (with `extra` arguments) on 20 windows of input, a
/// window a second (the last cannot close), checkpointing once an hour: its first checkpoint,
/// taken as it starts, is the only one. Once a whole window's results written after that
/// checkpoint are in `output`, kills the TaskManager at once, so the restored job produces
/// them again; checks the job noticed and waits for slots, and gives it a new TaskManager.
fn kill_after_results_past_the_checkpoint(extra: &[&str]) -> Recovered {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut cluster = Cluster::start(1, 2);
    let generator = cluster.generator(&bootstrap, 120_000, 6_000);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let mut args = vec!["-d", "-p", "2", jar.as_str(), "--bootstrap.servers", bootstrap.as_str(), "--event-time"];
    args.extend(["--checkpointing", "--checkpointing.interval-ms", "3600000"]);
    args.extend(extra);
    let (code, out, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{err}");
    let job = job_id(&out);
    let checkpointed = eventually(Duration::from_secs(30), || (cluster.checkpoints_completed(&job) >= 1).then_some(()));
    assert!(checkpointed.is_some(), "no checkpoint: {}", cluster.get(&format!("/jobs/{job}/checkpoints")).body);
    // The writers flush before they acknowledge: what the checkpoint covers is in `output`.
    let covered = witness(&bootstrap, "output", 0, Duration::from_secs(30)).expect("output so far").len();
    let seen_at_kill = witness(&bootstrap, "output", covered + 6, Duration::from_secs(60))
        .expect("a window's results written after the checkpoint")
        .len();
    cluster.kill_taskmanager(0);
    assert_eq!(cluster.checkpoints_completed(&job), 1, "the kill came before the next checkpoint");

    await_restart_after_the_kill(&cluster, &job);
    cluster.add_taskmanager(2);
    cluster.wait_for_state(&job, "RUNNING", Duration::from_secs(10));
    Recovered { _broker: broker, _generator: generator, bootstrap, cluster, job, covered, seen_at_kill }
}

/// A metric of the sink writer's subtasks summed from Prometheus' `/metrics`.
fn writer_metric_in_prometheus(cluster: &Cluster, metric: &str) -> f64 {
    let body = cluster.get("/metrics").body;
    let prefix = format!("flink_taskmanager_job_task_{metric}{{");
    body.lines()
        .filter(|l| l.starts_with(&prefix) && l.contains("Writer"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// README, "Failure and recovery" and "Exactly-once output": the exactly-once sink holds a
/// checkpoint epoch's results until the checkpoint completes, then publishes them. A
/// TaskManager killed while its writers hold results past the checkpoint: the job recovers
/// from the checkpoint with every count exactly 1000 and every result once — what was held was
/// never published, and what the checkpoint held (published already) the restored writers find
/// and skip. `numRecordsOutPublished` (REST and Prometheus) counts every result once over both
/// attempts; `numRecordsOutDuplicatesSkipped` what the restored writers found.
#[test]
fn a_killed_taskmanager_recovers_with_every_count_exact_and_written_once() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut cluster = Cluster::start(1, 2);
    let _generator = cluster.generator(&bootstrap, 120_000, 6_000);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let args = ["-d", "-p", "2", jar.as_str(), "--bootstrap.servers", bootstrap.as_str(), "--event-time"];
    let hourly = ["--checkpointing", "--checkpointing.interval-ms", "3600000"];
    let (code, out, err) = cluster.cli("run", &[&args[..], &hourly[..]].concat());
    assert_eq!(code, Some(0), "{err}");
    let job = job_id(&out);
    let published = cluster.publish_then_hold(&bootstrap, &job);
    cluster.kill_taskmanager(0);
    let at_kill = witness(&bootstrap, "output", 0, Duration::from_secs(5)).expect("output at the kill").len();
    assert_eq!(at_kill, published, "nothing past the checkpoint was published");

    await_restart_after_the_kill(&cluster, &job);
    cluster.add_taskmanager(2);
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));
    // The restored writers published the checkpoint's held results again — all found there.
    let skipped = eventually(Duration::from_secs(20), || {
        let rest = cluster.vertex_metric_sum(&job, WRITER, "numRecordsOutDuplicatesSkipped")?;
        (rest > 0.0 && writer_metric_in_prometheus(&cluster, "numRecordsOutDuplicatesSkipped") == rest).then_some(rest)
    });
    let skipped = skipped.unwrap_or_else(|| {
        panic!(
            "the restored writers skipped nothing: {:?}",
            cluster.vertex_metric_sum(&job, WRITER, "numRecordsOutDuplicatesSkipped")
        )
    });
    // What the checkpoint held is exactly what it published (the first checkpoint's epoch was
    // empty), and the restored writers say so in their logs.
    let log = cluster.taskmanager_log(1);
    let restored: Vec<&str> = log.lines().filter(|l| l.contains("exactly-once sink restored")).collect();
    assert!(
        skipped == published as f64 && !restored.is_empty(),
        "{skipped} skipped, {published} published before the kill: {restored:#?}"
    );
    cluster.checkpoint_until_published(&bootstrap, &job, CLICK_COUNT_RESULTS_19);
    read_windows(&bootstrap, "output", Windows::exactly(19), Duration::from_secs(30)).expect("every window once");
    // Counted over both attempts: every result once.
    let counted = eventually(Duration::from_secs(20), || {
        let rest = cluster.vertex_metric_sum(&job, WRITER, "numRecordsOutPublished")?;
        (rest == CLICK_COUNT_RESULTS_19 as f64
            && writer_metric_in_prometheus(&cluster, "numRecordsOutPublished") == rest)
            .then_some(())
    });
    assert!(
        counted.is_some(),
        "numRecordsOutPublished: REST {:?}, Prometheus {}",
        cluster.vertex_metric_sum(&job, WRITER, "numRecordsOutPublished"),
        writer_metric_in_prometheus(&cluster, "numRecordsOutPublished")
    );
    let stats = cluster.get(&format!("/jobs/{job}/checkpoints")).json();
    assert!(stats["counts"]["restored"].as_u64().unwrap_or(0) >= 1, "{stats}");
    assert!(stats["latest"]["completed"]["external_path"].as_str().unwrap_or_default().starts_with("file:"), "{stats}");
}

/// README, "Exactly-once output": the control run. With `--delivery-guarantee at-least-once`
/// (the guide's sink) the same kill leaves results written twice in `output` — what the
/// default's write-ahead sink avoids — and nothing is counted as skipped. (At least once the
/// writers write through, so results past the checkpoint are in `output` before the kill.)
#[test]
fn at_least_once_the_same_kill_writes_results_twice() {
    let recovered = kill_after_results_past_the_checkpoint(&["--delivery-guarantee", "at-least-once"]);
    let Recovered { bootstrap, cluster, job, .. } = &recovered;
    let past_checkpoint = recovered.seen_at_kill - recovered.covered;
    let every_result = window_range(0, 19);
    let lines = eventually(Duration::from_secs(90), || {
        let lines = witness(bootstrap, "output", every_result.len(), Duration::from_secs(10)).ok()?;
        let have: std::collections::HashSet<(String, String)> =
            lines.iter().filter_map(|l| parse_statistics(l).ok()).map(|c| (c.window_start, c.page)).collect();
        every_result.iter().all(|r| have.contains(r)).then_some(lines)
    })
    .expect("every window's results, after the recovery");
    match check_windows(&lines, Windows::exactly(19)) {
        Err(WitnessError::Wrong(message)) => assert!(message.contains("written more than once"), "{message}"),
        other => panic!("at least once, the recovery wrote nothing twice: {other:?}"),
    }
    let mut times: std::collections::HashMap<(String, String), usize> = std::collections::HashMap::new();
    for c in lines.iter().map(|l| parse_statistics(l).expect("a window result")) {
        *times.entry((c.window_start, c.page)).or_default() += 1;
    }
    let twice = times.values().filter(|n| **n > 1).count();
    assert!(twice >= past_checkpoint, "{twice} results written twice, {past_checkpoint} past the checkpoint");
    let skipped = eventually(Duration::from_secs(20), || {
        cluster.vertex_metric_sum(job, WRITER, "numRecordsOutDuplicatesSkipped")
    });
    assert_eq!(skipped, Some(0.0), "at least once, nothing is skipped");
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

/// README "Upgrading and rescaling": stop with a savepoint, restore as version 2 at parallelism 3
/// (waiting for slots), back to version 1 at 1: no window lost, miscounted or written twice.
#[test]
fn stop_restore_upgrade_and_rescale_keep_every_window_exact() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut cluster = Cluster::start(1, 2);
    let v1 = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let v2 = component(cluster.dir.path(), "click_event_count_v2", "ClickCountJobV2.wasm");
    // 16 windows of clicks in three parts, each ending mid-window (6000 clicks a window), so a
    // window is open across every switch; 15 windows can close.
    let cache = cluster.dir.path().to_path_buf();
    let feed = |start: u64, end: u64| generate_from(&cache, &bootstrap, "input", start, end - start);
    feed(0, 33_000);
    let common = ["--bootstrap.servers", bootstrap.as_str(), "--checkpointing", "--event-time"];

    // Version 1 at parallelism 2.
    let mut args = vec!["-d", "-p", "2", v1.as_str()];
    args.extend(common);
    let (_, out, err) = cluster.cli("run", &args);
    let first = job_id(&out);
    assert!(first.len() == 32, "{out}{err}");
    read_windows(&bootstrap, "output", Windows::at_least(2), Duration::from_secs(30)).expect("the first windows");

    // Stop it with a savepoint: Flink's lines, FINISHED, open windows kept.
    let savepoints = cluster.dir.path().join("my-savepoints");
    let (code, out, err) = cluster.cli("stop", &["-p", savepoints.to_str().unwrap(), &first]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with(&format!("Suspending job \"{first}\" with a CANONICAL savepoint.\n")), "{out}");
    let savepoint = savepoint_path(&out);
    assert!(savepoint.starts_with(&format!("file:{}/savepoint-{}-", savepoints.display(), &first[..6])), "{savepoint}");
    cluster.wait_for_state(&first, "FINISHED", Duration::from_secs(20));
    feed(33_000, 66_000);

    // Version 2 from it at parallelism 3: 2 slots available, 3 needed, until a TaskManager joins.
    let mut args = vec!["-d", "-p", "3", "-s", savepoint.as_str(), v2.as_str()];
    args.extend(common);
    let (code, out, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{err}");
    let second = job_id(&out);
    await_waiting_for_slots(&cluster, &second, 15);
    cluster.add_taskmanager(2);
    let running =
        eventually(Duration::from_secs(30), || (cluster.job_overview(&second)["tasks"]["running"] == 15).then_some(()));
    assert!(running.is_some(), "{}", cluster.job_overview(&second));
    // Version 2 writes results before it is stopped (its writer's input, from the REST API: a
    // read of `output` while three sinks work off a backlog could catch one a window ahead).
    let v2_wrote = eventually(Duration::from_secs(30), || {
        let details = cluster.get(&format!("/jobs/{second}")).json();
        let writer = details["vertices"].as_array()?.iter().find(|v| v["name"] == WRITER)?.clone();
        (writer["metrics"]["read-records"].as_u64()? > 0).then_some(())
    });
    assert!(v2_wrote.is_some(), "version 2 never wrote: {}", cluster.get(&format!("/jobs/{second}")).body);

    // And back to version 1 at parallelism 1 through another savepoint.
    let (code, out, err) = cluster.cli("stop", &[&second]);
    assert_eq!(code, Some(0), "{err}");
    let savepoint = savepoint_path(&out);
    cluster.wait_for_state(&second, "FINISHED", Duration::from_secs(20));
    feed(66_000, 96_000);
    let mut args = vec!["-d", "-p", "1", "-s", savepoint.as_str(), v1.as_str()];
    args.extend(common);
    let (code, _, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{err}");

    // Every window once at 1000 across the three jobs, and version 2 wrote some of them.
    let results =
        read_windows(&bootstrap, "output", Windows::exactly(15), Duration::from_secs(90)).expect("exact output");
    let versions: std::collections::BTreeSet<Option<String>> = results.into_iter().map(|c| c.version).collect();
    assert!(versions.contains(&None) && versions.contains(&Some("v2".into())), "{versions:?}");
}

/// README "Upgrading and rescaling": state of an operator the new job lacks needs `-n`; a missing
/// or corrupt savepoint is refused with a clear error and nothing starts; `-d` disposes of one.
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
    // The keyed operator has state to save: it has taken in records.
    let keyed_state = eventually(Duration::from_secs(20), || {
        let details = cluster.get(&format!("/jobs/{other}")).json();
        let keyed = details["vertices"].as_array()?.iter().find(|v| v["name"] == "Keyed")?.clone();
        (keyed["metrics"]["read-records"].as_u64()? > 0).then_some(())
    });
    assert!(
        keyed_state.is_some(),
        "the keyed operator never got records: {}",
        cluster.get(&format!("/jobs/{other}")).body
    );
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

/// README "How Weir differs from Flink": a JobManager restart resumes running jobs from their
/// latest checkpoint, every window once at 1000.
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
    // 10 windows; 9 can close, each once at 1000 across the restart.
    read_windows(&bootstrap, "output", Windows::exactly(9), Duration::from_secs(90)).expect("exact output");
}

/// README "Failure and recovery": a TaskManager that stops answering without dying (its
/// machine paused, a long stall) is let go when its heartbeats time out, and the job fails
/// over; when it comes back it learns it was let go, cancels its old tasks and registers
/// again, and the job recovers on it: every window once at 1000.
#[test]
fn a_paused_taskmanager_is_let_go_registers_again_and_the_job_recovers_exactly_once() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start_with(1, 2, &["-Dheartbeat.timeout=3000"]);
    let _generator = cluster.generator(&bootstrap, 120_000, 6_000);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let args = ["-d", "-p", "2", &jar, "--bootstrap.servers", &bootstrap, "--checkpointing", "--event-time"];
    let (code, out, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{err}");
    let job = job_id(&out);
    witness(&bootstrap, "output", 6, Duration::from_secs(60)).expect("a first window's results");

    cluster.pause_taskmanager(0, true);
    let let_go = eventually(Duration::from_secs(20), || {
        let o = cluster.job_overview(&job);
        (o["state"] == "RUNNING" && o["tasks"]["scheduled"] == 8).then_some(())
    });
    cluster.pause_taskmanager(0, false);
    assert!(let_go.is_some(), "{}\n{}", cluster.job_overview(&job), cluster.jobmanager_log());
    let root = cluster.get(&format!("/jobs/{job}/exceptions")).json()["root-exception"].clone();
    assert!(root.as_str().is_some_and(|r| r.contains("timed out")), "{root}");

    let resumed =
        eventually(Duration::from_secs(30), || (cluster.job_overview(&job)["tasks"]["running"] == 8).then_some(()));
    assert!(resumed.is_some(), "{}\n{}", cluster.job_overview(&job), cluster.taskmanager_log(0));
    let log = cluster.taskmanager_log(0);
    assert!(log.contains("the JobManager disconnected this TaskManager"), "{log}");
    assert_eq!(log.matches("registered with the JobManager").count(), 2, "{log}");
    read_windows(&bootstrap, "output", Windows::exactly(19), Duration::from_secs(90)).expect("every window once");
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

/// README "Upgrading and rescaling": a savepoint "with another max parallelism, is refused with
/// a clear error and nothing starts".
#[test]
fn a_savepoint_of_another_max_parallelism_is_refused_and_nothing_starts() {
    let cluster = Cluster::start(1, 2);
    let test_job = component(cluster.dir.path(), "test_job", "test-job.wasm");
    // The same job, once with 64 key groups and then with the default 128.
    let (code, out, err) = cluster.cli("run", &["-d", &test_job, "--count", "1000000000", "--max-parallelism", "64"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let other = job_id(&out);
    cluster.wait_for_all_tasks_running(&other, Duration::from_secs(20));
    let (code, out, err) = cluster.cli("stop", &[&other]);
    assert_eq!(code, Some(0), "{out}{err}");
    let savepoint = savepoint_path(&out);
    cluster.wait_for_state(&other, "FINISHED", Duration::from_secs(20));
    let jobs = || cluster.get("/jobs/overview").json()["jobs"].as_array().map_or(0, Vec::len);
    let before = jobs();

    let (code, out, err) = cluster.cli("run", &["-d", "-s", &savepoint, &test_job, "--count", "1000000000"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains(&format!("Failed to rollback to checkpoint/savepoint {savepoint}"))
            && err.contains("The max parallelism of the savepoint (64) differs from the job's (128)"),
        "{err}"
    );
    assert_eq!(jobs(), before, "a job was started: {}", cluster.get("/jobs/overview").body);
}

/// README "Upgrading and rescaling": toggling `--backpressure` adds or removes the stateless
/// Backpressure operator, and "restoring across that toggle needs no `--allowNonRestoredState`
/// and keeps the window state": every window stays exactly 1000 through both switches.
#[test]
fn toggling_backpressure_keeps_the_window_state_without_allow_non_restored_state() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    // 20 windows of clicks in three parts, each ending mid-window (6000 clicks a window), so a
    // window is open across both switches; 19 can close.
    let parts = [(0, 21_000), (21_000, 42_000), (42_000, 120_000)];
    let mut savepoint: Option<String> = None;
    // Without the Backpressure operator, with it (sleeping 0 ms: only the graph changes), without.
    for (step, with_backpressure) in [false, true, false].into_iter().enumerate() {
        let (start, end) = parts[step];
        generate_from(cluster.dir.path(), &bootstrap, "input", start, end - start);
        let mut args = vec!["-d"];
        if let Some(path) = &savepoint {
            args.extend(["-s", path.as_str()]);
        }
        args.extend([jar.as_str(), "--bootstrap.servers", bootstrap.as_str(), "--checkpointing", "--event-time"]);
        if with_backpressure {
            args.extend(["--backpressure", "--backpressure.sleep-ms", "0"]);
        }
        let (code, out, err) = cluster.cli("run", &args);
        assert_eq!(code, Some(0), "step {step}: {out}{err}");
        let job = job_id(&out);
        let names: Vec<String> = cluster.vertices(&job).into_iter().map(|(_, name)| name).collect();
        assert_eq!(names.iter().any(|n| n == "Backpressure"), with_backpressure, "{names:?}");
        if step == 2 {
            break;
        }
        // Results of this job, then a stop with a savepoint while clicks still arrive: windows
        // are open in it and the next job finishes them.
        let windows = 3 * (step as i64 + 1);
        read_windows(&bootstrap, "output", Windows::at_least(windows), Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("step {step}: {e:#}"));
        let (code, out, err) = cluster.cli("stop", &[&job]);
        assert_eq!(code, Some(0), "{out}{err}");
        savepoint = Some(savepoint_path(&out));
        cluster.wait_for_state(&job, "FINISHED", Duration::from_secs(20));
    }
    read_windows(&bootstrap, "output", Windows::exactly(19), Duration::from_secs(60)).expect("every window exact");
}

/// README "Upgrading and rescaling": a crafted savepoint whose `_metadata` names a state file
/// outside its directory (`/etc/passwd`, `../<file>`) or places a section beyond its state file
/// (huge offsets and lengths) is refused with a clear error before anything is read; nothing
/// starts, and the JobManager and the TaskManager live on and run the genuine savepoint after.
#[test]
fn a_crafted_savepoint_cannot_read_outside_its_directory() {
    let cluster = Cluster::start(1, 2);
    let test_job = component(cluster.dir.path(), "test_job", "test-job.wasm");
    let (code, out, err) = cluster.cli("run", &["-d", &test_job, "--count", "1000000000"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let first = job_id(&out);
    cluster.wait_for_all_tasks_running(&first, Duration::from_secs(20));
    // The keyed operator has state to save: it has taken in records.
    let keyed_state = eventually(Duration::from_secs(20), || {
        let details = cluster.get(&format!("/jobs/{first}")).json();
        let keyed = details["vertices"].as_array()?.iter().find(|v| v["name"] == "Keyed")?.clone();
        (keyed["metrics"]["read-records"].as_u64()? > 0).then_some(())
    });
    assert!(
        keyed_state.is_some(),
        "the keyed operator never got records: {}",
        cluster.get(&format!("/jobs/{first}")).body
    );
    let (code, out, err) = cluster.cli("stop", &[&first]);
    assert_eq!(code, Some(0), "{out}{err}");
    let savepoint = savepoint_path(&out);
    cluster.wait_for_state(&first, "FINISHED", Duration::from_secs(20));

    // The savepoint's `_metadata` and the first keyed subtask's state file with a section.
    let dir = std::path::PathBuf::from(savepoint.strip_prefix("file:").expect(&savepoint));
    let metadata = dir.join("_metadata");
    let genuine = std::fs::read_to_string(&metadata).unwrap();
    let original: serde_json::Value = serde_json::from_str(&genuine).unwrap();
    let (uid, index) = original["operators"]
        .as_object()
        .unwrap()
        .iter()
        .find_map(|(uid, op)| {
            let index = op["subtasks"]
                .as_array()?
                .iter()
                .position(|s| s["keyed"]["sections"].as_array().is_some_and(|sections| !sections.is_empty()))?;
            Some((uid.clone(), index))
        })
        .unwrap_or_else(|| panic!("no keyed state in the savepoint: {genuine}"));
    let handle = original["operators"][&uid]["subtasks"][index]["keyed"].clone();
    let state_file = handle["file"].as_str().unwrap().to_string();
    let (key_group, offset, length) = (&handle["sections"][0][0], &handle["sections"][0][1], &handle["sections"][0][2]);
    // A genuine state file beside the savepoint directory: were `../` followed, it would load.
    std::fs::copy(dir.join(&state_file), dir.parent().unwrap().join(&state_file)).unwrap();

    let taskmanagers = || cluster.get("/taskmanagers").json()["taskmanagers"].as_array().cloned().unwrap_or_default();
    let before = taskmanagers();
    assert_eq!(before.len(), 1, "{before:?}");
    let jobs = || cluster.get("/jobs/overview").json()["jobs"].as_array().cloned().unwrap_or_default();
    let jobs_before = jobs().len();
    let not_plain = |name: &str| {
        format!(
            "{}/_metadata names state file \"{name}\", which is not a plain file name inside the savepoint directory",
            dir.display()
        )
    };
    let beyond = |offset: &serde_json::Value, length: &serde_json::Value| {
        format!(
            "{}/_metadata places key group {key_group}'s section at offset {offset} with length {length}, beyond the \
             end of state file \"{state_file}\"",
            dir.display()
        )
    };
    let huge = serde_json::json!(u64::MAX);
    let parent = format!("../{state_file}");
    let crafted: [(&str, serde_json::Value, &str, String); 4] = [
        ("an absolute path", serde_json::json!("/etc/passwd"), "file", not_plain("/etc/passwd")),
        ("a path out of the directory", serde_json::json!(parent), "file", not_plain(&parent)),
        ("a huge offset", huge.clone(), "offset", beyond(&huge, length)),
        ("a huge length", huge.clone(), "length", beyond(offset, &huge)),
    ];
    for (what, value, field, expected) in crafted {
        let mut edited = original.clone();
        let keyed = &mut edited["operators"][&uid]["subtasks"][index]["keyed"];
        match field {
            "file" => keyed["file"] = value,
            "offset" => keyed["sections"][0][1] = value,
            _ => keyed["sections"][0][2] = value,
        }
        std::fs::write(&metadata, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
        let (code, out, err) = cluster.cli("run", &["-d", "-s", &savepoint, &test_job, "--count", "1000000000"]);
        assert_eq!(code, Some(1), "{what}: {out}{err}");
        assert!(err.contains(&format!("Cannot restore the job from {savepoint}: {expected}")), "{what}: {err}");
    }

    // Nothing started; the JobManager answers and the TaskManager is still registered and heartbeating.
    let after = jobs();
    assert_eq!(after.len(), jobs_before, "a job was started: {after:?}");
    assert!(after.iter().all(|j| j["state"] != "RUNNING"), "{after:?}");
    assert_eq!(cluster.get("/overview").status, 200);
    let heartbeat = &before[0]["timeSinceLastHeartbeat"];
    let alive = eventually(Duration::from_secs(20), || {
        let now = taskmanagers();
        (now.len() == 1 && now[0]["id"] == before[0]["id"] && &now[0]["timeSinceLastHeartbeat"] != heartbeat)
            .then_some(())
    });
    assert!(alive.is_some(), "the TaskManager is gone: {:?}\n{}", taskmanagers(), cluster.jobmanager_log());

    // The genuine savepoint still runs on them.
    std::fs::write(&metadata, &genuine).unwrap();
    let (code, out, err) = cluster.cli("run", &["-d", "-s", &savepoint, &test_job, "--count", "1000000000"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let restored = job_id(&out);
    cluster.wait_for_all_tasks_running(&restored, Duration::from_secs(20));
    cluster.cli("cancel", &[&restored]);
}
