//! Making sure a toolchain can build for `wasm32-wasip2`: its standard library for the target is
//! there, or rustup adds it.
//!
//! One copy for two callers: the host's build script (`host/build.rs` includes this file with
//! `#[path]`), which builds the repository's guest jobs, and `weir build`, which builds a job
//! project made by `weir new`. Neither panics here; each says what failed its own way.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target guest components are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Makes sure `rustc` (run in `dir`, so that rustup picks the toolchain a `rust-toolchain.toml`
/// there names) has the [`TARGET`] standard library, adding it with rustup when it is missing.
/// `toolchain` is the toolchain to check and add it to (rustup's `RUSTUP_TOOLCHAIN`), `None` for
/// the one rustup picks in `dir`; `announce` is told before rustup runs. The error says what to install.
pub fn ensure(rustc: &OsStr, dir: &Path, toolchain: Option<&str>, announce: impl FnOnce(&str)) -> Result<(), String> {
    if has_target_std(rustc, dir, toolchain)? {
        return Ok(());
    }
    let Some(rustup) = find_rustup() else {
        return Err(format!(
            "the {TARGET} standard library is missing and rustup is not installed, so it cannot be \
             added here. Install it for this compiler ({}): with rustup, `rustup target add {TARGET}`; \
             otherwise your distribution's rust-std package for {TARGET}, or a toolchain from \
             rustup (https://rustup.rs), which then installs the target by itself.",
            rustc.to_string_lossy()
        ));
    };
    let which = toolchain.unwrap_or("the active toolchain");
    announce(&format!("the {TARGET} target is missing from {which}: running `rustup target add {TARGET}`"));
    let mut cmd = Command::new(&rustup);
    cmd.args(["target", "add", TARGET]).current_dir(dir).env_remove("RUSTUP_TOOLCHAIN");
    if let Some(toolchain) = toolchain {
        cmd.args(["--toolchain", toolchain]);
    }
    let ran = cmd.status().map_err(|e| format!("cannot run {}: {e}", rustup.display()))?;
    if !ran.success() || !has_target_std(rustc, dir, toolchain)? {
        return Err(format!(
            "`rustup target add {TARGET}` for {which} failed (its output is above); run it by hand, \
             then build again"
        ));
    }
    Ok(())
}

/// Whether `rustc`'s sysroot holds the wasm target's standard library; an error when there is
/// no `rustc` to ask.
fn has_target_std(rustc: &OsStr, dir: &Path, toolchain: Option<&str>) -> Result<bool, String> {
    let mut cmd = Command::new(rustc);
    cmd.args(["--print", "target-libdir", "--target", TARGET]).current_dir(dir);
    match toolchain {
        Some(toolchain) => cmd.env("RUSTUP_TOOLCHAIN", toolchain),
        None => cmd.env_remove("RUSTUP_TOOLCHAIN"),
    };
    let out = cmd.output().map_err(|e| {
        format!("cannot run {} ({e}): install Rust (https://rustup.rs) or put it on PATH", rustc.to_string_lossy())
    })?;
    if !out.status.success() {
        return Ok(false);
    }
    let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Ok(std::fs::read_dir(&libdir).is_ok_and(|mut entries| {
        entries.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
    }))
}

/// rustup on PATH or in CARGO_HOME (or ~/.cargo) /bin.
fn find_rustup() -> Option<PathBuf> {
    let exe = format!("rustup{}", std::env::consts::EXE_SUFFIX);
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo").join("bin"));
    }
    dirs.into_iter().map(|d| d.join(&exe)).find(|p| p.is_file())
}
