//! The state backend: where keyed state lives while a job runs.
//!
//! The trait is small on purpose: sled 0.34 is old and unmaintained, and another store (redb,
//! fjall, RocksDB) must be able to take its place without touching the rest of the host. Nothing
//! relies on the backend surviving a crash: a job's durable state is its checkpoints, written
//! separately, and a restarted task restores from them into a fresh backend.

use std::path::Path;
use std::sync::Arc;

use super::StateError;

/// The sled page cache unless `state.backend.sled.cache-size` says otherwise: sled's own default
/// is 1 GiB; at 64 MiB the per-record cost grew sevenfold between 10 k and 5 M keys of 100 bytes
/// (pages evicted and read back), at 256 MiB a TaskManager's memory stays bounded and small.
pub const DEFAULT_CACHE_BYTES: u64 = 256 << 20;

/// Key-value pairs, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A store of state tables, one per (job, operator).
pub trait StateBackend: Send + Sync {
    /// The table of operator `uid` in job `job`, created if missing.
    fn open_table(&self, job: &str, uid: &str) -> Result<Arc<dyn StateTable>, StateError>;

    /// Drops every table of `job`.
    fn drop_job(&self, job: &str) -> Result<(), StateError>;
}

/// An ordered byte map: one operator's keyed state.
pub trait StateTable: Send + Sync {
    /// The value stored under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    /// Stores `value` under `key`, replacing what was there.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StateError>;
    /// Removes the entry under `key`, if any.
    fn delete(&self, key: &[u8]) -> Result<(), StateError>;
    /// Entries whose key starts with `prefix`, in key order; [`StateError::ScanTooLarge`] once
    /// their keys and values add up to more than `max_bytes`, before more is read.
    fn scan_prefix(&self, prefix: &[u8], max_bytes: usize) -> Result<Entries, StateError>;
    /// Removes every entry whose key starts with `prefix`; returns the keys removed.
    fn delete_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StateError>;
    /// Entries with `from <= key < to`, in key order.
    fn scan_range(&self, from: &[u8], to: &[u8]) -> Result<Entries, StateError>;
    /// Removes the entries with `from <= key < to`.
    fn delete_range(&self, from: &[u8], to: &[u8]) -> Result<(), StateError>;
    /// Applies puts (`Some`) and removals (`None`) at once: how a restore loads a key group.
    fn write_batch(&self, batch: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<(), StateError>;
}

/// Keyed state in sled: one database per process, one tree per (job, operator).
#[derive(Clone)]
pub struct SledBackend {
    db: sled::Db,
}

impl SledBackend {
    /// Opens (or creates) the database in `dir`, with a page cache of `cache_bytes`
    /// (`state.backend.sled.cache-size`).
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self, StateError> {
        Ok(SledBackend { db: Self::config(cache_bytes).path(dir).open()? })
    }

    /// A database in a temporary directory, removed when the last handle drops, with the
    /// default cache ([`DEFAULT_CACHE_BYTES`]).
    pub fn temporary() -> Result<Self, StateError> {
        Ok(SledBackend { db: Self::config(DEFAULT_CACHE_BYTES).temporary(true).open()? })
    }

    fn config(cache_bytes: u64) -> sled::Config {
        sled::Config::new()
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            // Durability comes from checkpoints, not from sled's own flushing.
            .flush_every_ms(None)
    }

    fn tree_name(job: &str, uid: &str) -> String {
        format!("{job}/{uid}")
    }
}

impl StateBackend for SledBackend {
    fn open_table(&self, job: &str, uid: &str) -> Result<Arc<dyn StateTable>, StateError> {
        Ok(Arc::new(SledTable(self.db.open_tree(Self::tree_name(job, uid))?)))
    }

    fn drop_job(&self, job: &str) -> Result<(), StateError> {
        let prefix = format!("{job}/");
        for name in self.db.tree_names() {
            if name.starts_with(prefix.as_bytes()) {
                self.db.drop_tree(name)?;
            }
        }
        Ok(())
    }
}

struct SledTable(sled::Tree);

impl StateTable for SledTable {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.0.get(key)?.map(|v| v.to_vec()))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.0.insert(key, value)?;
        Ok(())
    }

    fn delete(&self, key: &[u8]) -> Result<(), StateError> {
        self.0.remove(key)?;
        Ok(())
    }

    fn scan_prefix(&self, prefix: &[u8], max_bytes: usize) -> Result<Entries, StateError> {
        let mut entries = Vec::new();
        let mut bytes = 0usize;
        for entry in self.0.scan_prefix(prefix) {
            let (k, v) = entry?;
            bytes = bytes.saturating_add(k.len()).saturating_add(v.len());
            if bytes > max_bytes {
                return Err(StateError::ScanTooLarge { max_bytes });
            }
            entries.push((k.to_vec(), v.to_vec()));
        }
        Ok(entries)
    }

    fn delete_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StateError> {
        let mut batch = sled::Batch::default();
        let mut removed = Vec::new();
        for entry in self.0.scan_prefix(prefix).keys() {
            let key = entry?;
            removed.push(key.to_vec());
            batch.remove(key);
        }
        self.0.apply_batch(batch)?;
        Ok(removed)
    }

    fn scan_range(&self, from: &[u8], to: &[u8]) -> Result<Entries, StateError> {
        self.0
            .range(from..to)
            .map(|entry| entry.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(StateError::from))
            .collect()
    }

    fn delete_range(&self, from: &[u8], to: &[u8]) -> Result<(), StateError> {
        let mut batch = sled::Batch::default();
        for entry in self.0.range(from..to).keys() {
            batch.remove(entry?);
        }
        self.0.apply_batch(batch)?;
        Ok(())
    }

    fn write_batch(&self, entries: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<(), StateError> {
        let mut batch = sled::Batch::default();
        for (key, value) in entries {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        self.0.apply_batch(batch)?;
        Ok(())
    }
}
