//! The `time` and `timers` imports.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::bindings::weir::job::{time, timers};
use crate::caps::{CapExceeded, GuestCaps};
use crate::host::{HostState, HostTrap, trap};
use weir_config::keys;
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

/// The longest one `time.sleep` lasts.
pub const MAX_SLEEP: Duration = Duration::from_secs(3600);

impl time::Host for HostState {
    fn current_watermark(&mut self) -> wasmtime::Result<i64> {
        Ok(self.services.watermark)
    }

    fn current_processing_time(&mut self) -> wasmtime::Result<i64> {
        Ok(match &self.services.processing_time {
            Some(clock) => clock.load(Ordering::Relaxed),
            None => processing_time_now(),
        })
    }

    fn sleep(&mut self, millis: u64) -> wasmtime::Result<()> {
        // Sleeping does not count toward the call's time limit (README: a guest may sleep, as
        // a Flink function may); a cancel wakes it, it never lasts past the instance's deadline
        // (a plan's), and one sleep is capped at an hour.
        let mut duration = Duration::from_millis(millis).min(MAX_SLEEP);
        if let Some((at, _, _)) = self.deadline {
            duration = duration.min(at.saturating_duration_since(Instant::now()));
        }
        let started = Instant::now();
        let completed = self.cancel.sleep(duration);
        self.clock.add_sleeping(started.elapsed());
        if !completed {
            return Err(trap(HostTrap::Cancelled));
        }
        self.interrupted().map_err(trap)
    }
}

/// Registers a timer within the caps: a key and namespace of bounded size, and a bounded
/// number of timers and bytes per subtask (timers live in the TaskManager's memory).
fn register(
    host: &mut HostState,
    domain: TimeDomain,
    key: Vec<u8>,
    namespace: Vec<u8>,
    time: i64,
) -> wasmtime::Result<()> {
    let caps = host.caps;
    GuestCaps::check("a timer's key", key.len(), caps.state_key_bytes, keys::GUEST_STATE_MAX_KEY_SIZE).map_err(trap)?;
    GuestCaps::check(
        "a timer's namespace",
        namespace.len(),
        caps.timer_namespace_bytes,
        keys::GUEST_TIMERS_MAX_NAMESPACE_SIZE,
    )
    .map_err(trap)?;
    let service = timer_service(host)?;
    let (count, bytes) = service.held();
    let size = key.len() + namespace.len();
    let full = count >= caps.timers || bytes.saturating_add(size) > caps.timer_bytes;
    if full && !service.contains(domain, &key, &namespace, time) {
        let error = if count >= caps.timers {
            CapExceeded::count(
                "the subtask's timers",
                count.saturating_add(1),
                caps.timers,
                "timers",
                keys::GUEST_TIMERS_MAX_COUNT,
            )
        } else {
            CapExceeded::bytes(
                "the keys and namespaces of the subtask's timers",
                bytes.saturating_add(size),
                caps.timer_bytes,
                keys::GUEST_TIMERS_MAX_BYTES,
            )
        };
        return Err(trap(error));
    }
    service.register(domain, key, namespace, time).map_err(trap)
}

impl timers::Host for HostState {
    fn register_event_time_timer(&mut self, key: Vec<u8>, namespace: Vec<u8>, time: i64) -> wasmtime::Result<()> {
        register(self, TimeDomain::EventTime, key, namespace, time)
    }

    fn delete_event_time_timer(&mut self, key: Vec<u8>, namespace: Vec<u8>, time: i64) -> wasmtime::Result<()> {
        timer_service(self)?.delete(TimeDomain::EventTime, key, namespace, time).map_err(trap)
    }

    fn register_processing_time_timer(&mut self, key: Vec<u8>, namespace: Vec<u8>, time: i64) -> wasmtime::Result<()> {
        register(self, TimeDomain::ProcessingTime, key, namespace, time)
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
