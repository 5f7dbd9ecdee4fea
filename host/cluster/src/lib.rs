//! The session cluster: a JobManager that accepts, schedules, checkpoints and upgrades jobs, and
//! TaskManagers that run their subtasks, talking over one RPC channel.
//!
//! - [`jobmanager`]: dispatcher, scheduler, resource manager, checkpoint coordinator, upgrades
//!   and the store that survives restarts.
//! - [`taskmanager`]: registers slots, deploys subtasks, serves their data channels.
//! - [`rpc`]: the JobManager–TaskManager messages and their framing.
//! - [`logs`]: the process's rotated log files, listed and read back by name.
//! - [`thread_dump`]: the process's threads, their states and kernel stacks.

pub mod jobmanager;
pub mod logs;
pub mod rpc;
pub mod taskmanager;
pub mod thread_dump;
