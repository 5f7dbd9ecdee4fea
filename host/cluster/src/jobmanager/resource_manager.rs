//! The TaskManagers the JobManager knows: registration, heartbeats, slots, and what happens
//! when one goes quiet (Flink's ResourceManager and heartbeat services).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::Sender;

use super::JobManager;
use crate::rpc::{Hardware, TaskReport, ToTaskManager};
use weir_config::keys;
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
    outbox: Sender<ToTaskManager>,
    /// Its outbox filled up (it does not read what it is sent): it is removed.
    overflowed: AtomicBool,
    /// The components (by hash) a deployment or upgrade sent here named: the only ones it may fetch.
    sent_components: Mutex<BTreeSet<String>>,
}

impl TaskManagerEntry {
    /// How many of its slots hold no job.
    pub fn free_slots(&self) -> usize {
        self.slots.iter().filter(|s| s.is_none()).count()
    }

    /// Sends a message; a closed connection is noticed by its reader, so that failure is
    /// ignored. A full outbox (a TaskManager that does not read) marks it for removal.
    pub fn send(&self, message: ToTaskManager) {
        match &message {
            ToTaskManager::Deploy(d) => self.note_components(d.vertex_components.iter().cloned()),
            ToTaskManager::PrepareUpgrade { component, .. } => self.note_components([component.clone()]),
            _ => {}
        }
        if let Err(tokio::sync::mpsc::error::TrySendError::Full(_)) = self.outbox.try_send(message)
            && !self.overflowed.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(id = self.id, limit = OUTBOX, "a TaskManager does not read its messages: it is removed");
        }
    }

    fn note_components(&self, hashes: impl IntoIterator<Item = String>) {
        let mut sent = self.sent_components.lock().unwrap_or_else(|e| e.into_inner());
        for hash in hashes {
            if sent.len() < MAX_SENT_COMPONENTS {
                sent.insert(hash);
            }
        }
    }

    /// Whether a deployment or upgrade sent here named the component `hash`.
    pub fn was_sent(&self, hash: &str) -> bool {
        self.sent_components.lock().unwrap_or_else(|e| e.into_inner()).contains(hash)
    }

    /// Whether this entry is the registration of the connection with `outbox`.
    pub fn is_connection(&self, outbox: &Sender<ToTaskManager>) -> bool {
        self.outbox.same_channel(outbox)
    }
}

/// How many messages may wait for one TaskManager; beyond, it is removed as unresponsive.
pub const OUTBOX: usize = 1024;
/// How many component hashes one TaskManager's entry remembers as sent to it.
const MAX_SENT_COMPONENTS: usize = 4096;
/// How many metrics a heartbeat may report per task, or for the TaskManager itself; the rest
/// are dropped.
const MAX_METRICS: usize = 4096;
/// The longest metric name a heartbeat may report, in bytes; longer ones are dropped.
const MAX_METRIC_NAME: usize = 1024;

/// A heartbeat's metrics, bounded in count and name length.
fn bounded(metrics: Vec<(String, f64)>) -> Vec<(String, f64)> {
    metrics.into_iter().filter(|(n, _)| n.len() <= MAX_METRIC_NAME).take(MAX_METRICS).collect()
}

impl JobManager {
    /// A TaskManager registers with its slots; waiting jobs may now be deployed.
    pub fn register_taskmanager(
        &self,
        id: String,
        data_address: String,
        slots: u32,
        hardware: Hardware,
        outbox: Sender<ToTaskManager>,
    ) -> Result<(), String> {
        let max_slots = self.options.config.get_u64(keys::JOBMANAGER_MAX_SLOTS_PER_TASKMANAGER, 1024).unwrap_or(1024);
        let max_slots = u32::try_from(max_slots).unwrap_or(u32::MAX);
        crate::rpc::check_registration(&id, &data_address, slots, max_slots)?;
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
                    slots: vec![None; usize::try_from(slots).map_err(|e| e.to_string())?],
                    metrics: Vec::new(),
                    outbox,
                    overflowed: AtomicBool::new(false),
                    sent_components: Mutex::new(BTreeSet::new()),
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
            tm.metrics = bounded(metrics);
        }
        // Only reports of subtasks this TaskManager runs count.
        for report in tasks {
            if let Some(subtask) = state
                .jobs
                .get_mut(&report.job)
                .and_then(|j| j.subtasks.get_mut(report.vertex))
                .and_then(|v| v.get_mut(usize::try_from(report.subtask).unwrap_or(usize::MAX)))
                .filter(|s| s.attempt == report.attempt && s.taskmanager.as_deref() == Some(id))
            {
                subtask.metrics = bounded(report.metrics);
            }
        }
    }

    /// Whether `id` is registered through the connection with `outbox`.
    pub fn is_registered(&self, id: &str, outbox: &Sender<ToTaskManager>) -> bool {
        self.state().taskmanagers.get(id).is_some_and(|tm| tm.is_connection(outbox))
    }

    /// Whether TaskManager `tm` runs subtask `subtask` of vertex `vertex` of `job` (indexes
    /// looked up, never trusted): only then does what it reports about that subtask count.
    pub fn runs_subtask(&self, tm: &str, job: &str, vertex: usize, subtask: u32) -> bool {
        let state = self.state();
        state
            .jobs
            .get(job)
            .and_then(|j| j.subtasks.get(vertex))
            .and_then(|v| v.get(usize::try_from(subtask).ok()?))
            .is_some_and(|s| s.taskmanager.as_deref() == Some(tm))
    }

    /// Whether TaskManager `tm` holds a slot of `job`, or runs one of its subtasks.
    pub fn runs_job(&self, tm: &str, job: &str) -> bool {
        let state = self.state();
        state.jobs.get(job).is_some_and(|j| {
            j.slots.iter().any(|t| t == tm) || j.all_subtasks().any(|s| s.taskmanager.as_deref() == Some(tm))
        })
    }

    /// A TaskManager is gone (its heartbeats stopped): its slots are gone, and so are the tasks
    /// it ran. Should its process still be there (paused, not dead), it is told so, and it
    /// cancels those tasks and registers again.
    pub fn taskmanager_lost(&self, id: &str, reason: &str) {
        self.remove_taskmanager(id, None, reason);
    }

    /// The connection that registered `id` closed. Only that connection's registration is
    /// removed: the same TaskManager may already have registered again on a new one.
    pub fn connection_closed(&self, id: &str, connection: &Sender<ToTaskManager>, reason: &str) {
        self.remove_taskmanager(id, Some(connection), reason);
    }

    fn remove_taskmanager(&self, id: &str, connection: Option<&Sender<ToTaskManager>>, reason: &str) {
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
        let expired: Vec<(String, bool)> = {
            let state = jm.state();
            state
                .taskmanagers
                .values()
                .filter(|tm| tm.last_heartbeat.elapsed() > timeout || tm.overflowed.load(Ordering::Relaxed))
                .map(|tm| (tm.id.clone(), tm.overflowed.load(Ordering::Relaxed)))
                .collect()
        };
        for (id, overflowed) in expired {
            let reason = if overflowed {
                format!("TaskManager with id {id} did not read its messages ({OUTBOX} waiting).")
            } else {
                format!("Heartbeat of TaskManager with id {id} timed out.")
            };
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
