//! The `metrics` import: guest counters and gauges, registered in the operator's group.

use std::sync::Arc;

use wasmtime::component::Resource;

use crate::bindings::weir::job::metrics::{Host, HostCounter, HostGauge};
use crate::host::{HostState, trap};
use weir_core::metrics::{Counter, Gauge};

/// The host side of a guest's `counter`.
pub struct CounterHandle(Arc<Counter>);

/// The host side of a guest's `gauge`.
pub struct GaugeHandle(Arc<Gauge>);

impl Host for HostState {}

impl HostCounter for HostState {
    fn new(&mut self, name: String) -> wasmtime::Result<Resource<CounterHandle>> {
        // Outside a task (in `plan`) the counter counts into nothing.
        let counter = self.services.metrics.as_ref().map(|m| m.counter(&name)).unwrap_or_default();
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
        let gauge = self.services.metrics.as_ref().map(|m| m.gauge(&name)).unwrap_or_default();
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
