//! Command-line parsing as Apache Commons CLI's `DefaultParser` does it, which Flink's
//! `CliFrontendParser` uses: short (`-p 2`, `-p2`, `-p=2`), long (`--parallelism 2`,
//! `--parallelism=2`, unambiguous prefixes such as `--paral`), Java properties (`-Dkey=value`),
//! optional arguments (`stop -p [dir]`), concatenated flags (`-dn`) and `--`.
//!
//! Users' scripts depend on the corner cases (an optional argument swallowing the next word,
//! parsing stopping at the jar file), so the algorithm follows `DefaultParser` step by step
//! rather than a generic argument parser.

use std::collections::BTreeMap;

/// How many values an option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// A flag.
    Flag,
    /// Exactly one value; `name` is shown in help as `<name>` (Commons CLI's default: `arg`).
    One {
        /// The value's name in help; `None` shows `<arg>`.
        name: Option<&'static str>,
    },
    /// One value that may be left out (Commons CLI's `optionalArg`).
    Optional {
        /// The value's name in help.
        name: &'static str,
    },
    /// Every following word that is not an option (Flink's deprecated `-a`).
    Unlimited {
        /// The values' name in help.
        name: &'static str,
    },
    /// `key=value` pairs (Flink's `-D`): two values split at `=`.
    Property {
        /// The pairs' name in help (Flink's `property=value`).
        name: &'static str,
    },
}

/// One option, as Commons CLI's `Option`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliOption {
    /// The short name, without the `-` (Flink has multi-letter short names such as `sae`).
    pub short: &'static str,
    /// The long name, without the `--`.
    pub long: Option<&'static str>,
    /// The values it takes.
    pub arity: Arity,
    /// The help text.
    pub description: &'static str,
}

impl CliOption {
    /// A flag.
    pub const fn flag(short: &'static str, long: &'static str, description: &'static str) -> Self {
        CliOption { short, long: Some(long), arity: Arity::Flag, description }
    }

    /// An option with one value shown as `<name>` (`None`: `<arg>`).
    pub const fn with_arg(
        short: &'static str,
        long: &'static str,
        name: Option<&'static str>,
        description: &'static str,
    ) -> Self {
        CliOption { short, long: Some(long), arity: Arity::One { name }, description }
    }

    /// Whether it takes values at all (Commons CLI's `hasArg`).
    pub fn has_arg(&self) -> bool {
        self.arity != Arity::Flag
    }

    /// The name shown for its value in help.
    pub fn arg_name(&self) -> &'static str {
        match self.arity {
            Arity::Flag | Arity::One { name: None } => "arg",
            Arity::One { name: Some(name) }
            | Arity::Optional { name }
            | Arity::Unlimited { name }
            | Arity::Property { name } => name,
        }
    }

    /// Whether it can take `-Dkey=value` style values glued to its name.
    fn is_property(&self) -> bool {
        matches!(self.arity, Arity::Property { .. } | Arity::Unlimited { .. })
    }
}

/// A set of options, in the order they were added; adding an option with a name already present
/// replaces it in place, as Commons CLI's `Options` (a linked hash map) does.
#[derive(Clone, Debug, Default)]
pub struct Options {
    list: Vec<CliOption>,
}

impl Options {
    /// An empty set.
    pub fn new() -> Self {
        Options::default()
    }

    /// Adds (or replaces) `option`.
    pub fn with(mut self, option: CliOption) -> Self {
        match self.list.iter_mut().find(|o| o.short == option.short) {
            Some(existing) => *existing = option,
            None => self.list.push(option),
        }
        self
    }

    /// Adds every option of `other`.
    pub fn merge(self, other: &Options) -> Self {
        other.list.iter().cloned().fold(self, Options::with)
    }

    /// The options in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &CliOption> {
        self.list.iter()
    }

    fn short(&self, name: &str) -> Option<&CliOption> {
        self.list.iter().find(|o| o.short == name)
    }

    fn long(&self, name: &str) -> Option<&CliOption> {
        self.list.iter().find(|o| o.long == Some(name))
    }

    /// Commons CLI's `getOption`: a short name first, then a long one.
    fn get(&self, name: &str) -> Option<&CliOption> {
        let name = strip_hyphens(name);
        self.short(name).or_else(|| self.long(name))
    }

    /// Commons CLI's `getMatchingOptions`: the long names `name` is a prefix of, or just `name`
    /// when it is a long name itself.
    fn matching(&self, name: &str) -> Vec<&'static str> {
        let name = strip_hyphens(name);
        if self.long(name).is_some() {
            return self.long(name).and_then(|o| o.long).into_iter().collect();
        }
        self.list.iter().filter_map(|o| o.long).filter(|long| long.starts_with(name)).collect()
    }
}

fn strip_hyphens(token: &str) -> &str {
    token.strip_prefix("--").or_else(|| token.strip_prefix('-')).unwrap_or(token)
}

/// Why the words could not be parsed; the texts are Commons CLI's exception messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// An option the action does not know.
    #[error("Unrecognized option: {0}")]
    Unrecognized(String),
    /// An option that needs a value got none.
    #[error("Missing argument for option: {0}")]
    MissingArgument(&'static str),
    /// A long-option prefix that fits several options.
    #[error("Ambiguous option: '{token}'  (could be: {})", quoted(.candidates))]
    Ambiguous {
        /// The word as given.
        token: String,
        /// The long names it is a prefix of.
        candidates: Vec<&'static str>,
    },
}

fn quoted(candidates: &[&str]) -> String {
    candidates.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ")
}

/// The parsed words: options with their values, and the remaining arguments.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CommandLine {
    options: Vec<(CliOption, Vec<String>)>,
    args: Vec<String>,
}

impl CommandLine {
    /// Whether the option with short name `short` was given.
    pub fn has(&self, short: &str) -> bool {
        self.options.iter().any(|(o, _)| o.short == short)
    }

    /// The first value of the option with short name `short`.
    pub fn value(&self, short: &str) -> Option<&str> {
        self.values(short).first().copied()
    }

    /// Every value of every occurrence of the option with short name `short`.
    pub fn values(&self, short: &str) -> Vec<&str> {
        self.options.iter().filter(|(o, _)| o.short == short).flat_map(|(_, v)| v.iter().map(String::as_str)).collect()
    }

    /// Commons CLI's `getOptionProperties`: `key=value` pairs; a key alone means `true`.
    pub fn properties(&self, short: &str) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        for (_, values) in self.options.iter().filter(|(o, _)| o.short == short) {
            match values.as_slice() {
                [key, value, ..] => map.insert(key.clone(), value.clone()),
                [key] => map.insert(key.clone(), "true".to_string()),
                [] => None,
            };
        }
        map
    }

    /// The words that are not options or their values.
    pub fn args(&self) -> &[String] {
        &self.args
    }
}

/// Parses `words` with `options`. With `stop_at_non_option` (Flink's `run` and `info`), the
/// first word that is not a known option and everything after it are arguments, so the
/// program's own arguments after the jar file are passed on untouched.
pub fn parse(options: &Options, words: &[String], stop_at_non_option: bool) -> Result<CommandLine, ParseError> {
    let mut parser =
        Parser { options, stop_at_non_option, skip_parsing: false, current: None, cmd: CommandLine::default() };
    for word in words {
        parser.handle_token(word)?;
    }
    parser.check_required_args()?;
    Ok(parser.cmd)
}

struct Parser<'a> {
    options: &'a Options,
    stop_at_non_option: bool,
    skip_parsing: bool,
    /// Index in `cmd.options` of the option still taking values.
    current: Option<usize>,
    cmd: CommandLine,
}

impl Parser<'_> {
    fn handle_token(&mut self, token: &str) -> Result<(), ParseError> {
        if self.skip_parsing {
            self.cmd.args.push(token.to_string());
        } else if token == "--" {
            self.skip_parsing = true;
        } else if self.current_accepts_arg() && self.is_argument(token) {
            self.add_value(strip_quotes(token));
        } else if token.starts_with("--") {
            self.handle_long_option(token)?;
        } else if token.starts_with('-') && token != "-" {
            self.handle_short_and_long_option(token)?;
        } else {
            self.handle_unknown_token(token)?;
        }
        if !self.current_accepts_arg() {
            self.current = None;
        }
        Ok(())
    }

    fn current_accepts_arg(&self) -> bool {
        self.current.is_some_and(|i| accepts_arg(&self.cmd.options[i]))
    }

    fn check_required_args(&self) -> Result<(), ParseError> {
        match self.current {
            Some(i) if requires_arg(&self.cmd.options[i]) => {
                Err(ParseError::MissingArgument(self.cmd.options[i].0.short))
            }
            _ => Ok(()),
        }
    }

    fn is_argument(&self, token: &str) -> bool {
        !self.is_option(token) || token.parse::<f64>().is_ok()
    }

    fn is_option(&self, token: &str) -> bool {
        self.is_long_option(token) || self.is_short_option(token)
    }

    fn is_short_option(&self, token: &str) -> bool {
        if !token.starts_with('-') || token.len() == 1 {
            return false;
        }
        let name = token[1..].split('=').next().unwrap_or_default();
        if self.options.short(name).is_some() {
            return true;
        }
        name.chars().next().is_some_and(|c| self.options.short(&c.to_string()).is_some())
    }

    fn is_long_option(&self, token: &str) -> bool {
        if !token.starts_with('-') || token.len() == 1 {
            return false;
        }
        let name = token.split('=').next().unwrap_or_default();
        !self.options.matching(name).is_empty() || (self.long_prefix(token).is_some() && !token.starts_with("--"))
    }

    /// Commons CLI's `getLongPrefix`: the longest long option `token` starts with (`-Xmx512m`).
    fn long_prefix(&self, token: &str) -> Option<&'static str> {
        let t = strip_hyphens(token);
        (2..t.len().saturating_sub(1))
            .rev()
            .find_map(|i| t.get(..i).and_then(|p| self.options.long(p)).and_then(|o| o.long))
    }

    fn handle_option(&mut self, option: &CliOption) -> Result<(), ParseError> {
        self.check_required_args()?;
        self.cmd.options.push((option.clone(), Vec::new()));
        self.current = option.has_arg().then_some(self.cmd.options.len() - 1);
        Ok(())
    }

    /// Adds `value` to the current option, splitting `key=value` for properties.
    fn add_value(&mut self, value: &str) {
        let Some(i) = self.current else { return };
        let (option, values) = &mut self.cmd.options[i];
        match option.arity {
            Arity::Property { .. } if values.is_empty() => match value.split_once('=') {
                Some((key, rest)) => {
                    values.push(key.to_string());
                    values.push(rest.to_string());
                }
                None => values.push(value.to_string()),
            },
            _ => values.push(value.to_string()),
        }
    }

    /// Adds `value` to the option just handled and closes it (`-p=2`, `--parallelism=2`).
    fn add_final_value(&mut self, value: &str) {
        self.add_value(value);
        self.current = None;
    }

    fn handle_unknown_token(&mut self, token: &str) -> Result<(), ParseError> {
        if token.starts_with('-') && token.len() > 1 && !self.stop_at_non_option {
            return Err(ParseError::Unrecognized(token.to_string()));
        }
        self.cmd.args.push(token.to_string());
        if self.stop_at_non_option {
            self.skip_parsing = true;
        }
        Ok(())
    }

    fn handle_long_option(&mut self, token: &str) -> Result<(), ParseError> {
        if token.contains('=') {
            self.handle_long_option_with_equal(token)
        } else {
            self.handle_long_option_without_equal(token)
        }
    }

    /// The option a long name or unambiguous prefix names.
    fn resolve_long(&self, name: &str) -> Result<Option<CliOption>, ParseError> {
        let matching = self.options.matching(name);
        match matching.as_slice() {
            [] => Ok(None),
            [one] => Ok(self.options.long(one).cloned()),
            _ => Err(ParseError::Ambiguous { token: name.to_string(), candidates: matching }),
        }
    }

    fn handle_long_option_without_equal(&mut self, token: &str) -> Result<(), ParseError> {
        match self.resolve_long(token)? {
            Some(option) => self.handle_option(&option),
            None => self.handle_unknown_token(token),
        }
    }

    fn handle_long_option_with_equal(&mut self, token: &str) -> Result<(), ParseError> {
        let Some((name, value)) = token.split_once('=') else { return self.handle_long_option_without_equal(token) };
        match self.resolve_long(name)? {
            Some(option) if option.has_arg() => {
                self.handle_option(&option)?;
                self.add_final_value(value);
                Ok(())
            }
            _ => self.handle_unknown_token(token),
        }
    }

    fn handle_short_and_long_option(&mut self, token: &str) -> Result<(), ParseError> {
        let t = strip_hyphens(token);
        if t.chars().count() == 1 {
            // -S
            return match self.options.short(t).cloned() {
                Some(option) => self.handle_option(&option),
                None => self.handle_unknown_token(token),
            };
        }
        match t.split_once('=') {
            None => {
                if let Some(option) = self.options.short(t).cloned() {
                    self.handle_option(&option)
                } else if !self.options.matching(t).is_empty() {
                    self.handle_long_option_without_equal(token)
                } else if let Some(option) =
                    self.long_prefix(t).and_then(|p| self.options.long(p)).filter(|o| o.has_arg()).cloned()
                {
                    // -Xmx512m: a long option with its value glued on.
                    let value = t.get(option.long.map_or(0, str::len)..).unwrap_or_default().to_string();
                    self.handle_option(&option)?;
                    self.add_final_value(&value);
                    Ok(())
                } else if let Some(option) = self.java_property(t) {
                    // -Dflag
                    self.handle_option(&option)?;
                    self.add_final_value(&t[1..]);
                    Ok(())
                } else {
                    self.handle_concatenated_options(token)
                }
            }
            Some((name, value)) => {
                if name.chars().count() == 1 {
                    // -S=V
                    match self.options.short(name).cloned().filter(CliOption::has_arg) {
                        Some(option) => {
                            self.handle_option(&option)?;
                            self.add_final_value(value);
                            Ok(())
                        }
                        None => self.handle_unknown_token(token),
                    }
                } else if let Some(option) = self.java_property(name) {
                    // -Dkey=value
                    self.handle_option(&option)?;
                    if let Some(i) = self.current {
                        let values = &mut self.cmd.options[i].1;
                        values.push(name[1..].to_string());
                        values.push(value.to_string());
                    }
                    self.current = None;
                    Ok(())
                } else {
                    self.handle_long_option_with_equal(token)
                }
            }
        }
    }

    /// Commons CLI's `isJavaProperty`: the first letter names an option taking several values.
    fn java_property(&self, token: &str) -> Option<CliOption> {
        let first = token.chars().next()?;
        self.options.short(&first.to_string()).filter(|o| o.is_property()).cloned()
    }

    fn handle_concatenated_options(&mut self, token: &str) -> Result<(), ParseError> {
        for (i, c) in token.char_indices().skip(1) {
            let name = c.to_string();
            let Some(option) = self.options.get(&name).cloned() else {
                let rest = if self.stop_at_non_option && i > 1 { &token[i..] } else { token };
                return self.handle_unknown_token(rest);
            };
            self.handle_option(&option)?;
            let next = i + c.len_utf8();
            if self.current.is_some() && next < token.len() {
                // -p2: the rest of the word is the value.
                self.add_final_value(&token[next..]);
                break;
            }
        }
        Ok(())
    }
}

fn accepts_arg((option, values): &(CliOption, Vec<String>)) -> bool {
    match option.arity {
        Arity::Flag => false,
        Arity::One { .. } | Arity::Optional { .. } => values.is_empty(),
        Arity::Unlimited { .. } => true,
        Arity::Property { .. } => values.len() < 2,
    }
}

fn requires_arg(entry: &(CliOption, Vec<String>)) -> bool {
    match entry.0.arity {
        Arity::Optional { .. } => false,
        Arity::Unlimited { .. } => entry.1.is_empty(),
        _ => accepts_arg(entry),
    }
}

/// Commons CLI strips one pair of surrounding double quotes from option values.
fn strip_quotes(token: &str) -> &str {
    match token.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if !inner.contains('"') => inner,
        _ => token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options::new()
            .with(CliOption::flag("d", "detached", ""))
            .with(CliOption::flag("n", "allowNonRestoredState", ""))
            .with(CliOption::with_arg("p", "parallelism", Some("parallelism"), ""))
            .with(CliOption::with_arg("s", "fromSavepoint", Some("savepointPath"), ""))
            .with(CliOption::flag("sae", "shutdownOnAttachedExit", ""))
            .with(CliOption {
                short: "D",
                long: None,
                arity: Arity::Property { name: "property=value" },
                description: "",
            })
            .with(CliOption {
                short: "a",
                long: Some("arguments"),
                arity: Arity::Unlimited { name: "programArgs" },
                description: "",
            })
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn short_long_glued_and_equal_forms() {
        for form in ["-p 3", "-p3", "-p=3", "--parallelism 3", "--parallelism=3", "--paral 3"] {
            let cmd = parse(&opts(), &words(form), true).unwrap();
            assert_eq!(cmd.value("p"), Some("3"), "{form}");
        }
        let cmd = parse(&opts(), &words("-dn -sae job.wasm"), true).unwrap();
        assert!(cmd.has("d") && cmd.has("n") && cmd.has("sae"));
        assert_eq!(cmd.args(), ["job.wasm"]);
    }

    #[test]
    fn stops_at_the_first_non_option() {
        let cmd = parse(&opts(), &words("-d job.wasm --bootstrap.servers kafka:9092 -p 4 --event-time"), true).unwrap();
        assert!(cmd.has("d") && !cmd.has("p"));
        assert_eq!(cmd.args(), words("job.wasm --bootstrap.servers kafka:9092 -p 4 --event-time"));
        // An unknown option also ends parsing when stopping at non-options, as in Commons CLI.
        let cmd = parse(&opts(), &words("-x job.wasm -d"), true).unwrap();
        assert_eq!(cmd.args(), words("-x job.wasm -d"));
        // Without stopping, options after arguments still count and unknown ones are errors.
        let cmd = parse(&opts(), &words("abc -d"), false).unwrap();
        assert!(cmd.has("d"));
        assert_eq!(cmd.args(), ["abc"]);
        assert_eq!(parse(&opts(), &words("-x"), false).unwrap_err().to_string(), "Unrecognized option: -x");
        let cmd = parse(&opts(), &words("-- -d"), false).unwrap();
        assert_eq!(cmd.args(), ["-d"]);
    }

    #[test]
    fn missing_and_ambiguous() {
        assert_eq!(parse(&opts(), &words("-p"), true).unwrap_err().to_string(), "Missing argument for option: p");
        assert_eq!(parse(&opts(), &words("-p -d"), true).unwrap_err().to_string(), "Missing argument for option: p");
        let options = opts().with(CliOption::flag("x", "parade", ""));
        assert_eq!(
            parse(&options, &words("--para"), false).unwrap_err().to_string(),
            "Ambiguous option: '--para'  (could be: 'parallelism', 'parade')"
        );
        // A negative number is a value, not an option.
        assert_eq!(parse(&opts(), &words("-p -1"), true).unwrap().value("p"), Some("-1"));
    }

    #[test]
    fn optional_argument_takes_the_next_word() {
        let options = Options::new()
            .with(CliOption {
                short: "p",
                long: Some("savepointPath"),
                arity: Arity::Optional { name: "savepointPath" },
                description: "",
            })
            .with(CliOption::flag("d", "drain", ""));
        let cmd = parse(&options, &words("-p abc"), false).unwrap();
        assert_eq!((cmd.value("p"), cmd.args().len()), (Some("abc"), 0));
        let cmd = parse(&options, &words("-p -d abc"), false).unwrap();
        assert_eq!((cmd.has("p"), cmd.value("p"), cmd.args()), (true, None, &words("abc")[..]));
        let cmd = parse(&options, &words("-p"), false).unwrap();
        assert!(cmd.has("p"));
    }

    #[test]
    fn properties_and_unlimited() {
        let cmd = parse(&opts(), &words("-Drest.port=9000 -D rest.address=jm -Dflag -Da=b=c"), false).unwrap();
        let props = cmd.properties("D");
        assert_eq!(props.get("rest.port").map(String::as_str), Some("9000"));
        assert_eq!(props.get("rest.address").map(String::as_str), Some("jm"));
        assert_eq!(props.get("flag").map(String::as_str), Some("true"));
        assert_eq!(props.get("a").map(String::as_str), Some("b=c"));
        let cmd = parse(&opts(), &words("-a x y -d"), true).unwrap();
        assert_eq!(cmd.values("a"), ["x", "y"]);
        assert!(cmd.has("d"));
        assert_eq!(parse(&opts(), &["-s".into(), "\"/tmp/sp\"".into()], true).unwrap().value("s"), Some("/tmp/sp"));
    }
}

/// Fuzzing on stable Rust: arbitrary word lists into every action's options
/// (`PROPTEST_CASES=<n>` for more cases).
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::error::CliError;
    use crate::options;

    /// `default` cases per property, or as many as `PROPTEST_CASES` asks for.
    fn cases(default: u32) -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default);
        ProptestConfig { cases, ..ProptestConfig::default() }
    }

    /// Every action's options, as `flink` parses them, with whether parsing stops at the
    /// first non-option.
    fn actions() -> Vec<(Options, bool)> {
        vec![
            (options::run(), true),
            (options::upgrade(), true),
            (options::info(), true),
            (options::list(), false),
            (options::cancel(), false),
            (options::stop(), false),
            (options::savepoint(), false),
            (options::run_help(), true),
            (options::savepoint_help(), false),
        ]
    }

    /// A word: an option of Flink's (short, long, glued, with `=`), a property, a value, or
    /// arbitrary text, odd unicode included.
    fn word() -> impl Strategy<Value = String> {
        let known = proptest::sample::select(vec![
            "-D",
            "-Dk=v",
            "-Drest.port=8081",
            "-D=",
            "-Dk",
            "-m",
            "-mlocalhost:8081",
            "-m=",
            "--jobmanager",
            "--jobmanager=host:1",
            "-p",
            "-p2",
            "-p=2",
            "--parallelism",
            "--parallelism=",
            "--paral",
            "--p",
            "-d",
            "-dn",
            "-sae",
            "-s",
            "--",
            "-",
            "--=",
            "-=",
            "=",
            "\"",
            "\"x\"",
            "\"\"",
            "-2",
            "1e9",
            "-Xmx512m",
            "-a",
            "--target",
            "-t",
            "-py",
            "-C",
            "-type",
            "-yid",
            "job.wasm",
            "-\u{e9}",
            "--\u{1F600}",
            "-D\u{0}=\u{0}",
        ])
        .prop_map(String::from);
        prop_oneof![
            4 => known,
            2 => "-{0,2}[DmpsdnaeyXt=\"\u{e9}\u{1F600}\u{0}\u{200B}.:]{0,6}",
            1 => any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(cases(256))]

        /// Any word list, for any action: a command line or a usage error, never a panic, and
        /// what parsed can be read back whole.
        #[test]
        fn fuzz_cli_words_parse_or_are_refused(
            action in 0usize..9,
            words in proptest::collection::vec(word(), 0..8),
        ) {
            let (options, stop_at_non_option) = &actions()[action];
            match parse(options, &words, *stop_at_non_option) {
                Ok(cmd) => {
                    for option in options.iter() {
                        cmd.has(option.short);
                        cmd.value(option.short);
                        cmd.values(option.short);
                        cmd.properties(option.short);
                    }
                    prop_assert!(cmd.args().len() <= words.len());
                }
                Err(error) => {
                    let message = error.to_string();
                    prop_assert!(matches!(CliError::from(error), CliError::Args(m) if m == message));
                }
            }
        }
    }
}
