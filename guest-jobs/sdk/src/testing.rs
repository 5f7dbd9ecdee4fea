//! Testing a job's operators with `cargo test`, on this machine, with no component, broker or
//! cluster: Flink's operator test harness (`KeyedOneInputStreamOperatorTestHarness`) for Weir
//! jobs. [`OperatorHarness`] plans the job with its arguments, opens one operator (by uid) as
//! subtask 0 of 1 on an in-memory host, and lets the test feed records, move the watermark and
//! the processing-time clock by hand, and read what the operator emitted, its keyed state, its
//! timers, metrics and logs. It runs the job's own code, the code the component runs; only the
//! host around it is in memory. Nothing sleeps: time moves only when the test moves it.
//!
//! This module exists only when the SDK is built for this machine (not in a component). The
//! host is per thread, so a test opens one harness at a time (each Rust test has its own thread).
//!
//! ```
//! use weir_sdk::stream::connectors::KafkaSource;
//! use weir_sdk::stream::state::ValueState;
//! use weir_sdk::stream::{Collector, Context, Env, KeyedProcessFunction, StreamJob, Text};
//! use weir_sdk::testing::OperatorHarness;
//!
//! /// Counts each word, and a second (event time) after its first sighting says how often.
//! struct Count {
//!     seen: ValueState<u64>,
//! }
//!
//! impl KeyedProcessFunction<String, String, String> for Count {
//!     fn process_element(
//!         &mut self,
//!         word: String,
//!         ctx: &mut Context<'_, String>,
//!         out: &mut Collector<'_, String>,
//!     ) -> Result<(), String> {
//!         let n = self.seen.value()?.unwrap_or(0) + 1;
//!         self.seen.update(&n)?;
//!         if n == 1 {
//!             ctx.register_event_time_timer(ctx.timestamp().unwrap_or(0) + 1_000);
//!         }
//!         out.collect(format!("{word},{n}"));
//!         Ok(())
//!     }
//!
//!     fn on_timer(
//!         &mut self,
//!         _time: i64,
//!         ctx: &mut Context<'_, String>,
//!         out: &mut Collector<'_, String>,
//!     ) -> Result<(), String> {
//!         let n = self.seen.value()?.unwrap_or(0);
//!         out.collect(format!("{} seen {n} times", ctx.current_key()));
//!         Ok(())
//!     }
//! }
//!
//! struct Words;
//!
//! impl StreamJob for Words {
//!     fn build(env: &mut Env, _args: Vec<String>) -> Result<(), String> {
//!         env.from_source(KafkaSource::new("127.0.0.1:9092", "words"), Text)
//!             .key_by(|w: &String| w.clone())
//!             .process(Count { seen: ValueState::new("seen") })
//!             .uid("counter")
//!             .print();
//!         Ok(())
//!     }
//! }
//!
//! let mut h = OperatorHarness::open_stream::<Words>(&[], "counter")?;
//! h.process_typed(b"to", &"to".to_string(), 10)?;
//! h.process_typed(b"to", &"to".to_string(), 20)?;
//! assert_eq!(h.take_output_text()?, ["to,1", "to,2"]); // what the print sink gets
//! assert_eq!(h.timers().len(), 1);
//! h.advance_watermark(1_010)?; // fires the event-time timer at 1010
//! assert_eq!(h.take_output_text()?, ["to seen 2 times"]);
//! assert_eq!(h.value_state_json::<u64>("seen", b"to")?, Some(2));
//! # Ok::<(), String>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::graph::{OperatorKind, ShipStrategy};
use crate::host::logging::Level;
use crate::host::native::{self, Host};
use crate::state::Codec;
use crate::stream::{StreamJob, Streamed};
use crate::time::{TimeDomain, Timer};
use crate::{Job, OperatorContext, runtime};

/// One record an operator emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emitted {
    /// Its timestamp (`i64::MIN`: none).
    pub timestamp: i64,
    /// Its key bytes (empty: no key).
    pub key: Vec<u8>,
    /// Its value bytes: text or JSON for a sink's input, the typed encoding between operators.
    pub value: Vec<u8>,
}

/// One operator of a job, opened on an in-memory host (see the module's documentation).
pub struct OperatorHarness {
    /// The host is the thread's: the harness stays on the thread that opened it.
    _thread: std::marker::PhantomData<*const ()>,
}

impl OperatorHarness {
    /// Plans the stream job `S` with `args` and opens its operator `uid`.
    pub fn open_stream<S: StreamJob>(args: &[&str], uid: &str) -> Result<Self, String> {
        Self::open::<Streamed<S>>(args, uid)
    }

    /// Plans the job `J` (a low-level [`Job`]) with `args` and opens its operator `uid`, which
    /// must run a function (a transform, or a source with a deserializer). The watermark starts
    /// at `i64::MIN` and the processing-time clock at 0.
    pub fn open<J: Job>(args: &[&str], uid: &str) -> Result<Self, String> {
        native::with(|h| *h = Host { watermark: i64::MIN, ..Host::default() });
        let graph = runtime::plan::<J>(args.iter().map(|a| a.to_string()).collect())?;
        let Some(op) = graph.operators.iter().find(|o| o.uid == uid) else {
            let uids: Vec<&str> = graph.operators.iter().map(|o| o.uid.as_str()).collect();
            return Err(format!("the job {} has no operator '{uid}' (its operators: {})", graph.name, uids.join(", ")));
        };
        let function = match &op.kind {
            OperatorKind::Transform(spec) => Some(spec.function.clone()),
            OperatorKind::Source(spec) => spec.function.clone(),
            OperatorKind::Sink(_) => None,
        };
        let function = function
            .ok_or_else(|| format!("the operator '{uid}' ({}) runs no function of the job to test", op.name))?;
        let context = OperatorContext {
            job_name: graph.name.clone(),
            uid: op.uid.clone(),
            name: op.name.clone(),
            function,
            config: op.config.clone(),
            subtask_index: 0,
            parallelism: 1,
            max_parallelism: graph.max_parallelism,
            keyed: op.inputs.iter().any(|i| i.strategy == ShipStrategy::Hash),
        };
        runtime::open::<J>(context)?;
        Ok(OperatorHarness { _thread: std::marker::PhantomData })
    }

    /// Hands the operator one record on its first input.
    pub fn process_element(&mut self, key: &[u8], value: &[u8], timestamp: i64) -> Result<(), String> {
        self.process_element_on(0, key, value, timestamp)
    }

    /// Hands the operator one record on input `input` (0-based; a two-input operator's second
    /// input is 1).
    pub fn process_element_on(&mut self, input: u32, key: &[u8], value: &[u8], timestamp: i64) -> Result<(), String> {
        let mut batch = Vec::new();
        weir_frame::push(&mut batch, timestamp, key, value);
        runtime::process(input, batch)
    }

    /// Hands a keyed operator `value` on its first input under `key` (encoded as the job's key
    /// selector's key is, with [`Codec`]), as the hash exchange delivers it.
    pub fn process_keyed<K: Codec, T: Serialize>(&mut self, key: &K, value: &T, timestamp: i64) -> Result<(), String> {
        let mut bytes = Vec::new();
        key.encode(&mut bytes);
        self.process_typed_on(0, &bytes, value, timestamp)
    }

    /// Hands the operator `value` on its first input, encoded as typed operators send records
    /// to each other, with `key`'s bytes (the key selector's key, as the exchange carries it).
    pub fn process_typed<T: Serialize>(&mut self, key: &[u8], value: &T, timestamp: i64) -> Result<(), String> {
        self.process_typed_on(0, key, value, timestamp)
    }

    /// [`OperatorHarness::process_typed`] on input `input`.
    pub fn process_typed_on<T: Serialize>(
        &mut self,
        input: u32,
        key: &[u8],
        value: &T,
        timestamp: i64,
    ) -> Result<(), String> {
        let mut bytes = Vec::new();
        crate::stream::format::encode_wire(value, &mut bytes)?;
        self.process_element_on(input, key, &bytes, timestamp)
    }

    /// Moves the watermark to `watermark` (never back) and fires the event-time timers at or
    /// before it, in time order, as the host does.
    pub fn advance_watermark(&mut self, watermark: i64) -> Result<(), String> {
        native::with(|h| h.watermark = h.watermark.max(watermark));
        self.fire_due()
    }

    /// Sets the processing-time clock the operator reads to `now` (never back) and fires the
    /// processing-time timers at or before it.
    pub fn set_processing_time(&mut self, now: i64) -> Result<(), String> {
        native::with(|h| h.processing_time = h.processing_time.max(now));
        self.fire_due()
    }

    /// Fires every due timer, again while firing registers more that are due.
    fn fire_due(&mut self) -> Result<(), String> {
        loop {
            let due: Vec<Timer> = native::with(|h| {
                let (watermark, now) = (h.watermark, h.processing_time);
                let due: Vec<_> = h
                    .timers
                    .iter()
                    .filter(|(time, event, _, _)| *time <= if *event { watermark } else { now })
                    .cloned()
                    .collect();
                for t in &due {
                    h.timers.remove(t);
                }
                due.into_iter()
                    .map(|(time, event, key, namespace)| Timer {
                        key,
                        namespace,
                        time,
                        domain: if event { TimeDomain::EventTime } else { TimeDomain::ProcessingTime },
                    })
                    .collect()
            });
            if due.is_empty() {
                return Ok(());
            }
            runtime::on_timers(due)?;
        }
    }

    /// Ends the input: the watermark goes to its maximum (firing every event-time timer) and the
    /// operator's `finish` runs, as at the end of a bounded input.
    pub fn finish(&mut self) -> Result<(), String> {
        self.advance_watermark(i64::MAX)?;
        runtime::finish()
    }

    /// The records emitted since the last take, oldest first.
    pub fn take_output(&mut self) -> Result<Vec<Emitted>, String> {
        let batches = native::with(|h| std::mem::take(&mut h.emitted));
        let mut out = Vec::new();
        for batch in &batches {
            for record in weir_frame::records(batch) {
                let r = record.map_err(|e| format!("the operator emitted a malformed batch: {e}"))?;
                out.push(Emitted { timestamp: r.timestamp, key: r.key.to_vec(), value: r.value.to_vec() });
            }
        }
        Ok(out)
    }

    /// The values emitted since the last take, decoded as typed operators' records of type `T`.
    pub fn take_output_typed<T: DeserializeOwned>(&mut self) -> Result<Vec<T>, String> {
        self.take_output()?.iter().map(|r| crate::stream::format::decode_wire(&r.value)).collect()
    }

    /// The values emitted since the last take, as text (a print or text sink's input).
    pub fn take_output_text(&mut self) -> Result<Vec<String>, String> {
        Ok(self.take_output()?.into_iter().map(|r| String::from_utf8_lossy(&r.value).into_owned()).collect())
    }

    /// The raw bytes of value state `name` for (`key`, `namespace`).
    pub fn value_state(&self, name: &str, key: &[u8], namespace: &[u8]) -> Option<Vec<u8>> {
        native::with(|h| h.values.get(name)?.get(&(key.to_vec(), namespace.to_vec())).cloned())
    }

    /// Typed value state `name` of `key` bytes (the typed API's JSON, without a namespace; a
    /// state with a TTL keeps its write time before the JSON: read it with [`Self::value_state`]).
    pub fn value_state_json<T: DeserializeOwned>(&self, name: &str, key: &[u8]) -> Result<Option<T>, String> {
        let Some(bytes) = self.value_state(name, key, b"") else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("value state '{name}' is not that type: {e}"))
    }

    /// Typed value state `name` of `key` (encoded with [`Codec`], as [`Self::process_keyed`]).
    pub fn keyed_value_state<K: Codec, T: DeserializeOwned>(&self, name: &str, key: &K) -> Result<Option<T>, String> {
        let mut bytes = Vec::new();
        key.encode(&mut bytes);
        self.value_state_json(name, &bytes)
    }

    /// The entries of map state `name` for (`key`, `namespace`), by map key.
    pub fn map_state(&self, name: &str, key: &[u8], namespace: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        native::with(|h| {
            let map = h.maps.get(name).and_then(|t| t.get(&(key.to_vec(), namespace.to_vec())));
            map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
        })
    }

    /// The timers registered and not yet fired, in time order.
    pub fn timers(&self) -> Vec<Timer> {
        native::with(|h| {
            h.timers
                .iter()
                .map(|(time, event, key, namespace)| Timer {
                    key: key.clone(),
                    namespace: namespace.clone(),
                    time: *time,
                    domain: if *event { TimeDomain::EventTime } else { TimeDomain::ProcessingTime },
                })
                .collect()
        })
    }

    /// The watermark the operator sees.
    pub fn watermark(&self) -> i64 {
        native::with(|h| h.watermark)
    }

    /// Counter `name`'s count, if the operator made one.
    pub fn counter(&self, name: &str) -> Option<u64> {
        native::with(|h| h.counters.get(name).copied())
    }

    /// Gauge `name`'s last value, if the operator set one.
    pub fn gauge(&self, name: &str) -> Option<f64> {
        native::with(|h| h.gauges.get(name).copied())
    }

    /// What the operator logged, oldest first.
    pub fn logs(&self) -> Vec<(Level, String)> {
        native::with(|h| h.logs.clone())
    }
}
