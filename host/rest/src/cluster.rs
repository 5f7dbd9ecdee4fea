//! The cluster: `/config`, `/overview`, `/taskmanagers`, `/jobmanager/config`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::{RestError, ok};
use weir_cluster::jobmanager::{ClusterState, JobManager, TaskManagerEntry};
use weir_core::execution::{JobStatus, now_ms};

/// The Flink REST version Weir answers as, so that Flink's clients accept it.
pub const FLINK_VERSION: &str = "1.16.0";

/// Weir's own version, where Flink reports its commit.
pub fn revision() -> String {
    format!("weir {}", env!("CARGO_PKG_VERSION"))
}

pub async fn config(State(jm): State<Arc<JobManager>>) -> Response {
    let refresh = jm.options.config.get_u64(weir_config::keys::WEB_REFRESH_INTERVAL, 3000).unwrap_or(3000);
    ok(json!({
        "refresh-interval": refresh,
        "timezone-name": "Coordinated Universal Time",
        "timezone-offset": 0,
        "flink-version": FLINK_VERSION,
        "flink-revision": revision(),
        "features": {"web-submit": true, "web-cancel": true, "web-rescale": true, "web-history": false},
    }))
}

pub async fn overview(State(jm): State<Arc<JobManager>>) -> Response {
    let state = jm.state();
    let slots_total: usize = state.taskmanagers.values().map(|t| t.slots.len()).sum();
    let slots_free: usize = state.taskmanagers.values().map(TaskManagerEntry::free_slots).sum();
    let count = |f: &dyn Fn(JobStatus) -> bool| state.jobs.values().filter(|j| f(j.record.status)).count();
    ok(json!({
        "taskmanagers": state.taskmanagers.len(),
        "slots-total": slots_total,
        "slots-available": slots_free,
        // Weir does not block TaskManagers (Flink's speculative execution does).
        "slots-free-and-blocked": 0,
        "taskmanagers-blocked": 0,
        "jobs-running": count(&|s| !s.is_globally_terminal()),
        "jobs-finished": count(&|s| s == JobStatus::Finished),
        "jobs-cancelled": count(&|s| s == JobStatus::Canceled),
        "jobs-failed": count(&|s| s == JobStatus::Failed),
        "flink-version": FLINK_VERSION,
        "flink-commit": revision(),
    }))
}

/// Configuration values whose keys look secret are masked, as Flink masks them.
fn masked(key: &str, value: &str) -> String {
    let k = key.to_ascii_lowercase();
    if ["password", "secret", "fs.azure.account.key", "apikey", "api-key", "auth-params", "token"]
        .iter()
        .any(|s| k.contains(s))
    {
        "******".into()
    } else {
        value.to_string()
    }
}

/// A command line with the values of secret-looking `-D key=value` options masked, as
/// `/jobmanager/config` masks them.
fn masked_arguments(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut after_d = false;
    args.into_iter()
        .map(|arg| {
            let dynamic = if after_d { Some(("", arg.as_str())) } else { arg.strip_prefix("-D").map(|kv| ("-D", kv)) };
            after_d = arg == "-D";
            match dynamic.and_then(|(prefix, kv)| kv.split_once('=').map(|(k, v)| (prefix, k, v))) {
                Some((prefix, key, value)) => format!("{prefix}{key}={}", masked(key, value)),
                None => arg,
            }
        })
        .collect()
}

pub async fn jobmanager_config(State(jm): State<Arc<JobManager>>) -> Response {
    let entries: Vec<Value> =
        jm.options.config.entries().map(|(k, v)| json!({"key": k, "value": masked(k, v)})).collect();
    ok(Value::Array(entries))
}

fn resource(slots: usize) -> Value {
    json!({
        "cpuCores": slots as f64,
        "taskHeapMemory": 0,
        "taskOffHeapMemory": 0,
        "managedMemory": 0,
        "networkMemory": 0,
        "extendedResources": {},
    })
}

fn taskmanager_info(tm: &TaskManagerEntry, assigned_tasks: usize) -> Value {
    let data_port: u16 = tm.data_address.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
    json!({
        "id": tm.id,
        "path": format!("weir://{}/taskmanager", tm.data_address),
        "dataPort": data_port,
        "jmxPort": -1,
        "timeSinceLastHeartbeat": tm.last_heartbeat_ms,
        "slotsNumber": tm.slots.len(),
        "freeSlots": tm.free_slots(),
        "assignedTasks": assigned_tasks,
        "blocked": false,
        "totalResource": resource(tm.slots.len()),
        "freeResource": resource(tm.free_slots()),
        "hardware": {
            "cpuCores": tm.hardware.cpu_cores,
            "physicalMemory": tm.hardware.physical_memory,
            "freeMemory": tm.hardware.free_memory,
            "managedMemory": 0,
        },
        "memoryConfiguration": {
            "frameworkHeap": 0, "taskHeap": 0, "frameworkOffHeap": 0, "taskOffHeap": 0, "networkMemory": 0,
            "managedMemory": 0, "jvmMetaspace": 0, "jvmOverhead": 0, "totalFlinkMemory": 0,
            "totalProcessMemory": tm.hardware.physical_memory,
        },
    })
}

pub async fn taskmanagers(State(jm): State<Arc<JobManager>>) -> Response {
    let state = jm.state();
    let tms: Vec<Value> =
        state.taskmanagers.values().map(|tm| taskmanager_info(tm, assigned(&state, &tm.id))).collect();
    ok(json!({ "taskmanagers": tms }))
}

pub async fn taskmanager(State(jm): State<Arc<JobManager>>, Path(id): Path<String>) -> Result<Response, RestError> {
    let state = jm.state();
    let tm =
        state.taskmanagers.get(&id).ok_or_else(|| RestError::not_found(format!("Could not find TaskManager {id}.")))?;
    let mut info = taskmanager_info(tm, assigned(&state, &tm.id));
    let allocated: Vec<Value> =
        tm.slots.iter().flatten().map(|job| json!({"jobId": job, "resource": resource(1)})).collect();
    info["allocatedSlots"] = Value::Array(allocated);
    info["metrics"] = json!({
        "heapUsed": 0, "heapCommitted": 0, "heapMax": 0, "nonHeapUsed": 0, "nonHeapCommitted": 0, "nonHeapMax": 0,
        "directCount": 0, "directUsed": 0, "directMax": 0, "mappedCount": 0, "mappedUsed": 0, "mappedMax": 0,
        "memorySegmentsAvailable": 0, "memorySegmentsTotal": 0, "nettyShuffleMemorySegmentsAvailable": 0,
        "nettyShuffleMemorySegmentsUsed": 0, "nettyShuffleMemorySegmentsTotal": 0, "nettyShuffleMemoryAvailable": 0,
        "nettyShuffleMemoryUsed": 0, "nettyShuffleMemoryTotal": 0, "garbageCollectors": [],
    });
    info["now"] = json!(now_ms());
    Ok(ok(info))
}

/// How many subtasks run (or are being deployed) on TaskManager `id`.
fn assigned(state: &ClusterState, id: &str) -> usize {
    state
        .jobs
        .values()
        .flat_map(|j| j.all_subtasks())
        .filter(|s| s.taskmanager.as_deref() == Some(id) && !s.state.is_terminal())
        .count()
}

/// Flink's `EnvironmentInfo` of this process: Weir has no JVM, so `jvm` describes the `weir`
/// process (its version, architecture and command line) and the class path is empty.
fn environment_json() -> Value {
    json!({
        "jvm": {
            "version": format!("{} (Rust, wasmtime)", revision()),
            "arch": std::env::consts::ARCH,
            "options": masked_arguments(std::env::args()),
        },
        "classpath": [],
    })
}

/// `GET /jobmanager/environment`.
pub async fn jobmanager_environment() -> Response {
    ok(environment_json())
}

/// `GET /jobs/:jobid/jobmanager/environment`: a job's JobManager is the cluster's.
pub async fn job_jobmanager_environment(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    known_job(&jm, &id)?;
    Ok(ok(environment_json()))
}

/// `GET /jobs/:jobid/jobmanager/config`: a job's JobManager is the cluster's.
pub async fn job_jobmanager_config(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    known_job(&jm, &id)?;
    Ok(jobmanager_config(State(jm)).await)
}

fn known_job(jm: &JobManager, id: &str) -> Result<(), RestError> {
    let id = super::jobs::job_id(id)?;
    if jm.state().jobs.contains_key(&id) { Ok(()) } else { Err(super::jobs::not_found(&id)) }
}

/// `GET /datasets`: Weir has no batch jobs, so no cluster data sets.
pub async fn datasets() -> Response {
    ok(json!({ "dataSets": [] }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_options_on_the_command_line_are_masked() {
        let args =
            ["weir", "jobmanager", "-Ds3.secret-key=abc", "-D", "rest.authentication.token=xyz", "-Drest.port=1"];
        let masked = masked_arguments(args.iter().map(|a| a.to_string()));
        assert_eq!(
            masked,
            ["weir", "jobmanager", "-Ds3.secret-key=******", "-D", "rest.authentication.token=******", "-Drest.port=1"]
        );
    }
}
