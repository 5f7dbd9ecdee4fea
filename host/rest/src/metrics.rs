//! Flink's metric endpoints, with their wire shapes (reference §0, §4.3, §8):
//!
//! - `GET /jobs/:jobid/metrics`, `/jobs/:jobid/vertices/:vid/metrics`,
//!   `/jobs/:jobid/vertices/:vid/subtasks/:idx/metrics`, `/taskmanagers/:tmid/metrics`,
//!   `/jobmanager/metrics`: without `get`, the ids available (`[{"id":…}]`); with
//!   `?get=a,b`, `[{"id":"a","value":"<string>"}]`, unknown ids left out.
//! - `GET /jobs/metrics`, `/taskmanagers/metrics`, `/jobs/:jobid/vertices/:vid/subtasks/metrics`:
//!   aggregated over jobs, TaskManagers or subtasks (`jobs=`, `taskmanagers=`, `subtasks=0,2-4`)
//!   as `[{"id":…,"min":…,"max":…,"avg":…,"sum":…}]` numbers, `agg=` choosing which.
//! - `GET /jobs/:jobid/vertices/:vid/backpressure`: Flink's metric-based backpressure:
//!   per subtask `backPressuredTimeMsPerSecond / 1000`, `ok` up to 0.10, `low` up to 0.5,
//!   `high` above; the vertex's level is its worst subtask's.
//! - `GET /jobs/:jobid/vertices/:vid/watermarks`: each subtask's `currentInputWatermark`.
//!
//! All bodies are bare JSON arrays (or the backpressure object). The values come from
//! [`weir_cluster::jobmanager::metrics`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::jobs::{find_job, find_vertex, job_id};
use super::{RestError, ok};
use crate::routes::Routes;
use weir_cluster::jobmanager::JobManager;
use weir_cluster::jobmanager::metrics::{self as views, Metric};
use weir_core::execution::now_ms;
use weir_core::metrics::scope::{format_value, is_boolean};

/// The metric routes, merged into the REST API's (and so also under `/v1`).
pub(super) fn routes() -> Routes {
    Routes::new()
        .route("/jobs/metrics", get(jobs_aggregated))
        .route("/jobs/{jobid}/metrics", get(job))
        .route("/jobs/{jobid}/vertices/{vertexid}/metrics", get(vertex))
        .route("/jobs/{jobid}/vertices/{vertexid}/subtasks/metrics", get(subtasks_aggregated))
        .route("/jobs/{jobid}/vertices/{vertexid}/subtasks/{subtaskindex}/metrics", get(subtask))
        .route("/jobs/{jobid}/vertices/{vertexid}/backpressure", get(backpressure))
        .route("/jobs/{jobid}/vertices/{vertexid}/watermarks", get(watermarks))
        .route("/taskmanagers/metrics", get(taskmanagers_aggregated))
        .route("/taskmanagers/{taskmanagerid}/metrics", get(taskmanager))
        .route("/jobmanager/metrics", get(jobmanager))
}

/// The query parameters, in order; a parameter given twice counts with all its values.
type Params = Query<Vec<(String, String)>>;

/// The comma-separated values of parameter `key`, over all its occurrences, blanks dropped.
fn list(params: &[(String, String)], key: &str) -> Option<Vec<String>> {
    let values: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    (!values.is_empty()).then_some(values)
}

/// The answer of a plain metric endpoint.
fn metric_answer(metrics: &[Metric], params: &[(String, String)]) -> Response {
    ok(metric_body(metrics, params))
}

/// The ids available, or the requested values as strings.
pub fn metric_body(metrics: &[Metric], params: &[(String, String)]) -> Value {
    let Some(wanted) = list(params, "get") else {
        let ids: BTreeSet<&str> = metrics.iter().map(|(id, _)| id.as_str()).collect();
        return Value::Array(ids.into_iter().map(|id| json!({ "id": id })).collect());
    };
    let by_id: HashMap<&str, f64> = metrics.iter().map(|(id, v)| (id.as_str(), *v)).collect();
    let mut seen = BTreeSet::new();
    let values: Vec<Value> = wanted
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .filter_map(|id| by_id.get(id.as_str()).map(|v| json!({ "id": id, "value": format_value(id, *v) })))
        .collect();
    Value::Array(values)
}

/// An aggregation Flink's aggregated endpoints compute (`agg=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Aggregation {
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
    /// The mean.
    Avg,
    /// The total.
    Sum,
    /// How far the largest value is above the mean, in percent of the mean (Flink ≥ 1.19's
    /// data skew; 0 when the mean is 0).
    Skew,
}

impl Aggregation {
    const ALL: [Aggregation; 5] =
        [Aggregation::Min, Aggregation::Max, Aggregation::Avg, Aggregation::Sum, Aggregation::Skew];
    /// What an aggregated endpoint answers without `agg` (skew only where subtasks are compared).
    const DEFAULT: [Aggregation; 4] = [Aggregation::Min, Aggregation::Max, Aggregation::Avg, Aggregation::Sum];

    fn key(self) -> &'static str {
        match self {
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::Avg => "avg",
            Aggregation::Sum => "sum",
            Aggregation::Skew => "skew",
        }
    }
}

/// Parses `agg` (case-insensitive, all four when absent).
pub fn parse_aggregations(
    params: &[(String, String)],
    default: &[Aggregation],
) -> Result<BTreeSet<Aggregation>, RestError> {
    let Some(values) = list(params, "agg") else { return Ok(default.iter().copied().collect()) };
    values
        .iter()
        .map(|v| {
            Aggregation::ALL.into_iter().find(|a| a.key().eq_ignore_ascii_case(v)).ok_or_else(|| {
                RestError::bad_request(format!(
                    "Cannot resolve query parameter (agg): invalid aggregation '{v}'; the available ones are min, max, sum, avg."
                ))
            })
        })
        .collect()
}

/// Parses Flink's subtask ranges (`1,3,5-9`).
pub fn parse_ranges(text: &[String]) -> Result<BTreeSet<usize>, RestError> {
    let bad = |part: &str| {
        RestError::bad_request(format!(
            "Cannot resolve query parameter (subtasks): '{part}' is not a subtask index or a range like 5-9."
        ))
    };
    let mut indices = BTreeSet::new();
    for part in text {
        let number = |s: &str| s.trim().parse::<usize>().map_err(|_| bad(part));
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (number(from)?, number(to)?);
                if from > to {
                    return Err(bad(part));
                }
                // Ranges beyond any parallelism select nothing more; do not walk them.
                indices.extend(from..=to.min(from.saturating_add(1 << 16)));
            }
            None => {
                indices.insert(number(part)?);
            }
        }
    }
    Ok(indices)
}

/// Aggregates the metrics of several sources (jobs, TaskManagers, subtasks): for each
/// requested id (or, without `get`, lists the ids), over the sources that have it. Booleans
/// are not numbers to Flink and are skipped.
pub fn aggregate(sources: &[Vec<Metric>], params: &[(String, String)]) -> Result<Value, RestError> {
    aggregate_with(sources, params, &Aggregation::DEFAULT)
}

/// [`aggregate`] with its own aggregations when `agg` is absent.
pub fn aggregate_with(
    sources: &[Vec<Metric>],
    params: &[(String, String)],
    default: &[Aggregation],
) -> Result<Value, RestError> {
    let aggregations = parse_aggregations(params, default)?;
    let Some(wanted) = list(params, "get") else {
        let ids: BTreeSet<&str> = sources.iter().flatten().map(|(id, _)| id.as_str()).collect();
        return Ok(Value::Array(ids.into_iter().map(|id| json!({ "id": id })).collect()));
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for id in wanted.iter().filter(|id| seen.insert(id.as_str())) {
        if is_boolean(id) {
            continue;
        }
        let values: Vec<f64> =
            sources.iter().filter_map(|m| m.iter().find(|(name, _)| name == id).map(|(_, v)| *v)).collect();
        if values.is_empty() {
            continue;
        }
        let sum: f64 = values.iter().sum();
        let mut entry = Map::new();
        entry.insert("id".into(), json!(id));
        for a in &aggregations {
            let value = match a {
                Aggregation::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
                Aggregation::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                Aggregation::Avg => sum / values.len() as f64,
                Aggregation::Sum => sum,
                Aggregation::Skew => {
                    let avg = sum / values.len() as f64;
                    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    if avg == 0.0 { 0.0 } else { (max - avg) / avg.abs() * 100.0 }
                }
            };
            entry.insert(a.key().into(), json!(value));
        }
        out.push(Value::Object(entry));
    }
    Ok(Value::Array(out))
}

async fn job(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let mut body = metric_body(&views::job_metrics(job, now_ms()), &params);
    // Text-valued job metrics join the answer as Flink's string values.
    let text = views::job_text_metrics(job);
    if let Value::Array(items) = &mut body {
        match list(&params, "get") {
            None => items.extend(text.iter().map(|(id, _)| json!({ "id": id }))),
            Some(wanted) => items.extend(
                text.iter().filter(|(id, _)| wanted.contains(id)).map(|(id, v)| json!({ "id": id, "value": v })),
            ),
        }
    }
    Ok(ok(body))
}

async fn vertex(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let v = find_vertex(job, &vid)?;
    Ok(metric_answer(&views::vertex_metrics(job, v), &params))
}

async fn subtask(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid, index)): Path<(String, String, String)>,
    Query(params): Params,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let v = find_vertex(job, &vid)?;
    let index: usize = index
        .parse()
        .map_err(|_| RestError::bad_request(format!("Cannot parse subtask index \"{index}\": not a number.")))?;
    let subtask = views::vertex_subtasks(job, v)
        .get(index)
        .ok_or_else(|| RestError::not_found(format!("Subtask {index} of JobVertex {vid} does not exist.")))?;
    Ok(metric_answer(&views::subtask_metrics(job, v, subtask), &params))
}

async fn subtasks_aggregated(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Response, RestError> {
    let selected = list(&params, "subtasks").map(|s| parse_ranges(&s)).transpose()?;
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let v = find_vertex(job, &vid)?;
    let sources: Vec<Vec<Metric>> = views::vertex_subtasks(job, v)
        .iter()
        .enumerate()
        .filter(|(i, _)| selected.as_ref().is_none_or(|s| s.contains(i)))
        .map(|(_, s)| views::subtask_metrics(job, v, s))
        .collect();
    Ok(ok(aggregate_with(&sources, &params, &Aggregation::ALL)?))
}

async fn jobs_aggregated(State(jm): State<Arc<JobManager>>, Query(params): Params) -> Result<Response, RestError> {
    let selected = match list(&params, "jobs") {
        Some(ids) => Some(ids.iter().map(|id| job_id(id)).collect::<Result<BTreeSet<String>, _>>()?),
        None => None,
    };
    let now = now_ms();
    let state = jm.state();
    // As Flink's metric store, which holds the jobs that are still running unless asked.
    let sources: Vec<Vec<Metric>> = state
        .jobs
        .values()
        .filter(|j| match &selected {
            Some(ids) => ids.contains(j.record.id()),
            None => !j.record.status.is_globally_terminal(),
        })
        .map(|j| views::job_metrics(j, now))
        .collect();
    Ok(ok(aggregate(&sources, &params)?))
}

async fn taskmanager(
    State(jm): State<Arc<JobManager>>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Result<Response, RestError> {
    let state = jm.state();
    let tm =
        state.taskmanagers.get(&id).ok_or_else(|| RestError::not_found(format!("Could not find TaskManager {id}.")))?;
    Ok(metric_answer(&views::taskmanager_metrics(tm), &params))
}

async fn taskmanagers_aggregated(
    State(jm): State<Arc<JobManager>>,
    Query(params): Params,
) -> Result<Response, RestError> {
    let selected: Option<BTreeSet<String>> = list(&params, "taskmanagers").map(|ids| ids.into_iter().collect());
    let state = jm.state();
    let sources: Vec<Vec<Metric>> = state
        .taskmanagers
        .values()
        .filter(|tm| selected.as_ref().is_none_or(|s| s.contains(&tm.id)))
        .map(views::taskmanager_metrics)
        .collect();
    Ok(ok(aggregate(&sources, &params)?))
}

async fn jobmanager(State(jm): State<Arc<JobManager>>, Query(params): Params) -> Response {
    let metrics = views::jobmanager_metrics(&jm.state());
    metric_answer(&metrics, &params)
}

/// Flink's backpressure level for a ratio of time backpressured.
pub fn backpressure_level(ratio: f64) -> &'static str {
    if ratio <= 0.10 {
        "ok"
    } else if ratio <= 0.5 {
        "low"
    } else {
        "high"
    }
}

async fn backpressure(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let v = find_vertex(job, &vid)?;
    let subtasks = views::vertex_subtasks(job, v);
    if subtasks.iter().all(|s| s.metrics.is_empty()) {
        // Nothing reported yet (or the job never ran): Flink's answer without metrics.
        return Ok(ok(json!({ "status": "deprecated" })));
    }
    let ratio = |metrics: &[Metric], name: &str| {
        metrics.iter().find(|(id, _)| id == name).map_or(0.0, |(_, v)| (v / 1000.0).clamp(0.0, 1.0))
    };
    let mut worst = 0.0f64;
    let entries: Vec<Value> = subtasks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let metrics = views::subtask_metrics(job, v, s);
            let back_pressured = ratio(&metrics, "backPressuredTimeMsPerSecond");
            worst = worst.max(back_pressured);
            json!({
                "subtask": i,
                "attempt-number": s.attempt,
                "other-concurrent-attempts": [],
                "backpressure-level": backpressure_level(back_pressured),
                "backpressureLevel": backpressure_level(back_pressured),
                "ratio": back_pressured,
                "idleRatio": ratio(&metrics, "idleTimeMsPerSecond"),
                "busyRatio": ratio(&metrics, "busyTimeMsPerSecond"),
            })
        })
        .collect();
    // When the values were sampled: the latest heartbeat of the TaskManagers running it.
    let sampled = subtasks
        .iter()
        .filter_map(|s| s.taskmanager.as_ref().and_then(|tm| state.taskmanagers.get(tm)))
        .map(|tm| tm.last_heartbeat_ms)
        .max()
        .unwrap_or_else(now_ms);
    Ok(ok(json!({
        "status": "ok",
        "backpressure-level": backpressure_level(worst),
        "backpressureLevel": backpressure_level(worst),
        "end-timestamp": sampled,
        "subtasks": entries,
    })))
}

async fn watermarks(
    State(jm): State<Arc<JobManager>>,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Response, RestError> {
    let state = jm.state();
    let job = find_job(&state, &id)?;
    let v = find_vertex(job, &vid)?;
    let entries: Vec<Value> = views::vertex_subtasks(job, v)
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let id = format!("{i}.currentInputWatermark");
            s.metric("currentInputWatermark").map(|w| json!({ "id": id, "value": format_value(&id, w) }))
        })
        .collect();
    Ok(ok(Value::Array(entries)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn metrics(pairs: &[(&str, f64)]) -> Vec<Metric> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn aggregates_over_the_sources_that_have_the_metric() {
        let sources = vec![
            metrics(&[("numRecordsIn", 10.0), ("isBackPressured", 1.0)]),
            metrics(&[("numRecordsIn", 30.0)]),
            metrics(&[("other", 1.0)]),
        ];
        let all = aggregate(&sources, &params(&[("get", "numRecordsIn,isBackPressured,missing")])).unwrap();
        assert_eq!(all, json!([{"id": "numRecordsIn", "min": 10.0, "max": 30.0, "avg": 20.0, "sum": 40.0}]));
        let some = aggregate(&sources, &params(&[("get", "numRecordsIn"), ("agg", "SUM,max")])).unwrap();
        assert_eq!(some.to_string(), r#"[{"id":"numRecordsIn","max":30.0,"sum":40.0}]"#);
        let ids = aggregate(&sources, &params(&[])).unwrap();
        assert_eq!(ids, json!([{"id": "isBackPressured"}, {"id": "numRecordsIn"}, {"id": "other"}]));
        assert_eq!(aggregate(&sources, &params(&[("get", "x"), ("agg", "median")])).unwrap_err().status, 400);
        let skew = aggregate_with(&sources, &params(&[("get", "numRecordsIn")]), &Aggregation::ALL).unwrap();
        assert_eq!(skew[0]["skew"], 50.0, "max 30 is 50 % above the mean of 20: {skew}");
    }

    #[test]
    fn subtask_ranges_parse_as_flinks() {
        let parse = |s: &str| parse_ranges(&s.split(',').map(str::to_string).collect::<Vec<_>>());
        assert_eq!(parse("0,2-4").unwrap().into_iter().collect::<Vec<_>>(), [0, 2, 3, 4]);
        assert_eq!(parse("3").unwrap().len(), 1);
        assert!(parse("4-2").is_err());
        assert!(parse("a").is_err());
        assert!(parse("0-18446744073709551615").unwrap().len() <= (1 << 16) + 1);
    }

    #[test]
    fn levels_use_flinks_thresholds() {
        assert_eq!(backpressure_level(0.0), "ok");
        assert_eq!(backpressure_level(0.10), "ok");
        assert_eq!(backpressure_level(0.11), "low");
        assert_eq!(backpressure_level(0.5), "low");
        assert_eq!(backpressure_level(0.51), "high");
    }

    #[test]
    fn get_keeps_the_requested_order_and_omits_unknown_ids() {
        let m = metrics(&[("a", 1.0), ("b", 2.5), ("0.isBackPressured", 0.0)]);
        let values = metric_body(&m, &params(&[("get", "b,zzz,a,b"), ("get", "0.isBackPressured")]));
        assert_eq!(
            values,
            json!([{"id": "b", "value": "2.5"}, {"id": "a", "value": "1"}, {"id": "0.isBackPressured", "value": "false"}])
        );
        assert_eq!(metric_body(&m, &params(&[("get", "nothing")])), json!([]));
        assert_eq!(metric_body(&m, &params(&[])), json!([{"id": "0.isBackPressured"}, {"id": "a"}, {"id": "b"}]));
    }
}
