//! The physical operators a typed pipeline turns into: each runs one *head* (a source's format,
//! the records of a previous operator, or a keyed function) followed by the chain of stateless
//! stages fused after it (map, filter, flat_map…), ending in an encoder that writes the chain's
//! records into the operator's output for the next operator or a sink.

use std::marker::PhantomData;

use super::format::{DeserializationSchema, SerializationSchema, decode_wire, encode_wire};
use super::function::{Collector, Context, KeyedCoProcessFunction, KeyedProcessFunction, Push, SideWriter};
use super::state::with_current_key;
use crate::metrics::{Counter, Level, RateLimitedLog};
use crate::state::Codec;
use crate::time::{MIN_TIMESTAMP, TimeDomain, Timer};
use crate::{Operator, Output, Record, Records};

/// A chain stage or encoder written as a closure.
pub(crate) struct FnPush<T, F> {
    f: F,
    _input: PhantomData<fn(T)>,
}

/// Boxes a closure as the next stage of a chain.
pub(crate) fn stage<T: 'static, F>(f: F) -> Box<dyn Push<T>>
where
    F: FnMut(T, i64, &mut Output) -> Result<(), String> + 'static,
{
    Box::new(FnPush { f, _input: PhantomData })
}

impl<T, F: FnMut(T, i64, &mut Output) -> Result<(), String>> Push<T> for FnPush<T, F> {
    #[inline]
    fn push(&mut self, value: T, timestamp: i64, out: &mut Output) -> Result<(), String> {
        (self.f)(value, timestamp, out)
    }
}

/// The end of a chain whose records go to the next operator over a forward or rebalance edge.
pub(crate) fn wire_encoder<T: serde::Serialize + 'static>() -> Box<dyn Push<T>> {
    let mut scratch = Vec::new();
    stage(move |value: T, timestamp, out: &mut Output| {
        scratch.clear();
        encode_wire(&value, &mut scratch)?;
        out.emit(timestamp, b"", &scratch);
        Ok(())
    })
}

/// The end of a chain whose records go to a keyed operator: the key (encoded as keyed state
/// encodes it) is what the hash exchange partitions on. Without `values`, only the key and
/// the timestamp go (to an operator that never reads the records: a window that counts).
pub(crate) fn keyed_wire_encoder<T: serde::Serialize + 'static, K: Codec + 'static>(
    mut key_of: impl FnMut(&T) -> K + 'static,
    values: bool,
) -> Box<dyn Push<T>> {
    let mut key = Vec::new();
    let mut scratch = Vec::new();
    stage(move |value: T, timestamp, out: &mut Output| {
        key.clear();
        key_of(&value).encode(&mut key);
        scratch.clear();
        if values {
            encode_wire(&value, &mut scratch)?;
        }
        out.emit(timestamp, &key, &scratch);
        Ok(())
    })
}

/// The end of a chain whose records go to a sink, written in the sink's format.
pub(crate) fn format_encoder<T: 'static>(format: impl SerializationSchema<T>) -> Box<dyn Push<T>> {
    let (mut key, mut value) = (Vec::new(), Vec::new());
    stage(move |record: T, timestamp, out: &mut Output| {
        key.clear();
        value.clear();
        format.encode(&record, &mut key, &mut value)?;
        out.emit(timestamp, &key, &value);
        Ok(())
    })
}

/// The end of a chain whose records are printed (each record's `Display` as a line).
pub(crate) fn display_encoder<T: std::fmt::Display + 'static>() -> Box<dyn Push<T>> {
    let mut line = String::new();
    stage(move |record: T, timestamp, out: &mut Output| {
        use std::fmt::Write;
        line.clear();
        write!(line, "{record}").map_err(|e| e.to_string())?;
        out.emit(timestamp, b"", line.as_bytes());
        Ok(())
    })
}

/// A source's function: decodes what the connector read with the source's format.
pub(crate) struct SourceHead<T, F> {
    format: F,
    next: Box<dyn Push<T>>,
    malformed: Counter,
    log: RateLimitedLog,
}

impl<T, F: DeserializationSchema<T>> SourceHead<T, F> {
    pub(crate) fn new(format: F, next: Box<dyn Push<T>>) -> Self {
        SourceHead { format, next, malformed: Counter::new("numRecordsMalformed"), log: RateLimitedLog::new(10_000) }
    }
}

impl<T, F: DeserializationSchema<T>> Operator for SourceHead<T, F> {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        for record in records {
            match self.format.decode(record.key, record.value) {
                Ok(value) => self.next.push(value, record.timestamp, out)?,
                Err(e) if self.format.fails_on_malformed() => return Err(e),
                Err(e) => {
                    self.malformed.inc(1);
                    self.log.log(Level::Warn, || {
                        format!("skipping a malformed record (counted in numRecordsMalformed): {e}")
                    });
                }
            }
        }
        Ok(())
    }
}

/// An operator fed by others over forward or rebalance edges (a union, a rebalance).
pub(crate) struct WireHead<T> {
    next: Box<dyn Push<T>>,
}

impl<T> WireHead<T> {
    pub(crate) fn new(next: Box<dyn Push<T>>) -> Self {
        WireHead { next }
    }
}

impl<T: serde::de::DeserializeOwned> Operator for WireHead<T> {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        for record in records {
            self.next.push(decode_wire(record.value)?, record.timestamp, out)?;
        }
        Ok(())
    }
}

/// The timestamp of what a timer emits: the timer's time in event time, none in processing
/// time (as Flink's timestamped collector does).
pub(crate) fn timer_output_timestamp(timer: &Timer) -> i64 {
    match timer.domain {
        TimeDomain::EventTime => timer.time,
        TimeDomain::ProcessingTime => MIN_TIMESTAMP,
    }
}

/// Runs `call` for `key_bytes` as the current key, with a context and a collector.
pub(crate) fn keyed_call<K: Codec, O>(
    key_bytes: &[u8],
    timestamp: i64,
    output_timestamp: i64,
    domain: Option<TimeDomain>,
    next: &mut dyn Push<O>,
    out: &mut Output,
    call: impl FnOnce(&mut Context<'_, K>, &mut Collector<'_, O>) -> Result<(), String>,
) -> Result<(), String> {
    let call_times = CallTimes { timestamp, output_timestamp, domain };
    keyed_call_with_sides(key_bytes, call_times, next, None, out, call)
}

/// The times of a keyed call: the record's (or timer's), its output's, and the timer's clock.
#[derive(Clone, Copy)]
pub(crate) struct CallTimes {
    pub(crate) timestamp: i64,
    pub(crate) output_timestamp: i64,
    pub(crate) domain: Option<TimeDomain>,
}

impl CallTimes {
    pub(crate) fn record(timestamp: i64) -> Self {
        CallTimes { timestamp, output_timestamp: timestamp, domain: None }
    }

    pub(crate) fn timer(timer: &Timer) -> Self {
        CallTimes { timestamp: timer.time, output_timestamp: timer_output_timestamp(timer), domain: Some(timer.domain) }
    }
}

/// [`keyed_call`] whose collector can also write side outputs.
pub(crate) fn keyed_call_with_sides<K: Codec, O>(
    key_bytes: &[u8],
    times: CallTimes,
    next: &mut dyn Push<O>,
    sides: Option<&mut SideWriter>,
    out: &mut Output,
    call: impl FnOnce(&mut Context<'_, K>, &mut Collector<'_, O>) -> Result<(), String>,
) -> Result<(), String> {
    let key = K::decode(key_bytes).map_err(|e| format!("cannot decode a record's key: {e}"))?;
    with_current_key(key_bytes, || {
        let mut ctx = Context::new(&key, key_bytes, times.timestamp, times.domain);
        let mut collector = Collector::new(next, out, times.output_timestamp, sides);
        call(&mut ctx, &mut collector)?;
        collector.finish()
    })
}

/// Where a keyed function's calls go: each record or timer with its key made current, into
/// the chain after the function and its side outputs. The one loop every keyed head runs.
pub(crate) struct KeyedEmit<O> {
    next: Box<dyn Push<O>>,
    sides: SideWriter,
}

impl<O> KeyedEmit<O> {
    pub(crate) fn new(next: Box<dyn Push<O>>, sides: SideWriter) -> Self {
        KeyedEmit { next, sides }
    }

    /// Calls `call` with the record's value, its key current.
    pub(crate) fn record<K: Codec, V: serde::de::DeserializeOwned>(
        &mut self,
        record: &Record<'_>,
        out: &mut Output,
        call: impl FnOnce(V, &mut Context<'_, K>, &mut Collector<'_, O>) -> Result<(), String>,
    ) -> Result<(), String> {
        let value: V = decode_wire(record.value)?;
        let times = CallTimes::record(record.timestamp);
        keyed_call_with_sides(record.key, times, self.next.as_mut(), Some(&mut self.sides), out, |ctx, c| {
            call(value, ctx, c)
        })
    }

    /// Calls `call` for each timer, in order, its key current.
    pub(crate) fn timers<K: Codec>(
        &mut self,
        timers: Vec<Timer>,
        out: &mut Output,
        mut call: impl FnMut(i64, &mut Context<'_, K>, &mut Collector<'_, O>) -> Result<(), String>,
    ) -> Result<(), String> {
        for timer in timers {
            let times = CallTimes::timer(&timer);
            keyed_call_with_sides(&timer.key, times, self.next.as_mut(), Some(&mut self.sides), out, |ctx, c| {
                call(timer.time, ctx, c)
            })?;
        }
        Ok(())
    }

    /// A collector outside any key (a broadcast record's).
    pub(crate) fn collector<'a>(&'a mut self, out: &'a mut Output, timestamp: i64) -> Collector<'a, O> {
        Collector::new(self.next.as_mut(), out, timestamp, Some(&mut self.sides))
    }
}

/// A keyed operator running a [`KeyedProcessFunction`].
pub(crate) struct KeyedHead<K, I, O, F> {
    function: F,
    emit: KeyedEmit<O>,
    _types: PhantomData<fn(K, I)>,
}

impl<K, I, O, F> KeyedHead<K, I, O, F> {
    pub(crate) fn new(function: F, next: Box<dyn Push<O>>, sides: SideWriter) -> Self {
        KeyedHead { function, emit: KeyedEmit::new(next, sides), _types: PhantomData }
    }
}

impl<K: Codec, I: serde::de::DeserializeOwned, O, F: KeyedProcessFunction<K, I, O>> Operator for KeyedHead<K, I, O, F> {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        for record in records {
            self.emit.record(&record, out, |value, ctx, c| self.function.process_element(value, ctx, c))?;
        }
        Ok(())
    }

    fn on_timers(&mut self, timers: Vec<Timer>, out: &mut Output) -> Result<(), String> {
        self.emit.timers(timers, out, |time, ctx, c| self.function.on_timer(time, ctx, c))
    }
}

/// A keyed operator with two inputs running a [`KeyedCoProcessFunction`].
pub(crate) struct KeyedCoHead<K, I1, I2, O, F> {
    function: F,
    emit: KeyedEmit<O>,
    _types: PhantomData<fn(K, I1, I2)>,
}

impl<K, I1, I2, O, F> KeyedCoHead<K, I1, I2, O, F> {
    pub(crate) fn new(function: F, next: Box<dyn Push<O>>, sides: SideWriter) -> Self {
        KeyedCoHead { function, emit: KeyedEmit::new(next, sides), _types: PhantomData }
    }
}

impl<K, I1, I2, O, F> Operator for KeyedCoHead<K, I1, I2, O, F>
where
    K: Codec,
    I1: serde::de::DeserializeOwned,
    I2: serde::de::DeserializeOwned,
    F: KeyedCoProcessFunction<K, I1, I2, O>,
{
    fn process(&mut self, input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        for record in records {
            let function = &mut self.function;
            match input {
                0 => self.emit.record(&record, out, |v: I1, ctx, c| function.process_element1(v, ctx, c))?,
                1 => self.emit.record(&record, out, |v: I2, ctx, c| function.process_element2(v, ctx, c))?,
                other => return Err(format!("a two-input operator got records on input {other}")),
            }
        }
        Ok(())
    }

    fn on_timers(&mut self, timers: Vec<Timer>, out: &mut Output) -> Result<(), String> {
        self.emit.timers(timers, out, |time, ctx, c| self.function.on_timer(time, ctx, c))
    }
}

/// The records of one output of an operator with side outputs: those whose tag byte is
/// `accept` (0 for the main output), decoded as between operators.
pub(crate) struct TaggedHead<T> {
    accept: u8,
    next: Box<dyn Push<T>>,
}

impl<T> TaggedHead<T> {
    pub(crate) fn new(accept: u8, next: Box<dyn Push<T>>) -> Self {
        TaggedHead { accept, next }
    }
}

impl<T: serde::de::DeserializeOwned> Operator for TaggedHead<T> {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        for record in records {
            if let Some((&tag, value)) = record.value.split_first()
                && tag == self.accept
            {
                self.next.push(decode_wire(value)?, record.timestamp, out)?;
            }
        }
        Ok(())
    }
}

/// The end of a chain whose records go out as output `tag` of an operator with side outputs.
pub(crate) fn tagged_wire_encoder<T: serde::Serialize + 'static>(tag: u8) -> Box<dyn Push<T>> {
    let mut scratch = Vec::new();
    stage(move |value: T, timestamp, out: &mut Output| {
        scratch.clear();
        scratch.push(tag);
        encode_wire(&value, &mut scratch)?;
        out.emit(timestamp, b"", &scratch);
        Ok(())
    })
}
