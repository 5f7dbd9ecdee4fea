//! The `metrics` import: guest counters and gauges, registered in the operator's group.

use std::sync::Arc;

use wasmtime::component::Resource;

use crate::bindings::weir::job::metrics::{Host, HostCounter, HostGauge};
use crate::caps::{CapExceeded, GuestCaps};
use crate::host::{HostState, trap};
use weir_config::keys;
use weir_core::metrics::{Counter, Gauge};

/// The host side of a guest's `counter`.
pub struct CounterHandle(Arc<Counter>);

/// The host side of a guest's `gauge`.
pub struct GaugeHandle(Arc<Gauge>);

impl Host for HostState {}

/// Refuses a metric name over the cap: every name travels in each heartbeat.
fn check_name(host: &HostState, name: &str) -> wasmtime::Result<()> {
    let max = host.caps.metric_name_bytes;
    GuestCaps::check("a metric name", name.len(), max, keys::GUEST_METRICS_MAX_NAME_LENGTH).map_err(trap)
}

fn too_many(host: &HostState) -> wasmtime::Error {
    let max = host.caps.metrics;
    trap(CapExceeded::count("a new metric", max.saturating_add(1), max, "metrics", keys::GUEST_METRICS_MAX_COUNT))
}

impl HostCounter for HostState {
    fn new(&mut self, name: String) -> wasmtime::Result<Resource<CounterHandle>> {
        check_name(self, &name)?;
        // Outside a task (in `plan`) the counter counts into nothing.
        let counter = match self.services.metrics.as_ref() {
            Some(m) => m.counter_within(&name, self.caps.metrics).ok_or_else(|| too_many(self))?,
            None => Arc::default(),
        };
        self.table.push(CounterHandle(counter)).map_err(trap)
    }

    fn inc(&mut self, h: Resource<CounterHandle>, n: u64) -> wasmtime::Result<()> {
        self.table.get(&h).map_err(trap)?.0.inc(n);
        Ok(())
    }

    fn drop(&mut self, h: Resource<CounterHandle>) -> wasmtime::Result<()> {
        self.table.delete(h).map_err(trap)?;
        Ok(())
    }
}

impl HostGauge for HostState {
    fn new(&mut self, name: String) -> wasmtime::Result<Resource<GaugeHandle>> {
        check_name(self, &name)?;
        let gauge = match self.services.metrics.as_ref() {
            Some(m) => m.gauge_within(&name, self.caps.metrics).ok_or_else(|| too_many(self))?,
            None => Arc::default(),
        };
        self.table.push(GaugeHandle(gauge)).map_err(trap)
    }

    fn set(&mut self, h: Resource<GaugeHandle>, value: f64) -> wasmtime::Result<()> {
        self.table.get(&h).map_err(trap)?.0.set(value);
        Ok(())
    }

    fn drop(&mut self, h: Resource<GaugeHandle>) -> wasmtime::Result<()> {
        self.table.delete(h).map_err(trap)?;
        Ok(())
    }
}

/// Links the `metrics` interface.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    crate::bindings::weir::job::metrics::add_to_linker::<_, wasmtime::component::HasSelf<_>>(linker, |state| state)
}
