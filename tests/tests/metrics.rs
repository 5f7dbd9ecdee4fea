//! Metrics are real: what the REST metric endpoints, backpressure and Prometheus report of a
//! running cluster (JobManager and TaskManager processes, real HTTP) follows what the jobs do.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use weir_tests::*;

const SOURCE: &str = "Source: ClickEvent Source";

/// Uploads the job and runs it with `args` at `parallelism`; returns the job id.
fn start_job(cluster: &Cluster, jar: &str, args: &str, parallelism: u32) -> String {
    cluster.run(jar, serde_json::json!({ "programArgs": args, "parallelism": parallelism }))
}

fn vertex_id(cluster: &Cluster, job: &str, name: &str) -> String {
    cluster
        .vertices(job)
        .into_iter()
        .find(|(_, n)| n == name)
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("job {job} has no vertex {name}"))
}

#[test]
fn source_records_out_grows_with_the_generator() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    // The playground's generator, at its own pace (about 500 events per second).
    let generator_log = cluster.dir.path().join("generator.log");
    let _generator = WeirProcess::spawn(
        &cluster.dir.path().join("cache"),
        &["generator", "--bootstrap.servers", &bootstrap, "--topic", "input"],
        generator_log,
    );
    let jar = cluster.upload(&click_count_jar(cluster.dir.path()));
    let job = start_job(&cluster, &jar, &format!("--bootstrap.servers {bootstrap} --event-time"), 1);
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));
    let source = vertex_id(&cluster, &job, SOURCE);
    let counter = vertex_id(&cluster, &job, "ClickEvent Counter");
    let vertex = format!("/jobs/{job}/vertices/{source}/metrics");
    let ids = ["0.numRecordsOut", "0.Source__ClickEvent_Source.numRecordsOut", "0.numRecordsOutPerSecond"];

    let first = eventually(Duration::from_secs(20), || {
        metric_value(&cluster.metrics(&vertex, &ids), "0.numRecordsOut").filter(|n| *n > 0.0)
    })
    .unwrap_or_else(|| panic!("the source never reported records out: {}", cluster.get(&vertex).body));
    // The counter goes on growing with the generator, and the rate follows it.
    let later = eventually(Duration::from_secs(20), || {
        let answer = cluster.metrics(&vertex, &ids);
        let out = metric_value(&answer, "0.numRecordsOut")?;
        let rate = metric_value(&answer, "0.numRecordsOutPerSecond")?;
        (out > first + 500.0 && rate > 50.0).then_some(answer)
    })
    .unwrap_or_else(|| panic!("numRecordsOut did not grow past {first}: {}", cluster.metrics(&vertex, &ids)));
    // The operator-scope id names the same count (sanitised as Flink does: `Source__ClickEvent_Source`).
    assert_eq!(
        metric_value(&later, "0.numRecordsOut"),
        metric_value(&later, "0.Source__ClickEvent_Source.numRecordsOut"),
        "{later}"
    );
    let rate = metric_value(&later, "0.numRecordsOutPerSecond").unwrap_or_default();
    assert!(rate < 20_000.0, "the generator writes about 500 events per second, the rate says {rate}");

    // The listing form names Flink's metrics, in both scopes, and the guest's own.
    let listed = cluster.get(&vertex).json();
    let listed: Vec<&str> = listed.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    for id in [
        "0.numRecordsIn",
        "0.numBytesOutPerSecond",
        "0.busyTimeMsPerSecond",
        "0.idleTimeMsPerSecond",
        "0.backPressuredTimeMsPerSecond",
        "0.isBackPressured",
        "0.Shuffle.Netty.Output.Buffers.outputQueueLength",
        "0.Shuffle.Netty.Output.Buffers.outPoolUsage",
        "0.Shuffle.Netty.Input.Buffers.inPoolUsage",
        "0.currentOutputWatermark",
        "0.Source__ClickEvent_Source.wasmTimeMsPerSecond",
        "0.Source__ClickEvent_Source.numMalformedRecordsSkipped",
    ] {
        assert!(listed.contains(&id), "{id} is not listed: {listed:?}");
    }
    let counter_ids = cluster.get(&format!("/jobs/{job}/vertices/{counter}/metrics")).json();
    assert!(
        counter_ids.as_array().unwrap().iter().any(|m| m["id"] == "0.ClickEvent_Counter.numLateRecordsDropped"),
        "{counter_ids}"
    );
    // Event time: the counter's input watermark follows the generator's timestamps.
    let watermarks = eventually(Duration::from_secs(20), || {
        let w = cluster.get(&format!("/jobs/{job}/vertices/{counter}/watermarks")).json();
        (metric_value(&w, "0.currentInputWatermark")? > 0.0).then_some(w)
    });
    assert!(watermarks.is_some(), "{}", cluster.get(&format!("/jobs/{job}/vertices/{counter}/watermarks")).body);

    // Job, TaskManager and JobManager scopes.
    let job_metrics = cluster.metrics(&format!("/jobs/{job}/metrics"), &["uptime", "numRestarts", "downtime"]);
    assert!(metric_value(&job_metrics, "uptime").unwrap_or_default() > 0.0, "{job_metrics}");
    assert_eq!(metric_value(&job_metrics, "numRestarts"), Some(0.0), "{job_metrics}");
    let tm = cluster.get("/taskmanagers").json()["taskmanagers"][0]["id"].as_str().unwrap().to_string();
    let tm_metrics = cluster.metrics(
        &format!("/taskmanagers/{}/metrics", tm.replace(':', "%3A")),
        &["Status.Wasm.Instances", "Status.Wasm.Memory.Used", "Status.Process.Memory.Resident", "Status.Slots.Free"],
    );
    // The source's deserializer and the window counter are guest instances.
    assert!(metric_value(&tm_metrics, "Status.Wasm.Instances").unwrap_or_default() >= 2.0, "{tm_metrics}");
    assert!(metric_value(&tm_metrics, "Status.Wasm.Memory.Used").unwrap_or_default() > 0.0, "{tm_metrics}");
    assert!(metric_value(&tm_metrics, "Status.Process.Memory.Resident").unwrap_or_default() > 0.0, "{tm_metrics}");
    assert_eq!(metric_value(&tm_metrics, "Status.Slots.Free"), Some(1.0), "{tm_metrics}");
    let jm = cluster.metrics("/jobmanager/metrics", &["numRegisteredTaskManagers", "numRunningJobs", "taskSlotsTotal"]);
    assert_eq!(
        jm,
        serde_json::json!([
            {"id": "numRegisteredTaskManagers", "value": "1"},
            {"id": "numRunningJobs", "value": "1"},
            {"id": "taskSlotsTotal", "value": "2"},
        ])
    );
}

/// The backpressure variant, with the clock injected: `--backpressure.schedule always` makes
/// the Backpressure operator sleep in every minute (here 20 ms per record), instead of the
/// test waiting for an even minute of the wall clock. The same job without `--backpressure`
/// runs beside it and is not backpressured.
#[test]
fn backpressure_is_high_behind_a_sleeping_operator_and_ok_without() {
    let cluster = Cluster::start(1, 2);
    let jar = cluster.upload(&click_count_jar(cluster.dir.path()));
    let slow = start_job(
        &cluster,
        &jar,
        "--source datagen --datagen.rate 2000 --sink discard --backpressure --backpressure.schedule always --backpressure.sleep-ms 20",
        1,
    );
    let fine = start_job(&cluster, &jar, "--source datagen --datagen.rate 500 --sink discard", 1);
    cluster.wait_for_all_tasks_running(&slow, Duration::from_secs(30));
    cluster.wait_for_all_tasks_running(&fine, Duration::from_secs(30));

    let source = vertex_id(&cluster, &slow, SOURCE);
    let sleeper = vertex_id(&cluster, &slow, "Backpressure");
    let source_ids = [
        "0.Shuffle.Netty.Output.Buffers.outPoolUsage",
        "0.Shuffle.Netty.Output.Buffers.outputQueueLength",
        "0.backPressuredTimeMsPerSecond",
        "0.isBackPressured",
    ];
    let slow_source = format!("/jobs/{slow}/vertices/{source}");
    let high = eventually(Duration::from_secs(40), || {
        let bp = cluster.get(&format!("{slow_source}/backpressure")).json();
        let m = cluster.metrics(&format!("{slow_source}/metrics"), &source_ids);
        let usage = metric_value(&m, "0.Shuffle.Netty.Output.Buffers.outPoolUsage")?;
        let back_pressured = metric_value(&m, "0.backPressuredTimeMsPerSecond")?;
        (bp["backpressure-level"] == "high" && usage >= 0.75 && back_pressured >= 500.0).then_some((bp, m))
    });
    let (bp, m) = high.unwrap_or_else(|| {
        panic!(
            "the source never looked backpressured: {}\n{}",
            cluster.get(&format!("{slow_source}/backpressure")).body,
            cluster.metrics(&format!("{slow_source}/metrics"), &source_ids)
        )
    });
    assert_eq!(bp["status"], "ok", "{bp}");
    assert_eq!(bp["subtasks"][0]["backpressure-level"], "high", "{bp}");
    assert!(bp["subtasks"][0]["ratio"].as_f64().unwrap() > 0.5, "{bp}");
    assert!(bp["end-timestamp"].as_i64().unwrap() > 0, "{bp}");
    assert!(metric_value(&m, "0.Shuffle.Netty.Output.Buffers.outputQueueLength").unwrap() >= 3.0, "{m}");
    // The sleeping operator is busy, not backpressured.
    let busy = eventually(Duration::from_secs(20), || {
        let m = cluster.metrics(&format!("/jobs/{slow}/vertices/{sleeper}/subtasks/metrics"), &["busyTimeMsPerSecond"]);
        let max = m[0]["max"].as_f64()?;
        (max >= 500.0).then_some(max)
    });
    assert!(busy.is_some(), "{}", cluster.get(&format!("/jobs/{slow}/vertices/{sleeper}/backpressure")).body);
    let sleeper_bp = cluster.get(&format!("/jobs/{slow}/vertices/{sleeper}/backpressure")).json();
    assert_eq!(sleeper_bp["backpressure-level"], "ok", "{sleeper_bp}");

    // Without the sleeping operator: ok, in three successive heartbeats' samples, taken once
    // the source has run for a few seconds (2000 records at 500 a second) behind the answer.
    let fine_source = format!("/jobs/{fine}/vertices/{}", vertex_id(&cluster, &fine, SOURCE));
    let ran = eventually(Duration::from_secs(30), || {
        let m = cluster.metrics(&format!("{fine_source}/metrics"), &["0.numRecordsOut"]);
        (metric_value(&m, "0.numRecordsOut")? >= 2000.0).then_some(())
    });
    assert!(ran.is_some(), "the source without backpressure did not run: {}", cluster.get(&fine_source).body);
    let mut sampled = 0;
    for _ in 0..3 {
        let bp = eventually(Duration::from_secs(20), || {
            let bp = cluster.get(&format!("{fine_source}/backpressure")).json();
            (bp["end-timestamp"].as_i64()? > sampled).then_some(bp)
        })
        .unwrap_or_else(|| panic!("no new sample: {}", cluster.get(&format!("{fine_source}/backpressure")).body));
        sampled = bp["end-timestamp"].as_i64().unwrap_or_default();
        assert_eq!(bp["backpressure-level"], "ok", "{bp}");
        assert!(bp["subtasks"][0]["ratio"].as_f64().unwrap() <= 0.1, "{bp}");
        let m = cluster.metrics(&format!("{fine_source}/metrics"), &source_ids);
        assert!(metric_value(&m, "0.Shuffle.Netty.Output.Buffers.outPoolUsage").unwrap() < 0.5, "{m}");
        assert!(metric_value(&m, "0.backPressuredTimeMsPerSecond").unwrap() < 100.0, "{m}");
    }
}

fn aggregate(cluster: &Cluster, path: &str, query: &str) -> Value {
    let answer = cluster.get(&format!("{path}?{query}"));
    assert_eq!(answer.status, 200, "{path}?{query}: {}", answer.body);
    answer.json()
}

#[test]
fn aggregated_metrics_add_up_over_a_finished_job() {
    let cluster = Cluster::start(1, 2);
    let jar = cluster.upload(&click_count_jar(cluster.dir.path()));
    // A bounded job at parallelism 2: each source subtask makes half of the 6000 events.
    let job = start_job(&cluster, &jar, "--source datagen --datagen.count 6000 --sink discard", 2);
    cluster.wait_for_state(&job, "FINISHED", Duration::from_secs(60));
    let source = vertex_id(&cluster, &job, SOURCE);
    let counter = vertex_id(&cluster, &job, "ClickEvent Counter");
    let subtasks = format!("/jobs/{job}/vertices/{source}/subtasks/metrics");

    // The final counts are kept: the tasks' last report goes out with their final state.
    let all = aggregate(
        &cluster,
        &subtasks,
        "get=numRecordsOut,Source__ClickEvent_Source.numRecordsOut,numRecordsOutPerSecond",
    );
    assert_eq!(
        all,
        serde_json::json!([
            // Subtasks are compared too: `skew` (Flink ≥ 1.19), here none.
            {"id": "numRecordsOut", "min": 3000.0, "max": 3000.0, "avg": 3000.0, "sum": 6000.0, "skew": 0.0},
            {"id": "Source__ClickEvent_Source.numRecordsOut", "min": 3000.0, "max": 3000.0, "avg": 3000.0, "sum": 6000.0, "skew": 0.0},
            // Rates of ended subtasks are zero, whatever they last reported.
            {"id": "numRecordsOutPerSecond", "min": 0.0, "max": 0.0, "avg": 0.0, "sum": 0.0, "skew": 0.0},
        ])
    );
    // `agg` picks (case-insensitively) and orders as Flink does; `subtasks` selects ranges.
    assert_eq!(
        aggregate(&cluster, &subtasks, "get=numRecordsOut&agg=SUM,min&subtasks=1").to_string(),
        r#"[{"id":"numRecordsOut","min":3000.0,"sum":3000.0}]"#
    );
    assert_eq!(aggregate(&cluster, &subtasks, "get=numRecordsOut&agg=sum&subtasks=0-1,7")[0]["sum"], 6000.0);
    // The per-subtask values agree with the aggregate, and the hash-partitioned counter's
    // inputs add up to what the sources sent.
    for i in 0..2 {
        let one = cluster.metrics(&format!("/jobs/{job}/vertices/{source}/subtasks/{i}/metrics"), &["numRecordsOut"]);
        assert_eq!(one, serde_json::json!([{"id": "numRecordsOut", "value": "3000"}]));
    }
    let vertex =
        cluster.metrics(&format!("/jobs/{job}/vertices/{counter}/metrics"), &["0.numRecordsIn", "1.numRecordsIn"]);
    let (a, b) = (metric_value(&vertex, "0.numRecordsIn").unwrap(), metric_value(&vertex, "1.numRecordsIn").unwrap());
    let counter_in =
        aggregate(&cluster, &format!("/jobs/{job}/vertices/{counter}/subtasks/metrics"), "get=numRecordsIn");
    assert_eq!(counter_in[0]["sum"], 6000.0, "{counter_in}");
    assert_eq!(
        (a + b, a.min(b), a.max(b)),
        (6000.0, counter_in[0]["min"].as_f64().unwrap(), counter_in[0]["max"].as_f64().unwrap())
    );
    // The job's vertex IO metrics say the same.
    let details = cluster.get(&format!("/jobs/{job}")).json();
    assert_eq!(details["vertices"][0]["metrics"]["write-records"], 6000, "{details}");
    // Job scope, aggregated over jobs: an ended job is no longer up (Flink's -1).
    assert_eq!(
        aggregate(&cluster, "/jobs/metrics", &format!("get=uptime,numRestarts&jobs={job}")),
        serde_json::json!([
            {"id": "uptime", "min": -1.0, "max": -1.0, "avg": -1.0, "sum": -1.0},
            {"id": "numRestarts", "min": 0.0, "max": 0.0, "avg": 0.0, "sum": 0.0},
        ])
    );
    // Without `jobs`, only running jobs count, as in Flink's metric store: none here.
    assert_eq!(aggregate(&cluster, "/jobs/metrics", "get=uptime"), serde_json::json!([]));
    let tms = aggregate(&cluster, "/taskmanagers/metrics", "get=Status.Slots.Total,Status.Slots.Free&agg=sum");
    assert_eq!(
        tms,
        serde_json::json!([{"id": "Status.Slots.Total", "sum": 2.0}, {"id": "Status.Slots.Free", "sum": 2.0}])
    );
    // The ended job's backpressure is ok throughout.
    let bp = cluster.get(&format!("/jobs/{job}/vertices/{source}/backpressure")).json();
    assert_eq!((bp["status"].as_str(), bp["backpressure-level"].as_str()), (Some("ok"), Some("ok")), "{bp}");

    // Bad requests get Flink's status codes; the v1 prefix works as everywhere.
    assert_eq!(cluster.get(&format!("{subtasks}?get=numRecordsOut&agg=median")).status, 400);
    assert_eq!(cluster.get(&format!("{subtasks}?get=numRecordsOut&subtasks=2-1")).status, 400);
    assert_eq!(cluster.get("/jobs/not-a-job/metrics").status, 400);
    assert_eq!(cluster.get(&format!("/jobs/{}/metrics", "0".repeat(32))).status, 404);
    assert_eq!(cluster.get(&format!("/jobs/{job}/vertices/{}/metrics", "0".repeat(32))).status, 404);
    assert_eq!(cluster.get(&format!("/jobs/{job}/vertices/{source}/subtasks/5/metrics")).status, 404);
    assert_eq!(cluster.get("/taskmanagers/nobody/metrics").status, 404);
    assert_eq!(cluster.get(&format!("/v1{subtasks}?get=numRecordsOut&agg=sum")).json()[0]["sum"], 6000.0);
}

#[test]
fn prometheus_endpoint_parses_as_the_text_format() {
    let cluster = Cluster::start(1, 1);
    let jar = cluster.upload(&click_count_jar(cluster.dir.path()));
    let job = start_job(&cluster, &jar, "--source datagen --datagen.rate 500 --sink discard", 1);
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(30));
    let text = eventually(Duration::from_secs(20), || {
        let body = cluster.get("/metrics").body;
        body.contains("flink_taskmanager_job_task_numRecordsOut{").then_some(body)
    })
    .unwrap_or_else(|| panic!("no task metrics in /metrics:\n{}", cluster.get("/metrics").body));
    let head = curl(&["-s", "-D", "-", "-o", "/dev/null", &cluster.url("/metrics")]);
    assert!(head.body.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{}", head.body);

    // An independent parser: the Prometheus project's Python client.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prometheus_parse.py");
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the Prometheus parser (tests/run installs prometheus-client)");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), text.as_bytes()).expect("feed the parser");
    let out = child.wait_with_output().expect("the parser's output");
    assert!(out.status.success(), "the exposition does not parse: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    let families: Value = serde_json::from_slice(&out.stdout).expect("the parser's JSON");
    let samples = |family: &str| families[family].as_array().cloned().unwrap_or_default();

    let jm = samples("flink_jobmanager_numRegisteredTaskManagers");
    assert_eq!(jm.len(), 1, "{families}");
    assert_eq!(jm[0]["value"], 1.0);
    let out_records = samples("flink_taskmanager_job_task_numRecordsOut");
    let source = out_records
        .iter()
        .find(|s| s["labels"]["task_name"] == "Source:_ClickEvent_Source")
        .unwrap_or_else(|| panic!("no source sample: {out_records:?}"));
    assert_eq!(source["labels"]["job_id"], job.as_str());
    assert_eq!(source["labels"]["job_name"], "Click_Event_Count");
    assert_eq!(source["labels"]["subtask_index"], "0");
    assert!(source["value"].as_f64().unwrap() > 0.0, "{source}");
    for family in [
        "flink_taskmanager_job_task_Shuffle_Netty_Output_Buffers_outPoolUsage",
        "flink_taskmanager_job_task_backPressuredTimeMsPerSecond",
        "flink_taskmanager_job_task_isBackPressured",
        "flink_taskmanager_job_task_operator_wasmTimeMsPerSecond",
        "flink_taskmanager_job_task_operator_numLateRecordsDropped",
        "flink_taskmanager_Status_Wasm_Instances",
        "flink_taskmanager_Status_JVM_CPU_Load",
        "flink_jobmanager_job_uptime",
        "flink_jobmanager_taskSlotsTotal",
    ] {
        assert!(!samples(family).is_empty(), "{family} missing from /metrics:\n{text}");
    }
    assert_eq!(samples("flink_jobmanager_job_uptime")[0]["labels"]["job_id"], job.as_str());
}
