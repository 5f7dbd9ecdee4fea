//! Incremental checkpoints (README "State and checkpoints at scale"): what a checkpoint writes,
//! which files stay, savepoints of both formats, and a JobManager killed between completing a
//! checkpoint and deleting the one it replaced. Real processes, a real broker, the Click Event
//! Count job's windows checked one by one.

use std::collections::BTreeSet;
use std::path::Path;
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

/// A checkpoint's or savepoint's `_metadata`.
fn metadata(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("_metadata")).expect("a _metadata");
    serde_json::from_str(&text).expect("_metadata is JSON")
}

/// The keyed state handles of every subtask in `metadata`.
fn keyed_handles(metadata: &serde_json::Value) -> Vec<serde_json::Value> {
    metadata["operators"]
        .as_object()
        .into_iter()
        .flat_map(|ops| ops.values())
        .flat_map(|op| op["subtasks"].as_array().cloned().unwrap_or_default())
        .map(|s| s["keyed"].clone())
        .filter(|k| !k.is_null())
        .collect()
}

/// The paths of the chain files `metadata` names.
fn chain_paths(metadata: &serde_json::Value) -> Vec<String> {
    keyed_handles(metadata)
        .iter()
        .flat_map(|k| k["files"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["path"].as_str().map(str::to_string))
        .collect()
}

/// The names of the files in a directory.
fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// The `chk-<n>` directories of a job.
fn checkpoint_dirs(job_dir: &Path) -> Vec<String> {
    file_names(job_dir).into_iter().filter(|n| n.starts_with("chk-")).collect()
}

/// The latest completed checkpoint's directory, from the REST API.
fn latest_checkpoint(cluster: &Cluster, job: &str) -> Option<std::path::PathBuf> {
    let stats = cluster.get(&format!("/jobs/{job}/checkpoints")).json();
    let path = stats["latest"]["completed"]["external_path"].as_str()?.to_string();
    Some(std::path::PathBuf::from(path.trim_start_matches("file:")))
}

/// Every file the latest checkpoint names is in `shared/`, and nothing else is there.
fn shared_is_exactly_what_the_latest_names(cluster: &Cluster, job: &str) -> Result<(), String> {
    let latest = latest_checkpoint(cluster, job).ok_or("no completed checkpoint")?;
    let named: BTreeSet<String> = chain_paths(&metadata(&latest))
        .iter()
        .map(|p| p.strip_prefix("../shared/").map(str::to_string).ok_or(format!("{p} is not a shared file")))
        .collect::<Result<_, _>>()?;
    let present = file_names(&cluster.checkpoint_dir().join(job).join("shared"));
    if named == present { Ok(()) } else { Err(format!("named {named:?}, present {present:?}")) }
}

/// README "State and checkpoints at scale": a checkpoint writes only what changed since the one
/// before (nothing, once the input is idle), names the subtask's chain of files in the job's
/// `shared/` directory, and reports its synchronous and asynchronous parts; only the latest
/// checkpoint stays, with exactly the shared files it names; a cancelled job leaves nothing.
#[test]
fn checkpoints_write_what_changed_and_keep_only_the_files_they_name() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 4);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    generate(cluster.dir.path(), &bootstrap, "input", 30_000);
    let args = ["-d", "-p", "2", jar.as_str(), "--bootstrap.servers", bootstrap.as_str(), "--event-time"];
    let mut args = args.to_vec();
    args.extend(["--checkpointing", "--checkpointing.interval-ms", "300"]);
    let (code, out, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{err}");
    let job = job_id(&out);
    read_windows(&bootstrap, "output", Windows::at_least(4), Duration::from_secs(60)).expect("the first windows");

    // The input is idle: checkpoints go on, the window operator's write nothing new and name
    // its state all the same.
    let vertices = cluster.vertices(&job);
    let (counter, _) = vertices.iter().find(|(_, name)| name == "ClickEvent Counter").expect("the counter").clone();
    let base = cluster.checkpoints_completed(&job);
    let counter_stats = |c: &serde_json::Value| c["tasks"][counter.as_str()].clone();
    let idle = eventually(Duration::from_secs(30), || {
        let stats = cluster.get(&format!("/jobs/{job}/checkpoints")).json();
        let task = counter_stats(&stats["latest"]["completed"]);
        let (checkpointed, state) = (task["checkpointed_size"].as_u64()?, task["state_size"].as_u64()?);
        (cluster.checkpoints_completed(&job) >= base + 3 && checkpointed == 0 && state > 0).then_some(())
    });
    assert!(idle.is_some(), "{}", cluster.get(&format!("/jobs/{job}/checkpoints")).body);

    // The latest `_metadata` names each keyed subtask's chain in `shared/`: delta files.
    let latest = latest_checkpoint(&cluster, &job).expect("a completed checkpoint");
    let handles = keyed_handles(&metadata(&latest));
    assert_eq!(handles.len(), 2, "two keyed subtasks: {handles:?}");
    let paths = chain_paths(&metadata(&latest));
    assert!(!paths.is_empty() && paths.iter().all(|p| p.starts_with("../shared/chk")), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with(".delta")), "{paths:?}");
    // Only the latest checkpoint's directory stays, and exactly the shared files it names.
    let job_dir = cluster.checkpoint_dir().join(&job);
    let kept = eventually(Duration::from_secs(10), || (checkpoint_dirs(&job_dir).len() == 1).then_some(()));
    assert!(kept.is_some(), "{:?}", checkpoint_dirs(&job_dir));
    let exact = eventually(Duration::from_secs(10), || shared_is_exactly_what_the_latest_names(&cluster, &job).ok());
    assert!(exact.is_some(), "{:?}", shared_is_exactly_what_the_latest_names(&cluster, &job));

    // The subtasks' statistics time the synchronous and asynchronous parts apart.
    let id = cluster.get(&format!("/jobs/{job}/checkpoints")).json()["latest"]["completed"]["id"].clone();
    let details = cluster.get(&format!("/jobs/{job}/checkpoints/details/{id}/subtasks/{counter}")).json();
    let subtasks = details["subtasks"].as_array().cloned().unwrap_or_default();
    assert_eq!(subtasks.len(), 2, "{details}");
    for s in &subtasks {
        assert!(s["checkpoint"]["sync"].is_u64() && s["checkpoint"]["async"].is_u64(), "{s}");
        assert!(s["state_size"].as_u64() > s["checkpointed_size"].as_u64(), "{s}");
    }
    assert!(details["summary"]["checkpoint_duration"]["sync"]["max"].as_u64().is_some(), "{details}");

    // New input: the next checkpoints write deltas for the keys it changed.
    generate_from(cluster.dir.path(), &bootstrap, "input", 30_000, 12_000);
    let wrote = eventually(Duration::from_secs(30), || {
        let history = cluster.get(&format!("/jobs/{job}/checkpoints")).json()["history"].clone();
        let ids = history.as_array()?.iter();
        ids.filter(|c| c["id"].as_u64() > id.as_u64())
            .any(|c| counter_stats(c)["checkpointed_size"].as_u64().unwrap_or(0) > 0)
            .then_some(())
    });
    assert!(wrote.is_some(), "{}", cluster.get(&format!("/jobs/{job}/checkpoints")).body);

    let (code, _, err) = cluster.cli("cancel", &[&job]);
    assert_eq!(code, Some(0), "{err}");
    cluster.wait_for_state(&job, "CANCELED", Duration::from_secs(20));
    let gone = eventually(Duration::from_secs(10), || (!job_dir.exists()).then_some(()));
    assert!(gone.is_some(), "left behind: {:?}", file_names(&job_dir));
}

/// README "State and checkpoints at scale": `stop --type native` writes the chain's files into
/// the savepoint (self-contained, no `../shared/` path), `--type canonical` one file per keyed
/// subtask; a job restores from each at another parallelism (2 → 3 → 1) with every window
/// exactly once.
#[test]
fn native_and_canonical_savepoints_restore_at_another_parallelism() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(2, 2);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let cache = cluster.dir.path().to_path_buf();
    let feed = |start: u64, end: u64| generate_from(&cache, &bootstrap, "input", start, end - start);
    // 16 windows in three parts, each ending mid-window: a window is open across every switch.
    feed(0, 33_000);
    let common = ["--bootstrap.servers", bootstrap.as_str(), "--checkpointing", "--event-time"];
    let run = |parallelism: &str, savepoint: Option<&str>| {
        let mut args = vec!["-d", "-p", parallelism];
        if let Some(s) = savepoint {
            args.extend(["-s", s]);
        }
        args.push(jar.as_str());
        args.extend(common);
        let (code, out, err) = cluster.cli("run", &args);
        assert_eq!(code, Some(0), "{err}");
        job_id(&out)
    };
    let stop = |job: &str, format: &str| {
        // Checkpoints have completed first: the native savepoint copies a chain.
        let checkpointed =
            eventually(Duration::from_secs(30), || (cluster.checkpoints_completed(job) >= 2).then_some(()));
        assert!(checkpointed.is_some(), "{}", cluster.get(&format!("/jobs/{job}/checkpoints")).body);
        let (code, out, err) = cluster.cli("stop", &["--type", format, job]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains(&format!("with a {} savepoint", format.to_uppercase())), "{out}");
        cluster.wait_for_state(job, "FINISHED", Duration::from_secs(20));
        savepoint_path(&out)
    };

    let first = run("2", None);
    read_windows(&bootstrap, "output", Windows::at_least(2), Duration::from_secs(30)).expect("the first windows");
    let native = stop(&first, "native");
    let dir = Path::new(native.trim_start_matches("file:")).to_path_buf();
    let meta = metadata(&dir);
    let paths = chain_paths(&meta);
    assert!(!paths.is_empty(), "{meta}");
    for p in &paths {
        assert!(!p.contains('/') && dir.join(p).is_file(), "{p} is not a file of the savepoint");
    }
    let stats = cluster.get(&format!("/jobs/{first}/checkpoints")).json();
    assert_eq!(stats["latest"]["savepoint"]["savepointFormat"], "NATIVE", "{stats}");

    feed(33_000, 66_000);
    let second = run("3", Some(&native));
    cluster.wait_for_all_tasks_running(&second, Duration::from_secs(30));
    let canonical = stop(&second, "canonical");
    let dir = Path::new(canonical.trim_start_matches("file:")).to_path_buf();
    let meta = metadata(&dir);
    let handles = keyed_handles(&meta);
    assert_eq!(handles.len(), 3, "{meta}");
    for h in &handles {
        let file = h["file"].as_str().unwrap_or_default();
        assert!(file.ends_with(".state") && dir.join(file).is_file(), "{h}");
        assert!(h["files"].is_null(), "a canonical savepoint is one file per subtask: {h}");
    }

    feed(66_000, 96_000);
    let _third = run("1", Some(&canonical));
    read_windows(&bootstrap, "output", Windows::exactly(15), Duration::from_secs(90)).expect("every window once");
}

/// A JobManager killed after it persisted a completed checkpoint and before it deleted the one
/// that checkpoint replaced: restarted, it resumes from the new one (all its shared files are
/// there), deletes what the crash left (the old checkpoint's directory, files no checkpoint
/// names), and every window is written exactly once.
#[test]
fn a_jobmanager_killed_before_deleting_the_replaced_checkpoint_loses_nothing_and_leaves_nothing() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let dir = temp_dir();
    let marker = dir.path().join("exit-before-deletion");
    let option = format!("-Dweir.testing.exit-before-checkpoint-deletion={}", marker.display());
    let mut cluster = Cluster::start_with(1, 4, &[&option]);
    let _generator = cluster.generator(&bootstrap, 120_000, 6_000);
    let jar = component(cluster.dir.path(), "click_event_count", "ClickCountJob.jar");
    let args = ["-d", "-p", "2", jar.as_str(), "--bootstrap.servers", bootstrap.as_str(), "--event-time"];
    let mut args = args.to_vec();
    args.extend(["--checkpointing", "--checkpointing.interval-ms", "500"]);
    let (code, out, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{err}");
    let job = job_id(&out);
    let checkpointed = eventually(Duration::from_secs(30), || (cluster.checkpoints_completed(&job) >= 3).then_some(()));
    assert!(checkpointed.is_some(), "{}", cluster.jobmanager_log());

    // A stray file of a dead attempt, as a crash would leave one.
    let job_dir = cluster.checkpoint_dir().join(&job);
    std::fs::write(job_dir.join("shared").join("chk1-deadbeef-click-event-counter-0.delta"), b"x").unwrap();
    std::fs::write(&marker, b"").unwrap();
    let exited = eventually(Duration::from_secs(20), || (!marker.exists()).then_some(()));
    assert!(exited.is_some(), "the JobManager never completed another checkpoint");
    std::thread::sleep(Duration::from_millis(500));
    // It left two checkpoint directories: the one its record names and the one it replaced.
    let left = checkpoint_dirs(&job_dir);
    assert_eq!(left.len(), 2, "{left:?}\n{}", cluster.jobmanager_log());

    cluster.stop_jobmanager();
    cluster.start_jobmanager();
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(60));
    let log = cluster.jobmanager_log();
    assert!(log.contains("deleting a checkpoint a restart left behind"), "{log}");
    assert!(!left.iter().all(|c| job_dir.join(c).exists()), "{:?}", checkpoint_dirs(&job_dir));
    assert!(!job_dir.join("shared").join("chk1-deadbeef-click-event-counter-0.delta").exists());

    cluster.checkpoint_until_published(&bootstrap, &job, CLICK_COUNT_RESULTS_19);
    read_windows(&bootstrap, "output", Windows::exactly(19), Duration::from_secs(90)).expect("every window once");
    let exact = eventually(Duration::from_secs(20), || shared_is_exactly_what_the_latest_names(&cluster, &job).ok());
    assert!(exact.is_some(), "{:?}", shared_is_exactly_what_the_latest_names(&cluster, &job));
}
