//! Bad components and misbehaving guests: each is refused or fails its job with an error that
//! names the operator and the cause, and the host goes on running jobs.

use std::time::{Duration, Instant};

use weir::builtin;
use weir_runtime::minicluster::{JobStatus, MiniCluster, SubmitError};
use weir_tests::*;
use weir_wasm::Limits;
use weir_wasm::cache::ComponentCache;

fn cluster() -> MiniCluster {
    // Tight limits keep the loop and memory-bomb cases quick.
    let limits = Limits { memory_bytes: 64 << 20, call_time: Duration::from_secs(1), ..Limits::default() };
    MiniCluster::new(limits, ComponentCache::disabled()).expect("a mini cluster")
}

fn test_job() -> Vec<u8> {
    std::fs::read(builtin::guest_path("test_job")).expect("the test job is built with the host")
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// Runs the test job with `--fail <mode>` and returns how it ended.
fn run_failing(cluster: &MiniCluster, mode: &str, parallelism: u32) -> String {
    let job = cluster.run(&test_job(), &args(&format!("--fail {mode}")), parallelism).expect("the job starts");
    match job.wait() {
        JobStatus::Failed(cause) => cause,
        other => panic!("--fail {mode} should fail the job, it ended {other:?}"),
    }
}

/// The host still runs a good job after a bad one.
fn assert_host_alive(cluster: &MiniCluster) {
    let job = cluster.run(&test_job(), &args("--count 5000"), 2).expect("a good job starts");
    assert_eq!(job.wait(), JobStatus::Finished);
}

#[test]
fn files_that_are_not_job_components_are_refused() {
    let cluster = cluster();
    let cases: [(&[u8], &str); 3] = [
        (b"PK\x03\x04 this is a jar, not wasm", "not a WebAssembly file"),
        (b"\0asm\x01\0\0\0", "a core WebAssembly module, not a component"),
        (b"\0asm\x0d\0\x01\0garbage", "invalid WebAssembly component"),
    ];
    for (bytes, expected) in cases {
        let error = cluster.load(bytes).expect_err("refused");
        assert!(error.to_string().contains(expected), "{error}");
    }
    let other = std::fs::read(builtin::guest_path("not_a_job")).expect("built");
    let error = cluster.load(&other).expect_err("a component of another world is refused").to_string();
    assert!(
        error.contains("not a Weir job")
            && error.contains("weir:job/plan@0.1.0")
            && error.contains("test:other/greeter"),
        "{error}"
    );
    assert_host_alive(&cluster);
}

#[test]
fn a_trap_names_the_operator_and_the_cause() {
    let cluster = cluster();
    let cause = run_failing(&cluster, "trap", 1);
    assert!(cause.contains("Misbehave (1/1)") && cause.contains("unreachable"), "{cause}");
    assert_host_alive(&cluster);
}

#[test]
fn a_panic_reports_its_message() {
    let cluster = cluster();
    let cause = run_failing(&cluster, "panic", 1);
    assert!(cause.contains("Misbehave") && cause.contains("boom from the test job"), "{cause}");
    assert_host_alive(&cluster);
}

#[test]
fn an_endless_loop_hits_the_time_limit() {
    let cluster = cluster();
    let started = Instant::now();
    let cause = run_failing(&cluster, "loop", 1);
    assert!(cause.contains("Misbehave") && cause.contains("time limit of 1s"), "{cause}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_host_alive(&cluster);
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let cluster = cluster();
    let cause = run_failing(&cluster, "oom", 1);
    assert!(cause.contains("Misbehave") && cause.contains("memory limit of 64 MiB"), "{cause}");
    assert_host_alive(&cluster);
}

#[test]
fn an_error_returned_by_the_guest_fails_the_job() {
    let cluster = cluster();
    let cause = run_failing(&cluster, "error", 2);
    assert!(cause.contains("Misbehave") && cause.contains("the test job refuses this batch"), "{cause}");
    // A subtask cancelled while it is still opening is CANCELED, not the root cause (it once
    // was, when the failure beside it came first).
    let started = Instant::now();
    let cause = run_failing(&cluster, "error-beside-slow-open --duration-ms 60000", 2);
    assert!(cause.contains("Misbehave (2/2)") && cause.contains("the test job refuses this batch"), "{cause}");
    assert!(started.elapsed() < Duration::from_secs(30), "the sleeping subtask was not cancelled");
}

#[test]
fn keyed_state_is_confined_to_the_subtasks_key_groups() {
    let cluster = cluster();
    // At parallelism 2, "/help" (key group 111) belongs to subtask 2/2; subtask 1/2 may not touch it.
    let cause = run_failing(&cluster, "foreign-key", 2);
    assert!(cause.contains("Keyed (1/2)") && cause.contains("key group 111") && cause.contains("0..=63"), "{cause}");
    let cause = run_failing(&cluster, "unkeyed-state", 1);
    assert!(cause.contains("Misbehave") && cause.contains("not partitioned by key"), "{cause}");
}

#[test]
fn failures_while_planning_and_opening() {
    let cluster = cluster();
    let component = cluster.load(&test_job()).expect("loads");
    let error = cluster.plan(&component, &args("--fail trap --fail-in plan"), 1).expect_err("the plan traps");
    assert!(
        error.to_string().contains("the job's plan failed") && error.to_string().contains("unreachable"),
        "{error}"
    );
    let error = cluster.plan(&component, &args("--fail error --fail-in plan"), 1).expect_err("the plan refuses");
    assert!(error.to_string().contains("invalid program arguments"), "{error}");
    let error = cluster.plan(&component, &args("--fail sideways"), 1).expect_err("bad argument");
    assert!(error.to_string().contains("invalid value 'sideways' for --fail"), "{error}");
    let cause = run_failing(&cluster, "panic --fail-in open", 1);
    assert!(cause.contains("Misbehave") && cause.contains("boom"), "{cause}");
    // Parallelism beyond the number of key groups is refused before anything starts.
    let error = cluster.run(&test_job(), &[], 129).err().expect("refused");
    assert!(matches!(error, SubmitError::Plan(_)) && error.to_string().contains("max parallelism 128"), "{error}");
}

/// A cancel wakes a guest sleeping in `time.sleep`: the job ends within the sleep it was in.
#[test]
fn a_sleeping_guest_is_cancelled_promptly() {
    let cluster = cluster();
    let job = cluster.run(&test_job(), &args("--fail sleep --count 100000000"), 2).expect("starts");
    // The guest sleeps 1 s per call and its input never runs out. A call's time is added to the
    // busy time when it returns, so once one sleep is done, the moment the busy time grows
    // again a new call, and its 1 s sleep, has just begun.
    let busy = || {
        let metrics = job.metrics();
        let misbehave = metrics.vertices.iter().find(|v| v.name == "Misbehave").expect("the Misbehave vertex");
        misbehave.subtasks[0].busy_time_ns.get()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while busy() < 1_000_000_000 {
        assert!(Instant::now() < deadline, "the guest never finished a sleep");
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = busy();
    let mut last_read = Instant::now();
    loop {
        let read_at = Instant::now();
        if busy() > before {
            break;
        }
        last_read = read_at;
        assert!(Instant::now() < deadline, "the guest's busy time stopped growing");
        std::thread::sleep(Duration::from_millis(2));
    }
    // The new sleep began after `last_read`: left alone, the job could not end before
    // `last_read` + 1 s.
    let cancelled = Instant::now();
    job.cancel();
    assert_eq!(job.wait(), JobStatus::Canceled);
    let (since_sleep, since_cancel) = (last_read.elapsed(), cancelled.elapsed());
    assert!(
        since_sleep < Duration::from_secs(1),
        "the job ended {since_sleep:?} into a 1 s sleep ({since_cancel:?} after the cancel): the sleep ran out"
    );
}

#[test]
fn the_cli_reports_guest_failures_and_exits_1() {
    let dir = temp_dir();
    let path = builtin::guest_path("test_job");
    let out = weir_output(dir.path(), &["run-local", path.to_str().expect("utf-8 path"), "--fail", "trap"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: the job failed")
            && stderr.contains("Misbehave (1/1)")
            && stderr.contains("unreachable"),
        "{stderr}"
    );
    let out = weir_output(dir.path(), &["run-local", "/no/such/job.wasm"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read job component '/no/such/job.wasm'"));
}

/// README "How Weir differs": "A guest has no files, network or environment" — neither in an
/// operator nor in its plan.
#[test]
fn guests_see_no_files_network_or_environment() {
    let cluster = cluster();
    let dir = temp_dir();
    let file = dir.path().join("readable-by-the-host.txt");
    std::fs::write(&file, "the host can read this").expect("write a file");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    listener.set_nonblocking(true).expect("a non-blocking listener");
    let address = listener.local_addr().expect("the listener's address");
    assert!(std::env::vars_os().count() > 0, "the host has an environment to hide");
    let probe = format!("probe --probe-file {} --probe-address {address}", file.display());
    let check = |report: &str| {
        for refused in ["file=refused", "root=refused", "here=refused", "tcp=refused", "udp=refused", "dns=refused"] {
            assert!(report.contains(refused), "{refused} is not in: {report}");
        }
        assert!(report.contains("env-vars=0") && report.contains("args=0"), "{report}");
    };
    check(&run_failing(&cluster, &probe, 1));
    let component = cluster.load(&test_job()).expect("loads");
    let error =
        cluster.plan(&component, &args(&format!("--fail {probe} --fail-in plan")), 1).expect_err("the probe fails");
    check(&error.to_string());
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a guest connected to the host's listener"
    );
}

/// README "How Weir differs": the time limit per call is "10 s of compute; time sleeping or
/// waiting on backpressure does not count".
#[test]
fn sleeping_and_waiting_on_backpressure_do_not_count_toward_the_call_time_limit() {
    // The limit is 1 s a call; each guest's one call takes 2.5 s.
    let cluster = cluster();
    let run = |mode: &str| {
        cluster.run(&test_job(), &args(&format!("--fail {mode} --duration-ms 2500 --count 1")), 1).expect("starts")
    };
    // Sleeps 2.5 s in steps of 250 ms.
    let sleeper = run("sleep");
    // Emits 4 MiB to a keyed operator that sleeps 2.5 s on its first batch: the call waits
    // for room downstream.
    let flooder = run("flood");
    // Computes for 2.5 s.
    let spinner = run("spin");
    let (slept, flooded) = (sleeper.metrics().clone(), flooder.metrics().clone());
    assert_eq!(sleeper.wait(), JobStatus::Finished);
    assert_eq!(flooder.wait(), JobStatus::Finished);
    match spinner.wait() {
        JobStatus::Failed(cause) => {
            assert!(cause.contains("Misbehave") && cause.contains("time limit of 1s"), "{cause}")
        }
        other => panic!("computing past the limit should fail the job, it ended {other:?}"),
    }
    // The guests' own measure of their longest call, against the 1 s limit.
    let longest = slept.sum("Misbehave", "longestCallMs");
    assert!(longest >= 2_500.0, "the sleeping call took {longest} ms");
    let longest = flooded.sum("Misbehave", "longestCallMs");
    let waited = flooded.sum("Misbehave", "accumulatedBackPressuredTimeMs");
    assert!(longest >= 2_000.0 && waited >= 1_500.0, "the flooding call took {longest} ms, {waited} ms of it waiting");
}

/// README "How Weir differs": "a memory limit (256 MiB) and a time limit per call (10 s of
/// compute)" — the defaults, on a TaskManager and in `weir run-local`, without custom limits.
#[test]
fn the_default_sandbox_limits_hold() {
    let cluster = Cluster::start(1, 2);
    let job = guest_component(cluster.dir.path(), "test_job", "test-job.wasm");
    let submit = |mode: &str| {
        let (code, out, err) = cluster.cli("run", &["-d", &job, "--fail", mode]);
        assert_eq!(code, Some(0), "{out}{err}");
        out.trim().rsplit(' ').next().expect("a job id").to_string()
    };
    let (oom, endless) = (submit("oom"), submit("loop"));
    // While the endless loop uses up its 10 s.
    let local = cluster.weir().args(["run-local", &job, "--fail", "oom"]).output().expect("run weir run-local");
    cluster.wait_for_state(&oom, "FAILED", Duration::from_secs(60));
    cluster.wait_for_state(&endless, "FAILED", Duration::from_secs(60));
    // The root cause is the guest's own failure, not a task that failed only because the
    // guest's task went away (the JobManager prefers a cause over its consequences).
    let root = |job: &str| {
        let exceptions = cluster.get(&format!("/jobs/{job}/exceptions")).json();
        exceptions["root-exception"].as_str().unwrap_or_default().to_string()
    };
    let (oom_root, endless_root) = (root(&oom), root(&endless));
    assert!(oom_root.contains("memory limit of 256 MiB"), "{oom_root}");
    assert!(endless_root.contains("time limit of 10s"), "{endless_root}");
    let stderr = String::from_utf8_lossy(&local.stderr);
    assert_eq!(local.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("memory limit of 256 MiB"), "{stderr}");
}
