//! Running subtasks: each on its own thread, its operator a source, a guest function or a sink.
//!
//! - [`task`]: one subtask (Flink's `StreamTask`): sources, guest operators, sinks, upgrades.
//! - [`launcher`]: the one place a subtask's thread is started and its end classified, for
//!   local runs and TaskManagers alike.
//! - [`minicluster`]: a whole job in one process (`weir run-local`, `weir bench`).

pub mod launcher;
pub mod minicluster;
pub mod task;
