//! The `flink` command: Flink 1.16's `CliFrontend` for a Weir cluster, so that the playground's
//! commands, scripts and habits work unchanged (`flink run -d`, `flink list`, `flink stop`,
//! `flink cancel`, `flink savepoint`, `flink info`, `-h`, `-v`).
//! `info` plans the component where it runs, through the [`Planner`] the binary gives (the
//! WebAssembly runtime is not this crate's to hold), and sends nothing to the cluster.
//!
//! The texts, exit codes and streams follow Flink's: results on stdout, a wrong command line as
//! the message plus a pointer to `-h` on stdout, any other failure as the exception chain on
//! stderr; 0 on success, 1 on failure. The actions talk to the JobManager's REST API (`client`).
//!
//! - [`parse`]: Commons CLI's parsing rules; [`options`]: Flink's options and texts;
//! - [`help`]: the help layout; [`format`](mod@format): `list` lines and `info`'s JSON;
//! - [`client`]: the REST client; [`error`]: the two kinds of failure; `actions`: the actions.

mod actions;
pub mod client;
pub mod error;
pub mod format;
pub mod help;
pub mod options;
pub mod parse;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use error::CliError;
use weir_config::{ConfigError, Configuration};

/// What `info` plans: a job component, with the program arguments and parallelism of its
/// command line and the client's effective configuration (file, `-m`, `-D`).
pub struct PlanInput<'a> {
    /// The component file.
    pub component: &'a Path,
    /// The program arguments, passed to the component's `plan`.
    pub program_args: &'a [String],
    /// `-p`, if given (else the configuration's `parallelism.default`).
    pub parallelism: Option<u32>,
    /// The client's configuration.
    pub config: &'a Configuration,
}

/// Plans a job component where the command runs, as Flink's client runs a jar's `main` for
/// `flink info`: nothing is sent to the cluster. Answers the plan as `/jars/:id/plan`'s `plan`
/// (Flink's plan JSON), or why the component could not be planned.
pub type Planner = dyn Fn(&PlanInput<'_>) -> Result<serde_json::Value, String>;

/// Runs the `flink` command with `args` (without the program itself); `program_name` (`flink`
/// or `weir`) appears in the help's usage line; `planner` plans components for `info`.
pub fn main(program_name: &str, args: Vec<String>, planner: &Planner) -> ExitCode {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let (mut out, mut err) = (stdout.lock(), stderr.lock());
    let load = || Configuration::load(None);
    let mut frontend = Frontend::new(program_name, &load, planner, &mut out, &mut err);
    ExitCode::from(frontend.parse_and_run(&args))
}

/// One run of the command: where it reads its configuration and writes its output.
pub(crate) struct Frontend<'a> {
    program_name: &'a str,
    load_config: &'a dyn Fn() -> Result<Configuration, ConfigError>,
    /// Plans components for `info`, locally.
    planner: &'a Planner,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    /// The local time zone's offset from UTC at an epoch second, for `list`.
    utc_offset: fn(i64) -> i64,
    /// The longest pause between two polls of an operation or a job.
    max_poll_interval: Duration,
}

impl<'a> Frontend<'a> {
    /// A frontend that loads its configuration with `load_config`, plans with `planner` and
    /// prints to `out` and `err`.
    pub(crate) fn new(
        program_name: &'a str,
        load_config: &'a dyn Fn() -> Result<Configuration, ConfigError>,
        planner: &'a Planner,
        out: &'a mut dyn Write,
        err: &'a mut dyn Write,
    ) -> Self {
        Frontend {
            program_name,
            load_config,
            planner,
            out,
            err,
            utc_offset: format::local_utc_offset,
            max_poll_interval: Duration::from_secs(1),
        }
    }

    /// `CliFrontend.parseAndRun`: dispatches on the action and turns failures into Flink's
    /// output; returns the exit code.
    pub(crate) fn parse_and_run(&mut self, args: &[String]) -> u8 {
        let Some(action) = args.first() else {
            let help = help::full(self.program_name);
            self.print(&help);
            self.println("Please specify an action.");
            return 1;
        };
        let params = &args[1..];
        let result = match action.as_str() {
            "run" => self.run(params),
            "run-application" => self.run_application(params),
            "list" => self.list(params),
            "info" => self.info(params),
            "cancel" => self.cancel(params),
            "stop" => self.stop(params),
            "savepoint" => self.savepoint(params),
            "upgrade" => self.upgrade(params),
            "rescale" => self.rescale(params),
            "-h" | "--help" => {
                let help = help::full(self.program_name);
                self.print(&help);
                Ok(())
            }
            "-v" | "--version" => {
                self.println(&version_line());
                Ok(())
            }
            other => {
                self.println(&format!("\"{other}\" is not a valid action."));
                self.println("");
                self.println(
                    "Valid actions are \"run\", \"run-application\", \"list\", \"info\", \"savepoint\", \"stop\", or \"cancel\".",
                );
                self.println("");
                self.println("Specify the version option (-v or --version) to print Flink version.");
                self.println("");
                self.println("Specify the help option (-h or --help) to get help on the command.");
                return 1;
            }
        };
        match result {
            Ok(()) => 0,
            Err(CliError::Args(message)) => {
                self.println(&message);
                self.println("");
                self.println("Use the help option (-h or --help) to get help on the command.");
                1
            }
            Err(CliError::Failed(failure)) => {
                self.eprintln("");
                self.eprintln("------------------------------------------------------------");
                self.eprintln(" The program finished with the following exception:");
                self.eprintln("");
                self.eprintln(&failure.to_string());
                1
            }
        }
    }

    /// Writes `text` to stdout. Like Java's `System.out`, a closed stdout is ignored: the
    /// command's effect on the cluster already happened and its exit code still tells.
    fn print(&mut self, text: &str) {
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }

    fn println(&mut self, line: &str) {
        self.print(&format!("{line}\n"));
    }

    fn eprintln(&mut self, line: &str) {
        let _ = writeln!(self.err, "{line}");
        let _ = self.err.flush();
    }
}

/// `flink -v`: Flink prints `Version: 1.16.0, Commit ID: <id>`, with `DeadD0d0` when the build
/// knows no commit. A build can name its commit in `WEIR_COMMIT_ID`.
pub fn version_line() -> String {
    let commit = option_env!("WEIR_COMMIT_ID").unwrap_or("DeadD0d0");
    format!("Version: {}, Commit ID: {commit}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests;
