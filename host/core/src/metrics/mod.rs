//! Metrics: what each task and operator counts, named as Flink names them so dashboards and
//! scripts carry over. Guests add their own through the `metrics` import (in `weir-wasm`).
//!
//! Values are atomics written by the task threads and read by whoever reports them (the local
//! runner's progress line, a TaskManager's heartbeat). [`JobMetrics`] is the whole job's view:
//! per vertex, per subtask.
//!
//! - [`meter`]: per-second rates from counters, computed where the counters are (the
//!   TaskManager) and shipped with them.
//! - [`scope`]: Flink's task and operator scopes, metric ids and value formatting.
//! - [`process`]: the process's CPU, memory and threads from `/proc/self`.

pub mod meter;
pub mod process;
pub mod scope;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use meter::{MeterView, RATE_WINDOW};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n` to the count.
    #[inline]
    pub fn inc(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (an `f64`).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Sets the gauge to `v`.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    /// The gauge's current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// A yes/no gauge (Flink's `Gauge<Boolean>`).
#[derive(Debug, Default)]
pub struct Flag(AtomicBool);

impl Flag {
    /// Sets the flag.
    pub fn set(&self, v: bool) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// The flag's value.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
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
    /// Sets the watermark to `v`.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// The watermark, `i64::MIN` if none has passed yet.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The metric `name` of `own`, created if it is new and `own`'s and `others` metrics number
/// fewer than `max`.
fn existing_or_within<T: Default>(
    own: &mut BTreeMap<String, Arc<T>>,
    others: usize,
    name: &str,
    max: usize,
) -> Option<Arc<T>> {
    if let Some(metric) = own.get(name) {
        return Some(metric.clone());
    }
    (own.len() + others < max).then(|| own.entry(name.to_string()).or_default().clone())
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

    /// The counter called `name`, or `None` if it is new and `max` metrics are registered
    /// already (a guest's cap: every metric travels in each heartbeat).
    pub fn counter_within(&self, name: &str, max: usize) -> Option<Arc<Counter>> {
        // Locked in the same order as `gauge_within` and `values`: counters, then gauges.
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let gauges = self.gauges.lock().unwrap_or_else(|e| e.into_inner()).len();
        existing_or_within(&mut counters, gauges, name, max)
    }

    /// The gauge called `name`, or `None` if it is new and `max` metrics are registered already.
    pub fn gauge_within(&self, name: &str, max: usize) -> Option<Arc<Gauge>> {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner()).len();
        let mut gauges = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        existing_or_within(&mut gauges, counters, name, max)
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

/// How full a side of a task's network is: buffers queued in its channels, and that as a
/// share of what the channels hold (Flink's `outputQueueLength`/`outPoolUsage` and their input
/// counterparts). Written by the task thread whenever it sends, receives or waits.
#[derive(Debug, Default)]
pub struct BufferGauges {
    /// Buffers queued in the channels.
    pub queue_length: Gauge,
    /// Queued buffers over what the channels hold, 0 to 1.
    pub pool_usage: Gauge,
}

impl BufferGauges {
    /// Records `queued` buffers in channels that hold `capacity` in all.
    pub fn record(&self, queued: usize, capacity: usize) {
        self.queue_length.set(queued as f64);
        self.pool_usage.set(if capacity == 0 { 0.0 } else { queued as f64 / capacity as f64 });
    }
}

/// The counters whose per-second rates are reported, in [`TaskMetrics::rates`] order.
const RATED: usize = 8;

/// The built-in metrics of one task (a subtask of a vertex), as Flink's task metrics.
#[derive(Debug)]
pub struct TaskMetrics {
    /// Flink's `numRecordsIn`: records the task has taken in (read, for a source).
    pub num_records_in: Counter,
    /// Flink's `numRecordsOut`: records the task has emitted.
    pub num_records_out: Counter,
    /// Flink's `numBytesIn`: bytes of record batches (frame format) the task has taken in.
    pub num_bytes_in: Counter,
    /// Flink's `numBytesOut`: bytes of record batches the task has sent downstream.
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
    /// True while the task waits for room in an output channel (Flink's `isBackPressured`).
    pub is_back_pressured: Flag,
    /// How full the output channels are.
    pub output_buffers: BufferGauges,
    /// How full the input channels are.
    pub input_buffers: BufferGauges,
    /// Flink's `currentInputWatermark`: the smallest watermark over the task's active inputs.
    pub current_input_watermark: WatermarkGauge,
    /// Flink's `currentOutputWatermark`: the last watermark the task emitted.
    pub current_output_watermark: WatermarkGauge,
    /// The metrics the operator registers by name (guest and SDK metrics).
    pub operator: Arc<OperatorMetrics>,
    /// Rates of the counters, over a window ending at the latest read.
    rates: Mutex<MeterView<RATED>>,
}

impl Default for TaskMetrics {
    fn default() -> Self {
        TaskMetrics {
            num_records_in: Counter::default(),
            num_records_out: Counter::default(),
            num_bytes_in: Counter::default(),
            num_bytes_out: Counter::default(),
            back_pressured_time_ns: Counter::default(),
            idle_time_ns: Counter::default(),
            busy_time_ns: Counter::default(),
            wasm_time_ns: Counter::default(),
            is_back_pressured: Flag::default(),
            output_buffers: BufferGauges::default(),
            input_buffers: BufferGauges::default(),
            current_input_watermark: WatermarkGauge::default(),
            current_output_watermark: WatermarkGauge::default(),
            operator: Arc::default(),
            // The counters start at zero now: the first read already has a rate.
            rates: Mutex::new(MeterView::new(Instant::now(), RATE_WINDOW)),
        }
    }
}

/// Records an exactly-once sink writer did not write because they had been published before a
/// failure (restored, it publishes its checkpoint's held records and skips those). Counted over
/// the job's attempts: the count is carried in the sink's checkpointed state. Registered by
/// Kafka sink writers.
pub const NUM_RECORDS_OUT_DUPLICATES_SKIPPED: &str = "numRecordsOutDuplicatesSkipped";

/// Records an exactly-once sink writer made visible (published when their checkpoint completed,
/// or found published already), over the job's attempts as the skipped count is.
pub const NUM_RECORDS_OUT_PUBLISHED: &str = "numRecordsOutPublished";

/// Records an exactly-once sink writer holds until the checkpoint closing their epoch completes.
pub const NUM_RECORDS_OUT_HELD: &str = "numRecordsOutHeld";

/// Output buffer metrics, with Flink's group names.
pub const OUTPUT_QUEUE_LENGTH: &str = "Shuffle.Netty.Output.Buffers.outputQueueLength";
/// See [`OUTPUT_QUEUE_LENGTH`].
pub const OUT_POOL_USAGE: &str = "Shuffle.Netty.Output.Buffers.outPoolUsage";
/// Input buffer metrics, with Flink's group names.
pub const INPUT_QUEUE_LENGTH: &str = "Shuffle.Netty.Input.Buffers.inputQueueLength";
/// See [`INPUT_QUEUE_LENGTH`].
pub const IN_POOL_USAGE: &str = "Shuffle.Netty.Input.Buffers.inPoolUsage";

impl TaskMetrics {
    /// The per-second rates of the counters now, over the last [`RATE_WINDOW`]: records and
    /// bytes in and out, then milliseconds per second backpressured, idle, busy and in WASM.
    ///
    /// Busy time per second is Flink's `1000 - idle - backpressured`, so that work the host
    /// does for the task (polling Kafka, writing a sink) counts as busy, as it does in Flink.
    fn rates(&self) -> [f64; RATED] {
        let counts = [
            self.num_records_in.get(),
            self.num_records_out.get(),
            self.num_bytes_in.get(),
            self.num_bytes_out.get(),
            self.back_pressured_time_ns.get(),
            self.idle_time_ns.get(),
            self.busy_time_ns.get(),
            self.wasm_time_ns.get(),
        ];
        let mut rates = self.rates.lock().unwrap_or_else(|e| e.into_inner()).rates(Instant::now(), counts);
        // Nanoseconds per second to milliseconds per second, at most a whole second each.
        for r in &mut rates[4..] {
            *r = (*r / 1e6).min(1000.0);
        }
        rates[6] = (1000.0 - rates[4] - rates[5]).clamp(0.0, 1000.0);
        rates
    }

    /// Every metric of the task, Flink's names first, then the operator's named ones. Reading
    /// them samples the per-second rates.
    pub fn values(&self) -> Vec<(String, f64)> {
        let wm = |g: &WatermarkGauge| g.get() as f64;
        let [rec_in, rec_out, bytes_in, bytes_out, back_pressured, idle, busy, wasm] = self.rates();
        let mut values = vec![
            ("numRecordsIn".to_string(), self.num_records_in.get() as f64),
            ("numRecordsOut".to_string(), self.num_records_out.get() as f64),
            ("numBytesIn".to_string(), self.num_bytes_in.get() as f64),
            ("numBytesOut".to_string(), self.num_bytes_out.get() as f64),
            ("numRecordsInPerSecond".to_string(), rec_in),
            ("numRecordsOutPerSecond".to_string(), rec_out),
            ("numBytesInPerSecond".to_string(), bytes_in),
            ("numBytesOutPerSecond".to_string(), bytes_out),
            ("accumulatedBackPressuredTimeMs".to_string(), (self.back_pressured_time_ns.get() / 1_000_000) as f64),
            ("accumulatedIdleTimeMs".to_string(), (self.idle_time_ns.get() / 1_000_000) as f64),
            ("accumulatedBusyTimeMs".to_string(), (self.busy_time_ns.get() / 1_000_000) as f64),
            ("backPressuredTimeMsPerSecond".to_string(), back_pressured),
            ("idleTimeMsPerSecond".to_string(), idle),
            ("busyTimeMsPerSecond".to_string(), busy),
            ("isBackPressured".to_string(), if self.is_back_pressured.get() { 1.0 } else { 0.0 }),
            ("wasmTimeMs".to_string(), (self.wasm_time_ns.get() / 1_000_000) as f64),
            ("wasmTimeMsPerSecond".to_string(), wasm),
            ("currentInputWatermark".to_string(), wm(&self.current_input_watermark)),
            ("currentOutputWatermark".to_string(), wm(&self.current_output_watermark)),
            (OUTPUT_QUEUE_LENGTH.to_string(), self.output_buffers.queue_length.get()),
            (OUT_POOL_USAGE.to_string(), self.output_buffers.pool_usage.get()),
            (INPUT_QUEUE_LENGTH.to_string(), self.input_buffers.queue_length.get()),
            (IN_POOL_USAGE.to_string(), self.input_buffers.pool_usage.get()),
        ];
        values.extend(self.operator.values());
        values
    }
}

/// The metrics of one vertex: one [`TaskMetrics`] per subtask.
#[derive(Debug)]
pub struct VertexMetrics {
    /// The vertex's name, as the REST API shows it.
    pub name: String,
    /// Each subtask's metrics, by subtask index.
    pub subtasks: Vec<Arc<TaskMetrics>>,
}

/// The metrics of a whole job.
#[derive(Debug, Default)]
pub struct JobMetrics {
    /// Each vertex's metrics, in the job graph's order.
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
