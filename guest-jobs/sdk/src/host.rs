//! The host services a job calls (the `weir:job` imports: keyed state, clocks, timers, the
//! collector, metrics, logging). In a component they are the host's; built for this machine
//! (`cargo test`), they are an in-memory host of one operator subtask, per thread, which
//! [`crate::testing`] drives. The SDK reaches the host only through this module.

#[cfg(target_family = "wasm")]
pub(crate) use crate::bindings::weir::job::{collector, logging, metrics, state, time, timers};

#[cfg(not(target_family = "wasm"))]
pub(crate) use native::{collector, logging, metrics, state, time, timers};

/// The in-memory host: the same functions and resources as the imports, over thread-local data
/// that [`crate::testing`] reads and moves (records emitted, state, timers, the clocks).
#[cfg(not(target_family = "wasm"))]
pub(crate) mod native {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};

    /// A state's scope: (key, namespace).
    type Scope = (Vec<u8>, Vec<u8>);
    /// A map state's maps, by scope.
    type Maps = BTreeMap<Scope, BTreeMap<Vec<u8>, Vec<u8>>>;

    /// Everything one operator subtask has asked of its host.
    #[derive(Default)]
    pub(crate) struct Host {
        /// Value states by name, then (key, namespace).
        pub values: BTreeMap<String, BTreeMap<Scope, Vec<u8>>>,
        /// Map states by name, then (key, namespace), then map key.
        pub maps: BTreeMap<String, Maps>,
        /// Registered timers: (time, event time?, key, namespace).
        pub timers: BTreeSet<(i64, bool, Vec<u8>, Vec<u8>)>,
        /// The watermark and the processing-time clock, moved only by the test.
        pub watermark: i64,
        pub processing_time: i64,
        /// Batches emitted (frame format), oldest first.
        pub emitted: Vec<Vec<u8>>,
        /// Counters and gauges by name.
        pub counters: BTreeMap<String, u64>,
        pub gauges: BTreeMap<String, f64>,
        /// Log lines: level and message.
        pub logs: Vec<(logging::Level, String)>,
    }

    thread_local! {
        static HOST: RefCell<Host> = RefCell::new(Host { watermark: i64::MIN, ..Host::default() });
    }

    /// Runs `f` on this thread's host.
    pub(crate) fn with<R>(f: impl FnOnce(&mut Host) -> R) -> R {
        HOST.with(|h| f(&mut h.borrow_mut()))
    }

    /// Keyed state, as the `state` interface.
    pub mod state {
        use super::with;

        /// A value per (key, namespace).
        pub struct ValueState(String);

        impl ValueState {
            pub fn new(name: &str) -> Self {
                ValueState(name.to_string())
            }
            pub fn get(&self, key: &[u8], namespace: &[u8]) -> Option<Vec<u8>> {
                with(|h| h.values.get(&self.0)?.get(&(key.to_vec(), namespace.to_vec())).cloned())
            }
            pub fn set(&self, key: &[u8], namespace: &[u8], value: &[u8]) {
                with(|h| {
                    let table = h.values.entry(self.0.clone()).or_default();
                    table.insert((key.to_vec(), namespace.to_vec()), value.to_vec());
                })
            }
            pub fn clear(&self, key: &[u8], namespace: &[u8]) {
                with(|h| h.values.get_mut(&self.0).map(|t| t.remove(&(key.to_vec(), namespace.to_vec()))));
            }
        }

        /// A map per (key, namespace).
        pub struct MapState(String);

        impl MapState {
            pub fn new(name: &str) -> Self {
                MapState(name.to_string())
            }
            pub fn get(&self, key: &[u8], namespace: &[u8], map_key: &[u8]) -> Option<Vec<u8>> {
                with(|h| h.maps.get(&self.0)?.get(&(key.to_vec(), namespace.to_vec()))?.get(map_key).cloned())
            }
            pub fn put(&self, key: &[u8], namespace: &[u8], map_key: &[u8], value: &[u8]) {
                with(|h| {
                    let table = h.maps.entry(self.0.clone()).or_default();
                    let map = table.entry((key.to_vec(), namespace.to_vec())).or_default();
                    map.insert(map_key.to_vec(), value.to_vec());
                })
            }
            pub fn remove(&self, key: &[u8], namespace: &[u8], map_key: &[u8]) {
                with(|h| {
                    let scope = (key.to_vec(), namespace.to_vec());
                    let Some(table) = h.maps.get_mut(&self.0) else { return };
                    if let Some(map) = table.get_mut(&scope) {
                        map.remove(map_key);
                        if map.is_empty() {
                            table.remove(&scope);
                        }
                    }
                })
            }
            pub fn entries(&self, key: &[u8], namespace: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
                with(|h| {
                    let map = h.maps.get(&self.0).and_then(|t| t.get(&(key.to_vec(), namespace.to_vec())));
                    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
                })
            }
            pub fn clear(&self, key: &[u8], namespace: &[u8]) {
                with(|h| h.maps.get_mut(&self.0).map(|t| t.remove(&(key.to_vec(), namespace.to_vec()))));
            }
        }
    }

    /// Clocks, as the `time` interface: only the test moves them.
    pub mod time {
        use super::with;

        pub fn current_watermark() -> i64 {
            with(|h| h.watermark)
        }
        pub fn current_processing_time() -> i64 {
            with(|h| h.processing_time)
        }
        /// Time stands still in a test: a sleep returns at once.
        pub fn sleep(_millis: u64) {}
    }

    /// Timers, as the `timers` interface.
    pub mod timers {
        use super::with;

        fn set(event: bool, key: &[u8], namespace: &[u8], time: i64, on: bool) {
            with(|h| {
                let timer = (time, event, key.to_vec(), namespace.to_vec());
                if on {
                    h.timers.insert(timer);
                } else {
                    h.timers.remove(&timer);
                }
            })
        }
        pub fn register_event_time_timer(key: &[u8], namespace: &[u8], time: i64) {
            set(true, key, namespace, time, true)
        }
        pub fn delete_event_time_timer(key: &[u8], namespace: &[u8], time: i64) {
            set(true, key, namespace, time, false)
        }
        pub fn register_processing_time_timer(key: &[u8], namespace: &[u8], time: i64) {
            set(false, key, namespace, time, true)
        }
        pub fn delete_processing_time_timer(key: &[u8], namespace: &[u8], time: i64) {
            set(false, key, namespace, time, false)
        }
    }

    /// The collector, as the `collector` interface.
    pub mod collector {
        pub fn emit(records: &[u8]) {
            super::with(|h| h.emitted.push(records.to_vec()))
        }
    }

    /// User metrics, as the `metrics` interface.
    pub mod metrics {
        use super::with;

        /// A count.
        pub struct Counter(String);

        impl Counter {
            pub fn new(name: &str) -> Self {
                with(|h| {
                    h.counters.entry(name.to_string()).or_default();
                });
                Counter(name.to_string())
            }
            pub fn inc(&self, n: u64) {
                with(|h| *h.counters.entry(self.0.clone()).or_default() += n)
            }
        }

        /// A value that goes up and down.
        pub struct Gauge(String);

        impl Gauge {
            pub fn new(name: &str) -> Self {
                Gauge(name.to_string())
            }
            pub fn set(&self, value: f64) {
                with(|h| h.gauges.insert(self.0.clone(), value));
            }
        }
    }

    /// Logging, as the `logging` interface.
    pub mod logging {
        /// A log line's level.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Level {
            Trace,
            Debug,
            Info,
            Warn,
            Error,
        }

        pub fn log(level: Level, message: &str) {
            super::with(|h| h.logs.push((level, message.to_string())))
        }
    }
}
