//! The JobManager's disk: jar files and job components as files, jar metadata and job records
//! in sled, so that a restarted JobManager still lists its jars and its job history.
//!
//! Layout under the data directory: `jars/<jar id>` (the uploaded bytes), `components/<sha256>.wasm`
//! (the component each job runs, kept even if its jar is deleted) and `store/` (sled).

use std::path::{Path, PathBuf};

use super::{JarMeta, JobRecord};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The sled database failed.
    #[error("JobManager store: {0}")]
    Sled(#[from] sled::Error),
    /// Reading or writing a jar or component file failed.
    #[error("JobManager store: {0}")]
    Io(#[from] std::io::Error),
    /// A stored jar or job record is not valid JSON for its type.
    #[error("JobManager store: corrupt entry: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// The JobManager's persistent store under its data directory (`weir.jobmanager.data-dir`).
pub struct Store {
    dir: PathBuf,
    jars: sled::Tree,
    jobs: sled::Tree,
}

impl Store {
    /// Opens (or creates) the store under `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir.join("jars"))?;
        std::fs::create_dir_all(dir.join("components"))?;
        let db = sled::Config::new().path(dir.join("store")).cache_capacity(16 << 20).open()?;
        Ok(Store { dir: dir.to_path_buf(), jars: db.open_tree("jars")?, jobs: db.open_tree("jobs")? })
    }

    /// Where a jar's bytes live. `id` must come from [`super::dispatcher::jar_id`] (no path
    /// separators) or from the store itself.
    pub fn jar_path(&self, id: &str) -> PathBuf {
        self.dir.join("jars").join(id)
    }

    fn component_path(&self, hash: &str) -> PathBuf {
        self.dir.join("components").join(format!("{hash}.wasm"))
    }

    /// Writes an uploaded jar's bytes, its component and its metadata.
    pub fn put_jar(&self, meta: &JarMeta, bytes: &[u8]) -> Result<(), StoreError> {
        std::fs::write(self.jar_path(&meta.id), bytes)?;
        self.put_component(&meta.hash, bytes)?;
        self.jars.insert(meta.id.as_bytes(), serde_json::to_vec(meta)?)?;
        self.jars.flush()?;
        Ok(())
    }

    /// Forgets a jar and deletes its file; its component stays for the jobs that run it.
    pub fn delete_jar(&self, id: &str) -> Result<(), StoreError> {
        self.jars.remove(id.as_bytes())?;
        self.jars.flush()?;
        let _ = std::fs::remove_file(self.jar_path(id));
        Ok(())
    }

    /// Every stored jar's metadata, in jar ID order.
    pub fn jars(&self) -> Result<Vec<JarMeta>, StoreError> {
        self.jars.iter().values().map(|v| Ok(serde_json::from_slice(&v?)?)).collect()
    }

    /// Keeps a component under its content hash, unless it is already there.
    pub fn put_component(&self, hash: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.component_path(hash);
        if !path.exists() {
            std::fs::write(path, bytes)?;
        }
        Ok(())
    }

    /// A stored component's bytes, by content hash.
    pub fn component(&self, hash: &str) -> Result<Vec<u8>, StoreError> {
        Ok(std::fs::read(self.component_path(hash))?)
    }

    /// Writes a job's record, replacing the previous one.
    pub fn put_job(&self, record: &JobRecord) -> Result<(), StoreError> {
        self.jobs.insert(record.id().as_bytes(), serde_json::to_vec(record)?)?;
        self.jobs.flush()?;
        Ok(())
    }

    /// Every stored job record, in job ID order.
    pub fn jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        self.jobs.iter().values().map(|v| Ok(serde_json::from_slice(&v?)?)).collect()
    }
}
