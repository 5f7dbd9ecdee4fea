//! Compiles components once and keeps the machine code on disk, keyed by the component's
//! content hash and the engine's compatibility hash, so a component uploaded again, or run by
//! another process of the same build, starts in a millisecond instead of compiling again.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

/// A content hash of component bytes, hex encoded.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The on-disk cache of compiled components.
#[derive(Clone, Debug)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

impl ComponentCache {
    /// A cache in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ComponentCache { dir: Some(dir.into()) }
    }

    /// No cache: every load compiles.
    pub fn disabled() -> Self {
        ComponentCache { dir: None }
    }

    /// The default location: `$WEIR_CACHE_DIR`, else `$XDG_CACHE_HOME/weir/components`, else
    /// `~/.cache/weir/components`, else none.
    pub fn default_location() -> Self {
        let dir = std::env::var_os("WEIR_CACHE_DIR").map(PathBuf::from).or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
            Some(base.join("weir").join("components"))
        });
        ComponentCache { dir }
    }

    fn path_for(&self, engine: &Engine, hash: &str) -> Option<PathBuf> {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Some(self.dir.as_ref()?.join(format!("{hash}-{:016x}.cwasm", h.finish())))
    }

    /// Returns the compiled component for `bytes`, from the cache when possible.
    ///
    /// A cache that cannot be read or written only costs a compilation; it is never an error.
    pub fn load(&self, engine: &Engine, bytes: &[u8], hash: &str) -> wasmtime::Result<Component> {
        if let Some(component) = self.compiled(engine, hash) {
            return Ok(component);
        }
        let path = self.path_for(engine, hash);
        let started = std::time::Instant::now();
        let component = Component::new(engine, bytes)?;
        tracing::info!(hash = &hash[..12], size = bytes.len(), elapsed = ?started.elapsed(), "compiled component");
        if let Some(path) = path {
            store(&component, &path);
        }
        Ok(component)
    }
}

impl ComponentCache {
    /// The compiled component of content `hash`, if this cache has it: no source bytes needed.
    pub fn compiled(&self, engine: &Engine, hash: &str) -> Option<Component> {
        let path = self.path_for(engine, hash)?;
        if !matches!(Engine::detect_precompiled_file(&path), Ok(Some(Precompiled::Component))) {
            return None;
        }
        // SAFETY: files in the cache directory are written only by `store` below, from
        // `Component::serialize` of this same engine configuration (the file name carries the
        // engine's compatibility hash); uploads never land there.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                tracing::debug!(path = %path.display(), "loaded compiled component from the cache");
                Some(component)
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "ignoring unreadable cached component");
                None
            }
        }
    }
}

/// Writes the compiled component atomically (temporary file, then rename).
fn store(component: &Component, path: &Path) {
    let result = (|| -> anyhow::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let bytes = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
        let tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::fs::write(tmp.path(), bytes)?;
        tmp.persist(path)?;
        Ok(())
    })();
    if let Err(error) = result {
        tracing::warn!(path = %path.display(), %error, "could not cache the compiled component");
    }
}
