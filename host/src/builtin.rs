//! The job components built with Weir: compiled from `guest-jobs/` for wasm32-wasip2 by the
//! build script, and the default job embedded in the binary.

use std::path::PathBuf;

/// The Click Event Count job, embedded so that `weir` runs the playground with nothing else.
pub const CLICK_EVENT_COUNT: &[u8] = include_bytes!(concat!(env!("WEIR_GUEST_DIR"), "/click_event_count.wasm"));

/// The hot-swap upgrade demo's components, embedded so that `weir playground` can offer them:
/// version 1.1 (swapped in place), version 2 (a graph change, redeployed) and a faulty version
/// (rolled back).
pub const UPGRADE_DEMOS: [(&str, &[u8]); 3] = [
    ("click_event_count_v1_1.wasm", include_bytes!(concat!(env!("WEIR_GUEST_DIR"), "/click_event_count_v1_1.wasm"))),
    ("click_event_count_v2.wasm", include_bytes!(concat!(env!("WEIR_GUEST_DIR"), "/click_event_count_v2.wasm"))),
    (
        "click_event_count_faulty.wasm",
        include_bytes!(concat!(env!("WEIR_GUEST_DIR"), "/click_event_count_faulty.wasm")),
    ),
];

/// The job `weir bench --state` measures keyed state with (`guest-jobs/testing/state-job`):
/// N keys, each rewritten with a value of a chosen size over and over.
pub const STATE_JOB: &[u8] = include_bytes!(concat!(env!("WEIR_GUEST_DIR"), "/state_job.wasm"));

/// The name by which commands accept the embedded job instead of a file.
pub const CLICK_EVENT_COUNT_NAME: &str = "click-event-count";

/// Where the build put the guest component `name` (for example `test_job`).
pub fn guest_path(name: &str) -> PathBuf {
    PathBuf::from(env!("WEIR_GUEST_DIR")).join(format!("{name}.wasm"))
}

/// The bytes of a job given on the command line: the embedded job by name, or a file.
pub fn read_job(spec: &str) -> std::io::Result<Vec<u8>> {
    if spec == CLICK_EVENT_COUNT_NAME {
        return Ok(CLICK_EVENT_COUNT.to_vec());
    }
    std::fs::read(spec).map_err(|e| std::io::Error::new(e.kind(), format!("cannot read job component '{spec}': {e}")))
}
