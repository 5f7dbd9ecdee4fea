//! Broadcast streams and broadcast state (Flink's `broadcast()`, `BroadcastConnectedStream`,
//! `KeyedBroadcastProcessFunction`, `BroadcastState`): a low-volume stream (rules, thresholds,
//! configuration) seen by every subtask of a keyed operator, kept in state each subtask holds.
//!
//! Over today's contract, which has no broadcast edge: the sending operator writes each
//! broadcast record once per key group, with a key of that group, over the hash edge; a
//! receiving subtask keeps only the copy of the first key group it owns, so it sees every record
//! once. Broadcast state is keyed state under those same keys: a write goes to every key group
//! the subtask owns (so after a rescale, a subtask finds it under its new first group) and a read
//! comes from the first. Both cost a record or a write per key group (128 by default), which
//! suits what is broadcast: a few records, not a stream's bulk.

use std::cell::{Cell, OnceCell, RefCell};
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::format::{decode_wire, encode_wire};
use super::function::{Collector, Context, Push, SideWriter};
use super::operators::{KeyedEmit, stage};
use crate::host::state as host;
use crate::state::Codec;
use crate::time::Timer;
use crate::{Operator, Output, Records};

/// The subtask an instance runs: index, parallelism, number of key groups.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Subtask {
    pub(crate) index: u32,
    pub(crate) parallelism: u32,
    pub(crate) max_parallelism: u32,
}

thread_local! {
    static SUBTASK: Cell<Option<Subtask>> = const { Cell::new(None) };
    /// Whether broadcast state may be written now (only while a broadcast record is processed).
    static WRITABLE: Cell<bool> = const { Cell::new(false) };
    /// One key per key group, for the key group count they were made for.
    static GROUP_KEYS: RefCell<(u32, Vec<Vec<u8>>)> = const { RefCell::new((0, Vec::new())) };
}

/// Records which subtask this instance runs (set when it opens).
pub(crate) fn set_subtask(subtask: Subtask) {
    SUBTASK.with(|s| s.set(Some(subtask)));
}

fn subtask() -> Result<Subtask, String> {
    SUBTASK.with(Cell::get).ok_or_else(|| "broadcast state used outside of an operator subtask".to_string())
}

/// Calls `f` with a key for every key group `0..max_parallelism` (`b0`, `b1`, … searched until
/// each group has one; computed once per instance).
fn with_group_keys<R>(max_parallelism: u32, f: impl FnOnce(&[Vec<u8>]) -> R) -> R {
    GROUP_KEYS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != max_parallelism || cache.1.is_empty() {
            let groups = usize::try_from(max_parallelism).unwrap_or(0);
            let mut keys: Vec<Option<Vec<u8>>> = vec![None; groups];
            let mut missing = groups;
            let mut n: u64 = 0;
            while missing > 0 {
                let key = format!("b{n}").into_bytes();
                let group = usize::from(weir_keygroup::key_group(&key, max_parallelism));
                if let Some(slot @ None) = keys.get_mut(group) {
                    *slot = Some(key);
                    missing -= 1;
                }
                n += 1;
            }
            *cache = (max_parallelism, keys.into_iter().flatten().collect());
        }
        f(&cache.1)
    })
}

/// The keys of the key groups this subtask owns, first group first.
fn owned_keys<R>(f: impl FnOnce(&[Vec<u8>]) -> R) -> Result<R, String> {
    let s = subtask()?;
    let (start, end) = weir_keygroup::key_group_range(s.max_parallelism, s.parallelism, s.index);
    Ok(with_group_keys(s.max_parallelism, |keys| {
        f(keys.get(usize::from(start)..=usize::from(end)).unwrap_or_default())
    }))
}

/// The end of a chain whose records are broadcast: each goes out once per key group.
pub(crate) fn broadcast_encoder<T: Serialize + 'static>(max_parallelism: u32) -> Box<dyn Push<T>> {
    let mut scratch = Vec::new();
    stage(move |value: T, timestamp, out: &mut Output| {
        scratch.clear();
        encode_wire(&value, &mut scratch)?;
        with_group_keys(max_parallelism, |keys| {
            for key in keys {
                out.emit(timestamp, key, &scratch);
            }
        });
        Ok(())
    })
}

/// A map every subtask of a broadcast-connected operator holds the same copy of (Flink's
/// `BroadcastState`). Written only in
/// [`process_broadcast_element`](KeyedBroadcastProcessFunction::process_broadcast_element),
/// read anywhere. Keys and values are stored as JSON.
pub struct BroadcastState<K, V> {
    name: String,
    handle: OnceCell<host::MapState>,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> BroadcastState<K, V> {
    /// The broadcast state called `name`.
    pub fn new(name: &str) -> Self {
        BroadcastState { name: format!("broadcast/{name}"), handle: OnceCell::new(), _types: PhantomData }
    }

    fn handle(&self) -> &host::MapState {
        self.handle.get_or_init(|| host::MapState::new(&self.name))
    }

    fn writable() -> Result<(), String> {
        if WRITABLE.with(Cell::get) {
            Ok(())
        } else {
            Err("broadcast state is written only in process_broadcast_element (elsewhere it is read-only)".into())
        }
    }

    fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
        serde_json::to_vec(value).map_err(|e| format!("cannot encode broadcast state: {e}"))
    }

    /// The value for `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>, String> {
        let map_key = Self::json(key)?;
        let bytes = owned_keys(|keys| keys.first().and_then(|first| self.handle().get(first, b"", &map_key)))?;
        bytes.map(|b| serde_json::from_slice(&b).map_err(|e| format!("cannot decode broadcast state: {e}"))).transpose()
    }

    /// Whether there is a value for `key`.
    pub fn contains(&self, key: &K) -> Result<bool, String> {
        Ok(self.get(key)?.is_some())
    }

    /// All entries, ordered by encoded key.
    pub fn entries(&self) -> Result<Vec<(K, V)>, String> {
        let raw = owned_keys(|keys| keys.first().map(|first| self.handle().entries(first, b"")).unwrap_or_default())?;
        raw.into_iter()
            .map(|(k, v)| {
                let k = serde_json::from_slice(&k).map_err(|e| format!("cannot decode broadcast state: {e}"))?;
                let v = serde_json::from_slice(&v).map_err(|e| format!("cannot decode broadcast state: {e}"))?;
                Ok((k, v))
            })
            .collect()
    }

    /// Sets the value for `key`.
    pub fn put(&self, key: &K, value: &V) -> Result<(), String> {
        Self::writable()?;
        let (map_key, value) = (Self::json(key)?, Self::json(value)?);
        owned_keys(|keys| keys.iter().for_each(|group| self.handle().put(group, b"", &map_key, &value)))
    }

    /// Removes the value for `key`.
    pub fn remove(&self, key: &K) -> Result<(), String> {
        Self::writable()?;
        let map_key = Self::json(key)?;
        owned_keys(|keys| keys.iter().for_each(|group| self.handle().remove(group, b"", &map_key)))
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<(), String> {
        Self::writable()?;
        owned_keys(|keys| keys.iter().for_each(|group| self.handle().clear(group, b"")))
    }
}

/// A function over a keyed stream connected to a broadcast stream (Flink's
/// `KeyedBroadcastProcessFunction<K, I, B, O>`): per-key state and timers for the keyed records,
/// [`BroadcastState`] written by the broadcast ones.
pub trait KeyedBroadcastProcessFunction<K, I, B, O>: 'static {
    /// Processes a record of the keyed stream (broadcast state is read-only here).
    fn process_element(&mut self, value: I, ctx: &mut Context<'_, K>, out: &mut Collector<'_, O>)
    -> Result<(), String>;

    /// Processes a broadcast record: every subtask gets each one, once.
    fn process_broadcast_element(&mut self, value: B, out: &mut Collector<'_, O>) -> Result<(), String>;

    /// A timer registered for the current key fired at `timestamp`.
    fn on_timer(&mut self, timestamp: i64, ctx: &mut Context<'_, K>, out: &mut Collector<'_, O>) -> Result<(), String> {
        let _ = (timestamp, ctx, out);
        Ok(())
    }
}

/// The operator running a [`KeyedBroadcastProcessFunction`]: input 0 is the keyed stream,
/// input 1 the broadcast one.
pub(crate) struct BroadcastHead<K, I, B, O, F> {
    function: F,
    emit: KeyedEmit<O>,
    _types: PhantomData<fn(K, I, B)>,
}

impl<K, I, B, O, F> BroadcastHead<K, I, B, O, F> {
    pub(crate) fn new(function: F, next: Box<dyn Push<O>>, sides: SideWriter) -> Self {
        BroadcastHead { function, emit: KeyedEmit::new(next, sides), _types: PhantomData }
    }
}

impl<K, I, B, O, F> Operator for BroadcastHead<K, I, B, O, F>
where
    K: Codec,
    I: DeserializeOwned,
    B: DeserializeOwned,
    F: KeyedBroadcastProcessFunction<K, I, B, O>,
{
    fn process(&mut self, input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        match input {
            0 => {
                for record in records {
                    self.emit.record(&record, out, |value, ctx, c| self.function.process_element(value, ctx, c))?;
                }
                Ok(())
            }
            1 => {
                let s = subtask()?;
                let (first, _) = weir_keygroup::key_group_range(s.max_parallelism, s.parallelism, s.index);
                for record in records {
                    // One copy per key group arrives; the first owned group's is this subtask's.
                    if weir_keygroup::key_group(record.key, s.max_parallelism) != first {
                        continue;
                    }
                    let value: B = decode_wire(record.value)?;
                    let mut collector = self.emit.collector(out, record.timestamp);
                    WRITABLE.with(|w| w.set(true));
                    let result = self.function.process_broadcast_element(value, &mut collector);
                    WRITABLE.with(|w| w.set(false));
                    result?;
                    collector.finish()?;
                }
                Ok(())
            }
            other => Err(format!("a broadcast-connected operator got records on input {other}")),
        }
    }

    fn on_timers(&mut self, timers: Vec<Timer>, out: &mut Output) -> Result<(), String> {
        self.emit.timers(timers, out, |time, ctx, c| self.function.on_timer(time, ctx, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_group_gets_a_key_of_its_own() {
        for max_parallelism in [1, 7, 128, 1000] {
            with_group_keys(max_parallelism, |keys| {
                assert_eq!(keys.len(), usize::try_from(max_parallelism).unwrap());
                for (group, key) in keys.iter().enumerate() {
                    assert_eq!(usize::from(weir_keygroup::key_group(key, max_parallelism)), group);
                }
            });
        }
    }

    #[test]
    fn broadcast_state_is_read_only_outside_broadcast_elements() {
        let state = BroadcastState::<String, u64>::new("rules");
        let err = state.put(&"a".to_string(), &1).unwrap_err();
        assert!(err.contains("only in process_broadcast_element"), "{err}");
    }
}
