//! `weir info`'s planner: the component's `plan` run here, in this process's own sandbox, as
//! Flink's client runs a jar's `main` for `flink info`. Nothing goes to the cluster, so `info`
//! leaves no uploaded jar behind and needs no running cluster.

use weir_config::keys;
use weir_flink_cli::PlanInput;
use weir_wasm::cache::ComponentCache;
use weir_wasm::{JobComponent, WasmRuntime};

/// Plans `input`'s component with its arguments, with the sandbox limits and default
/// parallelism of the client's configuration (`weir.wasm.*`, `parallelism.default`), and
/// answers Flink's plan JSON, as `/jars/:id/plan` does; or why it could not.
pub(crate) fn plan_locally(input: &PlanInput<'_>) -> Result<serde_json::Value, String> {
    let bytes = std::fs::read(input.component)
        .map_err(|e| format!("cannot read the job component {}: {e}", input.component.display()))?;
    let limits = super::cluster::sandbox_limits(input.config).map_err(|e| format!("{e:#}"))?;
    let parallelism = match input.parallelism {
        Some(p) => p,
        None => input
            .config
            .get_u64(keys::DEFAULT_PARALLELISM, 1)
            .map_err(|e| e.to_string())
            .and_then(|p| u32::try_from(p).map_err(|_| format!("{} is too large: {p}", keys::DEFAULT_PARALLELISM)))?
            .max(1),
    };
    let runtime = WasmRuntime::new(limits).map_err(|e| format!("cannot start the WebAssembly runtime: {e:#}"))?;
    let component = JobComponent::load(&runtime, &ComponentCache::default_location(), &bytes)
        .map_err(|e| format!("{} is not a job component: {e}", input.component.display()))?;
    let job_id = weir_core::jobgraph::new_job_id();
    let graph = weir_wasm::plan::compile(&runtime, &component, input.program_args, parallelism, job_id)
        .map_err(|e| e.to_string())?;
    Ok(weir_rest::plan_json(&graph))
}
