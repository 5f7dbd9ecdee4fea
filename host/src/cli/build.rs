//! `weir build [<dir>]`: builds a job project (one `weir new` made, or any cargo package with a
//! `cdylib`) into a component: `cargo build --release --target wasm32-wasip2`, the target added
//! with rustup first when the toolchain lacks it. Prints the component's path and size.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

use super::wasm_target::{self, TARGET};

#[derive(clap::Args)]
pub struct Args {
    /// The project's directory (with its Cargo.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = args.dir;
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("{} has no Cargo.toml: weir build builds a job project (make one with `weir new <dir>`)", dir.display());
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

/// `path` relative to the working directory when it is below it.
fn relative_to_cwd(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}
