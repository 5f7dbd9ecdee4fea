//! `weir compile-component <cache-dir> <stack-bytes>` (hidden): the JobManager's compiler
//! process. It compiles the component on its standard input into the cache directory, so that
//! the JobManager can kill a compile that runs past `weir.component.compile-timeout`.

use std::io::Read;
use std::process::ExitCode;

/// The most a component may be: no upload is larger than the REST body limit, far below this.
const MAX_COMPONENT_BYTES: u64 = 1 << 30;

/// Runs the compiler process: exit 0 compiled, 1 refused (the reason on standard error), 2 usage.
pub fn run(args: &[String]) -> ExitCode {
    let (Some(dir), Some(stack), None) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: weir {} <cache-dir> <stack-bytes>", weir_wasm::cache::COMPILE_COMMAND);
        return ExitCode::from(2);
    };
    let Ok(stack_bytes) = stack.parse::<usize>() else {
        eprintln!("the stack size '{stack}' is not a number of bytes");
        return ExitCode::from(2);
    };
    let mut bytes = Vec::new();
    if let Err(error) = std::io::stdin().take(MAX_COMPONENT_BYTES).read_to_end(&mut bytes) {
        eprintln!("cannot read the component: {error}");
        return ExitCode::FAILURE;
    }
    match weir_wasm::cache::compile_for_parent(std::path::Path::new(dir), stack_bytes, &bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
