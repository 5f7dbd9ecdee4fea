//! What the guest instances of this process hold: how many are alive and how much linear
//! memory they have grown to, for the TaskManager's `Status.Wasm.*` metrics.
//!
//! Every instance's store has a [`TrackedLimits`]: the sandbox's resource budget (all its
//! linear memories and tables against one memory limit, and the counts of memories, tables and
//! instances), which also adds each permitted memory growth to the process's total and takes
//! the instance's memory back off when the store is dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::ResourceLimiter;

use crate::runtime::Limits;

static INSTANCES: AtomicU64 = AtomicU64::new(0);
static MEMORY_BYTES: AtomicU64 = AtomicU64::new(0);

/// Guest instances alive in this process (one per store).
pub fn instances() -> u64 {
    INSTANCES.load(Ordering::Relaxed)
}

/// Linear memory held by the guest instances of this process, in bytes.
pub fn memory_bytes() -> u64 {
    MEMORY_BYTES.load(Ordering::Relaxed)
}

/// `bytes` as a reader takes it in: whole MiB when it is some, else bytes.
pub fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// What one element of a table costs the host: wasmtime keeps a pointer per `funcref` or
/// `externref` element.
pub const TABLE_ELEMENT_BYTES: usize = 8;

/// What a guest instance tried to take beyond its budget. Each names the limit and the
/// configuration key that raises it.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// Its memories and tables together would exceed the memory limit.
    #[error(
        "the guest exceeded its memory limit of {} (weir.wasm.memory-limit): growing {what} by {grow} bytes, with {held} bytes held in its memories and tables",
        size(*.limit)
    )]
    Memory {
        /// What was growing: "a linear memory" or "a table".
        what: &'static str,
        /// The growth asked for, in bytes.
        grow: usize,
        /// What the instance held before, in bytes.
        held: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// A table would grow past the elements one table may have.
    #[error(
        "the guest grew a table to {desired} elements, more than the limit of {limit} elements per table (weir.wasm.max-table-elements)"
    )]
    TableElements {
        /// The size asked for.
        desired: usize,
        /// The limit.
        limit: usize,
    },
}

/// A store's resource budget: every linear memory and table of the instance counts against
/// one memory limit, with wasmtime enforcing the counts of memories, tables and instances;
/// the store's linear memory is also added to the process totals.
pub struct TrackedLimits {
    limits: Limits,
    /// Bytes this store's memories have grown to.
    memory: usize,
    /// Bytes this store's tables have grown to.
    tables: usize,
    /// The last growth permitted (true: a table), taken back if it then fails. A failure
    /// traps, so the instance is done for and its store about to go: the process total only
    /// has to stay equal to the stores' own counts.
    pending: Option<(usize, bool)>,
}

impl TrackedLimits {
    /// Tracks a new store (an instance) limited by `limits`.
    pub fn new(limits: &Limits) -> Self {
        INSTANCES.fetch_add(1, Ordering::Relaxed);
        TrackedLimits { limits: *limits, memory: 0, tables: 0, pending: None }
    }

    /// The store's budget for memories and tables together, in bytes (`weir.wasm.memory-limit`).
    pub fn budget(&self) -> usize {
        self.limits.memory_bytes
    }

    /// What the store holds in memories and tables, in bytes.
    pub fn held(&self) -> usize {
        self.memory.saturating_add(self.tables)
    }

    /// Permits growing by `grow` bytes if the total stays within the limit.
    fn grow(&mut self, grow: usize, table: bool) -> Result<(), BudgetError> {
        let held = self.held();
        let limit = self.limits.memory_bytes;
        if held.checked_add(grow).is_none_or(|total| total > limit) {
            let what = if table { "a table" } else { "a linear memory" };
            return Err(BudgetError::Memory { what, grow, held, limit });
        }
        if table {
            self.tables += grow;
        } else {
            self.memory += grow;
            MEMORY_BYTES.fetch_add(u64::try_from(grow).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        self.pending = Some((grow, table));
        Ok(())
    }

    /// Takes the last permitted growth back: it failed after all.
    fn undo(&mut self) {
        match self.pending.take() {
            None => {}
            Some((grow, true)) => self.tables = self.tables.saturating_sub(grow),
            Some((grow, false)) => {
                self.memory = self.memory.saturating_sub(grow);
                MEMORY_BYTES.fetch_sub(u64::try_from(grow).unwrap_or(u64::MAX), Ordering::Relaxed);
            }
        }
    }
}

impl Drop for TrackedLimits {
    fn drop(&mut self) {
        INSTANCES.fetch_sub(1, Ordering::Relaxed);
        MEMORY_BYTES.fetch_sub(u64::try_from(self.memory).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

impl ResourceLimiter for TrackedLimits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            // Beyond the memory's own declared maximum: `memory.grow` fails as the spec says.
            return Ok(false);
        }
        // Memories are created at size 0 and grown to their initial size, so every byte
        // passes through here; a refusal traps (an instance out of memory is done for).
        self.grow(desired.saturating_sub(current), false)?;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.undo();
        Err(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let limit = self.limits.budget.table_elements;
        if desired > limit {
            return Err(BudgetError::TableElements { desired, limit }.into());
        }
        self.grow(desired.saturating_sub(current).saturating_mul(TABLE_ELEMENT_BYTES), true)?;
        Ok(true)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.undo();
        Err(error)
    }

    fn instances(&self) -> usize {
        self.limits.budget.instances
    }

    fn tables(&self) -> usize {
        self.limits.budget.tables
    }

    fn memories(&self) -> usize {
        self.limits.budget.memories
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use wasmtime::{Engine, Instance, Module, Store};

    use super::*;
    use crate::runtime::Budget;

    /// The process totals are shared: these tests take turns.
    static TURN: Mutex<()> = Mutex::new(());

    fn limits(memory_bytes: usize) -> Limits {
        Limits { memory_bytes, ..Limits::default() }
    }

    fn instantiate(wat: &str, limits: &Limits) -> (Store<TrackedLimits>, wasmtime::Result<Instance>) {
        let engine = Engine::default();
        let module = Module::new(&engine, wat::parse_str(wat).expect("valid WAT")).expect("compiles");
        let mut store = Store::new(&engine, TrackedLimits::new(limits));
        store.limiter(|limits| limits);
        let instance = Instance::new(&mut store, &module, &[]);
        (store, instance)
    }

    fn grow(store: &mut Store<TrackedLimits>, instance: &Instance, export: &str, by: i32) -> wasmtime::Result<i32> {
        let f = instance.get_typed_func::<i32, i32>(&mut *store, export)?;
        f.call(&mut *store, by)
    }

    const PAGE: usize = 64 << 10;

    /// Two memories and a table, each growable from an export.
    const MEMORIES_AND_TABLE: &str = r#"(module
        (memory $a 1) (memory $b 0) (table $t 10 funcref)
        (func (export "grow-a") (param i32) (result i32) (memory.grow $a (local.get 0)))
        (func (export "grow-b") (param i32) (result i32) (memory.grow $b (local.get 0)))
        (func (export "grow-t") (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0))))"#;

    #[test]
    fn every_memory_and_table_counts_against_one_budget() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let (mut store, instance) = instantiate(MEMORIES_AND_TABLE, &limits(4 * PAGE + 80));
        let instance = instance.expect("one page and ten elements fit");
        assert_eq!(store.data().held(), PAGE + 10 * TABLE_ELEMENT_BYTES);
        assert_eq!(grow(&mut store, &instance, "grow-a", 2).expect("fits"), 1);
        assert_eq!(grow(&mut store, &instance, "grow-b", 1).expect("fits"), 0);
        // The second memory may not take what the first holds: 4 pages and 10 elements are held.
        let error = grow(&mut store, &instance, "grow-b", 1).expect_err("over the budget");
        let budget = error.downcast_ref::<BudgetError>().expect("the budget's own error");
        assert!(matches!(budget, BudgetError::Memory { what: "a linear memory", .. }), "{budget}");
        assert!(format!("{error:#}").contains("weir.wasm.memory-limit"), "{error:#}");
        // Nor may the table: 10 elements (80 bytes) are left, 11 are asked for.
        let (mut store, instance) = instantiate(MEMORIES_AND_TABLE, &limits(4 * PAGE + 160));
        let instance = instance.expect("fits");
        grow(&mut store, &instance, "grow-a", 3).expect("fits");
        assert_eq!(grow(&mut store, &instance, "grow-t", 10).expect("fits"), 10);
        let error = grow(&mut store, &instance, "grow-t", 1).expect_err("over the budget");
        assert!(
            matches!(error.downcast_ref::<BudgetError>(), Some(BudgetError::Memory { what: "a table", .. })),
            "{error:#}"
        );
    }

    #[test]
    fn a_table_is_limited_in_elements_and_beyond_its_maximum_growth_fails_as_wasm_says() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let few = Limits { budget: Budget { table_elements: 100, ..Budget::default() }, ..Limits::default() };
        let (mut store, instance) = instantiate(MEMORIES_AND_TABLE, &few);
        let instance = instance.expect("fits");
        assert_eq!(grow(&mut store, &instance, "grow-t", 90).expect("fits"), 10);
        let error = grow(&mut store, &instance, "grow-t", 1).expect_err("101 elements");
        assert!(
            matches!(
                error.downcast_ref::<BudgetError>(),
                Some(BudgetError::TableElements { desired: 101, limit: 100 })
            ),
            "{error:#}"
        );
        assert!(format!("{error:#}").contains("weir.wasm.max-table-elements"), "{error:#}");
        // A memory's own maximum is not the budget's business: `memory.grow` returns -1.
        let (mut store, instance) = instantiate(
            r#"(module (memory 1 2) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#,
            &Limits::default(),
        );
        let instance = instance.expect("fits");
        assert_eq!(grow(&mut store, &instance, "grow", 2).expect("no trap"), -1);
    }

    #[test]
    fn initial_sizes_and_counts_are_limited_at_instantiation() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        // 8 memories of 256 MiB each, as a hostile module declares them.
        let (_, instance) = instantiate(
            "(module (memory 4096) (memory 4096) (memory 4096) (memory 4096) (memory 4096) (memory 4096) (memory 4096) (memory 4096))",
            &Limits::default(),
        );
        let error = instance.expect_err("2 GiB is over 256 MiB");
        assert!(format!("{error:#}").contains("memory limit of 256 MiB"), "{error:#}");
        let two = Limits { budget: Budget { memories: 2, tables: 1, ..Budget::default() }, ..Limits::default() };
        let (_, instance) = instantiate("(module (memory 0) (memory 0) (memory 0))", &two);
        let error = format!("{:#}", instance.expect_err("3 memories"));
        assert!(error.contains("memory count too high"), "{error}");
        let (_, instance) = instantiate("(module (table 0 funcref) (table 0 funcref))", &two);
        let error = format!("{:#}", instance.expect_err("2 tables"));
        assert!(error.contains("table count too high"), "{error}");
        let (_, instance) = instantiate("(module (table 33000000 funcref))", &Limits::default());
        let error = format!("{:#}", instance.expect_err("33 M elements"));
        assert!(error.contains("weir.wasm.max-table-elements"), "{error}");
    }

    #[test]
    fn the_process_totals_follow_the_stores() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let (instances, memory) = (super::instances(), super::memory_bytes());
        let (mut store, instance) = instantiate(MEMORIES_AND_TABLE, &limits(16 * PAGE));
        let instance = instance.expect("fits");
        grow(&mut store, &instance, "grow-b", 3).expect("fits");
        grow(&mut store, &instance, "grow-t", 1000).expect("fits");
        assert_eq!(super::instances(), instances + 1);
        // Linear memory only: 1 + 3 pages; the table counts against the budget, not here.
        assert_eq!(super::memory_bytes(), memory + 4 * PAGE as u64);
        grow(&mut store, &instance, "grow-a", 100).expect_err("over the budget");
        assert_eq!(super::memory_bytes(), memory + 4 * PAGE as u64, "a refused growth is not counted");
        drop(store);
        assert_eq!((super::instances(), super::memory_bytes()), (instances, memory));
    }
}
