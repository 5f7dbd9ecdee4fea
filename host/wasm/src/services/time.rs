//! The `time` and `timers` imports.

use std::time::{Duration, Instant};

use crate::bindings::weir::job::{time, timers};
use crate::host::{HostState, HostTrap, trap};
use weir_core::timer::TimeDomain;

use weir_core::timer::{TimerService, processing_time_now};

fn timer_service(host: &mut HostState) -> wasmtime::Result<&mut TimerService> {
    host.services.timers.as_mut().ok_or_else(|| {
        trap(HostTrap::NotAvailable(
            "timers",
            "to this operator: its input is not partitioned by key (use a hash exchange), or it is the plan",
        ))
    })
}

impl time::Host for HostState {
    fn current_watermark(&mut self) -> wasmtime::Result<i64> {
        Ok(self.services.watermark)
    }

    fn current_processing_time(&mut self) -> wasmtime::Result<i64> {
        Ok(processing_time_now())
    }

    fn sleep(&mut self, millis: u64) -> wasmtime::Result<()> {
        let started = Instant::now();
        let completed = self.cancel.sleep(Duration::from_millis(millis));
        self.clock.add_sleeping(started.elapsed());
        if completed { Ok(()) } else { Err(trap(HostTrap::Cancelled)) }
    }
}

impl timers::Host for HostState {
    fn register_event_time_timer(&mut self, key: Vec<u8>, namespace: Vec<u8>, time: i64) -> wasmtime::Result<()> {
        timer_service(self)?.register(TimeDomain::EventTime, key, namespace, time).map_err(trap)
    }

    fn delete_event_time_timer(&mut self, key: Vec<u8>, namespace: Vec<u8>, time: i64) -> wasmtime::Result<()> {
        timer_service(self)?.delete(TimeDomain::EventTime, key, namespace, time).map_err(trap)
    }

    fn register_processing_time_timer(&mut self, key: Vec<u8>, namespace: Vec<u8>, time: i64) -> wasmtime::Result<()> {
        timer_service(self)?.register(TimeDomain::ProcessingTime, key, namespace, time).map_err(trap)
    }

    fn delete_processing_time_timer(&mut self, key: Vec<u8>, namespace: Vec<u8>, time: i64) -> wasmtime::Result<()> {
        timer_service(self)?.delete(TimeDomain::ProcessingTime, key, namespace, time).map_err(trap)
    }
}

impl crate::bindings::weir::job::types::Host for HostState {}

/// Links the `types`, `time` and `timers` interfaces.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    use crate::bindings::weir::job::types;
    use wasmtime::component::HasSelf;
    types::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    time::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    timers::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}
