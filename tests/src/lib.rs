//! The test harness: a real Kafka-protocol broker per test, the `weir` binary as a process,
//! and an independent Kafka client (kafka-python) as the witness of what a job wrote.
//!
//! Run everything through `tests/run`, which installs the broker (`tansu`) and the witness
//! when they are missing.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A `tansu` broker on a free port, in memory, stopped on drop.
pub struct Broker {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn tansu() -> PathBuf {
    if let Ok(path) = std::env::var("WEIR_TEST_TANSU") {
        return PathBuf::from(path);
    }
    let home_bin = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/tansu"));
    match home_bin {
        Some(p) if p.exists() => p,
        _ => PathBuf::from("tansu"),
    }
}

impl Broker {
    /// Starts a broker and waits until it accepts connections.
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--storage-engine",
                "memory://tansu/",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            // tansu reads a .env in its working directory; give it an empty one.
            .current_dir(dir.path())
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the tansu broker (run the tests with tests/run, which installs it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the broker did not start listening on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker { child, port, _dir: dir }
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `weir` binary built with these tests (`target/<profile>/weir`).
pub fn weir_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    // target/<profile>/deps/<test> -> target/<profile>/weir
    let bin = exe.parent().and_then(Path::parent).expect("target/<profile>").join("weir");
    assert!(bin.exists(), "{} is missing: build it with `cargo build` (tests/run does)", bin.display());
    bin
}

/// A `weir` command with a private component cache.
pub fn weir(cache: &Path) -> Command {
    let mut cmd = Command::new(weir_bin());
    cmd.env("WEIR_CACHE_DIR", cache).env("RUST_LOG", "info");
    cmd
}

/// A running `weir` process, killed on drop; its output goes to a log file.
pub struct WeirProcess {
    child: Option<Child>,
    log: PathBuf,
}

impl WeirProcess {
    /// Starts `weir <args>` with stdout and stderr in `log`.
    pub fn spawn(cache: &Path, args: &[&str], log: PathBuf) -> WeirProcess {
        Self::spawn_command(weir(cache), args, log)
    }

    /// Starts `command <args>` (a [`weir`] command, perhaps with more environment) with stdout
    /// and stderr in `log`.
    pub fn spawn_command(mut command: Command, args: &[&str], log: PathBuf) -> WeirProcess {
        let file = std::fs::File::create(&log).expect("a log file");
        let child = command
            .args(args)
            .stdout(file.try_clone().expect("log file handle"))
            .stderr(file)
            .spawn()
            .expect("start weir");
        WeirProcess { child: Some(child), log }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// What the process has printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit by itself.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for WeirProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `weir <args>` to completion.
pub fn weir_output(cache: &Path, args: &[&str]) -> Output {
    weir(cache).args(args).output().expect("run weir")
}

/// Writes `count` click events to `topic` with the real generator, as fast as it can.
pub fn generate(cache: &Path, bootstrap: &str, topic: &str, count: u64) {
    generate_from(cache, bootstrap, topic, 0, count);
}

/// Writes events `start..start + count` of the playground's sequence to `topic` at full speed:
/// a test that feeds a job in steps decides what each job sees, whatever the machine's pace.
pub fn generate_from(cache: &Path, bootstrap: &str, topic: &str, start: u64, count: u64) {
    let (start, count) = (start.to_string(), count.to_string());
    let out = weir_output(
        cache,
        &[
            "generator",
            "--bootstrap.servers",
            bootstrap,
            "--topic",
            topic,
            "--rate",
            "0",
            "--start",
            &start,
            "--count",
            &count,
        ],
    );
    assert!(out.status.success(), "the generator failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The witness: kafka-python, a client independent of Weir, reads `topic` from the beginning
/// until it has `min_records` records or `timeout` passes, and returns their values.
pub fn witness(bootstrap: &str, topic: &str, min_records: usize, timeout: Duration) -> anyhow::Result<Vec<String>> {
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("witness.py");
    let out = Command::new(&python)
        .arg(script)
        .args(["--bootstrap", bootstrap, "--topic", topic, "--min-records", &min_records.to_string()])
        .args(["--timeout", &timeout.as_secs().to_string()])
        .output()
        .with_context(|| format!("run the witness with {python} (tests/run installs kafka-python)"))?;
    if !out.status.success() {
        bail!("the witness failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect())
}

/// One line of the `output` topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowCount {
    pub window_start: String,
    pub window_end: String,
    pub page: String,
    pub count: i64,
    /// Set by version 2 of the job.
    pub version: Option<String>,
}

/// Parses click statistics, checking the field order is the playground's.
pub fn parse_statistics(line: &str) -> anyhow::Result<WindowCount> {
    let value: serde_json::Value = serde_json::from_str(line).with_context(|| format!("not JSON: {line}"))?;
    let keys: Vec<&String> = value.as_object().context("not an object")?.keys().collect();
    // Version 2 of the job adds "version" after the playground's four fields.
    if keys[..keys.len().min(4)] != ["windowStart", "windowEnd", "page", "count"] {
        bail!("unexpected fields or order in {line}");
    }
    Ok(WindowCount {
        window_start: value["windowStart"].as_str().context("windowStart")?.to_string(),
        window_end: value["windowEnd"].as_str().context("windowEnd")?.to_string(),
        page: value["page"].as_str().context("page")?.to_string(),
        count: value["count"].as_i64().context("count")?,
        version: value["version"].as_str().map(str::to_string),
    })
}

/// A directory for a test's files.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A session cluster of real processes: a JobManager and TaskManagers, on free ports.
pub struct Cluster {
    pub rest_port: u16,
    pub rpc_port: u16,
    pub dir: tempfile::TempDir,
    jobmanager: Option<WeirProcess>,
    taskmanagers: Vec<WeirProcess>,
    /// TaskManagers started so far: each gets its own log, `taskmanager-<n>.log`, so a killed
    /// one's log stays for the test to read.
    started_taskmanagers: usize,
    /// More `-Dkey=value` options for the JobManager.
    jobmanager_options: Vec<String>,
    /// More `-Dkey=value` options for every TaskManager.
    taskmanager_options: Vec<String>,
    /// TLS and the REST token, for a cluster started with [`Cluster::start_secured`].
    pub security: Option<TestSecurity>,
}

/// What a secured test cluster's clients need: its configuration directory (every process and
/// the CLI read it through `WEIR_CONF_DIR`), the CA REST clients trust, and the REST token.
#[derive(Clone, Debug)]
pub struct TestSecurity {
    pub conf_dir: PathBuf,
    pub ca: PathBuf,
    pub token: String,
}

/// Makes a cluster's certificates and configuration with `weir certificates` under `dir`
/// (`dir/tls`, `dir/conf/config.yaml`), as the README's "Securing a cluster" does.
pub fn make_certificates(dir: &Path) -> TestSecurity {
    let tls = dir.join("tls");
    let conf_dir = dir.join("conf");
    std::fs::create_dir_all(&conf_dir).expect("a configuration directory");
    let out = weir(&dir.join("cache"))
        .args(["certificates", "--dir", tls.to_str().expect("utf-8 path")])
        .output()
        .expect("run weir certificates");
    assert!(out.status.success(), "weir certificates failed: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(conf_dir.join("config.yaml"), &out.stdout).expect("write config.yaml");
    let token = std::fs::read_to_string(tls.join("rest-token")).expect("the REST token").trim().to_string();
    TestSecurity { conf_dir, ca: tls.join("ca.pem"), token }
}

/// An HTTP answer: status and body.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: String,
}

impl HttpAnswer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Runs `curl` (a real, independent HTTP client, as the playground guide uses) and returns
/// the status and body.
pub fn curl(args: &[&str]) -> HttpAnswer {
    let out =
        Command::new("curl").args(["-s", "-S", "-w", "\n%{http_code}"]).args(args).output().expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    HttpAnswer { status: status.trim().parse().unwrap_or(0), body: body.to_string() }
}

/// A failed test's cluster leaves its story: the warnings and errors of every process's log
/// (and each log's last lines) go to stderr, which nextest prints with the failure, so a flaky
/// failure in CI can be read without running it again.
impl Drop for Cluster {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else { return };
        let mut logs: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "log")).collect();
        logs.sort();
        for log in logs {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let notable: Vec<&str> =
                lines.iter().copied().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
            eprintln!("──── {} ({} lines): warnings and errors", log.display(), lines.len());
            for line in notable.iter().rev().take(80).rev() {
                eprintln!("{line}");
            }
            eprintln!("──── its last lines");
            for line in &lines[lines.len().saturating_sub(25)..] {
                eprintln!("{line}");
            }
        }
    }
}

impl Cluster {
    /// Starts a JobManager and `taskmanagers` TaskManagers with `slots` slots each, and waits
    /// until they have registered.
    pub fn start(taskmanagers: usize, slots: u32) -> Cluster {
        Self::start_with(taskmanagers, slots, &[])
    }

    /// [`Cluster::start`] with more configuration for the JobManager (`-Dkey=value`).
    pub fn start_with(taskmanagers: usize, slots: u32, jobmanager_options: &[&str]) -> Cluster {
        Self::start_configured(taskmanagers, slots, jobmanager_options, &[], false)
    }

    /// [`Cluster::start`] with more configuration for every process, the JobManager and each
    /// TaskManager (`-Dkey=value`): an object store's endpoint and keys, for example.
    pub fn start_everywhere(taskmanagers: usize, slots: u32, options: &[&str]) -> Cluster {
        Self::start_configured(taskmanagers, slots, options, options, false)
    }

    /// [`Cluster::start_with`], secured as `weir certificates` configures it: mutual TLS between
    /// the processes, HTTPS and a bearer token on REST. Every process and the CLI read the
    /// configuration; [`Cluster::get`] and friends send the token and trust the CA.
    pub fn start_secured(taskmanagers: usize, slots: u32, jobmanager_options: &[&str]) -> Cluster {
        Self::start_configured(taskmanagers, slots, jobmanager_options, &[], true)
    }

    fn start_configured(
        taskmanagers: usize,
        slots: u32,
        jobmanager_options: &[&str],
        taskmanager_options: &[&str],
        secured: bool,
    ) -> Cluster {
        let dir = temp_dir();
        let security = secured.then(|| make_certificates(dir.path()));
        let mut cluster = Cluster {
            rest_port: free_port(),
            rpc_port: free_port(),
            dir,
            jobmanager: None,
            taskmanagers: Vec::new(),
            started_taskmanagers: 0,
            jobmanager_options: jobmanager_options.iter().map(|o| o.to_string()).collect(),
            taskmanager_options: taskmanager_options.iter().map(|o| o.to_string()).collect(),
            security,
        };
        cluster.start_jobmanager();
        for _ in 0..taskmanagers {
            cluster.add_taskmanager(slots);
        }
        cluster
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Where the cluster's checkpoints go.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.dir.path().join("checkpoints")
    }

    /// Where the cluster's savepoints go by default.
    pub fn savepoint_dir(&self) -> PathBuf {
        self.dir.path().join("savepoints")
    }

    /// Starts (or restarts) the JobManager and waits for its REST API.
    pub fn start_jobmanager(&mut self) {
        let rest = format!("-Drest.port={}", self.rest_port);
        let rpc = format!("-Djobmanager.rpc.port={}", self.rpc_port);
        let data = self.dir.path().join("jobmanager");
        let n = std::fs::read_dir(self.dir.path()).map(|d| d.count()).unwrap_or(0);
        let log = self.dir.path().join(format!("jobmanager-{n}.log"));
        let data = data.to_str().expect("utf-8 path").to_string();
        let checkpoints = format!("-Dexecution.checkpointing.dir={}", self.checkpoint_dir().display());
        let savepoints = format!("-Dexecution.checkpointing.savepoint-dir={}", self.savepoint_dir().display());
        let mut args = vec!["jobmanager", &rest, &rpc, "--data-dir", &data, &checkpoints, &savepoints];
        args.extend(self.jobmanager_options.iter().map(String::as_str));
        self.jobmanager = Some(WeirProcess::spawn_command(self.weir(), &args, log));
        let ready = eventually(Duration::from_secs(20), || (self.get("/overview").status == 200).then_some(()));
        assert!(ready.is_some(), "the JobManager did not come up:\n{}", self.jobmanager_log());
    }

    /// Stops the JobManager (SIGTERM).
    pub fn stop_jobmanager(&mut self) {
        if let Some(mut jm) = self.jobmanager.take() {
            jm.stop();
        }
    }

    pub fn jobmanager_log(&self) -> String {
        self.jobmanager.as_ref().map(WeirProcess::output).unwrap_or_default()
    }

    /// Starts a TaskManager and waits until the JobManager counts it.
    pub fn add_taskmanager(&mut self, slots: u32) -> u32 {
        self.start_taskmanager(slots, None)
    }

    /// Starts a TaskManager as if on another machine: bound to and advertising `host` (a
    /// loopback address such as 127.0.0.2), with its own component cache (so it fetches
    /// components from the JobManager); waits until the JobManager counts it. Returns its pid.
    pub fn add_taskmanager_on(&mut self, host: &str, slots: u32) -> u32 {
        self.start_taskmanager(slots, Some(host))
    }

    /// Starts a TaskManager on 127.0.0.1 sharing the cluster's cache, or on `host` with its own;
    /// waits until the JobManager counts it.
    fn start_taskmanager(&mut self, slots: u32, host: Option<&str>) -> u32 {
        let before = self.get("/overview").json()["taskmanagers"].as_u64().unwrap_or(0);
        let jm = format!("127.0.0.1:{}", self.rpc_port);
        let n = self.started_taskmanagers;
        self.started_taskmanagers += 1;
        let log = self.dir.path().join(format!("taskmanager-{n}.log"));
        let mut command = self.weir();
        let slots_arg = slots.to_string();
        let advertised = format!("-Dtaskmanager.host={}", host.unwrap_or("127.0.0.1"));
        let mut args = vec!["taskmanager", "--jobmanager", &jm, "--slots", &slots_arg, &advertised];
        let bind = host.map(|h| format!("-Dtaskmanager.bind-host={h}"));
        if let (Some(host), Some(bind)) = (host, &bind) {
            command.env("WEIR_CACHE_DIR", self.dir.path().join(format!("cache-{host}-{n}")));
            args.push(bind);
        }
        args.extend(self.taskmanager_options.iter().map(String::as_str));
        let tm = WeirProcess::spawn_command(command, &args, log);
        let pid = tm.pid();
        self.taskmanagers.push(tm);
        let registered = eventually(Duration::from_secs(20), || {
            (self.get("/overview").json()["taskmanagers"].as_u64().unwrap_or(0) > before).then_some(())
        });
        assert!(
            registered.is_some(),
            "the TaskManager on {} did not register:\n{}",
            host.unwrap_or("127.0.0.1"),
            self.taskmanagers.last().map(WeirProcess::output).unwrap_or_default()
        );
        pid
    }

    /// The log of the `n`-th TaskManager started (killed ones included).
    pub fn taskmanager_log(&self, n: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("taskmanager-{n}.log"))).unwrap_or_default()
    }

    /// The root cause `/jobs/:id/exceptions` records for `job` (empty when there is none).
    pub fn root_exception(&self, job: &str) -> String {
        let exceptions = self.get(&format!("/jobs/{job}/exceptions")).json();
        exceptions["root-exception"].as_str().unwrap_or_default().to_string()
    }

    /// Uploads the test job and runs it (`--count 3000`, at `parallelism`) to FINISHED: the
    /// cluster still serves, on its slots.
    pub fn run_good_job(&self, parallelism: u32) {
        let path = guest_component(self.dir.path(), "test_job", "test-job.wasm");
        let jar = self.upload(Path::new(&path));
        let job = self.run(&jar, serde_json::json!({ "programArgs": "--count 3000", "parallelism": parallelism }));
        self.wait_for_state(&job, "FINISHED", Duration::from_secs(60));
    }

    /// The process id of the JobManager (0 if it is stopped).
    pub fn jobmanager_pid(&self) -> u32 {
        self.jobmanager.as_ref().map(WeirProcess::pid).unwrap_or(0)
    }

    /// The process id of the `index`-th running TaskManager.
    pub fn taskmanager_pid(&self, index: usize) -> u32 {
        self.taskmanagers[index].pid()
    }

    /// The REST API's URL of `path` (HTTPS on a secured cluster).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.security.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.rest_port)
    }

    /// [`curl`] as a client of this cluster: on a secured one, trusting its CA and sending its token.
    pub fn curl(&self, args: &[&str]) -> HttpAnswer {
        match &self.security {
            Some(security) => {
                let authorization = format!("Authorization: Bearer {}", security.token);
                let ca = security.ca.to_str().expect("utf-8 path");
                curl(&[&["--cacert", ca, "-H", &authorization], args].concat())
            }
            None => curl(args),
        }
    }

    pub fn get(&self, path: &str) -> HttpAnswer {
        self.curl(&[&self.url(path)])
    }

    /// Uploads a component file as the guide uploads a jar; returns the jar id.
    pub fn upload(&self, path: &Path) -> String {
        let form = format!("jarfile=@{}", path.display());
        let answer = self.curl(&["-X", "POST", "-H", "Expect:", "-F", &form, &self.url("/jars/upload")]);
        assert_eq!(answer.status, 200, "upload failed: {}", answer.body);
        let filename = answer.json()["filename"].as_str().expect("filename").to_string();
        filename.rsplit('/').next().expect("jar id").to_string()
    }

    /// Runs an uploaded jar; returns the job id.
    pub fn run(&self, jar: &str, body: serde_json::Value) -> String {
        let answer = self.curl(&["-X", "POST", "-d", &body.to_string(), &self.url(&format!("/jars/{jar}/run"))]);
        assert_eq!(answer.status, 200, "run failed: {}", answer.body);
        answer.json()["jobid"].as_str().expect("jobid").to_string()
    }

    /// The job's entry in `/jobs/overview`.
    pub fn job_overview(&self, job: &str) -> serde_json::Value {
        let all = self.get("/jobs/overview").json();
        all["jobs"].as_array().and_then(|jobs| jobs.iter().find(|j| j["jid"] == job).cloned()).unwrap_or_default()
    }

    /// Waits until the job's state is `state`.
    pub fn wait_for_state(&self, job: &str, state: &str, timeout: Duration) -> serde_json::Value {
        eventually(timeout, || {
            let o = self.job_overview(job);
            (o["state"] == state).then_some(o)
        })
        .unwrap_or_else(|| {
            panic!("job {job} never reached {state}: {}\n{}", self.job_overview(job), self.jobmanager_log())
        })
    }

    /// Kills a TaskManager with SIGKILL.
    pub fn kill_taskmanager(&mut self, index: usize) {
        let tm = self.taskmanagers.remove(index);
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(tm.pid() as i32, libc::SIGKILL) };
        drop(tm);
    }

    /// Stops (SIGSTOP) or continues (SIGCONT) the `index`-th running TaskManager: a process
    /// that is alive but answers nothing, as in a long pause of its machine.
    pub fn pause_taskmanager(&self, index: usize, paused: bool) {
        let signal = if paused { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.taskmanagers[index].pid() as i32, signal) };
    }

    /// A `weir` command using this cluster's private component cache (and, on a secured
    /// cluster, its configuration).
    pub fn weir(&self) -> Command {
        let mut command = weir(&self.cache());
        if let Some(security) = &self.security {
            command.env("WEIR_CONF_DIR", &security.conf_dir);
        }
        command
    }
}

impl Cluster {
    /// Runs `weir <args>` against this cluster (`-m` is added after the action).
    pub fn cli(&self, action: &str, args: &[&str]) -> (Option<i32>, String, String) {
        let jm = format!("127.0.0.1:{}", self.rest_port);
        let out = self.weir().arg(action).args(["-m", &jm]).args(args).output().expect("run weir");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Completed checkpoints of a job, from `/jobs/:id/checkpoints`.
    pub fn checkpoints_completed(&self, job: &str) -> u64 {
        self.get(&format!("/jobs/{job}/checkpoints")).json()["counts"]["completed"].as_u64().unwrap_or(0)
    }

    /// Kills the JobManager with SIGKILL.
    pub fn kill_jobmanager(&mut self) {
        if let Some(jm) = self.jobmanager.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(jm.pid() as i32, libc::SIGKILL) };
        }
    }

    /// Starts the generator as a process writing `count` events at `rate` per second.
    pub fn generator(&self, bootstrap: &str, count: u64, rate: u64) -> WeirProcess {
        let log = self.dir.path().join("generator.log");
        let (count, rate) = (count.to_string(), rate.to_string());
        WeirProcess::spawn_command(
            self.weir(),
            &["generator", "--bootstrap.servers", bootstrap, "--topic", "input", "--count", &count, "--rate", &rate],
            log,
        )
    }
}

/// The windows a test expects in `output`: window `i` covers event time `[i·15 s, (i+1)·15 s)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    first: i64,
    at_least: i64,
    at_most: Option<i64>,
}

impl Windows {
    /// Exactly windows `0..n`: a bounded input, or a job whose last window cannot close.
    pub fn exactly(n: i64) -> Windows {
        Windows { first: 0, at_least: n, at_most: Some(n) }
    }

    /// Windows `0..m` for some `m >= n`: a job still running writes more while it is read.
    pub fn at_least(n: i64) -> Windows {
        Windows { first: 0, at_least: n, at_most: None }
    }

    /// The same count, starting at window `first` (a job that starts later in the input).
    pub fn starting_at(self, first: i64) -> Windows {
        Windows { first, ..self }
    }
}

/// Why `output` is not what a test expects.
#[derive(Debug)]
pub enum WitnessError {
    /// Not there yet: fewer windows than expected, or the last window's pages still arriving.
    Incomplete(String),
    /// Wrong, and waiting will not fix it: a count other than 1000, a result written twice, a
    /// window or a page missing before the last window, more windows than expected.
    Wrong(String),
}

impl std::fmt::Display for WitnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WitnessError::Incomplete(m) => write!(f, "output is incomplete: {m}"),
            WitnessError::Wrong(m) => write!(f, "output is wrong: {m}"),
        }
    }
}

/// The strict check of `output`'s lines: every line is a window result of the playground's
/// shape with count 1000; together they are windows `first..first + m`, every window with each
/// of the six pages exactly once, `m` within what `expect` allows. Returns the results. While a
/// job runs, pages may be at different windows (sinks write independently): that is
/// `Incomplete`, unless a page has a hole behind a later window. (After 12 hours of event time
/// the 12-hour clock repeats its window starts, so results are matched to windows in order.)
pub fn check_windows(lines: &[String], expect: Windows) -> Result<Vec<WindowCount>, WitnessError> {
    let mut results = Vec::with_capacity(lines.len());
    for line in lines {
        results.push(parse_statistics(line).map_err(|e| WitnessError::Wrong(format!("{e:#}")))?);
    }
    let wrong: Vec<&WindowCount> = results.iter().filter(|c| c.count != 1000).collect();
    if !wrong.is_empty() {
        return Err(WitnessError::Wrong(format!("counts other than 1000: {wrong:?}")));
    }
    let mut remaining: HashMap<(String, String), i64> = HashMap::new();
    for c in &results {
        *remaining.entry((c.window_start.clone(), c.page.clone())).or_default() += 1;
    }
    // Walk the windows in order from the first, taking each page's result from what was read:
    // each page's results must be an unbroken run of windows from the first one. Sink subtasks
    // write independently, so one page may be a window or more ahead of another while the job
    // runs; a hole behind a later window is wrong.
    let mut left = results.len();
    let mut reached: HashMap<&str, i64> = HashMap::new();
    let mut w = expect.first;
    let bound = expect.first + i64::try_from(results.len()).unwrap_or(i64::MAX);
    while left > 0 && w <= bound {
        let start = window_start(w);
        for page in PAGES {
            match remaining.get_mut(&(start.clone(), page.to_string())) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    left -= 1;
                    if let Some(&hole) = reached.get(page) {
                        return Err(WitnessError::Wrong(format!(
                            "{page} has window {w} ({start}) but not window {hole} before it"
                        )));
                    }
                }
                _ => {
                    reached.entry(page).or_insert(w);
                }
            }
        }
        w += 1;
    }
    let mut extra: Vec<_> = remaining.iter().filter(|(_, n)| **n > 0).collect();
    if !extra.is_empty() {
        extra.sort();
        return Err(WitnessError::Wrong(format!(
            "written more than once, or before window {}: {extra:?}",
            expect.first
        )));
    }
    // Windows every page has, and windows some page has.
    let complete = PAGES.iter().map(|p| reached.get(p).copied().unwrap_or(w)).min().unwrap_or(w) - expect.first;
    let started = PAGES.iter().map(|p| reached.get(p).copied().unwrap_or(w)).max().unwrap_or(w) - expect.first;
    if let Some(most) = expect.at_most
        && started > most
    {
        return Err(WitnessError::Wrong(format!("windows up to {started}, more than {most}")));
    }
    if complete < expect.at_least {
        return Err(WitnessError::Incomplete(format!(
            "{complete} complete windows of at least {}; pages reached {reached:?}",
            expect.at_least
        )));
    }
    if expect.at_most.is_some() && complete < started {
        return Err(WitnessError::Incomplete(format!("pages still writing: {reached:?}")));
    }
    Ok(results)
}

/// The strict witness: reads `topic` with kafka-python to its end until it holds the windows
/// `expect` asks for; fails at once when what it holds is wrong (see [`check_windows`]), or
/// when `timeout` passes with the output still incomplete. Returns the results.
pub fn read_windows(
    bootstrap: &str,
    topic: &str,
    expect: Windows,
    timeout: Duration,
) -> anyhow::Result<Vec<WindowCount>> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
        let min_records = usize::try_from(expect.at_least * 6).unwrap_or(0).max(1);
        let lines = witness(bootstrap, topic, min_records, left)?;
        match check_windows(&lines, expect) {
            Ok(results) => return Ok(results),
            Err(WitnessError::Incomplete(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200))
            }
            Err(e) => bail!("{e}\n({} lines read from {topic})", lines.len()),
        }
    }
}

/// The `(windowStart, page)` pairs of windows `first..first + count`, in the playground's
/// date format.
pub fn window_range(first: i64, count: i64) -> Vec<(String, String)> {
    (first..first + count).flat_map(|w| PAGES.map(|page| (window_start(w), page.to_string()))).collect()
}

/// Window `w`'s `windowStart`, in the playground's date format.
fn window_start(w: i64) -> String {
    let mut start = Vec::new();
    click_event::timestamp::format(&mut start, w * 15_000);
    String::from_utf8(start).expect("the date format is ASCII")
}

/// The playground's six pages.
pub const PAGES: [&str; 6] = ["/help", "/index", "/shop", "/jobs", "/about", "/news"];

/// The resident memory of process `pid` (`VmRSS` in `/proc/<pid>/status`), in bytes; `None`
/// once the process is gone.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Copies the built guest component `name` (for example `click_event_count_v2`) into `dir` as
/// `file`, as a user holds a component file; returns its path.
pub fn guest_component(dir: &Path, name: &str, file: &str) -> String {
    let path = dir.join(file);
    std::fs::copy(weir::builtin::guest_path(name), &path).expect("copy the component");
    path.display().to_string()
}

/// Writes the Click Event Count component under the playground's jar name (Weir takes `.jar`
/// and `.wasm` names alike) and returns its path.
pub fn click_count_jar(dir: &Path) -> PathBuf {
    let path = dir.join("ClickCountJob.jar");
    std::fs::write(&path, weir::builtin::CLICK_EVENT_COUNT).expect("write the component");
    path
}

/// An S3-compatible object store for checkpoints and savepoints: moto's server (`tests/run`
/// installs `moto[server]` into the test virtualenv) on a free port, with one bucket; stopped on
/// drop.
pub struct S3Server {
    child: Child,
    port: u16,
    /// The bucket made at start.
    pub bucket: String,
}

impl S3Server {
    /// Starts the server, waits until it answers, and creates the bucket `weir` with a plain
    /// HTTP PUT (S3's CreateBucket).
    pub fn start() -> S3Server {
        let port = free_port();
        let child = Command::new(python())
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto's S3 server (run the tests with tests/run, which installs moto[server])");
        let server = S3Server { child, port, bucket: "weir".into() };
        let up =
            eventually(Duration::from_secs(30), || (server.request(&["-X", "PUT"], "").status == 200).then_some(()));
        assert!(up.is_some(), "moto's S3 server did not come up on port {port} (or refused to create the bucket)");
        server
    }

    /// `http://127.0.0.1:<port>`, for `s3.endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `s3://<bucket>/<path>`.
    pub fn uri(&self, path: &str) -> String {
        format!("s3://{}/{}", self.bucket, path.trim_start_matches('/'))
    }

    /// The `-D` options that point a cluster's processes at this server.
    pub fn options(&self) -> Vec<String> {
        vec![
            format!("-Ds3.endpoint={}", self.endpoint()),
            "-Ds3.path.style.access=true".into(),
            "-Ds3.access-key=test".into(),
            "-Ds3.secret-key=test".into(),
            "-Ds3.region=us-east-1".into(),
        ]
    }

    /// An HTTP request to `<endpoint>/<bucket>/<key>` with curl. Moto checks no signatures but
    /// refuses objects to a request without credentials: an `Authorization` header names them.
    pub fn request(&self, args: &[&str], key: &str) -> HttpAnswer {
        let url = format!("{}/{}/{}", self.endpoint(), self.bucket, key.trim_start_matches('/'));
        let authorization = "Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, \
                             SignedHeaders=host, Signature=00";
        let mut all = vec!["-H", authorization];
        all.extend_from_slice(args);
        all.push(&url);
        curl(&all)
    }

    /// The keys of the bucket's objects under `prefix`, sorted (S3's ListObjectsV2, read with curl).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = format!("?list-type=2&prefix={prefix}");
            if let Some(t) = &token {
                query.push_str(&format!("&continuation-token={t}"));
            }
            let answer = self.request(&[], &query);
            assert_eq!(answer.status, 200, "listing {prefix}: {}", answer.body);
            keys.extend(xml_values(&answer.body, "Key"));
            token = xml_values(&answer.body, "NextContinuationToken").into_iter().next();
            if token.is_none() {
                break;
            }
        }
        keys.sort();
        keys
    }

    /// An object's bytes (`None` if there is none).
    pub fn get(&self, key: &str) -> Option<String> {
        let answer = self.request(&[], key);
        (answer.status == 200).then_some(answer.body)
    }

    /// Writes an object (S3's PutObject).
    pub fn put(&self, key: &str, bytes: &str) {
        let answer =
            self.request(&["-X", "PUT", "-H", "Content-Type: application/octet-stream", "--data-binary", bytes], key);
        assert_eq!(answer.status, 200, "putting {key}: {}", answer.body);
    }

    /// Deletes an object.
    pub fn delete(&self, key: &str) {
        let answer = self.request(&["-X", "DELETE"], key);
        assert_eq!(answer.status, 204, "deleting {key}: {}", answer.body);
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The texts of every `<tag>` element of an S3 XML answer.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open).skip(1).filter_map(|part| part.split_once(&close).map(|(v, _)| v.to_string())).collect()
}

/// The Python of the test virtualenv (`tests/run` installs kafka-python, selenium and
/// prometheus-client into it).
pub fn python() -> String {
    std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The cargo target directory the tests run from, for test artifacts.
pub fn target_dir() -> PathBuf {
    let bin = weir_bin();
    bin.parent().and_then(Path::parent).map(Path::to_path_buf).expect("target/<profile>/weir")
}

/// Parses a metric value as the REST API writes it (a string), if it is there.
pub fn metric_value(answer: &serde_json::Value, id: &str) -> Option<f64> {
    answer.as_array()?.iter().find(|m| m["id"] == id)?["value"].as_str()?.parse().ok()
}

impl Cluster {
    /// `?get=` values of a metric endpoint, by id.
    pub fn metrics(&self, path: &str, ids: &[&str]) -> serde_json::Value {
        let answer = self.get(&format!("{path}?get={}", ids.join(",")));
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        answer.json()
    }

    /// The vertex ids of a job, in the job's order (sources first).
    pub fn vertices(&self, job: &str) -> Vec<(String, String)> {
        let details = self.get(&format!("/jobs/{job}")).json();
        details["vertices"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .map(|v| (v["id"].as_str().unwrap_or("").to_string(), v["name"].as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until every task of the job runs.
    pub fn wait_for_all_tasks_running(&self, job: &str, timeout: Duration) {
        let running = eventually(timeout, || {
            let o = self.job_overview(job);
            (o["state"] == "RUNNING"
                && o["tasks"]["total"].as_u64().is_some_and(|t| t > 0)
                && o["tasks"]["running"] == o["tasks"]["total"])
                .then_some(())
        });
        assert!(
            running.is_some(),
            "the tasks of {job} never all ran: {}\n{}",
            self.job_overview(job),
            self.jobmanager_log()
        );
    }
}

/// The vertex writing the click-count job's `output`.
pub const CLICK_COUNT_WRITER: &str = "ClickEventStatistics Sink: Writer";

/// Results in `output` once every one of the click-count job's 19 closable windows is there
/// (six pages each).
pub const CLICK_COUNT_RESULTS_19: usize = 19 * 6;

impl Cluster {
    /// A metric summed over the subtasks of the vertex named `vertex`, from the REST API's
    /// aggregated subtask metrics, once the subtasks report it.
    pub fn vertex_metric_sum(&self, job: &str, vertex: &str, metric: &str) -> Option<f64> {
        let vertices = self.vertices(job);
        let (id, _) = vertices.iter().find(|(_, name)| name == vertex)?;
        let path = format!("/jobs/{job}/vertices/{id}/subtasks/metrics?get={metric}&agg=sum");
        self.get(&path).json().as_array()?.first()?["sum"].as_f64()
    }

    /// Triggers a checkpoint over REST (`POST /jobs/:id/checkpoints`, Flink's manual
    /// checkpoint) and waits until it has completed; returns its id.
    pub fn checkpoint_now(&self, job: &str) -> u64 {
        let url = self.url(&format!("/jobs/{job}/checkpoints"));
        let answer = self.curl(&["-X", "POST", "-H", "Content-Type: application/json", "-d", "{}", &url]);
        assert_eq!(answer.status, 202, "{}", answer.body);
        let trigger = answer.json()["request-id"].as_str().expect("a trigger id").to_string();
        let done = eventually(Duration::from_secs(60), || {
            let status = self.get(&format!("/jobs/{job}/checkpoints/{trigger}")).json();
            (status["status"]["id"] == "COMPLETED").then_some(status)
        })
        .expect("the checkpoint completes");
        done["operation"]["checkpointId"]
            .as_u64()
            .unwrap_or_else(|| panic!("the checkpoint failed: {done}\n{}", self.jobmanager_log()))
    }

    /// For a click-count job checkpointing once an hour (its first checkpoint taken as it starts)
    /// with the exactly-once sink: waits until its writers hold a window's results and checks
    /// that nothing of them is in `output` yet; checkpoints, so that they are published; then
    /// waits until the writers hold results past that checkpoint. Returns how many results
    /// `output` has: those the checkpoint published, and nothing past it.
    pub fn publish_then_hold(&self, bootstrap: &str, job: &str) -> usize {
        let hold = |at_least: f64| {
            let held = eventually(Duration::from_secs(60), || {
                let held = self.vertex_metric_sum(job, CLICK_COUNT_WRITER, "numRecordsOutHeld")?;
                (held >= at_least).then_some(held)
            });
            assert!(held.is_some(), "the writers never held {at_least} results: {}", self.jobmanager_log());
        };
        hold(6.0);
        let unpublished = witness(bootstrap, "output", 0, Duration::from_secs(5)).expect("output so far");
        assert!(unpublished.is_empty(), "results published before their checkpoint completed: {unpublished:?}");
        self.checkpoint_now(job);
        let published = witness(bootstrap, "output", 6, Duration::from_secs(30)).expect("published results").len();
        hold(6.0);
        published
    }

    /// Checkpoints `job` (one checkpoint at a time) until `output` has `results` records: for
    /// jobs checkpointing once an hour, whose sinks publish only what checkpoints complete.
    pub fn checkpoint_until_published(&self, bootstrap: &str, job: &str, results: usize) {
        let published = eventually(Duration::from_secs(120), || {
            self.checkpoint_now(job);
            let lines = witness(bootstrap, "output", results, Duration::from_secs(2)).ok()?;
            (lines.len() >= results).then_some(())
        });
        assert!(published.is_some(), "output never had {results} results:\n{}", self.jobmanager_log());
    }
}

/// Writes `values` to `topic` (created with one partition if missing; partition 0, in order,
/// no keys) and waits until the broker has them all: the input of a test whose expected output
/// is exact.
pub fn produce(bootstrap: &str, topic: &str, values: &[String]) {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    weir_connectors::kafka::ensure_topics(bootstrap, &[topic], 1).expect("create the topic");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .expect("a Kafka producer");
    for value in values {
        let mut record = BaseRecord::<(), str>::to(topic).partition(0).payload(value.as_str());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    back,
                )) => {
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
                Err((error, _)) => panic!("producing to {topic} failed: {error}"),
            }
        }
    }
    producer.flush(Duration::from_secs(30)).expect("the broker acknowledged every record");
}

#[cfg(test)]
mod witness_tests {
    use super::*;

    fn lines(windows: std::ops::Range<i64>) -> Vec<String> {
        let mut out = Vec::new();
        for w in windows {
            for (start, page) in window_range(w, 1) {
                let mut end = Vec::new();
                click_event::timestamp::format(&mut end, (w + 1) * 15_000);
                let end = String::from_utf8(end).expect("ascii");
                out.push(format!(r#"{{"windowStart":"{start}","windowEnd":"{end}","page":"{page}","count":1000}}"#));
            }
        }
        out
    }

    #[test]
    fn the_strict_witness_accepts_exact_output_and_refuses_everything_else() {
        assert_eq!(check_windows(&lines(0..3), Windows::exactly(3)).expect("exact").len(), 18);
        assert!(check_windows(&lines(0..4), Windows::at_least(3)).is_ok());
        assert!(check_windows(&lines(2..4), Windows::exactly(2).starting_at(2)).is_ok());

        let mut twice = lines(0..3);
        twice.push(twice[7].clone());
        assert!(matches!(check_windows(&twice, Windows::at_least(3)), Err(WitnessError::Wrong(_))));

        let mut gap = lines(0..4);
        gap.drain(6..12);
        assert!(matches!(check_windows(&gap, Windows::at_least(3)), Err(WitnessError::Wrong(_))));

        let mut page_missing = lines(0..3);
        page_missing.remove(8);
        assert!(matches!(check_windows(&page_missing, Windows::at_least(2)), Err(WitnessError::Wrong(_))));

        let mut wrong_count = lines(0..2);
        wrong_count[3] = wrong_count[3].replace("1000", "999");
        assert!(matches!(check_windows(&wrong_count, Windows::at_least(2)), Err(WitnessError::Wrong(_))));

        assert!(matches!(check_windows(&lines(0..4), Windows::exactly(3)), Err(WitnessError::Wrong(_))));
        assert!(matches!(check_windows(&lines(1..3), Windows::exactly(3)), Err(WitnessError::Wrong(_))));

        let mut last_arriving = lines(0..3);
        last_arriving.truncate(15);
        assert!(matches!(check_windows(&last_arriving, Windows::at_least(3)), Err(WitnessError::Incomplete(_))));
        assert!(matches!(check_windows(&lines(0..2), Windows::at_least(3)), Err(WitnessError::Incomplete(_))));
    }
}
