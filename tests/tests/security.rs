//! A secured cluster, as README "Securing a cluster" turns it on with `weir certificates`: mutual
//! TLS between JobManager and TaskManagers and between TaskManagers, HTTPS and a bearer token on
//! the REST API. Everything a user does still works through real processes, curl and the CLI;
//! strangers (no token, no certificate, another cluster's certificate) are refused and logged.

use std::io::Write;
use std::time::Duration;

use weir_tests::*;

/// Every path the REST API routes, taken from its router (`weir_rest::api_paths`, with and
/// without `/v1`), with the parameters filled in: the running job's id, made-up others.
fn every_route(job: &str) -> Vec<String> {
    weir_rest::api_paths()
        .iter()
        .map(|path| {
            let mut filled = String::new();
            let mut rest = path.as_str();
            while let Some((before, after)) = rest.split_once('{') {
                let (name, after) = after.split_once('}').expect("a closed parameter");
                filled.push_str(before);
                filled.push_str(match name {
                    "jobid" => job,
                    "vertexid" | "triggerid" => "0123456789abcdef0123456789abcdef",
                    _ => "0",
                });
                rest = after;
            }
            filled + rest
        })
        .collect()
}

/// Sends `method` to every URL in one curl run (a config file of URLs), with `headers`; returns
/// each URL's status.
fn statuses(ca: &str, method: &str, headers: &[&str], urls: &[String], dir: &std::path::Path) -> Vec<(String, u16)> {
    let config = dir.join(format!("urls-{method}-{}.curl", headers.len()));
    let body: String = urls.iter().map(|u| format!("url = \"{u}\"\noutput = \"/dev/null\"\n")).collect();
    std::fs::write(&config, body).expect("write the curl config");
    let mut command = std::process::Command::new("curl");
    command.args(["-s", "--cacert", ca, "-X", method, "-w", "%{http_code} %{url_effective}\\n", "-K"]).arg(&config);
    for header in headers {
        command.args(["-H", header]);
    }
    let out = command.output().expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<(String, u16)> = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(code, url)| (url.to_string(), code.parse().unwrap_or(0)))
        .collect();
    assert_eq!(answers.len(), urls.len(), "{method}: {text}");
    answers
}

/// Walks every route of the router as a stranger (no token, a wrong one) with every method:
/// each answers 401, or 404 for a method the route does not have, and every path answers 401 to
/// some method; with the token, no GET answers 401.
fn walk_every_route(cluster: &Cluster, job: &str) {
    let security = cluster.security.clone().expect("a secured cluster");
    let ca = security.ca.to_str().expect("utf-8");
    let paths = every_route(job);
    assert!(paths.len() > 100 && paths.iter().any(|p| p.starts_with("/v1/jobs/")), "{paths:?}");
    let urls: Vec<String> = paths.iter().map(|p| cluster.url(p)).collect();
    let token = format!("Authorization: Bearer {}", security.token);
    for stranger in [&[][..], &["Authorization: Bearer not-the-token"][..]] {
        let mut refused = std::collections::BTreeSet::new();
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            for (url, status) in statuses(ca, method, stranger, &urls, cluster.dir.path()) {
                assert!(status == 401 || status == 404, "{method} {url} with {stranger:?} answered {status}");
                if status == 401 {
                    refused.insert(url);
                }
            }
        }
        let open: Vec<&String> = urls.iter().filter(|u| !refused.contains(*u)).collect();
        assert!(open.is_empty(), "routes no method of which asked for the token: {open:?}");
    }
    for (url, status) in statuses(ca, "GET", &[&token], &urls, cluster.dir.path()) {
        assert_ne!(status, 401, "GET {url} with the token");
    }
    // The refusal in Flink's error shape.
    let answer = curl(&["--cacert", ca, "-X", "PATCH", &cluster.url(&format!("/jobs/{job}?mode=cancel"))]);
    assert_eq!(answer.status, 401, "{}", answer.body);
    let errors = answer.json()["errors"][0].as_str().unwrap_or_default().to_string();
    assert!(errors.starts_with("Unauthorized: no bearer token was sent"), "{errors}");
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

    // A stranger: the CA trusted (so TLS itself is not what refuses), no token or a wrong one,
    // on every route the router has.
    walk_every_route(&cluster, &job);
    let ca = security.ca.to_str().expect("utf-8");
    // The web UI's files load without it (the page then asks for the token).
    for path in ["/", "/web/app.js", "/web/style.css"] {
        assert_eq!(curl(&["--cacert", ca, &cluster.url(path)]).status, 200, "{path}");
    }
    // Plain HTTP to the HTTPS port gets no HTTP answer.
    let plain = curl(&["--max-time", "10", &format!("http://127.0.0.1:{}/overview", cluster.rest_port)]);
    assert_eq!(plain.status, 0, "plain HTTP to the TLS port got an HTTP answer: {plain:?}");
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

/// README "Securing a cluster", safe defaults: a page on another site cannot make a browser upload
/// or run anything (403 naming `web.access-control-allow-origin`, no CORS headers), the API's own
/// origin (the web UI) can; `*` restores Flink's any-origin CORS. Secret `-D` options are masked in
/// `/jobmanager/environment`, and a JobManager listening beyond loopback with no token or mutual
/// TLS says so in its log.
#[test]
fn cross_origin_writes_are_refused_and_secrets_masked_by_default() {
    let cluster = Cluster::start_with(1, 1, &["-Ds3.secret-key=hunter2-secret"]);
    let jar = click_count_jar(cluster.dir.path());
    let form = format!("jarfile=@{}", jar.display());
    let upload = |origin: &str| {
        let header = format!("Origin: {origin}");
        curl(&["-i", "-X", "POST", "-H", "Expect:", "-H", &header, "-F", &form, &cluster.url("/jars/upload")])
    };
    let evil = upload("http://evil.example");
    assert_eq!(evil.status, 403, "{}", evil.body);
    assert!(evil.body.contains("web.access-control-allow-origin"), "{}", evil.body);
    assert!(!evil.body.to_ascii_lowercase().contains("access-control-allow-origin:"), "{}", evil.body);
    assert_eq!(cluster.get("/jars").json()["files"].as_array().map(Vec::len), Some(0), "nothing was stored");
    // Reading is not refused, but answers carry no CORS headers, so the other site cannot read them.
    let read = curl(&["-i", "-H", "Origin: http://evil.example", &cluster.url("/overview")]);
    assert_eq!(read.status, 200);
    assert!(!read.body.to_ascii_lowercase().contains("access-control-allow-origin"), "{}", read.body);
    // The API's own origin, as the web UI sends it.
    let own = upload(&format!("http://127.0.0.1:{}", cluster.rest_port));
    assert_eq!(own.status, 200, "{}", own.body);

    let environment = cluster.get("/jobmanager/environment").body;
    assert!(!environment.contains("hunter2") && environment.contains("s3.secret-key=******"), "{environment}");
    let log = cluster.jobmanager_log();
    assert!(log.contains("the REST API listens beyond this machine without a token"), "{log}");
    assert!(log.contains("the RPC port listens beyond this machine without mutual TLS"), "{log}");

    // Flink's default, when asked for.
    let open = Cluster::start_with(0, 1, &["-Dweb.access-control-allow-origin=*", "-Drest.bind-address=127.0.0.1"]);
    let header = "Origin: http://evil.example";
    let answer = curl(&["-i", "-X", "POST", "-H", "Expect:", "-H", header, "-F", &form, &open.url("/jars/upload")]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.to_ascii_lowercase().contains("access-control-allow-origin: *"), "{}", answer.body);
    let log = open.jobmanager_log();
    assert!(!log.contains("the REST API listens beyond this machine"), "{log}");
}
