//! The guest's plan (WIT `plan` types) to the engine's [`JobGraph`], checking everything a guest
//! could get wrong.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::bindings::plan_types as plan;
use crate::caps::{CapExceeded, GuestCaps};
use weir_config::keys;
use weir_core::jobgraph::*;

/// Flink's upper bound on the number of key groups.
pub const UPPER_BOUND_MAX_PARALLELISM: u32 = 32_768;

/// Why a plan cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    /// The plan lists no operators at all.
    #[error("the job has no operators")]
    Empty,
    /// No operator is a source, so nothing would ever produce records.
    #[error("the job has no source")]
    NoSource,
    /// The operator at this position in the plan (0-based) has a blank uid.
    #[error("operator #{0} has an empty uid")]
    EmptyUid(usize),
    /// The operator with this uid has a blank display name.
    #[error("operator '{0}' has an empty name")]
    EmptyName(String),
    /// Two operators share this uid, which must identify one operator's state.
    #[error("two operators have the uid '{0}'")]
    DuplicateUid(String),
    /// An input names a uid that is not an operator declared earlier in the plan.
    #[error("operator '{op}' reads from '{from}', which is not an operator listed before it")]
    UnknownInput {
        /// The name of the operator with the bad input.
        op: String,
        /// The uid the input names.
        from: String,
    },
    /// An input names a sink, which has no output stream to read.
    #[error("operator '{op}' reads from the sink '{from}'")]
    InputIsSink {
        /// The name of the operator with the bad input.
        op: String,
        /// The uid of the sink it reads from.
        from: String,
    },
    /// The named source declares inputs; sources read only from their connector.
    #[error("source '{0}' has inputs")]
    SourceWithInputs(String),
    /// The named transform or sink has no upstream operator.
    #[error("operator '{0}' has no inputs")]
    NoInputs(String),
    /// An operator's parallelism is zero or above the job's max parallelism.
    #[error("parallelism {parallelism} of '{op}' must be between 1 and the max parallelism {max}")]
    Parallelism {
        /// The name of the operator.
        op: String,
        /// The parallelism it asked for (or the job default it inherited).
        parallelism: u32,
        /// The job's max parallelism (its number of key groups).
        max: u32,
    },
    /// The job's max parallelism is zero or above `UPPER_BOUND_MAX_PARALLELISM`.
    #[error("max parallelism {0} must be between 1 and {UPPER_BOUND_MAX_PARALLELISM}")]
    MaxParallelism(u32),
    /// A forward edge joins operators of different parallelism, so subtasks cannot pair up 1:1.
    #[error(
        "the forward edge from '{from}' (parallelism {from_p}) to '{op}' (parallelism {op_p}) needs equal parallelism"
    )]
    ForwardParallelism {
        /// The name of the downstream operator.
        op: String,
        /// The name of the upstream vertex.
        from: String,
        /// The downstream operator's parallelism.
        op_p: u32,
        /// The upstream vertex's parallelism.
        from_p: u32,
    },
    /// The named operator left a required connector field (described by the second value) blank.
    #[error("operator '{0}': {1} must not be empty")]
    EmptyField(String, &'static str),
    /// The checkpoint interval is set below the 10 ms minimum.
    #[error("the checkpoint interval must be at least 10 ms")]
    CheckpointInterval,
    /// The plan is bigger than the cluster's caps allow (operators, subtasks, strings).
    #[error(transparent)]
    Cap(#[from] CapExceeded),
}

/// A string of the plan, shown in errors: its start only.
fn show(text: &str) -> String {
    crate::caps::cut(text.chars().take(64).collect(), 64, keys::PLAN_MAX_STRING_SIZE)
}

/// Refuses a plan over the caps before anything is built from it: the number of operators,
/// the entries of every list and the size of every string.
fn check_size(graph: &plan::JobGraph, caps: &GuestCaps) -> Result<(), CapExceeded> {
    let ops = caps.plan_operators;
    if graph.operators.len() > ops {
        let n = graph.operators.len();
        return Err(CapExceeded::count("the plan's operators", n, ops, "operators", keys::PLAN_MAX_OPERATORS));
    }
    let max = caps.plan_string_bytes;
    let string = |what: &dyn Fn() -> String, text: &str| {
        GuestCaps::check(
            &if text.len() > max { what() } else { String::new() },
            text.len(),
            max,
            keys::PLAN_MAX_STRING_SIZE,
        )
    };
    string(&|| "the job's name".into(), &graph.name)?;
    for (i, op) in graph.operators.iter().enumerate() {
        let who =
            || if op.uid.len() <= max { format!("operator '{}'", show(&op.uid)) } else { format!("operator #{i}") };
        string(&|| format!("the uid of {}", who()), &op.uid)?;
        string(&|| format!("the name of {}", who()), &op.name)?;
        string(&|| format!("the config of {}", who()), &op.config)?;
        if op.inputs.len() > ops {
            let what = format!("the inputs of {}", who());
            return Err(CapExceeded::count(what, op.inputs.len(), ops, "inputs", keys::PLAN_MAX_OPERATORS));
        }
        for input in &op.inputs {
            string(&|| format!("an input of {}", who()), &input.from)?;
        }
        let (function, topic) = match &op.kind {
            plan::OperatorKind::Source(spec) => (
                spec.function.as_deref(),
                match &spec.connector {
                    plan::SourceConnector::Kafka(k) => Some(&k.topic),
                    plan::SourceConnector::Datagen(_) => None,
                },
            ),
            plan::OperatorKind::Transform(spec) => (Some(spec.function.as_str()), None),
            plan::OperatorKind::Sink(plan::SinkConnector::Kafka(k)) => (None, Some(&k.topic)),
            plan::OperatorKind::Sink(_) => (None, None),
        };
        string(&|| format!("the function of {}", who()), function.unwrap_or_default())?;
        if let Some(t) = topic {
            string(&|| format!("the topic of {}", who()), &t.topic)?;
            string(&|| format!("the bootstrap servers of {}", who()), &t.bootstrap_servers)?;
            if t.properties.len() > ops {
                let what = format!("the Kafka properties of {}", who());
                return Err(CapExceeded::count(what, t.properties.len(), ops, "properties", keys::PLAN_MAX_OPERATORS));
            }
            for (k, v) in &t.properties {
                string(&|| format!("a Kafka property of {}", who()), k)?;
                string(&|| format!("the Kafka property '{}' of {}", show(k), who()), v)?;
            }
        }
    }
    Ok(())
}

/// A stable vertex ID from a uid: resubmissions and upgrades that keep the uid keep the ID.
fn vertex_id(uid: &str) -> Id {
    hex::encode(&Sha256::digest(format!("weir-vertex:{uid}").as_bytes())[..16])
}

fn topic(op: &str, t: plan::KafkaTopic) -> Result<KafkaTopic, GraphError> {
    if t.topic.trim().is_empty() {
        return Err(GraphError::EmptyField(op.to_string(), "the Kafka topic"));
    }
    if t.bootstrap_servers.trim().is_empty() {
        return Err(GraphError::EmptyField(op.to_string(), "the Kafka bootstrap servers"));
    }
    Ok(KafkaTopic { topic: t.topic, bootstrap_servers: t.bootstrap_servers, properties: t.properties })
}

fn strategy(s: plan::ShipStrategy) -> ShipStrategy {
    match s {
        plan::ShipStrategy::Forward => ShipStrategy::Forward,
        plan::ShipStrategy::Hash => ShipStrategy::Hash,
        plan::ShipStrategy::Rebalance => ShipStrategy::Rebalance,
    }
}

fn sink_connector(op: &str, c: plan::SinkConnector) -> Result<SinkConnector, GraphError> {
    Ok(match c {
        plan::SinkConnector::Kafka(k) => SinkConnector::Kafka(KafkaSink {
            topic: topic(op, k.topic)?,
            delivery_guarantee: match k.delivery_guarantee {
                plan::DeliveryGuarantee::None => DeliveryGuarantee::None,
                plan::DeliveryGuarantee::AtLeastOnce => DeliveryGuarantee::AtLeastOnce,
                plan::DeliveryGuarantee::ExactlyOnce => DeliveryGuarantee::ExactlyOnce,
            },
        }),
        plan::SinkConnector::Print => SinkConnector::Print,
        plan::SinkConnector::Discard => SinkConnector::Discard,
    })
}

fn source_connector(op: &str, c: plan::SourceConnector) -> Result<SourceConnector, GraphError> {
    Ok(match c {
        plan::SourceConnector::Kafka(k) => SourceConnector::Kafka(KafkaSource {
            topic: topic(op, k.topic)?,
            starting_offsets: match k.starting_offsets {
                plan::StartingOffsets::Earliest => StartingOffsets::Earliest,
                plan::StartingOffsets::Latest => StartingOffsets::Latest,
                plan::StartingOffsets::Committed => StartingOffsets::Committed,
            },
            bounded: k.bounded,
        }),
        plan::SourceConnector::Datagen(d) => SourceConnector::Datagen { count: d.count, rate: d.rate },
    })
}

/// Checks a plan (against `caps` first) and translates it into a job graph with `job_id`,
/// running every operator at `parallelism` unless it asks for its own.
pub fn from_plan(
    graph: plan::JobGraph,
    job_id: Id,
    parallelism: u32,
    caps: &GuestCaps,
) -> Result<JobGraph, GraphError> {
    check_size(&graph, caps)?;
    let max = graph.max_parallelism;
    if max == 0 || max > UPPER_BOUND_MAX_PARALLELISM {
        return Err(GraphError::MaxParallelism(max));
    }
    if graph.operators.is_empty() {
        return Err(GraphError::Empty);
    }
    if graph.checkpoint_interval_ms.is_some_and(|i| i < 10) {
        return Err(GraphError::CheckpointInterval);
    }
    let mut vertices: Vec<JobVertex> = Vec::new();
    // uid -> (vertex index whose output continues the stream, is sink)
    let mut by_uid: HashMap<String, (usize, bool)> = HashMap::new();
    let mut has_source = false;
    for (i, op) in graph.operators.into_iter().enumerate() {
        if op.uid.trim().is_empty() {
            return Err(GraphError::EmptyUid(i));
        }
        if op.name.trim().is_empty() {
            return Err(GraphError::EmptyName(op.uid));
        }
        if by_uid.contains_key(&op.uid) {
            return Err(GraphError::DuplicateUid(op.uid));
        }
        let p = op.parallelism.unwrap_or(parallelism);
        if p == 0 || p > max {
            return Err(GraphError::Parallelism { op: op.name, parallelism: p, max });
        }
        let mut inputs = Vec::new();
        for input in &op.inputs {
            let (source, is_sink) = *by_uid
                .get(&input.from)
                .ok_or_else(|| GraphError::UnknownInput { op: op.name.clone(), from: input.from.clone() })?;
            if is_sink {
                return Err(GraphError::InputIsSink { op: op.name.clone(), from: input.from.clone() });
            }
            let strategy = strategy(input.strategy);
            let from_p = vertices[source].parallelism;
            if strategy == ShipStrategy::Forward && from_p != p {
                return Err(GraphError::ForwardParallelism {
                    op: op.name.clone(),
                    from: vertices[source].name.clone(),
                    op_p: p,
                    from_p,
                });
            }
            inputs.push(JobEdge { source, strategy });
        }
        let vertex = |uid: String, name: String, kind: VertexKind, inputs: Vec<JobEdge>| JobVertex {
            id: vertex_id(&uid),
            uid,
            name,
            kind,
            parallelism: p,
            inputs,
            config: op.config.clone(),
        };
        match op.kind {
            plan::OperatorKind::Source(spec) => {
                if !inputs.is_empty() {
                    return Err(GraphError::SourceWithInputs(op.name));
                }
                has_source = true;
                let kind = VertexKind::Source {
                    connector: source_connector(&op.name, spec.connector)?,
                    function: spec.function,
                };
                vertices.push(vertex(op.uid.clone(), format!("Source: {}", op.name), kind, inputs));
                by_uid.insert(op.uid, (vertices.len() - 1, false));
            }
            plan::OperatorKind::Transform(spec) => {
                if inputs.is_empty() {
                    return Err(GraphError::NoInputs(op.name));
                }
                vertices.push(vertex(
                    op.uid.clone(),
                    op.name.clone(),
                    VertexKind::Transform { function: spec.function },
                    inputs,
                ));
                by_uid.insert(op.uid, (vertices.len() - 1, false));
            }
            plan::OperatorKind::Sink(connector) => {
                if inputs.is_empty() {
                    return Err(GraphError::NoInputs(op.name));
                }
                let connector = sink_connector(&op.name, connector)?;
                let writer = VertexKind::SinkWriter { connector: connector.clone() };
                vertices.push(vertex(op.uid.clone(), format!("{}: Writer", op.name), writer, inputs));
                let writer_index = vertices.len() - 1;
                let committer_edge = vec![JobEdge { source: writer_index, strategy: ShipStrategy::Forward }];
                let committer = VertexKind::SinkCommitter { connector };
                vertices.push(vertex(
                    format!("{}#committer", op.uid),
                    format!("{}: Committer", op.name),
                    committer,
                    committer_edge,
                ));
                by_uid.insert(op.uid, (writer_index, true));
            }
        }
    }
    if !has_source {
        return Err(GraphError::NoSource);
    }
    // Every subtask costs the JobManager its bookkeeping and a slot's worth of scheduling.
    let subtasks: u64 = vertices.iter().map(|v| u64::from(v.parallelism)).sum();
    if subtasks > caps.plan_subtasks {
        return Err(GraphError::Cap(CapExceeded {
            what: "the job's subtasks (its vertices' parallelism added up)".into(),
            actual: subtasks,
            limit: caps.plan_subtasks,
            unit: "subtasks",
            key: keys::PLAN_MAX_SUBTASKS,
        }));
    }
    let time = match graph.time {
        plan::TimeCharacteristic::EventTime(e) => TimeCharacteristic::EventTime {
            max_out_of_orderness_ms: e.max_out_of_orderness_ms,
            idleness_ms: e.idleness_ms,
        },
        plan::TimeCharacteristic::ProcessingTime => TimeCharacteristic::ProcessingTime,
    };
    Ok(JobGraph {
        job_id,
        name: graph.name,
        vertices,
        time,
        checkpoint_interval_ms: graph.checkpoint_interval_ms,
        max_parallelism: max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(uid: &str, kind: plan::OperatorKind, inputs: &[(&str, plan::ShipStrategy)]) -> plan::Operator {
        plan::Operator {
            uid: uid.into(),
            name: uid.to_uppercase(),
            kind,
            inputs: inputs.iter().map(|(f, s)| plan::Input { from: f.to_string(), strategy: *s }).collect(),
            config: String::new(),
            parallelism: None,
        }
    }

    fn source() -> plan::OperatorKind {
        plan::OperatorKind::Source(plan::SourceSpec {
            connector: plan::SourceConnector::Datagen(plan::DatagenSource { count: Some(1), rate: None }),
            function: Some("f".into()),
        })
    }

    fn graph(operators: Vec<plan::Operator>) -> plan::JobGraph {
        plan::JobGraph {
            name: "j".into(),
            operators,
            time: plan::TimeCharacteristic::ProcessingTime,
            checkpoint_interval_ms: None,
            max_parallelism: 128,
        }
    }

    #[test]
    fn translates_like_flink() {
        let g = graph(vec![
            op("src", source(), &[]),
            op(
                "count",
                plan::OperatorKind::Transform(plan::TransformSpec { function: "c".into() }),
                &[("src", plan::ShipStrategy::Hash)],
            ),
            op(
                "out",
                plan::OperatorKind::Sink(plan::SinkConnector::Discard),
                &[("count", plan::ShipStrategy::Forward)],
            ),
        ]);
        let jg = from_plan(g, new_job_id(), 2, &GuestCaps::default()).unwrap();
        let names: Vec<_> = jg.vertices.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["Source: SRC", "COUNT", "OUT: Writer", "OUT: Committer"]);
        assert!(jg.vertices[1].is_keyed());
        assert!(!jg.vertices[2].is_keyed());
        assert_eq!(jg.vertices[3].inputs[0].source, 2);
        assert_eq!(jg.vertices[0].id.len(), 32);
        assert_eq!(jg.task_count(), 8);
        assert_eq!(jg.slots_needed(), 2);
        // IDs are stable across submissions.
        let again = from_plan(graph(vec![op("src", source(), &[])]), new_job_id(), 1, &GuestCaps::default()).unwrap();
        assert_eq!(again.vertices[0].id, jg.vertices[0].id);
    }

    #[test]
    fn rejects_broken_plans() {
        let t = |f: &str| plan::OperatorKind::Transform(plan::TransformSpec { function: f.into() });
        let cases = [
            (graph(vec![]), GraphError::Empty),
            (
                graph(vec![op("a", t("f"), &[("b", plan::ShipStrategy::Hash)])]),
                GraphError::UnknownInput { op: "A".into(), from: "b".into() },
            ),
            (graph(vec![op("src", source(), &[]), op("src", source(), &[])]), GraphError::DuplicateUid("src".into())),
            (graph(vec![op("src", source(), &[]), op("t", t("f"), &[])]), GraphError::NoInputs("T".into())),
        ];
        for (g, expected) in cases {
            assert_eq!(from_plan(g, new_job_id(), 1, &GuestCaps::default()).unwrap_err(), expected);
        }
        assert!(matches!(
            from_plan(graph(vec![op("src", source(), &[])]), new_job_id(), 129, &GuestCaps::default()),
            Err(GraphError::Parallelism { .. })
        ));
    }

    #[test]
    fn refuses_plans_over_the_caps() {
        let caps = GuestCaps { plan_operators: 2, plan_subtasks: 10, plan_string_bytes: 8, ..GuestCaps::default() };
        let t = |f: &str| plan::OperatorKind::Transform(plan::TransformSpec { function: f.into() });
        let many = graph(vec![op("a", source(), &[]), op("b", source(), &[]), op("c", source(), &[])]);
        let e = from_plan(many, new_job_id(), 1, &caps).unwrap_err().to_string();
        assert!(e.contains("3 operators exceeds the limit of 2") && e.contains(keys::PLAN_MAX_OPERATORS), "{e}");
        let mut named = graph(vec![op("src", source(), &[])]);
        named.operators[0].name = "x".repeat(100);
        let e = from_plan(named, new_job_id(), 1, &caps).unwrap_err().to_string();
        assert!(e.contains("the name of operator 'src'") && e.contains(keys::PLAN_MAX_STRING_SIZE), "{e}");
        let wide = graph(vec![op("src", source(), &[]), op("t", t("f"), &[("src", plan::ShipStrategy::Hash)])]);
        let e = from_plan(wide, new_job_id(), 6, &caps).unwrap_err().to_string();
        assert!(e.contains("12 subtasks exceeds the limit of 10") && e.contains(keys::PLAN_MAX_SUBTASKS), "{e}");
    }
}
