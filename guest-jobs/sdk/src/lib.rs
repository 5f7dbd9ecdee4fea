//! Write Weir jobs in Rust.
//!
//! A job component implements [`Job`]: `plan` turns the program arguments into a job graph
//! (see [`graph`]), `open` creates the [`Operator`] for each parallel subtask of a guest
//! function the graph names. [`export_job!`] exports it as a `weir:job` component:
//!
//! ```ignore
//! struct MyJob;
//! impl weir_sdk::Job for MyJob { /* plan, open */ }
//! weir_sdk::export_job!(MyJob);
//! ```
//!
//! Around that the SDK gives typed keyed state ([`state`]), timers and clocks ([`time`]),
//! metrics and logging ([`metrics`]), program arguments ([`args`]), tumbling windows
//! ([`window`]) and fast JSON ([`json`]), all on top of the host services the WIT world
//! imports. Records arrive and leave in batches ([`frame`]); the SDK hides the framing.

// Lets the generated bindings name this crate the same way from inside and from a job crate.
extern crate self as weir_sdk;

pub mod args;
pub mod graph;
pub mod metrics;
pub mod state;
pub mod stream;
#[cfg(not(target_family = "wasm"))]
pub mod testing;
pub mod time;
pub mod window;

mod hash;
mod host;
mod output;
#[doc(hidden)]
pub mod runtime;

pub use output::Output;
pub use weir_frame::{self as frame, Record};
pub use weir_json as json;

/// The generated bindings to the `weir:job` world.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "job",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_bindings",
        default_bindings_module: "weir_sdk::bindings",
        runtime_path: "weir_sdk::bindings::wit_bindgen::rt",
    });
    pub use wit_bindgen;
}

pub use bindings::exports::weir::job::operator::OperatorContext;

/// A job: what a Flink jar's `main` and its user functions are.
pub trait Job {
    /// Builds the job graph from the program arguments. Errors name the argument at fault.
    fn plan(args: Vec<String>) -> Result<graph::JobGraph, String>;

    /// Creates the operator for one parallel subtask of the guest function
    /// `context.function`.
    fn open(context: &OperatorContext) -> Result<Box<dyn Operator>, String>;
}

/// The user function of one operator subtask.
pub trait Operator {
    /// Processes a batch of records from input `input`, emitting into `out`.
    fn process(&mut self, input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String>;

    /// Handles timers that fired, in time order.
    fn on_timers(&mut self, timers: Vec<time::Timer>, out: &mut Output) -> Result<(), String> {
        let _ = (timers, out);
        Ok(())
    }

    /// All input has been processed; emit anything still held.
    fn finish(&mut self, out: &mut Output) -> Result<(), String> {
        let _ = out;
        Ok(())
    }
}

/// The records of an input batch.
#[derive(Clone)]
pub struct Records<'a> {
    batch: &'a [u8],
    inner: frame::Records<'a>,
}

impl<'a> Records<'a> {
    /// Wraps a framed batch received from the host.
    pub fn new(batch: &'a [u8]) -> Self {
        Records { batch, inner: frame::records(batch) }
    }

    /// The whole batch in frame format, for passing records through unchanged.
    pub fn as_batch(&self) -> &'a [u8] {
        self.batch
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    #[inline]
    fn next(&mut self) -> Option<Record<'a>> {
        // The host frames every batch it hands over; a malformed one is a host bug.
        self.inner.next().map(|r| r.expect("the host sent a malformed record batch"))
    }
}

/// Exports a [`Job`] implementation as the component's `weir:job` world.
#[macro_export]
macro_rules! export_job {
    ($job:ty) => {
        #[doc(hidden)]
        struct __WeirJobExports;

        impl $crate::bindings::exports::weir::job::plan::Guest for __WeirJobExports {
            fn plan(args: ::std::vec::Vec<::std::string::String>) -> ::std::result::Result<$crate::graph::JobGraph, ::std::string::String> {
                $crate::runtime::plan::<$job>(args)
            }
        }

        impl $crate::bindings::exports::weir::job::operator::Guest for __WeirJobExports {
            fn open(context: $crate::OperatorContext) -> ::std::result::Result<(), ::std::string::String> {
                $crate::runtime::open::<$job>(context)
            }
            fn process(input: u32, records: ::std::vec::Vec<u8>) -> ::std::result::Result<(), ::std::string::String> {
                $crate::runtime::process(input, records)
            }
            fn on_timers(timers: ::std::vec::Vec<$crate::time::Timer>) -> ::std::result::Result<(), ::std::string::String> {
                $crate::runtime::on_timers(timers)
            }
            fn finish() -> ::std::result::Result<(), ::std::string::String> {
                $crate::runtime::finish()
            }
        }

        $crate::bindings::export_bindings!(__WeirJobExports with_types_in $crate::bindings);
    };
}
