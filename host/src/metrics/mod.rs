//! Metrics: what each task and operator counts, named as Flink names them so dashboards and
//! scripts carry over, and the `metrics` import through which guests add their own.
//!
//! Values are atomics written by the task threads and read by whoever reports them (the local
//! runner's progress line, the REST API). [`JobMetrics`] is the whole job's view: per vertex,
//! per subtask.

pub mod wit;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub fn inc(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (an `f64`).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// A watermark gauge (`i64::MIN` until the first watermark).
#[derive(Debug)]
pub struct WatermarkGauge(AtomicI64);

impl Default for WatermarkGauge {
    fn default() -> Self {
        WatermarkGauge(AtomicI64::new(i64::MIN))
    }
}

impl WatermarkGauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The metrics of one operator subtask that its code registers by name: guest counters and
/// gauges, and the ones the SDK registers (such as `numLateRecordsDropped`).
#[derive(Debug, Default)]
pub struct OperatorMetrics {
    counters: Mutex<BTreeMap<String, Arc<Counter>>>,
    gauges: Mutex<BTreeMap<String, Arc<Gauge>>>,
}

impl OperatorMetrics {
    /// The counter called `name`, created at zero if new.
    pub fn counter(&self, name: &str) -> Arc<Counter> {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        counters.entry(name.to_string()).or_default().clone()
    }

    /// The gauge called `name`, created at zero if new.
    pub fn gauge(&self, name: &str) -> Arc<Gauge> {
        let mut gauges = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        gauges.entry(name.to_string()).or_default().clone()
    }

    /// Every named metric and its current value.
    pub fn values(&self) -> Vec<(String, f64)> {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let gauges = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        counters
            .iter()
            .map(|(k, c)| (k.clone(), c.get() as f64))
            .chain(gauges.iter().map(|(k, g)| (k.clone(), g.get())))
            .collect()
    }
}

/// The built-in metrics of one task (a subtask of a vertex), as Flink's task metrics.
#[derive(Debug, Default)]
pub struct TaskMetrics {
    pub num_records_in: Counter,
    pub num_records_out: Counter,
    pub num_bytes_in: Counter,
    pub num_bytes_out: Counter,
    /// Time spent blocked on full output channels (backpressure), in nanoseconds.
    pub back_pressured_time_ns: Counter,
    /// Time spent waiting for input, in nanoseconds.
    pub idle_time_ns: Counter,
    /// Time spent processing (in the operator, sleeping included, backpressure excluded).
    pub busy_time_ns: Counter,
    /// Time spent running WebAssembly in the guest: its own compute, neither sleeping nor
    /// waiting on backpressure. Flink cannot tell this apart: which user function is slow.
    pub wasm_time_ns: Counter,
    pub current_input_watermark: WatermarkGauge,
    pub current_output_watermark: WatermarkGauge,
    pub operator: Arc<OperatorMetrics>,
}

impl TaskMetrics {
    /// Every metric of the task, Flink's names first, then the operator's named ones.
    pub fn values(&self) -> Vec<(String, f64)> {
        let wm = |g: &WatermarkGauge| g.get() as f64;
        let mut values = vec![
            ("numRecordsIn".to_string(), self.num_records_in.get() as f64),
            ("numRecordsOut".to_string(), self.num_records_out.get() as f64),
            ("numBytesIn".to_string(), self.num_bytes_in.get() as f64),
            ("numBytesOut".to_string(), self.num_bytes_out.get() as f64),
            ("accumulatedBackPressuredTimeMs".to_string(), (self.back_pressured_time_ns.get() / 1_000_000) as f64),
            ("accumulatedIdleTimeMs".to_string(), (self.idle_time_ns.get() / 1_000_000) as f64),
            ("accumulatedBusyTimeMs".to_string(), (self.busy_time_ns.get() / 1_000_000) as f64),
            ("wasmTimeMs".to_string(), (self.wasm_time_ns.get() / 1_000_000) as f64),
            ("currentInputWatermark".to_string(), wm(&self.current_input_watermark)),
            ("currentOutputWatermark".to_string(), wm(&self.current_output_watermark)),
        ];
        values.extend(self.operator.values());
        values
    }
}

/// The metrics of one vertex: one [`TaskMetrics`] per subtask.
#[derive(Debug)]
pub struct VertexMetrics {
    pub name: String,
    pub subtasks: Vec<Arc<TaskMetrics>>,
}

/// The metrics of a whole job.
#[derive(Debug, Default)]
pub struct JobMetrics {
    pub vertices: Vec<VertexMetrics>,
}

impl JobMetrics {
    /// The value of `metric` summed over the subtasks of the vertex named `vertex`.
    pub fn sum(&self, vertex: &str, metric: &str) -> f64 {
        self.vertices
            .iter()
            .filter(|v| v.name == vertex)
            .flat_map(|v| &v.subtasks)
            .flat_map(|t| t.values())
            .filter(|(name, _)| name == metric)
            .map(|(_, v)| v)
            .sum()
    }
}
