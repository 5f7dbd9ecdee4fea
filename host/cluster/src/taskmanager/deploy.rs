//! Deploying a job's subtasks on this TaskManager: load the component, wire the channels
//! (local ones in memory, remote ones through the data server), start a thread per subtask
//! and report each one's state to the JobManager.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::{RunningJob, RunningTask, Shared};
use crate::rpc::{Deployment, TaskReport, ToJobManager};
use weir_core::cancel::CancelToken;
use weir_core::checkpoint::SubtaskSnapshot;
use weir_core::execution::ExecutionState;
use weir_core::jobgraph::Id;
use weir_core::metrics::TaskMetrics;
use weir_network::remote::spawn_sender;
use weir_network::wiring::wire;
use weir_runtime::launcher::{self, Ending};
use weir_runtime::task::{TaskContext, TaskListener, TaskResources};
use weir_wasm::JobComponent;
use weir_wasm::cache::content_hash;

/// The longest failure text a report carries. A guest's part is cut to
/// `weir.guest.max-failure-message-size` already; this bounds the rest (JSON may escape a byte
/// into six), so that a failure always fits the RPC frame and reaches the JobManager, cut
/// rather than lost.
const REPORTED_FAILURE_BYTES: usize = 1 << 20;

/// `failure` cut to what a report carries.
fn bounded(failure: String) -> String {
    weir_wasm::caps::cut(failure, REPORTED_FAILURE_BYTES, weir_config::keys::GUEST_MAX_FAILURE_MESSAGE_SIZE)
}

/// Tells the JobManager when a task starts running.
struct Reporter {
    outbox: UnboundedSender<ToJobManager>,
    /// The checkpoint locations the JobManager announced, which barriers must name.
    locations: Arc<super::CheckpointLocations>,
    job: Id,
    vertex: usize,
    subtask: u32,
    attempt: u32,
}

impl Reporter {
    fn report(&self, state: ExecutionState, failure: Option<String>) {
        self.report_end(Ending { state, failure, consequence: false });
    }

    /// Reports a state with whether its failure only follows another task's.
    fn report_end(&self, ending: Ending) {
        let _ = self.outbox.send(ToJobManager::TaskState {
            job: self.job.clone(),
            vertex: self.vertex,
            subtask: self.subtask,
            attempt: self.attempt,
            state: ending.state,
            failure: ending.failure.map(bounded),
            consequence: ending.consequence,
        });
    }
}

impl Reporter {
    /// Sends the task's final metrics ahead of its final state: the JobManager keeps a
    /// finished job's numbers as of its end, not as of the heartbeat before.
    fn final_metrics(&self, metrics: &TaskMetrics) {
        let _ = self.outbox.send(ToJobManager::Heartbeat {
            tasks: vec![TaskReport {
                job: self.job.clone(),
                vertex: self.vertex,
                subtask: self.subtask,
                attempt: self.attempt,
                metrics: metrics.values(),
            }],
            hardware: crate::rpc::hardware(),
            metrics: None,
        });
    }
}

impl TaskListener for Reporter {
    fn running(&self) {
        self.report(ExecutionState::Running, None);
    }

    fn acknowledge(&self, checkpoint: u64, snapshot: SubtaskSnapshot) {
        let _ = self.outbox.send(ToJobManager::AcknowledgeCheckpoint {
            job: self.job.clone(),
            vertex: self.vertex,
            subtask: self.subtask,
            checkpoint,
            snapshot: Box::new(snapshot),
        });
    }

    fn check_location(&self, checkpoint: u64, location: &str) -> Result<(), String> {
        self.locations.check(&self.job, checkpoint, location)
    }

    fn decline(&self, checkpoint: u64, reason: String) {
        let reason = bounded(reason);
        let _ = self.outbox.send(ToJobManager::DeclineCheckpoint { job: self.job.clone(), checkpoint, reason });
    }

    fn swapped(&self, checkpoint: u64, failure: Option<String>) {
        let _ = self.outbox.send(ToJobManager::Swapped {
            job: self.job.clone(),
            vertex: self.vertex,
            subtask: self.subtask,
            attempt: self.attempt,
            checkpoint,
            failure: failure.map(bounded),
        });
    }
}

/// Starts this TaskManager's part of a job (blocking: loads the component).
pub(super) fn deploy(shared: &Arc<Shared>, deployment: Deployment, outbox: UnboundedSender<ToJobManager>) {
    let Deployment { graph, vertex_components, placement, local, attempt, restore } = deployment;
    let graph = Arc::new(graph);
    let job_id = graph.job_id.clone();
    let scope = format!("{job_id}@{attempt}");
    let restore = restore.map(Arc::new);
    let hosts = placement.hosts.clone();
    let host_of = move |v: usize, s: u32| hosts.get(v).and_then(|h| h.get(s as usize)).copied().unwrap_or(usize::MAX);
    let mut local_tasks: Vec<(usize, u32)> = Vec::new();
    for (v, vertex) in graph.vertices.iter().enumerate() {
        for s in 0..vertex.parallelism {
            if host_of(v, s) == local {
                local_tasks.push((v, s));
            }
        }
    }
    let fail_all = |message: String| {
        for (v, s) in &local_tasks {
            let locations = shared.locations.clone();
            let reporter =
                Reporter { outbox: outbox.clone(), locations, job: job_id.clone(), vertex: *v, subtask: *s, attempt };
            reporter.report(ExecutionState::Failed, Some(message.clone()));
        }
    };
    // Each component the tasks here run, loaded once (compiled or from the cache).
    let mut loaded: std::collections::BTreeMap<&str, JobComponent> = Default::default();
    for (v, _) in &local_tasks {
        let Some(hash) = vertex_components.get(*v) else {
            return fail_all(format!("the deployment names no component for vertex {v}"));
        };
        if loaded.contains_key(hash.as_str()) {
            continue;
        }
        match component(shared, hash, &outbox) {
            Ok(c) => loaded.insert(hash, c),
            Err(message) => return fail_all(format!("could not load the job component: {message}")),
        };
    }

    let cancel = CancelToken::new();
    let mut wiring = wire(&graph, &scope, &host_of, local, &placement.addresses);
    for input in wiring.remote_inputs.drain(..) {
        shared.data.registry().register(input.channel, input.sender);
    }
    for output in wiring.remote_outputs.drain(..) {
        if let Err(error) =
            spawn_sender(output.channel, output.address, output.receiver, shared.tls.clone(), cancel.clone())
        {
            return fail_all(format!("could not start a network thread: {error}"));
        }
    }

    let mut running = RunningJob { job: job_id.clone(), attempt, cancel: cancel.clone(), tasks: Vec::new() };
    let live = Arc::new(AtomicUsize::new(local_tasks.len()));
    let mut threads = Vec::new();
    for (v, s) in local_tasks {
        let metrics = Arc::new(TaskMetrics::default());
        let (commands, command_receiver) = crossbeam_channel::unbounded();
        let upgrade = Arc::new(weir_runtime::task::UpgradeMailbox::default());
        let sampler = Arc::new(weir_wasm::StackSampler::default());
        running.tasks.push(RunningTask {
            vertex: v,
            subtask: s,
            metrics: metrics.clone(),
            commands,
            upgrade: upgrade.clone(),
            sampler: sampler.clone(),
        });
        let reporter = Arc::new(Reporter {
            outbox: outbox.clone(),
            locations: shared.locations.clone(),
            job: job_id.clone(),
            vertex: v,
            subtask: s,
            attempt,
        });
        let ctx = TaskContext {
            job: graph.clone(),
            vertex: v,
            subtask: s,
            cancel: cancel.clone(),
            metrics,
            listener: reporter.clone(),
            attempt,
            commands: command_receiver,
            restore: restore.clone(),
            upgrade,
        };
        let io = wiring.tasks.remove(&(v, s)).unwrap_or_default();
        let component = loaded[vertex_components[v].as_str()].clone();
        let resources = TaskResources {
            runtime: shared.runtime.clone(),
            component,
            state: shared.state.clone(),
            sampler,
            incremental: shared.incremental,
        };
        threads.push((ctx, reporter, io, resources));
    }
    {
        // A cancel that arrived while the component loaded wins: nothing starts. The check and
        // the insert happen under the jobs lock, which the cancel handler takes too.
        let mut jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if shared.cancelled.lock().unwrap_or_else(|e| e.into_inner()).remove(&job_id) {
            drop(jobs);
            for (_, reporter, _, _) in &threads {
                reporter.report(ExecutionState::Canceled, None);
            }
            shared.data.registry().remove_job(&scope);
            cancel.cancel();
            return;
        }
        jobs.insert(scope.clone(), running);
    }
    tracing::info!(job = job_id, tasks = threads.len(), "deploying tasks");

    for (ctx, reporter, channels, resources) in threads {
        let task_shared = shared.clone();
        let task_live = live.clone();
        let task_reporter = reporter.clone();
        reporter.report(ExecutionState::Initializing, None);
        let launched = launcher::launch(ctx, resources, channels, move |ctx, ending| {
            task_reporter.final_metrics(&ctx.metrics);
            // The other tasks of the job here stopped with this one; the JobManager stops the rest.
            task_reporter.report_end(ending);
            if task_live.fetch_sub(1, Ordering::SeqCst) == 1 {
                finished(&task_shared, &ctx.state_scope());
            }
        });
        if let Err(error) = launched {
            cancel.cancel();
            reporter.report(ExecutionState::Failed, Some(format!("could not start the task thread: {error}")));
            if live.fetch_sub(1, Ordering::SeqCst) == 1 {
                finished(shared, &scope);
            }
        }
    }
}

/// Decodes and loads a component sent hex encoded (compiled, or from the cache).
/// How long a TaskManager waits for a component it asked the JobManager for.
const FETCH_WAIT: Duration = Duration::from_secs(120);

/// The job component of content `hash`: compiled here already (in memory, or in the disk cache
/// of compiled components), else fetched once from the JobManager, checked against its hash,
/// and compiled. Deployments and upgrades name components only by hash (Flink's BlobServer).
pub(super) fn component(
    shared: &Shared,
    hash: &str,
    outbox: &UnboundedSender<ToJobManager>,
) -> Result<JobComponent, String> {
    if let Some(component) = shared.components.lock().unwrap_or_else(|e| e.into_inner()).get(hash) {
        return Ok(component.clone());
    }
    let component = match JobComponent::load_compiled(&shared.runtime, &shared.cache, hash) {
        Some(loaded) => loaded.map_err(|e| e.to_string())?,
        None => {
            let bytes = fetch(shared, hash, outbox)?;
            JobComponent::load(&shared.runtime, &shared.cache, &bytes).map_err(|e| e.to_string())?
        }
    };
    shared.components.lock().unwrap_or_else(|e| e.into_inner()).insert(hash.to_string(), component.clone());
    Ok(component)
}

/// Asks the JobManager for the component of content `hash` (once, however many tasks wait for
/// it) and waits for its bytes.
fn fetch(shared: &Shared, hash: &str, outbox: &UnboundedSender<ToJobManager>) -> Result<Vec<u8>, String> {
    let started = Instant::now();
    let (answer, answered) = crossbeam_channel::bounded(1);
    let first = {
        let mut fetches = shared.fetches.lock().unwrap_or_else(|e| e.into_inner());
        let waiting = fetches.entry(hash.to_string()).or_default();
        waiting.push(answer);
        waiting.len() == 1
    };
    if first && outbox.send(ToJobManager::FetchComponent { hash: hash.to_string() }).is_err() {
        shared.fetches.lock().unwrap_or_else(|e| e.into_inner()).remove(hash);
        return Err("lost the JobManager while fetching the component".into());
    }
    let encoded = match answered.recv_timeout(FETCH_WAIT) {
        Ok(answer) => answer?,
        Err(_) => {
            shared.fetches.lock().unwrap_or_else(|e| e.into_inner()).remove(hash);
            return Err(format!("the JobManager did not send component {hash} within {} s", FETCH_WAIT.as_secs()));
        }
    };
    let bytes = hex::decode(&encoded).map_err(|e| format!("component {hash} from the JobManager is not hex: {e}"))?;
    verify(hash, &bytes)?;
    tracing::info!(hash = &hash[..12], size = bytes.len(), took = ?started.elapsed(), "fetched a component from the JobManager");
    Ok(bytes)
}

/// Refuses bytes whose content is not the hash asked for: a corrupt copy never runs.
fn verify(hash: &str, bytes: &[u8]) -> Result<(), String> {
    let actual = content_hash(bytes);
    if actual == hash {
        Ok(())
    } else {
        Err(format!("component {hash} fetched from the JobManager has content hash {actual}: refused"))
    }
}

/// The last task of a job's attempt here has ended: forget it and its state.
fn finished(shared: &Shared, scope: &str) {
    shared.jobs.lock().unwrap_or_else(|e| e.into_inner()).remove(scope);
    shared.data.registry().remove_job(scope);
    if let Err(error) = shared.state.drop_job(scope) {
        tracing::warn!(scope, %error, "could not drop the job's state");
    }
    tracing::info!(scope, "all tasks of the job here have ended");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_whose_content_is_not_its_hash_is_refused() {
        let bytes = b"\0asm\x0d\0\x01\0".to_vec();
        assert!(verify(&content_hash(&bytes), &bytes).is_ok());
        let other = content_hash(b"something else");
        let error = verify(&other, &bytes).unwrap_err();
        assert!(error.contains(&format!("component {other} fetched from the JobManager has content hash")), "{error}");
        assert!(error.ends_with("refused"), "{error}");
    }
}
