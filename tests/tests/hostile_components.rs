//! Hostile components against a real cluster (JobManager and TaskManager processes, REST): the
//! attacks of issue 22 on the sandbox's resource budget and time limit, each in a core module
//! written by hand in WAT (Rust cannot express many memories or tables) and made into a
//! `weir:job` component with `wit-component`. Each attack is refused or stopped with an error
//! naming its cause and key, the processes stay up with their resident memory within the budget
//! plus a bounded overhead, and a good job runs afterwards on the same slots.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use weir_tests::*;

const MIB: u64 = 1 << 20;

/// What a hostile component does.
#[derive(Clone, Copy, Debug)]
enum Attack {
    /// Grows 8 extra linear memories to 250 MiB each and writes to every page.
    Memories,
    /// Grows 4 tables by 33 M elements each.
    Tables,
    /// `wasi:clocks/monotonic-clock.subscribe-duration` of an hour, then `pollable.block`.
    Sleep,
}

/// Where it does it: in `plan` (on the JobManager) or in an operator's `open` (on a TaskManager).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    Plan,
    Open,
}

/// WASI as much as the attacks import, at the version Rust guests use; the host links the
/// newest 0.2 release for it.
const WASI: [(&str, &str); 2] = [
    (
        "wasi-io.wit",
        "package wasi:io@0.2.0;
         interface poll {
             resource pollable { ready: func() -> bool; block: func(); }
             poll: func(in: list<borrow<pollable>>) -> list<u32>;
         }",
    ),
    (
        "wasi-clocks.wit",
        "package wasi:clocks@0.2.0;
         interface monotonic-clock {
             use wasi:io/poll@0.2.0.{pollable};
             type instant = u64;
             type duration = u64;
             now: func() -> instant;
             subscribe-duration: func(when: duration) -> pollable;
         }",
    ),
];

/// The world the hostile core modules are built against: Weir's, plus a WASI clock.
const WORLD: &str = "package hostile:job;
    world hostile {
        include weir:job/job@0.1.0;
        import wasi:clocks/monotonic-clock@0.2.0;
    }";

/// Where `plan`'s answer and the operator's record sit in the module's memory.
const PLAN_RESULT: u32 = 2048;
const OPERATOR: u32 = 2304;
const STRINGS: u32 = 2560;

fn put_u32(bytes: &mut [u8], at: u32, value: u32) {
    let at = usize::try_from(at).expect("small offsets");
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// The answer of `plan` in the canonical ABI's layout, from [`PLAN_RESULT`] on: `ok` of a job
/// graph of one operator, "Hostile", a datagen source whose batches go to guest function "f".
fn plan_answer() -> Vec<u8> {
    // result<job-graph, string>: the case at 0, the job graph (alignment 8) at 8.
    let mut memory = vec![0u8; 1024];
    let base = PLAN_RESULT;
    let strings = ["hostile", "src", "Hostile", "f"];
    let mut at = STRINGS;
    let mut spans = Vec::new();
    for s in strings {
        let len = u32::try_from(s.len()).expect("short");
        spans.push((at, len));
        let start = usize::try_from(at - base).expect("in range");
        memory[start..start + s.len()].copy_from_slice(s.as_bytes());
        at += len;
    }
    let field = |offset: u32| offset - base;
    let graph = base + 8;
    // name, operators (one), time: processing-time (case 1), checkpoints: none, max parallelism.
    put_u32(&mut memory, field(graph), spans[0].0);
    put_u32(&mut memory, field(graph + 4), spans[0].1);
    put_u32(&mut memory, field(graph + 8), OPERATOR);
    put_u32(&mut memory, field(graph + 12), 1);
    memory[usize::try_from(field(graph + 16)).expect("in range")] = 1;
    put_u32(&mut memory, field(graph + 64), 128);
    // The operator: uid, name, kind = source (case 0) of connector datagen (case 1, its
    // payload at 8: count and rate none), function = some("f"), no inputs, empty config,
    // default parallelism.
    let op = OPERATOR;
    put_u32(&mut memory, field(op), spans[1].0);
    put_u32(&mut memory, field(op + 4), spans[1].1);
    put_u32(&mut memory, field(op + 8), spans[2].0);
    put_u32(&mut memory, field(op + 12), spans[2].1);
    memory[usize::try_from(field(op + 16)).expect("in range")] = 0;
    memory[usize::try_from(field(op + 24)).expect("in range")] = 1;
    memory[usize::try_from(field(op + 64)).expect("in range")] = 1;
    put_u32(&mut memory, field(op + 68), spans[3].0);
    put_u32(&mut memory, field(op + 72), spans[3].1);
    put_u32(&mut memory, field(op + 80), STRINGS);
    put_u32(&mut memory, field(op + 88), STRINGS);
    memory
}

/// The attack's instructions and the module fields it needs.
fn attack_code(attack: Attack) -> (String, String) {
    match attack {
        Attack::Memories => {
            let fields = (1..=8).map(|i| format!("(memory $m{i} 0)")).collect::<Vec<_>>().join(" ");
            // 4000 pages: 250 MiB, written to so that it is resident.
            let code = (1..=8)
                .map(|i| {
                    format!(
                        "(drop (memory.grow $m{i} (i32.const 4000))) (memory.fill $m{i} (i32.const 0) (i32.const 1) (i32.const 262144000))"
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            (fields, code)
        }
        Attack::Tables => {
            let fields = (1..=4).map(|i| format!("(table $t{i} 0 funcref)")).collect::<Vec<_>>().join(" ");
            let code = (1..=4)
                .map(|i| format!("(drop (table.grow $t{i} (ref.null func) (i32.const 33000000)))"))
                .collect::<Vec<_>>()
                .join("\n");
            (fields, code)
        }
        Attack::Sleep => (String::new(), "(call $block (call $subscribe (i64.const 3600000000000)))".into()),
    }
}

/// A `weir:job` component whose `plan` or `open` runs `attack`.
fn hostile(attack: Attack, stage: Stage) -> Vec<u8> {
    let (fields, code) = attack_code(attack);
    let (in_plan, in_open) = if stage == Stage::Plan { (code.as_str(), "") } else { ("", code.as_str()) };
    let data: String = plan_answer().iter().map(|b| format!("\\{b:02x}")).collect();
    let open_params = "i32 ".repeat(14);
    let wat = format!(
        r#"(module
            (import "wasi:clocks/monotonic-clock@0.2.0" "subscribe-duration" (func $subscribe (param i64) (result i32)))
            (import "wasi:io/poll@0.2.0" "[method]pollable.block" (func $block (param i32)))
            (memory (export "memory") 1)
            {fields}
            (global $heap (mut i32) (i32.const 8192))
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                (local $at i32)
                (local.set $at (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                                        (i32.sub (i32.const 0) (local.get 2))))
                (global.set $heap (i32.add (local.get $at) (local.get 3)))
                (local.get $at))
            (func (export "weir:job/plan@0.1.0#plan") (param i32 i32) (result i32)
                {in_plan}
                (i32.const {PLAN_RESULT}))
            (func (export "weir:job/operator@0.1.0#open") (param {open_params}) (result i32)
                {in_open}
                (i32.const 1024))
            (func (export "weir:job/operator@0.1.0#process") (param i32 i32 i32) (result i32) (i32.const 1024))
            (func (export "weir:job/operator@0.1.0#on-timers") (param i32 i32) (result i32) (i32.const 1024))
            (func (export "weir:job/operator@0.1.0#finish") (result i32) (i32.const 1024))
            (data (i32.const {PLAN_RESULT}) "{data}"))"#
    );
    let mut module = wat::parse_str(&wat).expect("the hostile module is valid WAT");
    let mut resolve = wit_parser::Resolve::default();
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    resolve.push_dir(&wit).expect("Weir's WIT");
    for (file, text) in WASI {
        resolve.push_str(file, text).expect("the WASI subset");
    }
    let package = resolve.push_str("hostile.wit", WORLD).expect("the hostile world");
    let world = resolve.select_world(&[package], Some("hostile")).expect("the world");
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8)
        .expect("embed the world");
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .expect("a core module of the world")
        .encode()
        .expect("a component")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write the component");
    path
}

/// The highest resident memory of a process while `f` runs, sampled every 5 ms.
fn peak_rss<T>(pid: u32, f: impl FnOnce() -> T) -> (T, u64) {
    let peak = Arc::new(AtomicU64::new(rss_bytes(pid).unwrap_or(0)));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(rss) = rss_bytes(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let result = f();
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("the sampler");
    (result, peak.load(Ordering::Relaxed))
}

/// `POST /jars/:id/plan`.
fn plan(cluster: &Cluster, jar: &str, args: &str) -> HttpAnswer {
    let body = json!({ "programArgs": args }).to_string();
    cluster.curl(&["-m", "60", "-X", "POST", "-d", &body, &cluster.url(&format!("/jars/{jar}/plan"))])
}

/// The processes are up and a good job runs to the end on the same slots.
fn assert_cluster_serves(cluster: &Cluster, parallelism: u32) {
    assert!(rss_bytes(cluster.jobmanager_pid()).is_some(), "the JobManager died");
    assert!(rss_bytes(cluster.taskmanager_pid(0)).is_some(), "the TaskManager died");
    cluster.run_good_job(parallelism);
}

/// The budget (256 MiB by default) plus what the process itself may add meanwhile.
const ALLOWED_GROWTH: u64 = 256 * MIB + 128 * MIB;

#[test]
fn memories_and_tables_beyond_the_budget_are_refused_in_plan_and_in_open() {
    let cluster = Cluster::start(1, 2);
    let dir = cluster.dir.path();
    let jm = cluster.jobmanager_pid();

    // 8 memories of 250 MiB in `plan`: the second is refused; the JobManager holds one at most.
    let jar = cluster.upload(&write(dir, "memories-plan.wasm", &hostile(Attack::Memories, Stage::Plan)));
    let base = rss_bytes(jm).expect("the JobManager runs");
    let (answer, peak) = peak_rss(jm, || plan(&cluster, &jar, ""));
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(
        answer.body.contains("memory limit of 256 MiB") && answer.body.contains("weir.wasm.memory-limit"),
        "{}",
        answer.body
    );
    assert!(peak < base + ALLOWED_GROWTH, "the JobManager grew from {} to {} MiB", base / MIB, peak / MIB);

    // 4 tables of 33 M elements in `plan`: refused at the element limit.
    let jar = cluster.upload(&write(dir, "tables-plan.wasm", &hostile(Attack::Tables, Stage::Plan)));
    let base = rss_bytes(jm).expect("the JobManager runs");
    let (answer, peak) = peak_rss(jm, || plan(&cluster, &jar, ""));
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("weir.wasm.max-table-elements"), "{}", answer.body);
    assert!(peak < base + ALLOWED_GROWTH, "the JobManager grew from {} to {} MiB", base / MIB, peak / MIB);

    // The same memories in an operator's `open`: the task fails naming the limit.
    let tm = cluster.taskmanager_pid(0);
    let jar = cluster.upload(&write(dir, "memories-open.wasm", &hostile(Attack::Memories, Stage::Open)));
    let base = rss_bytes(tm).expect("the TaskManager runs");
    let (root, peak) = peak_rss(tm, || {
        let job = cluster.run(&jar, json!({ "parallelism": 2 }));
        cluster.wait_for_state(&job, "FAILED", Duration::from_secs(60));
        cluster.root_exception(&job)
    });
    assert!(
        root.contains("Hostile") && root.contains("memory limit of 256 MiB") && root.contains("weir.wasm.memory-limit"),
        "{root}"
    );
    // Two subtasks, each within its own budget.
    assert!(peak < base + 2 * ALLOWED_GROWTH, "the TaskManager grew from {} to {} MiB", base / MIB, peak / MIB);

    assert_cluster_serves(&cluster, 2);
    // Every upload compiled in a compiler process of its own.
    assert!(!cluster.jobmanager_log().contains("compiling in the JobManager"), "{}", cluster.jobmanager_log());
}

#[test]
fn waiting_in_a_wasi_clock_cannot_outlast_the_time_limits() {
    let options = [
        "-Dweir.wasm.call-timeout=4 s",
        "-Dweir.wasm.plan-timeout=2 s",
        "-Dweir.wasm.plan-workers=2",
        "-Dweir.wasm.plan-queue=4",
    ];
    let cluster = Arc::new(Cluster::start_everywhere(1, 1, &options));
    let dir = cluster.dir.path();

    // One plan that blocks for an hour is stopped at the plan's deadline.
    let sleeper = cluster.upload(&write(dir, "sleep-plan.wasm", &hostile(Attack::Sleep, Stage::Plan)));
    let started = Instant::now();
    let answer = plan(&cluster, &sleeper, "");
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("did not finish within 2s (weir.wasm.plan-timeout)"), "{}", answer.body);
    assert!(started.elapsed() < Duration::from_secs(10), "the plan took {:?}", started.elapsed());

    // Many at once: 2 run, 4 wait, the rest are refused at once; all are answered soon.
    let flood = Instant::now();
    let requests: Vec<_> = (0..24)
        .map(|_| {
            let (cluster, sleeper) = (cluster.clone(), sleeper.clone());
            std::thread::spawn(move || plan(&cluster, &sleeper, ""))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // Meanwhile the JobManager answers, and takes a good upload.
    let good = guest_component(dir, "test_job", "good.wasm");
    let good_jar = cluster.upload(Path::new(&good));
    let answers: Vec<HttpAnswer> = requests.into_iter().map(|r| r.join().expect("a request")).collect();
    let busy = answers.iter().filter(|a| a.status == 503).count();
    for answer in &answers {
        match answer.status {
            400 => assert!(answer.body.contains("weir.wasm.plan-timeout"), "{}", answer.body),
            503 => assert!(answer.body.contains("weir.wasm.plan-workers"), "{}", answer.body),
            other => panic!("{other}: {}", answer.body),
        }
    }
    assert!(busy >= 12, "only {busy} of 24 plans were refused as busy");
    // 6 plans of 2 s on 2 workers, the others refused at once.
    assert!(flood.elapsed() < Duration::from_secs(20), "the plans took {:?} to answer", flood.elapsed());
    // A good plan is answered once the flood is over.
    let answer = plan(&cluster, &good_jar, "--count 10");
    assert_eq!(answer.status, 200, "{}", answer.body);

    // In an operator: stopped by the call's time limit, naming it.
    let jar = cluster.upload(&write(dir, "sleep-open.wasm", &hostile(Attack::Sleep, Stage::Open)));
    let job = cluster.run(&jar, json!({}));
    let started = Instant::now();
    cluster.wait_for_state(&job, "FAILED", Duration::from_secs(30));
    assert!(started.elapsed() < Duration::from_secs(15), "the sleep lasted {:?}", started.elapsed());
    let root = cluster.root_exception(&job);
    assert!(
        root.contains("Hostile") && root.contains("time limit of 4s") && root.contains("weir.wasm.call-timeout"),
        "{root}"
    );

    // Cancelled while it waits: the job ends at once and its only slot is free again.
    let job = cluster.run(&jar, json!({}));
    cluster.wait_for_state(&job, "RUNNING", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    let cancelled = Instant::now();
    let (code, out, err) = cluster.cli("cancel", &[&job]);
    assert_eq!(code, Some(0), "{out}{err}");
    cluster.wait_for_state(&job, "CANCELED", Duration::from_secs(10));
    assert!(cancelled.elapsed() < Duration::from_secs(3), "the cancel took {:?}", cancelled.elapsed());
    assert_cluster_serves(&cluster, 1);
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            // After the command name in parentheses: state, then the parent's pid.
            let ppid = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            ppid == Some(pid)
        })
        .collect()
}

/// A compile past `weir.component.compile-timeout` runs in a process of its own, killed at the
/// deadline: it keeps no thread, no core and no turn, so the next upload is answered at once.
#[test]
fn a_compile_past_its_deadline_is_killed_and_frees_the_turn() {
    let cluster = Cluster::start_with(1, 1, &["-Dweir.component.compile-timeout=1 ms"]);
    let good = guest_component(cluster.dir.path(), "test_job", "good.wasm");
    let form = format!("jarfile=@{good}");
    for _ in 0..3 {
        let started = Instant::now();
        let answer =
            cluster.curl(&["-m", "60", "-X", "POST", "-H", "Expect:", "-F", &form, &cluster.url("/jars/upload")]);
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert!(
            answer.body.contains("was not compiled within 0.001 s (weir.component.compile-timeout"),
            "{}",
            answer.body
        );
        assert!(started.elapsed() < Duration::from_secs(5), "the refusal took {:?}", started.elapsed());
    }
    let jm = cluster.jobmanager_pid();
    let left = eventually(Duration::from_secs(5), || children(jm).is_empty().then_some(()));
    assert!(left.is_some(), "compiler processes outlived their deadline: {:?}", children(jm));
    assert!(!cluster.jobmanager_log().contains("compiling in the JobManager"), "{}", cluster.jobmanager_log());
}
