//! The playground's click-event generator (`ClickEventGenerator`): six pages round-robin, each
//! page's clock starting at the epoch and advancing 15 ms per event, written to Kafka with null
//! keys, about 500 events per second unless told otherwise.

use std::time::{Duration, Instant};

use crate::kafka::{DEFAULT_PARTITIONS, KafkaWriter, ensure_topics};
use crate::{ConnectorError, SinkWriter};
use weir_core::cancel::CancelToken;
use weir_core::jobgraph::{DeliveryGuarantee, KafkaSink, KafkaTopic};

/// The playground's pace: one event every 2 ms.
pub const DEFAULT_RATE: f64 = 500.0;

/// Events per write: small at low rates so that events leave at an even pace.
fn batch_size(rate: Option<f64>) -> u64 {
    match rate {
        // why: clamped to 1..=4096 just before, so only the fraction is dropped.
        #[allow(clippy::cast_possible_truncation)]
        Some(r) => (r / 50.0).clamp(1.0, 4096.0) as u64,
        None => 4096,
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GeneratorOptions {
    /// The Kafka brokers as a comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// The topic the events are written to.
    pub topic: String,
    /// Events per second; `None` writes as fast as the broker takes them.
    pub rate: Option<f64>,
    /// Stop after this many events.
    pub count: Option<u64>,
    /// The first event's index in the playground's sequence (0: from the start), so that a
    /// generator can go on where an earlier one stopped.
    pub start: u64,
}

/// Writes click events until `count` is reached or `cancel` is set; returns how many.
pub fn run(
    options: &GeneratorOptions,
    cancel: &CancelToken,
    mut progress: impl FnMut(u64),
) -> Result<u64, ConnectorError> {
    ensure_topics(&options.bootstrap_servers, &[&options.topic], DEFAULT_PARTITIONS)?;
    let spec = KafkaSink {
        topic: KafkaTopic {
            topic: options.topic.clone(),
            bootstrap_servers: options.bootstrap_servers.clone(),
            properties: vec![],
        },
        delivery_guarantee: DeliveryGuarantee::AtLeastOnce,
    };
    let mut writer = KafkaWriter::new(&spec, "weir-generator".into(), Vec::new(), false)?;
    let started = Instant::now();
    let per_batch = batch_size(options.rate);
    let mut next = 0u64;
    let first = options.start;
    let mut batch = Vec::new();
    let mut events = click_event::EventWriter::default();
    let mut last_progress = Instant::now();
    while !cancel.is_cancelled() && options.count.is_none_or(|c| next < c) {
        let n = options.count.map_or(per_batch, |c| per_batch.min(c - next));
        batch.clear();
        for i in first + next..first + next + n {
            weir_frame::push_written(&mut batch, weir_frame::NO_TIMESTAMP, |out| events.write_nth(out, i));
        }
        writer.write(&batch)?;
        next += n;
        if let Some(rate) = options.rate {
            let due = started + Duration::from_secs_f64(next as f64 / rate);
            if !cancel.sleep(due.saturating_duration_since(Instant::now())) {
                break;
            }
        }
        if last_progress.elapsed() >= Duration::from_secs(5) {
            progress(next);
            last_progress = Instant::now();
        }
    }
    writer.flush(Duration::from_secs(60))?;
    progress(next);
    Ok(next)
}
