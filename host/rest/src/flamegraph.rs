//! `GET /jobs/:jobid/vertices/:vertexid/flamegraph`: Flink's `VertexFlameGraph`, of the guest.
//!
//! Flink samples the host threads of a vertex's tasks; Weir samples the *guest's* WebAssembly
//! stacks, which show where the user function spends its time. Each request asks the
//! TaskManagers running the vertex's subtasks to sample for [`SAMPLING_MILLIS`] (they switch
//! sampling on in those subtasks' guest instances only for that long) and merges their counts into
//! Flink's tree: a "root" node, then frames outermost first, `value` = samples. The request
//! blocks for the sampling time; Flink's web UI polls the route anyway. Samples are taken while
//! the guest computes, so `ON_CPU` and `FULL` show the same graph and `OFF_CPU` is empty.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::jobs::{find_vertex, job_id, not_found, vertex_subtasks};
use super::{RestError, ok};
use weir_cluster::jobmanager::JobManager;
use weir_cluster::rpc::{Request, Response as TmResponse, StackSample};
use weir_core::execution::now_ms;

/// How long each request samples, in milliseconds (Flink: 100 samples 50 ms apart).
const SAMPLING_MILLIS: u64 = 2_000;
/// Distinct stacks kept when merging the TaskManagers' answers.
const MAX_STACKS: usize = 10_000;

/// A node of the flame graph: samples through this frame, callees by name.
#[derive(Default)]
struct Node {
    value: u64,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn add(&mut self, frames: &[String], count: u64) {
        self.value += count;
        if let Some((first, rest)) = frames.split_first() {
            self.children.entry(first.clone()).or_default().add(rest, count);
        }
    }

    fn json(&self, name: &str) -> Value {
        let children: Vec<Value> = self.children.iter().map(|(name, child)| child.json(name)).collect();
        json!({ "name": name, "value": self.value, "children": children })
    }
}

/// The flame graph of a vertex's guest code, sampled now.
pub async fn flamegraph(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let id = job_id(&id)?;
    let kind = query.get("type").map(String::as_str).unwrap_or("FULL");
    if !matches!(kind, "FULL" | "ON_CPU" | "OFF_CPU") {
        return Err(RestError::bad_request(format!(
            "Invalid type \"{kind}\": the supported options are [FULL, ON_CPU, OFF_CPU]."
        )));
    }
    let subtask = match query.get("subtaskindex") {
        None => None,
        Some(text) => Some(text.parse::<u32>().map_err(|_| {
            RestError::bad_request(format!("Invalid subtask index \"{text}\": not a non-negative number."))
        })?),
    };
    let (vertex, taskmanagers) = {
        let state = jm.state();
        let job = state.jobs.get(&id).ok_or_else(|| not_found(&id))?;
        let v = find_vertex(job, &vid)?;
        let subs = vertex_subtasks(job, v);
        let mut tms: Vec<String> = subs
            .iter()
            .enumerate()
            .filter(|(i, _)| subtask.is_none_or(|s| s as usize == *i))
            .filter_map(|(_, s)| s.taskmanager.clone())
            .collect();
        tms.sort();
        tms.dedup();
        (v, tms)
    };
    let mut root = Node::default();
    if kind != "OFF_CPU" {
        let job = id.to_string();
        let millis = SAMPLING_MILLIS;
        // The TaskManagers sample at the same time.
        let asks: Vec<_> = taskmanagers
            .into_iter()
            .map(|tm| {
                let jm = jm.clone();
                let request = Request::SampleStacks { job: job.clone(), vertex, subtask, millis };
                tokio::spawn(async move { jm.ask_taskmanager(&tm, request).await })
            })
            .collect();
        let mut merged: HashMap<Vec<String>, u64> = HashMap::new();
        for ask in asks {
            let answer = ask.await.map_err(RestError::internal)?;
            // A TaskManager that went away meanwhile just contributes no samples.
            if let Ok(TmResponse::Stacks(stacks)) = answer {
                for StackSample { frames, count } in stacks {
                    if merged.len() < MAX_STACKS || merged.contains_key(&frames) {
                        *merged.entry(frames).or_default() += count;
                    }
                }
            }
        }
        for (frames, count) in &merged {
            root.add(frames, *count);
        }
    }
    Ok(ok(json!({ "endTimestamp": now_ms(), "data": root.json("root") })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stacks merge into Flink's tree: a frame's value counts the samples through it.
    #[test]
    fn stacks_merge_into_a_tree_of_sample_counts() {
        let mut root = Node::default();
        let stack = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        root.add(&stack(&["process", "window"]), 3);
        root.add(&stack(&["process", "parse"]), 2);
        root.add(&stack(&["realloc"]), 1);
        let tree = root.json("root");
        assert_eq!(tree["value"], 6);
        assert_eq!(tree["children"][0]["name"], "process");
        assert_eq!(tree["children"][0]["value"], 5);
        assert_eq!(tree["children"][0]["children"][1]["name"], "window");
        assert_eq!(tree["children"][0]["children"][1]["value"], 3);
        assert_eq!(tree["children"][1]["children"], json!([]));
    }
}
