//! The `weir` command: the thin top of Weir's crates (see `docs/ARCHITECTURE.md`).
//!
//! - [`cli`]: the subcommands, each wiring the crates below into one process: the playground, a
//!   JobManager, a TaskManager, local runs, the generator, benchmarks and Flink's CLI.
//! - [`builtin`]: the job components this binary ships (built from `guest-jobs/` by the build
//!   script).

pub mod builtin;
pub mod cli;
