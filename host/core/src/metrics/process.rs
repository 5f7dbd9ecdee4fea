//! The process's own metrics, read from `/proc/self`: CPU time and load, memory, threads.
//!
//! Flink's JobManager and TaskManagers report their JVM's `Status.JVM.CPU.Load`,
//! `Status.JVM.CPU.Time` and `Status.JVM.Threads.Count`; a Weir process reports the same names
//! for itself (the process is what the JVM was), so dashboards built on them carry over. There
//! is no heap to report: memory is the process's resident and virtual size, under
//! `Status.Process.Memory.*`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What `/proc/self/stat` says about this process.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time.
    pub cpu_time: Duration,
    /// Threads of the process.
    pub threads: u64,
    /// Resident set size.
    pub resident_bytes: u64,
    /// Virtual memory size.
    pub virtual_bytes: u64,
}

/// Parses the contents of `/proc/<pid>/stat` (`proc(5)`); `None` if it is not in that format.
pub fn parse_stat(stat: &str, ticks_per_second: u64, page_size: u64) -> Option<ProcessStats> {
    // The command name is in parentheses and may contain spaces: fields start after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field n of proc(5) (1-based) is at n - 3 here.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let ticks = field(14)? + field(15)?;
    let ticks_per_second = ticks_per_second.max(1);
    Some(ProcessStats {
        cpu_time: Duration::from_secs(ticks / ticks_per_second)
            + Duration::from_nanos((ticks % ticks_per_second) * 1_000_000_000 / ticks_per_second),
        threads: field(20)?,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page_size,
    })
}

/// This process's statistics now, if `/proc` is there (Linux).
pub fn stats() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // SAFETY: sysconf only reads configuration values.
    let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
    parse_stat(&stat, u64::try_from(ticks).unwrap_or(100), u64::try_from(page).unwrap_or(4096))
}

/// The CPU load between two readings, as a fraction of all the machine's cores (as the JVM's
/// `getProcessCpuLoad`). Readings closer than a second apart reuse the last load, so that
/// frequent readers do not get noise.
pub struct CpuLoad {
    last: Mutex<Option<(Instant, Duration, f64)>>,
}

impl CpuLoad {
    /// A load meter with no reading yet.
    pub const fn new() -> Self {
        CpuLoad { last: Mutex::new(None) }
    }

    /// The load since the previous reading (0 on the first).
    pub fn update(&self, now: Instant, cpu_time: Duration, cores: u32) -> f64 {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match *last {
            Some((then, _, load)) if now.saturating_duration_since(then) < Duration::from_secs(1) => load,
            Some((then, used, _)) => {
                let wall = now.saturating_duration_since(then).as_secs_f64() * f64::from(cores.max(1));
                let load = (cpu_time.saturating_sub(used).as_secs_f64() / wall).clamp(0.0, 1.0);
                *last = Some((now, cpu_time, load));
                load
            }
            None => {
                *last = Some((now, cpu_time, 0.0));
                0.0
            }
        }
    }
}

impl Default for CpuLoad {
    fn default() -> Self {
        Self::new()
    }
}

/// The process's metrics with their Flink names: CPU load and time, threads, memory.
pub fn metrics(load: &CpuLoad) -> Vec<(String, f64)> {
    let Some(stats) = stats() else { return Vec::new() };
    let cores = std::thread::available_parallelism().map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX)).unwrap_or(1);
    let cpu_load = load.update(Instant::now(), stats.cpu_time, cores);
    vec![
        ("Status.JVM.CPU.Load".into(), cpu_load),
        ("Status.JVM.CPU.Time".into(), stats.cpu_time.as_nanos() as f64),
        ("Status.JVM.Threads.Count".into(), stats.threads as f64),
        ("Status.Process.Memory.Resident".into(), stats.resident_bytes as f64),
        ("Status.Process.Memory.Virtual".into(), stats.virtual_bytes as f64),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_spaces_in_the_name() {
        let stat = "4242 (weir task (1/2)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 17 0 \
                    100 123456789 2048 18446744073709551615";
        let s = parse_stat(stat, 100, 4096).unwrap();
        assert_eq!(s.cpu_time, Duration::from_secs(3));
        assert_eq!(s.threads, 17);
        assert_eq!(s.virtual_bytes, 123_456_789);
        assert_eq!(s.resident_bytes, 2048 * 4096);
        assert_eq!(parse_stat("garbage", 100, 4096), None);
    }

    #[test]
    fn this_process_has_stats_and_a_load() {
        let s = stats().expect("/proc/self/stat");
        assert!(s.threads >= 1 && s.resident_bytes > 0);
        let load = CpuLoad::new();
        let t0 = Instant::now();
        assert_eq!(load.update(t0, Duration::from_secs(1), 2), 0.0);
        // One core busy for a second of two cores: half the machine.
        assert_eq!(load.update(t0 + Duration::from_secs(1), Duration::from_secs(2), 2), 0.5);
        // Too soon: the same load.
        assert_eq!(load.update(t0 + Duration::from_millis(1500), Duration::from_secs(9), 2), 0.5);
    }
}
