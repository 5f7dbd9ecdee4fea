//! Running a component's `plan` export: the program arguments in, the engine's job graph out (as
//! Flink's client runs a jar's `main` to get its job graph).

use weir_core::jobgraph::{Id, JobGraph};

pub use crate::convert::plan::GraphError;
use crate::convert::plan::from_plan;

/// Why a program could not be turned into a job graph.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The guest failed while planning (trapped, looped, ran out of memory).
    #[error("the job's plan failed: {0}")]
    Guest(#[from] crate::GuestError),
    /// The guest refused its arguments.
    #[error("invalid program arguments: {0}")]
    Arguments(String),
    /// The plan the guest returned is not a valid job graph.
    #[error("invalid job graph: {0}")]
    Graph(#[from] GraphError),
}

/// Runs the component's `plan` with the program arguments (as Flink's client runs a jar's
/// `main`) and translates the result, with `parallelism` as the default parallelism.
pub fn compile(
    runtime: &crate::WasmRuntime,
    component: &crate::JobComponent,
    args: &[String],
    parallelism: u32,
    job_id: Id,
) -> Result<JobGraph, PlanError> {
    use crate::host::{HostState, Services};
    let limits = runtime.limits();
    let host = HostState::new("plan", &limits, weir_core::cancel::CancelToken::new(), Services::default())
        .with_deadline(limits.plan_time, "weir.wasm.plan-timeout");
    let mut instance = crate::GuestInstance::new(runtime, component, host)?;
    let plan = instance.plan(args)?.map_err(PlanError::Arguments)?;
    Ok(from_plan(plan, job_id, parallelism, &runtime.limits().caps)?)
}

/// A plan waiting for a worker of a [`PlanPool`], and where its answer goes.
struct PlanRequest {
    component: crate::JobComponent,
    args: Vec<String>,
    parallelism: u32,
    job_id: Id,
    answer: std::sync::mpsc::Sender<Result<JobGraph, PoolError>>,
}

/// Why a [`PlanPool`] did not plan a job.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every worker is busy and the queue is full.
    #[error(
        "the JobManager is already running {workers} plans with {queue} more waiting, the most it takes (weir.wasm.plan-workers, weir.wasm.plan-queue): try again later"
    )]
    Busy {
        /// Plans run at once.
        workers: usize,
        /// Plans that may wait.
        queue: usize,
    },
    /// The plan ran and failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The pool's workers are gone (the process is stopping), or the host failed planning.
    #[error("no plan worker could run the plan")]
    Stopped,
}

/// Threads that run `plan` for the JobManager, off the REST request path: a bounded number at
/// once and a bounded queue, so hostile plans (each stopped at `weir.wasm.plan-timeout`) cannot
/// hold more than the pool, and a request beyond the queue is refused at once.
pub struct PlanPool {
    queue: std::sync::mpsc::SyncSender<PlanRequest>,
    workers: usize,
    waiting: usize,
}

impl PlanPool {
    /// Starts `workers` threads (at least one) planning on `runtime`, with room for `queue`
    /// plans to wait.
    pub fn new(runtime: &crate::WasmRuntime, workers: usize, queue: usize) -> std::io::Result<Self> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<PlanRequest>(queue);
        let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
        let workers = workers.max(1);
        for n in 0..workers {
            let (runtime, receiver) = (runtime.clone(), receiver.clone());
            std::thread::Builder::new().name(format!("plan-{n}")).spawn(move || {
                loop {
                    let next = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(request) = next else { return };
                    let PlanRequest { component, args, parallelism, job_id, answer } = request;
                    // A panic in the host's code fails this plan, not the worker.
                    let planned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        compile(&runtime, &component, &args, parallelism, job_id)
                    }))
                    .map_err(|_| PoolError::Stopped)
                    .and_then(|planned| planned.map_err(PoolError::Plan));
                    // The asker may have gone; the plan was still bounded by its deadline.
                    let _ = answer.send(planned);
                }
            })?;
        }
        Ok(PlanPool { queue: sender, workers, waiting: queue })
    }

    /// Runs `plan` on one of the pool's threads and waits for its job graph (as [`compile`]).
    pub fn compile(
        &self,
        component: &crate::JobComponent,
        args: &[String],
        parallelism: u32,
        job_id: Id,
    ) -> Result<JobGraph, PoolError> {
        let (answer, answered) = std::sync::mpsc::channel();
        let request = PlanRequest { component: component.clone(), args: args.to_vec(), parallelism, job_id, answer };
        self.queue.try_send(request).map_err(|e| match e {
            std::sync::mpsc::TrySendError::Full(_) => PoolError::Busy { workers: self.workers, queue: self.waiting },
            std::sync::mpsc::TrySendError::Disconnected(_) => PoolError::Stopped,
        })?;
        // Every plan ends by its deadline, so this wait is bounded by the queue ahead of it.
        answered.recv().map_err(|_| PoolError::Stopped)?
    }
}
