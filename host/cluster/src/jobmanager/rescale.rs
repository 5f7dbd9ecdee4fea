//! Rescaling a running job through Flink's own API: `GET`/`PUT /jobs/:jobid/resource-requirements`
//! (the adaptive scheduler's per-vertex parallelism bounds, Flink 1.18+) and `weir rescale`.
//!
//! A rescale is a change of the job like an upgrade and shares its machinery
//! ([`super::upgrade`]): a stop barrier snapshots the job, the same code deploys again at the new
//! parallelisms under the same job id and restores by operator uid — keyed state by key group,
//! Kafka partitions with their offsets, exactly-once sinks with what they held — and until the
//! first checkpoint after it completes, a failure redeploys the old parallelisms from the
//! snapshot. The job's history shows it as a `RESCALE` (`GET /jobs/:jobid/upgrades`). As with
//! Flink's adaptive scheduler today, the tasks restart; moving key groups between running
//! subtasks at a barrier, with no restart, is the step after this one (issue 25).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::dispatcher::DispatchError;
use super::upgrade::{Plan, UpgradeMode, UpgradeRecord};
use super::{JobManager, JobRecord};
use weir_core::jobgraph::{JobGraph, ShipStrategy, SourceConnector, VertexKind};

/// One vertex's parallelism bounds (Flink's `JobVertexResourceRequirements.Parallelism`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParallelismBounds {
    /// The least parallelism the vertex may run with.
    pub lower: u32,
    /// The parallelism the vertex should run with.
    pub upper: u32,
}

/// A job's resource requirements by vertex id (Flink's `JobResourceRequirements`).
pub type ResourceRequirements = BTreeMap<String, ParallelismBounds>;

/// The requirements a job runs under: those last set, else each vertex at its parallelism
/// (upper) and 1 (lower), as Flink answers for a job submitted with a fixed parallelism.
pub fn requirements(record: &JobRecord) -> ResourceRequirements {
    record
        .graph
        .vertices
        .iter()
        .map(|v| {
            let set = record.resource_requirements.get(&v.id).copied();
            (v.id.clone(), set.unwrap_or(ParallelismBounds { lower: 1, upper: v.parallelism }))
        })
        .collect()
}

/// The graph at the parallelisms `requested` asks for: each vertex named at its upper bound,
/// the others as they run. Refuses bounds that are malformed, past the job's max parallelism,
/// name no vertex of the job, or split vertices joined by a FORWARD edge.
pub fn rescaled(graph: &JobGraph, requested: &ResourceRequirements) -> Result<JobGraph, DispatchError> {
    let bad = DispatchError::BadRequest;
    for (id, bounds) in requested {
        let Some(vertex) = graph.vertices.iter().find(|v| &v.id == id) else {
            let known: Vec<&str> = graph.vertices.iter().map(|v| v.id.as_str()).collect();
            return Err(bad(format!("The job has no vertex {id} (its vertices: {}).", known.join(", "))));
        };
        if bounds.lower < 1 || bounds.lower > bounds.upper {
            return Err(bad(format!(
                "The parallelism bounds of vertex {id} ('{}') are malformed: lowerBound {} must be at least 1 and at most upperBound {}.",
                vertex.name, bounds.lower, bounds.upper
            )));
        }
        if bounds.upper > graph.max_parallelism {
            return Err(bad(format!(
                "The upperBound {} of vertex {id} ('{}') is above the job's max parallelism {}: its key groups cannot be spread further.",
                bounds.upper, vertex.name, graph.max_parallelism
            )));
        }
    }
    let mut new = graph.clone();
    for v in &mut new.vertices {
        if let Some(bounds) = requested.get(&v.id) {
            v.parallelism = bounds.upper;
        }
    }
    for (v, old) in new.vertices.iter().zip(&graph.vertices) {
        // A datagen source's position is its subtask's share of the sequence: it restores only
        // at the parallelism it was taken at (runtime::task).
        let datagen = matches!(v.kind, VertexKind::Source { connector: SourceConnector::Datagen { .. }, .. });
        if datagen && v.parallelism != old.parallelism {
            return Err(bad(format!(
                "The source '{}' is a datagen source, whose position cannot be split or merged: it keeps its parallelism {} (leave its vertex {} out, or name it at {}).",
                v.name, old.parallelism, v.id, old.parallelism
            )));
        }
    }
    for v in &new.vertices {
        for edge in v.inputs.iter().filter(|e| e.strategy == ShipStrategy::Forward) {
            let Some(source) = new.vertices.get(edge.source) else { continue };
            if source.parallelism != v.parallelism {
                return Err(bad(format!(
                    "Vertices '{}' and '{}' are connected by a FORWARD edge and must run at the same parallelism (asked: {} and {}).",
                    source.name, v.name, source.parallelism, v.parallelism
                )));
            }
        }
    }
    Ok(new)
}

/// What a rescale request got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rescale {
    /// The job redeploys at the new parallelisms; poll it as an upgrade with this request id.
    Started(String),
    /// The job already runs at the parallelisms asked for: the bounds are recorded, nothing
    /// restarts.
    Unchanged,
}

impl JobManager {
    /// The requirements `job_id` runs under (`GET /jobs/:jobid/resource-requirements`).
    pub fn resource_requirements(&self, job_id: &str) -> Result<ResourceRequirements, DispatchError> {
        let state = self.state();
        let job = state.jobs.get(job_id).ok_or_else(|| DispatchError::NotFound(format!("Job {job_id} not found")))?;
        Ok(requirements(&job.record))
    }

    /// Sets the requirements of `job_id` and rescales it to them (`PUT
    /// /jobs/:jobid/resource-requirements`, `weir rescale`). Refused (409) while the job is not
    /// running every task or another upgrade or rescale is under way.
    pub fn rescale(&self, job_id: &str, requested: ResourceRequirements) -> Result<Rescale, DispatchError> {
        let (record, component, component_name) = {
            let state = self.state();
            let job =
                state.jobs.get(job_id).ok_or_else(|| DispatchError::NotFound(format!("Job {job_id} not found")))?;
            let component = job.components.get(&job.record.component_hash).cloned();
            let name = state.component_name(job, &job.record.component_hash);
            (job.record.clone(), component, name.unwrap_or_default())
        };
        let graph = rescaled(&record.graph, &requested)?;
        let unchanged = graph.vertices.iter().zip(&record.graph.vertices).all(|(a, b)| a.parallelism == b.parallelism);
        if unchanged {
            self.record_requirements(job_id, requested)?;
            return Ok(Rescale::Unchanged);
        }
        // Every component the job runs is kept loaded (upgrade::commit), its own above all.
        let component = component.ok_or_else(|| {
            DispatchError::Conflict(format!("The component of job {job_id} is not loaded; try again once it runs."))
        })?;
        let from: Vec<u32> = record.graph.vertices.iter().map(|v| v.parallelism).collect();
        let to: Vec<u32> = graph.vertices.iter().map(|v| v.parallelism).collect();
        tracing::info!(job = job_id, from = join(&from), to = join(&to), "rescale requested");
        let vertex_components =
            graph.vertices.iter().map(|v| (v.uid.clone(), record.component_of(&v.uid).to_string())).collect();
        let plan = Plan {
            mode: UpgradeMode::Rescale,
            operators: Vec::new(),
            added: Vec::new(),
            removed: Vec::new(),
            graph,
            vertex_components,
        };
        let mut history = UpgradeRecord::new(
            &plan,
            record.jar_id.clone(),
            component_name,
            record.component_hash.clone(),
            record.program_args.clone(),
        );
        history.parallelism = Some((from, to));
        let id = self.begin(job_id, plan, history, component)?;
        self.record_requirements(job_id, requested)?;
        Ok(Rescale::Started(id))
    }

    /// Keeps `requested` as the job's bounds (what `GET` answers), with the job's record.
    fn record_requirements(&self, job_id: &str, requested: ResourceRequirements) -> Result<(), DispatchError> {
        let persisted = {
            let mut state = self.state();
            let job =
                state.jobs.get_mut(job_id).ok_or_else(|| DispatchError::NotFound(format!("Job {job_id} not found")))?;
            job.record.resource_requirements.extend(requested);
            job.record.clone()
        };
        self.persist(&persisted);
        Ok(())
    }
}

fn join(parallelisms: &[u32]) -> String {
    parallelisms.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::jobgraph::{JobEdge, JobVertex, SinkConnector, TimeCharacteristic};

    fn vertex(id: &str, inputs: &[(usize, ShipStrategy)]) -> JobVertex {
        JobVertex {
            id: id.into(),
            uid: id.into(),
            name: id.to_uppercase(),
            kind: VertexKind::Transform { function: "f".into() },
            parallelism: 2,
            inputs: inputs.iter().map(|(source, strategy)| JobEdge { source: *source, strategy: *strategy }).collect(),
            config: String::new(),
        }
    }

    fn graph() -> JobGraph {
        let mut sink = vertex("sink", &[(1, ShipStrategy::Forward)]);
        sink.kind = VertexKind::SinkWriter { connector: SinkConnector::Discard };
        JobGraph {
            job_id: "job".into(),
            name: "job".into(),
            vertices: vec![vertex("source", &[]), vertex("counter", &[(0, ShipStrategy::Hash)]), sink],
            time: TimeCharacteristic::ProcessingTime,
            checkpoint_interval_ms: Some(1000),
            max_parallelism: 128,
        }
    }

    fn bounds(pairs: &[(&str, u32, u32)]) -> ResourceRequirements {
        pairs
            .iter()
            .map(|(id, lower, upper)| (id.to_string(), ParallelismBounds { lower: *lower, upper: *upper }))
            .collect()
    }

    #[test]
    fn each_named_vertex_takes_its_upper_bound_and_the_others_keep_theirs() {
        let new = rescaled(&graph(), &bounds(&[("source", 1, 3)])).unwrap();
        let p: Vec<u32> = new.vertices.iter().map(|v| v.parallelism).collect();
        assert_eq!(p, [3, 2, 2]);
        let new = rescaled(&graph(), &bounds(&[("source", 1, 1), ("counter", 1, 4), ("sink", 4, 4)])).unwrap();
        let p: Vec<u32> = new.vertices.iter().map(|v| v.parallelism).collect();
        assert_eq!(p, [1, 4, 4]);
    }

    #[test]
    fn malformed_bounds_unknown_vertices_and_split_forward_edges_are_refused_by_name() {
        let refused = |b: ResourceRequirements| match rescaled(&graph(), &b) {
            Err(DispatchError::BadRequest(message)) => message,
            other => panic!("not refused: {other:?}"),
        };
        assert!(refused(bounds(&[("nope", 1, 2)])).contains("no vertex nope"));
        assert!(refused(bounds(&[("source", 0, 2)])).contains("lowerBound 0"));
        assert!(refused(bounds(&[("source", 3, 2)])).contains("at most upperBound 2"));
        assert!(refused(bounds(&[("source", 1, 129)])).contains("max parallelism 128"));
        let mut datagen = graph();
        datagen.vertices[0].kind =
            VertexKind::Source { connector: SourceConnector::Datagen { count: None, rate: None }, function: None };
        match rescaled(&datagen, &bounds(&[("source", 1, 3)])) {
            Err(DispatchError::BadRequest(message)) => assert!(message.contains("datagen"), "{message}"),
            other => panic!("not refused: {other:?}"),
        }
        assert!(rescaled(&datagen, &bounds(&[("source", 1, 2), ("counter", 1, 3), ("sink", 1, 3)])).is_ok());
        let split = refused(bounds(&[("counter", 1, 3)]));
        assert!(split.contains("'COUNTER' and 'SINK'") && split.contains("FORWARD"), "{split}");
    }
}
