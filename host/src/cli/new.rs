//! `weir new <dir>`: a job project outside the Weir repository that builds with one command.
//!
//! The project carries the SDK it is built on: `weir new` writes the SDK crates (`weir-sdk`,
//! `weir-frame`, `weir-json`) and the `weir:job` WIT world, which this binary embeds at compile
//! time (host/build.rs), under `weir/` in the repository's own layout (`weir/guest-jobs/sdk`,
//! `weir/wit`, so that the SDK's `path: "../../wit"` holds), their manifests rewritten to stand
//! alone. The guest workspace's `Cargo.lock` comes along, so the project builds with the
//! dependency versions Weir is tested with.
//!
//! `--lang python` makes a Python project instead ([`python`]): the Python SDK's package and the
//! WIT world under `weir/`, built by `weir build` with componentize-py.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

pub(crate) mod python;

mod files {
    include!(concat!(env!("OUT_DIR"), "/project_files.rs"));
}

/// Where the embedded repository files go in a project.
const VENDOR_DIR: &str = "weir";

/// The embedded files read here rather than copied.
const WORKSPACE_FILES: [&str; 3] = ["guest-jobs/Cargo.toml", "guest-jobs/Cargo.lock", "rust-toolchain.toml"];

#[derive(clap::Args)]
pub struct Args {
    /// The project's directory: created, or empty.
    dir: PathBuf,
    /// The language of the job.
    #[arg(long, default_value = "rust")]
    lang: String,
    /// The job's package name (default: the directory's name).
    #[arg(long)]
    name: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let python = match args.lang.as_str() {
        "rust" => false,
        "python" => true,
        other => bail!("--lang {other}: weir new makes Rust (--lang rust) and Python (--lang python) projects"),
    };
    let name = match args.name {
        Some(name) => name,
        None => default_name(&args.dir)?,
    };
    check_name(&name)?;
    let module = if python { Some(python::module_name(&name)?) } else { None };
    check_empty(&args.dir)?;
    let files = match &module {
        Some(module) => python::project_files(&name, module)?,
        None => project_files(&name)?,
    };
    write_files(&args.dir, &files)?;
    if let Some(module) = module {
        println!("Created the Python job project \"{name}\" in {}", args.dir.display());
        if args.dir != Path::new(".") {
            println!("  cd {}", args.dir.display());
        }
        println!("  weir build                              # builds target/{module}.wasm with componentize-py");
        println!("  python3 -m unittest discover -s tests   # runs the job's unit tests");
        println!(
            "Its README.md says how to install componentize-py, run the job on `weir playground --no-job` and upgrade it."
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("Created the job project \"{name}\" in {}", args.dir.display());
    if args.dir != Path::new(".") {
        println!("  cd {}", args.dir.display());
    }
    println!("  weir build    # builds target/wasm32-wasip2/release/{}.wasm", crate_name(&name));
    println!("  cargo test    # runs the job's unit tests");
    println!("Its README.md says how to run it on `weir playground --no-job` and upgrade it.");
    Ok(ExitCode::SUCCESS)
}

/// Writes `files` (paths relative to `dir`), creating their directories.
fn write_files(dir: &Path, files: &[(PathBuf, Vec<u8>)]) -> anyhow::Result<()> {
    for (path, contents) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The directory's last component, as a package name.
fn default_name(dir: &Path) -> anyhow::Result<String> {
    let absolute = std::path::absolute(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    let name = absolute
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("cannot take a job name from {}: give one with --name", dir.display()))?;
    Ok(name.to_string())
}

/// A name cargo takes for a package and that clashes with none of the project's dependencies.
fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        bail!(
            "\"{name}\" is not a package name: use ASCII letters, digits, '-' and '_', starting with a \
             letter (at most 64 characters); give one with --name"
        );
    }
    const TAKEN: [&str; 17] = [
        "weir_sdk",
        "weir_frame",
        "weir_json",
        "serde",
        "serde_json",
        "postcard",
        "wit_bindgen",
        "test",
        "std",
        "core",
        "alloc",
        "proc_macro",
        "self",
        "crate",
        "super",
        "build",
        "deps",
    ];
    if TAKEN.contains(&crate_name(name).as_str()) {
        bail!("\"{name}\" is taken (by a dependency, the standard library or cargo); choose another with --name");
    }
    Ok(())
}

/// The library's crate name: what the component file is called.
fn crate_name(name: &str) -> String {
    name.replace('-', "_")
}

/// Refuses a directory that holds anything (or a path that is not a directory).
fn check_empty(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} exists and is not empty: weir new makes a project in a new or empty directory",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if dir.exists() && !dir.is_dir() => {
            bail!("{} exists and is not a directory ({e}): weir new needs a new or empty directory", dir.display())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

/// An embedded file of the Weir repository, as text.
fn embedded(path: &str) -> anyhow::Result<&'static str> {
    let (_, bytes) = files::FILES
        .iter()
        .find(|(p, _)| *p == path)
        .ok_or_else(|| anyhow::anyhow!("this weir binary embeds no {path}"))?;
    std::str::from_utf8(bytes).with_context(|| format!("the embedded {path} is not UTF-8"))
}

/// Every file of a new project `name`: (path in the project, contents).
fn project_files(name: &str) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let workspace = GuestWorkspace::parse(embedded("guest-jobs/Cargo.toml")?)?;
    let mut out: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for (path, bytes) in files::FILES {
        // The rest are the SDK's crates (its path dependencies included) and the WIT world.
        if WORKSPACE_FILES.contains(path) || path.starts_with(python::SDK_DIR) {
            continue;
        }
        let contents = if path.ends_with("/Cargo.toml") {
            let text = std::str::from_utf8(bytes).with_context(|| format!("the embedded {path} is not UTF-8"))?;
            workspace.standalone(path, text)?.into_bytes()
        } else {
            bytes.to_vec()
        };
        out.push((Path::new(VENDOR_DIR).join(path), contents));
    }
    let channel = toolchain_channel(embedded("rust-toolchain.toml")?)?;
    out.push(("Cargo.toml".into(), project_manifest(name, &workspace)?.into_bytes()));
    out.push(("Cargo.lock".into(), embedded("guest-jobs/Cargo.lock")?.as_bytes().to_vec()));
    out.push(("rust-toolchain.toml".into(), toolchain_file(&channel).into_bytes()));
    out.push((".cargo/config.toml".into(), CARGO_CONFIG.as_bytes().to_vec()));
    out.push((".gitignore".into(), b"/target/\n".to_vec()));
    out.push(("src/lib.rs".into(), job_source(name).into_bytes()));
    out.push(("README.md".into(), readme(name).into_bytes()));
    out.push((Path::new(VENDOR_DIR).join("README.md"), VENDOR_README.as_bytes().to_vec()));
    Ok(out)
}

/// What `guest-jobs/Cargo.toml` gives its members: `[workspace.package]` keys, the
/// `[workspace.dependencies]`, and the release profile.
struct GuestWorkspace {
    package: Vec<(String, String)>,
    dependencies: Vec<(String, String)>,
    release_profile: String,
}

impl GuestWorkspace {
    fn parse(manifest: &str) -> anyhow::Result<GuestWorkspace> {
        let mut workspace =
            GuestWorkspace { package: Vec::new(), dependencies: Vec::new(), release_profile: String::new() };
        let mut section = "";
        for line in manifest.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                section = trimmed;
                if section == "[profile.release]" {
                    workspace.release_profile.push_str(line);
                    workspace.release_profile.push('\n');
                }
                continue;
            }
            if section == "[profile.release]" {
                workspace.release_profile.push_str(line);
                workspace.release_profile.push('\n');
                continue;
            }
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some((key, value)) = trimmed.split_once('=') else { continue };
            let (key, value) = (key.trim().to_string(), value.trim().to_string());
            match section {
                "[workspace.package]" => workspace.package.push((key, value)),
                "[workspace.dependencies]" => workspace.dependencies.push((key, value)),
                _ => {}
            }
        }
        if workspace.release_profile.is_empty() || workspace.package.is_empty() {
            bail!("the embedded guest-jobs/Cargo.toml has no [workspace.package] or [profile.release]");
        }
        workspace.release_profile = workspace.release_profile.trim_end().to_string() + "\n";
        Ok(workspace)
    }

    fn package_key(&self, key: &str) -> anyhow::Result<&str> {
        self.package
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| anyhow::anyhow!("guest-jobs/Cargo.toml's [workspace.package] has no {key}"))
    }

    /// A workspace dependency as a member two directories below the project root sees it
    /// (`weir/guest-jobs/<crate>`): its value, path dependencies made relative to the member.
    fn dependency(&self, name: &str) -> anyhow::Result<String> {
        let value = self
            .dependencies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| anyhow::anyhow!("guest-jobs/Cargo.toml's [workspace.dependencies] has no {name}"))?;
        Ok(value.replace("path = \"", "path = \"../"))
    }

    /// `manifest` (the embedded `path`) with every `workspace = true` replaced by what the
    /// guest workspace gives: it builds outside that workspace.
    fn standalone(&self, path: &str, manifest: &str) -> anyhow::Result<String> {
        let mut out = String::new();
        let mut section = String::new();
        for line in manifest.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                section = trimmed.to_string();
                // A dependency's dev-dependencies are for its own tests, which the project
                // does not run.
                if section != "[dev-dependencies]" {
                    out.push_str(line);
                    out.push('\n');
                }
                continue;
            }
            if section == "[dev-dependencies]" {
                continue;
            }
            let rewritten = if let Some((key, value)) = trimmed.split_once('=')
                && (key.trim().ends_with(".workspace") || value.contains("workspace = true"))
            {
                let key = key.trim().trim_end_matches(".workspace");
                if section == "[lints]" {
                    continue;
                }
                let inherited = if section == "[package]" {
                    self.package_key(key)?.to_string()
                } else if section.ends_with("dependencies]") {
                    let base = self.dependency(key)?;
                    merge_dependency(&base, value.trim())
                        .with_context(|| format!("cannot rewrite {path}'s dependency {key}"))?
                } else {
                    bail!("cannot rewrite {path}: `{trimmed}` in {section}");
                };
                format!("{key} = {inherited}")
            } else {
                line.to_string()
            };
            out.push_str(&rewritten);
            out.push('\n');
        }
        if out.lines().any(|l| !l.trim_start().starts_with('#') && l.contains("workspace")) {
            bail!("cannot rewrite {path}: it still names the workspace after the rewrite");
        }
        Ok(out)
    }
}

/// `base` (the workspace's value: `"1"` or `{ … }`) with what a member adds in `member`
/// (`true` from `x.workspace = true`, or `{ workspace = true, features = […], optional = … }`).
fn merge_dependency(base: &str, member: &str) -> anyhow::Result<String> {
    if member == "true" {
        return Ok(base.to_string());
    }
    let inner = |table: &str| -> anyhow::Result<String> {
        let table = table.trim();
        let body = table
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .ok_or_else(|| anyhow::anyhow!("`{table}` is not an inline table"))?;
        Ok(body.trim().to_string())
    };
    let added = inner(member)?;
    let added: Vec<&str> =
        split_top_level(&added).into_iter().filter(|item| item.replace(' ', "") != "workspace=true").collect();
    let base_items = if base.starts_with('{') { inner(base)? } else { format!("version = {base}") };
    let base_items = split_top_level(&base_items);
    for item in &added {
        let key = item.split('=').next().unwrap_or_default().trim();
        if base_items.iter().any(|b| b.split('=').next().unwrap_or_default().trim() == key) {
            bail!("both the workspace and the member set `{key}`");
        }
    }
    let items: Vec<&str> = base_items.into_iter().chain(added).collect();
    Ok(format!("{{ {} }}", items.join(", ")))
}

/// The comma-separated items of an inline table's body, commas inside `[…]` kept.
fn split_top_level(body: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start, mut quoted) = (0i32, 0usize, false);
    for (i, c) in body.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '[' | '{' if !quoted => depth += 1,
            ']' | '}' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                items.push(body[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(body[start..].trim());
    items.into_iter().filter(|i| !i.is_empty()).collect()
}

/// The `channel` of the repository's rust-toolchain.toml.
fn toolchain_channel(file: &str) -> anyhow::Result<String> {
    file.lines()
        .filter_map(|l| l.trim().strip_prefix("channel"))
        .filter_map(|rest| rest.trim().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_string())
        .next()
        .ok_or_else(|| anyhow::anyhow!("the embedded rust-toolchain.toml names no channel"))
}

fn toolchain_file(channel: &str) -> String {
    format!(
        "# The toolchain Weir's SDK is built and tested with; rustup installs it (and the wasm target)\n\
         # when it is missing. `weir build` adds the target when the toolchain is there without it.\n\
         [toolchain]\n\
         channel = \"{channel}\"\n\
         targets = [\"wasm32-wasip2\"]\n\
         profile = \"minimal\"\n"
    )
}

const CARGO_CONFIG: &str = "\
# wasm SIMD in the component (wasmtime compiles it by default), as Weir builds its own jobs.
[target.wasm32-wasip2]
rustflags = [\"-Ctarget-feature=+simd128\"]
";

const VENDOR_README: &str = "\
These are the parts of the Weir repository the job is built on, in the repository's layout:
the Rust SDK (`guest-jobs/sdk`) with the crates it uses (`guest-jobs/frame`, `guest-jobs/json`)
and the `weir:job` WIT world (`wit/`). `weir new` wrote them from the `weir` binary that made
this project; their manifests were rewritten to stand alone. A newer `weir new` writes newer
ones: copy its `weir/` over this one to move the job to them.
";

fn project_manifest(name: &str, workspace: &GuestWorkspace) -> anyhow::Result<String> {
    let edition = workspace.package_key("edition")?;
    let rust_version = workspace.package_key("rust-version")?;
    let serde = workspace.dependency("serde")?;
    Ok(format!(
        "[package]\n\
         name = \"{name}\"\n\
         version = \"0.1.0\"\n\
         edition = {edition}\n\
         rust-version = {rust_version}\n\
         publish = false\n\
         \n\
         # A Weir job is a WebAssembly component: `weir build` makes\n\
         # target/wasm32-wasip2/release/{crate_name}.wasm.\n\
         [lib]\n\
         crate-type = [\"cdylib\"]\n\
         \n\
         [dependencies]\n\
         # The SDK this project carries (see weir/README.md).\n\
         weir-sdk = {{ path = \"weir/guest-jobs/sdk\" }}\n\
         serde = {serde}\n\
         \n\
         # Its own workspace: the project builds wherever it is.\n\
         [workspace]\n\
         \n\
         {profile}",
        crate_name = crate_name(name),
        profile = workspace.release_profile,
    ))
}

fn job_source(name: &str) -> String {
    JOB_TEMPLATE.replace("{{name}}", name)
}

fn readme(name: &str) -> String {
    README_TEMPLATE.replace("{{name}}", name).replace("{{crate}}", &crate_name(name))
}

const JOB_TEMPLATE: &str = r#"//! {{name}}: a Weir job on the SDK's typed API (`weir_sdk::stream`).
//!
//! It reads lines of text from a Kafka topic, splits them into words, and counts every word in
//! keyed state: for each word it reads it writes `word,count`, the word's count so far, to the
//! output topic.
//!
//! Program arguments: `--bootstrap.servers HOST:PORT` (default `127.0.0.1:9092`), `--input TOPIC`
//! (default `input`), `--output TOPIC` (default `output`), `--bounded` (read the input up to its
//! end as of the start, then finish).

use serde::{Deserialize, Serialize};
use weir_sdk::args::Args;
use weir_sdk::stream::connectors::{KafkaSink, KafkaSource};
use weir_sdk::stream::state::ValueState;
use weir_sdk::stream::{Collector, Context, Env, KeyedProcessFunction, StreamJob, Text};

/// Appended to every output line. Set it to ",v2", `weir build`, and `weir upgrade` the running
/// job: the lines after the swap end in ",v2", and the counts go on from where they were.
const SUFFIX: &str = "";

/// Splits a line into lower-case words: the runs of letters and digits.
pub fn tokenize(line: &str) -> Vec<String> {
    line.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// One output record: the word and its count so far.
pub fn format_count(word: &str, count: u64) -> String {
    format!("{word},{count}{SUFFIX}")
}

/// What the job keeps per word (any serde type can be state).
#[derive(Serialize, Deserialize, Default)]
struct Tally {
    count: u64,
}

/// Counts the words of its key (Flink's KeyedProcessFunction with a ValueState).
struct CountWords {
    tally: ValueState<Tally>,
}

impl KeyedProcessFunction<String, String, String> for CountWords {
    fn process_element(
        &mut self,
        word: String,
        _ctx: &mut Context<'_, String>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), String> {
        let mut tally = self.tally.value()?.unwrap_or_default();
        tally.count += 1;
        self.tally.update(&tally)?;
        out.collect(format_count(&word, tally.count));
        Ok(())
    }
}

struct Job;

impl StreamJob for Job {
    fn build(env: &mut Env, args: Vec<String>) -> Result<(), String> {
        let mut args = Args::parse(&args)?;
        let servers = args.value_or("bootstrap.servers", "127.0.0.1:9092")?;
        let input = args.value_or("input", "input")?;
        let output = args.value_or("output", "output")?;
        let bounded = args.flag("bounded")?;
        args.finish()?;

        env.set_job_name("{{name}}");
        let mut source = KafkaSource::new(&servers, &input).group_id("{{name}}");
        if bounded {
            source = source.bounded();
        }
        // Keyed state is matched by uid across upgrades and savepoints: keep the uids.
        env.from_source(source, Text)
            .uid("source")
            .flat_map(|line: String| tokenize(&line))
            .name("Tokenizer")
            .key_by(|word: &String| word.clone())
            .process(CountWords { tally: ValueState::new("tally") })
            .uid("counter")
            .name("Counter")
            .sink_to(KafkaSink::new(&servers, &output), Text)
            .uid("sink");
        Ok(())
    }
}

weir_sdk::export_stream_job!(Job);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_into_lower_case_words() {
        assert_eq!(tokenize("To be, or NOT to be!"), ["to", "be", "or", "not", "to", "be"]);
        assert!(tokenize(" ,;! ").is_empty());
    }

    #[test]
    fn a_count_is_the_word_a_comma_and_the_count() {
        assert_eq!(format_count("be", 2), format!("be,2{SUFFIX}"));
    }

    /// The job's own counter, on the SDK's test harness (an in-memory host, no cluster): words
    /// in as the key_by hands them over, counts out, the tally in keyed state.
    #[test]
    fn the_counter_counts_each_word_in_keyed_state() {
        let mut h = weir_sdk::testing::OperatorHarness::open_stream::<Job>(&[], "counter").expect("the counter");
        for word in ["be", "to", "be"] {
            h.process_keyed(&word.to_string(), &word.to_string(), 0).expect("processed");
        }
        let counts = [format_count("be", 1), format_count("to", 1), format_count("be", 2)];
        assert_eq!(h.take_output_text().expect("text"), counts);
        let tally: Option<Tally> = h.keyed_value_state("tally", &"be".to_string()).expect("a tally");
        assert_eq!(tally.map(|t| t.count), Some(2));
    }
}
"#;

const README_TEMPLATE: &str = r#"# {{name}}

A Weir job: lines of text from a Kafka topic in, `word,count` out (the running count of every
word, kept in keyed state): `src/lib.rs`, on the SDK's typed API.

`weir/` holds the Weir SDK the job is built on (see `weir/README.md`): nothing else is needed
but Rust (rustup installs the toolchain `rust-toolchain.toml` names) and the `weir` command.

## Build and test

```sh
weir build      # cargo build --release --target wasm32-wasip2, and the component's path and size
cargo test      # the unit tests, on this machine (weir_sdk::testing runs the job's operators)
```

`weir build` adds the wasm32-wasip2 target with rustup when the toolchain lacks it, and prints

```
Built target/wasm32-wasip2/release/{{crate}}.wasm (150.2 KiB)
```

(the path is under `$CARGO_TARGET_DIR` when that is set).

## Run it on the playground

A broker and a cluster with no job (in a terminal of its own; Ctrl-C stops it):

```sh
weir playground --no-job
```

Then, here, submit the job, write a few lines to its input and read its output (the
playground's cluster lets jobs reach its own broker, 127.0.0.1:9092, and no other):

```sh
weir run -d target/wasm32-wasip2/release/{{crate}}.wasm \
    --bootstrap.servers 127.0.0.1:9092 --input input --output output
Job has been submitted with JobID <jobid>

printf 'to be or not to be\nthat is the question\n' | weir produce --bootstrap.servers 127.0.0.1:9092 --topic input
weir consume --bootstrap.servers 127.0.0.1:9092 --topic output --from-beginning
to,1
be,1
or,1
not,1
to,2
be,2
that,1
...
```

`weir produce` writes each line of its standard input as a record; `weir consume` prints the
records (Ctrl-C stops it). The playground's `input` has two partitions, read side by side, so
different words may come in another order than written; each word's counts come in order.

## Upgrade the running job

Change the code, build, and swap it into the running job, its state kept: in `src/lib.rs` set

```rust
const SUFFIX: &str = ",v2";
```

then

```sh
weir build
weir upgrade <jobid> target/wasm32-wasip2/release/{{crate}}.wasm
Upgrading job "<jobid>" to target/wasm32-wasip2/release/{{crate}}.wasm.
Upgrade completed: SWAPPED at checkpoint 1 in 65 ms (operators: source, counter).

printf 'to be\n' | weir produce --bootstrap.servers 127.0.0.1:9092 --topic input
weir consume --bootstrap.servers 127.0.0.1:9092 --topic output --from-beginning
...
to,3,v2
be,3,v2
```

The job swapped code in place: same job, tasks and Kafka positions, and the counts go on from
where they were, since the per-word state stays in the cluster through the swap (keep the
operators' uids, `source`, `counter` and `sink`, for that). A version that fails is rolled back
by itself. Arguments after the component in `weir upgrade` replace the job's arguments.

`weir list` shows the job; `weir stop <jobid>` stops it with a savepoint, and
`weir run -d -s <savepoint> …` starts it again from there.
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_manifest_stands_alone() {
        let files = project_files("my-job").expect("the project's files");
        let manifests: Vec<_> = files.iter().filter(|(p, _)| p.ends_with("Cargo.toml")).collect();
        // The project's, the SDK's, and those of the crates it uses (frame, json, …).
        assert!(manifests.len() >= 4, "{:?}", manifests.iter().map(|(p, _)| p).collect::<Vec<_>>());
        for (path, text) in manifests {
            let text = std::str::from_utf8(text).expect("UTF-8");
            assert!(!text.contains(".workspace") && !text.contains("workspace = true"), "{}:\n{text}", path.display());
        }
        let sdk = files.iter().find(|(p, _)| p == Path::new("weir/guest-jobs/sdk/Cargo.toml")).expect("the SDK");
        let sdk = std::str::from_utf8(&sdk.1).expect("UTF-8");
        assert!(sdk.contains("weir-frame = { path = \"../frame\" }"), "{sdk}");
        assert!(sdk.contains("version = \"0.1.0\""), "{sdk}");
        assert!(files.iter().any(|(p, _)| p == Path::new("weir/wit/world.wit")));
        assert!(!files.iter().any(|(p, _)| p.to_string_lossy().contains("weir_sdk") || p.ends_with("stream.py")));
    }

    #[test]
    fn a_python_project_carries_the_python_sdk_and_the_wit_world() {
        let files = python::project_files("my-job", "my_job").expect("the project's files");
        let paths: Vec<&Path> = files.iter().map(|(p, _)| p.as_path()).collect();
        for expected in [
            "weir.toml",
            "src/my_job.py",
            "tests/test_my_job.py",
            "README.md",
            "weir/weir_sdk/__init__.py",
            "weir/weir_sdk/stream.py",
            "weir/weir_sdk/testing.py",
            "weir/weir_sdk/_host.py",
            "weir/wit/world.wit",
        ] {
            assert!(paths.contains(&Path::new(expected)), "no {expected} in {paths:?}");
        }
        assert!(!paths.iter().any(|p| p.to_string_lossy().contains("__pycache__") || p.ends_with("Cargo.toml")));
        assert!(python::module_name("import").is_err());
        assert!(python::module_name("json").is_err());
        assert!(python::module_name("weir-sdk").is_err());
        assert_eq!(python::module_name("word-tally").expect("a module name"), "word_tally");
    }

    #[test]
    fn weir_build_pins_the_componentize_py_the_repository_builds_with() {
        let script = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-jobs/python/build"));
        let pin = format!("componentize_py_version=\"{}\"", python::COMPONENTIZE_PY_VERSION);
        assert!(script.contains(&pin), "guest-jobs/python/build does not pin {pin}");
    }

    #[test]
    fn member_additions_merge_into_the_workspace_dependency() {
        assert_eq!(merge_dependency("\"1\"", "true").expect("merged"), "\"1\"");
        assert_eq!(
            merge_dependency("\"1\"", "{ workspace = true, features = [\"a\", \"b\"] }").expect("merged"),
            "{ version = \"1\", features = [\"a\", \"b\"] }"
        );
        assert_eq!(
            merge_dependency("{ path = \"../frame\" }", "{ workspace = true, optional = true }").expect("merged"),
            "{ path = \"../frame\", optional = true }"
        );
        assert!(
            merge_dependency("{ version = \"1\", features = [\"x\"] }", "{ workspace = true, features = [\"y\"] }")
                .is_err()
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("word-count").is_ok());
        assert!(check_name("1st").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("weir-sdk").is_err());
        assert!(check_name("serde").is_err());
    }
}
