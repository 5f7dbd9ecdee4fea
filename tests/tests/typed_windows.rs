//! The typed API's windows end to end: session windows (`SessionWindows::with_gap`) in
//! `weir run-local` at parallelism 2, the `session-job` test component's sessions checked
//! against a reference computed here (the operator's own cases are in
//! host/test-harness/tests/sessions.rs).

use std::collections::BTreeMap;

use weir_tests::*;

/// What `session-job` generates: the `i`-th record goes to `user-{i % 3}` at
/// `i * step + (i / burst) * pause`.
fn records(events: i64, step: i64, burst: i64, pause: i64) -> Vec<(String, i64)> {
    (0..events).map(|i| (format!("user-{}", i % 3), i * step + i / burst * pause)).collect()
}

/// Each user's sessions as `(user,start,end,count)`: a record at `t` opens `[t, t + gap)`, and
/// windows that overlap or touch merge (Flink's `TimeWindow.intersects`).
fn sessions(records: &[(String, i64)], gap: i64) -> Vec<String> {
    let mut by_user: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (user, time) in records {
        by_user.entry(user).or_default().push(*time);
    }
    let mut out = Vec::new();
    for (user, mut times) in by_user {
        times.sort();
        let mut current: Option<(i64, i64, u64)> = None;
        for t in times {
            current = match current {
                Some((start, end, count)) if t <= end => Some((start, end.max(t + gap), count + 1)),
                other => {
                    if let Some((start, end, count)) = other {
                        out.push(format!("({user},{start},{end},{count})"));
                    }
                    Some((t, t + gap, 1))
                }
            };
        }
        if let Some((start, end, count)) = current {
            out.push(format!("({user},{start},{end},{count})"));
        }
    }
    out.sort();
    out
}

#[test]
fn session_windows_merge_each_users_records_within_the_gap_at_parallelism_2() {
    let dir = temp_dir();
    let job = guest_component(dir.path(), "session_job", "session_job.wasm");
    let (events, step, burst, pause) = (60, 700, 12, 10_000);
    // Each user has a record every 2100 ms within a burst: a gap of 2500 makes one session per
    // burst, 2100 too (touching windows merge), 2000 a session per record.
    for gap in [2500, 2100, 2000] {
        let args = [
            "run-local",
            "-p",
            "2",
            "--progress-interval",
            "0",
            &job,
            "--events",
            "60",
            "--step",
            "700",
            "--burst",
            "12",
            "--pause",
            "10000",
            "--gap",
            &gap.to_string(),
        ]
        .map(String::from);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = weir_output(dir.path(), &args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
        let mut got: Vec<String> = stdout.lines().filter(|l| l.starts_with("(user-")).map(String::from).collect();
        got.sort();
        let expected = sessions(&records(events, step, burst, pause), gap);
        assert_eq!(got, expected, "gap {gap}");
        let per_user = expected.len() / 3;
        match gap {
            2500 | 2100 => assert_eq!(per_user, 5, "one session per burst: {expected:?}"),
            _ => assert_eq!(expected.len(), 60, "one session per record: {expected:?}"),
        }
    }
}
