//! `GET /metrics`: the whole cluster's metrics in Prometheus' text exposition format (0.0.4),
//! served by the JobManager from what the TaskManagers report with their heartbeats, so one
//! scrape target covers the cluster.
//!
//! Names and labels are those of Flink's `PrometheusReporter`, so that dashboards built for
//! Flink work: `flink_<scope>_<metric>` with every character outside `[a-zA-Z0-9:_]` replaced
//! by `_` (`flink_taskmanager_job_task_Shuffle_Netty_Output_Buffers_outPoolUsage`), scopes
//! `jobmanager`, `jobmanager_job`, `taskmanager`, `taskmanager_job_task` and
//! `taskmanager_job_task_operator`, and labels `job_id`, `job_name`, `task_id`, `task_name`,
//! `subtask_index`, `task_attempt_num`, `operator_name`, `tm_id`, `host` with their values
//! filtered the same way (Flink's default). Every metric is a `gauge`, as in Flink (its
//! counters can reset when a task restarts); booleans are 0 or 1. Only running jobs and
//! subtasks are exported: an ended task's series ends with it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use weir_cluster::jobmanager::metrics::{self as views};
use weir_cluster::jobmanager::{ClusterState, JobManager};
use weir_core::execution::now_ms;
use weir_core::metrics::scope::{self, Scope};

/// The content type of the text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric name or label value as Flink's reporter filters it.
fn filter(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == ':' || c == '_' { c } else { '_' }).collect()
}

/// A sample's labels: name and (filtered) value.
type Labels = Vec<(&'static str, String)>;

/// Samples by family (metric name): each family's lines must be together, after its `TYPE`.
#[derive(Default)]
struct Exposition {
    families: BTreeMap<String, Vec<(Labels, f64)>>,
}

impl Exposition {
    fn add(&mut self, scope: &str, name: &str, labels: &[(&'static str, String)], value: f64) {
        let family = format!("flink_{scope}_{}", filter(name));
        let labels = labels.iter().map(|(k, v)| (*k, filter(v))).collect();
        self.families.entry(family).or_default().push((labels, value));
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (family, samples) in &self.families {
            let _ = writeln!(out, "# HELP {family} {family} (scope: {})", scope_of_family(family));
            let _ = writeln!(out, "# TYPE {family} gauge");
            for (labels, value) in samples {
                out.push_str(family);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        // Filtered values need no escaping; escape anyway, cheaply, for safety.
                        let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                        let _ = write!(out, "{k}=\"{v}\"");
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", number(*value));
            }
        }
        out
    }
}

/// The Flink scope a family belongs to, for its help text.
fn scope_of_family(family: &str) -> &'static str {
    for (prefix, scope) in [
        ("flink_taskmanager_job_task_operator_", "operator"),
        ("flink_taskmanager_job_task_", "task"),
        ("flink_taskmanager_", "taskmanager"),
        ("flink_jobmanager_job_", "job"),
    ] {
        if family.starts_with(prefix) {
            return scope;
        }
    }
    "jobmanager"
}

/// A sample value as the text format writes it.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        v.to_string()
    }
}

/// The exposition of the whole cluster.
pub fn exposition(state: &ClusterState, jobmanager_host: &str) -> String {
    let mut out = Exposition::default();
    let jm_labels = [("host", jobmanager_host.to_string())];
    for (name, value) in views::jobmanager_metrics(state) {
        out.add("jobmanager", &name, &jm_labels, value);
    }
    for tm in state.taskmanagers.values() {
        let host = tm.data_address.rsplit_once(':').map_or(tm.data_address.as_str(), |(h, _)| h).to_string();
        let labels = [("host", host), ("tm_id", tm.id.clone())];
        for (name, value) in views::taskmanager_metrics(tm) {
            out.add("taskmanager", &name, &labels, value);
        }
    }
    let now = now_ms();
    for job in state.jobs.values().filter(|j| !j.record.status.is_globally_terminal()) {
        let job_labels = [("job_id", job.record.id().to_string()), ("job_name", job.record.name().to_string())];
        for (name, value) in views::job_metrics(job, now) {
            out.add("jobmanager_job", &name, &job_labels, value);
        }
        for (v, vertex) in job.record.graph.vertices.iter().enumerate() {
            for (i, subtask) in views::vertex_subtasks(job, v).iter().enumerate() {
                if subtask.state.is_terminal() || subtask.metrics.is_empty() {
                    continue;
                }
                let tm_id = subtask.taskmanager.clone().unwrap_or_default();
                let host = state
                    .taskmanagers
                    .get(&tm_id)
                    .and_then(|tm| tm.data_address.rsplit_once(':').map(|(h, _)| h.to_string()))
                    .unwrap_or_default();
                let mut labels = vec![
                    ("job_id", job.record.id().to_string()),
                    ("job_name", job.record.name().to_string()),
                    ("task_id", vertex.id.clone()),
                    ("task_name", vertex.name.clone()),
                    ("subtask_index", i.to_string()),
                    ("task_attempt_num", subtask.attempt.to_string()),
                    ("tm_id", tm_id),
                    ("host", host),
                ];
                let task_labels = labels.clone();
                labels.push(("operator_id", vertex.id.clone()));
                labels.push(("operator_name", vertex.name.clone()));
                for (name, value) in &subtask.metrics {
                    let scope = scope::scope_of(name);
                    if matches!(scope, Scope::Task | Scope::Both) {
                        out.add("taskmanager_job_task", name, &task_labels, *value);
                    }
                    if matches!(scope, Scope::Operator | Scope::Both) {
                        out.add("taskmanager_job_task_operator", name, &labels, *value);
                    }
                }
            }
        }
    }
    out.render()
}

/// `GET /metrics`.
pub async fn metrics(State(jm): State<Arc<JobManager>>) -> Response {
    // The JobManager's host as TaskManagers reach it (Flink's `host` label), else where REST listens.
    let host = jm
        .options
        .config
        .get(weir_config::keys::JOBMANAGER_ADDRESS)
        .map_or_else(|| jm.options.rest_bind.ip().to_string(), str::to_string);
    let body = exposition(&jm.state(), &host);
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_grouped_typed_and_filtered() {
        let mut e = Exposition::default();
        e.add(
            "taskmanager_job_task",
            "Shuffle.Netty.Output.Buffers.outPoolUsage",
            &[("task_name", "Source: x".into())],
            1.0,
        );
        e.add("taskmanager_job_task", "numRecordsOut", &[("task_name", "a\"b".into())], 5.0);
        e.add("taskmanager_job_task", "Shuffle.Netty.Output.Buffers.outPoolUsage", &[("task_name", "y".into())], 0.5);
        e.add("jobmanager", "numRunningJobs", &[], f64::NAN);
        let text = e.render();
        assert_eq!(
            text,
            "# HELP flink_jobmanager_numRunningJobs flink_jobmanager_numRunningJobs (scope: jobmanager)\n\
             # TYPE flink_jobmanager_numRunningJobs gauge\n\
             flink_jobmanager_numRunningJobs NaN\n\
             # HELP flink_taskmanager_job_task_Shuffle_Netty_Output_Buffers_outPoolUsage flink_taskmanager_job_task_Shuffle_Netty_Output_Buffers_outPoolUsage (scope: task)\n\
             # TYPE flink_taskmanager_job_task_Shuffle_Netty_Output_Buffers_outPoolUsage gauge\n\
             flink_taskmanager_job_task_Shuffle_Netty_Output_Buffers_outPoolUsage{task_name=\"Source:_x\"} 1\n\
             flink_taskmanager_job_task_Shuffle_Netty_Output_Buffers_outPoolUsage{task_name=\"y\"} 0.5\n\
             # HELP flink_taskmanager_job_task_numRecordsOut flink_taskmanager_job_task_numRecordsOut (scope: task)\n\
             # TYPE flink_taskmanager_job_task_numRecordsOut gauge\n\
             flink_taskmanager_job_task_numRecordsOut{task_name=\"a_b\"} 5\n"
        );
    }
}
