//! Exactly-once output for jobs that are not deterministic from a checkpoint: the `merge_job`
//! component (`guest-jobs/testing/merge-job`) reads ids from two topics into ONE operator, which
//! sees its two inputs interleaved in whatever order they arrive, so a job restored from a
//! checkpoint replays its input in another order than it first read it (and, in processing-time
//! windows, into other windows). Whatever the job writes must still be in `output` once: every
//! id, none twice.
//!
//! A background kafka-python producer (`tests/produce_ids.py`) writes ids 1..=30 000, odd ones
//! to `a`, even ones to `b`, at 750 ids per second to each: the input lasts about 20 s, so it
//! keeps arriving across three TaskManager kills and recoveries (each takes a few seconds). The
//! witness (kafka-python) reads `output`, and the check goes id by id. Real processes, killed
//! with SIGKILL. Other tests restart the JobManager, stop and run from a savepoint, or upgrade
//! the running job (README "Hot-swap upgrade": in place, rolled back, redeployed) while the ids
//! arrive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use weir_tests::*;

/// Ids `1..=IDS` are produced.
const IDS: u64 = 30_000;
/// Ids per second to each of the two topics.
const RATE_PER_TOPIC: u64 = 750;
/// The job's checkpoint interval.
const CHECKPOINT_INTERVAL_MS: &str = "1000";
/// Kills happen once `output` holds these fractions of the ids (and the job has checkpointed
/// since its last recovery).
const KILL_AT: [f64; 3] = [0.1, 0.35, 0.6];

fn job_id(out: &str) -> String {
    out.trim().rsplit(' ').next().expect("a job id").to_string()
}

/// The path `weir stop` printed.
fn savepoint_path(out: &str) -> String {
    out.lines().find_map(|l| l.strip_prefix("Savepoint completed. Path: ")).expect(out).trim().to_string()
}

/// `tests/produce_ids.py` running in the background; killed on drop.
struct Producer {
    child: Option<Child>,
    log: PathBuf,
}

impl Producer {
    /// Starts producing ids `1..=count`, odd ones to `a` and even ones to `b`, `rate` a second
    /// to each.
    fn start(dir: &Path, bootstrap: &str, count: u64, rate: u64) -> Producer {
        let log = dir.join("producer.log");
        let file = std::fs::File::create(&log).expect("a log file");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("produce_ids.py");
        let child = Command::new(python())
            .arg(script)
            .args(["--bootstrap", bootstrap, "--count", &count.to_string(), "--rate", &rate.to_string()])
            .stdout(file.try_clone().expect("log file handle"))
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("start tests/produce_ids.py (tests/run installs kafka-python)");
        Producer { child: Some(child), log }
    }

    /// True while it still produces.
    fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits until every id is acknowledged by the broker.
    fn finish(&mut self, timeout: Duration) {
        let Some(child) = self.child.as_mut() else { return };
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status;
            }
            assert!(Instant::now() < deadline, "the producer did not finish in {timeout:?}");
            std::thread::sleep(Duration::from_millis(100));
        };
        self.child = None;
        let said = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(status.success(), "the producer failed ({status}):\n{said}");
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What `output` holds, id by id.
struct Tally {
    /// How many times each id was written (index: the id; 0 is unused).
    times: Vec<u32>,
    records: usize,
    /// Records that are not `{"id":<1..=IDS>…}` (or, for windows, lack a whole-second window).
    foreign: Vec<String>,
    /// The distinct windows seen (`--mode windows`).
    windows: std::collections::BTreeSet<i64>,
    /// Records by their `"tag"` (`--tag`; None: untagged).
    tags: BTreeMap<Option<String>, usize>,
}

impl Tally {
    fn of(lines: &[String], windows: bool) -> Tally {
        let mut tally = Tally {
            times: vec![0; IDS as usize + 1],
            records: lines.len(),
            foreign: Vec::new(),
            windows: Default::default(),
            tags: BTreeMap::new(),
        };
        for line in lines {
            let value: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            let id = value["id"].as_u64().filter(|id| (1..=IDS).contains(id));
            let window = value["window"].as_i64().filter(|w| w % 1_000 == 0);
            // A tag (`--tag`) is a string, beside the other fields.
            let tag = value.get("tag");
            let tag_ok = tag.is_none_or(serde_json::Value::is_string);
            let fields = value.as_object().map_or(0, serde_json::Map::len) - usize::from(tag.is_some());
            match (id, window) {
                (Some(id), None) if !windows && fields == 1 && tag_ok => tally.times[id as usize] += 1,
                (Some(id), Some(window)) if windows && fields == 2 && tag_ok => {
                    tally.times[id as usize] += 1;
                    tally.windows.insert(window);
                }
                _ => {
                    tally.foreign.push(line.clone());
                    continue;
                }
            }
            *tally.tags.entry(tag.and_then(|t| t.as_str()).map(str::to_string)).or_default() += 1;
        }
        tally
    }

    /// Records tagged `tag` (None: untagged).
    fn tagged(&self, tag: Option<&str>) -> usize {
        self.tags.get(&tag.map(str::to_string)).copied().unwrap_or(0)
    }

    fn missing(&self) -> Vec<u64> {
        (1..=IDS).filter(|&id| self.times[id as usize] == 0).collect()
    }

    /// Ids written more than once, with how many times.
    fn doubled(&self) -> Vec<(u64, u32)> {
        (1..=IDS).map(|id| (id, self.times[id as usize])).filter(|(_, n)| *n > 1).collect()
    }

    /// Records beyond one per id.
    fn extra(&self) -> u64 {
        self.times.iter().map(|&n| u64::from(n.saturating_sub(1))).sum()
    }

    fn exactly_once(&self) -> bool {
        self.foreign.is_empty() && self.times[1..].iter().all(|&n| n == 1)
    }

    fn summary(&self) -> String {
        let missing = self.missing();
        let doubled = self.doubled();
        let distinct = IDS as usize - missing.len();
        let mut s = format!(
            "{} records: {distinct} distinct ids of {IDS}; {} missing (first: {:?}); {} written more than once, {} \
             extra records (first, id and times: {:?}); {} not ids (first: {:?})",
            self.records,
            missing.len(),
            &missing[..missing.len().min(10)],
            doubled.len(),
            self.extra(),
            &doubled[..doubled.len().min(10)],
            self.foreign.len(),
            &self.foreign[..self.foreign.len().min(5)]
        );
        if !self.windows.is_empty() {
            s.push_str(&format!("; {} windows", self.windows.len()));
        }
        if self.tags.keys().any(Option::is_some) {
            s.push_str(&format!("; by tag: {:?}", self.tags));
        }
        s
    }
}

/// The producer's side: each input topic holds each of its ids once (so a fault in `output` is
/// the job's, not the producer's).
fn input_summary(bootstrap: &str) -> String {
    let mut s = String::new();
    for (topic, odd) in [("a", true), ("b", false)] {
        let expected = (1..=IDS).filter(|id| (id % 2 == 1) == odd).count();
        let lines = witness(bootstrap, topic, expected, Duration::from_secs(30)).unwrap_or_default();
        let mut times = vec![0u32; IDS as usize + 1];
        for id in lines.iter().filter_map(|l| l.parse::<u64>().ok()).filter(|id| (1..=IDS).contains(id)) {
            times[id as usize] += 1;
        }
        let once = (1..=IDS).filter(|id| (id % 2 == 1) == odd && times[*id as usize] == 1).count();
        s.push_str(&format!("input {topic}: {} records, {once} of its {expected} ids once; ", lines.len()));
    }
    s
}

/// One kill: what the test saw around it (printed).
#[derive(Debug)]
#[allow(dead_code)] // read through Debug
struct Kill {
    /// Seconds since the job was submitted.
    at_s: f64,
    /// Records in `output` (end offsets) once the checkpoint before the kill had completed.
    output_at_checkpoint: usize,
    /// Records in `output` (end offsets) just before the kill.
    output_at_kill: usize,
    /// The producer was still writing ids.
    input_flowing: bool,
    /// Seconds from the kill until every task ran again and a checkpoint completed.
    recovery_s: f64,
}

/// A job of `merge_job` on a cluster of one TaskManager with 2 slots, fed by the producer.
struct IdJob {
    _broker: Broker,
    bootstrap: String,
    cluster: Cluster,
    /// The component file and the job's arguments after `--bootstrap.servers`.
    jar: String,
    extra: Vec<String>,
    parallelism: String,
    job: String,
    producer: Producer,
    /// For the end offsets of `output`.
    consumer: BaseConsumer,
    started: Instant,
    windows: bool,
    kills: Vec<Kill>,
}

impl IdJob {
    /// Runs `merge_job` at `parallelism` with `extra` arguments, waits for its tasks and a first
    /// checkpoint, then starts the producer (the job created the topics, 2 partitions each).
    fn start(parallelism: &str, extra: &[&str]) -> IdJob {
        Self::start_with(parallelism, extra, &[])
    }

    /// [`IdJob::start`] on a cluster whose JobManager has `jobmanager_options` (`-Dkey=value`).
    fn start_with(parallelism: &str, extra: &[&str], jobmanager_options: &[&str]) -> IdJob {
        let broker = Broker::start();
        let bootstrap = broker.bootstrap();
        let cluster = Cluster::start_with(1, 2, jobmanager_options);
        let jar = guest_component(cluster.dir.path(), "merge_job", "merge-job.wasm");
        let consumer = ClientConfig::new().set("bootstrap.servers", &bootstrap).create().expect("a Kafka client");
        let mut job = IdJob {
            _broker: broker,
            bootstrap,
            cluster,
            jar,
            extra: extra.iter().map(|a| a.to_string()).collect(),
            parallelism: parallelism.to_string(),
            job: String::new(),
            producer: Producer { child: None, log: PathBuf::new() },
            consumer,
            started: Instant::now(),
            windows: extra.contains(&"windows"),
            kills: Vec::new(),
        };
        job.run(None);
        job.producer = Producer::start(job.cluster.dir.path(), &job.bootstrap, IDS, RATE_PER_TOPIC);
        job
    }

    /// Submits the job (from `savepoint`, if given) and waits until its tasks run and it has
    /// completed a checkpoint.
    fn run(&mut self, savepoint: Option<&str>) {
        let mut args = vec!["-d", "-p", &self.parallelism];
        if let Some(savepoint) = savepoint {
            args.extend(["-s", savepoint]);
        }
        let program_args = self.program_args(&self.extra);
        args.push(&self.jar);
        args.extend(program_args.iter().map(String::as_str));
        let (code, out, err) = self.cluster.cli("run", &args);
        assert_eq!(code, Some(0), "{out}{err}");
        self.job = job_id(&out);
        self.await_recovered();
    }

    /// The job's program arguments with `extra` ones.
    fn program_args(&self, extra: &[String]) -> Vec<String> {
        let mut args =
            vec!["--bootstrap.servers", &self.bootstrap, "--checkpointing.interval-ms", CHECKPOINT_INTERVAL_MS];
        args.extend(extra.iter().map(String::as_str));
        args.into_iter().map(String::from).collect()
    }

    /// `weir upgrade <job> merge-job.wasm <the program arguments with extra ones>`, which returns
    /// once the upgrade has ended; fails unless it ended with `result` (SWAPPED, REDEPLOYED, or
    /// ROLLED_BACK with exit code 1). Returns the exit code, stdout and stderr. Unless it rolled
    /// back, the arguments are the job's from now on.
    fn upgrade(&mut self, extra: &[&str], result: &str) -> (Option<i32>, String, String) {
        let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        let program_args = self.program_args(&extra);
        let mut args = vec![self.job.as_str(), self.jar.as_str()];
        args.extend(program_args.iter().map(String::as_str));
        let started = Instant::now();
        let (code, out, err) = self.cluster.cli("upgrade", &args);
        eprintln!(
            "upgrade to {extra:?} at {:.1} s took {:.1} s: {}",
            started.duration_since(self.started).as_secs_f64(),
            started.elapsed().as_secs_f64(),
            out.trim()
        );
        let said = format!("Upgrade completed: {result}");
        assert!(
            out.lines().any(|l| l.starts_with(&said)),
            "not {result}: {out}{err}\n{}\nthe TaskManager's log:\n{}",
            self.cluster.jobmanager_log(),
            self.cluster.taskmanager_log(self.kills.len())
        );
        assert_eq!(code, Some(if result == "ROLLED_BACK" { 1 } else { 0 }), "{out}{err}");
        if result != "ROLLED_BACK" {
            self.extra = extra;
        }
        (code, out, err)
    }

    fn output(&self, min_records: usize, timeout: Duration) -> Vec<String> {
        witness(&self.bootstrap, "output", min_records, timeout).expect("the witness reads output")
    }

    fn checkpoints(&self) -> u64 {
        self.cluster.checkpoints_completed(&self.job)
    }

    /// Waits until a checkpoint completes after now.
    fn await_checkpoint(&self, timeout: Duration) -> u64 {
        let before = self.checkpoints();
        eventually(timeout, || {
            let now = self.checkpoints();
            (now > before).then_some(now)
        })
        .unwrap_or_else(|| {
            panic!(
                "no checkpoint completed in {timeout:?}: {}\n{}",
                self.cluster.get(&format!("/jobs/{}/checkpoints", self.job)).body,
                self.cluster.jobmanager_log()
            )
        })
    }

    /// Waits until every task of the job runs and one more checkpoint has completed.
    fn await_recovered(&self) {
        self.cluster.wait_for_all_tasks_running(&self.job, Duration::from_secs(60));
        self.await_checkpoint(Duration::from_secs(60));
    }

    /// Records in `output` by the broker's end offsets: cheap enough to poll while the job
    /// writes (the witness reads on until a topic is quiet). A lower bound: tansu 0.6 reports a
    /// partition's end as the base offset of its last batch.
    fn output_records(&self) -> usize {
        let partitions = match self.consumer.fetch_metadata(Some("output"), Duration::from_secs(10)) {
            Ok(metadata) => metadata.topics().first().map_or(0, |t| t.partitions().len()),
            Err(_) => return 0,
        };
        (0..partitions as i32)
            .filter_map(|p| self.consumer.fetch_watermarks("output", p, Duration::from_secs(10)).ok())
            .map(|(low, high)| (high - low).max(0) as usize)
            .sum()
    }

    /// Waits until `output` holds `records` records (by its end offsets).
    fn await_output(&self, records: usize) {
        let reached = eventually(Duration::from_secs(90), || (self.output_records() >= records).then_some(()));
        assert!(
            reached.is_some(),
            "output never reached {records} records: {}\n{}",
            Tally::of(&self.output(0, Duration::from_secs(30)), self.windows).summary(),
            self.cluster.jobmanager_log()
        );
    }

    /// Once `output` holds `records` records, waits for a checkpoint, then until `output` grows
    /// past what it held then (up to 10 s: it does not grow once the input is all written), and
    /// kills the TaskManager; waits until the job noticed (all its tasks waiting for slots),
    /// gives it a new TaskManager, and waits until it runs again and has completed a checkpoint.
    fn kill_taskmanager_at(&mut self, records: usize) {
        self.await_output(records);
        self.await_checkpoint(Duration::from_secs(30));
        let output_at_checkpoint = self.output_records();
        let output_at_kill = eventually(Duration::from_secs(10), || {
            let now = self.output_records();
            (now > output_at_checkpoint).then_some(now)
        })
        .unwrap_or(output_at_checkpoint);
        let input_flowing = self.producer.running();
        let at_s = self.started.elapsed().as_secs_f64();
        let killed = Instant::now();
        self.cluster.kill_taskmanager(0);
        let noticed = eventually(Duration::from_secs(30), || {
            let o = self.cluster.job_overview(&self.job);
            let total = o["tasks"]["total"].as_u64().unwrap_or(0);
            (total > 0 && o["tasks"]["scheduled"].as_u64() == Some(total)).then_some(())
        });
        assert!(
            noticed.is_some(),
            "the job did not notice the kill: {}\n{}",
            self.cluster.job_overview(&self.job),
            self.cluster.jobmanager_log()
        );
        self.cluster.add_taskmanager(2);
        self.await_recovered();
        let recovery_s = killed.elapsed().as_secs_f64();
        let kill = Kill { at_s, output_at_checkpoint, output_at_kill, input_flowing, recovery_s };
        eprintln!("kill {}: {kill:?}", self.kills.len() + 1);
        self.kills.push(kill);
    }

    /// The three kills of every test here.
    fn kill_three_times(&mut self) {
        for fraction in KILL_AT {
            self.kill_taskmanager_at((IDS as f64 * fraction) as usize);
        }
    }

    /// Once every id is produced, waits until `output` holds a record per id (or 90 s pass: a
    /// faulty sink may never get there), then until it stays the same across two checkpoints
    /// (whatever was in flight is out, the last records of a job writing at least once too),
    /// and tallies all of it.
    fn final_tally(&mut self) -> Tally {
        self.producer.finish(Duration::from_secs(60));
        self.output(IDS as usize, Duration::from_secs(90));
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut before = None;
        let lines = loop {
            self.await_checkpoint(Duration::from_secs(30));
            self.await_checkpoint(Duration::from_secs(30));
            let lines = self.output(0, Duration::from_secs(30));
            if before == Some(lines.len()) || Instant::now() > deadline {
                break lines;
            }
            before = Some(lines.len());
        };
        let tally = Tally::of(&lines, self.windows);
        eprintln!("after {:.1} s: {}", self.started.elapsed().as_secs_f64(), tally.summary());
        tally
    }

    /// Fails unless every id is in `output` exactly once; returns what `output` holds.
    fn assert_exactly_once(&mut self) -> Tally {
        let tally = self.final_tally();
        assert!(
            tally.exactly_once(),
            "not every id exactly once: {}\nkills: {:#?}\n{}",
            tally.summary(),
            self.kills,
            input_summary(&self.bootstrap)
        );
        tally
    }
}

/// The default, exactly-once Kafka sink: a job merging two inputs, whose restored runs replay
/// them in another order, writes every id once through three TaskManager kills.
#[test]
fn two_inputs_merged_exactly_once_through_taskmanager_kills() {
    let mut job = IdJob::start("1", &["--mode", "merge"]);
    job.kill_three_times();
    job.assert_exactly_once();
}

/// The control run: with `--delivery-guarantee at-least-once` the same kills leave every id in
/// `output`, and some twice. Each kill comes once `output` has grown past a completed checkpoint
/// while ids arrive; what the writer wrote after that checkpoint's barrier, the restored job
/// writes again. That `output` grew past the checkpoint is read from end offsets that lag by up
/// to a batch, and a checkpoint can complete between that read and the kill, so no single kill
/// is certain to leave a duplicate; with ids arriving at 1 500 a second and a checkpoint a
/// second, each kill leaves some hundreds, and the test asks for at least one over the three.
#[test]
fn at_least_once_the_same_kills_write_duplicates() {
    let mut job = IdJob::start("1", &["--mode", "merge", "--delivery-guarantee", "at-least-once"]);
    job.kill_three_times();
    let tally = job.final_tally();
    let summary = tally.summary();
    assert!(tally.foreign.is_empty() && tally.missing().is_empty(), "ids lost at least once: {summary}");
    assert!(tally.extra() > 0, "at least once, three kills wrote nothing twice: {summary}\n{:#?}", job.kills);
}

/// Processing-time windows of 1 s on keyed state (parallelism 2): each id is kept in its key's
/// window state until the window's timer fires, then written with the window. Through three
/// kills, restored windows fire and replayed ids go to new windows: every id lands in exactly
/// one window.
#[test]
fn processing_time_windows_count_every_id_in_exactly_one_window() {
    let mut job = IdJob::start("2", &["--mode", "windows"]);
    job.kill_three_times();
    job.assert_exactly_once();
}

/// A JobManager killed and restarted while ids arrive resumes the job from its latest checkpoint
/// (its tasks restart and replay), and then a TaskManager is killed too: every id once.
#[test]
fn a_restarted_jobmanager_keeps_every_id_exactly_once() {
    let mut job = IdJob::start("1", &["--mode", "merge"]);
    job.await_output(IDS as usize / 5);
    job.await_checkpoint(Duration::from_secs(30));
    let killed = Instant::now();
    job.cluster.kill_jobmanager();
    job.cluster.start_jobmanager();
    job.await_recovered();
    eprintln!("the JobManager restarted and the job recovered in {:.1} s", killed.elapsed().as_secs_f64());
    job.kill_taskmanager_at(IDS as usize / 2);
    job.assert_exactly_once();
}

/// Stop with a savepoint while ids arrive, run again from the savepoint (the ids produced
/// meanwhile wait in the topics), and kill a TaskManager of the restored job: every id once.
#[test]
fn stop_with_a_savepoint_and_run_from_it_keeps_every_id_exactly_once() {
    let mut job = IdJob::start("1", &["--mode", "merge"]);
    job.await_output(IDS as usize / 5);
    let (code, out, err) = job.cluster.cli("stop", &[&job.job]);
    assert_eq!(code, Some(0), "{out}{err}");
    let savepoint = savepoint_path(&out);
    job.cluster.wait_for_state(&job.job, "FINISHED", Duration::from_secs(30));
    job.run(Some(&savepoint));
    job.kill_taskmanager_at(IDS as usize / 2);
    job.assert_exactly_once();
}

/// The upgrade test's probation (`weir.upgrade.probation`): an upgraded job's new code runs at
/// least this long, with ids arriving, before the checkpoint that ends its probation can
/// complete, so the failing version's subtask meets its `FAIL_AFTER_RECORDS + 1`-th record in
/// probation, whatever the machine's pace.
const PROBATION: &str = "-Dweir.upgrade.probation=2 s";
/// The failing version writes this many records (held by the sink, never published), then fails.
const FAIL_AFTER_RECORDS: &str = "100";

/// README "Hot-swap upgrade", for a job that is not deterministic from a checkpoint: while ids
/// arrive, the merge job is upgraded in place (`--tag v2`, only the merge operator's
/// configuration changes: SWAPPED), then to a version that writes 100 records tagged `faulty`
/// and fails (ROLLED_BACK to v2: the sources rewind to the upgrade barrier and the merge sees
/// the ids again in another order), then to a graph with one more operator (`--tag v3
/// --extra-stage`: REDEPLOYED under the same job id), and the redeployed job loses its
/// TaskManager. Every id is in `output` once; untagged, `v2` and `v3` records all there, none
/// of the failed version's.
#[test]
fn upgrades_in_place_rolled_back_and_redeployed_keep_every_id_exactly_once() {
    let mut job = IdJob::start_with("1", &["--mode", "merge"], &[PROBATION]);
    job.await_output(IDS as usize / 10);
    let vertices = job.cluster.vertices(&job.job);

    let (_, out, _) = job.upgrade(&["--mode", "merge", "--tag", "v2"], "SWAPPED");
    assert!(out.contains("(operators: merge)"), "only the merge operator is swapped: {out}");
    assert_eq!(job.cluster.vertices(&job.job), vertices, "in place: the same vertices");

    // The failing version must meet its records in probation: ids must still arrive.
    assert!(job.producer.running(), "the producer finished before the failing upgrade");
    let faulty = ["--mode", "merge", "--tag", "faulty", "--fail-after-records", FAIL_AFTER_RECORDS];
    let (_, _, err) = job.upgrade(&faulty, "ROLLED_BACK");
    assert!(err.contains("The new code failed: "), "{err}");
    // The CLI names the first failure the JobManager heard of, which can be one that only
    // followed from the merge's (the sink's input gone); the job's root exception is the merge's.
    let cause = format!("fails after {FAIL_AFTER_RECORDS} records (--fail-after-records, on purpose)");
    let root = eventually(Duration::from_secs(10), || {
        let exceptions = job.cluster.get(&format!("/jobs/{}/exceptions", job.job)).json();
        exceptions["root-exception"].as_str().is_some_and(|root| root.contains(&cause)).then_some(())
    });
    assert!(
        root.is_some(),
        "the root exception is not the failing version's: {}\n{err}",
        job.cluster.get(&format!("/jobs/{}/exceptions", job.job)).body
    );
    job.await_recovered();

    let (_, out, _) = job.upgrade(&["--mode", "merge", "--tag", "v3", "--extra-stage"], "REDEPLOYED");
    assert!(out.contains("pass-through"), "{out}");
    job.await_recovered();
    let names: Vec<String> = job.cluster.vertices(&job.job).into_iter().map(|(_, name)| name).collect();
    assert!(names.iter().any(|n| n == "Pass Through"), "{names:?}");

    let history = job.cluster.get(&format!("/jobs/{}/upgrades", job.job)).json();
    let ended: Vec<(&str, &str)> = history["upgrades"]
        .as_array()
        .expect("the upgrades")
        .iter()
        .map(|u| (u["operation"]["mode"].as_str().unwrap_or(""), u["operation"]["result"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        ended,
        [("REDEPLOY", "REDEPLOYED"), ("IN_PLACE", "ROLLED_BACK"), ("IN_PLACE", "SWAPPED")],
        "newest first: {history}"
    );

    let at = (job.output_records() + 2 * RATE_PER_TOPIC as usize).min(IDS as usize * 9 / 10);
    job.kill_taskmanager_at(at);
    let tally = job.assert_exactly_once();
    let summary = tally.summary();
    for tag in [None, Some("v2"), Some("v3")] {
        assert!(tally.tagged(tag) > 0, "no record tagged {tag:?}: {summary}");
    }
    assert_eq!(tally.tagged(Some("faulty")), 0, "the failed version's records were published: {summary}");
}
