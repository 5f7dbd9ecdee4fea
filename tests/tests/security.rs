//! A secured cluster, as README "Securing a cluster" turns it on with `weir certificates`: mutual
//! TLS between JobManager and TaskManagers and between TaskManagers, HTTPS and a bearer token on
//! the REST API. Everything a user does still works through real processes, curl and the CLI;
//! strangers (no token, no certificate, another cluster's certificate) are refused and logged.

use std::io::Write;
use std::time::Duration;

use weir_tests::*;

/// The GET and write routes a stranger tries: every one answers 401 without the token.
fn protected_routes(job: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/overview".into()),
        ("GET", "/config".into()),
        ("GET", "/jobs/overview".into()),
        ("GET", format!("/jobs/{job}")),
        ("GET", format!("/jobs/{job}/checkpoints")),
        ("GET", "/taskmanagers".into()),
        ("GET", "/jobmanager/config".into()),
        ("GET", "/jars".into()),
        ("GET", "/metrics".into()),
        ("GET", "/v1/overview".into()),
        ("POST", "/jars/upload".into()),
        ("POST", format!("/jobs/{job}/savepoints")),
        ("POST", "/savepoint-disposal".into()),
        ("PATCH", format!("/jobs/{job}?mode=cancel")),
        ("DELETE", "/jars/x_ClickCountJob.jar".into()),
    ]
}

/// README "Securing a cluster": with everything on, the walkthrough works — the CLI submits a job
/// at parallelism 2 across two TaskManagers (so records cross between them over mutual TLS),
/// lists it and stops it with a savepoint, every window exactly once; without the token every
/// API route answers 401 in Flink's error shape while the web UI's files still load, and plain
/// HTTP gets no answer.
#[test]
fn a_secured_cluster_runs_the_walkthrough_and_refuses_requests_without_the_token() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start_secured(2, 1, &[]);
    let security = cluster.security.clone().expect("a secured cluster");
    let log = cluster.jobmanager_log();
    assert!(log.contains("internal connections use mutual TLS"), "{log}");
    assert!(log.contains("the REST API serves HTTPS") && log.contains("requires a bearer token"), "{log}");
    generate(cluster.dir.path(), &bootstrap, "input", 36_000);

    // The CLI reads TLS and the token from the configuration `weir certificates` wrote.
    let jar = click_count_jar(cluster.dir.path());
    let (code, out, err) = cluster.cli(
        "run",
        &[
            "-d",
            "-p",
            "2",
            jar.to_str().expect("utf-8"),
            "--bootstrap.servers",
            &bootstrap,
            "--event-time",
            "--checkpointing",
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let job = out.trim().strip_prefix("Job has been submitted with JobID ").expect(&out).to_string();
    cluster.wait_for_state(&job, "RUNNING", Duration::from_secs(20));
    let (code, out, err) = cluster.cli("list", &["-r"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(&job) && out.contains("Click Event Count (RUNNING)"), "{out}");

    // Each TaskManager runs one subtask of each vertex: the key-by sends half the records to
    // the other TaskManager, over mutual TLS. All of them arrive, each window once.
    read_windows(&bootstrap, "output", Windows::exactly(5), Duration::from_secs(90)).expect("exact output");

    // A stranger: the CA trusted (so TLS itself is not what refuses), no token or a wrong one.
    let ca = security.ca.to_str().expect("utf-8");
    for (method, path) in protected_routes(&job) {
        let url = cluster.url(&path);
        for authorization in [None, Some("Authorization: Bearer not-the-token")] {
            let mut args = vec!["--cacert", ca, "-X", method];
            if let Some(header) = authorization {
                args.extend(["-H", header]);
            }
            args.push(&url);
            let answer = curl(&args);
            assert_eq!(answer.status, 401, "{method} {path} with {authorization:?}: {}", answer.body);
            let errors = answer.json()["errors"][0].as_str().unwrap_or_default().to_string();
            assert!(errors.starts_with("Unauthorized:"), "{method} {path}: {errors}");
        }
    }
    // The web UI's files load without it (the page then asks for the token).
    for path in ["/", "/web/app.js", "/web/style.css"] {
        assert_eq!(curl(&["--cacert", ca, &cluster.url(path)]).status, 200, "{path}");
    }
    // Plain HTTP to the HTTPS port gets no HTTP answer.
    let plain = curl(&["--max-time", "10", &format!("http://127.0.0.1:{}/overview", cluster.rest_port)]);
    assert_ne!(plain.status, 200, "{plain:?}");
    // The job is untouched by all of that.
    assert_eq!(cluster.job_overview(&job)["state"], "RUNNING");
    // The CLI without the token: Flink's failure block naming the refusal.
    let no_token = cluster.dir.path().join("no-token");
    std::fs::create_dir_all(&no_token).expect("a conf dir");
    let config = std::fs::read_to_string(security.conf_dir.join("config.yaml")).expect("config.yaml");
    let without: String =
        config.lines().filter(|l| !l.starts_with("rest.authentication")).map(|l| format!("{l}\n")).collect();
    std::fs::write(no_token.join("config.yaml"), without).expect("write config.yaml");
    let out = cluster
        .weir()
        .env("WEIR_CONF_DIR", &no_token)
        .env_remove("WEIR_REST_TOKEN")
        .args(["list", "-m", &format!("127.0.0.1:{}", cluster.rest_port)])
        .output()
        .expect("run weir list");
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("Unauthorized: no bearer token was sent"), "{said}");
    // ... and with the token from the environment instead.
    let out = cluster
        .weir()
        .env("WEIR_CONF_DIR", &no_token)
        .env("WEIR_REST_TOKEN", &security.token)
        .args(["list", "-r", "-m", &format!("127.0.0.1:{}", cluster.rest_port)])
        .output()
        .expect("run weir list");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&job), "{}", String::from_utf8_lossy(&out.stderr));

    // Stop with a savepoint through the CLI; the JobManager does not print the token anywhere.
    let savepoints = cluster.dir.path().join("stop");
    let (code, out, err) = cluster.cli("stop", &["-p", savepoints.to_str().expect("utf-8"), &job]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Savepoint completed. Path: "), "{out}");
    cluster.wait_for_state(&job, "FINISHED", Duration::from_secs(30));
    let config = cluster.get("/jobmanager/config").body;
    assert!(!config.contains(&security.token) && !cluster.jobmanager_log().contains(&security.token));
}

/// README "Securing a cluster": a TaskManager without a certificate, or with another cluster's,
/// cannot register (the JobManager logs the refusal), and a connection to a TaskManager's data
/// port without a certificate is dropped and logged; the cluster keeps its one TaskManager.
#[test]
fn strangers_cannot_register_or_write_into_data_channels() {
    let cluster = Cluster::start_secured(1, 1, &[]);
    let rpc = format!("127.0.0.1:{}", cluster.rpc_port);
    let refusals = |log: &str| log.matches("refused a TaskManager connection").count();

    // A plain TaskManager: no configuration, so no TLS.
    let plain = WeirProcess::spawn(
        &cluster.dir.path().join("cache"),
        &["taskmanager", "--jobmanager", &rpc, "-Dtaskmanager.host=127.0.0.1"],
        cluster.dir.path().join("plain-taskmanager.log"),
    );
    let refused = eventually(Duration::from_secs(20), || (refusals(&cluster.jobmanager_log()) >= 1).then_some(()));
    assert!(refused.is_some(), "no refusal logged:\n{}", cluster.jobmanager_log());
    drop(plain);

    // One with a certificate of another cluster.
    let other = temp_dir();
    let other_security = make_certificates(other.path());
    let before = refusals(&cluster.jobmanager_log());
    let mut command = weir(&cluster.dir.path().join("cache"));
    command.env("WEIR_CONF_DIR", &other_security.conf_dir);
    let stranger = WeirProcess::spawn_command(
        command,
        &["taskmanager", "--jobmanager", &rpc, "-Dtaskmanager.host=127.0.0.1"],
        cluster.dir.path().join("stranger-taskmanager.log"),
    );
    let refused = eventually(Duration::from_secs(20), || (refusals(&cluster.jobmanager_log()) > before).then_some(()));
    assert!(refused.is_some(), "no refusal logged:\n{}", cluster.jobmanager_log());
    let said = eventually(Duration::from_secs(20), || {
        let log = stranger.output();
        log.contains("lost the JobManager; registering again").then_some(log)
    });
    assert!(said.is_some(), "the stranger never said it was refused:\n{}", stranger.output());
    assert_eq!(cluster.get("/overview").json()["taskmanagers"], 1);

    // A raw connection to the member's data port, naming a channel and sending bytes.
    let tms = cluster.get("/taskmanagers").json();
    let id = tms["taskmanagers"][0]["id"].as_str().expect("a TaskManager id").to_string();
    let address = id.rsplit_once('-').map(|(a, _)| a.to_string()).expect("<data address>-<suffix>");
    let mut stream = std::net::TcpStream::connect(&address).expect("connect to the data port");
    let name = b"job/0.0/1.0/0";
    let mut frame = u16::try_from(name.len()).expect("short").to_le_bytes().to_vec();
    frame.extend_from_slice(name);
    frame.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0]);
    let _ = stream.write_all(&frame);
    let tm_log = cluster.dir.path().join("taskmanager-0.log");
    let logged = eventually(Duration::from_secs(20), || {
        let log = std::fs::read_to_string(&tm_log).unwrap_or_default();
        log.contains("refused a data connection").then_some(())
    });
    assert!(logged.is_some(), "{}", std::fs::read_to_string(&tm_log).unwrap_or_default());
    assert_eq!(cluster.get("/overview").json()["taskmanagers"], 1);
}

/// README "Securing a cluster": compiling an upload is bounded. A component with more functions
/// than `weir.component.max-functions` is refused before compiling, one not compiled within
/// `weir.component.compile-timeout` is refused at the deadline; neither is stored, and the
/// JobManager goes on answering.
#[test]
fn uploads_past_the_compile_budget_are_refused_and_not_stored() {
    let refuse = |option: &str, expected: &str| {
        let cluster = Cluster::start_with(0, 1, &[option]);
        let form = format!("jarfile=@{}", click_count_jar(cluster.dir.path()).display());
        let answer = curl(&["-X", "POST", "-H", "Expect:", "-F", &form, &cluster.url("/jars/upload")]);
        assert_eq!(answer.status, 400, "{option}: {}", answer.body);
        let message = answer.json()["errors"][0].as_str().unwrap_or_default().to_string();
        assert!(message.contains(expected), "{option}: {message}");
        assert_eq!(cluster.get("/jars").json()["files"], serde_json::json!([]), "{option}");
        assert_eq!(cluster.get("/overview").status, 200);
    };
    // Click Event Count has a few hundred functions.
    refuse(
        "-Dweir.component.max-functions=100",
        "more than the limit of 100 (weir.component.max-functions): refused before compiling",
    );
    refuse("-Dweir.component.compile-timeout=1 ms", "was not compiled within 0.001 s (weir.component.compile-timeout");
}
