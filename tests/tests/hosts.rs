//! TaskManagers as if on other machines: each bound to and advertising its own loopback address
//! (127.0.0.2, 127.0.0.3, …) with its own component cache and state directory, so a component
//! reaches it only by hash from the JobManager (Flink's BlobServer), records only through its
//! advertised data address, and state only through the object store (moto's S3 server).

use std::time::Duration;

use weir_tests::*;

fn job_id(out: &str) -> String {
    out.trim().rsplit(' ').next().expect("a job id").to_string()
}

/// The hosts the job's subtasks run on, from the REST API.
fn subtask_hosts(cluster: &Cluster, job: &str) -> std::collections::BTreeSet<String> {
    let mut hosts = std::collections::BTreeSet::new();
    for (vertex, _) in cluster.vertices(job) {
        let details = cluster.get(&format!("/jobs/{job}/vertices/{vertex}")).json();
        for subtask in details["subtasks"].as_array().cloned().unwrap_or_default() {
            hosts.insert(subtask["host"].as_str().unwrap_or_default().to_string());
        }
    }
    hosts
}

const FETCHED: &str = "fetched a component from the JobManager";

/// README "TaskManagers on other machines": with no shared directory (checkpoints and savepoints
/// on S3, each TaskManager its own cache and state directory), TaskManagers on 127.0.0.2 and
/// 127.0.0.3 fetch the job's component by hash, once each, and run it at parallelism 2 with
/// records crossing between their data addresses; one is killed mid-run, a new one on 127.0.0.4
/// fetches the component and the job recovers from its checkpoint on S3; then it is stopped with
/// a savepoint on S3 and restored at parallelism 3 across three hosts: every window exactly once.
#[test]
fn taskmanagers_on_other_hosts_fetch_the_component_recover_and_rescale_through_s3() {
    let s3 = S3Server::start();
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut options = s3.options();
    options.push(format!("-Dexecution.checkpointing.dir={}", s3.uri("checkpoints")));
    options.push(format!("-Dexecution.checkpointing.savepoint-dir={}", s3.uri("savepoints")));
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let mut cluster = Cluster::start_everywhere(0, 1, &options);
    cluster.add_taskmanager_on("127.0.0.2", 1);
    cluster.add_taskmanager_on("127.0.0.3", 1);
    let ids: Vec<String> = cluster.get("/taskmanagers").json()["taskmanagers"]
        .as_array()
        .map(|tms| tms.iter().filter_map(|t| t["id"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    assert!(
        ids.iter().any(|id| id.starts_with("127.0.0.2:")) && ids.iter().any(|id| id.starts_with("127.0.0.3:")),
        "{ids:?}"
    );

    let _generator = cluster.generator(&bootstrap, 120_000, 6_000);
    let jar = click_count_jar(cluster.dir.path());
    let jar = jar.to_str().expect("utf-8 path");
    let args = ["-d", "-p", "2", jar, "--bootstrap.servers", &bootstrap, "--event-time", "--checkpointing"];
    let (code, out, err) = cluster.cli("run", &[&args[..], &["--checkpointing.interval-ms", "3600000"]].concat());
    assert_eq!(code, Some(0), "{err}");
    let job = job_id(&out);
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(60));
    assert_eq!(subtask_hosts(&cluster, &job), ["127.0.0.2", "127.0.0.3"].map(String::from).into());
    for n in 0..2 {
        let log = cluster.taskmanager_log(n);
        assert_eq!(log.matches(FETCHED).count(), 1, "TaskManager {n} fetches the component once:\n{log}");
    }
    assert!(cluster.jobmanager_log().contains("sending a component"), "{}", cluster.jobmanager_log());

    let checkpointed = eventually(Duration::from_secs(30), || (cluster.checkpoints_completed(&job) >= 1).then_some(()));
    assert!(checkpointed.is_some(), "no checkpoint: {}", cluster.get(&format!("/jobs/{job}/checkpoints")).body);
    assert!(
        s3.keys(&format!("checkpoints/{job}/")).iter().any(|k| k.ends_with("_metadata")),
        "the checkpoint is on S3"
    );
    // Results published at a checkpoint and held past it, then the TaskManager on 127.0.0.2 dies.
    cluster.publish_then_hold(&bootstrap, &job);
    cluster.kill_taskmanager(0);
    cluster.add_taskmanager_on("127.0.0.4", 1);
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(60));
    assert_eq!(subtask_hosts(&cluster, &job), ["127.0.0.3", "127.0.0.4"].map(String::from).into());
    // The newcomer fetched it; the survivor had it compiled already.
    assert_eq!(cluster.taskmanager_log(2).matches(FETCHED).count(), 1, "{}", cluster.taskmanager_log(2));
    assert_eq!(cluster.taskmanager_log(1).matches(FETCHED).count(), 1, "{}", cluster.taskmanager_log(1));

    // Stop with a savepoint on S3, then restore at parallelism 3 with a third host.
    let (code, out, err) = cluster.cli("stop", &["-p", &s3.uri("savepoints"), &job]);
    assert_eq!(code, Some(0), "{out}{err}");
    let savepoint =
        out.lines().find_map(|l| l.strip_prefix("Savepoint completed. Path: ")).expect(&out).trim().to_string();
    assert!(savepoint.starts_with("s3://"), "{savepoint}");
    cluster.add_taskmanager_on("127.0.0.5", 1);
    let restore = ["-d", "-p", "3", "-s", &savepoint, jar, "--bootstrap.servers", &bootstrap, "--event-time"];
    let (code, out, err) = cluster.cli("run", &[&restore[..], &["--checkpointing"]].concat());
    assert_eq!(code, Some(0), "{out}{err}");
    let restored = job_id(&out);
    cluster.wait_for_all_tasks_running(&restored, Duration::from_secs(60));
    assert_eq!(subtask_hosts(&cluster, &restored), ["127.0.0.3", "127.0.0.4", "127.0.0.5"].map(String::from).into());
    read_windows(&bootstrap, "output", Windows::exactly(19), Duration::from_secs(120)).expect("every window once");
}

/// README "Beyond one machine": a TaskManager checks what it fetches against the hash it was
/// asked to run. After the JobManager's stored copy is corrupted (and the JobManager restarted
/// to read it), a new TaskManager refuses the bytes, and the job's exceptions say why.
#[test]
fn a_component_whose_bytes_do_not_match_its_hash_is_refused() {
    let mut cluster = Cluster::start(0, 1);
    cluster.add_taskmanager_on("127.0.0.2", 1);
    let jar = click_count_jar(cluster.dir.path());
    let args = ["-d", jar.to_str().expect("utf-8 path"), "--source", "datagen", "--datagen.rate", "100"];
    let (code, out, err) = cluster.cli("run", &[&args[..], &["--sink", "discard", "--checkpointing"]].concat());
    assert_eq!(code, Some(0), "{err}");
    let job = job_id(&out);
    let checkpointed = eventually(Duration::from_secs(30), || (cluster.checkpoints_completed(&job) >= 1).then_some(()));
    assert!(checkpointed.is_some(), "no checkpoint");

    cluster.kill_jobmanager();
    cluster.kill_taskmanager(0);
    let components = cluster.dir.path().join("jobmanager").join("components");
    let stored = std::fs::read_dir(&components)
        .expect("the JobManager's components")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "wasm"))
        .expect("a stored component");
    let mut bytes = std::fs::read(&stored).expect("read the component");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&stored, &bytes).expect("corrupt the component");

    cluster.start_jobmanager();
    cluster.add_taskmanager_on("127.0.0.3", 1);
    let refused = eventually(Duration::from_secs(60), || {
        let exceptions = cluster.get(&format!("/jobs/{job}/exceptions")).body;
        (exceptions.contains("fetched from the JobManager has content hash") && exceptions.contains("refused"))
            .then_some(exceptions)
    });
    assert!(
        refused.is_some(),
        "{}\n{}",
        cluster.get(&format!("/jobs/{job}/exceptions")).body,
        cluster.taskmanager_log(1)
    );
    assert!(
        !cluster.taskmanager_log(1).contains(FETCHED),
        "the corrupt copy was taken: {}",
        cluster.taskmanager_log(1)
    );
}
