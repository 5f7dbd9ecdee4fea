//! Typed keyed state on top of the host's byte-level state service.
//!
//! State is kept by the host, scoped by operator, state name, key and namespace. A handle is
//! cheap; open them in `Job::open`. Values are encoded with [`Codec`].

use std::marker::PhantomData;

use crate::host::state as host;

/// How a state value is stored as bytes.
pub trait Codec: Sized {
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

macro_rules! int_codec {
    ($($t:ty),*) => {$(
        impl Codec for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn decode(bytes: &[u8]) -> Result<Self, String> {
                bytes
                    .try_into()
                    .map(<$t>::from_le_bytes)
                    .map_err(|_| format!("expected {} bytes for {}, found {}", size_of::<$t>(), stringify!($t), bytes.len()))
            }
        }
    )*};
}
int_codec!(u32, i32, u64, i64, f64);

impl Codec for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        Ok(bytes.to_vec())
    }
}

impl Codec for String {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
    }
}

fn encoded<T: Codec>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

/// One value of type `T` per (key, namespace).
pub struct ValueState<T> {
    handle: host::ValueState,
    _type: PhantomData<T>,
}

impl<T: Codec> ValueState<T> {
    /// Opens the operator's value state called `name`.
    pub fn new(name: &str) -> Self {
        ValueState { handle: host::ValueState::new(name), _type: PhantomData }
    }

    pub fn get(&self, key: &[u8], namespace: &[u8]) -> Result<Option<T>, String> {
        self.handle.get(key, namespace).map(|b| T::decode(&b)).transpose()
    }

    pub fn set(&self, key: &[u8], namespace: &[u8], value: &T) {
        self.handle.set(key, namespace, &encoded(value));
    }

    pub fn clear(&self, key: &[u8], namespace: &[u8]) {
        self.handle.clear(key, namespace);
    }
}

/// A map from `K` to `V` per (key, namespace).
pub struct MapState<K, V> {
    handle: host::MapState,
    _types: PhantomData<(K, V)>,
}

impl<K: Codec, V: Codec> MapState<K, V> {
    /// Opens the operator's map state called `name`.
    pub fn new(name: &str) -> Self {
        MapState { handle: host::MapState::new(name), _types: PhantomData }
    }

    pub fn get(&self, key: &[u8], namespace: &[u8], map_key: &K) -> Result<Option<V>, String> {
        self.handle.get(key, namespace, &encoded(map_key)).map(|b| V::decode(&b)).transpose()
    }

    pub fn put(&self, key: &[u8], namespace: &[u8], map_key: &K, value: &V) {
        self.handle.put(key, namespace, &encoded(map_key), &encoded(value));
    }

    pub fn remove(&self, key: &[u8], namespace: &[u8], map_key: &K) {
        self.handle.remove(key, namespace, &encoded(map_key));
    }

    /// All entries, ordered by the encoded map key.
    pub fn entries(&self, key: &[u8], namespace: &[u8]) -> Result<Vec<(K, V)>, String> {
        self.handle.entries(key, namespace).into_iter().map(|(k, v)| Ok((K::decode(&k)?, V::decode(&v)?))).collect()
    }

    pub fn clear(&self, key: &[u8], namespace: &[u8]) {
        self.handle.clear(key, namespace);
    }
}
