//! Weir's engine types, free of WebAssembly and Kafka: what every other crate speaks.
//!
//! - [`keygroup`]: Flink's key groups.
//! - [`execution`]: job and subtask states.
//! - [`jobgraph`]: the job graph a component's plan becomes.
//! - [`checkpoint`]: barriers, snapshots on disk, savepoints and restore points.
//! - [`filesystem`]: file systems by URI scheme (local files; `s3://` registered by the binary).
//! - [`framing`]: length-prefixed frames with checked lengths and limits (RPC, data exchange,
//!   state files).
//! - [`watermark`]: event time at sources and across channels.
//! - [`state`]: keyed state and the state backend (sled).
//! - [`timer`]: event- and processing-time timers.
//! - [`metrics`]: task, operator and process metrics, named as Flink names them.
//! - [`cancel`]: cancellation shared by a job's threads.
//! - [`threads`]: full names of named threads, for thread dumps.
//! - [`text`]: message text cut at a character boundary.

pub mod cancel;
pub mod checkpoint;
pub mod execution;
pub mod filesystem;
pub mod framing;
pub mod jobgraph;
pub mod keygroup;
pub mod metrics;
pub mod state;
pub mod text;
pub mod threads;
pub mod timer;
pub mod watermark;
