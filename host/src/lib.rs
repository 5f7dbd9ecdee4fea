//! Weir: a stream-processing cluster whose job logic is WebAssembly components.
//!
//! The modules follow Flink's vocabulary; `docs/ARCHITECTURE.md` maps them and follows a
//! record, a watermark and a job through them.
//!
//! - [`component`]: the WebAssembly host: compiling, caching, sandboxing and calling job
//!   components (the `weir:job` world in `wit/`).
//! - [`jobgraph`]: the job graph a component's plan becomes.
//! - [`minicluster`]: runs a job in one process.
//! - [`jobmanager`]: the JobManager: dispatcher, scheduler, resource manager, store.
//! - [`taskmanager`]: the TaskManager: registers slots, runs deployed subtasks.
//! - [`rest`]: Flink's REST API on the JobManager.
//! - [`task`]: one subtask on its thread: sources, guest operators, sinks.
//! - [`network`]: channels, partitioners, record writers and input gates.
//! - [`state`], [`timer`], [`metrics`]: host services guests import, each with its WIT side.
//! - [`watermark`]: event time at sources and across channels.
//! - [`checkpoint`]: barriers, snapshots on disk, savepoints and restore points.
//! - [`keygroup`]: Flink's key groups.
//! - [`execution`]: job and subtask states.
//! - [`rpc`]: the JobManager–TaskManager control channel.
//! - [`connector`]: Kafka, the datagen source, stdout and discard sinks.
//! - [`generator`]: the playground's click-event generator.
//! - [`config`]: Flink-style configuration files and overrides.
//! - [`broker`]: an embedded Kafka-protocol broker for the playground.
//! - [`cli`]: the `weir` command.

pub mod broker;
pub mod builtin;
pub mod checkpoint;
pub mod cli;
pub mod component;
pub mod config;
pub mod connector;
pub mod execution;
pub mod generator;
pub mod jobgraph;
pub mod jobmanager;
pub mod keygroup;
pub mod metrics;
pub mod minicluster;
pub mod network;
pub mod rest;
pub mod rpc;
pub mod state;
pub mod task;
pub mod taskmanager;
pub mod timer;
pub mod watermark;
