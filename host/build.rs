//! Builds the guest jobs in `guest-jobs/` for `wasm32-wasip2`, as wasmtime's own test programs
//! are built, so that `cargo build` is all a user types. The components land in the shared
//! target directory (`target/guest-jobs/`), and `WEIR_GUEST_DIR` tells the host where.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.parent().expect("host/ is inside the workspace");
    let guests = root.join("guest-jobs");
    let wit = root.join("wit");
    for path in [&guests, &wit] {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

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
        .arg("--target=wasm32-wasip2")
        .arg("--workspace")
        .arg("--manifest-path")
        .arg(guests.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&guest_target)
        // The outer build's flags and jobserver are for the host target, not this one.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER");
    let status = cmd.status().expect("run cargo to build the guest jobs");
    if !status.success() {
        panic!(
            "building the guest jobs for wasm32-wasip2 failed (is the target installed? rust-toolchain.toml asks rustup for it)"
        );
    }
    let dir = guest_target.join("wasm32-wasip2").join("release");
    assert!(
        Path::new(&dir).join("click_event_count.wasm").exists(),
        "the guest build produced no click_event_count.wasm"
    );
    println!("cargo:rustc-env=WEIR_GUEST_DIR={}", dir.display());
}
