//! Hostile jobs and hostile peers against a cluster of real processes (issue 22, points 4 and
//! 5): the host decides which Kafka properties and brokers a job may name, nothing connects to a
//! plan's broker while a REST request waits, and an unauthenticated peer on the RPC or data port
//! cannot crash the JobManager, complete a checkpoint, or hold the TaskManager's threads. After
//! each attack a good job runs on the same slots.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use weir_cluster::rpc::{Hardware, ToJobManager, ToTaskManager};
use weir_tests::*;

/// Uploads the test job (`guest-jobs/testing/test-job`); returns its jar id.
fn upload_test_job(cluster: &Cluster) -> String {
    cluster.upload(Path::new(&guest_component(cluster.dir.path(), "test_job", "test-job.wasm")))
}

/// `POST /jars/:id/run` with `args`, however it answers.
fn try_run(cluster: &Cluster, jar: &str, args: &[&str]) -> HttpAnswer {
    let body = json!({ "programArgsList": args }).to_string();
    cluster.curl(&["-X", "POST", "-d", &body, &cluster.url(&format!("/jars/{jar}/run"))])
}

/// One RPC message as the JobManager frames them: a big-endian u32 length and the JSON.
fn send(stream: &mut TcpStream, message: &ToJobManager) -> std::io::Result<()> {
    let json = serde_json::to_vec(message).expect("serializable");
    let len = u32::try_from(json.len()).expect("a small message");
    stream.write_all(&len.to_be_bytes())?;
    stream.write_all(&json)
}

/// Reads one RPC message, or `None` when the connection closed (or failed).
fn receive(stream: &mut TcpStream) -> Option<ToTaskManager> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).ok()?;
    let mut json = vec![0u8; usize::try_from(u32::from_be_bytes(header)).ok()?];
    stream.read_exact(&mut json).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Reads messages until one matches `wanted` (or the connection closes or `timeout` passes).
fn receive_until(
    stream: &mut TcpStream,
    timeout: Duration,
    wanted: impl Fn(&ToTaskManager) -> bool,
) -> Option<ToTaskManager> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        stream
            .set_read_timeout(Some(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(10))))
            .ok()?;
        let message = receive(stream)?;
        if wanted(&message) {
            return Some(message);
        }
    }
    None
}

fn register(id: &str, slots: u32) -> ToJobManager {
    ToJobManager::Register {
        id: id.into(),
        data_address: "127.0.0.1:9".into(),
        slots,
        hardware: Hardware { cpu_cores: 1, physical_memory: 0, free_memory: 0 },
    }
}

/// Whether the peer closed `stream` (EOF or a reset) within `timeout`.
fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    stream.set_read_timeout(Some(timeout)).expect("a timeout");
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// Issue 22, "the plan's Kafka properties name `plugin.library.paths`" and "the plan names any
/// `bootstrap.servers`": a property outside the allowlist is refused at submission, naming the
/// property and the operator, and nothing reaches the TaskManager; with no broker restriction,
/// a plan naming a broker that never answers is accepted at once (the REST call does not wait
/// on it; planning alone never connects to it), and its job fails naming the topic preparation.
#[test]
fn kafka_properties_and_brokers_are_decided_by_the_host() {
    let cluster = Cluster::start(1, 2);
    let jar = upload_test_job(&cluster);
    // A "broker" that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("a listener");
    silent.set_nonblocking(true).expect("non-blocking");
    let broker = silent.local_addr().expect("an address").to_string();
    let library = cluster.dir.path().join("evil.so");

    let property = format!("plugin.library.paths={}", library.display());
    let refused = try_run(&cluster, &jar, &["--kafka-sink", &broker, "--kafka-property", &property]);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("plugin.library.paths") && refused.body.contains("'Kafka Sink: Writer'"),
        "{}",
        refused.body
    );
    for property in ["ssl.ca.location=/etc/passwd", "sasl.password=x", "security.protocol=SSL", "debug=all"] {
        let refused = try_run(&cluster, &jar, &["--kafka-sink", &broker, "--kafka-property", property]);
        let name = property.split('=').next().unwrap_or_default();
        assert_eq!(refused.status, 400, "{property}: {}", refused.body);
        assert!(refused.body.contains(name), "{}", refused.body);
    }
    assert!(cluster.get("/jobs/overview").json()["jobs"].as_array().is_some_and(Vec::is_empty));
    assert!(!cluster.taskmanager_log(0).contains("plugin"), "{}", cluster.taskmanager_log(0));

    // Planning a job never connects to its broker.
    let body = json!({ "programArgsList": ["--kafka-sink", &broker] }).to_string();
    let plan = cluster.curl(&["-X", "POST", "-d", &body, &cluster.url(&format!("/jars/{jar}/plan"))]);
    assert_eq!(plan.status, 200, "{}", plan.body);
    assert!(silent.accept().is_err(), "planning connected to the plan's broker");

    // Running it answers at once, though the broker never answers a Kafka request.
    let started = Instant::now();
    let run = try_run(&cluster, &jar, &["--kafka-sink", &broker, "--kafka-property", "linger.ms=5"]);
    assert_eq!(run.status, 200, "{}", run.body);
    assert!(started.elapsed() < Duration::from_secs(5), "the run waited {:?} on the broker", started.elapsed());
    let job = run.json()["jobid"].as_str().expect("a job id").to_string();
    cluster.wait_for_state(&job, "FAILED", Duration::from_secs(90));
    let exceptions = cluster.get(&format!("/jobs/{job}/exceptions")).body;
    assert!(exceptions.contains("Kafka topics"), "{exceptions}");

    cluster.run_good_job(1);
}

/// `weir.kafka.allowed-brokers`: a plan naming another broker is refused at submission, naming
/// the broker, the operator and the key; the allowed one passes the check.
#[test]
fn brokers_outside_the_allowed_ones_are_refused() {
    let allowed = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let allowed = allowed.local_addr().expect("an address").to_string();
    let option = format!("-Dweir.kafka.allowed-brokers={allowed}");
    let cluster = Cluster::start_with(1, 2, &[&option]);
    let jar = upload_test_job(&cluster);
    let refused = try_run(&cluster, &jar, &["--kafka-sink", "evil.example:9092"]);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("evil.example:9092")
            && refused.body.contains("weir.kafka.allowed-brokers")
            && refused.body.contains("'Kafka Sink: Writer'"),
        "{}",
        refused.body
    );
    let plan_body = json!({ "programArgsList": ["--kafka-sink", &allowed] }).to_string();
    let plan = cluster.curl(&["-X", "POST", "-d", &plan_body, &cluster.url(&format!("/jars/{jar}/plan"))]);
    assert_eq!(plan.status, 200, "{}", plan.body);
    cluster.run_good_job(1);
}

/// Issue 22, "an unauthenticated `Register` with `slots = 4294967295` to port 6123": refused
/// with the limit and its key, the JobManager stays up; a connection that never registers is
/// closed after the registration deadline, an oversized registration at once; a second,
/// registered "TaskManager" cannot complete or fail a checkpoint of a job it does not run, nor
/// report its tasks' states, nor fetch its component; the job's checkpoints are untouched by it,
/// and a good job runs afterwards.
#[test]
fn an_unauthenticated_peer_cannot_crash_or_mislead_the_jobmanager() {
    // The forger sends no heartbeats: a long heartbeat timeout keeps it registered however
    // slowly a loaded machine runs the test.
    let cluster =
        Cluster::start_with(1, 2, &["-Dweir.jobmanager.registration-timeout=2 s", "-Dheartbeat.timeout=120000"]);
    let rpc = format!("127.0.0.1:{}", cluster.rpc_port);

    let mut greedy = TcpStream::connect(&rpc).expect("connect to the RPC port");
    send(&mut greedy, &register("greedy", u32::MAX)).expect("send");
    let answer = receive_until(&mut greedy, Duration::from_secs(10), |_| true);
    let Some(ToTaskManager::Rejected { reason }) = answer else { panic!("{answer:?}") };
    assert!(reason.contains("weir.jobmanager.max-slots-per-taskmanager") && reason.contains("1024"), "{reason}");
    assert_eq!(cluster.get("/overview").json()["taskmanagers"], 1);
    assert_eq!(cluster.get("/overview").json()["slots-total"], 2);

    let mut silent = TcpStream::connect(&rpc).expect("connect");
    assert!(closed_within(&mut silent, Duration::from_secs(8)), "a silent connection was kept past the deadline");
    let mut huge = TcpStream::connect(&rpc).expect("connect");
    huge.write_all(&(1u32 << 30).to_be_bytes()).expect("send a length");
    assert!(closed_within(&mut huge, Duration::from_secs(5)), "a 1 GiB registration was read");
    assert_eq!(cluster.get("/overview").status, 200, "{}", cluster.jobmanager_log());

    // A job whose checkpoints cannot complete for a while: its operator sleeps 8 s per batch,
    // so the barrier waits behind queued input.
    let jar = upload_test_job(&cluster);
    let args = ["--fail", "sleep", "--duration-ms", "8000", "--checkpoint-interval-ms", "500", "--count", "100000"];
    let job = cluster.run(&jar, json!({ "programArgsList": args }));
    let ready = eventually(Duration::from_secs(30), || {
        let stats = cluster.get(&format!("/jobs/{job}/checkpoints")).json();
        (stats["counts"]["in_progress"].as_u64() == Some(1)).then_some(stats)
    });
    let stats = ready.unwrap_or_else(|| panic!("no checkpoint in flight:\n{}", cluster.jobmanager_log()));
    let completed = stats["counts"]["completed"].clone();
    let checkpoint = stats["latest"]["completed"].as_u64().unwrap_or(0) + 1;
    let plan = cluster.get(&format!("/jobs/{job}")).json();
    let vertices: Vec<u64> =
        plan["vertices"].as_array().expect("vertices").iter().map(|v| v["parallelism"].as_u64().unwrap_or(1)).collect();

    // The forger registers properly (it is let in: no mutual TLS), then lies.
    let mut forger = TcpStream::connect(&rpc).expect("connect");
    send(&mut forger, &register("forger", 1)).expect("send");
    assert!(matches!(receive(&mut forger), Some(ToTaskManager::Registered)));
    for id in checkpoint..checkpoint + 3 {
        for (vertex, parallelism) in vertices.iter().enumerate() {
            for subtask in 0..u32::try_from(*parallelism).unwrap_or(1) {
                let snapshot = weir_core::checkpoint::SubtaskSnapshot { subtask, ..Default::default() };
                let ack = ToJobManager::AcknowledgeCheckpoint {
                    job: job.clone(),
                    vertex,
                    subtask,
                    checkpoint: id,
                    snapshot: Box::new(snapshot),
                };
                send(&mut forger, &ack).expect("send an ack");
                let failed = ToJobManager::TaskState {
                    job: job.clone(),
                    vertex,
                    subtask,
                    attempt: 0,
                    state: weir_core::execution::ExecutionState::Failed,
                    failure: Some("forged".into()),
                    consequence: false,
                };
                send(&mut forger, &failed).expect("send a task state");
            }
        }
        let decline = ToJobManager::DeclineCheckpoint { job: job.clone(), checkpoint: id, reason: "forged".into() };
        send(&mut forger, &decline).expect("send a decline");
        // Out-of-range indexes are looked up, never indexed.
        let snapshot = weir_core::checkpoint::SubtaskSnapshot::default();
        let wild = ToJobManager::AcknowledgeCheckpoint {
            job: job.clone(),
            vertex: usize::MAX,
            subtask: u32::MAX,
            checkpoint: id,
            snapshot: Box::new(snapshot),
        };
        send(&mut forger, &wild).expect("send");
    }
    let hash = weir_wasm::cache::content_hash(&std::fs::read(weir::builtin::guest_path("test_job")).expect("built"));
    send(&mut forger, &ToJobManager::FetchComponent { hash: hash.clone() }).expect("send a fetch");
    let answer = receive_until(&mut forger, Duration::from_secs(10), |m| matches!(m, ToTaskManager::Component { .. }));
    let Some(ToTaskManager::Component { component, failure, .. }) = answer else { panic!("{answer:?}") };
    assert!(component.is_none() && failure.is_some(), "a component went to a TaskManager that was not sent it");

    std::thread::sleep(Duration::from_secs(2));
    let stats = cluster.get(&format!("/jobs/{job}/checkpoints")).json();
    assert_eq!(stats["counts"]["completed"], completed, "forged acknowledgements completed a checkpoint: {stats}");
    assert_eq!(stats["counts"]["failed"], 0, "a forged decline failed a checkpoint: {stats}");
    assert_eq!(cluster.job_overview(&job)["state"], "RUNNING", "{}", cluster.jobmanager_log());
    let log = cluster.jobmanager_log();
    assert!(log.contains("ignored a checkpoint acknowledgement from a TaskManager that does not run it"), "{log}");
    assert!(log.contains("ignored a fetch of a component"), "{log}");
    drop(forger);

    let cancel = cluster.curl(&["-X", "PATCH", &cluster.url(&format!("/jobs/{job}?mode=cancel"))]);
    assert_eq!(cancel.status, 202, "{}", cancel.body);
    cluster.wait_for_state(&job, "CANCELED", Duration::from_secs(60));
    cluster.run_good_job(1);
}

/// The number of threads of process `pid`.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count()).unwrap_or(0)
}

/// Data connections that never name their channel are closed after the handshake deadline,
/// and a flood of them is capped (`weir.taskmanager.data.max-connections`): the TaskManager's
/// threads stay bounded, and a good job runs afterwards.
#[test]
fn silent_data_connections_are_closed_and_capped() {
    let options = ["-Dweir.taskmanager.data.handshake-timeout=2 s", "-Dweir.taskmanager.data.max-connections=32"];
    let cluster = Cluster::start_everywhere(1, 2, &options);
    let tms = cluster.get("/taskmanagers").json();
    let port = tms["taskmanagers"][0]["dataPort"].as_u64().expect("a data port");
    let pid = cluster.taskmanager_pid(0);
    let before = threads(pid);

    let mut connections: Vec<TcpStream> =
        (0..300).filter_map(|_| TcpStream::connect(("127.0.0.1", u16::try_from(port).expect("a port"))).ok()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let during = threads(pid);
    assert!(during <= before + 32 + 4, "{during} threads with 300 silent connections (from {before})");
    let closed = connections.iter_mut().map(|c| closed_within(c, Duration::from_secs(6))).filter(|c| *c).count();
    assert_eq!(closed, connections.len(), "silent data connections stayed open past the deadline");
    let log = cluster.taskmanager_log(0);
    assert!(log.contains("weir.taskmanager.data.max-connections"), "{log}");
    let settled = eventually(Duration::from_secs(10), || (threads(pid) <= before + 4).then_some(()));
    assert!(settled.is_some(), "threads left: {} (from {before}, {during} during)", threads(pid));
    cluster.run_good_job(1);
}
