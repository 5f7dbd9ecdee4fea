//! The TaskManagers the JobManager knows: registration, heartbeats, slots, and what happens
//! when one goes quiet (Flink's ResourceManager and heartbeat services).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::JobManager;
use crate::rpc::{Hardware, TaskReport, ToTaskManager};
use weir_core::execution::now_ms;
use weir_core::jobgraph::Id;

/// A registered TaskManager.
#[derive(Debug)]
pub struct TaskManagerEntry {
    /// The TaskManager's resource ID.
    pub id: String,
    /// Where other TaskManagers reach its data server (`host:port`).
    pub data_address: String,
    /// Its machine, as of its last heartbeat.
    pub hardware: Hardware,
    /// When it registered (ms since the epoch).
    pub registered: i64,
    /// When the last heartbeat arrived (ms since the epoch), as Flink reports it.
    pub last_heartbeat_ms: i64,
    last_heartbeat: Instant,
    /// What each slot holds: the job using it, if any.
    pub slots: Vec<Option<Id>>,
    /// The TaskManager's own metrics (process, WASM instances), as of its last heartbeat.
    pub metrics: Vec<(String, f64)>,
    outbox: UnboundedSender<ToTaskManager>,
}

impl TaskManagerEntry {
    /// How many of its slots hold no job.
    pub fn free_slots(&self) -> usize {
        self.slots.iter().filter(|s| s.is_none()).count()
    }

    /// Sends a message; a closed connection is noticed by its reader, so failures are ignored.
    pub fn send(&self, message: ToTaskManager) {
        let _ = self.outbox.send(message);
    }
}

impl JobManager {
    /// A TaskManager registers with its slots; waiting jobs may now be deployed.
    pub fn register_taskmanager(
        &self,
        id: String,
        data_address: String,
        slots: u32,
        hardware: Hardware,
        outbox: UnboundedSender<ToTaskManager>,
    ) -> Result<(), String> {
        if slots == 0 {
            return Err("a TaskManager needs at least one slot".into());
        }
        {
            let mut state = self.state();
            if state.taskmanagers.contains_key(&id) {
                return Err(format!("a TaskManager with id {id} is already registered"));
            }
            let now = now_ms();
            tracing::info!(id, slots, data_address, "TaskManager registered");
            state.taskmanagers.insert(
                id.clone(),
                TaskManagerEntry {
                    id,
                    data_address,
                    hardware,
                    registered: now,
                    last_heartbeat_ms: now,
                    last_heartbeat: Instant::now(),
                    slots: vec![None; slots as usize],
                    metrics: Vec::new(),
                    outbox,
                },
            );
        }
        self.schedule();
        Ok(())
    }

    /// A heartbeat: the TaskManager lives, and here are its tasks' metrics (and its own).
    pub fn heartbeat(&self, id: &str, tasks: Vec<TaskReport>, hardware: Hardware, metrics: Option<Vec<(String, f64)>>) {
        let mut state = self.state();
        let Some(tm) = state.taskmanagers.get_mut(id) else { return };
        tm.last_heartbeat = Instant::now();
        tm.last_heartbeat_ms = now_ms();
        tm.hardware = hardware;
        if let Some(metrics) = metrics {
            tm.metrics = metrics;
        }
        for report in tasks {
            if let Some(subtask) = state
                .jobs
                .get_mut(&report.job)
                .and_then(|j| j.subtasks.get_mut(report.vertex))
                .and_then(|v| v.get_mut(report.subtask as usize))
                .filter(|s| s.attempt == report.attempt)
            {
                subtask.metrics = report.metrics;
            }
        }
    }

    /// A TaskManager is gone (its heartbeats stopped): its slots are gone, and so are the tasks
    /// it ran. Should its process still be there (paused, not dead), it is told so, and it
    /// cancels those tasks and registers again.
    pub fn taskmanager_lost(&self, id: &str, reason: &str) {
        self.remove_taskmanager(id, None, reason);
    }

    /// The connection that registered `id` closed. Only that connection's registration is
    /// removed: the same TaskManager may already have registered again on a new one.
    pub fn connection_closed(&self, id: &str, connection: &UnboundedSender<ToTaskManager>, reason: &str) {
        self.remove_taskmanager(id, Some(connection), reason);
    }

    fn remove_taskmanager(&self, id: &str, connection: Option<&UnboundedSender<ToTaskManager>>, reason: &str) {
        let removed = {
            let mut state = self.state();
            let ours =
                state.taskmanagers.get(id).is_some_and(|tm| connection.is_none_or(|c| tm.outbox.same_channel(c)));
            if ours { state.taskmanagers.remove(id) } else { None }
        };
        let Some(tm) = removed else { return };
        tracing::warn!(id, reason, "TaskManager removed");
        tm.send(ToTaskManager::Disconnect { reason: reason.to_string() });
        let jobs: Vec<Id> =
            tm.slots.iter().flatten().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        for job in jobs {
            self.fail_job_tasks_on(&job, id, &tm.data_address, reason);
        }
    }
}

/// Removes TaskManagers whose heartbeats stopped for longer than the timeout.
pub async fn monitor_heartbeats(jm: Arc<JobManager>) {
    let timeout = jm.options.heartbeat_timeout;
    let mut ticker = tokio::time::interval(Duration::from_millis(250).min(timeout / 4));
    loop {
        ticker.tick().await;
        let expired: Vec<String> = {
            let state = jm.state();
            state
                .taskmanagers
                .values()
                .filter(|tm| tm.last_heartbeat.elapsed() > timeout)
                .map(|tm| tm.id.clone())
                .collect()
        };
        for id in expired {
            let reason = format!("Heartbeat of TaskManager with id {id} timed out.");
            jm.taskmanager_lost(&id, &reason);
        }
    }
}

/// Free slots by TaskManager, in registration order.
pub(super) fn free_slots(taskmanagers: &std::collections::BTreeMap<String, TaskManagerEntry>) -> Vec<(String, usize)> {
    let mut tms: Vec<&TaskManagerEntry> = taskmanagers.values().collect();
    tms.sort_by_key(|tm| (tm.registered, tm.id.clone()));
    let mut free = Vec::new();
    for tm in tms {
        for (i, slot) in tm.slots.iter().enumerate() {
            if slot.is_none() {
                free.push((tm.id.clone(), i));
            }
        }
    }
    free
}

/// Frees the slots `job` holds.
pub(super) fn release_slots(taskmanagers: &mut std::collections::BTreeMap<String, TaskManagerEntry>, job: &str) {
    for tm in taskmanagers.values_mut() {
        for slot in tm.slots.iter_mut() {
            if slot.as_deref() == Some(job) {
                *slot = None;
            }
        }
    }
}

/// The data addresses of TaskManagers, by id.
pub(super) fn data_addresses(
    taskmanagers: &std::collections::BTreeMap<String, TaskManagerEntry>,
) -> HashMap<String, String> {
    taskmanagers.values().map(|tm| (tm.id.clone(), tm.data_address.clone())).collect()
}
