//! Every GET route of Flink's REST API answers, truthfully: the routes of Flink's spec
//! (`tests/data/flink-rest-openapi.yml`) walked with the ids of a running job on a real cluster,
//! each answer checked against the spec's schema; and the processes' logs and thread dumps
//! (rotated files, served by name only, fetched from the TaskManagers over the control channel).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use weir_tests::*;

/// The spec, as JSON.
fn spec() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/flink-rest-openapi.yml");
    let text = std::fs::read_to_string(&path).expect("the spec is in tests/data");
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("the spec is YAML");
    to_json(&docs[0])
}

fn to_json(yaml: &yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match yaml {
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .filter_map(|(k, v)| {
                    Some((k.as_str().map(str::to_string).or_else(|| k.as_i64().map(|n| n.to_string()))?, to_json(v)))
                })
                .collect(),
        ),
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::String(s) => json!(s),
        Yaml::Integer(i) => json!(i),
        Yaml::Real(r) => json!(r.parse::<f64>().unwrap_or_default()),
        Yaml::Boolean(b) => json!(b),
        _ => Value::Null,
    }
}

/// Resolves `$ref`s into the spec's schemas.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => resolve(spec, &spec["components"]["schemas"][r.rsplit('/').next().unwrap_or_default()]),
        None => schema,
    }
}

/// The keys the schema names that `value` lacks, as paths (`/vertices/0/metrics/read-bytes`).
/// Objects must have every property the spec lists (a property may be null where Flink's is);
/// arrays and maps are checked item by item.
///
/// Where Flink's own serializers write other keys than the generated spec names (its metric
/// lists are bare arrays, its job configuration uses `jid`/`name`/`execution-config`, a job's
/// result is absent while it runs), the wire format real Flink sends is checked instead.
fn missing(spec: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schemas = &spec["components"]["schemas"];
    match schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
        Some("MetricCollectionResponseBody") => {
            let wire = json!({"type": "array", "items": schemas["MetricCollectionResponseBody"]["properties"]["metrics"]["items"]});
            return missing(spec, &wire, value, at, out);
        }
        Some("JobConfigInfo") => {
            let wire = json!({"properties": {"jid": {}, "name": {}, "execution-config": schemas["JobConfigInfo"]["properties"]["executionConfigInfo"]}});
            return missing(spec, &wire, value, at, out);
        }
        Some("JobExecutionResultResponseBody") if value["status"]["id"] == "IN_PROGRESS" => {
            let wire =
                json!({"properties": {"status": schemas["JobExecutionResultResponseBody"]["properties"]["status"]}});
            return missing(spec, &wire, value, at, out);
        }
        _ => {}
    }
    let schema = resolve(spec, schema);
    if value.is_null() {
        return;
    }
    if let Some(alternatives) = schema["oneOf"].as_array() {
        // Polymorphic (`@class`): one alternative must fit.
        let fits = alternatives.iter().any(|alt| {
            let mut gaps = Vec::new();
            missing(spec, alt, value, at, &mut gaps);
            gaps.is_empty()
        });
        if !fits {
            out.push(format!("{at} fits none of the spec's alternatives: {value}"));
        }
        return;
    }
    if let Some(properties) = schema["properties"].as_object() {
        let Some(object) = value.as_object() else {
            out.push(format!("{at} is not an object: {value}"));
            return;
        };
        for (key, property) in properties {
            match object.get(key) {
                None => out.push(format!("{at}/{key}")),
                Some(v) => missing(spec, property, v, &format!("{at}/{key}"), out),
            }
        }
    } else if schema["type"] == "array" {
        match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate().take(20) {
                    missing(spec, &schema["items"], item, &format!("{at}/{i}"), out);
                }
            }
            None => out.push(format!("{at} is not an array: {value}")),
        }
    } else if let (Some(_), Some(map)) = (schema["additionalProperties"].as_object(), value.as_object()) {
        for (k, v) in map.iter().take(20) {
            missing(spec, &schema["additionalProperties"], v, &format!("{at}/{k}"), out);
        }
    }
}

fn vertex_id(cluster: &Cluster, job: &str, name: &str) -> String {
    cluster.vertices(job).into_iter().find(|(_, n)| n == name).map(|(id, _)| id).expect("the vertex")
}

/// Starts the Click Event Count job at parallelism 2 over two TaskManagers with checkpointing,
/// fed by the generator, and waits for its first completed checkpoint.
fn running_job(cluster: &Cluster, broker: &Broker) -> (String, WeirProcess) {
    let generator = cluster.generator(&broker.bootstrap(), 1_000_000, 300);
    let jar = cluster.upload(&click_count_jar(cluster.dir.path()));
    let args = format!("--bootstrap.servers {} --checkpointing --event-time", broker.bootstrap());
    let job = cluster.run(&jar, json!({ "programArgs": args, "parallelism": 2 }));
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(60));
    let checkpointed = eventually(Duration::from_secs(60), || (cluster.checkpoints_completed(&job) > 0).then_some(()));
    assert!(
        checkpointed.is_some(),
        "no checkpoint completed: {}",
        cluster.get(&format!("/jobs/{job}/checkpoints")).body
    );
    (job, generator)
}

/// Every GET route of Flink's REST spec answers 200 with the spec's keys, and what they say is
/// true of the running job (README: "every route of Flink's REST API answers").
#[test]
fn every_get_route_of_flinks_spec_answers_with_the_specs_keys_and_true_values() {
    let broker = Broker::start();
    let cluster = Cluster::start(2, 1);
    let (job, _generator) = running_job(&cluster, &broker);
    let source = vertex_id(&cluster, &job, "Source: ClickEvent Source");
    let counter = vertex_id(&cluster, &job, "ClickEvent Counter");
    // The subtasks' metrics arrive with the TaskManagers' heartbeats: wait until both of the
    // counter's subtasks have reported (before that, their metric lists are empty, as Flink's).
    let reported = eventually(Duration::from_secs(30), || {
        let listed = cluster.get(&format!("/jobs/{job}/vertices/{counter}/metrics")).body;
        (listed.contains("\"0.currentInputWatermark\"") && listed.contains("\"1.currentInputWatermark\"")).then_some(())
    });
    assert!(reported.is_some(), "the counter's subtasks never reported metrics");
    let checkpoint = cluster.get(&format!("/jobs/{job}/checkpoints")).json()["latest"]["completed"]["id"].clone();
    let subtask = cluster.get(&format!("/jobs/{job}/vertices/{counter}")).json()["subtasks"][0].clone();
    let tm = subtask["taskmanager-id"].as_str().expect("the subtask runs on a TaskManager").to_string();
    let ids: BTreeMap<&str, String> = [
        ("jobid", job.clone()),
        ("vertexid", counter.clone()),
        ("subtaskindex", "0".to_string()),
        ("attempt", subtask["attempt"].to_string()),
        ("checkpointid", checkpoint.to_string()),
        ("taskmanagerid", tm.clone()),
    ]
    .into_iter()
    .collect();

    let spec = spec();
    let mut walked = 0;
    let mut failures = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        let Some(get) = item.get("get") else { continue };
        // Status polls of operations started by a POST: they need a trigger id (the savepoint and
        // disposal ones are proven in the cluster and fault-tolerance tests).
        if path.contains("{triggerid}") {
            continue;
        }
        let mut url = path.clone();
        for (name, value) in &ids {
            url = url.replace(&format!("{{{name}}}"), value);
        }
        assert!(!url.contains('{'), "a path parameter without an id: {path}");
        walked += 1;
        let answer = cluster.get(&url);
        if answer.status != 200 {
            failures.push(format!("GET {path} answered {}: {}", answer.status, answer.body));
            continue;
        }
        let schema = &get["responses"]["200"]["content"]["application/json"]["schema"];
        let mut body = answer.json();
        if schema["$ref"].as_str().is_some_and(|r| r.ends_with("/MetricCollectionResponseBody")) {
            // Without `get`, Flink lists the metric ids; with it, their values: ask for some.
            let ids: Vec<&str> =
                body.as_array().into_iter().flatten().filter_map(|m| m["id"].as_str()).take(5).collect();
            assert!(!ids.is_empty(), "GET {path} lists no metric");
            let values = cluster.get(&format!("{url}?get={}", ids.join(",")));
            assert_eq!(values.status, 200, "{path}?get=: {}", values.body);
            body = values.json();
        }
        let mut gaps = Vec::new();
        missing(&spec, schema, &body, "", &mut gaps);
        if !gaps.is_empty() {
            failures.push(format!("GET {path} lacks {gaps:?}"));
        }
    }
    assert_eq!(walked, 48, "the spec's GET routes without a trigger id");
    assert!(failures.is_empty(), "{} of {walked} routes fail:\n{}", failures.len(), failures.join("\n"));

    // What they say is true of this job.
    let get = |path: &str| {
        let answer = cluster.get(path);
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        answer.json()
    };
    assert_eq!(get(&format!("/jobs/{job}/status")), json!({"status": "RUNNING"}));
    assert_eq!(get(&format!("/jobs/{job}/execution-result")), json!({"status": {"id": "IN_PROGRESS"}}));
    assert_eq!(get("/datasets"), json!({"dataSets": []}));
    // The guest's counters are the job's user accumulators (the engine's own metrics are not).
    let accumulators = get(&format!("/jobs/{job}/accumulators"));
    let names: Vec<&str> =
        accumulators["user-task-accumulators"].as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
    assert!(
        names.contains(&"numMalformedRecordsSkipped") && names.contains(&"numLateRecordsDropped"),
        "{accumulators}"
    );
    assert!(!names.contains(&"numRecordsIn"), "{accumulators}");
    let per_subtask = get(&format!("/jobs/{job}/vertices/{counter}/subtasks/accumulators"));
    assert_eq!(per_subtask["parallelism"], 2, "{per_subtask}");
    // A subtask's details name the TaskManager it runs on, its host and data endpoint.
    let details = get(&format!("/jobs/{job}/vertices/{counter}/subtasks/0"));
    let tm_info = get(&format!("/taskmanagers/{tm}"));
    assert_eq!(details["host"], "127.0.0.1", "{details}");
    assert_eq!(details["endpoint"], format!("127.0.0.1:{}", tm_info["dataPort"]), "{details}");
    assert_eq!(details["status"], "RUNNING");
    assert!(details["status-duration"]["RUNNING"].as_i64().unwrap() > 0, "{details}");
    let times = get(&format!("/jobs/{job}/vertices/{counter}/subtasktimes"));
    assert!(times["subtasks"][1]["timestamps"]["RUNNING"].as_i64().unwrap() > 0, "{times}");
    // Two TaskManagers with one slot each: the vertex runs on both, one subtask each.
    let tms = get(&format!("/jobs/{job}/vertices/{source}/taskmanagers"));
    assert_eq!(tms["taskmanagers"].as_array().unwrap().len(), 2, "{tms}");
    assert!(tms["taskmanagers"].as_array().unwrap().iter().all(|t| t["status-counts"]["RUNNING"] == 1), "{tms}");
    let all_tms = get("/taskmanagers");
    let assigned: u64 =
        all_tms["taskmanagers"].as_array().unwrap().iter().filter_map(|t| t["assignedTasks"].as_u64()).sum();
    assert_eq!(assigned, cluster.job_overview(&job)["tasks"]["running"].as_u64().unwrap(), "{all_tms}");
    // The checkpoint's per-task map and its subtasks' acknowledgements.
    let details = get(&format!("/jobs/{job}/checkpoints/details/{checkpoint}"));
    assert_eq!(details["tasks"][&counter]["num_acknowledged_subtasks"], 2, "{details}");
    let subtasks = get(&format!("/jobs/{job}/checkpoints/details/{checkpoint}/subtasks/{counter}"));
    assert!(subtasks["subtasks"].as_array().unwrap().iter().all(|s| s["status"] == "completed"), "{subtasks}");
    // The newer names beside the older ones.
    let backpressure = get(&format!("/jobs/{job}/vertices/{source}/backpressure"));
    if backpressure["status"] == "ok" {
        assert_eq!(backpressure["backpressureLevel"], backpressure["backpressure-level"], "{backpressure}");
    }
    assert_eq!(get(&format!("/jobs/{job}"))["job-type"], "STREAMING");
    assert_eq!(get("/config")["features"]["web-rescale"], true);
    let skew = get(&format!("/jobs/{job}/vertices/{counter}/subtasks/metrics?get=numRecordsIn"));
    assert!(skew[0]["skew"].is_number(), "{skew}");
    // Flame graphs are sampled (the guest's stacks: see the flame graph test).
    let flame = get(&format!("/jobs/{job}/vertices/{counter}/flamegraph"));
    assert!(flame["endTimestamp"].as_i64() > Some(0) && flame["data"]["name"] == "root", "{flame}");

    // Once the job ends, its execution result.
    let cancel = curl(&["-X", "PATCH", &cluster.url(&format!("/jobs/{job}?mode=cancel"))]);
    assert_eq!(cancel.status, 202, "{}", cancel.body);
    cluster.wait_for_state(&job, "CANCELED", Duration::from_secs(30));
    let result = get(&format!("/jobs/{job}/execution-result"));
    assert_eq!(result["status"]["id"], "COMPLETED", "{result}");
    assert_eq!(result["job-execution-result"]["application-status"], "CANCELED", "{result}");
    assert!(result["job-execution-result"]["net-runtime"].as_i64().unwrap() > 0, "{result}");
}

/// The JobManager's and the TaskManagers' logs are plain-text files, rotated within their bound,
/// listed and served over REST (a TaskManager's through the JobManager), one line per completed
/// checkpoint on a TaskManager; no name outside the listing is served (README: "Logs and thread
/// dumps").
#[test]
fn logs_are_rotated_files_served_by_name_only_and_thread_dumps_name_the_subtasks() {
    let broker = Broker::start();
    // Small files, two rotated ones kept: the JobManager's log rotates within the test.
    let cluster = Cluster::start_with(2, 1, &["-Dweir.log.file-size=4096", "-Denv.log.max=2"]);
    let (job, _generator) = running_job(&cluster, &broker);
    let text = |path: &str| {
        let answer = cluster.get(path);
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        answer.body
    };

    // The JobManager's log: the current file and, as it grows, two rotated ones, none beyond
    // the bound (a line may finish a file: 4096 plus one line).
    let files = eventually(Duration::from_secs(90), || {
        let logs = cluster.get("/jobmanager/logs").json()["logs"].as_array().cloned()?;
        (logs.len() == 3).then_some(logs)
    })
    .unwrap_or_else(|| panic!("the JobManager's log did not rotate: {}", cluster.get("/jobmanager/logs").body));
    let names: Vec<String> = files.iter().map(|f| f["name"].as_str().unwrap().to_string()).collect();
    assert!(names[0].starts_with("weir-jobmanager-") && names[0].ends_with(".log"), "{names:?}");
    assert_eq!(names[1], format!("{}.1", names[0]));
    assert_eq!(names[2], format!("{}.2", names[0]));
    for f in &files {
        assert!(f["size"].as_u64().unwrap() <= 4096, "{f}");
    }
    let rotated = text(&format!("/jobmanager/logs/{}", names[1]));
    assert!(rotated.contains("Completed checkpoint"), "{rotated}");
    assert!(!rotated.contains('\u{1b}'), "no terminal colour codes in a log file");

    // A TaskManager's log, through the JobManager: one line per completed checkpoint.
    let tms = cluster.get("/taskmanagers").json();
    let tm_id = tms["taskmanagers"][0]["id"].as_str().unwrap().to_string();
    let tm_logs = cluster.get(&format!("/taskmanagers/{tm_id}/logs")).json();
    let tm_file = tm_logs["logs"][0]["name"].as_str().expect("a TaskManager log file").to_string();
    assert!(tm_file.starts_with("weir-taskmanager-"), "{tm_logs}");
    let lines = eventually(Duration::from_secs(30), || {
        let log = text(&format!("/taskmanagers/{tm_id}/logs/{tm_file}"));
        let n = log.lines().filter(|l| l.contains("Completed checkpoint") && l.contains(&job)).count();
        (n >= 2).then_some(log)
    })
    .expect("the TaskManager logs its completed checkpoints");
    assert!(!lines.contains('\u{1b}'), "no terminal colour codes in a log file");
    assert_eq!(text(&format!("/taskmanagers/{tm_id}/log")).get(..100), lines.get(..100));
    // From a byte on, as the web UI follows a log (the file only grows: it is far from its bound).
    let from = cluster.get(&format!("/taskmanagers/{tm_id}/logs/{tm_file}?start=100"));
    assert_eq!(from.status, 200);
    assert!(from.body.starts_with(&lines[100..]), "{}", from.body);
    let url = cluster.get(&format!("/jobs/{job}/taskmanagers/{tm_id}/log-url")).json();
    assert_eq!(url["url"], cluster.url(&format!("/taskmanagers/{tm_id}/log")), "{url}");
    let url = cluster.get(&format!("/jobs/{job}/jobmanager/log-url")).json();
    assert_eq!(url["url"], cluster.url("/jobmanager/log"), "{url}");

    // Nothing but the listed names: not a path, `..`, another file of the directory, a file
    // beyond the rotation, or an absolute path, encoded or not.
    for bad in [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "..",
        "../jobmanager",
        "..%2Fjobmanager-0.log",
        &format!("{}.3", names[0]),
        &format!("{}%00", names[0]),
        "taskmanager-0.log",
    ] {
        for base in ["/jobmanager/logs".to_string(), format!("/taskmanagers/{tm_id}/logs")] {
            let answer = cluster.get(&format!("{base}/{bad}"));
            assert!(answer.status == 404 || answer.status == 400, "{base}/{bad}: {} {}", answer.status, answer.body);
            assert!(!answer.body.contains("root:"), "{}", answer.body);
        }
    }
    assert_eq!(cluster.get("/taskmanagers/nope/logs").status, 404);

    // Thread dumps: the TaskManager's subtask threads by their full names, with their states.
    let dump = cluster.get(&format!("/taskmanagers/{tm_id}/thread-dump")).json();
    let threads = dump["threadInfos"].as_array().expect("threadInfos");
    let names: Vec<&str> = threads.iter().filter_map(|t| t["threadName"].as_str()).collect();
    assert!(
        names.iter().any(|n| n.starts_with("ClickEvent Counter (") && n.ends_with("/2)")),
        "the counter's subtask thread is named: {names:?}"
    );
    assert!(threads.iter().all(|t| t["stringifiedThreadInfo"].as_str().unwrap().starts_with('"')), "{dump}");
    let jm_dump = cluster.get("/jobmanager/thread-dump").json();
    assert!(jm_dump["threadInfos"].as_array().unwrap().len() > 1, "{jm_dump}");
}

/// The web UI's Logs and Thread Dump tabs, in Chromium: the JobManager's and a TaskManager's
/// logs shown and followed as they grow, the TaskManager's checkpoint lines, its subtask threads
/// (README: "Logs and thread dumps"; screenshot `target/web-ui/logs.png`).
#[test]
fn the_web_ui_follows_the_logs_and_shows_the_threads_in_chromium() {
    let chromium = "/usr/bin/chromium";
    let chromedriver = "/usr/bin/chromedriver";
    for tool in [chromium, chromedriver] {
        assert!(std::path::Path::new(tool).exists(), "{tool} is missing: tests/run installs Debian's chromium");
    }
    let cluster = Cluster::start(1, 2);
    let jar = cluster.upload(&click_count_jar(cluster.dir.path()));
    let args = "--source datagen --datagen.rate 200 --event-time --checkpointing --sink discard";
    let job = cluster.run(&jar, json!({ "programArgs": args, "parallelism": 2 }));
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(60));
    let artifacts = target_dir().join("web-ui");
    std::fs::create_dir_all(&artifacts).expect("the artifact directory");
    let screenshot = artifacts.join("logs.png");
    let browser_dir = cluster.dir.path().join("chromium");
    std::fs::create_dir_all(&browser_dir).expect("a Chromium profile directory");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web_ui_logs.py");
    let out = std::process::Command::new(python())
        .arg(&script)
        .args(["--url", &cluster.url("/"), "--screenshot", screenshot.to_str().expect("utf-8 path")])
        .args(["--user-data-dir", browser_dir.to_str().expect("utf-8 path")])
        .args(["--chromium", chromium, "--chromedriver", chromedriver])
        .output()
        .expect("run the browser script (tests/run installs selenium)");
    let said = String::from_utf8_lossy(&out.stderr);
    eprintln!("{said}");
    assert!(out.status.success(), "the browser script failed:\n{said}\n{}", cluster.jobmanager_log());
    let seen: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the script's result line");
    let jm_logs = cluster.get("/jobmanager/logs").json();
    assert_eq!(seen["jobmanagerFile"], jm_logs["logs"][0]["name"], "{seen}");
    assert!(seen["taskmanagerFile"].as_str().is_some_and(|f| f.starts_with("weir-taskmanager-")), "{seen}");
    assert!(seen["jobmanagerGrew"].as_u64() >= Some(2) && seen["taskmanagerGrew"].as_u64() >= Some(2), "{seen}");
    let threads: Vec<&str> = seen["threads"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(
        threads.contains(&"ClickEvent Counter (1/2)") && threads.contains(&"ClickEvent Counter (2/2)"),
        "{threads:?}"
    );
}

/// Names of the flame graph's frames with their sample counts, depth first.
fn frames(node: &Value, out: &mut Vec<(String, u64)>) {
    out.push((node["name"].as_str().unwrap_or_default().to_string(), node["value"].as_u64().unwrap_or(0)));
    for child in node["children"].as_array().into_iter().flatten() {
        frames(child, out);
    }
}

/// A vertex's flame graph samples its guest's WebAssembly stacks on demand, in Flink's tree of
/// `{name, value, children}`, naming the user function's own code; a parent's count covers its
/// children's; `OFF_CPU` is empty and an unknown type refused; the web UI draws it in Chromium
/// (README: "Flame graphs").
#[test]
fn the_flame_graph_samples_the_guests_webassembly_stacks() {
    let cluster = Cluster::start(1, 2);
    let jar = cluster.upload(&click_count_jar(cluster.dir.path()));
    let job = cluster.run(&jar, json!({ "programArgs": "--source datagen --sink discard", "parallelism": 1 }));
    cluster.wait_for_all_tasks_running(&job, Duration::from_secs(60));
    let counter = vertex_id(&cluster, &job, "ClickEvent Counter");
    let url = format!("/jobs/{job}/vertices/{counter}/flamegraph");
    let started = std::time::Instant::now();
    let graph = eventually(Duration::from_secs(60), || {
        let answer = cluster.get(&url);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let graph = answer.json();
        (graph["data"]["value"].as_u64() > Some(0)).then_some(graph)
    })
    .expect("the counter's guest was never sampled");
    assert!(graph["endTimestamp"].as_i64() > Some(0), "{graph}");
    assert_eq!(graph["data"]["name"], "root", "{graph}");
    fn parents_cover_children(node: &Value) -> bool {
        let children = node["children"].as_array().cloned().unwrap_or_default();
        let sum: u64 = children.iter().filter_map(|c| c["value"].as_u64()).sum();
        sum <= node["value"].as_u64().unwrap_or(0) && children.iter().all(parents_cover_children)
    }
    assert!(parents_cover_children(&graph["data"]), "{graph}");
    let mut seen = Vec::new();
    frames(&graph["data"], &mut seen);
    eprintln!("sampled in {:?}: {seen:?}", started.elapsed());
    assert!(
        seen.iter().any(|(name, count)| *count > 0 && name.contains("click_event")),
        "no frame of the guest's own code: {seen:?}"
    );
    let off_cpu = cluster.get(&format!("{url}?type=OFF_CPU")).json();
    assert_eq!(off_cpu["data"]["value"], 0, "{off_cpu}");
    assert_eq!(cluster.get(&format!("{url}?type=SOMETIMES")).status, 400);

    // The web UI's Flame Graph panel draws the same tree as nested bars, in Chromium.
    let (chromium, chromedriver) = ("/usr/bin/chromium", "/usr/bin/chromedriver");
    let artifacts = target_dir().join("web-ui");
    std::fs::create_dir_all(&artifacts).expect("the artifact directory");
    let screenshot = artifacts.join("flamegraph.png");
    let browser_dir = cluster.dir.path().join("chromium");
    std::fs::create_dir_all(&browser_dir).expect("a Chromium profile directory");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web_ui_flame.py");
    let out = std::process::Command::new(python())
        .arg(&script)
        .args(["--url", &cluster.url("/"), "--screenshot", screenshot.to_str().expect("utf-8 path")])
        .args(["--job", &job, "--vertex", &counter])
        .args(["--user-data-dir", browser_dir.to_str().expect("utf-8 path")])
        .args(["--chromium", chromium, "--chromedriver", chromedriver])
        .output()
        .expect("run the browser script (tests/run installs selenium)");
    let said = String::from_utf8_lossy(&out.stderr);
    eprintln!("{said}");
    assert!(out.status.success(), "the browser script failed:\n{said}");
    let drawn: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the script's result line");
    let drawn = drawn["frames"].as_array().expect("the drawn frames").clone();
    assert_eq!(drawn[0][0], "root", "{drawn:?}");
    assert!(drawn.iter().any(|f| f[0].as_str().is_some_and(|n| n.contains("click_event"))), "{drawn:?}");
}
