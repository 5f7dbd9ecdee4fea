//! The command end to end: its output for local mistakes, and its requests and output against a
//! small fake REST server answering canned responses.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

const JID: &str = "5e20cb6b0f357591171dfcca2eea09de";

/// A planner for `info` that plans nothing: it describes what it was given as a one-node plan
/// (its arguments as the name, `-p` or `parallelism.default` as the parallelism), or refuses
/// a component named `bad.wasm`.
fn fake_planner(input: &PlanInput<'_>) -> Result<serde_json::Value, String> {
    if input.component.ends_with("bad.wasm") {
        return Err("invalid program arguments: unknown option --nope".to_string());
    }
    let parallelism = input.parallelism.or_else(|| input.config.get("parallelism.default")?.parse().ok()).unwrap_or(1);
    Ok(serde_json::json!({
        "jid": "x",
        "name": input.program_args.join(" "),
        "nodes": [{"id": "b", "parallelism": parallelism, "inputs": []}],
    }))
}

/// Runs the command; returns the exit code, stdout and stderr.
fn cli(args: &[&str]) -> (u8, String, String) {
    let load = || -> Result<Configuration, ConfigError> { Ok(Configuration::default()) };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let code = {
        let mut frontend = Frontend::new("flink", &load, &fake_planner, &mut out, &mut err);
        frontend.utc_offset = |_| 0;
        frontend.max_poll_interval = Duration::from_millis(10);
        frontend.parse_and_run(&args)
    };
    (code, String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned())
}

fn args_error(message: &str) -> String {
    format!("{message}\n\nUse the help option (-h or --help) to get help on the command.\n")
}

fn exception(chain: &str) -> String {
    format!(
        "\n------------------------------------------------------------\n The program finished with the following exception:\n\n{chain}\n"
    )
}

#[test]
fn no_action_prints_the_help_and_asks_for_one() {
    let (code, out, err) = cli(&[]);
    assert_eq!((code, err.as_str()), (1, ""));
    assert_eq!(out, help::full("flink") + "Please specify an action.\n");
    let (code, out, _) = cli(&["--help"]);
    assert_eq!((code, out), (0, help::full("flink")));
    let (code, out, _) = cli(&["run", "-h"]);
    assert_eq!((code, out), (0, help::run()));
    let (code, out, _) = cli(&["stop", "--help"]);
    assert_eq!((code, out), (0, help::stop()));
}

#[test]
fn unknown_action_and_version() {
    let (code, out, _) = cli(&["frobnicate"]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "\"frobnicate\" is not a valid action.\n\nValid actions are \"run\", \"run-application\", \"list\", \"info\", \"savepoint\", \"stop\", or \"cancel\".\n\nSpecify the version option (-v or --version) to print Flink version.\n\nSpecify the help option (-h or --help) to get help on the command.\n"
    );
    let (code, out, _) = cli(&["-v"]);
    assert_eq!((code, out), (0, format!("Version: {}, Commit ID: DeadD0d0\n", env!("CARGO_PKG_VERSION"))));
    assert_eq!(cli(&["--version"]).1, cli(&["-v"]).1);
}

#[test]
fn command_line_mistakes() {
    let cases: &[(&[&str], &str)] = &[
        (&["run", "-p", "abc", "job.wasm"], "The parallelism must be a positive number: abc"),
        (&["run", "-p", "0", "job.wasm"], "The parallelism must be a positive number: 0"),
        (&["run", "-p"], "Missing argument for option: p"),
        (&["run", "-d"], "Java program should be specified a JAR file."),
        (
            &["run", "missing.wasm"],
            "Could not get job jar and dependencies from JAR file: JAR file does not exist: missing.wasm",
        ),
        (
            &["run", "-py", "job.py"],
            "The option -py,--python is not supported: Weir runs WebAssembly components, not Python programs.",
        ),
        (
            &["run", "-m", "yarn-cluster", "job.wasm"],
            "YARN is not supported: Weir submits jobs to a running cluster (-m <host:port>).",
        ),
        (&["list", "-x"], "Unrecognized option: -x"),
        (&["cancel"], "Missing JobID. Specify a JobID to cancel a job."),
        (
            &["cancel", "abc"],
            "Cannot parse JobID from \"abc\". The expected format is [0-9a-fA-F]{32}, e.g. fd72014d4c864993a2e5a9287b4a9c5d.",
        ),
        (&["stop"], "Missing JobId"),
        (&["savepoint"], "Missing JobID. Specify a Job ID to trigger a savepoint."),
    ];
    for (args, message) in cases {
        let (code, out, err) = cli(args);
        assert_eq!((code, out, err), (1, args_error(message), String::new()), "{args:?}");
    }
    let (code, _, err) = cli(&["stop", "-type", "fancy", JID]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        exception(
            "java.lang.IllegalArgumentException: Could not parse value for enum class org.apache.flink.core.execution.SavepointFormatType. Expected one of: [[CANONICAL, NATIVE]]"
        )
    );
}

/// One request the fake server received.
#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A REST server on a free local port answering each request with `route(request)`.
fn fake_server(route: impl Fn(&Request) -> (u16, String) + Send + 'static) -> (u16, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let port = listener.local_addr().expect("local address").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Some(request) = read_request(&stream) {
                let (status, body) = route(&request);
                log.lock().expect("request log").push(request);
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        }
    });
    (port, seen)
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let length = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { method, path, headers, body })
}

#[test]
fn run_detached_uploads_the_file_and_runs_it() {
    let (port, seen) = fake_server(|request| match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/jars/upload") => {
            (200, r#"{"filename":"/tmp/flink-web-1/flink-web-upload/0a1b_job.wasm","status":"success"}"#.into())
        }
        ("POST", "/jars/0a1b_job.wasm/run") => (200, format!(r#"{{"jobid":"{JID}"}}"#)),
        _ => (404, r#"{"errors":["Not found."]}"#.into()),
    });
    let dir = tempfile::tempdir().expect("temporary directory");
    let job = dir.path().join("job.wasm");
    std::fs::write(&job, b"\0asm\x0d\0\x01\0component bytes").expect("write the job file");
    let address = format!("127.0.0.1:{port}");
    let job_path = job.display().to_string();
    let (code, out, err) = cli(&[
        "run",
        "-m",
        &address,
        "-d",
        "-p",
        "2",
        &job_path,
        "--bootstrap.servers",
        "kafka:9092",
        "-p",
        "4",
        "--event-time",
    ]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, format!("Job has been submitted with JobID {JID}\n").as_str(), "")
    );

    let requests = seen.lock().expect("request log").clone();
    assert_eq!(requests.len(), 2);
    let upload = &requests[0];
    let content_type = upload.headers.get("content-type").cloned().unwrap_or_default();
    let boundary = content_type.strip_prefix("multipart/form-data; boundary=").expect("a multipart upload");
    let body = String::from_utf8_lossy(&upload.body);
    assert!(body.starts_with(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"jarfile\"; filename=\"job.wasm\"\r\n"
    )));
    assert!(body.contains("\r\n\r\n\0asm\r\0\u{1}\0component bytes\r\n"));
    assert!(body.ends_with(&format!("\r\n--{boundary}--\r\n")));
    let run: serde_json::Value = serde_json::from_slice(&requests[1].body).expect("a JSON run request");
    assert_eq!(
        run,
        serde_json::json!({"programArgsList": ["--bootstrap.servers", "kafka:9092", "-p", "4", "--event-time"], "parallelism": 2})
    );
}

#[test]
fn run_attached_waits_for_the_result() {
    let polls = AtomicUsize::new(0);
    let (port, _) = fake_server(move |request| match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/jars/upload") => (200, r#"{"filename":"x/1_job.wasm","status":"success"}"#.into()),
        ("POST", "/jars/1_job.wasm/run") => (200, format!(r#"{{"jobid":"{JID}"}}"#)),
        ("GET", path) if path == format!("/jobs/{JID}") => {
            let state = if polls.fetch_add(1, Ordering::SeqCst) < 2 { "RUNNING" } else { "FINISHED" };
            (200, format!(r#"{{"jid":"{JID}","name":"Click Event Count","state":"{state}","duration":1234}}"#))
        }
        _ => (404, r#"{"errors":["Not found."]}"#.into()),
    });
    let dir = tempfile::tempdir().expect("temporary directory");
    let job = dir.path().join("job.wasm");
    std::fs::write(&job, b"\0asm").expect("write the job file");
    let (code, out, err) = cli(&["run", "-m", &format!("localhost:{port}"), &job.display().to_string()]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        format!(
            "Job has been submitted with JobID {JID}\nProgram execution finished\nJob with JobID {JID} has finished.\nJob Runtime: 1234 ms\n\n"
        )
    );
}

#[test]
fn cancel_sends_a_patch() {
    let (port, seen) = fake_server(|request| match (request.method.as_str(), request.path.as_str()) {
        ("PATCH", path) if path == format!("/jobs/{JID}?mode=cancel") => (202, "{}".into()),
        _ => (404, r#"{"errors":["Job could not be found."]}"#.into()),
    });
    let address = format!("127.0.0.1:{port}");
    let (code, out, err) = cli(&["cancel", "-m", &address, &JID.to_uppercase()]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, format!("Cancelling job {JID}.\nCancelled job {JID}.\n"));
    assert_eq!(seen.lock().expect("request log").len(), 1);

    let other = "00000000000000000000000000000001";
    let (code, out, err) = cli(&["cancel", "-m", &address, other]);
    assert_eq!((code, out), (1, format!("Cancelling job {other}.\n")));
    assert_eq!(
        err,
        exception(&format!(
            "org.apache.flink.util.FlinkException: Could not cancel job {other}.\nCaused by: org.apache.flink.runtime.rest.util.RestClientException: [Job could not be found.]"
        ))
    );
}

#[test]
fn list_prints_flinks_sections() {
    let (port, _) = fake_server(|request| match request.path.as_str() {
        "/jobs/overview" => (
            200,
            format!(
                r#"{{"jobs":[{{"jid":"{JID}","name":"Click Event Count","state":"RUNNING","start-time":1563295075000,"end-time":-1,"duration":374793,"last-modification":1564467066126,"tasks":{{"total":4,"created":0,"scheduled":0,"deploying":0,"running":4,"finished":0,"canceling":0,"canceled":0,"failed":0,"reconciling":0,"initializing":0}}}}]}}"#
            ),
        ),
        _ => (404, r#"{"errors":["Not found."]}"#.into()),
    });
    let (code, out, err) = cli(&["list", "-m", &format!("127.0.0.1:{port}")]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        format!(
            "Waiting for response...\n------------------ Running/Restarting Jobs -------------------\n16.07.2019 16:37:55 : {JID} : Click Event Count (RUNNING)\n--------------------------------------------------------------\nNo scheduled jobs.\n"
        )
    );
}

#[test]
fn stop_and_savepoint() {
    let polls = AtomicUsize::new(0);
    let (port, seen) = fake_server(move |request| {
        match (request.method.as_str(), request.path.as_str()) {
        ("POST", path) if path == format!("/jobs/{JID}/savepoints") => (202, r#"{"request-id":"t1"}"#.into()),
        ("GET", path) if path == format!("/jobs/{JID}/savepoints/t1") => {
            if polls.fetch_add(1, Ordering::SeqCst) == 0 {
                (200, r#"{"status":{"id":"IN_PROGRESS"},"operation":null}"#.into())
            } else {
                (200, r#"{"status":{"id":"COMPLETED"},"operation":{"location":"file:/tmp/sp/savepoint-5e20cb-1"}}"#.into())
            }
        }
        ("POST", "/savepoint-disposal") => (200, r#"{"request-id":"d1"}"#.into()),
        ("GET", "/savepoint-disposal/d1") => (
            200,
            r#"{"status":{"id":"COMPLETED"},"operation":{"failure-cause":{"class":"java.io.IOException","stack-trace":"java.io.IOException: no such savepoint\n"}}}"#.into(),
        ),
        (_, path) => (404, format!(r#"{{"errors":["Not found: {path}"]}}"#)),
    }
    });
    let address = format!("127.0.0.1:{port}");

    let (code, out, err) = cli(&["savepoint", "-m", &address, JID, "/tmp/sp"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        format!(
            "Triggering savepoint for job {JID}.\nWaiting for response...\nSavepoint completed. Path: file:/tmp/sp/savepoint-5e20cb-1\nYou can resume your program from this savepoint with the run command.\n"
        )
    );
    let trigger: serde_json::Value =
        serde_json::from_slice(&seen.lock().expect("request log")[0].body).expect("a JSON trigger request");
    assert_eq!(trigger, serde_json::json!({"target-directory": "/tmp/sp", "cancel-job": false}));

    // The cluster does not know stop yet: Flink's failure output with the server's message.
    let (code, out, err) = cli(&["stop", "-m", &address, "--drain", JID]);
    assert_eq!((code, out), (1, format!("Draining job \"{JID}\" with a CANONICAL savepoint.\n")));
    assert_eq!(
        err,
        exception(&format!(
            "org.apache.flink.util.FlinkException: Could not stop with a savepoint job \"{JID}\".\nCaused by: org.apache.flink.runtime.rest.util.RestClientException: [Not found: /jobs/{JID}/stop]"
        ))
    );
    let stop: serde_json::Value =
        serde_json::from_slice(&seen.lock().expect("request log").last().expect("a stop request").body)
            .expect("a JSON stop request");
    assert_eq!(stop, serde_json::json!({"drain": true}));

    let (code, out, err) = cli(&["savepoint", "-m", &address, "-d", "file:/tmp/sp/x"]);
    assert_eq!((code, out), (1, "Disposing savepoint 'file:/tmp/sp/x'.\nWaiting for response...\n".to_string()));
    assert_eq!(
        err,
        exception(
            "org.apache.flink.util.FlinkException: Failed to dispose the savepoint 'file:/tmp/sp/x'.\nCaused by: java.io.IOException: no such savepoint"
        )
    );
}

/// `stop` returns once `/jobs/:id/status` says FINISHED, not when the savepoint is written; a
/// job that does not end within `client.timeout` is an error that still names the savepoint.
#[test]
fn stop_returns_once_the_job_is_finished() {
    const STUCK: &str = "0000000000000000000000000000000b";
    let polls = AtomicUsize::new(0);
    let (port, seen) = fake_server(move |request| match (request.method.as_str(), request.path.as_str()) {
        ("POST", path) if path.ends_with("/stop") => (202, r#"{"request-id":"s1"}"#.into()),
        ("GET", path) if path.ends_with("/savepoints/s1") => {
            (200, r#"{"status":{"id":"COMPLETED"},"operation":{"location":"file:/tmp/sp/savepoint-1"}}"#.into())
        }
        ("GET", path) if path == format!("/jobs/{JID}/status") => {
            let status = if polls.fetch_add(1, Ordering::SeqCst) < 2 { "RUNNING" } else { "FINISHED" };
            (200, format!(r#"{{"status":"{status}"}}"#))
        }
        ("GET", path) if path == format!("/jobs/{STUCK}/status") => (200, r#"{"status":"RUNNING"}"#.into()),
        (_, path) => (404, format!(r#"{{"errors":["Not found: {path}"]}}"#)),
    });
    let address = format!("127.0.0.1:{port}");
    let (code, out, err) = cli(&["stop", "-m", &address, JID]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        format!(
            "Suspending job \"{JID}\" with a CANONICAL savepoint.\nSavepoint completed. Path: file:/tmp/sp/savepoint-1\n"
        )
    );
    let status_polls =
        seen.lock().expect("request log").iter().filter(|r| r.path == format!("/jobs/{JID}/status")).count();
    assert_eq!(status_polls, 3, "polled until FINISHED");

    let (code, out, err) = cli(&["stop", "-m", &address, "-Dclient.timeout=200 ms", STUCK]);
    assert_eq!((code, out), (1, format!("Suspending job \"{STUCK}\" with a CANONICAL savepoint.\n")));
    assert_eq!(
        err,
        exception(&format!(
            "org.apache.flink.util.FlinkException: The savepoint of job \"{STUCK}\" completed (path: file:/tmp/sp/savepoint-1), but the job did not end FINISHED within 200 ms (client.timeout).\nCaused by: java.util.concurrent.TimeoutException: The job is still RUNNING."
        ))
    );
}

#[test]
fn connection_failures_are_reported_as_flink_does() {
    // A port nobody listens on: bind one, then let it go.
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
    let (code, out, err) = cli(&["list", "-m", &format!("127.0.0.1:{port}")]);
    assert_eq!((code, out.as_str()), (1, "Waiting for response...\n"));
    assert_eq!(
        err,
        exception(&format!(
            "org.apache.flink.util.FlinkException: Failed to retrieve job list.\nCaused by: java.net.ConnectException: Connection refused: 127.0.0.1:{port}"
        ))
    );
}

#[test]
fn info_plans_locally_and_sends_nothing_to_the_cluster() {
    let (port, seen) = fake_server(|_| (404, r#"{"errors":["Not found."]}"#.into()));
    let dir = tempfile::tempdir().expect("temporary directory");
    let job = dir.path().join("job.wasm");
    std::fs::write(&job, b"\0asm").expect("write the job file");
    // A cluster address and -D options, as from the configuration file: the planner gets them.
    let (rest_address, rest_port) = ("-Drest.address=127.0.0.1".to_string(), format!("-Drest.port={port}"));
    let (code, out, err) = cli(&[
        "info",
        &rest_address,
        &rest_port,
        "-Dparallelism.default=3",
        &job.display().to_string(),
        "--event-time",
    ]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "----------------------- Execution Plan -----------------------\n{\n  \"jid\" : \"x\",\n  \"name\" : \"--event-time\",\n  \"nodes\" : [ {\n    \"id\" : \"b\",\n    \"parallelism\" : 3,\n    \"inputs\" : [ ]\n  } ]\n}\n--------------------------------------------------------------\n\nNo description provided.\n"
    );
    let (code, out, _) = cli(&["info", "-p", "2", &job.display().to_string()]);
    assert_eq!(code, 0);
    assert!(out.contains("\"parallelism\" : 2"), "{out}");
    assert!(seen.lock().expect("request log").is_empty(), "info sent requests to the cluster");

    // A component that cannot be planned: Flink's failure of the program's main.
    let bad = dir.path().join("bad.wasm");
    std::fs::write(&bad, b"\0asm").expect("write the job file");
    let (code, out, err) = cli(&["info", &bad.display().to_string(), "--nope"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        exception(
            "org.apache.flink.client.program.ProgramInvocationException: The main method caused an error: invalid program arguments: unknown option --nope"
        )
    );
}
