//! Builds the guest jobs in `guest-jobs/` for `wasm32-wasip2`, as wasmtime's own test programs
//! are built, so that `cargo build` is all a user types. The components land in the shared
//! target directory (`target/guest-jobs/`), and `WEIR_GUEST_DIR` tells the host where.
//!
//! A fresh machine often has the toolchain but not the wasm target: rustup installs the targets
//! listed in `rust-toolchain.toml` only when it installs the toolchain itself. So this script
//! checks for the target's standard library first and adds it with rustup when it is missing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.parent().expect("host/ is inside the workspace");
    let guests = root.join("guest-jobs");
    let wit = root.join("wit");
    for path in [&guests, &wit] {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    ensure_wasm_target();

    // target/<profile>/build/weir-<hash>/out -> target/
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| out_dir.ancestors().nth(4).unwrap_or(&root.join("target")).to_path_buf());
    let guest_target = target_dir.join("guest-jobs");

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--locked")
        .arg(format!("--target={TARGET}"))
        .arg("--workspace")
        .arg("--manifest-path")
        .arg(guests.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&guest_target)
        // The outer build's flags and wrappers are for the host target, not this one. Its
        // jobserver (CARGO_MAKEFLAGS, whose descriptors cargo lets this script inherit) stays:
        // the nested build then takes its jobs from the same pool, so the two builds together
        // never run more compilers than the cores cargo was given.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        // wasm SIMD (wasmtime compiles it by default) for the parsers' scans; see
        // docs/PERFORMANCE.md.
        .env("CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS", "-Ctarget-feature=+simd128");
    let status = cmd.status().expect("run cargo to build the guest jobs");
    if !status.success() {
        panic!("building the guest jobs for {TARGET} failed (the compiler's errors are above)");
    }
    let dir = guest_target.join(TARGET).join("release");
    assert!(
        Path::new(&dir).join("click_event_count.wasm").exists(),
        "the guest build produced no click_event_count.wasm"
    );
    println!("cargo:rustc-env=WEIR_GUEST_DIR={}", dir.display());
}

/// Makes sure the active toolchain has the wasm target's standard library, adding it with rustup
/// when it is missing; panics with what to install where that cannot be done.
fn ensure_wasm_target() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    if has_target_std(&rustc) {
        return;
    }
    // rustup sets RUSTUP_TOOLCHAIN for the processes it starts: the toolchain this build uses.
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").ok();
    let Some(rustup) = find_rustup() else {
        panic!(
            "the {TARGET} standard library is missing and rustup is not installed, so it cannot be \
             added here. Install it for this compiler ({}): with rustup, `rustup target add {TARGET}`; \
             otherwise your distribution's rust-std package for {TARGET}, or a toolchain from \
             rustup (https://rustup.rs), which then installs the target by itself.",
            rustc.to_string_lossy()
        );
    };
    let which = toolchain.as_deref().unwrap_or("the active toolchain");
    let line = format!("the {TARGET} target is missing from {which}: running `rustup target add {TARGET}`");
    eprintln!("weir build: {line}");
    println!("cargo:warning={line}");
    let mut cmd = Command::new(&rustup);
    cmd.args(["target", "add", TARGET]);
    if let Some(toolchain) = &toolchain {
        cmd.args(["--toolchain", toolchain]);
    }
    let status = cmd.status().expect("run rustup");
    if !status.success() || !has_target_std(&rustc) {
        panic!(
            "`rustup target add {TARGET}` for {which} failed (its output is above); run it by hand, \
             then build again"
        );
    }
}

/// Whether `rustc`'s sysroot holds the wasm target's standard library.
fn has_target_std(rustc: &OsString) -> bool {
    let out = Command::new(rustc).args(["--print", "target-libdir", "--target", TARGET]).output();
    match out {
        Ok(out) if out.status.success() => {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            std::fs::read_dir(&dir).is_ok_and(|mut entries| {
                entries.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
            })
        }
        _ => false,
    }
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
