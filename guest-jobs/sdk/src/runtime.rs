//! The glue between the exported functions and the job's [`Operator`]: one component instance
//! runs one operator subtask, so the operator lives in a thread-local of the instance.

use std::cell::RefCell;

use crate::host::logging::{self, Level};
use crate::{Job, Operator, OperatorContext, Output, Records, time::Timer};

struct Instance {
    operator: Box<dyn Operator>,
    output: Output,
}

thread_local! {
    static INSTANCE: RefCell<Option<Instance>> = const { RefCell::new(None) };
}

/// Reports panics through the host's log before the instance traps, so the host can say why.
fn install_panic_hook() {
    // Built for this machine (tests, `weir_sdk::testing`), panics stay the test's own.
    if cfg!(not(target_family = "wasm")) {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        logging::log(Level::Error, &format!("guest panicked: {info}"));
    }));
}

pub fn plan<J: Job>(args: Vec<String>) -> Result<crate::graph::JobGraph, String> {
    install_panic_hook();
    J::plan(args)
}

pub fn open<J: Job>(context: OperatorContext) -> Result<(), String> {
    install_panic_hook();
    let operator = J::open(&context)?;
    INSTANCE.with(|i| *i.borrow_mut() = Some(Instance { operator, output: Output::new() }));
    Ok(())
}

fn with_instance(f: impl FnOnce(&mut dyn Operator, &mut Output) -> Result<(), String>) -> Result<(), String> {
    INSTANCE.with(|i| {
        let mut guard = i.borrow_mut();
        let instance = guard.as_mut().ok_or("the operator was called before open")?;
        let result = f(instance.operator.as_mut(), &mut instance.output);
        instance.output.flush();
        result
    })
}

pub fn process(input: u32, records: Vec<u8>) -> Result<(), String> {
    with_instance(|op, out| op.process(input, Records::new(&records), out))
}

pub fn on_timers(timers: Vec<Timer>) -> Result<(), String> {
    with_instance(|op, out| op.on_timers(timers, out))
}

pub fn finish() -> Result<(), String> {
    with_instance(|op, out| op.finish(out))
}
