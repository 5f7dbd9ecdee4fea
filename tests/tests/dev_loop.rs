//! The development loop with the `weir` CLI, against real processes and a real broker:
//! `weir playground --no-job` (a cluster and the playground's topics, nothing running), `weir
//! info` (a plan, nothing uploaded), `weir stop` (returns once the job is FINISHED), and the
//! README's `weir consume` and job arguments (`--starting-offsets`, `--delivery-guarantee none`).

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use weir_tests::*;

/// The last word of `weir run -d`'s line: the job id.
fn job_id(out: &str) -> String {
    out.trim().rsplit(' ').next().expect("a job id").to_string()
}

/// A plain Kafka consumer (no group unless `group` names one), for offsets.
fn kafka_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("a Kafka consumer")
}

/// The end offsets of `topic`'s partitions 0 and 1 (the playground's two).
fn end_offsets(bootstrap: &str, topic: &str) -> Vec<i64> {
    let consumer = kafka_consumer(bootstrap, "dev-loop-test");
    (0..2).map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).expect("watermarks").1).collect()
}

/// README "Development loop": `weir playground --no-job` runs the broker (topics `input` and
/// `output` made, nothing written), the cluster and the REST API, and no job and no generator;
/// a job submitted to it runs, and the README's `weir consume` (as the README shows it, from the
/// topic's end) prints its results.
#[test]
fn the_playground_without_a_job_runs_the_cluster_and_a_submitted_job() {
    let dir = temp_dir();
    let cache = dir.path().join("cache");
    let (kafka, rest, rpc) = (free_port(), free_port(), free_port());
    let data = dir.path().join("playground");
    let mut playground = WeirProcess::spawn(
        &cache,
        &[
            "playground",
            "--no-job",
            "--kafka-port",
            &kafka.to_string(),
            "--rest-port",
            &rest.to_string(),
            "--rpc-port",
            &rpc.to_string(),
            "--data-dir",
            data.to_str().expect("utf-8 path"),
        ],
        dir.path().join("playground.log"),
    );
    let up =
        eventually(Duration::from_secs(60), || playground.output().contains("Ctrl-C stops everything.").then_some(()));
    assert!(up.is_some(), "{}", playground.output());
    let out = playground.output();
    assert!(out.contains("running without a job (--no-job): no Click Event Count job, no click generator"), "{out}");
    assert!(out.contains(&format!("http://localhost:{rest}")), "{out}");

    // The cluster, with nothing on it; the topics the README names, empty.
    let url = |path: &str| format!("http://127.0.0.1:{rest}{path}");
    let overview = curl(&[&url("/overview")]).json();
    assert_eq!((overview["taskmanagers"].as_u64(), overview["slots-total"].as_u64()), (Some(1), Some(2)), "{overview}");
    assert_eq!(curl(&[&url("/jobs/overview")]).json()["jobs"], serde_json::json!([]));
    let bootstrap = format!("127.0.0.1:{kafka}");
    for topic in ["input", "output"] {
        let partitions = weir_connectors::kafka::partition_count(&bootstrap, topic).expect("the broker answers");
        assert_eq!(partitions, Some(2), "topic {topic}");
        assert_eq!(end_offsets(&bootstrap, topic), [0, 0], "nothing writes {topic}");
    }

    // `weir consume` as the README shows it: from the topic's end, so started before the job
    // (whose first result comes seconds later, once it is planned, deployed and has read two
    // windows of clicks).
    let consumed = dir.path().join("consumed.txt");
    let mut consume = weir(&cache)
        .args(["consume", "--bootstrap.servers", &bootstrap, "--topic", "output"])
        .stdout(std::fs::File::create(&consumed).expect("a file for consume's output"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run weir consume");

    // A job of one's own, as the banner says: two windows of clicks, one of which can close.
    generate(&cache, &bootstrap, "input", 12_000);
    let jar = click_count_jar(dir.path());
    let jm = format!("localhost:{rest}");
    let args = ["run", "-d", "-m", &jm, jar.to_str().expect("utf-8 path"), "--bootstrap.servers", &bootstrap];
    let run = weir(&cache).args(args).args(["--checkpointing", "--event-time"]).output().expect("run weir run");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    let job = job_id(&stdout);
    let jobs = curl(&[&url("/jobs/overview")]).json();
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(1), "{jobs}");
    assert_eq!(jobs["jobs"][0]["jid"], job.as_str(), "{jobs}");
    read_windows(&bootstrap, "output", Windows::exactly(1), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e:#}\n{}", playground.output()));

    // What `weir consume` printed: the first window's six results, each at 1000.
    let printed = eventually(Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&consumed).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        (lines.len() >= 6).then_some(lines)
    });
    let _ = consume.kill();
    let _ = consume.wait();
    let printed = printed.expect("weir consume printed the window's results");
    let results = check_windows(&printed, Windows::exactly(1)).expect("consume printed each result once");
    assert!(results.iter().all(|c| c.count == 1000), "{results:?}");

    assert_eq!(playground.stop(), Some(0), "{}", playground.output());
}

/// README "Development loop": `weir info` prints the plan of a component, planned by the CLI
/// itself as Flink's client does: nothing is uploaded (GET /jars stays empty), and it works
/// without a cluster at all. A plan that fails is Flink's failure of the program's main.
#[test]
fn weir_info_prints_the_plan_and_uploads_nothing() {
    let cluster = Cluster::start(0, 1);
    let jar = click_count_jar(cluster.dir.path());
    let jar = jar.to_str().expect("utf-8 path");
    let (code, out, err) =
        cluster.cli("info", &["-p", "2", jar, "--bootstrap.servers", "127.0.0.1:9092", "--event-time"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first().copied(), Some("----------------------- Execution Plan -----------------------"), "{out}");
    let end =
        lines.iter().position(|l| l.starts_with("--------------------------------------------------------------"));
    let end = end.unwrap_or_else(|| panic!("the plan's closing line: {out}"));
    let plan: serde_json::Value = serde_json::from_str(&lines[1..end].join("\n")).expect("the plan is JSON");
    assert_eq!(plan["name"], "Click Event Count", "{plan}");
    let nodes = plan["nodes"].as_array().expect("nodes");
    let descriptions: Vec<&str> = nodes.iter().filter_map(|n| n["description"].as_str()).collect();
    assert!(descriptions.contains(&"ClickEvent Counter"), "{descriptions:?}");
    assert!(nodes.iter().all(|n| n["parallelism"] == 2), "{plan}");
    assert!(out.ends_with("\nNo description provided.\n"), "{out}");

    // Nothing was uploaded.
    assert_eq!(cluster.get("/jars").json()["files"], serde_json::json!([]));

    // No cluster is needed: the same plan against an address nobody listens on.
    let nobody = format!("127.0.0.1:{}", free_port());
    let out = cluster.weir().args(["info", "-m", &nobody, jar, "--event-time"]).output().expect("run weir info");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"name\" : \"Click Event Count\""));

    // Arguments the component refuses.
    let (code, out, err) = cluster.cli("info", &[jar, "--frobnicate"]);
    assert_eq!((code, out.as_str()), (Some(1), ""), "{err}");
    assert!(
        err.contains("org.apache.flink.client.program.ProgramInvocationException: The main method caused an error: invalid program arguments: unknown argument --frobnicate"),
        "{err}"
    );
    assert_eq!(cluster.get("/jars").json()["files"], serde_json::json!([]));
}

/// README "Upgrading and rescaling": `weir stop` returns once the job has ended, as Flink's
/// client does after a stop-with-savepoint: right after it, `/jobs/:id/status` says FINISHED.
#[test]
fn weir_stop_returns_once_the_job_is_finished() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    generate(cluster.dir.path(), &bootstrap, "input", 12_000);
    let jar = click_count_jar(cluster.dir.path());
    let args = ["-d", "-p", "2", jar.to_str().expect("utf-8 path"), "--bootstrap.servers", &bootstrap];
    let (code, out, err) = cluster.cli("run", &[&args[..], &["--checkpointing", "--event-time"]].concat());
    assert_eq!(code, Some(0), "{out}{err}");
    let job = job_id(&out);
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));

    let (code, out, err) = cluster.cli("stop", &[&job]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with(&format!("Suspending job \"{job}\" with a CANONICAL savepoint.\n")), "{out}");
    assert!(out.contains("Savepoint completed. Path: file:"), "{out}");
    // At once, no waiting: the command returned only once it was so.
    let status = cluster.get(&format!("/jobs/{job}/status")).json();
    assert_eq!(status["status"], "FINISHED", "{status}");
    assert_eq!(cluster.job_overview(&job)["state"], "FINISHED");
}

/// README "The job's arguments": `--delivery-guarantee none` writes each result as it comes,
/// no checkpoint needed; every window once at 1000.
#[test]
fn delivery_guarantee_none_writes_without_checkpoints() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    generate(cluster.dir.path(), &bootstrap, "input", 18_000);
    let jar = click_count_jar(cluster.dir.path());
    let jar = jar.to_str().expect("utf-8 path");
    let args =
        ["-d", "-p", "2", jar, "--bootstrap.servers", &bootstrap, "--event-time", "--delivery-guarantee", "none"];
    let (code, out, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{out}{err}");
    let job = job_id(&out);
    read_windows(&bootstrap, "output", Windows::exactly(2), Duration::from_secs(60)).expect("exact output");
    assert_eq!(cluster.checkpoints_completed(&job), 0, "written without checkpoints");
}

/// README "The job's arguments": `--starting-offsets latest` reads only what is written after
/// the job starts: the windows already in `input` are not counted.
#[test]
fn starting_offsets_latest_skips_what_input_already_holds() {
    // Weir's embedded broker, the playground's: tansu 0.6 answers ListOffsets(latest) with
    // an offset inside the last batch (7992 for a partition holding 11841 records), which makes
    // "latest" re-read the end of what the topic held.
    let broker = weir_broker::EmbeddedBroker::start_blocking(weir_broker::BrokerConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        advertised_host: "127.0.0.1".into(),
        default_partitions: 2,
    })
    .expect("the embedded broker starts");
    let bootstrap = broker.bootstrap_servers();
    let cluster = Cluster::start(1, 2);
    // Windows 0 and 1 before the job.
    generate_from(&cluster.dir.path().join("cache"), &bootstrap, "input", 0, 12_000);
    let jar = click_count_jar(cluster.dir.path());
    let jar = jar.to_str().expect("utf-8 path");
    let args = ["-d", "-p", "1", jar, "--bootstrap.servers", &bootstrap, "--event-time", "--checkpointing"];
    let (code, out, err) = cluster.cli("run", &[&args[..], &["--starting-offsets", "latest"]].concat());
    assert_eq!(code, Some(0), "{out}{err}");
    let job = job_id(&out);
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));
    // A completed checkpoint holds the source's positions: from here on it reads what comes.
    cluster.checkpoint_now(&job);
    // Windows 2 and 3; window 2 can close.
    generate_from(&cluster.dir.path().join("cache"), &bootstrap, "input", 12_000, 12_000);
    read_windows(&bootstrap, "output", Windows::exactly(1).starting_at(2), Duration::from_secs(60))
        .expect("only the windows written after the start");
}

/// README "The job's arguments": `--starting-offsets committed` starts a fresh job (no
/// savepoint) where the consumer group's committed offsets are, which a checkpointing job
/// commits: what the first job read is not read again.
#[test]
fn starting_offsets_committed_resumes_the_groups_position() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    let cache = cluster.dir.path().join("cache");
    generate_from(&cache, &bootstrap, "input", 0, 12_000);
    let jar = click_count_jar(cluster.dir.path());
    let jar = jar.to_str().expect("utf-8 path");
    let args = ["-d", "-p", "1", jar, "--bootstrap.servers", &bootstrap, "--event-time", "--checkpointing"];
    let (code, out, err) = cluster.cli("run", &args);
    assert_eq!(code, Some(0), "{out}{err}");
    let first = job_id(&out);
    // The first job reads all of input, counts window 0, and a checkpoint after that commits
    // its position, the end of input, to its group: the 12000 records' offsets, one each.
    read_windows(&bootstrap, "output", Windows::exactly(1), Duration::from_secs(60)).expect("window 0");
    let source = cluster.vertices(&first)[0].1.clone();
    let read = eventually(Duration::from_secs(30), || {
        (cluster.vertex_metric_sum(&first, &source, "numRecordsOut")? >= 12_000.0).then_some(())
    });
    assert!(read.is_some(), "the first job never read all of input");
    cluster.checkpoint_now(&first);
    let group = kafka_consumer(&bootstrap, "click-event-count");
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition("input", 0);
    partitions.add_partition("input", 1);
    let committed = eventually(Duration::from_secs(30), || {
        let offsets = group.committed_offsets(partitions.clone(), Duration::from_secs(10)).ok()?;
        let offsets: Vec<i64> = offsets
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            })
            .collect();
        (offsets.iter().sum::<i64>() == 12_000).then_some(())
    });
    assert!(committed.is_some(), "the group never committed the end of input");
    let (code, out, err) = cluster.cli("cancel", &[&first]);
    assert_eq!(code, Some(0), "{out}{err}");
    cluster.wait_for_state(&first, "CANCELED", Duration::from_secs(20));

    // A fresh job from the committed offsets: windows 2 and 3 come, window 2 closes. Window 1,
    // open in the cancelled job, is gone with it; nothing of windows 0 and 1 is read again.
    generate_from(&cache, &bootstrap, "input", 12_000, 12_000);
    let (code, out, err) = cluster.cli("run", &[&args[..], &["--starting-offsets", "committed"]].concat());
    assert_eq!(code, Some(0), "{out}{err}");
    let expected: Vec<(String, String)> = [window_range(0, 1), window_range(2, 1)].concat();
    let results = eventually(Duration::from_secs(60), || {
        let lines = witness(&bootstrap, "output", 12, Duration::from_secs(10)).ok()?;
        (lines.len() >= 12).then_some(lines)
    })
    .expect("window 2 from the second job");
    let mut seen: Vec<(String, String)> = results
        .iter()
        .map(|l| parse_statistics(l).expect("well-formed statistics"))
        .inspect(|c| assert_eq!(c.count, 1000, "{c:?}"))
        .map(|c| (c.window_start, c.page))
        .collect();
    seen.sort();
    let mut expected = expected;
    expected.sort();
    assert_eq!(seen, expected, "windows 0 and 2, each page once");
}
