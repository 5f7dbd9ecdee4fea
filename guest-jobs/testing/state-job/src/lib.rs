//! The job `weir bench --state` measures keyed state with: a datagen source whose records are
//! turned into keys `k0` … `k<N-1>` by a guest deserializer (the click events' content is
//! ignored), a keyed operator (uid `state-updater`) that for every record reads its key's value
//! and writes back `--value-size` bytes (an 8-byte counter, incremented, and padding), and a
//! discard sink. Parallelism 1 by default, 128 key groups.
//!
//! Program arguments: `--keys N` (required), `--value-size B` (default 100, at least 8),
//! `--rate R` (records per second of the source; default as fast as it goes),
//! `--checkpoint-interval MS` (default: no checkpoints), `--generation G` (default 0: only
//! handed to the state updater's configuration, so that an upgrade to the same component with
//! another generation swaps its code in place).
//!
//! The deserializer's `n`-th record gets key `k<(n mod N) · a mod N>`, where `a` is the golden
//! ratio's multiplicative-hash constant `0x9E3779B97F4A7C15` reduced modulo N and moved to the
//! next number coprime with N: consecutive records land on keys far apart, and every run of N
//! records touches every key exactly once.

use std::io::Write;

use weir_sdk::args::Args;
use weir_sdk::graph::{DatagenSource, GraphBuilder, JobGraph, ShipStrategy, SinkConnector, SourceConnector};
use weir_sdk::metrics::Counter;
use weir_sdk::state::ValueState;
use weir_sdk::{Job, Operator, OperatorContext, Output, Records};

/// The operators' uids.
pub mod uid {
    /// The datagen source and its deserializer.
    pub const SOURCE: &str = "source";
    /// The keyed operator that reads and writes the state.
    pub const STATE_UPDATER: &str = "state-updater";
    /// The discard sink.
    pub const SINK: &str = "sink";
}

/// The guest functions.
mod function {
    pub const KEYS: &str = "keys";
    pub const UPDATE: &str = "update-state";
}

/// The golden ratio's 64-bit multiplicative-hash constant (Fibonacci hashing).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The least value size: the counter.
const MIN_VALUE_SIZE: u32 = 8;

struct StateJob;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The multiplier that scatters `0..keys` over `0..keys`: coprime with `keys`, so a
/// permutation.
fn multiplier(keys: u64) -> u64 {
    if keys <= 1 {
        return 1;
    }
    let mut a = (GOLDEN % keys).max(1);
    while gcd(a, keys) != 1 {
        a = if a + 1 >= keys { 1 } else { a + 1 };
    }
    a
}

/// The key index of the `n`-th record.
fn key_index(n: u64, keys: u64, multiplier: u64) -> u64 {
    let scattered = u128::from(n % keys) * u128::from(multiplier) % u128::from(keys);
    // why: the remainder of a division by a u64 fits a u64.
    u64::try_from(scattered).unwrap_or(0)
}

impl Job for StateJob {
    fn plan(raw: Vec<String>) -> Result<JobGraph, String> {
        let mut args = Args::parse(&raw)?;
        let keys: u64 = args.parsed("keys")?.ok_or("argument --keys <number of keys> is required")?;
        let value_size: u32 = args.parsed("value-size")?.unwrap_or(100);
        let rate: Option<u64> = args.parsed("rate")?;
        let checkpoint_interval: Option<u64> = args.parsed("checkpoint-interval")?;
        let generation: u64 = args.parsed("generation")?.unwrap_or(0);
        args.finish()?;
        if keys == 0 {
            return Err("--keys must be at least 1".into());
        }
        if value_size < MIN_VALUE_SIZE {
            return Err(format!("--value-size must be at least {MIN_VALUE_SIZE} (the counter)"));
        }
        if rate == Some(0) {
            return Err("--rate must be at least 1 record per second".into());
        }
        if checkpoint_interval == Some(0) {
            return Err("--checkpoint-interval must be at least 1 ms".into());
        }
        let mut g = GraphBuilder::new("State Benchmark");
        g.max_parallelism(weir_sdk::graph::DEFAULT_MAX_PARALLELISM);
        if let Some(interval) = checkpoint_interval {
            g.checkpointing(interval);
        }
        let connector = SourceConnector::Datagen(DatagenSource { count: None, rate });
        let source = g.source(uid::SOURCE, "Keys Source", connector, Some(function::KEYS));
        g.set_config(&source, keys.to_string());
        let updater =
            g.transform(uid::STATE_UPDATER, "State Updater", function::UPDATE, &[(&source, ShipStrategy::Hash)]);
        g.set_config(&updater, format!("{value_size} {generation}"));
        g.sink(uid::SINK, "Discard", SinkConnector::Discard, &updater);
        Ok(g.build())
    }

    fn open(context: &OperatorContext) -> Result<Box<dyn Operator>, String> {
        match context.function.as_str() {
            function::KEYS => {
                let keys: u64 =
                    context.config.parse().map_err(|e| format!("bad key count '{}': {e}", context.config))?;
                if keys == 0 {
                    return Err("the key count is 0".into());
                }
                Ok(Box::new(Keys { keys, multiplier: multiplier(keys), next: 0, key: Vec::with_capacity(24) }))
            }
            function::UPDATE => {
                let size = context.config.split(' ').next().unwrap_or_default();
                let size: u32 = size.parse().map_err(|e| format!("bad value size '{size}': {e}"))?;
                let size = usize::try_from(size.max(MIN_VALUE_SIZE)).map_err(|e| e.to_string())?;
                Ok(Box::new(Update {
                    state: ValueState::new("value"),
                    value: vec![0; size],
                    new_keys: Counter::new("newKeys"),
                }))
            }
            other => Err(format!("this job has no function '{other}'")),
        }
    }
}

/// The deserializer: the `n`-th record of this instance becomes key `k<key_index(n)>`, with an
/// empty value and the record's timestamp.
struct Keys {
    keys: u64,
    multiplier: u64,
    next: u64,
    key: Vec<u8>,
}

impl Operator for Keys {
    fn process(&mut self, _input: u32, records: Records<'_>, out: &mut Output) -> Result<(), String> {
        for record in records {
            let index = key_index(self.next, self.keys, self.multiplier);
            self.next = self.next.wrapping_add(1);
            self.key.clear();
            // Writing into a Vec cannot fail.
            let _ = write!(self.key, "k{index}");
            out.emit(record.timestamp, &self.key, b"");
        }
        Ok(())
    }
}

/// The state updater: reads the key's value, increments its counter, writes the value back.
struct Update {
    state: ValueState<Vec<u8>>,
    /// The value written: the counter's 8 bytes, then padding.
    value: Vec<u8>,
    /// Keys seen for the first time (by this instance: not restored ones).
    new_keys: Counter,
}

impl Operator for Update {
    fn process(&mut self, _input: u32, records: Records<'_>, _out: &mut Output) -> Result<(), String> {
        let mut new = 0;
        for record in records {
            let count = match self.state.get(record.key, b"")? {
                Some(old) => old.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0),
                None => {
                    new += 1;
                    0
                }
            };
            self.value[..8].copy_from_slice(&count.wrapping_add(1).to_le_bytes());
            self.state.set(record.key, b"", &self.value);
        }
        if new > 0 {
            self.new_keys.inc(new);
        }
        Ok(())
    }
}

weir_sdk::export_job!(StateJob);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_of_n_records_touches_every_key_once() {
        for keys in [1u64, 2, 10, 97, 1000, 10_000, 65_536] {
            let a = multiplier(keys);
            let mut seen = vec![false; usize::try_from(keys).unwrap()];
            for n in 0..keys {
                let i = usize::try_from(key_index(n + 3 * keys, keys, a)).unwrap();
                assert!(!seen[i], "key {i} twice for N={keys}");
                seen[i] = true;
            }
        }
    }
}
