//! A job component: bytes checked to be a WebAssembly component of the `weir:job` world,
//! compiled (or taken from the cache) and pre-linked, ready to instantiate per subtask.

use wasmtime::component::Component;

use super::bindings::{JobPre, REQUIRED_EXPORTS};
use super::cache::{ComponentCache, content_hash};
use super::host::HostState;
use super::runtime::WasmRuntime;

/// Why bytes cannot be used as a job.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes do not start with the WebAssembly magic number.
    #[error("not a WebAssembly file (it does not start with the \\0asm magic number)")]
    NotWasm,
    /// The bytes are a core module rather than a component (built for the wrong target).
    #[error(
        "a core WebAssembly module, not a component: build the job for wasm32-wasip2 (cargo build --target wasm32-wasip2)"
    )]
    CoreModule,
    /// wasmtime rejected the component (malformed, or failed to compile or type-check).
    #[error("invalid WebAssembly component: {0}")]
    Invalid(String),
    /// The component lacks the `weir:job` exports.
    #[error("not a Weir job: the component must export {required} (it exports: {found})", required = REQUIRED_EXPORTS.join(" and "))]
    NotAJob {
        /// The component's exports, comma separated, or "nothing".
        found: String,
    },
    /// The component imports interfaces the host's linker does not provide.
    #[error("the component imports what Weir does not provide: {0}")]
    UnsupportedImports(String),
}

/// A validated, compiled job component.
#[derive(Clone)]
pub struct JobComponent {
    hash: String,
    size: usize,
    pre: JobPre<HostState>,
}

impl std::fmt::Debug for JobComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobComponent").field("hash", &self.hash).field("size", &self.size).finish()
    }
}

/// The component-model layer of a binary's header: `\0asm`, version 0x0d, layer 1.
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

impl JobComponent {
    /// Checks, compiles and links `bytes` as a job.
    pub fn load(runtime: &WasmRuntime, cache: &ComponentCache, bytes: &[u8]) -> Result<Self, LoadError> {
        if bytes.len() < 8 || bytes[..4] != COMPONENT_HEADER[..4] {
            return Err(LoadError::NotWasm);
        }
        if bytes[4..8] != COMPONENT_HEADER[4..8] {
            return Err(LoadError::CoreModule);
        }
        let hash = content_hash(bytes);
        let engine = runtime.engine();
        let component = cache.load(engine, bytes, &hash).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;

        let exports: Vec<String> =
            component.component_type().exports(engine).map(|(name, _)| name.to_string()).collect();
        if !REQUIRED_EXPORTS.iter().all(|r| exports.iter().any(|e| e == r)) {
            let found = if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") };
            return Err(LoadError::NotAJob { found });
        }
        let instance_pre = runtime
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| LoadError::UnsupportedImports(format!("{e:#}")))?;
        let pre = JobPre::new(instance_pre).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        Ok(JobComponent { hash, size: bytes.len(), pre })
    }

    /// The SHA-256 of the component's bytes, hex encoded.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The component's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn pre(&self) -> &JobPre<HostState> {
        &self.pre
    }

    /// The compiled component.
    pub fn component(&self) -> &Component {
        self.pre.instance_pre().component()
    }
}
