//! `weir bench`: the Click Event Count job's throughput, on the datagen source (no broker) and,
//! given a broker, on a backlog read from Kafka. Prints events per second and per CPU second.
//! `--upgrade`, `--latency` and `--state` measure other things (see their modules).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::builtin;
use weir_connectors::generator::GeneratorOptions;
use weir_core::cancel::CancelToken;
use weir_runtime::minicluster::{JobStatus, MiniCluster};
use weir_wasm::Limits;
use weir_wasm::cache::ComponentCache;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("broker").args(["bootstrap_servers", "embedded_broker"])))]
#[command(group(clap::ArgGroup::new("paced").args(["latency", "state"])))]
#[command(group(clap::ArgGroup::new("keyed").args(["state", "state_backend"])))]
pub struct Args {
    /// Events per run (default: 20 000 000; 150 000 000 with --upgrade, so the swap happens at
    /// full speed).
    #[arg(long)]
    events: Option<u64>,
    /// Measure a hot-swap upgrade at full speed instead: time to COMPLETED, output pause,
    /// throughput dip, nothing lost or doubled.
    #[arg(long)]
    upgrade: bool,
    /// Measure what the exactly-once sink costs instead: end-to-end latency and throughput
    /// under each guarantee, with checkpoints every second and every 100 ms.
    #[arg(long, conflicts_with = "upgrade")]
    latency: bool,
    /// Measure keyed state instead: per number of keys, checkpoint durations and sizes,
    /// throughput with and without checkpoints, the TaskManager's peak RSS, stop-with-savepoint,
    /// restore, TaskManager kill and hot-swap upgrade times (one Markdown table row each).
    #[arg(long, conflicts_with_all = ["upgrade", "latency"])]
    state: bool,
    /// Measure the keyed-state backend alone instead (no job): per number of keys and value
    /// size, the cost of a first write and of a read-modify-write per record, the size on disk
    /// and the memory.
    #[arg(long, conflicts_with_all = ["upgrade", "latency", "state"])]
    state_backend: bool,
    /// With --state-backend: the page cache, such as `256 mb` (default: the TaskManager's,
    /// `state.backend.sled.cache-size`).
    #[arg(long, value_parser = memory_size, requires = "state_backend")]
    cache_size: Option<u64>,
    /// With --latency: click events per second the generator writes (default 6000). With
    /// --state: records per second of the source (default: as fast as it goes).
    #[arg(long, requires = "paced")]
    rate: Option<u64>,
    /// With --latency: how long the generator writes (default 30). With --state: the measuring
    /// window in seconds (default 20).
    #[arg(long, requires = "paced")]
    seconds: Option<u64>,
    /// With --state or --state-backend: the numbers of keys to measure, comma separated
    /// (default 10000,100000,1000000; with --state-backend also 5000000,20000000).
    #[arg(long, value_delimiter = ',', requires = "keyed")]
    keys: Option<Vec<u64>>,
    /// With --state: the bytes written per key and record, at least 8 (default 100). With
    /// --state-backend: the sizes to measure, comma separated (default 100,1024).
    #[arg(long, value_delimiter = ',', requires = "keyed")]
    value_size: Option<Vec<u32>>,
    /// With --state: the checkpoint interval of the checkpointed runs, such as `1s`, `500ms` or
    /// `1000` (default 1s).
    #[arg(long, value_parser = checkpoint_interval, requires = "state")]
    checkpoint_interval: Option<Duration>,
    /// Parallelisms to measure, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    parallelism: Vec<u32>,
    /// Also measure reading a backlog of `--events` from this Kafka broker.
    #[arg(long = "bootstrap.servers")]
    bootstrap_servers: Option<String>,
    /// Also measure reading a backlog from Weir's embedded broker.
    #[arg(long, conflicts_with = "bootstrap_servers")]
    embedded_broker: bool,
    /// Only the Kafka measurements (with `--embedded-broker` or `--bootstrap.servers`): skip
    /// the datagen source.
    #[arg(long, requires = "broker")]
    kafka_only: bool,
    /// The job to measure: a component file, or `click-event-count`.
    #[arg(long, default_value = builtin::CLICK_EVENT_COUNT_NAME)]
    job: String,
}

/// A memory size as Flink writes them (`256 mb`, `1g`, bytes if no unit is given).
fn memory_size(text: &str) -> Result<u64, String> {
    weir_config::parse_memory_size(text)
        .filter(|b| *b >= 1 << 20)
        .ok_or_else(|| format!("'{text}' is not a memory size of at least 1 MiB (such as 256 mb or 1g)"))
}

/// A checkpoint interval as Flink writes durations, milliseconds if no unit is given.
fn checkpoint_interval(text: &str) -> Result<Duration, String> {
    weir_config::parse_duration(text, Duration::from_millis(1))
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("'{text}' is not a duration above 0 (such as 1s, 500ms or 1000)"))
}

/// CPU time (user + system) this process has used.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The windows the job must emit for `events` events of the generator's sequence.
pub(super) fn expected_windows(events: u64) -> u64 {
    let pages = click_event::PAGES.len() as u64;
    (0..pages)
        .map(|p| {
            let per_page = events / pages + u64::from(p < events % pages);
            if per_page == 0 {
                0
            } else {
                ((per_page - 1) as i64 * click_event::TIMESTAMP_STEP_MS / click_event::WINDOW_SIZE_MS) as u64 + 1
            }
        })
        .sum()
}

struct Measurement {
    seconds: f64,
    cpu_seconds: f64,
    /// The windows the job emitted; none for a bare consumer.
    windows: Option<u64>,
}

fn measure(cluster: &MiniCluster, bytes: &[u8], args: &[String], parallelism: u32) -> anyhow::Result<Measurement> {
    let component = cluster.load(bytes)?;
    let graph = cluster.plan(&component, args, parallelism)?;
    let cpu = cpu_time();
    let started = Instant::now();
    let job = cluster.submit(component, graph)?;
    let metrics = job.metrics().clone();
    let status = job.wait();
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = (cpu_time() - cpu).as_secs_f64();
    if let JobStatus::Failed(cause) = status {
        anyhow::bail!("the benchmark job failed: {cause}");
    }
    // why: the sum is of whole record counts carried as f64; a float-to-int `as` saturates and
    // there is no checked f64 conversion.
    #[allow(clippy::cast_possible_truncation)]
    let windows = metrics.sum("ClickEventStatistics Sink: Writer", "numRecordsIn") as u64;
    Ok(Measurement { seconds, cpu_seconds, windows: Some(windows) })
}

/// Prints a measurement; with `ceiling` (a bare consumer's events/s), the share of it reached.
fn report(label: &str, events: u64, parallelism: u32, m: &Measurement, expected: u64, ceiling: Option<f64>) {
    let rate = events as f64 / m.seconds;
    let per_core = events as f64 / m.cpu_seconds;
    let windows = match m.windows {
        Some(w) if w == expected => format!("  {w} windows (ok)"),
        Some(w) => format!("  {w} windows (WRONG: expected {expected})"),
        None => "  (records read, no job)".to_string(),
    };
    let share = ceiling.map(|c| format!("  {:.0} % of the bare consumer", 100.0 * rate / c)).unwrap_or_default();
    println!(
        "{label:<8} {parallelism:>3}  {:>8.2} s  {:>12.0} events/s  {:>8.2} CPU s  {:>12.0} events/s per core{windows}{share}",
        m.seconds, rate, m.cpu_seconds, per_core
    );
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.state_backend {
        let options = super::bench_backend::Options {
            keys: args.keys.clone().unwrap_or_else(|| vec![10_000, 100_000, 1_000_000, 5_000_000, 20_000_000]),
            value_sizes: args.value_size.clone().unwrap_or_else(|| vec![100, 1024]),
            cache_bytes: args.cache_size,
        };
        super::bench_backend::run(&options)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.state {
        let value_size = match args.value_size.as_deref() {
            None => 100,
            Some([size]) => *size,
            Some(_) => anyhow::bail!("--state measures one --value-size at a time"),
        };
        let options = super::bench_state::Options {
            keys: args.keys.clone().unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]),
            value_size,
            rate: args.rate,
            checkpoint_interval: args.checkpoint_interval.unwrap_or(Duration::from_secs(1)),
            seconds: args.seconds.unwrap_or(20),
        };
        super::bench_state::run(&options)?;
        return Ok(ExitCode::SUCCESS);
    }
    // clap lets an option that requires --state through beside --latency or --upgrade (which
    // conflict with --state); they would be ignored there.
    if args.keys.is_some() || args.value_size.is_some() || args.checkpoint_interval.is_some() {
        anyhow::bail!("--keys, --value-size and --checkpoint-interval apply only to --state (and --state-backend)");
    }
    if !args.latency && (args.rate.is_some() || args.seconds.is_some()) {
        anyhow::bail!("--rate and --seconds apply only to --latency and --state");
    }
    if args.latency {
        let (rate, seconds) = (args.rate.unwrap_or(6000), args.seconds.unwrap_or(30));
        super::bench_latency::run(rate, seconds, args.events.unwrap_or(20_000_000))?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.upgrade {
        super::bench_upgrade::run(&args.parallelism, args.events.unwrap_or(150_000_000))?;
        return Ok(ExitCode::SUCCESS);
    }
    let bytes = builtin::read_job(&args.job)?;
    let cluster = MiniCluster::new(Limits::default(), ComponentCache::default_location())?;
    let events = args.events.unwrap_or(20_000_000);
    let expected = expected_windows(events);
    println!(
        "Click Event Count, event time, {events} events, {} CPU cores available",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    if !args.kafka_only {
        for &p in &args.parallelism {
            let job_args: Vec<String> =
                ["--source", "datagen", "--datagen.count", &events.to_string(), "--event-time", "--sink", "discard"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
            let m = measure(&cluster, &bytes, &job_args, p)?;
            report("datagen", events, p, &m, expected, None);
        }
    }
    let embedded = if args.embedded_broker {
        let config = weir_broker::BrokerConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            advertised_host: "127.0.0.1".into(),
            default_partitions: 2,
        };
        Some(weir_broker::EmbeddedBroker::start_blocking(config).map_err(|e| anyhow::anyhow!("embedded broker: {e}"))?)
    } else {
        None
    };
    let servers = args.bootstrap_servers.clone().or_else(|| embedded.as_ref().map(|b| b.bootstrap_servers()));
    if let Some(servers) = &servers {
        let topic = format!("bench-input-{}", &weir_core::jobgraph::new_job_id()[..8]);
        let fill = Instant::now();
        let options = GeneratorOptions {
            bootstrap_servers: servers.clone(),
            topic: topic.clone(),
            rate: None,
            count: Some(events),
            start: 0,
        };
        weir_connectors::generator::run(&options, &CancelToken::new(), |_| {})?;
        println!("(filled topic {topic} with {events} events in {:.1} s)", fill.elapsed().as_secs_f64());
        let spec = weir_core::jobgraph::KafkaTopic {
            topic: topic.clone(),
            bootstrap_servers: servers.clone(),
            properties: Vec::new(),
        };
        for &p in &args.parallelism {
            let job_args: Vec<String> = [
                "--bootstrap.servers",
                servers,
                "--input-topic",
                &topic,
                "--bounded",
                "--event-time",
                "--sink",
                "discard",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            // The ceiling first: bare consumers, one per subtask, reading the same backlog.
            let cpu = cpu_time();
            let bare = weir_connectors::kafka::read_backlog(&spec, p)?;
            anyhow::ensure!(
                bare.records == events,
                "the bare consumers read {} records of topic {topic}, which holds {events}",
                bare.records
            );
            let bare = Measurement {
                seconds: bare.elapsed.as_secs_f64(),
                cpu_seconds: (cpu_time() - cpu).as_secs_f64(),
                windows: None,
            };
            report("bare", events, p, &bare, expected, None);
            let m = measure(&cluster, &bytes, &job_args, p)?;
            report("kafka", events, p, &m, expected, Some(events as f64 / bare.seconds));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn expected_windows_follow_the_sequence() {
        assert_eq!(super::expected_windows(6), 6);
        assert_eq!(super::expected_windows(6000), 6);
        assert_eq!(super::expected_windows(6006), 12);
        assert_eq!(super::expected_windows(7), 6);
    }
}
