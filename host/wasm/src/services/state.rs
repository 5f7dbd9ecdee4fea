//! The `state` import: value and map state handles backed by the subtask's [`KeyedState`].

use crate::bindings::weir::job::state::{Host, HostMapState, HostValueState};
use crate::caps::GuestCaps;
use crate::host::{HostState, HostTrap, trap};
use wasmtime::component::Resource;
use weir_config::keys;

use weir_core::state::{KeyedState, StateError};

/// The host side of a guest's `value-state` handle.
pub struct ValueStateHandle {
    name: String,
}

/// The host side of a guest's `map-state` handle.
pub struct MapStateHandle {
    name: String,
}

const UNKEYED: HostTrap = HostTrap::NotAvailable(
    "keyed state",
    "to this operator: its input is not partitioned by key (use a hash exchange), or it is the plan",
);

/// The subtask's keyed state and the state name behind a handle.
fn resolve<'a, T: 'static>(
    host: &'a mut HostState,
    handle: &Resource<T>,
    name: impl Fn(&T) -> &str,
) -> wasmtime::Result<(&'a KeyedState, String)> {
    let name = name(host.table.get(handle).map_err(trap)?).to_string();
    let state = host.services.state.as_ref().ok_or_else(|| trap(UNKEYED))?;
    Ok((state, name))
}

impl Host for HostState {}

/// Refuses a key, namespace or map key over the key cap: each is stored with every entry.
fn check_key(host: &HostState, key: &[u8], namespace: &[u8], map_key: &[u8]) -> wasmtime::Result<()> {
    let max = host.caps.state_key_bytes;
    for (what, part) in
        [("a keyed-state key", key), ("a keyed-state namespace", namespace), ("a map-state key", map_key)]
    {
        GuestCaps::check(what, part.len(), max, keys::GUEST_STATE_MAX_KEY_SIZE).map_err(trap)?;
    }
    Ok(())
}

/// Refuses a value over the value cap before the state backend holds (and writes) it.
fn check_value(host: &HostState, value: &[u8]) -> wasmtime::Result<()> {
    let max = host.caps.state_value_bytes;
    GuestCaps::check("a keyed-state value", value.len(), max, keys::GUEST_STATE_MAX_VALUE_SIZE).map_err(trap)
}

impl HostValueState for HostState {
    fn new(&mut self, name: String) -> wasmtime::Result<Resource<ValueStateHandle>> {
        if self.services.state.is_none() {
            return Err(trap(UNKEYED));
        }
        self.table.push(ValueStateHandle { name }).map_err(trap)
    }

    fn get(
        &mut self,
        h: Resource<ValueStateHandle>,
        key: Vec<u8>,
        namespace: Vec<u8>,
    ) -> wasmtime::Result<Option<Vec<u8>>> {
        check_key(self, &key, &namespace, &[])?;
        let (state, name) = resolve(self, &h, |s| &s.name)?;
        state.value_get(&name, &key, &namespace).map_err(trap)
    }

    fn set(
        &mut self,
        h: Resource<ValueStateHandle>,
        key: Vec<u8>,
        namespace: Vec<u8>,
        value: Vec<u8>,
    ) -> wasmtime::Result<()> {
        check_key(self, &key, &namespace, &[])?;
        check_value(self, &value)?;
        let (state, name) = resolve(self, &h, |s| &s.name)?;
        state.value_set(&name, &key, &namespace, &value).map_err(trap)
    }

    fn clear(&mut self, h: Resource<ValueStateHandle>, key: Vec<u8>, namespace: Vec<u8>) -> wasmtime::Result<()> {
        check_key(self, &key, &namespace, &[])?;
        let (state, name) = resolve(self, &h, |s| &s.name)?;
        state.value_clear(&name, &key, &namespace).map_err(trap)
    }

    fn drop(&mut self, h: Resource<ValueStateHandle>) -> wasmtime::Result<()> {
        self.table.delete(h).map_err(trap)?;
        Ok(())
    }
}

impl HostMapState for HostState {
    fn new(&mut self, name: String) -> wasmtime::Result<Resource<MapStateHandle>> {
        if self.services.state.is_none() {
            return Err(trap(UNKEYED));
        }
        self.table.push(MapStateHandle { name }).map_err(trap)
    }

    fn get(
        &mut self,
        h: Resource<MapStateHandle>,
        key: Vec<u8>,
        namespace: Vec<u8>,
        map_key: Vec<u8>,
    ) -> wasmtime::Result<Option<Vec<u8>>> {
        check_key(self, &key, &namespace, &map_key)?;
        let (state, name) = resolve(self, &h, |s| &s.name)?;
        state.map_get(&name, &key, &namespace, &map_key).map_err(trap)
    }

    fn put(
        &mut self,
        h: Resource<MapStateHandle>,
        key: Vec<u8>,
        namespace: Vec<u8>,
        map_key: Vec<u8>,
        value: Vec<u8>,
    ) -> wasmtime::Result<()> {
        check_key(self, &key, &namespace, &map_key)?;
        check_value(self, &value)?;
        let (state, name) = resolve(self, &h, |s| &s.name)?;
        state.map_put(&name, &key, &namespace, &map_key, &value).map_err(trap)
    }

    fn remove(
        &mut self,
        h: Resource<MapStateHandle>,
        key: Vec<u8>,
        namespace: Vec<u8>,
        map_key: Vec<u8>,
    ) -> wasmtime::Result<()> {
        check_key(self, &key, &namespace, &map_key)?;
        let (state, name) = resolve(self, &h, |s| &s.name)?;
        state.map_remove(&name, &key, &namespace, &map_key).map_err(trap)
    }

    fn entries(
        &mut self,
        h: Resource<MapStateHandle>,
        key: Vec<u8>,
        namespace: Vec<u8>,
    ) -> wasmtime::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        check_key(self, &key, &namespace, &[])?;
        // What the guest's memory cannot take is not read: a map bigger than the budget is an error.
        let budget = self.limits.budget();
        let (state, name) = resolve(self, &h, |s| &s.name)?;
        state.map_entries(&name, &key, &namespace, budget).map_err(|e| match e {
            StateError::ScanTooLarge { max_bytes } => trap(HostTrap::MapTooLarge { name: name.clone(), max_bytes }),
            e => trap(e),
        })
    }

    fn clear(&mut self, h: Resource<MapStateHandle>, key: Vec<u8>, namespace: Vec<u8>) -> wasmtime::Result<()> {
        check_key(self, &key, &namespace, &[])?;
        let (state, name) = resolve(self, &h, |s| &s.name)?;
        state.map_clear(&name, &key, &namespace).map_err(trap)
    }

    fn drop(&mut self, h: Resource<MapStateHandle>) -> wasmtime::Result<()> {
        self.table.delete(h).map_err(trap)?;
        Ok(())
    }
}

/// Links the `state` interface.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    crate::bindings::weir::job::state::add_to_linker::<_, wasmtime::component::HasSelf<_>>(linker, |state| state)
}
