//! The options of Flink 1.16's `flink` command, with Flink's names and help texts: those of
//! `CliFrontendParser` (per action), and those of the three "custom command lines" Flink loads
//! (`GenericCLI`, the YARN CLI and `DefaultCLI`), which every action also accepts.
//!
//! Weir accepts the YARN and Python options so that the help and the parse errors are Flink's;
//! the actions refuse the ones it cannot honour with a clear message.

use super::parse::{Arity, CliOption, Options};

/// `-h,--help`.
pub const HELP: CliOption = CliOption::flag("h", "help", "Show the help message for the CLI Frontend or the action.");
/// `-v,--verbose`: Flink still accepts and ignores it.
const VERBOSE: CliOption = CliOption::flag("v", "verbose", "This option is deprecated.");
/// `-j,--jarfile`.
pub const JAR: CliOption = CliOption::with_arg("j", "jarfile", Some("jarfile"), "Flink program JAR file.");
/// `-c,--class`.
pub const CLASS: CliOption = CliOption::with_arg(
    "c",
    "class",
    Some("classname"),
    "Class with the program entry point (\"main()\" method). Only needed if the JAR file does not specify the class in \
     its manifest.",
);
/// `-C,--classpath`.
pub const CLASSPATH: CliOption = CliOption::with_arg(
    "C",
    "classpath",
    Some("url"),
    "Adds a URL to each user code classloader  on all nodes in the cluster. The paths must specify a protocol (e.g. \
     file://) and be accessible on all nodes (e.g. by means of a NFS share). You can use this option multiple times \
     for specifying more than one URL. The protocol must be supported by the {@link java.net.URLClassLoader}.",
);
/// `-p,--parallelism`.
pub const PARALLELISM: CliOption = CliOption::with_arg(
    "p",
    "parallelism",
    Some("parallelism"),
    "The parallelism with which to run the program. Optional flag to override the default value specified in the \
     configuration.",
);
/// `-d,--detached`.
pub const DETACHED: CliOption = CliOption::flag("d", "detached", "If present, runs the job in detached mode");
/// `-sae,--shutdownOnAttachedExit`.
pub const SHUTDOWN_ON_ATTACHED_EXIT: CliOption = CliOption::flag(
    "sae",
    "shutdownOnAttachedExit",
    "If the job is submitted in attached mode, perform a best-effort cluster shutdown when the CLI is terminated \
     abruptly, e.g., in response to a user interrupt, such as typing Ctrl + C.",
);
/// `-yd,--yarndetached` (deprecated).
pub const YARN_DETACHED: CliOption = CliOption::flag(
    "yd",
    "yarndetached",
    "If present, runs the job in detached mode (deprecated; use non-YARN specific option instead)",
);
/// `-a,--arguments` (deprecated: trailing words are the arguments).
pub const ARGS: CliOption = CliOption {
    short: "a",
    long: Some("arguments"),
    arity: Arity::Unlimited { name: "programArgs" },
    description: "Program arguments. Arguments can also be added without -a, simply as trailing parameters.",
};
/// `-s,--fromSavepoint`.
pub const FROM_SAVEPOINT: CliOption = CliOption::with_arg(
    "s",
    "fromSavepoint",
    Some("savepointPath"),
    "Path to a savepoint to restore the job from (for example hdfs:///flink/savepoint-1537).",
);
/// `-n,--allowNonRestoredState`.
pub const ALLOW_NON_RESTORED_STATE: CliOption = CliOption::flag(
    "n",
    "allowNonRestoredState",
    "Allow to skip savepoint state that cannot be restored. You need to allow this if you removed an operator from \
     your program that was part of the program when the savepoint was triggered.",
);
/// `-rm,--restoreMode`.
pub const RESTORE_MODE: CliOption = CliOption::with_arg(
    "rm",
    "restoreMode",
    None,
    "Defines how should we restore from the given savepoint. Supported options: [claim - claim ownership of the \
     savepoint and delete once it is subsumed, no_claim (default) - do not claim ownership, the first checkpoint will \
     not reuse any files from the restored one, legacy - the old behaviour, do not assume ownership of the savepoint \
     files, but can reuse some shared files.",
);
/// `savepoint -d,--dispose`.
pub const DISPOSE: CliOption = CliOption::with_arg("d", "dispose", None, "Path of savepoint to dispose.");
/// `-type,--type`.
pub const SAVEPOINT_FORMAT: CliOption = CliOption::with_arg(
    "type",
    "type",
    None,
    "Describes the binary format in which a savepoint should be taken. Supported options: [canonical - a common \
     format for all state backends, allow for changing state backends, native = a specific format for the chosen \
     state backend, might be faster to take and restore from.",
);
/// `list -r,--running`.
pub const RUNNING: CliOption = CliOption::flag("r", "running", "Show only running programs and their JobIDs");
/// `list -s,--scheduled`.
pub const SCHEDULED: CliOption = CliOption::flag("s", "scheduled", "Show only scheduled programs and their JobIDs");
/// `list -a,--all`.
pub const ALL: CliOption = CliOption::flag("a", "all", "Show all programs and their JobIDs");
/// `cancel -s,--withSavepoint [dir]` (deprecated).
pub const CANCEL_WITH_SAVEPOINT: CliOption = CliOption {
    short: "s",
    long: Some("withSavepoint"),
    arity: Arity::Optional { name: "targetDirectory" },
    description: "**DEPRECATION WARNING**: Cancelling a job with savepoint is deprecated. Use \"stop\" instead. \n \
                  Trigger savepoint and cancel job. The target directory is optional. If no directory is specified, \
                  the configured default directory (state.savepoints.dir) is used.",
};
/// `stop -p,--savepointPath [dir]`.
pub const STOP_SAVEPOINT_PATH: CliOption = CliOption {
    short: "p",
    long: Some("savepointPath"),
    arity: Arity::Optional { name: "savepointPath" },
    description: "Path to the savepoint (for example hdfs:///flink/savepoint-1537). If no directory is specified, the \
                  configured default will be used (\"state.savepoints.dir\").",
};
/// `stop -d,--drain`.
pub const DRAIN: CliOption = CliOption::flag(
    "d",
    "drain",
    // Flink's typo, kept: this is the text users see.
    "Send MAX_WATERMARK before taking the savepoint and stopping the pipelne.",
);
/// `-py,--python`.
pub const PYTHON: CliOption = CliOption::with_arg(
    "py",
    "python",
    Some("pythonFile"),
    "Python script with the program entry point. The dependent resources can be configured with the `--pyFiles` \
     option.",
);
/// `-pyfs,--pyFiles`.
pub const PY_FILES: CliOption = CliOption::with_arg(
    "pyfs",
    "pyFiles",
    Some("pythonFiles"),
    "Attach custom files for job. The standard resource file suffixes such as .py/.egg/.zip/.whl or directory are all \
     supported. These files will be added to the PYTHONPATH of both the local client and the remote python UDF worker. \
     Files suffixed with .zip will be extracted and added to PYTHONPATH. Comma (',') could be used as the separator \
     to specify multiple files (e.g., --pyFiles file:///tmp/myresource.zip,hdfs:///$namenode_address/myresource2.zip).",
);
/// `-pym,--pyModule`.
pub const PY_MODULE: CliOption = CliOption::with_arg(
    "pym",
    "pyModule",
    Some("pythonModule"),
    "Python module with the program entry point. This option must be used in conjunction with `--pyFiles`.",
);
/// `-pyreq,--pyRequirements`.
pub const PY_REQUIREMENTS: CliOption = CliOption::with_arg(
    "pyreq",
    "pyRequirements",
    None,
    "Specify a requirements.txt file which defines the third-party dependencies. These dependencies will be \
     installed and added to the PYTHONPATH of the python UDF worker. A directory which contains the installation \
     packages of these dependencies could be specified optionally. Use '#' as the separator if the optional parameter \
     exists (e.g., --pyRequirements file:///tmp/requirements.txt#file:///tmp/cached_dir).",
);
/// `-pyarch,--pyArchives`.
pub const PY_ARCHIVES: CliOption = CliOption::with_arg(
    "pyarch",
    "pyArchives",
    None,
    "Add python archive files for job. The archive files will be extracted to the working directory of python UDF \
     worker. For each archive file, a target directory be specified. If the target directory name is specified, the \
     archive file will be extracted to a directory with the specified name. Otherwise, the archive file will be \
     extracted to a directory with the same name of the archive file. The files uploaded via this option are \
     accessible via relative path. '#' could be used as the separator of the archive file path and the target \
     directory name. Comma (',') could be used as the separator to specify multiple archive files. This option can be \
     used to upload the virtual environment, the data files used in Python UDF (e.g., --pyArchives \
     file:///tmp/py37.zip,file:///tmp/data.zip#data --pyExecutable py37.zip/py37/bin/python). The data files could be \
     accessed in Python UDF, e.g.: f = open('data/data.txt', 'r').",
);
/// `-pyexec,--pyExecutable`. The Python and Beam versions are those PyFlink 1.16 requires.
pub const PY_EXECUTABLE: CliOption = CliOption::with_arg(
    "pyexec",
    "pyExecutable",
    None,
    "Specify the path of the python interpreter used to execute the python UDF worker (e.g.: --pyExecutable \
     /usr/local/bin/python3). The python UDF worker depends on Python 3.7+, Apache Beam (version == 2.38.0), Pip \
     (version >= 20.3) and SetupTools (version >= 37.0.0). Please ensure that the specified environment meets the \
     above requirements.",
);
/// `-pyclientexec,--pyClientExecutable`.
pub const PY_CLIENT_EXECUTABLE: CliOption = CliOption::with_arg(
    "pyclientexec",
    "pyClientExecutable",
    None,
    "The path of the Python interpreter used to launch the Python process when submitting the Python jobs via \"flink \
     run\" or compiling the Java/Scala jobs containing Python UDFs.",
);

/// `upgrade --operators <uid,uid>` (Weir's own action).
pub const UPGRADE_OPERATORS: CliOption = CliOption::with_arg(
    "op",
    "operators",
    Some("uids"),
    "Swap only these operators (uids, separated by commas); the others keep their code.",
);
/// `rescale --vertex` (Weir's own).
pub const RESCALE_VERTICES: CliOption = CliOption::with_arg(
    "vp",
    "vertex",
    Some("vertex=parallelism"),
    "Rescale only these vertices (id or name, then = and the parallelism; separated by commas); the others keep theirs.",
);
/// `upgrade --dry-run`.
pub const DRY_RUN: CliOption =
    CliOption::flag("dry", "dry-run", "Show what the upgrade would change, and change nothing.");

/// Every Python option: Weir runs WebAssembly components and refuses them.
pub const PYTHON_OPTIONS: [CliOption; 7] =
    [PYTHON, PY_FILES, PY_MODULE, PY_REQUIREMENTS, PY_ARCHIVES, PY_EXECUTABLE, PY_CLIENT_EXECUTABLE];

/// `GenericCLI`'s `-e,--executor` (deprecated).
pub const EXECUTOR: CliOption = CliOption::with_arg(
    "e",
    "executor",
    None,
    "DEPRECATED: Please use the -t option instead which is also available with the \"Application Mode\".\nThe name of \
     the executor to be used for executing the given job, which is equivalent to the \"execution.target\" config \
     option. The currently available executors are: \"remote\", \"local\", \"kubernetes-session\", \"yarn-per-job\", \
     \"yarn-session\".",
);
/// `GenericCLI`'s `-t,--target`.
pub const TARGET: CliOption = CliOption::with_arg(
    "t",
    "target",
    None,
    "The deployment target for the given application, which is equivalent to the \"execution.target\" config option. \
     For the \"run\" action the currently available targets are: \"remote\", \"local\", \"kubernetes-session\", \
     \"yarn-per-job\", \"yarn-session\". For the \"run-application\" action the currently available targets are: \
     \"kubernetes-application\".",
);
/// `-D <property=value>` (`GenericCLI` and `DefaultCLI`).
pub const DYNAMIC_PROPERTIES: CliOption = CliOption {
    short: "D",
    long: None,
    arity: Arity::Property { name: "property=value" },
    description: "Allows specifying multiple generic configuration options. The available options can be found at \
                  https://nightlies.apache.org/flink/flink-docs-stable/ops/config.html",
};
/// `-z,--zookeeperNamespace`.
pub const ZOOKEEPER_NAMESPACE: CliOption = CliOption::with_arg(
    "z",
    "zookeeperNamespace",
    None,
    "Namespace to create the Zookeeper sub-paths for high availability mode",
);
/// The YARN CLI's `-m,--jobmanager`.
pub const YARN_JOBMANAGER: CliOption =
    CliOption::with_arg("m", "jobmanager", None, "Set to yarn-cluster to use YARN execution mode.");
/// The YARN CLI's `-yid,--yarnapplicationId`.
pub const YARN_APPLICATION_ID: CliOption =
    CliOption::with_arg("yid", "yarnapplicationId", None, "Attach to running YARN session");
/// `DefaultCLI`'s `-m,--jobmanager`.
pub const JOBMANAGER: CliOption = CliOption::with_arg(
    "m",
    "jobmanager",
    None,
    "Address of the JobManager to which to connect. Use this flag to connect to a different JobManager than the one \
     specified in the configuration. Attention: This option is respected only if the high-availability configuration \
     is NONE.",
);

/// One of Flink's custom command lines, as its help shows it.
pub struct CustomCommandLine {
    /// Its id in `Options for <id> mode:`.
    pub id: &'static str,
    /// Its general options (none of them adds run options).
    pub options: Options,
}

/// The custom command lines in Flink's order: `GenericCLI`, the YARN CLI (the fallback one that
/// Flink loads when Hadoop is not on the classpath, as in the playground's image), `DefaultCLI`.
pub fn custom_command_lines() -> [CustomCommandLine; 3] {
    [
        CustomCommandLine {
            id: "Generic CLI",
            options: Options::new().with(EXECUTOR).with(TARGET).with(DYNAMIC_PROPERTIES),
        },
        CustomCommandLine {
            id: "yarn-cluster",
            options: Options::new().with(ZOOKEEPER_NAMESPACE).with(YARN_APPLICATION_ID).with(YARN_JOBMANAGER),
        },
        CustomCommandLine {
            id: "default",
            options: Options::new().with(ZOOKEEPER_NAMESPACE).with(JOBMANAGER).with(DYNAMIC_PROPERTIES),
        },
    ]
}

/// What every action also parses: the custom command lines' options.
fn with_custom_options(options: Options) -> Options {
    custom_command_lines().iter().fold(options, |acc, cli| acc.merge(&cli.options))
}

fn general() -> Options {
    Options::new().with(HELP).with(VERBOSE)
}

fn program_specific(options: Options) -> Options {
    let options = options
        .with(JAR)
        .with(CLASS)
        .with(CLASSPATH)
        .with(PARALLELISM)
        .with(ARGS)
        .with(DETACHED)
        .with(SHUTDOWN_ON_ATTACHED_EXIT)
        .with(YARN_DETACHED);
    PYTHON_OPTIONS.into_iter().fold(options, Options::with)
}

/// What `run` and `run-application` parse.
pub fn run() -> Options {
    with_custom_options(
        program_specific(general()).with(FROM_SAVEPOINT).with(ALLOW_NON_RESTORED_STATE).with(RESTORE_MODE),
    )
}

/// What Weir's `upgrade` parses.
pub fn upgrade() -> Options {
    with_custom_options(general().with(UPGRADE_OPERATORS).with(DRY_RUN).with(ALLOW_NON_RESTORED_STATE))
}

/// The options `upgrade`'s help lists.
pub fn upgrade_help() -> Options {
    Options::new().with(UPGRADE_OPERATORS).with(DRY_RUN).with(ALLOW_NON_RESTORED_STATE)
}

/// What `rescale` parses.
pub fn rescale() -> Options {
    with_custom_options(general().with(PARALLELISM).with(RESCALE_VERTICES))
}

/// The options `rescale`'s help lists.
pub fn rescale_help() -> Options {
    Options::new().with(PARALLELISM).with(RESCALE_VERTICES)
}

/// What `info` parses.
pub fn info() -> Options {
    with_custom_options(program_specific(general()))
}

/// What `list` parses.
pub fn list() -> Options {
    with_custom_options(general().with(ALL).with(RUNNING).with(SCHEDULED))
}

/// What `cancel` parses.
pub fn cancel() -> Options {
    with_custom_options(general().with(CANCEL_WITH_SAVEPOINT).with(SAVEPOINT_FORMAT))
}

/// What `stop` parses.
pub fn stop() -> Options {
    with_custom_options(general().with(STOP_SAVEPOINT_PATH).with(DRAIN).with(SAVEPOINT_FORMAT))
}

/// What `savepoint` parses.
pub fn savepoint() -> Options {
    with_custom_options(general().with(DISPOSE).with(JAR).with(SAVEPOINT_FORMAT))
}

/// The options `run`'s help lists (Flink leaves the deprecated ones out).
pub fn run_help() -> Options {
    let options =
        Options::new().with(CLASS).with(CLASSPATH).with(PARALLELISM).with(DETACHED).with(SHUTDOWN_ON_ATTACHED_EXIT);
    PYTHON_OPTIONS
        .into_iter()
        .fold(options, Options::with)
        .with(FROM_SAVEPOINT)
        .with(ALLOW_NON_RESTORED_STATE)
        .with(RESTORE_MODE)
}

/// The options `info`'s help lists.
pub fn info_help() -> Options {
    Options::new().with(CLASS).with(PARALLELISM)
}

/// The options `list`'s help lists.
pub fn list_help() -> Options {
    Options::new().with(RUNNING).with(ALL).with(SCHEDULED)
}

/// The options `stop`'s help lists.
pub fn stop_help() -> Options {
    Options::new().with(STOP_SAVEPOINT_PATH).with(DRAIN).with(SAVEPOINT_FORMAT)
}

/// The options `cancel`'s help lists.
pub fn cancel_help() -> Options {
    Options::new().with(CANCEL_WITH_SAVEPOINT)
}

/// The options `savepoint`'s help lists.
pub fn savepoint_help() -> Options {
    Options::new().with(DISPOSE).with(SAVEPOINT_FORMAT).with(JAR)
}
