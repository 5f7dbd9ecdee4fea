//! The web UI in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`,
//! installed by `tests/run`) driven over WebDriver by `tests/web_ui.py` (selenium, installed
//! into the test virtualenv by `tests/run`) against a running cluster of JobManager and
//! TaskManager processes. Screenshots of the job page are kept under
//! `target/web-ui/job-page.png`, and of the hot-swap upgrade done through it (version 1.1 of the
//! component) under `target/web-ui/upgrade-plan.png`, `upgrade.png` and `upgrade-operators.png`;
//! `tests/web_ui_views.py` checks what the dashboard shows of a job under backpressure, of a
//! failed job and of the managers, with a screenshot under `target/web-ui/backpressure.png`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use weir_tests::*;

/// A light job: the built-in click generator at 200 events per second, event time (so there
/// are watermarks to show), checkpoints every second (so there are checkpoints to plot),
/// discarding its results.
const PROGRAM_ARGS: &str = "--source datagen --datagen.rate 200 --event-time --checkpointing --sink discard";

fn installed(path: &str) -> String {
    assert!(Path::new(path).exists(), "{path} is missing: tests/run installs Debian's chromium and chromium-driver");
    path.to_string()
}

/// Runs a browser script to its end and returns what it saw (its last JSON line); fails the test,
/// with its log and the JobManager's, when it failed. Kills it when it is still running after
/// five minutes (each of its steps has a deadline of its own, so that means it hung).
fn run_browser_script(cluster: &Cluster, command: &mut Command) -> serde_json::Value {
    let limit = Duration::from_secs(300);
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the browser test (tests/run installs selenium into the test virtualenv)");
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = match finished.recv_timeout(limit) {
        Ok(output) => output,
        Err(_) => {
            // SAFETY: kill(2) on our own child, not yet reaped: its waiter has not answered.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            finished.recv_timeout(Duration::from_secs(30)).expect("the killed browser test to end")
        }
    };
    let out = output.expect("the browser test's output");
    let said = String::from_utf8_lossy(&out.stderr);
    eprintln!("{said}");
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{said}\nJobManager log:\n{}",
        out.status,
        cluster.jobmanager_log()
    );
    script_result(&out)
}

/// The last JSON line a browser script printed: what it saw.
fn script_result(out: &Output) -> serde_json::Value {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the browser test's result line")
}

/// README, "Seeing the cluster" and "Hot-swap upgrade": the web UI shows the cluster overview,
/// the TaskManagers' slots, a job's graph with live records, its subtasks and checkpoints, and
/// upgrades, stops with a savepoint, submits and cancels jobs; checked in Chromium against the
/// REST API.
#[test]
fn the_web_ui_shows_the_cluster_and_submits_and_cancels_jobs_in_chromium() {
    let chromium = installed("/usr/bin/chromium");
    let chromedriver = installed("/usr/bin/chromedriver");
    let cluster = Cluster::start(1, 2);
    let component = click_count_jar(cluster.dir.path());
    // Version 1.1, which the UI upgrades the running job to (its file name is what the page shows).
    let upgrade = cluster.dir.path().join("click_event_count_v1_1.wasm");
    std::fs::copy(weir::builtin::guest_path("click_event_count_v1_1"), &upgrade).expect("copy the v1.1 component");
    // A job started over REST, which the UI must show running.
    let jar = cluster.upload(&component);
    let job = cluster.run(&jar, serde_json::json!({ "programArgs": PROGRAM_ARGS }));
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));

    let artifacts = target_dir().join("web-ui");
    std::fs::create_dir_all(&artifacts).expect("the artifact directory");
    let screenshot: PathBuf = artifacts.join("job-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let upgrade_screenshot = artifacts.join("upgrade.png");
    let _ = std::fs::remove_file(&upgrade_screenshot);
    let _ = std::fs::remove_file(artifacts.join("upgrade-plan.png"));
    let _ = std::fs::remove_file(artifacts.join("upgrade-operators.png"));
    let savepoints = cluster.dir.path().join("savepoints");
    let browser_dir = cluster.dir.path().join("chromium");
    std::fs::create_dir_all(&browser_dir).expect("a fresh Chromium profile directory");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("web_ui.py");
    // Every step waits at most 45 s (the upgrade and the savepoint 90 s); the whole run is
    // bounded too.
    let result = run_browser_script(
        &cluster,
        Command::new(python())
            .arg(&script)
            .args(["--url", &cluster.url("/"), "--job", &job])
            .args(["--component", component.to_str().expect("utf-8 path"), "--program-args", PROGRAM_ARGS])
            .args(["--upgrade-component", upgrade.to_str().expect("utf-8 path")])
            .args(["--screenshot", screenshot.to_str().expect("utf-8 path")])
            .args(["--savepoint-dir", savepoints.to_str().expect("utf-8 path")])
            .args(["--user-data-dir", browser_dir.to_str().expect("utf-8 path")])
            .args(["--chromium", &chromium, "--chromedriver", &chromedriver]),
    );
    println!("screenshot of the job page: {}", screenshot.display());
    eprintln!("screenshot of the job page: {}", screenshot.display());
    assert!(std::fs::metadata(&screenshot).map(|m| m.len() > 10_000).unwrap_or(false), "no screenshot");
    eprintln!("screenshot of the upgraded job: {}", upgrade_screenshot.display());
    assert!(std::fs::metadata(&upgrade_screenshot).map(|m| m.len() > 10_000).unwrap_or(false), "no upgrade screenshot");

    // What the UI did, as the REST API sees it.
    let ui_job = result["uiJob"].as_str().expect("the job submitted through the UI").to_string();
    let submitted = cluster.job_overview(&ui_job);
    assert_eq!(submitted["state"], "CANCELED", "{submitted}");
    let config = cluster.get(&format!("/jobs/{ui_job}/config")).json();
    assert_eq!(config["execution-config"]["user-config"]["program-args"], PROGRAM_ARGS);
    let jars = cluster.get("/jars").json();
    // The job's component, version 1.1 for the upgrade, and the one the UI uploaded.
    assert_eq!(jars["files"].as_array().map(Vec::len), Some(3), "the UI uploaded the component: {jars}");
    // The upgrade confirmed in the page swapped the counter's code in place.
    let message = result["upgradeMessage"].as_str().unwrap_or_default();
    assert_eq!(result["upgradeKind"], "success", "the UI showed: {message}");
    assert!(message.starts_with("Upgrade SWAPPED at checkpoint "), "{message}");
    let history = cluster.get(&format!("/jobs/{job}/upgrades")).json();
    let upgrades = history["upgrades"].as_array().cloned().unwrap_or_default();
    assert_eq!(upgrades.len(), 2, "exactly the upgrade and the rescale confirmed in the page: {history}");
    let (rescale, upgrade) = (&upgrades[0]["operation"], &upgrades[1]["operation"]);
    assert_eq!(upgrade["result"], "SWAPPED", "{history}");
    assert_eq!(upgrade["component"]["name"], "click_event_count_v1_1.wasm", "{history}");
    assert!(message.contains(&format!("checkpoint {} ", upgrade["checkpoint-id"])), "{message}\n{history}");
    // The rescale confirmed in the page: every operator but the datagen source (refused first,
    // with the reason) at parallelism 2, the upgraded code kept.
    assert!(result["rescaleRefusal"].as_str().unwrap_or_default().contains("datagen"), "{result}");
    let message = result["rescaleMessage"].as_str().unwrap_or_default();
    assert_eq!(result["rescaleKind"], "success", "the UI showed: {message}");
    assert_eq!(
        (&rescale["mode"], &rescale["result"]),
        (&serde_json::json!("RESCALE"), &serde_json::json!("REDEPLOYED"))
    );
    let details = cluster.get(&format!("/jobs/{job}")).json();
    let parallelisms: Vec<u64> = details["vertices"]
        .as_array()
        .map(|vs| vs.iter().filter_map(|v| v["parallelism"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(parallelisms, [1, 2, 2, 2], "{details}");
    let counter =
        details["vertices"].as_array().and_then(|vs| vs.iter().find(|v| v["name"] == "ClickEvent Counter").cloned());
    assert_eq!(counter.expect("the counter")["component"]["name"], "click_event_count_v1_1.wasm", "{details}");
    // Stop-with-savepoint through the UI: the job finished with a savepoint where the page
    // said, in the directory typed into it.
    let message = result["stopMessage"].as_str().unwrap_or_default();
    assert_eq!(result["stopKind"], "success", "the UI showed: {message}");
    cluster.wait_for_state(&job, "FINISHED", Duration::from_secs(60));
    let location = message.rsplit(' ').next().unwrap_or_default().trim_start_matches("file:");
    assert!(location.starts_with(savepoints.to_str().unwrap_or("?")), "{message}");
    assert!(Path::new(location).join("_metadata").exists(), "no savepoint at {location}: {message}");
    // The checkpoints tab plotted the job's checkpoints.
    assert_eq!(result["checkpoints"], "statistics", "{result}");
}

/// A job whose Backpressure operator sleeps 20 ms on every record, so that it passes 50 records
/// a second of the generator's 1000 (event time, so the counter has a watermark to show),
/// discarding its results. The generator is throttled so that its first watermarks reach the
/// counter within seconds, not behind a full channel's worth of records.
const BACKPRESSURE_ARGS: &str = "--source datagen --datagen.rate 1000 --event-time --backpressure \
                                 --backpressure.schedule always --backpressure.sleep-ms 20 --sink discard";

/// README, "Seeing the cluster" and "Backpressure": the web UI colours the job graph (idle blue,
/// busy red, backpressured dark: the source dark, the Backpressure operator red), shows each
/// operator's subtasks with their backpressure, buffer usage and watermarks, the Watermarks and
/// Exceptions views, the TaskManagers with CPU, memory, WASM instances and their memory, and the
/// JobManager's metrics and configuration; checked in Chromium against the REST API.
#[test]
fn the_web_ui_shows_backpressure_watermarks_exceptions_and_the_managers_in_chromium() {
    let chromium = installed("/usr/bin/chromium");
    let chromedriver = installed("/usr/bin/chromedriver");
    let cluster = Cluster::start(1, 2);
    let jar = cluster.upload(&click_count_jar(cluster.dir.path()));
    let faulty = guest_component(cluster.dir.path(), "click_event_count_faulty", "click_event_count_faulty.wasm");
    let faulty = cluster.upload(Path::new(&faulty));
    // A job whose counter fails as it opens; without checkpointing the job fails for good.
    let failed =
        cluster.run(&faulty, serde_json::json!({ "programArgs": "--source datagen --sink discard", "parallelism": 1 }));
    let job = cluster.run(&jar, serde_json::json!({ "programArgs": BACKPRESSURE_ARGS, "parallelism": 1 }));
    cluster.wait_for_state(&failed, "FAILED", Duration::from_secs(60));
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(60));

    let artifacts = target_dir().join("web-ui");
    std::fs::create_dir_all(&artifacts).expect("the artifact directory");
    let screenshot = artifacts.join("backpressure.png");
    let _ = std::fs::remove_file(&screenshot);
    let browser_dir = cluster.dir.path().join("chromium");
    std::fs::create_dir_all(&browser_dir).expect("a fresh Chromium profile directory");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("web_ui_views.py");
    let result = run_browser_script(
        &cluster,
        Command::new(python())
            .arg(&script)
            .args(["--url", &cluster.url("/"), "--job", &job, "--failed-job", &failed])
            .args(["--screenshot", screenshot.to_str().expect("utf-8 path")])
            .args(["--user-data-dir", browser_dir.to_str().expect("utf-8 path")])
            .args(["--chromium", &chromium, "--chromedriver", &chromedriver]),
    );
    eprintln!("screenshot of the job under backpressure: {}", screenshot.display());
    assert!(std::fs::metadata(&screenshot).map(|m| m.len() > 10_000).unwrap_or(false), "no screenshot");

    // What the page showed, as the REST API has it.
    let vertices: std::collections::HashMap<String, String> =
        cluster.vertices(&job).into_iter().map(|(id, name)| (name, id)).collect();
    let source = &vertices["Source: ClickEvent Source"];
    let pressure = cluster.get(&format!("/jobs/{job}/vertices/{source}/backpressure")).json();
    assert_eq!(pressure["backpressure-level"], "high", "{pressure}");
    let path = format!("/jobs/{job}/vertices/{}/metrics", vertices["Backpressure"]);
    let busy = metric_value(&cluster.metrics(&path, &["0.busyTimeMsPerSecond"]), "0.busyTimeMsPerSecond");
    assert!(busy.is_some_and(|b| b > 500.0), "the Backpressure operator is busy {busy:?} ms per second");
    let exceptions = cluster.get(&format!("/jobs/{failed}/exceptions")).json();
    assert_eq!(result["rootException"], exceptions["root-exception"], "{exceptions}");
    assert_eq!(result["jobmanagerConfig"]["rest.port"], cluster.rest_port.to_string(), "{result}");
}

/// README "Securing a cluster": on a cluster with HTTPS and a REST token, the web UI asks for the
/// token, refuses a wrong one, and with the right one shows the running job (screenshot
/// `target/web-ui/signed-in.png`).
#[test]
fn the_web_ui_asks_for_the_token_of_a_secured_cluster_in_chromium() {
    let chromium = installed("/usr/bin/chromium");
    let chromedriver = installed("/usr/bin/chromedriver");
    let cluster = Cluster::start_secured(1, 1, &[]);
    let token = cluster.security.as_ref().expect("a secured cluster").token.clone();
    let component = click_count_jar(cluster.dir.path());
    let jar = cluster.upload(&component);
    let job = cluster.run(&jar, serde_json::json!({ "programArgs": PROGRAM_ARGS }));
    cluster.wait_for_state(&job, "RUNNING", Duration::from_secs(20));
    let artifacts = target_dir().join("web-ui");
    std::fs::create_dir_all(&artifacts).expect("the artifact directory");
    let screenshot = artifacts.join("signed-in.png");
    let browser_dir = cluster.dir.path().join("chromium");
    std::fs::create_dir_all(&browser_dir).expect("a fresh Chromium profile directory");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("web_ui_login.py");
    let result = run_browser_script(
        &cluster,
        Command::new(python())
            .arg(&script)
            .args(["--url", &cluster.url("/"), "--token", &token, "--job-name", "Click Event Count"])
            .args(["--screenshot", screenshot.to_str().expect("utf-8 path")])
            .args(["--user-data-dir", browser_dir.to_str().expect("utf-8 path")])
            .args(["--chromium", &chromium, "--chromedriver", &chromedriver]),
    );
    assert_eq!((result["loginShown"].as_bool(), result["wrongTokenRefused"].as_bool()), (Some(true), Some(true)));
    assert_eq!(result["signedIn"], true, "{result}");
    // The browser's sign-in attempts reached the JobManager as refusals, then as requests.
    assert!(cluster.jobmanager_log().contains("refused a REST request"), "{}", cluster.jobmanager_log());
}
