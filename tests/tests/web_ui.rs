//! The web UI in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`,
//! installed by `tests/run`) driven over WebDriver by `tests/web_ui.py` (selenium, installed
//! into the test virtualenv by `tests/run`) against a running cluster of JobManager and
//! TaskManager processes. Screenshots of the job page are kept under
//! `target/web-ui/job-page.png`, and of the hot-swap upgrade done through it (version 1.1 of the
//! component) under `target/web-ui/upgrade-plan.png`, `upgrade.png` and `upgrade-operators.png`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir_tests::*;

/// A light job: the built-in click generator at 200 events per second, event time (so there
/// are watermarks to show), checkpoints every second (so there are checkpoints to plot),
/// discarding its results.
const PROGRAM_ARGS: &str = "--source datagen --datagen.rate 200 --event-time --checkpointing --sink discard";

fn installed(path: &str) -> String {
    assert!(Path::new(path).exists(), "{path} is missing: tests/run installs Debian's chromium and chromium-driver");
    path.to_string()
}

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
    let mut child = Command::new(python())
        .arg(&script)
        .args(["--url", &cluster.url("/"), "--job", &job])
        .args(["--component", component.to_str().expect("utf-8 path"), "--program-args", PROGRAM_ARGS])
        .args(["--upgrade-component", upgrade.to_str().expect("utf-8 path")])
        .args(["--screenshot", screenshot.to_str().expect("utf-8 path")])
        .args(["--savepoint-dir", savepoints.to_str().expect("utf-8 path")])
        .args(["--user-data-dir", browser_dir.to_str().expect("utf-8 path")])
        .args(["--chromium", &chromium, "--chromedriver", &chromedriver])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tests/web_ui.py (tests/run installs selenium into the test virtualenv)");
    // Every step waits at most 45 s; the whole run is bounded too.
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().expect("the browser test's output");
    let said = String::from_utf8_lossy(&out.stderr);
    eprintln!("{said}");
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{said}\nJobManager log:\n{}",
        out.status,
        cluster.jobmanager_log()
    );
    let result: serde_json::Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the browser test's result line");
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
    assert_eq!(upgrades.len(), 1, "exactly the upgrade confirmed in the page: {history}");
    assert_eq!(upgrades[0]["operation"]["result"], "SWAPPED", "{history}");
    assert_eq!(upgrades[0]["operation"]["component"]["name"], "click_event_count_v1_1.wasm", "{history}");
    assert!(
        message.contains(&format!("checkpoint {} ", upgrades[0]["operation"]["checkpoint-id"])),
        "{message}\n{history}"
    );
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
