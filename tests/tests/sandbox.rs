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
    let limits = Limits { memory_bytes: 64 << 20, call_time: Duration::from_secs(1) };
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

#[test]
fn a_sleeping_guest_is_cancelled_promptly() {
    let cluster = cluster();
    let job = cluster.run(&test_job(), &args("--fail sleep --count 100000000"), 2).expect("starts");
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    job.cancel();
    assert_eq!(job.wait(), JobStatus::Canceled);
    assert!(started.elapsed() < Duration::from_secs(3), "cancelling took {:?}", started.elapsed());
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
