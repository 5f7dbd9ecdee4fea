//! Issue 22, point 3: hostile guests against a real cluster (a JobManager and a TaskManager
//! process, driven over REST). Each attack on what a guest makes the host hold (huge log lines
//! and output, a huge failure message, huge metric names, timers, keyed-state values and
//! batches, oversized plans) is refused or cut with an error naming the operator, the limit and
//! its configuration key; the processes stay up with their memory within the guest's budget plus
//! a bounded overhead, their log files within rotation, the TaskManager registered; and a good
//! job runs afterwards on the same slot.

use std::path::Path;
use std::time::Duration;

use weir_tests::*;

/// What a process may grow by during an attack: the guest's memory limit (256 MiB) plus a
/// bounded overhead (the host's transient copy of one guest argument, allocator slack). Each
/// attack uncapped grew a process by 1 GiB or more.
const RSS_ALLOWANCE: u64 = 640 << 20;

/// The largest REST answer a failed plan may give: the failure cap (64 KiB) plus eight
/// remembered guest lines of at most 16 KiB, with room for the JSON around them.
const ANSWER_BOUND: usize = 512 << 10;

fn hostile(cluster: &Cluster) -> String {
    let path = guest_component(cluster.dir.path(), "hostile_job", "hostile-job.wasm");
    cluster.upload(Path::new(&path))
}

/// What the cluster was before the attacks: its one TaskManager and both processes' memory.
struct Before {
    taskmanager: String,
    rss: (u64, u64),
}

impl Before {
    fn of(cluster: &Cluster) -> Before {
        let ids = taskmanager_ids(cluster);
        let rss = (
            rss_bytes(cluster.jobmanager_pid()).expect("the JobManager runs"),
            rss_bytes(cluster.taskmanager_pid(0)).expect("the TaskManager runs"),
        );
        Before { taskmanager: ids.into_iter().next().expect("a TaskManager"), rss }
    }

    /// The processes are alive, within their allowance, and the TaskManager is still the one
    /// that registered at the start.
    fn assert_healthy(&self, cluster: &Cluster, after: &str) {
        let jm = rss_bytes(cluster.jobmanager_pid()).unwrap_or_else(|| panic!("the JobManager died after {after}"));
        let tm = rss_bytes(cluster.taskmanager_pid(0)).unwrap_or_else(|| panic!("the TaskManager died after {after}"));
        assert!(jm <= self.rss.0 + RSS_ALLOWANCE, "after {after} the JobManager holds {} MiB", jm >> 20);
        assert!(tm <= self.rss.1 + RSS_ALLOWANCE, "after {after} the TaskManager holds {} MiB", tm >> 20);
        let ids = taskmanager_ids(cluster);
        assert_eq!(
            ids,
            [self.taskmanager.as_str()],
            "after {after} the TaskManager was dropped:\n{}",
            cluster.jobmanager_log()
        );
    }
}

fn taskmanager_ids(cluster: &Cluster) -> Vec<String> {
    cluster.get("/taskmanagers").json()["taskmanagers"]
        .as_array()
        .map(|tms| tms.iter().filter_map(|t| t["id"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

#[test]
fn hostile_plans_are_refused_with_a_bounded_answer() {
    let cluster = Cluster::start(1, 1);
    let jar = hostile(&cluster);
    let before = Before::of(&cluster);
    let cases: [(&str, &[&str]); 7] = [
        // Eight 40 MiB error logs, then the plan panics: the messages are cut, and what the
        // answer repeats of them is too.
        ("--attack log --in plan", &["the guest trapped", "more bytes cut: weir.guest.log.max-message-size"]),
        (
            "--attack failure --in plan",
            &["hostile failure message", "more bytes cut: weir.guest.max-failure-message-size"],
        ),
        ("--attack counters --in plan", &["plan: a metric name", "weir.guest.metrics.max-name-length"]),
        ("--attack print --in plan", &["the guest trapped", "more bytes cut: weir.guest.log.max-message-size"]),
        ("--attack plan-names", &["the name of operator 'numbers'", "weir.plan.max-string-size"]),
        (
            "--attack plan-operators",
            &["100003 operators exceeds the limit of 1000 operators", "weir.plan.max-operators"],
        ),
        ("--attack plan-subtasks", &["subtasks exceeds the limit of 10000", "weir.plan.max-subtasks"]),
    ];
    for (args, expected) in cases {
        let answer = cluster.curl(&[
            "-X",
            "POST",
            "-d",
            &serde_json::json!({ "programArgs": args }).to_string(),
            &cluster.url(&format!("/jars/{jar}/run")),
        ]);
        let shown: String = answer.body.chars().take(2000).collect();
        assert_eq!(answer.status, 400, "{args}: {shown}");
        assert!(answer.body.len() <= ANSWER_BOUND, "{args}: a {}-byte answer: {shown}", answer.body.len());
        for text in expected {
            assert!(answer.body.contains(text), "{args}: no '{text}' in {shown}");
        }
        before.assert_healthy(&cluster, args);
    }
    let log_dir = cluster.dir.path().join("jobmanager").join("log");
    assert_logs_within_rotation(&log_dir);
    cluster.run_good_job(1);
}

/// Every log file in `dir` within its rotation size (10 MiB by default, plus one cut line).
fn assert_logs_within_rotation(dir: &Path) {
    let files: Vec<_> = std::fs::read_dir(dir).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(!files.is_empty(), "no log files in {}", dir.display());
    for file in files {
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        assert!(size <= (10 << 20) + (64 << 10), "{} has {size} bytes", file.path().display());
    }
}

#[test]
fn hostile_tasks_fail_with_their_cause_and_the_taskmanager_lives_on() {
    let cluster = Cluster::start(1, 1);
    let jar = hostile(&cluster);
    let before = Before::of(&cluster);
    let cases = [
        // 64 MiB of control characters, six-fold in JSON: over the RPC frame uncut.
        ("failure", vec!["Attack", "hostile failure message", "more bytes cut: weir.guest.max-failure-message-size"]),
        ("timers", vec!["Attack", "a timer's namespace: 4096 bytes", "weir.guest.timers.max-namespace-size"]),
        ("counters", vec!["Attack", "a metric name: 104857600 bytes", "weir.guest.metrics.max-name-length"]),
        ("state", vec!["Attack", "a keyed-state value: 67108864 bytes", "weir.guest.state.max-value-size"]),
        ("emit", vec!["Attack", "a record batch emitted in one call", "weir.guest.emit.max-batch-size"]),
    ];
    for (attack, expected) in cases {
        let job = cluster.run(&jar, serde_json::json!({ "programArgs": format!("--attack {attack}") }));
        cluster.wait_for_state(&job, "FAILED", Duration::from_secs(120));
        let root = cluster.root_exception(&job);
        let shown: String = root.chars().take(2000).collect();
        for text in expected {
            assert!(root.contains(text), "{attack}: no '{text}' in the root cause {shown}");
        }
        assert!(root.len() <= 256 << 10, "{attack}: a root cause of {} bytes", root.len());
        before.assert_healthy(&cluster, attack);
    }
    cluster.run_good_job(1);
}

#[test]
fn hostile_output_is_cut_and_rate_limited_and_the_logs_stay_within_rotation() {
    let log_dir = temp_dir();
    let option = format!("-Denv.log.dir={}", log_dir.path().display());
    let cluster = Cluster::start_everywhere(1, 1, &[&option]);
    let jar = hostile(&cluster);
    let before = Before::of(&cluster);
    for attack in ["log", "print", "log-flood"] {
        let job = cluster.run(&jar, serde_json::json!({ "programArgs": format!("--attack {attack}") }));
        cluster.wait_for_state(&job, "RUNNING", Duration::from_secs(60));
        // Long enough for dozens of calls, each trying to log 320 MiB or 100,000 lines.
        std::thread::sleep(Duration::from_secs(8));
        assert_eq!(cluster.job_overview(&job)["state"], "RUNNING", "{attack}: {}", cluster.root_exception(&job));
        before.assert_healthy(&cluster, attack);
        let cancel = cluster.curl(&["-X", "PATCH", &cluster.url(&format!("/jobs/{job}?mode=cancel"))]);
        assert_eq!(cancel.status, 202, "{}", cancel.body);
        cluster.wait_for_state(&job, "CANCELED", Duration::from_secs(60));
    }
    assert_logs_within_rotation(log_dir.path());
    let logged: String = std::fs::read_dir(log_dir.path())
        .map(|d| d.flatten().filter_map(|f| std::fs::read_to_string(f.path()).ok()).collect())
        .unwrap_or_default();
    assert!(logged.contains("more bytes cut: weir.guest.log.max-message-size"), "no cut line logged");
    assert!(
        logged.contains("guest log messages dropped: more than 1000 per second (weir.guest.log.max-lines-per-second)"),
        "no dropped-lines summary logged"
    );
    cluster.run_good_job(1);
}

/// A map state bigger than the instance's memory budget is not read back whole: `entries` fails
/// the task naming the budget and its key, and the TaskManager lives on.
#[test]
fn a_map_bigger_than_the_memory_budget_is_refused_not_read() {
    let cluster = Cluster::start_everywhere(1, 1, &["-Dweir.wasm.memory-limit=32 mb"]);
    let jar = hostile(&cluster);
    let before = Before::of(&cluster);
    let job = cluster.run(&jar, serde_json::json!({ "programArgs": "--attack map" }));
    cluster.wait_for_state(&job, "FAILED", Duration::from_secs(120));
    let root = cluster.root_exception(&job);
    for text in ["Attack", "the entries of map state 'hoard' add up to more than 32 MiB", "weir.wasm.memory-limit"] {
        assert!(root.contains(text), "no '{text}' in the root cause {root}");
    }
    before.assert_healthy(&cluster, "map");
    cluster.run_good_job(1);
}
