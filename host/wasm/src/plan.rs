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
    let host = HostState::new("plan", &runtime.limits(), weir_core::cancel::CancelToken::new(), Services::default());
    let mut instance = crate::GuestInstance::new(runtime, component, host)?;
    let plan = instance.plan(args)?.map_err(PlanError::Arguments)?;
    Ok(from_plan(plan, job_id, parallelism)?)
}
