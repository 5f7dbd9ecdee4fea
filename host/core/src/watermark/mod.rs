//! Event time: how watermarks are made at the sources and combined downstream.
//!
//! - [`SplitWatermarks`]: a source subtask's watermark from its splits (Kafka partitions), each
//!   with bounded out-of-orderness and idleness, as Flink's `WatermarkStrategy
//!   .forBoundedOutOfOrderness(…).withIdleness(…)` on a `KafkaSource`.
//! - [`WatermarkValve`]: a task's input watermark from its input channels, ignoring idle ones,
//!   as Flink's `StatusWatermarkValve`.

mod generator;
mod valve;

pub use generator::{SourceWatermark, SplitWatermarks};
pub use valve::{ValveOutput, WatermarkValve};

/// No watermark yet.
pub const MIN_WATERMARK: i64 = i64::MIN;

/// The end of event time: every event-time timer fires.
pub const MAX_WATERMARK: i64 = i64::MAX;

/// How often sources emit watermarks (Flink's `pipeline.auto-watermark-interval`).
pub const WATERMARK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// Whether a stream currently carries watermarks (Flink's `WatermarkStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WatermarkStatus {
    /// Flink's `ACTIVE`: the stream's watermarks count downstream.
    Active,
    /// Flink's `IDLE`: the sender has no records for now, so its watermark holds nothing back.
    Idle,
}
