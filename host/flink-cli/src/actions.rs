//! The actions, in the order `CliFrontend` checks and prints things (parse, help, options,
//! cluster, request), so that errors and partial output come out as Flink's do.

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use super::Frontend;
use super::client::{ClientSecurity, Operation, RestClient, RestError, RunRequest, UpgradeRequest};
use super::error::{CliError, Failure, class};
use super::format::{self, ListSelection, OrderedJson};
use super::help;
use super::options::{self, PYTHON_OPTIONS};
use super::parse::{self, CommandLine, Options};
use weir_config::{Configuration, keys};

/// Flink's `client.timeout`: how long `stop`, `savepoint` and `cancel -s` wait.
const CLIENT_TIMEOUT: &str = "client.timeout";
const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Which of Flink's custom command lines is active: it decides how the cluster is found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ActiveCli {
    /// `DefaultCLI`: `-m host:port`, `-D`, the configuration.
    Default,
    /// `GenericCLI` with target `remote` (`-t remote` or `execution.target: remote`): `-D` and
    /// the configuration, `-m` ignored as in Flink.
    Generic,
}

/// What `run` and `info` take from the command line (Flink's `ProgramOptions`).
struct ProgramOptions {
    jar: Option<String>,
    entry_class: Option<String>,
    program_args: Vec<String>,
    parallelism: Option<u32>,
    detached: bool,
}

impl ProgramOptions {
    fn new(cmd: &CommandLine) -> Result<Self, CliError> {
        let mut program_args: Vec<String> = if cmd.has(options::ARGS.short) {
            cmd.values(options::ARGS.short).into_iter().map(String::from).collect()
        } else {
            cmd.args().to_vec()
        };
        let jar = if cmd.has(options::JAR.short) {
            cmd.value(options::JAR.short).map(String::from)
        } else if program_args.is_empty() {
            None
        } else {
            Some(program_args.remove(0))
        };
        let parallelism = match cmd.value(options::PARALLELISM.short) {
            None => None,
            Some(text) => match text.parse::<i32>() {
                Ok(p) if p > 0 => u32::try_from(p).ok(),
                _ => return Err(CliError::Args(format!("The parallelism must be a positive number: {text}"))),
            },
        };
        if cmd.has(options::CLASSPATH.short) {
            return Err(CliError::Args(
                "The option -C,--classpath is not supported: a Weir job is one self-contained WebAssembly component."
                    .to_string(),
            ));
        }
        if let Some(option) = PYTHON_OPTIONS.iter().find(|o| cmd.has(o.short)) {
            return Err(CliError::Args(format!(
                "The option -{},--{} is not supported: Weir runs WebAssembly components, not Python programs.",
                option.short,
                option.long.unwrap_or_default()
            )));
        }
        Ok(ProgramOptions {
            jar,
            entry_class: cmd.value(options::CLASS.short).map(String::from),
            program_args,
            parallelism,
            detached: cmd.has(options::DETACHED.short) || cmd.has(options::YARN_DETACHED.short),
        })
    }

    /// The job file, checked as Flink checks the jar before building the program.
    fn jar_file(&self) -> Result<PathBuf, CliError> {
        let Some(jar) = &self.jar else {
            return Err(CliError::Args("Java program should be specified a JAR file.".to_string()));
        };
        let path = PathBuf::from(jar);
        let problem = if !path.exists() {
            "JAR file does not exist"
        } else if !path.is_file() {
            "JAR file is not a file"
        } else {
            return Ok(path);
        };
        Err(CliError::Args(format!("Could not get job jar and dependencies from JAR file: {problem}: {jar}")))
    }
}

fn parse(options: &Options, params: &[String], stop_at_non_option: bool) -> Result<CommandLine, CliError> {
    Ok(parse::parse(options, params, stop_at_non_option)?)
}

/// Flink's `ConfigurationUtils.convertToEnum` for the savepoint format (`-type`).
fn format_type(cmd: &CommandLine) -> Result<Option<&'static str>, CliError> {
    cmd.value(options::SAVEPOINT_FORMAT.short)
        .map(|value| enum_value(value, "org.apache.flink.core.execution.SavepointFormatType", &["CANONICAL", "NATIVE"]))
        .transpose()
}

fn enum_value(value: &str, class_name: &str, constants: &[&'static str]) -> Result<&'static str, CliError> {
    constants.iter().copied().find(|c| c.eq_ignore_ascii_case(value)).ok_or_else(|| {
        Failure::new(
            class::ILLEGAL_ARGUMENT,
            format!("Could not parse value for enum class {class_name}. Expected one of: [[{}]]", constants.join(", ")),
        )
        .into()
    })
}

/// Flink's `JobID.fromHexString`, with the job id printed back in lower case as Flink does.
fn parse_job_id(text: Option<&str>) -> Result<String, CliError> {
    let Some(text) = text else { return Err(CliError::Args("Missing JobId".to_string())) };
    if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(text.to_ascii_lowercase());
    }
    Err(CliError::Args(format!(
        "Cannot parse JobID from \"{text}\". The expected format is [0-9a-fA-F]{{32}}, e.g. fd72014d4c864993a2e5a9287b4a9c5d."
    )))
}

/// `NetUtils.parseHostPortAddress` for `-m`.
fn parse_host_port(text: &str) -> Result<(String, u16), CliError> {
    let invalid = |what: &str| Failure::new(class::ILLEGAL_ARGUMENT, format!("The given host:port ('{text}') {what}"));
    if text.trim().is_empty() {
        return Err(Failure::new(class::ILLEGAL_ARGUMENT, "hostPort should not be null or empty").into());
    }
    let lower = text.to_ascii_lowercase();
    let rest = ["http://", "https://"].iter().find(|p| lower.starts_with(*p)).map_or(text, |p| &text[p.len()..]);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| invalid("is invalid"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(invalid("doesn't contain a valid host").into());
    }
    let port = match port {
        None | Some("") => return Err(invalid("doesn't contain a valid port").into()),
        Some(port) => port.parse::<u16>().map_err(|_| invalid("is invalid"))?,
    };
    Ok((host.to_string(), port))
}

/// A REST failure inside an action, as the exception Flink wraps it in.
fn wrapped(message: String, error: &RestError) -> CliError {
    Failure::new(class::FLINK_EXCEPTION, message).caused_by(error.to_failure()).into()
}

/// A failure while submitting: Flink reports what went wrong in the program's `main`.
fn submission_failed(error: &RestError) -> CliError {
    let message = match error {
        RestError::Server { errors, .. } => format!("The main method caused an error: {}", errors.join(", ")),
        other => format!("Could not submit the program to the cluster: {other}"),
    };
    Failure::new(class::PROGRAM_INVOCATION_EXCEPTION, message).caused_by(error.to_failure()).into()
}

impl Frontend<'_> {
    /// `flink run`.
    pub(super) fn run(&mut self, params: &[String]) -> Result<(), CliError> {
        let cmd = parse(&options::run(), params, true)?;
        if cmd.has(options::HELP.short) {
            self.print(&help::run());
            return Ok(());
        }
        let (active, config) = self.active_command_line(&cmd)?;
        let program = ProgramOptions::new(&cmd)?;
        let mut request = RunRequest {
            program_args_list: program.program_args.clone(),
            parallelism: program.parallelism,
            entry_class: program.entry_class.clone(),
            ..RunRequest::default()
        };
        // Flink reads -n and -rm only together with -s.
        if let Some(path) = cmd.value(options::FROM_SAVEPOINT.short) {
            request.savepoint_path = Some(path.to_string());
            request.allow_non_restored_state = Some(cmd.has(options::ALLOW_NON_RESTORED_STATE.short));
            request.restore_mode = cmd
                .value(options::RESTORE_MODE.short)
                .map(|mode| {
                    enum_value(mode, "org.apache.flink.runtime.jobgraph.RestoreMode", &["CLAIM", "NO_CLAIM", "LEGACY"])
                })
                .transpose()?
                .map(String::from);
        }
        let jar = program.jar_file()?;
        let (client, _) = self.rest_client(&cmd, active, config)?;
        let jar_id = client.upload_jar(&jar).map_err(|e| submission_failed(&e))?;
        let job_id = client.run_jar(&jar_id, &request).map_err(|e| submission_failed(&e))?;
        self.println(&format!("Job has been submitted with JobID {job_id}"));
        if program.detached {
            return Ok(());
        }
        self.await_job_result(&client, &job_id)
    }

    /// Attached mode: waits for the job to end and prints its `JobExecutionResult`, or fails
    /// with the job's exception as Flink's client does.
    fn await_job_result(&mut self, client: &RestClient, job_id: &str) -> Result<(), CliError> {
        let mut interval = Duration::from_millis(50);
        let details = loop {
            let details = client.job_details(job_id).map_err(|e| submission_failed(&e))?;
            if matches!(details.state.as_str(), "FINISHED" | "FAILED" | "CANCELED") {
                break details;
            }
            thread::sleep(interval);
            interval = (interval * 2).min(self.max_poll_interval);
        };
        if details.state == "FINISHED" {
            // `JobExecutionResult.toString` ends with a line break, which `println` doubles.
            self.println(&format!(
                "Program execution finished\nJob with JobID {job_id} has finished.\nJob Runtime: {} ms\n",
                details.duration
            ));
            return Ok(());
        }
        let job_failed = format!("Job failed (JobID: {job_id})");
        let cause = if details.state == "CANCELED" {
            Failure::new(class::JOB_CANCELLATION_EXCEPTION, "Job was cancelled.")
        } else {
            let execution = Failure::new(class::JOB_EXECUTION_EXCEPTION, "Job execution failed.");
            // The root cause is a courtesy: the job's failure stands without it.
            match client.root_exception(job_id) {
                Ok(Some(root)) if !root.trim().is_empty() => execution.caused_by(Failure::raw(root.trim_end())),
                _ => execution,
            }
        };
        let failure = Failure::new(
            class::PROGRAM_INVOCATION_EXCEPTION,
            format!("The main method caused an error: {}: {job_failed}", class::PROGRAM_INVOCATION_EXCEPTION),
        )
        .caused_by(Failure::new(class::PROGRAM_INVOCATION_EXCEPTION, job_failed).caused_by(cause));
        Err(failure.into())
    }

    /// `flink run-application`: Application Mode needs a deployment that starts clusters.
    pub(super) fn run_application(&mut self, params: &[String]) -> Result<(), CliError> {
        let cmd = parse(&options::run(), params, true)?;
        if cmd.has(options::HELP.short) {
            self.print(&help::run_application());
            return Ok(());
        }
        self.active_command_line(&cmd)?;
        let program = ProgramOptions::new(&cmd)?;
        if program.jar.is_none() {
            return Err(CliError::Args("Java program should be specified a JAR file.".to_string()));
        }
        Err(Failure::new(class::UNSUPPORTED_OPERATION, "Application Mode not supported by standalone deployments.")
            .into())
    }

    /// `flink info`: the job's plan, as JSON. Like Flink's, it is made where the command runs
    /// (the component's `plan` run by [`Planner`](crate::Planner)): nothing is uploaded to the
    /// cluster, which need not be running.
    pub(super) fn info(&mut self, params: &[String]) -> Result<(), CliError> {
        let cmd = parse(&options::info(), params, true)?;
        let program = ProgramOptions::new(&cmd)?;
        if cmd.has(options::HELP.short) {
            self.print(&help::info());
            return Ok(());
        }
        let (active, config) = self.active_command_line(&cmd)?;
        let jar = program.jar_file()?;
        let config = self.effective_config(&cmd, active, config)?;
        let input = crate::PlanInput {
            component: &jar,
            program_args: &program.program_args,
            parallelism: program.parallelism,
            config: &config,
        };
        let plan = (self.planner)(&input).map_err(|message| {
            CliError::from(Failure::new(
                class::PROGRAM_INVOCATION_EXCEPTION,
                format!("The main method caused an error: {message}"),
            ))
        })?;
        let plan: OrderedJson = serde_json::from_value(plan).map_err(|e| {
            CliError::from(Failure::new(class::PROGRAM_INVOCATION_EXCEPTION, format!("The plan is not JSON: {e}")))
        })?;
        self.println("----------------------- Execution Plan -----------------------");
        self.println(&plan.to_jackson_pretty());
        self.println("--------------------------------------------------------------");
        self.println("");
        self.println("No description provided.");
        Ok(())
    }

    /// `flink list`.
    pub(super) fn list(&mut self, params: &[String]) -> Result<(), CliError> {
        let cmd = parse(&options::list(), params, false)?;
        if cmd.has(options::HELP.short) {
            self.print(&help::list());
            return Ok(());
        }
        let (running, scheduled, all) =
            (cmd.has(options::RUNNING.short), cmd.has(options::SCHEDULED.short), cmd.has(options::ALL.short));
        // Without a flag, Flink shows the running and the scheduled jobs.
        let selection = if running || scheduled || all {
            ListSelection { running, scheduled, all }
        } else {
            ListSelection { running: true, scheduled: true, all: false }
        };
        let (active, config) = self.active_command_line(&cmd)?;
        let (client, _) = self.rest_client(&cmd, active, config)?;
        self.println("Waiting for response...");
        let jobs = client.jobs_overview().map_err(|e| wrapped("Failed to retrieve job list.".to_string(), &e))?;
        for line in format::job_list(&jobs, selection, self.utc_offset) {
            self.println(&line);
        }
        Ok(())
    }

    /// `flink cancel`, and the deprecated `cancel -s` (savepoint, then cancel).
    pub(super) fn cancel(&mut self, params: &[String]) -> Result<(), CliError> {
        let cmd = parse(&options::cancel(), params, false)?;
        let format = format_type(&cmd)?;
        if cmd.has(options::HELP.short) {
            self.print(&help::cancel());
            return Ok(());
        }
        let (active, config) = self.active_command_line(&cmd)?;
        let args = cmd.args();
        if cmd.has(options::CANCEL_WITH_SAVEPOINT.short) {
            self.println("DEPRECATION WARNING: Cancelling a job with savepoint is deprecated. Use \"stop\" instead.");
            let savepoint_dir = cmd.value(options::CANCEL_WITH_SAVEPOINT.short);
            // `cancel -s <jid>`: the optional directory swallowed the job id.
            let (job_id, target) = match args.first() {
                Some(first) => (parse_job_id(Some(first))?, savepoint_dir),
                None => (parse_job_id(savepoint_dir)?, None),
            };
            let shown = format.unwrap_or("CANONICAL");
            match target {
                Some(dir) => self.println(&format!("Cancelling job {job_id} with {shown} savepoint to {dir}.")),
                None => self.println(&format!(
                    "Cancelling job {job_id} with {shown} savepoint to default savepoint directory."
                )),
            }
            let (client, config) = self.rest_client(&cmd, active, config)?;
            let timeout = client_timeout(&config)?;
            let path = self
                .await_operation(
                    timeout,
                    || client.trigger_savepoint(&job_id, target, true, format),
                    |trigger| client.savepoint_status(&job_id, trigger),
                )
                .map_err(|f| wrap_failure(format!("Could not cancel job {job_id}."), f))?;
            self.println(&format!("Cancelled job {job_id}. Savepoint stored in {path}."));
            return Ok(());
        }
        let job_id = match args.first() {
            Some(first) => parse_job_id(Some(first))?,
            None => return Err(CliError::Args("Missing JobID. Specify a JobID to cancel a job.".to_string())),
        };
        self.println(&format!("Cancelling job {job_id}."));
        let (client, _) = self.rest_client(&cmd, active, config)?;
        client.cancel(&job_id).map_err(|e| wrapped(format!("Could not cancel job {job_id}."), &e))?;
        self.println(&format!("Cancelled job {job_id}."));
        Ok(())
    }

    /// `flink stop`: stop with a savepoint.
    pub(super) fn stop(&mut self, params: &[String]) -> Result<(), CliError> {
        let cmd = parse(&options::stop(), params, false)?;
        let format = format_type(&cmd)?;
        if cmd.has(options::HELP.short) {
            self.print(&help::stop());
            return Ok(());
        }
        let args = cmd.args();
        let path_option = cmd.value(options::STOP_SAVEPOINT_PATH.short);
        // `stop -p <jid>`: the optional path swallowed the job id, and the default directory
        // is meant.
        let target = if cmd.has(options::STOP_SAVEPOINT_PATH.short) && !args.is_empty() { path_option } else { None };
        let job_id = parse_job_id(args.first().map(String::as_str).or(path_option))?;
        let drain = cmd.has(options::DRAIN.short);
        self.println(&format!(
            "{} \"{job_id}\" with a {} savepoint.",
            if drain { "Draining job" } else { "Suspending job" },
            format.unwrap_or("CANONICAL")
        ));
        let (active, config) = self.active_command_line(&cmd)?;
        let (client, config) = self.rest_client(&cmd, active, config)?;
        let timeout = client_timeout(&config)?;
        let deadline = Instant::now() + timeout;
        let path = self
            .await_operation(
                timeout,
                || client.stop_with_savepoint(&job_id, drain, target, format),
                |trigger| client.savepoint_status(&job_id, trigger),
            )
            .map_err(|f| wrap_failure(format!("Could not stop with a savepoint job \"{job_id}\"."), f))?;
        // As Flink's client, return once the job has ended: a `run -s` right after it, or a
        // look at `/jobs/:id`, sees it FINISHED. Within what is left of `client.timeout`.
        let left = deadline.saturating_duration_since(Instant::now());
        self.await_finished(&client, &job_id, left).map_err(|cause| {
            wrap_failure(
                format!(
                    "The savepoint of job \"{job_id}\" completed (path: {path}), but the job did not end FINISHED within {} ms ({CLIENT_TIMEOUT}).",
                    timeout.as_millis()
                ),
                cause,
            )
        })?;
        self.println(&format!("Savepoint completed. Path: {path}"));
        Ok(())
    }

    /// Polls `/jobs/:id/status` until it says FINISHED; fails on another terminal status, or
    /// with Flink's timeout once `timeout` has passed.
    fn await_finished(&self, client: &RestClient, job_id: &str, timeout: Duration) -> Result<(), Failure> {
        let last = std::cell::RefCell::new(String::new());
        self.poll_until(timeout, || {
            let status = client.job_status(job_id).map_err(|e| e.to_failure())?;
            match status.as_str() {
                "FINISHED" => Ok(Some(())),
                "FAILED" | "CANCELED" | "SUSPENDED" => {
                    Err(Failure::new(class::FLINK_EXCEPTION, format!("The job ended {status}.")))
                }
                _ => {
                    *last.borrow_mut() = status;
                    Ok(None)
                }
            }
        })
        .map_err(|failure| {
            let status = last.borrow();
            if failure == Failure::bare(class::TIMEOUT_EXCEPTION) && !status.is_empty() {
                Failure::new(class::TIMEOUT_EXCEPTION, format!("The job is still {status}."))
            } else {
                failure
            }
        })
    }

    /// `weir upgrade [--operators uids] [--dry-run] [-n] <job id> <component file or jar id>
    /// [<arguments>]`: replaces the running job's code at a barrier, keeping its state. Without
    /// arguments the job's own are kept. One line when it starts, one when it ends, as `stop`.
    /// `weir rescale <jobid> -p N` (or `--vertex id=N,...`): sets the job's resource
    /// requirements, then waits until the rescale is done and says how it went.
    pub(super) fn rescale(&mut self, params: &[String]) -> Result<(), CliError> {
        let cmd = parse(&options::rescale(), params, false)?;
        if cmd.has(options::HELP.short) {
            self.print(&help::rescale());
            return Ok(());
        }
        let job_id = parse_job_id(cmd.args().first().map(String::as_str))?;
        let all: Option<u32> =
            match cmd.value(options::PARALLELISM.short) {
                Some(p) => Some(p.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                    CliError::Args(format!("The parallelism must be a positive number, not \"{p}\"."))
                })?),
                None => None,
            };
        let mut named: Vec<(String, u32)> = Vec::new();
        for pair in cmd.value(options::RESCALE_VERTICES.short).unwrap_or_default().split(',').map(str::trim) {
            if pair.is_empty() {
                continue;
            }
            let parsed = pair.rsplit_once('=').and_then(|(v, p)| Some((v.trim().to_string(), p.trim().parse().ok()?)));
            match parsed {
                Some((vertex, p)) if p > 0 && !vertex.is_empty() => named.push((vertex, p)),
                _ => {
                    return Err(CliError::Args(format!(
                        "\"{pair}\" is not a vertex and a parallelism: write it as <vertex id or name>=<parallelism>."
                    )));
                }
            }
        }
        if all.is_none() && named.is_empty() {
            return Err(CliError::Args(
                "Missing the parallelism: give -p <parallelism> for every vertex, or --vertex <vertex>=<parallelism>."
                    .to_string(),
            ));
        }
        let (active, config) = self.active_command_line(&cmd)?;
        let (client, config) = self.rest_client(&cmd, active, config)?;
        let timeout = client_timeout(&config)?;
        let could_not = || format!("Could not rescale job \"{job_id}\".");
        let failed = |e: &RestError| wrap_failure(could_not(), e.to_failure());
        let details = client.get(&format!("/jobs/{job_id}")).map_err(|e| failed(&e))?;
        let vertices: Vec<(String, String, u32)> = details["vertices"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .map(|v| {
                        let p = v["parallelism"].as_u64().and_then(|p| u32::try_from(p).ok()).unwrap_or(0);
                        (
                            v["id"].as_str().unwrap_or_default().to_string(),
                            v["name"].as_str().unwrap_or_default().to_string(),
                            p,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (vertex, _) in &named {
            if !vertices.iter().any(|(id, name, _)| id == vertex || name == vertex) {
                let known: Vec<String> = vertices.iter().map(|(id, name, _)| format!("{name} ({id})")).collect();
                return Err(CliError::Args(format!(
                    "The job has no vertex \"{vertex}\"; its vertices: {}.",
                    known.join(", ")
                )));
            }
        }
        let target = |id: &str, name: &str, current: u32| {
            named.iter().find(|(v, _)| v == id || v == name).map(|(_, p)| *p).or(all).unwrap_or(current)
        };
        let bounds: Vec<(String, u32, u32)> =
            vertices.iter().map(|(id, name, current)| (id.clone(), 1, target(id, name, *current))).collect();
        let from: Vec<String> = vertices.iter().map(|(_, _, p)| p.to_string()).collect();
        let to: Vec<String> = bounds.iter().map(|(_, _, p)| p.to_string()).collect();
        if from == to {
            client.set_resource_requirements(&job_id, &bounds).map_err(|e| failed(&e))?;
            self.println(&format!("Job \"{job_id}\" already runs at parallelism {}.", to.join(",")));
            return Ok(());
        }
        let before = client.get(&format!("/jobs/{job_id}/upgrades")).map_err(|e| failed(&e))?;
        let known = before["upgrades"].as_array().map_or(0, Vec::len);
        self.println(&format!("Rescaling job \"{job_id}\" from parallelism {} to {}.", from.join(","), to.join(",")));
        client.set_resource_requirements(&job_id, &bounds).map_err(|e| failed(&e))?;
        let op = self
            .poll_until(timeout, || {
                let history = client.get(&format!("/jobs/{job_id}/upgrades")).map_err(|e| e.to_failure())?;
                let Some(list) = history["upgrades"].as_array().filter(|l| l.len() > known) else { return Ok(None) };
                let newest = &list[0];
                Ok((newest["status"]["id"] == "COMPLETED").then(|| newest["operation"].clone()))
            })
            .map_err(|cause| wrap_failure(could_not(), cause))?;
        match op["result"].as_str() {
            Some("REDEPLOYED") => {
                self.println(&format!(
                    "Rescale completed: parallelism {} in {} ms (restored from checkpoint {}).",
                    to.join(","),
                    op["duration"],
                    op["checkpoint-id"]
                ));
                Ok(())
            }
            result => {
                let trace = op["failure-cause"]["stack-trace"].as_str().unwrap_or_default();
                let cause = trace.strip_prefix("org.apache.flink.util.FlinkException: ").unwrap_or(trace).to_string();
                self.println(&format!(
                    "Rescale completed: {} in {} ms; the job runs at parallelism {} again.",
                    result.unwrap_or("FAILED"),
                    op["duration"],
                    from.join(",")
                ));
                Err(wrap_failure(
                    format!("The rescale of job \"{job_id}\" was rolled back."),
                    Failure::new(class::FLINK_EXCEPTION, cause),
                ))
            }
        }
    }

    pub(super) fn upgrade(&mut self, params: &[String]) -> Result<(), CliError> {
        let cmd = parse(&options::upgrade(), params, true)?;
        if cmd.has(options::HELP.short) {
            self.print(&help::upgrade());
            return Ok(());
        }
        let args = cmd.args();
        let job_id = parse_job_id(args.first().map(String::as_str))?;
        let Some(component) = args.get(1) else {
            return Err(CliError::Args(
                "Missing the new code: give a component file (.wasm) or the id of an uploaded jar.".to_string(),
            ));
        };
        let program_args = (args.len() > 2).then(|| args[2..].to_vec());
        let operators: Vec<String> = cmd
            .value(options::UPGRADE_OPERATORS.short)
            .map(|v| v.split(',').map(str::trim).filter(|o| !o.is_empty()).map(String::from).collect())
            .unwrap_or_default();
        let dry_run = cmd.has(options::DRY_RUN.short);
        let (active, config) = self.active_command_line(&cmd)?;
        let (client, config) = self.rest_client(&cmd, active, config)?;
        let timeout = client_timeout(&config)?;
        let could_not = || format!("Could not upgrade job \"{job_id}\".");
        let failed = |e: &RestError| wrap_failure(could_not(), e.to_failure());
        let path = PathBuf::from(component);
        let jar_id = if path.is_file() { client.upload_jar(&path).map_err(|e| failed(&e))? } else { component.clone() };
        let request = UpgradeRequest {
            jar_id,
            program_args_list: program_args,
            operators,
            allow_non_restored_state: cmd.has(options::ALLOW_NON_RESTORED_STATE.short),
            dry_run,
        };
        if !dry_run {
            self.println(&format!("Upgrading job \"{job_id}\" to {component}."));
        }
        let answer = client.upgrade(&job_id, &request).map_err(|e| failed(&e))?;
        if dry_run {
            self.print(&format::upgrade_dry_run(&job_id, &answer));
            return Ok(());
        }
        let Some(request_id) = answer.get("request-id").and_then(|r| r.as_str()).map(String::from) else {
            return Err(failed(&RestError::Response(format!("unexpected answer: {answer}"))));
        };
        let status = self
            .poll_until(timeout, || {
                let status = client.upgrade_status(&job_id, &request_id).map_err(|e| e.to_failure())?;
                Ok((status["status"]["id"] == "COMPLETED").then_some(status))
            })
            .map_err(|cause| wrap_failure(could_not(), cause))?;
        let op = &status["operation"];
        let cause = || {
            let trace = op["failure-cause"]["stack-trace"].as_str().unwrap_or_default();
            trace.strip_prefix("org.apache.flink.util.FlinkException: ").unwrap_or(trace).to_string()
        };
        match op["result"].as_str() {
            Some(result @ ("SWAPPED" | "REDEPLOYED")) => {
                let point = match op["checkpoint-id"].as_u64() {
                    Some(checkpoint) => format!("at checkpoint {checkpoint}"),
                    None => "at once (the barrier was held up by queued input)".to_string(),
                };
                self.println(&format!(
                    "Upgrade completed: {result} {point} in {} ms (operators: {}).",
                    op["duration"],
                    format::json_list(&op["operators"])
                ));
                Ok(())
            }
            Some(result) => {
                self.println(&format!(
                    "Upgrade completed: {result} in {} ms; the previous code runs again.",
                    op["duration"]
                ));
                Err(wrap_failure(
                    format!("The upgrade of job \"{job_id}\" was rolled back."),
                    Failure::new(class::FLINK_EXCEPTION, cause()),
                ))
            }
            None => Err(wrap_failure(could_not(), Failure::new(class::FLINK_EXCEPTION, cause()))),
        }
    }

    /// `flink savepoint`: trigger one, or dispose of one with `-d`.
    pub(super) fn savepoint(&mut self, params: &[String]) -> Result<(), CliError> {
        let cmd = parse(&options::savepoint(), params, false)?;
        let format = format_type(&cmd)?;
        if cmd.has(options::HELP.short) {
            self.print(&help::savepoint());
            return Ok(());
        }
        let (active, config) = self.active_command_line(&cmd)?;
        if let Some(path) = cmd.value(options::DISPOSE.short) {
            let (client, config) = self.rest_client(&cmd, active, config)?;
            let timeout = client_timeout(&config)?;
            self.println(&format!("Disposing savepoint '{path}'."));
            self.println("Waiting for response...");
            self.await_operation(timeout, || client.dispose_savepoint(path), |trigger| client.disposal_status(trigger))
                .map_err(|f| wrap_failure(format!("Failed to dispose the savepoint '{path}'."), f))?;
            self.println(&format!("Savepoint '{path}' disposed."));
            return Ok(());
        }
        let args = cmd.args();
        let job_id = match args.first() {
            Some(first) => parse_job_id(Some(first))?,
            None => return Err(CliError::Args("Missing JobID. Specify a Job ID to trigger a savepoint.".to_string())),
        };
        let directory = args.get(1).map(String::as_str);
        if args.len() >= 3 {
            self.println("Provided more arguments than required. Ignoring not needed arguments.");
        }
        let (client, config) = self.rest_client(&cmd, active, config)?;
        let timeout = client_timeout(&config)?;
        self.println(&format!("Triggering savepoint for job {job_id}."));
        self.println("Waiting for response...");
        let path = self
            .await_operation(
                timeout,
                || client.trigger_savepoint(&job_id, directory, false, format),
                |trigger| client.savepoint_status(&job_id, trigger),
            )
            .map_err(|f| wrap_failure(format!("Failed to trigger a savepoint for the job {job_id}."), f))?;
        self.println(&format!("Savepoint completed. Path: {path}"));
        self.println("You can resume your program from this savepoint with the run command.");
        Ok(())
    }

    /// Triggers an asynchronous operation and polls it until it completes or `timeout` passes;
    /// returns the savepoint location (`null` when there is none, as Java prints it).
    fn await_operation(
        &self,
        timeout: Duration,
        trigger: impl FnOnce() -> Result<String, RestError>,
        poll: impl Fn(&str) -> Result<Operation, RestError>,
    ) -> Result<String, Failure> {
        let trigger_id = trigger().map_err(|e| e.to_failure())?;
        self.poll_until(timeout, || match poll(&trigger_id).map_err(|e| e.to_failure())? {
            Operation::Completed(location) => Ok(Some(location.unwrap_or_else(|| "null".to_string()))),
            Operation::Failed(cause) => Err(cause),
            Operation::InProgress => Ok(None),
        })
    }

    /// Calls `poll` until it answers, with growing pauses, failing with Flink's timeout after
    /// `timeout`.
    fn poll_until<T>(&self, timeout: Duration, poll: impl Fn() -> Result<Option<T>, Failure>) -> Result<T, Failure> {
        let deadline = Instant::now() + timeout;
        let mut interval = Duration::from_millis(20);
        loop {
            if let Some(answer) = poll()? {
                return Ok(answer);
            }
            if Instant::now() >= deadline {
                return Err(Failure::bare(class::TIMEOUT_EXCEPTION));
            }
            thread::sleep(interval.min(deadline.saturating_duration_since(Instant::now())));
            interval = (interval * 2).min(self.max_poll_interval);
        }
    }

    /// `validateAndGetActiveCommandLine`: loads the configuration and refuses the deployments
    /// Weir does not have (YARN, targets other than `remote`).
    fn active_command_line(&self, cmd: &CommandLine) -> Result<(ActiveCli, Configuration), CliError> {
        let config = (self.load_config)()
            .map_err(|e| CliError::from(Failure::new(class::ILLEGAL_CONFIGURATION, e.to_string())))?;
        let target = cmd
            .value(options::TARGET.short)
            .or_else(|| cmd.value(options::EXECUTOR.short))
            .or_else(|| config.get("execution.target"))
            .map(String::from);
        if let Some(target) = target {
            if target == "remote" {
                return Ok((ActiveCli::Generic, config));
            }
            return Err(CliError::Args(format!(
                "The deployment target \"{target}\" is not supported: Weir submits jobs to a running cluster (target \"remote\")."
            )));
        }
        if cmd.value(options::JOBMANAGER.short) == Some("yarn-cluster") || cmd.has(options::YARN_APPLICATION_ID.short) {
            return Err(CliError::Args(
                "YARN is not supported: Weir submits jobs to a running cluster (-m <host:port>).".to_string(),
            ));
        }
        Ok((ActiveCli::Default, config))
    }

    /// The effective configuration (file, then `-m`, then `-D`, as `DefaultCLI` applies them)
    /// and a client for its REST endpoint.
    fn rest_client(
        &self,
        cmd: &CommandLine,
        active: ActiveCli,
        config: Configuration,
    ) -> Result<(RestClient, Configuration), CliError> {
        let config = self.effective_config(cmd, active, config)?;
        let host =
            config.get(keys::REST_ADDRESS).or_else(|| config.get(keys::JOBMANAGER_ADDRESS)).unwrap_or("localhost");
        let port = config.get_u64(keys::REST_PORT, 8081).ok().and_then(|p| u16::try_from(p).ok()).ok_or_else(|| {
            Failure::new(
                class::ILLEGAL_CONFIGURATION,
                format!("Invalid value for {}: {}", keys::REST_PORT, config.get(keys::REST_PORT).unwrap_or_default()),
            )
        })?;
        let security = client_security(&config)?;
        Ok((RestClient::secured(host, port, security), config))
    }

    /// The effective configuration: the file's, then `-m`, then `-D`, as `DefaultCLI` applies
    /// them.
    fn effective_config(
        &self,
        cmd: &CommandLine,
        active: ActiveCli,
        mut config: Configuration,
    ) -> Result<Configuration, CliError> {
        if active == ActiveCli::Default
            && let Some(address) = cmd.value(options::JOBMANAGER.short)
        {
            let (host, port) = parse_host_port(address)?;
            config.set(keys::JOBMANAGER_ADDRESS, host.clone());
            config.set(keys::JOBMANAGER_PORT, port.to_string());
            config.set(keys::REST_ADDRESS, host);
            config.set(keys::REST_PORT, port.to_string());
        }
        for (key, value) in cmd.properties(options::DYNAMIC_PROPERTIES.short) {
            config.set(&key, value);
        }
        Ok(config)
    }
}

/// The environment variable the CLI also takes the REST token from.
pub const TOKEN_VARIABLE: &str = "WEIR_REST_TOKEN";

/// HTTPS and the bearer token, as the configuration (`security.ssl.rest.*`,
/// `rest.authentication.token[-file]`) or `$WEIR_REST_TOKEN` ask.
fn client_security(config: &Configuration) -> Result<ClientSecurity, CliError> {
    let illegal = |message: String| CliError::from(Failure::new(class::ILLEGAL_CONFIGURATION, message));
    let trusted = if config.get_bool(keys::SSL_REST_ENABLED, false).map_err(|e| illegal(e.to_string()))? {
        let truststore = config.get_path(&[keys::SSL_REST_TRUSTSTORE]).ok_or_else(|| {
            illegal(format!("{} is true, but {} is not set", keys::SSL_REST_ENABLED, keys::SSL_REST_TRUSTSTORE))
        })?;
        let certificates = weir_security::tls::load_certificates(&truststore, "the trusted CA certificates")
            .map_err(|e| illegal(e.to_string()))?;
        Some(certificates.iter().map(|c| c.as_ref().to_vec()).collect())
    } else {
        None
    };
    let token = match config
        .get_secret(keys::REST_AUTHENTICATION_TOKEN, keys::REST_AUTHENTICATION_TOKEN_FILE)
        .map_err(|e| illegal(e.to_string()))?
    {
        Some(token) => Some(token),
        None => std::env::var(TOKEN_VARIABLE).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
    };
    Ok(ClientSecurity { trusted, token })
}

fn client_timeout(config: &Configuration) -> Result<Duration, CliError> {
    config
        .get_duration_ms(CLIENT_TIMEOUT, DEFAULT_CLIENT_TIMEOUT)
        .map_err(|e| Failure::new(class::ILLEGAL_CONFIGURATION, e.to_string()).into())
}

fn wrap_failure(message: String, cause: Failure) -> CliError {
    Failure::new(class::FLINK_EXCEPTION, message).caused_by(cause).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids() {
        assert_eq!(
            parse_job_id(Some("5E20CB6B0F357591171DFCCA2EEA09DE")).ok().as_deref(),
            Some("5e20cb6b0f357591171dfcca2eea09de")
        );
        assert_eq!(
            parse_job_id(Some("abc")).err().map(|e| e.to_string()).as_deref(),
            Some(
                "Cannot parse JobID from \"abc\". The expected format is [0-9a-fA-F]{32}, e.g. fd72014d4c864993a2e5a9287b4a9c5d."
            )
        );
        assert_eq!(parse_job_id(None).err().map(|e| e.to_string()).as_deref(), Some("Missing JobId"));
    }

    #[test]
    fn host_ports() {
        assert_eq!(parse_host_port("jobmanager:8081").ok(), Some(("jobmanager".to_string(), 8081)));
        assert_eq!(parse_host_port("http://localhost:9000/").ok(), Some(("localhost".to_string(), 9000)));
        assert_eq!(parse_host_port("[::1]:8081").ok(), Some(("::1".to_string(), 8081)));
        assert_eq!(
            parse_host_port("localhost").err().map(|e| e.to_string()).as_deref(),
            Some("java.lang.IllegalArgumentException: The given host:port ('localhost') doesn't contain a valid port")
        );
    }
}
