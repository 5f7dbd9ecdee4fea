//! `weir bench --state-backend`: what the keyed-state backend (sled) itself costs per record, by
//! number of keys and value size, without a job around it.
//!
//! For each value size and number of keys N, in a fresh database in a temporary directory with
//! the TaskManager's page cache (`state.backend.sled.cache-size`, `--cache-size`):
//!
//! 1. *load*: N `ValueState` writes, one per key, as a job's first records write them;
//! 2. *update*: [`UPDATES`] (at most N·4) read-modify-writes, keys in the state job's order
//!    (`k<(i mod N)·a mod N>`, a permutation that scatters consecutive records), as the state
//!    job's operator does per record;
//! 3. the database's size on disk and this process's resident memory after both (`VmRSS`), and
//!    its peak over the run (`VmHWM`, reset before each run where the kernel allows).
//!
//! Figures are per record, on one thread; one Markdown table row per run on stdout, progress on
//! stderr.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_core::state::backend::DEFAULT_CACHE_BYTES;
use weir_core::state::{KeyGroupOwnership, KeyedState, SledBackend, StateBackend};

/// The read-modify-writes measured per run (fewer if N·4 is fewer).
const UPDATES: u64 = 2_000_000;
/// The state's name, as the state job's.
const STATE: &str = "value";
/// The golden ratio's 64-bit multiplicative-hash constant (as the state job's key order).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// What `weir bench --state-backend` measures.
pub struct Options {
    /// The numbers of keys.
    pub keys: Vec<u64>,
    /// The value sizes, bytes.
    pub value_sizes: Vec<u32>,
    /// The page cache, bytes.
    pub cache_bytes: Option<u64>,
}

/// Runs every (value size, keys) pair.
pub fn run(options: &Options) -> anyhow::Result<()> {
    anyhow::ensure!(
        !options.keys.is_empty() && options.keys.iter().all(|&n| n >= 1),
        "--keys needs numbers of at least 1"
    );
    anyhow::ensure!(
        !options.value_sizes.is_empty() && options.value_sizes.iter().all(|&v| (8..=1 << 20).contains(&v)),
        "--value-size needs sizes from 8 bytes to 1 MiB"
    );
    let cache = options.cache_bytes.unwrap_or(DEFAULT_CACHE_BYTES);
    println!(
        "State backend: sled 0.34, page cache {} MiB, one thread, {UPDATES} read-modify-writes per run (at most N*4)",
        cache >> 20
    );
    println!();
    println!("| value | N keys | on disk | load: write per key | update: read + write per record | RSS after / peak |");
    println!("|---|---|---|---|---|---|");
    for &value_size in &options.value_sizes {
        for &n in &options.keys {
            let row = measure(n, value_size, cache)?;
            println!("{row}");
            let _ = std::io::stdout().flush();
        }
    }
    Ok(())
}

fn measure(n: u64, value_size: u32, cache: u64) -> anyhow::Result<String> {
    let dir = tempfile::Builder::new().prefix("weir-bench-backend-").tempdir()?;
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let backend = SledBackend::open(dir.path(), cache)?;
    let table = backend.open_table("bench", "state")?;
    let state = KeyedState::new(Arc::clone(&table), KeyGroupOwnership::for_subtask(128, 1, 0));
    let mut value = vec![0u8; usize::try_from(value_size)?];
    let multiplier = multiplier(n);
    let key = |i: u64| format!("k{}", scatter(i, n, multiplier));

    eprintln!("bench --state-backend [N={n}, value {value_size} B] load");
    let started = Instant::now();
    let mut last = Instant::now();
    for i in 0..n {
        value[..8].copy_from_slice(&1u64.to_le_bytes());
        state.value_set(STATE, key(i).as_bytes(), b"", &value)?;
        if last.elapsed() > Duration::from_secs(10) {
            last = Instant::now();
            eprintln!("bench --state-backend [N={n}, value {value_size} B] loaded {i} keys");
        }
    }
    let load = started.elapsed();

    let updates = UPDATES.min(n.saturating_mul(4));
    eprintln!("bench --state-backend [N={n}, value {value_size} B] {updates} updates");
    let started = Instant::now();
    for i in 0..updates {
        let k = key(i);
        let old = state.value_get(STATE, k.as_bytes(), b"")?;
        let count =
            old.as_deref().and_then(|v| v.get(..8)).map_or(0, |c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        value[..8].copy_from_slice(&(count + 1).to_le_bytes());
        state.value_set(STATE, k.as_bytes(), b"", &value)?;
    }
    let update = started.elapsed();
    let (rss, peak) = memory();
    drop(state);
    drop(table);
    drop(backend);
    let disk = directory_size(dir.path());
    let per = |d: Duration, count: u64| d.as_secs_f64() * 1e6 / count.max(1) as f64;
    Ok(format!(
        "| {value_size} B | {n} | {} MiB | {:.1} µs | {:.1} µs | {} / {} MiB |",
        disk >> 20,
        per(load, n),
        per(update, updates),
        rss >> 20,
        peak >> 20
    ))
}

/// The key index of the `i`-th record: `(i mod n)·a mod n`.
fn scatter(i: u64, n: u64, a: u64) -> u64 {
    // The remainder is below `n`, so it fits.
    u64::try_from(u128::from(i % n) * u128::from(a) % u128::from(n)).unwrap_or(0)
}

/// A multiplier coprime with `n`, so `i ↦ i·a mod n` is a permutation (as the state job's).
fn multiplier(n: u64) -> u64 {
    if n <= 1 {
        return 1;
    }
    let mut a = (GOLDEN % n).max(1);
    while gcd(a, n) != 1 {
        a = if a + 1 >= n { 1 } else { a + 1 };
    }
    a
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// This process's resident memory now and at its peak, bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l[name.len()..].trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb.saturating_mul(1024))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The bytes of the files under `dir`.
fn directory_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => directory_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_order_is_a_permutation() {
        for n in [1, 2, 10, 128, 1000, 4096] {
            let a = multiplier(n);
            let mut seen: Vec<u64> = (0..n).map(|i| scatter(i, n, a)).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n = {n}");
        }
    }
}
