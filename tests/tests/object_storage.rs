//! Checkpoints and savepoints on S3-compatible object storage (README "Checkpoints on S3"): the
//! fault-tolerance core cases with `execution.checkpointing.dir` and the savepoints on a real S3
//! server (moto's, started per test), every process configured with Flink's `s3.*` keys. The
//! TaskManagers write their state files to the store, the JobManager writes `_metadata`.

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

/// A cluster of `taskmanagers` TaskManagers with 2 slots each, its checkpoints and savepoints on
/// `s3`: every process gets the endpoint and keys.
fn cluster_on(s3: &S3Server, taskmanagers: usize) -> Cluster {
    let mut options = s3.options();
    options.push(format!("-Dexecution.checkpointing.dir={}", s3.uri("checkpoints")));
    options.push(format!("-Dexecution.checkpointing.savepoint-dir={}", s3.uri("savepoints")));
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    Cluster::start_everywhere(taskmanagers, 2, &options)
}

/// The `chk-<n>` prefixes of a job's checkpoints in the bucket.
fn checkpoint_prefixes(s3: &S3Server, job: &str) -> std::collections::BTreeSet<String> {
    s3.keys(&format!("checkpoints/{job}/"))
        .iter()
        .filter_map(|k| k.split('/').nth(2).map(str::to_string))
        .filter(|c| c.starts_with("chk-"))
        .collect()
}

/// README "Checkpoints on S3" and "Failure and recovery": a killed TaskManager's job recovers
/// from its checkpoint on S3 (state files written there by the TaskManagers, `_metadata` by the
/// JobManager, nothing on local disk) with every window exactly once at 1000.
#[test]
fn a_killed_taskmanager_recovers_from_its_checkpoint_on_s3_with_every_window_exactly_once() {
    let s3 = S3Server::start();
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut cluster = cluster_on(&s3, 1);
    let _generator = cluster.generator(&bootstrap, 120_000, 6_000);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let args = ["-d", "-p", "2", jar.as_str(), "--bootstrap.servers", bootstrap.as_str(), "--event-time"];
    let mut args = args.to_vec();
    // One checkpoint, taken as the job starts: the kill comes after results it does not cover.
    args.extend(["--checkpointing", "--checkpointing.interval-ms", "3600000"]);
    let (code, out, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{err}");
    let job = job_id(&out);
    let checkpointed = eventually(Duration::from_secs(30), || (cluster.checkpoints_completed(&job) >= 1).then_some(()));
    assert!(
        checkpointed.is_some(),
        "no checkpoint: {}\n{}",
        cluster.get(&format!("/jobs/{job}/checkpoints")).body,
        cluster.jobmanager_log()
    );

    // The checkpoint is in the bucket: `_metadata`, and every state file it names (incremental:
    // in the job's `shared/` prefix).
    let keys = s3.keys(&format!("checkpoints/{job}/chk-1/"));
    assert!(keys.contains(&format!("checkpoints/{job}/chk-1/_metadata")), "{keys:?}");
    let metadata: serde_json::Value =
        serde_json::from_str(&s3.get(&format!("checkpoints/{job}/chk-1/_metadata")).unwrap_or_default())
            .expect("_metadata is JSON");
    let shared = s3.keys(&format!("checkpoints/{job}/shared/"));
    let named: Vec<String> = metadata["operators"]
        .as_object()
        .into_iter()
        .flat_map(|ops| ops.values())
        .flat_map(|op| op["subtasks"].as_array().cloned().unwrap_or_default())
        .flat_map(|s| s["keyed"]["files"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["path"].as_str().map(|p| p.trim_start_matches("../shared/").to_string()))
        .collect();
    for name in &named {
        assert!(shared.contains(&format!("checkpoints/{job}/shared/{name}")), "{name} is not in {shared:?}");
    }
    let stats = cluster.get(&format!("/jobs/{job}/checkpoints")).json();
    assert_eq!(
        stats["latest"]["completed"]["external_path"].as_str(),
        Some(s3.uri(&format!("checkpoints/{job}/chk-1")).as_str()),
        "{stats}"
    );
    assert!(!cluster.checkpoint_dir().exists(), "a checkpoint went to local disk");

    // Results published at a second checkpoint (in the bucket too) and held past it.
    cluster.publish_then_hold(&bootstrap, &job);
    cluster.kill_taskmanager(0);
    assert_eq!(cluster.checkpoints_completed(&job), 2, "the kill came before another checkpoint");
    // The results that checkpoint published were held in it, in the bucket.
    let keys = s3.keys(&format!("checkpoints/{job}/chk-2/"));
    assert!(keys.iter().any(|k| k.ends_with(".held")), "{keys:?}");
    let waiting = eventually(Duration::from_secs(20), || {
        let o = cluster.job_overview(&job);
        (o["state"] == "RUNNING" && o["tasks"]["scheduled"] == 8).then_some(())
    });
    assert!(waiting.is_some(), "{}", cluster.job_overview(&job));
    cluster.add_taskmanager(2);
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));
    cluster.checkpoint_until_published(&bootstrap, &job, CLICK_COUNT_RESULTS_19);
    read_windows(&bootstrap, "output", Windows::exactly(19), Duration::from_secs(90)).expect("every window once");
    let stats = cluster.get(&format!("/jobs/{job}/checkpoints")).json();
    assert!(stats["counts"]["restored"].as_u64().unwrap_or(0) >= 1, "{stats}");
    assert!(!cluster.jobmanager_log().contains("the latest checkpoint cannot be read"), "{}", cluster.jobmanager_log());
}

/// README "Checkpoints on S3" and "Upgrading and rescaling": only the latest checkpoint stays in
/// the bucket; `stop -p s3://...` writes a savepoint there, and a job restored from it at
/// another parallelism (2 → 3) keeps every window exactly once at 1000.
#[test]
fn stop_with_a_savepoint_on_s3_and_restore_at_another_parallelism_keep_every_window_exact() {
    let s3 = S3Server::start();
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = cluster_on(&s3, 2);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    // 16 windows; 15 can close.
    let _generator = cluster.generator(&bootstrap, 96_000, 6_000);
    let common = ["--bootstrap.servers", bootstrap.as_str(), "--event-time"];
    let mut args = vec!["-d", "-p", "2", jar.as_str(), "--checkpointing", "--checkpointing.interval-ms", "500"];
    args.extend(common);
    let (code, out, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{err}");
    let first = job_id(&out);

    // Retention: as checkpoints complete, the older ones go from the bucket.
    let retained = eventually(Duration::from_secs(30), || {
        let completed = cluster.checkpoints_completed(&first);
        let prefixes = checkpoint_prefixes(&s3, &first);
        (completed >= 3 && prefixes.len() == 1).then_some(prefixes)
    });
    assert!(
        retained.is_some(),
        "{:?} after {} checkpoints",
        checkpoint_prefixes(&s3, &first),
        cluster.checkpoints_completed(&first)
    );
    read_windows(&bootstrap, "output", Windows::at_least(2), Duration::from_secs(30)).expect("the first windows");

    let target = s3.uri("my-savepoints");
    let (code, out, err) = cluster.cli("stop", &["-p", &target, &first]);
    assert_eq!(code, Some(0), "{err}\n{}", cluster.jobmanager_log());
    let savepoint = savepoint_path(&out);
    assert!(savepoint.starts_with(&format!("{target}/savepoint-{}-", &first[..6])), "{savepoint}");
    cluster.wait_for_state(&first, "FINISHED", Duration::from_secs(20));
    let key = savepoint.trim_start_matches("s3://weir/");
    let keys = s3.keys(&format!("{key}/"));
    assert!(keys.contains(&format!("{key}/_metadata")) && keys.len() >= 3, "{keys:?}");
    // A finished job's checkpoints go; its savepoint stays.
    let gone = eventually(Duration::from_secs(10), || checkpoint_prefixes(&s3, &first).is_empty().then_some(()));
    assert!(gone.is_some(), "{:?}", checkpoint_prefixes(&s3, &first));

    let mut args = vec!["-d", "-p", "3", "-s", savepoint.as_str(), jar.as_str(), "--checkpointing"];
    args.extend(common);
    let (code, out, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{err}");
    let second = job_id(&out);
    read_windows(&bootstrap, "output", Windows::exactly(15), Duration::from_secs(90)).expect("exact output");
    let stats = cluster.get(&format!("/jobs/{second}/checkpoints")).json();
    assert_eq!(stats["latest"]["restored"]["external_path"].as_str(), Some(savepoint.as_str()), "{stats}");
}

/// README "Checkpoints on S3" and "Upgrading and rescaling": a missing, corrupt or crafted
/// savepoint on S3 (a state file named outside it, a section beyond its state file, a state
/// file that is not there) is refused with a clear error and nothing starts; `-d` disposes of a
/// savepoint on S3, deleting its objects.
#[test]
fn savepoints_on_s3_that_cannot_be_used_are_refused_and_disposal_deletes_them() {
    let s3 = S3Server::start();
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = cluster_on(&s3, 1);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let _generator = cluster.generator(&bootstrap, 1_000_000, 6_000);
    let run = |extra: &[&str]| {
        let mut args = vec!["-d"];
        args.extend_from_slice(extra);
        args.extend([jar.as_str(), "--bootstrap.servers", bootstrap.as_str(), "--event-time"]);
        cluster.cli("run", &args)
    };
    let (code, out, err) = run(&[]);
    assert_eq!(code, Some(0), "{err}");
    let job = job_id(&out);
    read_windows(&bootstrap, "output", Windows::at_least(1), Duration::from_secs(30)).expect("a first window");
    // Into `execution.checkpointing.savepoint-dir`, on S3.
    let (code, out, err) = cluster.cli("savepoint", &[&job]);
    assert_eq!(code, Some(0), "{err}");
    let savepoint = savepoint_path(&out);
    assert!(savepoint.starts_with("s3://weir/savepoints/savepoint-"), "{savepoint}");
    cluster.cli("cancel", &[&job]);
    cluster.wait_for_state(&job, "CANCELED", Duration::from_secs(20));
    let key = savepoint.trim_start_matches("s3://weir/").to_string();
    let metadata = s3.get(&format!("{key}/_metadata")).unwrap_or_else(|| {
        panic!("no {key}/_metadata in {:?}: {:?}", s3.keys(""), s3.request(&[], &format!("{key}/_metadata")))
    });
    let genuine: serde_json::Value = serde_json::from_str(&metadata).expect("_metadata is JSON");
    let state_file = genuine["operators"]
        .as_object()
        .and_then(|ops| {
            ops.values()
                .flat_map(|o| o["subtasks"].as_array().into_iter().flatten())
                .find_map(|s| s["keyed"]["file"].as_str())
        })
        .expect("a keyed state file")
        .to_string();

    let refused = |path: &str, expected: &str| {
        let (code, _, err) = run(&["-s", path]);
        assert_eq!(code, Some(1), "{path} was accepted");
        assert!(err.contains(expected), "{path}: {err}");
    };
    refused("s3://weir/no/such/savepoint", "s3://weir/no/such/savepoint does not exist");
    s3.put("corrupt/_metadata", "{ this is not a savepoint");
    refused("s3://weir/corrupt", "is corrupt");
    // `_metadata` without its state files.
    s3.put("copied/_metadata", &metadata);
    refused("s3://weir/copied", &format!("({state_file}) is missing"));
    // A state file named outside the savepoint, a section beyond the end of its state file.
    let crafted = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut value = genuine.clone();
        for op in value["operators"].as_object_mut().expect("operators").values_mut() {
            for subtask in op["subtasks"].as_array_mut().expect("subtasks") {
                if subtask["keyed"]["sections"].as_array().is_some_and(|s| !s.is_empty()) {
                    edit(&mut subtask["keyed"]);
                }
            }
        }
        s3.put(&format!("{key}/_metadata"), &value.to_string());
    };
    crafted(&|keyed| keyed["file"] = format!("../{state_file}").into());
    refused(&savepoint, "which is not a plain file name inside the savepoint directory");
    crafted(&|keyed| keyed["sections"][0][2] = serde_json::json!(1u64 << 40));
    refused(&savepoint, "beyond the end of state file");
    let jobs = cluster.get("/jobs/overview").json();
    assert!(jobs["jobs"].as_array().into_iter().flatten().all(|j| j["state"] != "RUNNING"), "{jobs}");

    // The genuine savepoint restores; disposal deletes its objects, with Flink's lines.
    s3.put(&format!("{key}/_metadata"), &metadata);
    let (code, out, err) = run(&["-s", &savepoint]);
    assert_eq!(code, Some(0), "{err}");
    cluster.cli("cancel", &[&job_id(&out)]);
    let (code, out, err) = cluster.cli("savepoint", &["-d", &savepoint]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&format!("Savepoint '{savepoint}' disposed.")), "{out}");
    assert_eq!(s3.keys(&format!("{key}/")), Vec::<String>::new());
    assert!(s3.get("corrupt/_metadata").is_some(), "disposal deleted more than the savepoint");
}
