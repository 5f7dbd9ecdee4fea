//! What the harness's test files share: the guest components the host's build script built.

use std::path::PathBuf;

/// Where the host's build script (host/build.rs) puts the guest components:
/// `<target>/guest-jobs/wasm32-wasip2/release`, or `$WEIR_GUEST_DIR` when set.
fn guest_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WEIR_GUEST_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("guest-jobs/wasm32-wasip2/release")
}

/// The bytes of the built guest component `name` (for example `word_count`).
pub fn component(name: &str) -> Vec<u8> {
    let path = guest_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("cannot read {} ({e}): build the guest components first (`cargo build -p weir`)", path.display())
    })
}
