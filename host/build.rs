//! Builds the guest jobs in `guest-jobs/` for `wasm32-wasip2`, as wasmtime's own test programs
//! are built, so that `cargo build` is all a user types. The components land in the shared
//! target directory (`target/guest-jobs/`), and `WEIR_GUEST_DIR` tells the host where.
//!
//! A fresh machine often has the toolchain but not the wasm target: rustup installs the targets
//! listed in `rust-toolchain.toml` only when it installs the toolchain itself. So this script
//! checks for the target's standard library first and adds it with rustup when it is missing.
//!
//! It also embeds, for `weir new`, the files a job project needs from this repository (the SDK
//! crates, the WIT world, the guest workspace's lock file): see `embed_project_files`.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "src/cli/wasm_target.rs"]
mod wasm_target;

use wasm_target::TARGET;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.parent().expect("host/ is inside the workspace");
    let guests = root.join("guest-jobs");
    let wit = root.join("wit");
    for path in [&guests, &wit] {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    embed_project_files(root, &out_dir);

    ensure_wasm_target(root);

    // target/<profile>/build/weir-<hash>/out -> target/
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
/// when it is missing (`wasm_target::ensure`, which `weir build` uses too); panics with what to
/// install where that cannot be done.
fn ensure_wasm_target(root: &Path) {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    // rustup sets RUSTUP_TOOLCHAIN for the processes it starts: the toolchain this build uses.
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").ok();
    let announce = |line: &str| {
        eprintln!("weir build: {line}");
        println!("cargo:warning={line}");
    };
    if let Err(error) = wasm_target::ensure(&rustc, root, toolchain.as_deref(), announce) {
        panic!("{error}");
    }
}

/// Writes `$OUT_DIR/project_files.rs`: every file `weir new` copies into a job project (the SDK
/// crates, the WIT world, the guest workspace's manifest and lock file, the toolchain file; the
/// Python SDK's package `guest-jobs/python/weir_sdk`), as
/// `(path in the repository, include_bytes!(…))`, sorted by path.
fn embed_project_files(root: &Path, out_dir: &Path) {
    let mut files = Vec::new();
    let mut crates = vec!["sdk".to_string()];
    sdk_path_dependencies(&root.join("guest-jobs"), &mut crates);
    for dir in crates.iter().map(|c| format!("guest-jobs/{c}")).chain(["wit".to_string()]) {
        collect_files(root, &root.join(dir), &mut files);
    }
    // The Python SDK, for `weir new --lang python`.
    collect_files(root, &root.join("guest-jobs/python/weir_sdk"), &mut files);
    for file in ["guest-jobs/Cargo.toml", "guest-jobs/Cargo.lock", "rust-toolchain.toml"] {
        files.push(file.to_string());
    }
    files.sort();
    let mut code = String::from(
        "/// The files `weir new` copies: (path in the Weir repository, contents), sorted by path.\n\
         pub(crate) static FILES: &[(&str, &[u8])] = &[\n",
    );
    for file in &files {
        let path = root.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let path = path.to_str().expect("the repository's paths are UTF-8");
        code.push_str(&format!("    ({file:?}, include_bytes!({path:?})),\n"));
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("project_files.rs"), code).expect("write project_files.rs");
}

/// Adds to `crates` (directories under `guest`, starting with the SDK's) every crate of the guest
/// workspace their `[dependencies]` reach by path (`x.workspace = true` where the workspace's `x`
/// has a `path`), transitively: what the SDK needs to build outside the workspace.
fn sdk_path_dependencies(guest: &Path, crates: &mut Vec<String>) {
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let workspace = read(&guest.join("Cargo.toml"));
    let mut paths = std::collections::BTreeMap::new();
    let mut section = "";
    for line in workspace.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[workspace.dependencies]"
            && let Some((name, value)) = line.split_once('=')
            && let Some(path) = value.split("path = \"").nth(1).and_then(|p| p.split('"').next())
        {
            paths.insert(name.trim().to_string(), path.to_string());
        }
    }
    let mut next = 0;
    while next < crates.len() {
        let manifest = read(&guest.join(&crates[next]).join("Cargo.toml"));
        next += 1;
        let mut section = "";
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line;
                continue;
            }
            let dependencies = section == "[dependencies]" || section == "[build-dependencies]";
            let Some((name, value)) = line.split_once('=') else { continue };
            if !dependencies {
                continue;
            }
            let name = name.trim().trim_end_matches(".workspace");
            // A path given in the member itself, relative to it.
            if let Some(path) = value.split("path = \"").nth(1).and_then(|p| p.split('"').next()) {
                let dir = guest.join(&crates[next - 1]).join(path);
                let inside = std::fs::canonicalize(&dir)
                    .ok()
                    .zip(std::fs::canonicalize(guest).ok())
                    .and_then(|(dir, guest)| dir.strip_prefix(&guest).ok().map(|d| d.to_string_lossy().into_owned()));
                match inside {
                    Some(dir) if !crates.contains(&dir) => crates.push(dir),
                    Some(_) => {}
                    None => println!("cargo:warning=weir new cannot carry {}: outside guest-jobs/", dir.display()),
                }
                continue;
            }
            if !(line.contains(".workspace") || value.contains("workspace = true")) {
                continue;
            }
            if let Some(path) = paths.get(name)
                && !crates.contains(path)
            {
                crates.push(path.clone());
            }
        }
    }
}

/// Adds the files under `dir` (but not `target/`, `__pycache__/` or hidden ones), as paths
/// relative to `root`.
fn collect_files(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" || name == "__pycache__" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, files);
        } else {
            let relative = path.strip_prefix(root).expect("under the root");
            files.push(relative.to_str().expect("the repository's paths are UTF-8").to_string());
        }
    }
}
