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

/// The hidden `weir` subcommand that compiles a component into a cache directory for
/// [`ComponentCache::compile_isolated`]: `weir compile-component <cache-dir> <stack-bytes>`,
/// the component on its standard input.
pub const COMPILE_COMMAND: &str = "compile-component";

/// The child's side of [`ComponentCache::compile_isolated`] ([`COMPILE_COMMAND`]): compiles
/// `bytes` into the cache in `dir`, for the engine of a process with a wasm stack of
/// `stack_bytes` (the only engine setting the configuration changes).
pub fn compile_for_parent(dir: &Path, stack_bytes: usize, bytes: &[u8]) -> wasmtime::Result<()> {
    let default = crate::Limits::default();
    let limits = crate::Limits { budget: crate::Budget { stack_bytes, ..default.budget }, ..default };
    let engine = Engine::new(&crate::runtime::engine_config(&limits))?;
    ComponentCache::new(dir).compile_into(&engine, bytes, &content_hash(bytes))
}

/// Why a compile in a child process gave no component.
#[derive(Debug, thiserror::Error)]
pub enum IsolatedCompileError {
    /// It ran past its deadline and was killed.
    #[error("not compiled within the deadline")]
    TimedOut,
    /// The compiler refused the component.
    #[error("{0}")]
    Invalid(String),
    /// The child process could not be run (the caller may compile in-process instead).
    #[error("cannot run the compiler process: {0}")]
    Unavailable(String),
}

impl ComponentCache {
    /// The cache's directory, if it has one.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Compiles `bytes` (of content `hash`) into the cache, for [`COMPILE_COMMAND`] in the child.
    pub fn compile_into(&self, engine: &Engine, bytes: &[u8], hash: &str) -> wasmtime::Result<()> {
        let path = self.path_for(engine, hash).ok_or_else(|| wasmtime::format_err!("the cache has no directory"))?;
        // Named by the content's hash and the engine's: what is there was compiled from these
        // bytes already (a re-upload, a cache seeded ahead), and compiling again would cost a
        // Python job's 10 s for nothing.
        if path.is_file() {
            return Ok(());
        }
        let component = Component::new(engine, bytes)?;
        let serialized = component.serialize()?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::fs::write(tmp.path(), serialized)?;
        tmp.persist(&path)?;
        Ok(())
    }

    /// Compiles `bytes` (of content `hash`) into the cache in a child process (`program`, the
    /// `weir` binary, running [`COMPILE_COMMAND`]) that is killed at `deadline`: Cranelift
    /// cannot be interrupted, a process can, so a component built to compile slowly holds
    /// neither a thread nor a core past it. The caller then loads it from the cache.
    pub fn compile_isolated(
        &self,
        program: &Path,
        limits: &crate::Limits,
        bytes: &[u8],
        deadline: std::time::Instant,
    ) -> Result<(), IsolatedCompileError> {
        use std::io::{Read, Write};
        use std::process::{Command, Stdio};
        let dir = self.dir().ok_or_else(|| IsolatedCompileError::Unavailable("no cache directory".into()))?;
        let mut child = Command::new(program)
            .arg(COMPILE_COMMAND)
            .arg(dir)
            .arg(limits.budget.stack_bytes.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| IsolatedCompileError::Unavailable(e.to_string()))?;
        // The child reads all of stdin before it compiles; a pipe holds 64 KiB, so a writer
        // thread feeds it while this one watches the clock.
        let feeder = child.stdin.take().map(|mut stdin| {
            let bytes = bytes.to_vec();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            })
        });
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if std::time::Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    if let Some(feeder) = feeder {
                        let _ = feeder.join();
                    }
                    return Err(IsolatedCompileError::TimedOut);
                }
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(10)),
                Err(e) => return Err(IsolatedCompileError::Unavailable(e.to_string())),
            }
        };
        if let Some(feeder) = feeder {
            let _ = feeder.join();
        }
        if status.success() {
            return Ok(());
        }
        // The compiler's error, bounded: it names what is wrong with the component.
        let mut said = String::new();
        if let Some(stderr) = child.stderr.take() {
            let _ = stderr.take(4096).read_to_string(&mut said);
        }
        Err(IsolatedCompileError::Invalid(said.trim().to_string()))
    }

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
