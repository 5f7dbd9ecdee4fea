//! `weir playground`, the README's main command: one process brings up a broker, a JobManager,
//! a TaskManager (its own process), the generator and the job; Ctrl-C stops all of it.

use std::time::Duration;

use weir_tests::*;

/// README "The two commands": `weir playground` brings up broker, cluster, generator and job,
/// whose windows are in `output` once each at 1000; Ctrl-C stops all of it.
#[test]
fn the_playground_runs_the_job_and_stops_cleanly() {
    let dir = temp_dir();
    let (kafka, rest, rpc) = (free_port(), free_port(), free_port());
    let data = dir.path().join("playground");
    let mut playground = WeirProcess::spawn(
        &dir.path().join("cache"),
        &[
            "playground",
            "--kafka-port",
            &kafka.to_string(),
            "--rest-port",
            &rest.to_string(),
            "--rpc-port",
            &rpc.to_string(),
            "--rate",
            "6000",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        dir.path().join("playground.log"),
    );
    let up =
        eventually(Duration::from_secs(60), || playground.output().contains("Ctrl-C stops everything.").then_some(()));
    assert!(up.is_some(), "{}", playground.output());
    let out = playground.output();
    let pid: i32 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("TaskManager"))
        .and_then(|l| l.trim().strip_prefix("PID "))
        .and_then(|l| l.split(',').next())
        .and_then(|p| p.parse().ok())
        .expect(&out);

    let overview = curl(&[&format!("http://127.0.0.1:{rest}/overview")]).json();
    assert_eq!((overview["taskmanagers"].as_u64(), overview["slots-total"].as_u64()), (Some(1), Some(2)), "{overview}");
    let jobs = curl(&[&format!("http://127.0.0.1:{rest}/jobs/overview")]).json();
    assert_eq!(jobs["jobs"][0]["name"], "Click Event Count");
    assert_eq!(jobs["jobs"][0]["state"], "RUNNING");

    // The job runs on while it is read: windows 0 to at least 1, each once, every page at 1000.
    read_windows(&format!("127.0.0.1:{kafka}"), "output", Windows::at_least(2), Duration::from_secs(60))
        .expect("exact output");

    assert_eq!(playground.stop(), Some(0), "{}", playground.output());
    // SAFETY: signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    assert!(!alive, "the TaskManager {pid} outlived the playground");
}
