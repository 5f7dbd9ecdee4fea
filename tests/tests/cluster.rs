//! The session cluster as a Flink user meets it: a JobManager and TaskManagers as processes,
//! jars uploaded and run over real HTTP (curl, as the playground guide does), jobs listed,
//! inspected and cancelled, with Flink's shapes and status codes.

use std::time::Duration;

use weir::builtin;
use weir_tests::*;

fn click_count_component(dir: &std::path::Path) -> std::path::PathBuf {
    // Uploaded under the playground's jar name: Weir takes .jar and .wasm names alike.
    let path = dir.join("ClickCountJob.jar");
    std::fs::write(&path, builtin::CLICK_EVENT_COUNT).expect("write the component");
    path
}

/// README "Walkthrough" (the cluster and the job, observing): a jar uploaded and run over REST is
/// listed, inspected with Flink's shapes and cancelled; `output` holds each window once at 1000.
#[test]
fn upload_run_list_inspect_and_cancel() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    generate(cluster.dir.path(), &bootstrap, "input", 36_000);
    let jar = cluster.upload(&click_count_component(cluster.dir.path()));
    assert!(jar.ends_with("_ClickCountJob.jar"), "{jar}");
    let jars = cluster.get("/jars").json();
    assert_eq!(jars["files"][0]["id"], jar.as_str());
    assert_eq!(jars["files"][0]["name"], "ClickCountJob.jar");

    let args = format!("--bootstrap.servers {bootstrap} --checkpointing --event-time");
    let job = cluster.run(&jar, serde_json::json!({ "programArgs": args }));
    assert_eq!(job.len(), 32);
    let overview = cluster.wait_for_state(&job, "RUNNING", Duration::from_secs(10));
    assert_eq!(overview["name"], "Click Event Count");
    let running = eventually(Duration::from_secs(20), || {
        let o = cluster.job_overview(&job);
        (o["tasks"]["running"] == 4).then_some(o)
    });
    assert!(running.is_some(), "tasks never all ran: {}", cluster.job_overview(&job));
    let jobs = cluster.get("/jobs").json();
    assert!(jobs["jobs"].as_array().unwrap().iter().any(|j| j["id"] == job.as_str() && j["status"] == "RUNNING"));

    let details = cluster.get(&format!("/jobs/{job}")).json();
    let names: Vec<&str> =
        details["vertices"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "Source: ClickEvent Source",
            "ClickEvent Counter",
            "ClickEventStatistics Sink: Writer",
            "ClickEventStatistics Sink: Committer"
        ]
    );
    assert!(
        details["vertices"].as_array().unwrap().iter().all(|v| v["parallelism"] == 1 && v["maxParallelism"] == 128)
    );
    let nodes = details["plan"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    let counter = nodes.iter().find(|n| n["description"] == "ClickEvent Counter").unwrap();
    assert_eq!(counter["inputs"][0]["ship_strategy"], "HASH");
    assert_eq!(counter["inputs"][0]["exchange"], "pipelined_bounded");
    assert_eq!(details["status-counts"]["RUNNING"], 4);
    assert!(details["timestamps"]["RUNNING"].as_i64().unwrap() > 0);
    let vertex = details["vertices"][1]["id"].as_str().unwrap().to_string();
    let v = cluster.get(&format!("/jobs/{job}/vertices/{vertex}")).json();
    assert_eq!(v["subtasks"][0]["status"], "RUNNING");
    assert_eq!(v["subtasks"][0]["host"], "127.0.0.1");
    // The same under /v1; no CORS header unless web.access-control-allow-origin allows other
    // origins (README, How Weir differs from Flink).
    let v1 = curl(&["-i", &cluster.url(&format!("/v1/jobs/{job}"))]);
    assert_eq!(v1.status, 200, "{}", v1.body);
    assert!(!v1.body.to_ascii_lowercase().contains("access-control-allow-origin"), "{}", v1.body);

    // 6 windows of input; 5 can close (no later event moves the watermark past the sixth).
    read_windows(&bootstrap, "output", Windows::exactly(5), Duration::from_secs(60)).expect("exact output");
    // Records flowed through the vertices' IO metrics (reported with heartbeats).
    let metrics = eventually(Duration::from_secs(10), || {
        let d = cluster.get(&format!("/jobs/{job}")).json();
        (d["vertices"][0]["metrics"]["write-records"].as_u64() == Some(36_000)).then_some(d)
    });
    assert!(metrics.is_some(), "{}", cluster.get(&format!("/jobs/{job}")).body);

    let cancel = curl(&["-X", "PATCH", &cluster.url(&format!("/jobs/{job}?mode=cancel"))]);
    assert_eq!((cancel.status, cancel.body.as_str()), (202, "{}"));
    let ended = cluster.wait_for_state(&job, "CANCELED", Duration::from_secs(20));
    assert_eq!(ended["tasks"]["canceled"], 4);
    let again = curl(&["-X", "PATCH", &cluster.url(&format!("/jobs/{job}?mode=cancel"))]);
    assert_eq!(again.status, 409, "{}", again.body);
    let overview = cluster.get("/overview").json();
    assert_eq!((overview["taskmanagers"].as_u64(), overview["slots-available"].as_u64()), (Some(1), Some(2)));
    assert_eq!(overview["jobs-cancelled"], 1);
}

/// README "Upgrading and rescaling": at parallelism 3 with one 2-slot TaskManager the job waits
/// ("2 available, 3 needed") until a second registers, then runs across both, counts exact.
#[test]
fn a_job_waits_for_slots_then_runs_across_two_taskmanagers() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut cluster = Cluster::start(1, 2);
    generate(cluster.dir.path(), &bootstrap, "input", 36_000);
    let jar = cluster.upload(&click_count_component(cluster.dir.path()));
    let job = cluster.run(
        &jar,
        serde_json::json!({ "programArgsList": ["--bootstrap.servers", bootstrap, "--event-time"], "parallelism": 3 }),
    );
    // 2 slots available, 3 needed: the job runs with its tasks scheduled. Once the scheduler
    // has said so it tries again only when slots change, so the tasks stay scheduled.
    let waiting = cluster.wait_for_state(&job, "RUNNING", Duration::from_secs(10));
    assert_eq!(waiting["tasks"]["scheduled"], 12, "{waiting}");
    let said = eventually(Duration::from_secs(20), || {
        let log = cluster.jobmanager_log();
        log.lines()
            .any(|l| l.contains("waiting for task slots: 2 available, 3 needed") && l.contains(&job))
            .then_some(())
    });
    assert!(said.is_some(), "the scheduler never said it waits for slots:\n{}", cluster.jobmanager_log());
    let overview = cluster.job_overview(&job);
    let scheduled = (overview["tasks"]["scheduled"].as_u64(), overview["tasks"]["total"].as_u64());
    assert_eq!(scheduled, (Some(12), Some(12)), "{overview}");

    cluster.add_taskmanager(2);
    let all_running = eventually(Duration::from_secs(30), || {
        let o = cluster.job_overview(&job);
        (o["tasks"]["running"] == 12).then_some(o)
    });
    assert!(all_running.is_some(), "{}", cluster.job_overview(&job));
    let details = cluster.get(&format!("/jobs/{job}")).json();
    let counter = details["vertices"][1]["id"].as_str().unwrap().to_string();
    let subtasks = cluster.get(&format!("/jobs/{job}/vertices/{counter}")).json();
    let tms: std::collections::BTreeSet<&str> =
        subtasks["subtasks"].as_array().unwrap().iter().map(|s| s["taskmanager-id"].as_str().unwrap()).collect();
    assert_eq!(tms.len(), 2, "subtasks run on both TaskManagers: {subtasks}");

    // Records cross between the two processes; every window that can close is there once at 1000.
    read_windows(&bootstrap, "output", Windows::exactly(5), Duration::from_secs(60)).expect("exact output");
    let overview = cluster.get("/overview").json();
    assert_eq!(
        (overview["taskmanagers"].as_u64(), overview["slots-total"].as_u64(), overview["slots-available"].as_u64()),
        (Some(2), Some(4), Some(1))
    );
}

#[test]
fn bad_requests_get_flinks_status_codes_and_clear_messages() {
    let cluster = Cluster::start(1, 1);
    let dir = cluster.dir.path();
    let post_file = |path: &std::path::Path| {
        let form = format!("jarfile=@{}", path.display());
        curl(&["-X", "POST", "-H", "Expect:", "-F", &form, &cluster.url("/jars/upload")])
    };
    // Not WebAssembly, though named like a jar, and larger than axum's default 2 MB limit.
    let fake = dir.join("big.jar");
    std::fs::write(&fake, vec![b'x'; 5 << 20]).unwrap();
    let answer = post_file(&fake);
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.json()["errors"][0].as_str().unwrap().contains("not a WebAssembly file"), "{}", answer.body);
    // A component of another world.
    let answer = post_file(&builtin::guest_path("not_a_job"));
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains("not a Weir job"), "{}", answer.body);
    // Wrong file type, no file.
    let txt = dir.join("notes.txt");
    std::fs::write(&txt, "hi").unwrap();
    assert!(post_file(&txt).body.contains("Only .wasm and .jar files are allowed."));
    let none = curl(&["-X", "POST", "-F", "field=value", &cluster.url("/jars/upload")]);
    assert_eq!(none.status, 400);
    assert!(none.body.contains("Exactly 1 file must be sent, received 0."), "{}", none.body);

    // A file name that tries to climb out of the jar directory stays inside it.
    let sneaky = dir.join("sneaky.wasm");
    std::fs::write(&sneaky, builtin::CLICK_EVENT_COUNT).unwrap();
    let form = format!("jarfile=@{};filename=../../escape.wasm", sneaky.display());
    let answer = curl(&["-X", "POST", "-H", "Expect:", "-F", &form, &cluster.url("/jars/upload")]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let stored = answer.json()["filename"].as_str().unwrap().to_string();
    assert!(
        stored.starts_with(dir.join("jobmanager").join("jars").to_str().unwrap()) && !stored.contains(".."),
        "{stored}"
    );
    let jar = stored.rsplit('/').next().unwrap().to_string();

    let run = |jar: &str, body: &str| curl(&["-X", "POST", "-d", body, &cluster.url(&format!("/jars/{jar}/run"))]);
    let unknown_jar = run("nope.jar", "{}");
    assert_eq!(unknown_jar.status, 400);
    assert!(unknown_jar.body.contains("File nope.jar does not exist"), "{}", unknown_jar.body);
    let malformed = run(&jar, "{not json");
    assert_eq!(malformed.status, 400);
    assert!(malformed.body.contains("Request did not match expected format JarRunRequestBody"), "{}", malformed.body);
    let unknown_field = run(&jar, r#"{"programArgz":"x"}"#);
    assert_eq!(unknown_field.status, 400, "{}", unknown_field.body);
    let bad_args = run(&jar, r#"{"programArgs":"--frobnicate"}"#);
    assert_eq!(bad_args.status, 400);
    assert!(bad_args.body.contains("unknown argument --frobnicate"), "{}", bad_args.body);
    for p in ["0", "-5", "\"three\""] {
        let bad_p = run(&jar, &format!(r#"{{"parallelism":{p}}}"#));
        assert_eq!(bad_p.status, 400, "parallelism {p}: {}", bad_p.body);
    }
    let too_parallel = run(&jar, r#"{"parallelism":200,"programArgs":"--source datagen --sink discard"}"#);
    assert_eq!(too_parallel.status, 400);
    assert!(too_parallel.body.contains("max parallelism 128"), "{}", too_parallel.body);

    let unknown_job = cluster.get("/jobs/0123456789abcdef0123456789abcdef");
    assert_eq!(unknown_job.status, 404);
    assert!(unknown_job.body.contains("Job 0123456789abcdef0123456789abcdef not found"));
    let cancel_unknown = curl(&["-X", "PATCH", &cluster.url("/jobs/0123456789abcdef0123456789abcdef?mode=cancel")]);
    assert_eq!(cancel_unknown.status, 404);
    assert_eq!(cluster.get("/jobs/not-a-job-id").status, 400);
    let route = cluster.get("/no/such/route");
    assert_eq!((route.status, route.json()["errors"][0].as_str()), (404, Some("Not found: /no/such/route")));
    assert_eq!(curl(&["-X", "DELETE", &cluster.url("/overview")]).status, 404);

    // An empty body is {}: the job runs with defaults (here a bounded datagen run).
    let answer = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
        "-d",
        "",
        &cluster.url(&format!("/jars/{jar}/run?programArg=--source,datagen,--datagen.count,600,--sink,discard")),
    ]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let job = answer.json()["jobid"].as_str().unwrap().to_string();
    cluster.wait_for_state(&job, "FINISHED", Duration::from_secs(30));
    assert_eq!(curl(&["-X", "DELETE", &cluster.url(&format!("/jars/{jar}"))]).status, 200);
    assert_eq!(curl(&["-X", "DELETE", &cluster.url(&format!("/jars/{jar}"))]).status, 400);
}

#[test]
fn a_restarted_jobmanager_keeps_jars_and_history() {
    let mut cluster = Cluster::start(1, 2);
    let jar = cluster.upload(&click_count_component(cluster.dir.path()));
    let job = cluster.run(
        &jar,
        serde_json::json!({ "programArgs": "--source datagen --datagen.count 6000 --sink discard --event-time" }),
    );
    cluster.wait_for_state(&job, "FINISHED", Duration::from_secs(30));
    cluster.stop_jobmanager();
    cluster.start_jobmanager();
    let jars = cluster.get("/jars").json();
    assert_eq!(jars["files"][0]["id"], jar.as_str());
    let overview = cluster.job_overview(&job);
    assert_eq!(overview["state"], "FINISHED");
    assert_eq!(overview["tasks"]["finished"], 4);
    // The TaskManager registers again with the new JobManager and takes new work.
    let registered =
        eventually(Duration::from_secs(20), || (cluster.get("/overview").json()["taskmanagers"] == 1).then_some(()));
    assert!(registered.is_some());
    let again =
        cluster.run(&jar, serde_json::json!({ "programArgs": "--source datagen --datagen.count 6000 --sink discard" }));
    cluster.wait_for_state(&again, "FINISHED", Duration::from_secs(30));
}

#[test]
fn the_flink_cli_prints_flinks_lines() {
    let cluster = Cluster::start(1, 2);
    let jm = format!("127.0.0.1:{}", cluster.rest_port);
    let jar = click_count_component(cluster.dir.path());
    let cli = |args: &[&str]| {
        let out = cluster.weir().args(args).output().expect("run weir");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, out, err) = cli(&[
        "run",
        "-m",
        &jm,
        "-d",
        jar.to_str().unwrap(),
        "--source",
        "datagen",
        "--datagen.rate",
        "100",
        "--sink",
        "discard",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let job = out.strip_prefix("Job has been submitted with JobID ").map(str::trim).expect(&out).to_string();
    assert_eq!(job.len(), 32);
    assert_eq!(out, format!("Job has been submitted with JobID {job}\n"));
    cluster.wait_for_state(&job, "RUNNING", Duration::from_secs(10));

    let (code, out, _) = cli(&["list", "-m", &jm]);
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Waiting for response...");
    assert_eq!(lines[1], "------------------ Running/Restarting Jobs -------------------");
    assert!(lines[2].ends_with(&format!(" : {job} : Click Event Count (RUNNING)")), "{out}");
    // dd.MM.yyyy HH:mm:ss
    let stamp = lines[2].split(" : ").next().unwrap();
    assert_eq!((stamp.len(), &stamp[2..3], &stamp[5..6], &stamp[13..14]), (19, ".", ".", ":"), "{stamp}");
    assert_eq!(lines[3], "-".repeat(62));
    assert_eq!(lines[4], "No scheduled jobs.");

    let (code, out, _) = cli(&["cancel", "-m", &jm, &job]);
    assert_eq!(code, Some(0));
    assert_eq!(out, format!("Cancelling job {job}.\nCancelled job {job}.\n"));
    cluster.wait_for_state(&job, "CANCELED", Duration::from_secs(20));
    let (_, out, _) = cli(&["list", "-m", &jm]);
    assert!(out.contains("No running jobs.") && out.contains("No scheduled jobs."), "{out}");
    let (_, out, _) = cli(&["list", "-a", "-m", &jm]);
    assert!(
        out.contains("---------------------- Terminated Jobs -----------------------") && out.contains("(CANCELED)"),
        "{out}"
    );

    // A cancelled job cannot be stopped: Flink's failure block with a clear cause.
    let (code, _, err) = cli(&["stop", "-m", &jm, &job]);
    assert_eq!(code, Some(1));
    assert!(err.contains("The program finished with the following exception:") && err.contains("is CANCELED"), "{err}");
    let (code, out, _) = cli(&["cancel", "-m", &jm, "not-a-job"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("Cannot parse JobID from \"not-a-job\""), "{out}");

    // Help and version, and the binary invoked as `flink`. As `weir`, a short help of every
    // action comes first; the full Flink text is one flag away.
    let (code, out, _) = cli(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("Weir: a stream-processing cluster"), "{out}");
    for action in ["run", "list", "stop", "cancel", "savepoint", "playground", "jobmanager", "taskmanager", "upgrade"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(action)), "no line for {action}: {out}");
    }
    assert!(out.lines().count() < 60, "the short help is short: {out}");
    assert!(out.contains("weir --flink-help"), "{out}");
    let (code, out, _) = cli(&["--flink-help"]);
    assert_eq!(code, Some(0));
    assert!(
        out.starts_with("./weir <ACTION> [OPTIONS] [ARGUMENTS]\n\nThe following actions are available:\n"),
        "{out}"
    );
    for header in [
        "Action \"run\" compiles and runs a program.",
        "Action \"list\" lists running and scheduled programs.",
        "Action \"cancel\" cancels a running program.",
        "Syntax: run [OPTIONS] <jar-file> <arguments>",
    ] {
        assert!(out.contains(header), "missing {header}");
    }
    // Options Weir cannot honour are refused, not ignored.
    for (args, says) in [
        (&["run", "-py", "job.py"][..], "-py,--python is not supported"),
        (&["run", "-C", "file:///x.jar", "job.wasm"][..], "-C,--classpath is not supported"),
        (&["run", "-m", "yarn-cluster", "job.wasm"][..], "YARN is not supported"),
    ] {
        let (code, out, err) = cli(args);
        assert_eq!(code, Some(1), "{args:?}");
        assert!(out.contains(says) || err.contains(says), "{args:?}: {out}{err}");
    }
    let link = cluster.dir.path().join("flink");
    std::os::unix::fs::symlink(weir_bin(), &link).unwrap();
    let out = std::process::Command::new(&link).args(["list", "-m", &jm]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Waiting for response...\n"));
    let out = std::process::Command::new(&link).arg("-h").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("./flink <ACTION> [OPTIONS] [ARGUMENTS]"));
    let out = std::process::Command::new(&link).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"frobnicate\" is not a valid action.")
            || String::from_utf8_lossy(&out.stderr).contains("\"frobnicate\" is not a valid action.")
    );
}

/// Uploads over `rest.server.max-content-length` (Flink's key; 100 MiB by default) are refused
/// with 413 and Flink's error shape before anything is stored; the cluster goes on.
#[test]
fn an_upload_over_the_limit_is_refused_with_413_and_nothing_is_stored() {
    let cluster = Cluster::start_with(1, 2, &["-Drest.server.max-content-length=65536"]);
    let jar = click_count_component(cluster.dir.path());
    assert!(std::fs::metadata(&jar).expect("the component").len() > 65_536);
    let form = format!("jarfile=@{}", jar.display());
    let answer = curl(&["-X", "POST", "-H", "Expect:", "-F", &form, &cluster.url("/jars/upload")]);
    assert_eq!(answer.status, 413, "{}", answer.body);
    let errors = answer.json()["errors"].to_string();
    assert!(errors.contains("limit of 65536 bytes") && errors.contains("rest.server.max-content-length"), "{errors}");
    assert_eq!(cluster.get("/jars").json()["files"], serde_json::json!([]));
    assert_eq!(cluster.get("/overview").status, 200);
}
