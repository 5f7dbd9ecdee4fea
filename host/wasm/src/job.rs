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
    /// The component has more functions than an upload may (`weir.component.max-functions`).
    #[error(
        "the component has at least {count} functions, more than the limit of {limit} (weir.component.max-functions): refused before compiling"
    )]
    TooManyFunctions {
        /// The functions in all its core modules.
        count: u64,
        /// The limit.
        limit: u64,
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

/// Refuses what is not a WebAssembly component, naming what it is instead.
fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || bytes[..4] != COMPONENT_HEADER[..4] {
        return Err(LoadError::NotWasm);
    }
    if bytes[4..8] != COMPONENT_HEADER[4..8] {
        return Err(LoadError::CoreModule);
    }
    Ok(())
}

/// Refuses `bytes` with more than `limit` functions across its core modules: what compiling
/// costs grows with them, so a component built to be slow to compile is stopped before Cranelift
/// sees it. Parsing is linear in the size and allocates nothing per function.
pub fn check_functions(bytes: &[u8], limit: u64) -> Result<u64, LoadError> {
    check_header(bytes)?;
    let mut count = 0u64;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::CodeSectionStart { count: n, .. } =
            payload.map_err(|e| LoadError::Invalid(e.to_string()))?
        {
            count += u64::from(n);
            if count > limit {
                return Err(LoadError::TooManyFunctions { count, limit });
            }
        }
    }
    Ok(count)
}

impl JobComponent {
    /// Checks, compiles and links `bytes` as a job.
    pub fn load(runtime: &WasmRuntime, cache: &ComponentCache, bytes: &[u8]) -> Result<Self, LoadError> {
        check_header(bytes)?;
        let hash = content_hash(bytes);
        let component = cache.load(runtime.engine(), bytes, &hash).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        Self::link(runtime, component, hash, bytes.len())
    }

    /// The job component of content `hash` from `cache`'s compiled artifacts, if it is there
    /// (checked and linked as [`JobComponent::load`] does); its size is then unknown (0).
    pub fn load_compiled(runtime: &WasmRuntime, cache: &ComponentCache, hash: &str) -> Option<Result<Self, LoadError>> {
        let component = cache.compiled(runtime.engine(), hash)?;
        Some(Self::link(runtime, component, hash.to_string(), 0))
    }

    /// Checks that `component` is a job and links it against the host.
    fn link(runtime: &WasmRuntime, component: Component, hash: String, size: usize) -> Result<Self, LoadError> {
        let engine = runtime.engine();
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
        Ok(JobComponent { hash, size, pre })
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

#[cfg(test)]
mod budget_tests {
    use super::*;

    /// A core module with `n` empty functions (n < 128, so every count is one LEB byte).
    fn module_with_functions(n: u8) -> Vec<u8> {
        let mut bytes = vec![0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
        bytes.extend_from_slice(&[0x01, 0x04, 0x01, 0x60, 0x00, 0x00]);
        bytes.extend_from_slice(&[0x03, n + 1, n]);
        bytes.extend(std::iter::repeat_n(0x00, n.into()));
        bytes.extend_from_slice(&[0x0a, 3 * n + 1, n]);
        for _ in 0..n {
            bytes.extend_from_slice(&[0x02, 0x00, 0x0b]);
        }
        bytes
    }

    /// A component holding one core module with `n` functions.
    fn component_with_functions(n: u8) -> Vec<u8> {
        let module = module_with_functions(n);
        let mut bytes = COMPONENT_HEADER.to_vec();
        // A core-module section (id 1) of the module's size (under 128: one LEB byte).
        bytes.extend_from_slice(&[0x01, u8::try_from(module.len()).expect("a small module")]);
        bytes.extend_from_slice(&module);
        bytes
    }

    #[test]
    fn functions_are_counted_and_bounded_before_compiling() {
        let module = component_with_functions(5);
        assert_eq!(check_functions(&module, 10).unwrap(), 5);
        let error = check_functions(&module, 3).unwrap_err();
        assert!(matches!(error, LoadError::TooManyFunctions { count: 5, limit: 3 }), "{error:?}");
        assert!(error.to_string().contains("weir.component.max-functions"));
        assert!(matches!(check_functions(&module_with_functions(1), 10), Err(LoadError::CoreModule)));
        assert!(matches!(check_functions(b"PK\x03\x04 a jar", 10), Err(LoadError::NotWasm)));
        let mut truncated = COMPONENT_HEADER.to_vec();
        truncated.extend_from_slice(&[0x01, 0x7f, 0x00]);
        assert!(check_functions(&truncated, 10).is_err(), "a truncated section is an error");
    }
}
