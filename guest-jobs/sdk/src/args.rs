//! Program arguments in Flink's `ParameterTool` style: `--key value` and `--flag`.
//!
//! Unlike `ParameterTool`, arguments a job does not read are an error: [`Args::finish`] names
//! the first unknown one, so a typo does not silently change what runs.

use std::str::FromStr;

/// Parsed program arguments. Read what the job knows, then call [`Args::finish`].
#[derive(Debug)]
pub struct Args {
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    name: String,
    value: Option<String>,
    used: bool,
}

/// True if `s` starts an option rather than being a value (negative numbers are values).
fn is_option(s: &str) -> bool {
    s.starts_with('-') && s.len() > 1 && s.parse::<f64>().is_err()
}

impl Args {
    /// Parses `--key value`, `-key value` and `--flag` arguments.
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            if !is_option(arg) {
                return Err(format!("unexpected argument '{arg}': arguments are --key value or --flag"));
            }
            let name = arg.trim_start_matches('-').to_string();
            if name.is_empty() {
                return Err(format!("unexpected argument '{arg}'"));
            }
            if entries.iter().any(|e| e.name == name) {
                return Err(format!("argument --{name} is given twice"));
            }
            let value = match args.get(i + 1) {
                Some(next) if !is_option(next) => {
                    i += 1;
                    Some(next.clone())
                }
                _ => None,
            };
            entries.push(Entry { name, value, used: false });
            i += 1;
        }
        Ok(Args { entries })
    }

    fn take(&mut self, name: &str) -> Option<&Entry> {
        let entry = self.entries.iter_mut().find(|e| e.name == name)?;
        entry.used = true;
        Some(entry)
    }

    /// True if `--name` is present. A flag may carry `true` or `false`; values do not
    /// otherwise matter to Flink, but anything else here is an error.
    pub fn flag(&mut self, name: &str) -> Result<bool, String> {
        match self.take(name).map(|e| e.value.as_deref()) {
            None => Ok(false),
            Some(None | Some("true")) => Ok(true),
            Some(Some("false")) => Ok(false),
            Some(Some(other)) => Err(format!("argument --{name} is a flag; it takes no value (got '{other}')")),
        }
    }

    /// The value of `--name`, if given. Given without a value is an error.
    pub fn value(&mut self, name: &str) -> Result<Option<String>, String> {
        match self.take(name) {
            None => Ok(None),
            Some(Entry { value: Some(v), .. }) => Ok(Some(v.clone())),
            Some(Entry { value: None, .. }) => Err(format!("argument --{name} needs a value")),
        }
    }

    /// The value of `--name`, or `default`.
    pub fn value_or(&mut self, name: &str, default: &str) -> Result<String, String> {
        Ok(self.value(name)?.unwrap_or_else(|| default.to_string()))
    }

    /// The value of `--name` parsed as `T`.
    pub fn parsed<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.value(name)? {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|e| format!("invalid value '{v}' for --{name}: {e}")),
        }
    }

    /// The value of `--name`, which must be one of `choices`; `default` if absent.
    pub fn choice(
        &mut self,
        name: &str,
        choices: &[&'static str],
        default: &'static str,
    ) -> Result<&'static str, String> {
        match self.value(name)? {
            None => Ok(default),
            Some(v) => choices
                .iter()
                .find(|c| **c == v)
                .copied()
                .ok_or_else(|| format!("invalid value '{v}' for --{name}: expected one of {}", choices.join(", "))),
        }
    }

    /// Fails on the first argument that was never read.
    pub fn finish(self) -> Result<(), String> {
        match self.entries.iter().find(|e| !e.used) {
            Some(e) => Err(format!("unknown argument --{}", e.name)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn reads_values_and_flags() {
        let mut a = Args::parse(&args("--bootstrap.servers kafka:9092 --checkpointing --rate -5 --x false")).unwrap();
        assert_eq!(a.value("bootstrap.servers").unwrap().as_deref(), Some("kafka:9092"));
        assert!(a.flag("checkpointing").unwrap());
        assert!(!a.flag("event-time").unwrap());
        assert_eq!(a.parsed::<i64>("rate").unwrap(), Some(-5));
        assert!(!a.flag("x").unwrap());
        a.finish().unwrap();
    }

    #[test]
    fn errors_name_the_argument() {
        let mut a = Args::parse(&args("--bootstrap.servers --event-time --count abc --typo 1")).unwrap();
        assert_eq!(a.value("bootstrap.servers").unwrap_err(), "argument --bootstrap.servers needs a value");
        assert!(a.parsed::<u64>("count").unwrap_err().contains("--count"));
        assert!(a.flag("event-time").unwrap());
        assert_eq!(a.finish().unwrap_err(), "unknown argument --typo");
        assert!(Args::parse(&args("stray")).unwrap_err().contains("stray"));
        assert!(Args::parse(&args("--a 1 --a 2")).unwrap_err().contains("twice"));
        let mut a = Args::parse(&args("--source nowhere")).unwrap();
        assert!(a.choice("source", &["kafka", "datagen"], "kafka").unwrap_err().contains("kafka, datagen"));
    }
}
