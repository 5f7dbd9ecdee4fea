//! `weir build [<dir>]`: builds a job project (one `weir new` made, or any cargo package with a
//! `cdylib`) into a component: `cargo build --release --target wasm32-wasip2`, the target added
//! with rustup first when the toolchain lacks it. Prints the component's path and size.
//!
//! A Python job project (`weir new --lang python`, marked by its `weir.toml`) is built with
//! componentize-py instead, as `guest-jobs/python/build` builds the repository's Python jobs:
//! `componentize-py -d weir/wit -w job componentize -p weir -p src <module> -o target/<module>.wasm`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

use super::new::python::{COMPONENTIZE_PY_VERSION, MARKER};
use super::wasm_target::{self, TARGET};

#[derive(clap::Args)]
pub struct Args {
    /// The project's directory (with its Cargo.toml, or the weir.toml of a Python project).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Python projects: the Python whose environment holds componentize-py (it is looked for
    /// next to it). Default: $WEIR_PYTHON, else the project's .venv, else componentize-py on PATH.
    #[arg(long)]
    python: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = args.dir;
    if dir.join(MARKER).is_file() {
        return build_python(&dir, args.python);
    }
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "{} has no Cargo.toml (nor a Python project's {MARKER}): weir build builds a job project (make one \
             with `weir new <dir>`)",
            dir.display()
        );
    }
    let cargo = std::ffi::OsString::from("cargo");
    // cargo and rustc run in the project's directory, so that rustup takes the toolchain its
    // rust-toolchain.toml names: a `weir` started by `cargo run` does not pass its own on.
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").ok().filter(|_| !has_toolchain_file(&dir));
    let announce = |line: &str| eprintln!("weir build: {line}");
    wasm_target::ensure("rustc".as_ref(), &dir, toolchain.as_deref(), announce).map_err(|e| anyhow::anyhow!(e))?;

    let (target_dir, lib) = metadata(&cargo, &dir, toolchain.as_deref())?;
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--release", "--target", TARGET]).current_dir(&dir);
    set_toolchain(&mut cmd, toolchain.as_deref());
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {} (install Rust: https://rustup.rs)", cargo.to_string_lossy()))?;
    if !status.success() {
        bail!("cargo build failed (its errors are above)");
    }
    let component = target_dir.join(TARGET).join("release").join(format!("{lib}.wasm"));
    let size = std::fs::metadata(&component)
        .with_context(|| format!("cargo built no {} (is the library a cdylib?)", component.display()))?
        .len();
    let shown = relative_to_cwd(&component);
    // why: a file size shown with one decimal.
    #[allow(clippy::cast_precision_loss)]
    let kib = size as f64 / 1024.0;
    println!("Built {} ({kib:.1} KiB)", shown.display());
    Ok(ExitCode::SUCCESS)
}

/// Runs `cmd` with `toolchain`, or the one rustup picks in its directory.
fn set_toolchain(cmd: &mut Command, toolchain: Option<&str>) {
    match toolchain {
        Some(toolchain) => cmd.env("RUSTUP_TOOLCHAIN", toolchain),
        None => cmd.env_remove("RUSTUP_TOOLCHAIN"),
    };
}

/// Whether `dir` or a directory above it names a toolchain for rustup.
fn has_toolchain_file(dir: &Path) -> bool {
    let Ok(dir) = std::path::absolute(dir) else { return false };
    dir.ancestors().any(|d| d.join("rust-toolchain.toml").is_file() || d.join("rust-toolchain").is_file())
}

/// The project's target directory (`CARGO_TARGET_DIR`, its cargo configuration, or
/// `<workspace>/target`) and the crate name of the root package's `cdylib`, from `cargo metadata`.
fn metadata(cargo: &std::ffi::OsStr, dir: &Path, toolchain: Option<&str>) -> anyhow::Result<(PathBuf, String)> {
    let mut cmd = Command::new(cargo);
    cmd.args(["metadata", "--format-version", "1", "--no-deps"]).current_dir(dir);
    set_toolchain(&mut cmd, toolchain);
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {} (install Rust: https://rustup.rs)", cargo.to_string_lossy()))?;
    if !out.status.success() {
        bail!("`cargo metadata` failed in {} (its errors are above)", dir.display());
    }
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).context("cargo metadata's answer")?;
    let target_dir = metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("cargo metadata names no target directory"))?;
    let manifest = std::fs::canonicalize(dir.join("Cargo.toml")).context("the project's Cargo.toml")?;
    let packages = metadata["packages"].as_array().map(Vec::as_slice).unwrap_or_default();
    let package = packages
        .iter()
        .find(|p| p["manifest_path"].as_str().and_then(|m| std::fs::canonicalize(m).ok()).as_ref() == Some(&manifest))
        .ok_or_else(|| anyhow::anyhow!("{} has no [package]", manifest.display()))?;
    let targets = package["targets"].as_array().map(Vec::as_slice).unwrap_or_default();
    let lib = targets
        .iter()
        .find(|t| t["crate_types"].as_array().is_some_and(|c| c.iter().any(|c| c == "cdylib")))
        .and_then(|t| t["name"].as_str())
        .ok_or_else(|| {
            anyhow::anyhow!("{} has no cdylib library ([lib] crate-type = [\"cdylib\"])", manifest.display())
        })?;
    Ok((target_dir, lib.replace('-', "_")))
}

/// Builds the Python project in `dir` with componentize-py.
fn build_python(dir: &Path, python: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let marker = dir.join(MARKER);
    let text = std::fs::read_to_string(&marker).with_context(|| format!("cannot read {}", marker.display()))?;
    let setting = |key: &str| -> Option<String> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(key))
            .filter_map(|rest| rest.trim().strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_string())
            .next()
    };
    match setting("language").as_deref() {
        Some("python") => {}
        other => bail!(
            "{} says language = {}: weir build builds Python projects from it (language = \"python\")",
            marker.display(),
            other.unwrap_or("nothing")
        ),
    }
    let module = setting("module").ok_or_else(|| anyhow::anyhow!("{} names no module", marker.display()))?;
    if module.is_empty() || !module.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("{} names the module \"{module}\": a Python module name is letters, digits and '_'", marker.display());
    }
    let job = dir.join("src").join(format!("{module}.py"));
    if !job.is_file() {
        bail!("{} names the module {module}, but there is no {}", marker.display(), job.display());
    }
    for needed in ["weir/weir_sdk/stream.py", "weir/wit/world.wit"] {
        if !dir.join(needed).is_file() {
            bail!("{} has no {needed}: the SDK `weir new --lang python` writes under weir/", dir.display());
        }
    }

    let tool = componentize_py(dir, python)?;
    let out_dir = dir.join("target");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let component = out_dir.join(format!("{module}.wasm"));
    let partial = out_dir.join(format!("{module}.wasm.tmp"));
    eprintln!("weir build: {} componentize {module}", tool.display());
    let status = Command::new(&tool)
        .args(["-d", "weir/wit", "-w", "job", "componentize", "-p", "weir", "-p", "src", &module, "-o"])
        .arg(format!("target/{module}.wasm.tmp"))
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", tool.display()))?;
    if !status.success() {
        let _ = std::fs::remove_file(&partial);
        bail!("componentize-py failed (its errors are above)");
    }
    std::fs::rename(&partial, &component)
        .with_context(|| format!("cannot move {} to {}", partial.display(), component.display()))?;
    let size = std::fs::metadata(&component).with_context(|| format!("cannot read {}", component.display()))?.len();
    // why: a file size shown with one decimal.
    #[allow(clippy::cast_precision_loss)]
    let mib = size as f64 / (1024.0 * 1024.0);
    println!("Built {} ({mib:.1} MiB)", relative_to_cwd(&std::path::absolute(&component)?).display());
    Ok(ExitCode::SUCCESS)
}

/// The componentize-py to build with: next to `--python` or `$WEIR_PYTHON`, else the project's
/// `.venv`, else on `PATH`; checked by running it.
fn componentize_py(dir: &Path, python: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let install = format!(
        "install it with `python3 -m venv .venv && .venv/bin/pip install componentize-py=={COMPONENTIZE_PY_VERSION}` \
         in the project (or give the Python whose environment has it with --python or $WEIR_PYTHON)"
    );
    let python = python.or_else(|| std::env::var_os("WEIR_PYTHON").filter(|p| !p.is_empty()).map(PathBuf::from));
    let tool = match python {
        Some(python) => {
            let bin = python.parent().unwrap_or(Path::new("."));
            let tool = std::path::absolute(bin.join("componentize-py"))?;
            if !tool.is_file() {
                bail!("no componentize-py next to {} ({} is missing): {install}", python.display(), tool.display());
            }
            tool
        }
        None => {
            let local = dir.join(".venv/bin/componentize-py");
            if local.is_file() { std::path::absolute(&local)? } else { PathBuf::from("componentize-py") }
        }
    };
    match Command::new(&tool).arg("--version").output() {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout);
            if !version.contains(COMPONENTIZE_PY_VERSION) {
                eprintln!(
                    "weir build: {} is {}; Weir's Python SDK is tested with componentize-py {COMPONENTIZE_PY_VERSION}",
                    tool.display(),
                    version.trim()
                );
            }
            Ok(tool)
        }
        Ok(out) => {
            bail!("{} --version failed ({}): {install}", tool.display(), String::from_utf8_lossy(&out.stderr).trim())
        }
        Err(error) => bail!("componentize-py not found ({}: {error}): {install}", tool.display()),
    }
}

/// `path` relative to the working directory when it is below it.
fn relative_to_cwd(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}
