//! The help texts of `flink -h` and `flink <action> -h`, laid out as Flink's `CliFrontendParser`
//! lays them out with Apache Commons CLI's `HelpFormatter` (width 80, left padding 5,
//! description padding 3, options sorted by name ignoring case, words wrapped the way
//! `renderWrappedText` wraps them), so the output matches Flink's line for line.

use std::fmt::Write as _;

use super::options::{self, custom_command_lines};
use super::parse::{CliOption, Options};

const WIDTH: usize = 80;
const LEFT_PAD: usize = 5;
const DESC_PAD: usize = 3;

/// The whole help: `flink -h`, and what `flink` without an action prints first.
pub fn full(program_name: &str) -> String {
    let mut out = format!("./{program_name} <ACTION> [OPTIONS] [ARGUMENTS]\n\nThe following actions are available:\n");
    out.push_str(&run());
    out.push_str(&run_application());
    out.push_str(&info());
    out.push_str(&list());
    out.push_str(&stop());
    out.push_str(&cancel());
    out.push_str(&savepoint());
    out.push('\n');
    out
}

/// `flink run -h`.
pub fn run() -> String {
    action(
        "Action \"run\" compiles and runs a program.",
        "run [OPTIONS] <jar-file> <arguments>",
        Some(("  \"run\" action options:", options::run_help())),
        CustomOptions::All,
    )
}

/// `flink run-application -h`: only `GenericCLI` works with application mode, so Flink lists
/// only its options (and no action options).
pub fn run_application() -> String {
    action(
        "Action \"run-application\" runs an application in Application Mode.",
        "run-application [OPTIONS] <jar-file> <arguments>",
        None,
        CustomOptions::GenericOnly,
    )
}

/// `weir upgrade -h` (Weir's own action, laid out as Flink's are).
pub fn upgrade() -> String {
    action(
        "Action \"upgrade\" replaces a running job's code at a checkpoint barrier, keeping its state (Weir).",
        "upgrade [OPTIONS] <Job ID> <component file or jar id> [<arguments>]",
        Some(("  \"upgrade\" action options:", options::upgrade_help())),
        CustomOptions::All,
    )
}

/// `weir rescale -h` (Weir's own action).
pub fn rescale() -> String {
    action(
        "Action \"rescale\" changes a running job's parallelism (PUT /jobs/:jobid/resource-requirements), keeping its state (Weir).",
        "rescale [OPTIONS] <Job ID>",
        Some(("  \"rescale\" action options:", options::rescale_help())),
        CustomOptions::All,
    )
}

/// `flink info -h`.
pub fn info() -> String {
    action(
        "Action \"info\" shows the optimized execution plan of the program (JSON).",
        "info [OPTIONS] <jar-file> <arguments>",
        Some(("  \"info\" action options:", options::info_help())),
        CustomOptions::None,
    )
}

/// `flink list -h`.
pub fn list() -> String {
    action(
        "Action \"list\" lists running and scheduled programs.",
        "list [OPTIONS]",
        Some(("  \"list\" action options:", options::list_help())),
        CustomOptions::All,
    )
}

/// `flink stop -h`.
pub fn stop() -> String {
    action(
        "Action \"stop\" stops a running program with a savepoint (streaming jobs only).",
        "stop [OPTIONS] <Job ID>",
        Some(("  \"stop\" action options:", options::stop_help())),
        CustomOptions::All,
    )
}

/// `flink cancel -h`.
pub fn cancel() -> String {
    action(
        "Action \"cancel\" cancels a running program.",
        "cancel [OPTIONS] <Job ID>",
        Some(("  \"cancel\" action options:", options::cancel_help())),
        CustomOptions::All,
    )
}

/// `flink savepoint -h`.
pub fn savepoint() -> String {
    action(
        "Action \"savepoint\" triggers savepoints for a running job or disposes existing ones.",
        "savepoint [OPTIONS] <Job ID> [<target directory>]",
        Some(("  \"savepoint\" action options:", options::savepoint_help())),
        CustomOptions::All,
    )
}

/// Which custom command lines' options an action's help shows.
enum CustomOptions {
    All,
    GenericOnly,
    None,
}

/// One action's block, as `CliFrontendParser.printHelpFor<Action>` prints it.
fn action(header: &str, syntax: &str, own: Option<(&str, Options)>, custom: CustomOptions) -> String {
    let mut out = format!("\n{header}\n\n  Syntax: {syntax}\n");
    if let Some((prefix, options)) = own {
        out.push_str(&print_help(prefix, &options));
    }
    let clis = custom_command_lines();
    let shown = match custom {
        CustomOptions::All => &clis[..],
        CustomOptions::GenericOnly => &clis[..1],
        CustomOptions::None => &clis[..0],
    };
    for cli in shown {
        out.push_str(&print_help(&format!("  Options for {} mode:", cli.id), &cli.options));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// `HelpFormatter.printHelp(" ", options)` with `syntax_prefix`: the prefix line, then the
/// options.
fn print_help(syntax_prefix: &str, options: &Options) -> String {
    let mut out = String::new();
    // printUsage: the prefix followed by the command-line syntax " ", wrapped (and so trimmed).
    let usage = format!("{syntax_prefix} ");
    out.push_str(&render_wrapped_text(WIDTH, syntax_prefix.len() + 1, &usage));
    out.push('\n');
    out.push_str(&render_options(options));
    out.push('\n');
    out
}

/// `HelpFormatter.renderOptions`: one entry per option, descriptions aligned after the longest
/// option column.
fn render_options(options: &Options) -> String {
    let mut sorted: Vec<&CliOption> = options.iter().collect();
    // Commons CLI sorts by key ignoring case; the sort is stable, so `-c` stays before `-C`.
    sorted.sort_by_key(|o| o.short.to_lowercase());
    let prefixes: Vec<String> = sorted.iter().map(|o| option_column(o)).collect();
    let max = prefixes.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    for (i, (option, prefix)) in sorted.iter().zip(&prefixes).enumerate() {
        let mut line = format!("{prefix:<max$}{}", " ".repeat(DESC_PAD));
        line.push_str(option.description);
        out.push_str(&render_wrapped_text(WIDTH, max + DESC_PAD, &line));
        if i + 1 < sorted.len() {
            out.push('\n');
        }
    }
    out
}

/// `     -p,--parallelism <parallelism>`.
fn option_column(option: &CliOption) -> String {
    let mut column = format!("{}-{}", " ".repeat(LEFT_PAD), option.short);
    if let Some(long) = option.long {
        let _ = write!(column, ",--{long}");
    }
    if option.has_arg() {
        let _ = write!(column, " <{}>", option.arg_name());
    }
    column
}

/// `HelpFormatter.renderWrappedText`: wraps `text` at `width`, indenting continuation lines by
/// `next_line_tab_stop`; a word longer than a line is cut at the width.
fn render_wrapped_text(width: usize, next_line_tab_stop: usize, text: &str) -> String {
    let mut text: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let Some(mut pos) = find_wrap_pos(&text, width) else {
        out.push_str(rtrim(&text).as_str());
        return out;
    };
    out.push_str(&rtrim(&text[..pos]));
    out.push('\n');
    // Commons CLI's guard against an endless loop when the tab stop leaves no room.
    let tab_stop = if next_line_tab_stop >= width { 1 } else { next_line_tab_stop };
    let padding: Vec<char> = " ".repeat(tab_stop).chars().collect();
    loop {
        let rest: String = text[pos..].iter().collect();
        text = padding.iter().copied().chain(rest.trim().chars()).collect();
        match find_wrap_pos(&text, width) {
            None => {
                out.extend(text.iter());
                return out;
            }
            Some(found) => {
                pos = if text.len() > width && found == tab_stop - 1 { width } else { found };
                out.push_str(&rtrim(&text[..pos]));
                out.push('\n');
            }
        }
    }
}

/// `HelpFormatter.findWrapPos` from position 0: where to break `text` for `width`, or `None`
/// when it fits.
fn find_wrap_pos(text: &[char], width: usize) -> Option<usize> {
    for marker in ['\n', '\t'] {
        if let Some(pos) = text.iter().position(|&c| c == marker)
            && pos <= width
        {
            return Some(pos + 1);
        }
    }
    if width >= text.len() {
        return None;
    }
    if let Some(pos) = (0..=width).rev().find(|&i| matches!(text[i], ' ' | '\n' | '\r'))
        && pos > 0
    {
        return Some(pos);
    }
    // No space to break at: cut the word.
    (width != text.len()).then_some(width)
}

fn rtrim(text: &[char]) -> String {
    let end = text.iter().rposition(|c| !c.is_whitespace()).map_or(0, |i| i + 1);
    text[..end].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_like_flinks_and_lists_the_actions_in_order() {
        let help = full("flink");
        let lines: Vec<&str> = help.lines().collect();
        assert_eq!(
            lines[..5],
            [
                "./flink <ACTION> [OPTIONS] [ARGUMENTS]",
                "",
                "The following actions are available:",
                "",
                "Action \"run\" compiles and runs a program."
            ]
        );
        let headers: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("Action \"")).collect();
        assert_eq!(
            headers,
            [
                "Action \"run\" compiles and runs a program.",
                "Action \"run-application\" runs an application in Application Mode.",
                "Action \"info\" shows the optimized execution plan of the program (JSON).",
                "Action \"list\" lists running and scheduled programs.",
                "Action \"stop\" stops a running program with a savepoint (streaming jobs only).",
                "Action \"cancel\" cancels a running program.",
                "Action \"savepoint\" triggers savepoints for a running job or disposes existing ones.",
            ]
        );
        let syntax: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("  Syntax: ")).collect();
        assert_eq!(
            syntax,
            [
                "  Syntax: run [OPTIONS] <jar-file> <arguments>",
                "  Syntax: run-application [OPTIONS] <jar-file> <arguments>",
                "  Syntax: info [OPTIONS] <jar-file> <arguments>",
                "  Syntax: list [OPTIONS]",
                "  Syntax: stop [OPTIONS] <Job ID>",
                "  Syntax: cancel [OPTIONS] <Job ID>",
                "  Syntax: savepoint [OPTIONS] <Job ID> [<target directory>]",
            ]
        );
        // Only the options are wrapped; Flink prints the savepoint header (84 columns) as it is.
        assert!(lines.iter().filter(|l| l.starts_with("   ")).all(|l| l.chars().count() <= WIDTH));
        assert!(help.ends_with("\n\n\n"));
        assert!(full("weir").starts_with("./weir <ACTION> [OPTIONS] [ARGUMENTS]\n"));
    }

    #[test]
    fn run_options_are_sorted_and_wrapped_like_commons_cli() {
        let help = run();
        let lines: Vec<&str> = help.lines().collect();
        assert_eq!(
            lines[..5],
            [
                "",
                "Action \"run\" compiles and runs a program.",
                "",
                "  Syntax: run [OPTIONS] <jar-file> <arguments>",
                "  \"run\" action options:"
            ]
        );
        let keys: Vec<&str> = lines
            .iter()
            .take_while(|l| !l.starts_with("  Options for"))
            .filter_map(|l| l.strip_prefix("     -"))
            .map(|l| l.split([',', ' ']).next().unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            [
                "c",
                "C",
                "d",
                "n",
                "p",
                "py",
                "pyarch",
                "pyclientexec",
                "pyexec",
                "pyfs",
                "pym",
                "pyreq",
                "rm",
                "s",
                "sae"
            ]
        );
        // The description column follows the widest option, `-pyclientexec,--pyClientExecutable <arg>`.
        assert_eq!(lines[5], "     -c,--class <classname>                     Class with the program entry");
        assert!(help.contains(
            "  Options for default mode:\n     -D <property=value>             Allows specifying multiple generic\n                                     configuration options. The available\n                                     options can be found at\n                                     https://nightlies.apache.org/flink/flink-do\n                                     cs-stable/ops/config.html\n     -m,--jobmanager <arg>           Address of the JobManager to which to\n"
        ));
        assert!(help.contains(
            "  Options for yarn-cluster mode:\n     -m,--jobmanager <arg>            Set to yarn-cluster to use YARN execution\n                                      mode.\n     -yid,--yarnapplicationId <arg>   Attach to running YARN session\n     -z,--zookeeperNamespace <arg>    Namespace to create the Zookeeper\n                                      sub-paths for high availability mode\n\n"
        ));
        assert!(help.contains(
            "     -e,--executor <arg>   DEPRECATED: Please use the -t option instead which is\n                           also available with the \"Application Mode\".\n                           The name of the executor to be used for executing the\n"
        ));
        assert!(help.contains("                           https://nightlies.apache.org/flink/flink-docs-stable/\n                           ops/config.html\n"));
    }

    #[test]
    fn action_helps() {
        let list = list();
        assert!(list.starts_with(
            "\nAction \"list\" lists running and scheduled programs.\n\n  Syntax: list [OPTIONS]\n  \"list\" action options:\n     -a,--all         Show all programs and their JobIDs\n     -r,--running     Show only running programs and their JobIDs\n     -s,--scheduled   Show only scheduled programs and their JobIDs\n  Options for Generic CLI mode:\n"
        ));
        assert!(list.ends_with("                                     for high availability mode\n\n\n"));
        assert!(info().ends_with("configuration.\n\n"));
        assert!(!info().contains("Options for"));
        let app = run_application();
        assert!(
            app.contains(
                "  Syntax: run-application [OPTIONS] <jar-file> <arguments>\n  Options for Generic CLI mode:\n"
            )
        );
        assert!(!app.contains("yarn-cluster") && !app.contains("action options"));
        let cancel = cancel();
        assert!(cancel.contains(
            "     -s,--withSavepoint <targetDirectory>   **DEPRECATION WARNING**: Cancelling\n                                            a job with savepoint is deprecated.\n                                            Use \"stop\" instead.\n                                            Trigger savepoint and cancel job.\n"
        ));
        assert!(stop().contains(
            "     -d,--drain                           Send MAX_WATERMARK before taking the\n                                          savepoint and stopping the pipelne.\n"
        ));
    }

    #[test]
    fn wrapping_matches_commons_cli() {
        assert_eq!(render_wrapped_text(20, 4, "aaaa bbbb cccc dddd eeee"), "aaaa bbbb cccc dddd\n    eeee");
        assert_eq!(render_wrapped_text(10, 2, "abcdefghijklmnop"), "abcdefghij\n  klmnop");
        assert_eq!(render_wrapped_text(30, 2, "first\nsecond"), "first\n  second");
    }
}
