//! Typed keyed state scoped to the current key, as in Flink's `KeyedProcessFunction`:
//! `self.count.value()?` reads the state of the key whose record (or timer) is being processed.
//!
//! A handle only names the state; the host's state is opened on first use, so a function holding
//! handles can be built in `plan` as well as in a subtask. Values are stored as JSON (serde), the
//! encoding the Python SDK's typed state uses too, so savepoints move between the two.
//! With a [`Ttl`], a value also carries the processing time it was last written and is not
//! returned (and is cleared) once older than the TTL, as Flink's `StateTtlConfig` with
//! `OnCreateAndWrite` and `NeverReturnExpired`.

use std::cell::{OnceCell, RefCell};
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::host::state as host;
use crate::time;

thread_local! {
    /// The encoded key of the record or timer being processed, and whether one is (outside a
    /// keyed call there is none). The buffer is kept from call to call: a keyed function runs
    /// once per record, and its key is copied here without allocating.
    static CURRENT_KEY: RefCell<(Vec<u8>, bool)> = const { RefCell::new((Vec::new(), false)) };
}

/// The namespace of state used by keyed process functions (windows use their own).
const NAMESPACE: &[u8] = b"";

/// Makes `key` the current key while `f` runs.
pub(crate) fn with_current_key<R>(key: &[u8], f: impl FnOnce() -> R) -> R {
    CURRENT_KEY.with(|k| {
        let mut k = k.borrow_mut();
        k.0.clear();
        super::format::extend_short(&mut k.0, key);
        k.1 = true;
    });
    let result = f();
    CURRENT_KEY.with(|k| k.borrow_mut().1 = false);
    result
}

fn current_key<R>(f: impl FnOnce(&[u8]) -> R) -> Result<R, String> {
    CURRENT_KEY.with(|k| match &*k.borrow() {
        (key, true) => Ok(f(key)),
        _ => Err("keyed state used outside of a keyed function (process_element or on_timer)".to_string()),
    })
}

/// Encodes a state value as JSON.
fn encode<T: Serialize>(value: &T, ttl: Option<&Ttl>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    if ttl.is_some() {
        out.extend_from_slice(&time::current_processing_time().to_le_bytes());
    }
    serde_json::to_writer(&mut out, value).map_err(|e| format!("cannot encode a state value: {e}"))?;
    Ok(out)
}

/// Decodes a state value; `None` when a TTL says it has expired.
fn decode<T: DeserializeOwned>(bytes: &[u8], ttl: Option<&Ttl>) -> Result<Option<T>, String> {
    let body = match ttl {
        None => bytes,
        Some(ttl) => {
            let (stamp, body) =
                bytes.split_at_checked(8).ok_or("a state value with a TTL is shorter than its stamp")?;
            let written = i64::from_le_bytes(stamp.try_into().map_err(|_| "bad TTL stamp")?);
            if time::current_processing_time().saturating_sub(written) >= ttl.millis {
                return Ok(None);
            }
            body
        }
    };
    serde_json::from_slice(body).map(Some).map_err(|e| format!("cannot decode a state value: {e}"))
}

/// A time to live for state values (Flink's `StateTtlConfig.newBuilder(ttl)`): a value not
/// written for this long is treated as absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ttl {
    millis: i64,
}

impl Ttl {
    /// Values expire `millis` of processing time after they were last written.
    pub fn millis(millis: i64) -> Self {
        Ttl { millis: millis.max(1) }
    }
}

/// One value of type `T` per key (Flink's `ValueState`).
///
/// ```no_run
/// use weir_sdk::stream::state::ValueState;
/// let count = ValueState::<u64>::new("count");
/// let next = count.value()?.unwrap_or(0) + 1;
/// count.update(&next)?;
/// # Ok::<(), String>(())
/// ```
pub struct ValueState<T> {
    name: String,
    ttl: Option<Ttl>,
    handle: OnceCell<host::ValueState>,
    _type: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> ValueState<T> {
    /// The value state called `name` (the name matters for savepoints: keep it across versions).
    pub fn new(name: &str) -> Self {
        ValueState { name: name.to_string(), ttl: None, handle: OnceCell::new(), _type: PhantomData }
    }

    /// Lets values expire `ttl` after they were written.
    pub fn with_ttl(mut self, ttl: Ttl) -> Self {
        self.ttl = Some(ttl);
        self
    }

    fn handle(&self) -> &host::ValueState {
        self.handle.get_or_init(|| host::ValueState::new(&self.name))
    }

    /// The current key's value, if it has one.
    pub fn value(&self) -> Result<Option<T>, String> {
        let bytes = current_key(|key| self.handle().get(key, NAMESPACE))?;
        let Some(bytes) = bytes else { return Ok(None) };
        let value = decode(&bytes, self.ttl.as_ref())?;
        if value.is_none() {
            self.clear()?;
        }
        Ok(value)
    }

    /// Sets the current key's value.
    pub fn update(&self, value: &T) -> Result<(), String> {
        let bytes = encode(value, self.ttl.as_ref())?;
        current_key(|key| self.handle().set(key, NAMESPACE, &bytes))
    }

    /// Removes the current key's value.
    pub fn clear(&self) -> Result<(), String> {
        current_key(|key| self.handle().clear(key, NAMESPACE))
    }
}

/// A list of `T` per key (Flink's `ListState`), kept as one JSON array.
pub struct ListState<T> {
    inner: ValueState<Vec<T>>,
}

impl<T: Serialize + DeserializeOwned> ListState<T> {
    /// The list state called `name`.
    pub fn new(name: &str) -> Self {
        ListState { inner: ValueState::new(name) }
    }

    /// Lets the list expire `ttl` after it was last changed.
    pub fn with_ttl(self, ttl: Ttl) -> Self {
        ListState { inner: self.inner.with_ttl(ttl) }
    }

    /// The current key's elements, in the order they were added (empty when none).
    pub fn get(&self) -> Result<Vec<T>, String> {
        Ok(self.inner.value()?.unwrap_or_default())
    }

    /// Appends an element.
    pub fn add(&self, value: T) -> Result<(), String> {
        let mut list = self.get()?;
        list.push(value);
        self.inner.update(&list)
    }

    /// Replaces all elements.
    pub fn update(&self, values: &[T]) -> Result<(), String>
    where
        T: Clone,
    {
        if values.is_empty() { self.inner.clear() } else { self.inner.update(&values.to_vec()) }
    }

    /// Removes all elements.
    pub fn clear(&self) -> Result<(), String> {
        self.inner.clear()
    }
}

/// A map from `K` to `V` per key (Flink's `MapState`); map keys are stored as JSON too.
pub struct MapState<K, V> {
    name: String,
    ttl: Option<Ttl>,
    handle: OnceCell<host::MapState>,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> MapState<K, V> {
    /// The map state called `name`.
    pub fn new(name: &str) -> Self {
        MapState { name: name.to_string(), ttl: None, handle: OnceCell::new(), _types: PhantomData }
    }

    /// Lets entries expire `ttl` after they were written.
    pub fn with_ttl(mut self, ttl: Ttl) -> Self {
        self.ttl = Some(ttl);
        self
    }

    fn handle(&self) -> &host::MapState {
        self.handle.get_or_init(|| host::MapState::new(&self.name))
    }

    fn map_key(key: &K) -> Result<Vec<u8>, String> {
        serde_json::to_vec(key).map_err(|e| format!("cannot encode a map key: {e}"))
    }

    /// The entry for `map_key`.
    pub fn get(&self, map_key: &K) -> Result<Option<V>, String> {
        let map_key = Self::map_key(map_key)?;
        let bytes = current_key(|key| self.handle().get(key, NAMESPACE, &map_key))?;
        let Some(bytes) = bytes else { return Ok(None) };
        let value = decode(&bytes, self.ttl.as_ref())?;
        if value.is_none() {
            current_key(|key| self.handle().remove(key, NAMESPACE, &map_key))?;
        }
        Ok(value)
    }

    /// Sets the entry for `map_key`.
    pub fn put(&self, map_key: &K, value: &V) -> Result<(), String> {
        let map_key = Self::map_key(map_key)?;
        let value = encode(value, self.ttl.as_ref())?;
        current_key(|key| self.handle().put(key, NAMESPACE, &map_key, &value))
    }

    /// Removes the entry for `map_key`.
    pub fn remove(&self, map_key: &K) -> Result<(), String> {
        let map_key = Self::map_key(map_key)?;
        current_key(|key| self.handle().remove(key, NAMESPACE, &map_key))
    }

    /// Whether there is an entry for `map_key`.
    pub fn contains(&self, map_key: &K) -> Result<bool, String> {
        Ok(self.get(map_key)?.is_some())
    }

    /// All entries of the current key that have not expired, ordered by encoded map key.
    pub fn entries(&self) -> Result<Vec<(K, V)>, String> {
        let raw = current_key(|key| self.handle().entries(key, NAMESPACE))?;
        let mut entries = Vec::with_capacity(raw.len());
        for (k, v) in raw {
            let k: K = serde_json::from_slice(&k).map_err(|e| format!("cannot decode a map key: {e}"))?;
            if let Some(v) = decode(&v, self.ttl.as_ref())? {
                entries.push((k, v));
            }
        }
        Ok(entries)
    }

    /// Whether the current key's map has no entries.
    pub fn is_empty(&self) -> Result<bool, String> {
        Ok(self.entries()?.is_empty())
    }

    /// Removes all entries of the current key.
    pub fn clear(&self) -> Result<(), String> {
        current_key(|key| self.handle().clear(key, NAMESPACE))
    }
}

/// One value per key that every added value is folded into with a reduce function (Flink's
/// `ReducingState`).
pub struct ReducingState<T, F> {
    inner: ValueState<T>,
    reduce: F,
}

impl<T: Serialize + DeserializeOwned, F: Fn(T, T) -> T> ReducingState<T, F> {
    /// The reducing state called `name`, combining values with `reduce`.
    pub fn new(name: &str, reduce: F) -> Self {
        ReducingState { inner: ValueState::new(name), reduce }
    }

    /// The reduced value, if any value was added.
    pub fn get(&self) -> Result<Option<T>, String> {
        self.inner.value()
    }

    /// Folds `value` into the state.
    pub fn add(&self, value: T) -> Result<(), String> {
        let next = match self.inner.value()? {
            Some(current) => (self.reduce)(current, value),
            None => value,
        };
        self.inner.update(&next)
    }

    /// Removes the value.
    pub fn clear(&self) -> Result<(), String> {
        self.inner.clear()
    }
}

/// An incremental aggregation (Flink's `AggregateFunction`), used by [`AggregatingState`] and
/// window aggregations.
pub trait AggregateFunction<In, Out> {
    /// The accumulator kept per key (and window).
    type Acc: Serialize + DeserializeOwned;
    /// A new, empty accumulator.
    fn create_accumulator(&self) -> Self::Acc;
    /// Adds one input to the accumulator.
    fn add(&self, value: In, acc: Self::Acc) -> Self::Acc;
    /// The result for an accumulator.
    fn get_result(&self, acc: &Self::Acc) -> Out;
    /// Merges two accumulators (session windows).
    fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// For an aggregate whose `add` never reads its input (a count): the accumulator with one
    /// more input added, so that a window need neither send nor decode its records (only their
    /// keys and timestamps cross to it). `None` (the default) means `add` needs the input. It
    /// must answer alike for every accumulator: `Some` for one means `Some` for all.
    fn add_unread(&self, acc: &Self::Acc) -> Option<Self::Acc> {
        let _ = acc;
        None
    }
}

/// Counts the values added (Flink's `CountAggregate`): the aggregate most windows need.
#[derive(Clone, Copy, Debug, Default)]
pub struct Count;

impl<T> AggregateFunction<T, u64> for Count {
    type Acc = u64;
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add(&self, _value: T, acc: u64) -> u64 {
        acc.saturating_add(1)
    }
    fn get_result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&self, a: u64, b: u64) -> u64 {
        a.saturating_add(b)
    }
    fn add_unread(&self, acc: &u64) -> Option<u64> {
        Some(acc.saturating_add(1))
    }
}

/// One accumulator per key that values are added to; read as the aggregate's result (Flink's
/// `AggregatingState`).
pub struct AggregatingState<In, Out, A: AggregateFunction<In, Out>> {
    inner: ValueState<A::Acc>,
    aggregate: A,
    _types: PhantomData<fn(In) -> Out>,
}

impl<In, Out, A: AggregateFunction<In, Out>> AggregatingState<In, Out, A> {
    /// The aggregating state called `name`.
    pub fn new(name: &str, aggregate: A) -> Self {
        AggregatingState { inner: ValueState::new(name), aggregate, _types: PhantomData }
    }

    /// The aggregate's result, if anything was added.
    pub fn get(&self) -> Result<Option<Out>, String> {
        Ok(self.inner.value()?.map(|acc| self.aggregate.get_result(&acc)))
    }

    /// Adds a value.
    pub fn add(&self, value: In) -> Result<(), String> {
        let acc = self.inner.value()?.unwrap_or_else(|| self.aggregate.create_accumulator());
        self.inner.update(&self.aggregate.add(value, acc))
    }

    /// Removes the accumulator.
    pub fn clear(&self) -> Result<(), String> {
        self.inner.clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_outside_a_keyed_call_is_an_error_not_a_trap() {
        let state = ValueState::<u64>::new("count");
        let err = state.clear().unwrap_err();
        assert!(err.contains("outside of a keyed function"), "{err}");
    }

    #[test]
    fn the_current_key_is_set_only_while_the_call_runs() {
        with_current_key(b"alice", || assert_eq!(current_key(|k| k.to_vec()).unwrap(), b"alice"));
        assert!(current_key(|_| ()).is_err());
    }

    #[test]
    fn values_are_json_without_a_ttl() {
        assert_eq!(encode(&(1u32, "a"), None).unwrap(), br#"[1,"a"]"#);
        assert_eq!(decode::<(u32, String)>(br#"[1,"a"]"#, None).unwrap(), Some((1, "a".to_string())));
        assert!(decode::<u32>(b"x", None).is_err());
    }
}
