//! `weir new` and `weir build`: a job project made outside the checkout builds with one command,
//! its unit tests pass, and the commands its README gives run it on a real cluster against a
//! real broker and upgrade it in place, its keyed state kept.
//!
//! The project's first build compiles its dependencies (serde, wit-bindgen, …): a few minutes on
//! two cores. It builds into `target/new-project-target` (`CARGO_TARGET_DIR`), shared between
//! runs, so later runs take seconds.
//!
//! The same path for `weir new --lang python`: the project's unit tests on `weir_sdk.testing`,
//! `weir build` with the componentize-py `guest-jobs/python/build` installs (found through
//! `$WEIR_PYTHON`, as the README offers), the job on a cluster, and its upgrade.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use weir_tests::*;

/// The project's name, and its component's file name.
const NAME: &str = "word-tally";
const COMPONENT: &str = "word_tally.wasm";

/// Where the project builds: under the checkout's target directory, kept between runs.
fn project_target_dir() -> PathBuf {
    target_dir().join("new-project-target")
}

/// `weir <args>` in `dir`, to completion: (exit code, stdout, stderr).
fn weir_in(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(weir_bin())
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", project_target_dir())
        .output()
        .expect("run weir");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `weir build` in the project, as its README says; returns the component's path it printed
/// after checking it is where the README says (under `CARGO_TARGET_DIR`, as set here).
fn build(project: &Path) -> PathBuf {
    let (code, out, err) = weir_in(project, &["build"]);
    assert_eq!(code, Some(0), "weir build failed:\n{out}\n{err}");
    let expected = project_target_dir().join("wasm32-wasip2/release").join(COMPONENT);
    let line = out.lines().last().unwrap_or_default();
    assert!(line.starts_with(&format!("Built {} (", expected.display())) && line.ends_with(" KiB)"), "{out}");
    assert!(expected.is_file());
    expected
}

/// `printf … | weir produce --bootstrap.servers <b> --topic input`, as the README feeds the job.
fn produce_lines(cluster: &Cluster, bootstrap: &str, lines: &[&str]) {
    let mut child = cluster
        .weir()
        .args(["produce", "--bootstrap.servers", bootstrap, "--topic", "input"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weir produce");
    let mut stdin = child.stdin.take().expect("its standard input");
    for line in lines {
        writeln!(stdin, "{line}").expect("write a line");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("weir produce");
    assert!(out.status.success(), "weir produce failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// `word,count[suffix]` for every word of `lines`, counts going on from `totals`.
fn expected_counts(lines: &[&str], totals: &mut std::collections::BTreeMap<String, u64>, suffix: &str) -> Vec<String> {
    let mut records = Vec::new();
    for line in lines {
        for word in line.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let word = word.to_lowercase();
            let count = totals.entry(word.clone()).or_default();
            *count += 1;
            records.push(format!("{word},{count}{suffix}"));
        }
    }
    records
}

/// Runs the sample `component` on `cluster` with the README's arguments (the test's broker in
/// place of 127.0.0.1:9092) and waits up to `wait` for its tasks; returns the job id.
fn run_sample(cluster: &Cluster, bootstrap: &str, component: &Path, wait: Duration) -> String {
    let v1 = cluster.dir.path().join("v1.wasm");
    std::fs::copy(component, &v1).expect("copy the component");
    let v1 = v1.display().to_string();
    let (code, out, err) =
        cluster.cli("run", &["-d", &v1, "--bootstrap.servers", bootstrap, "--input", "input", "--output", "output"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let job = out.trim().rsplit(' ').next().expect("a job id").to_string();
    cluster.wait_for_all_tasks_running(&job, wait);
    job
}

/// Writes `lines` to the input and checks, record by record, that the output holds `expected`
/// and these lines' running counts (each line ending in `suffix`), which join `expected`.
fn produce_and_check(
    cluster: &Cluster,
    bootstrap: &str,
    lines: &[&str],
    totals: &mut std::collections::BTreeMap<String, u64>,
    suffix: &str,
    expected: &mut Vec<String>,
) -> Vec<String> {
    produce_lines(cluster, bootstrap, lines);
    expected.extend(expected_counts(lines, totals, suffix));
    let mut got = witness(bootstrap, "output", expected.len(), Duration::from_secs(60)).expect("the counts");
    got.sort();
    expected.sort();
    assert_eq!(&got, expected, "{}", cluster.taskmanager_log(0));
    got
}

/// The README's upgrade: `component` swapped into `job` in place, both guest operators.
fn upgrade_sample(cluster: &Cluster, job: &str, component: &Path) {
    let v2 = cluster.dir.path().join("v2.wasm");
    std::fs::copy(component, &v2).expect("copy the component");
    let (code, out, err) = cluster.cli("upgrade", &[job, &v2.display().to_string()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Upgrade completed: SWAPPED at checkpoint "), "{out}{err}");
    assert!(out.contains("(operators: source, counter)."), "{out}{err}");
}

#[test]
fn a_new_project_builds_tests_runs_and_upgrades_as_its_readme_says() {
    let home =
        tempfile::Builder::new().prefix("weir-new-project-").tempdir_in(std::env::temp_dir()).expect("a temp dir");
    let project = home.path().join(NAME);

    // weir new: the project, outside the checkout; a second time into it is refused.
    let (code, out, err) = weir_in(home.path(), &["new", NAME]);
    assert_eq!(code, Some(0), "weir new failed:\n{out}\n{err}");
    for file in ["Cargo.toml", "Cargo.lock", "rust-toolchain.toml", ".gitignore", "src/lib.rs", "README.md"] {
        assert!(project.join(file).is_file(), "weir new wrote no {file}");
    }
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).expect("Cargo.toml");
    assert!(!manifest.contains("/work") && manifest.contains("weir/guest-jobs/sdk"), "{manifest}");
    let (code, _, err) = weir_in(home.path(), &["new", NAME]);
    assert_eq!(code, Some(1));
    assert!(err.contains("exists and is not empty"), "{err}");

    // The README's commands, which this test runs.
    let readme = std::fs::read_to_string(project.join("README.md")).expect("README.md");
    let run_line = format!("weir run -d target/wasm32-wasip2/release/{COMPONENT} \\");
    for command in [
        "weir build",
        "cargo test",
        "weir playground --no-job",
        &run_line,
        "--bootstrap.servers 127.0.0.1:9092 --input input --output output",
        "| weir produce --bootstrap.servers 127.0.0.1:9092 --topic input",
        "weir consume --bootstrap.servers 127.0.0.1:9092 --topic output --from-beginning",
        "const SUFFIX: &str = \",v2\";",
        &format!("weir upgrade <jobid> target/wasm32-wasip2/release/{COMPONENT}"),
    ] {
        assert!(readme.contains(command), "the README lacks `{command}`:\n{readme}");
    }

    // weir build, and the project's own unit tests.
    let component = build(&project);
    let tests = Command::new("cargo")
        .arg("test")
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", project_target_dir())
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .expect("run cargo test");
    let test_out = String::from_utf8_lossy(&tests.stdout);
    assert!(tests.status.success(), "cargo test failed:\n{test_out}\n{}", String::from_utf8_lossy(&tests.stderr));
    assert!(test_out.contains("test result: ok. 3 passed"), "{test_out}");

    // On a cluster: run it with the README's arguments (its broker in place of 127.0.0.1:9092).
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    let job = run_sample(&cluster, &bootstrap, &component, Duration::from_secs(60));

    let (mut totals, mut expected) = (std::collections::BTreeMap::new(), Vec::new());
    let first = ["to be or not to be", "that is the question"];
    produce_and_check(&cluster, &bootstrap, &first, &mut totals, "", &mut expected);

    // The README's upgrade: the suffix set, built again, swapped into the running job.
    let source_path = project.join("src/lib.rs");
    let source = std::fs::read_to_string(&source_path).expect("src/lib.rs");
    assert_eq!(source.matches("const SUFFIX: &str = \"\";").count(), 1, "{source}");
    std::fs::write(&source_path, source.replace("const SUFFIX: &str = \"\";", "const SUFFIX: &str = \",v2\";"))
        .expect("edit src/lib.rs");
    // In place, as the README shows: both guest operators swapped, nothing redeployed.
    upgrade_sample(&cluster, &job, &build(&project));

    let second = ["to be", "The end"];
    let got = produce_and_check(&cluster, &bootstrap, &second, &mut totals, ",v2", &mut expected);
    assert!(got.contains(&"to,3,v2".to_string()) && got.contains(&"the,2,v2".to_string()));

    // The README's way to read the output, `weir consume … --from-beginning`, prints the same.
    let count = expected.len().to_string();
    let consume =
        ["consume", "--bootstrap.servers", &bootstrap, "--topic", "output", "--from-beginning", "--count", &count];
    let out = cluster.weir().args(consume).args(["--idle-timeout", "30"]).output().expect("run weir consume");
    assert!(out.status.success(), "weir consume failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut printed: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    printed.sort();
    assert_eq!(printed, expected);
}

/// What `weir new` and `weir build` refuse, each with a clear error and nothing written.
#[test]
fn new_and_build_refuse_with_clear_errors() {
    let home =
        tempfile::Builder::new().prefix("weir-new-refusals-").tempdir_in(std::env::temp_dir()).expect("a temp dir");
    let dir = home.path();
    std::fs::write(dir.join("notes.txt"), "mine").expect("a file");
    let cases: [(&[&str], &str); 6] = [
        (&["new", "."], "exists and is not empty"),
        (&["new", "--lang", "go", "go-job"], "--lang go: weir new makes Rust (--lang rust) and Python"),
        (&["new", "--name", "serde", "x"], "\"serde\" is taken"),
        (&["new", "1-job"], "\"1-job\" is not a package name"),
        (&["build", "nothing-here"], "nothing-here has no Cargo.toml"),
        (&["new", "--lang", "python", "json"], "\"json\" is taken"),
    ];
    for (args, message) in cases {
        let (code, out, err) = weir_in(dir, args);
        assert_eq!(code, Some(1), "weir {args:?}: {out}{err}");
        assert!(err.contains(message), "weir {args:?}: {err}");
    }
    let left: Vec<_> = std::fs::read_dir(dir).expect("the dir").map(|e| e.expect("an entry").file_name()).collect();
    assert_eq!(left, ["notes.txt"], "a refused weir new wrote nothing");
}

/// The Python project's name, and its component's path in the project.
const PY_NAME: &str = "word-tally-py";
const PY_COMPONENT: &str = "target/word_tally_py.wasm";

/// The Python whose environment has componentize-py: the one `guest-jobs/python/build`
/// installs (tests/run calls it).
fn componentize_python() -> PathBuf {
    let python = target_dir().join("python-build-venv/bin/python");
    assert!(
        python.with_file_name("componentize-py").is_file(),
        "{} has no componentize-py: run guest-jobs/python/build (tests/run does)",
        python.display()
    );
    python
}

/// `weir build` in the Python project, with `$WEIR_PYTHON` as its README offers; returns the
/// component's path after checking the line it printed.
fn build_python(project: &Path) -> PathBuf {
    let out = Command::new(weir_bin())
        .arg("build")
        .current_dir(project)
        .env("WEIR_PYTHON", componentize_python())
        .output()
        .expect("run weir build");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "weir build failed:\n{stdout}\n{stderr}");
    let line = stdout.lines().last().unwrap_or_default();
    assert!(line.starts_with(&format!("Built {PY_COMPONENT} (")) && line.ends_with(" MiB)"), "{stdout}");
    let component = project.join(PY_COMPONENT);
    assert!(component.is_file());
    component
}

/// The project's unit tests, as its README runs them: `python3 -m unittest discover -s tests`.
fn python_unit_tests(project: &Path) {
    let out = Command::new(python())
        .args(["-B", "-m", "unittest", "discover", "-s", "tests"])
        .current_dir(project)
        .output()
        .expect("run the unit tests");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && report.contains("Ran 3 tests") && report.trim_end().ends_with("OK"), "{report}");
}

#[test]
fn a_new_python_project_builds_tests_runs_and_upgrades_as_its_readme_says() {
    let home =
        tempfile::Builder::new().prefix("weir-new-python-").tempdir_in(std::env::temp_dir()).expect("a temp dir");
    let project = home.path().join(PY_NAME);

    // weir new --lang python: the project, outside the checkout, with the SDK it is built on.
    let (code, out, err) = weir_in(home.path(), &["new", "--lang", "python", PY_NAME]);
    assert_eq!(code, Some(0), "weir new failed:\n{out}\n{err}");
    for file in [
        "weir.toml",
        "src/word_tally_py.py",
        "tests/test_word_tally_py.py",
        "README.md",
        ".gitignore",
        "weir/weir_sdk/stream.py",
        "weir/weir_sdk/testing.py",
        "weir/wit/world.wit",
    ] {
        assert!(project.join(file).is_file(), "weir new wrote no {file}");
    }
    let readme = std::fs::read_to_string(project.join("README.md")).expect("README.md");
    let run_line = format!("weir run -d {PY_COMPONENT} \\");
    for command in [
        "python3 -m venv .venv && .venv/bin/pip install componentize-py==0.25.1",
        "weir build",
        "python3 -m unittest discover -s tests",
        "weir playground --no-job",
        &run_line,
        "--bootstrap.servers 127.0.0.1:9092 --input input --output output",
        "| weir produce --bootstrap.servers 127.0.0.1:9092 --topic input",
        "weir consume --bootstrap.servers 127.0.0.1:9092 --topic output --from-beginning",
        "SUFFIX = \",v2\"",
        &format!("weir upgrade <jobid> {PY_COMPONENT}"),
    ] {
        assert!(readme.contains(command), "the README lacks `{command}`:\n{readme}");
    }

    // Without componentize-py, weir build says what to install.
    let missing = home.path().join("no-python/bin/python");
    let (code, _, err) = weir_in(&project, &["build", "--python", &missing.display().to_string()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no componentize-py next to") && err.contains("pip install componentize-py==0.25.1"), "{err}");

    // The unit tests (weir_sdk.testing, plain CPython), and weir build.
    python_unit_tests(&project);
    let component = build_python(&project);

    // On a cluster: run it with the README's arguments (its broker in place of 127.0.0.1:9092).
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 2);
    let job = run_sample(&cluster, &bootstrap, &component, Duration::from_secs(120));

    let (mut totals, mut expected) = (std::collections::BTreeMap::new(), Vec::new());
    let first = ["to be or not to be", "that is the question"];
    produce_and_check(&cluster, &bootstrap, &first, &mut totals, "", &mut expected);

    // The README's upgrade: the suffix set, the unit tests still passing, built again, swapped in.
    let source_path = project.join("src/word_tally_py.py");
    let source = std::fs::read_to_string(&source_path).expect("the job's source");
    assert_eq!(source.matches("\nSUFFIX = \"\"\n").count(), 1, "{source}");
    std::fs::write(&source_path, source.replace("\nSUFFIX = \"\"\n", "\nSUFFIX = \",v2\"\n")).expect("edit the job");
    python_unit_tests(&project);
    upgrade_sample(&cluster, &job, &build_python(&project));

    let second = ["to be", "The end"];
    let got = produce_and_check(&cluster, &bootstrap, &second, &mut totals, ",v2", &mut expected);
    assert!(got.contains(&"to,3,v2".to_string()) && got.contains(&"the,2,v2".to_string()));
}
