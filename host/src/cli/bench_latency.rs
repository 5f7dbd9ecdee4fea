//! `weir bench --latency`: what the exactly-once sink costs, beside at least once, with
//! checkpoints every second and every 100 ms, on a cluster in this process (see
//! [`LocalCluster`]).
//!
//! - **Latency**: the playground's generator writes click events to the embedded broker at
//!   `--rate` events per second; the Click Event Count job (event time) counts them and a
//!   consumer timestamps each window's result as it becomes readable. A result's latency is the
//!   time from the production of its window's last click to that moment: it includes the wait
//!   for the watermark, which is the same under every guarantee, so the difference between two
//!   rows is what the guarantee adds.
//! - **Throughput**: the same job on `--events` events of the datagen source, as fast as it
//!   goes, to the Kafka sink: events per second from the run to FINISHED, without checkpoints and
//!   with each guarantee and interval.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::bench_cluster::{LocalCluster, consume};
use crate::builtin;
use weir_cluster::jobmanager::JobManager;
use weir_cluster::jobmanager::dispatcher::RunOptions;
use weir_connectors::generator::{self, GeneratorOptions};
use weir_core::cancel::CancelToken;
use weir_core::execution::JobStatus;

/// The guarantees and checkpoint intervals measured: (guarantee, interval in ms).
const SETTINGS: [(&str, u64); 4] =
    [("at-least-once", 1000), ("exactly-once", 1000), ("at-least-once", 100), ("exactly-once", 100)];

/// How long to wait for the last windows' results once the generator has stopped.
const DRAIN: Duration = Duration::from_secs(5);

/// Runs both measurements and prints their tables.
pub fn run(rate: u64, seconds: u64, events: u64) -> anyhow::Result<()> {
    anyhow::ensure!(rate >= 1 && seconds >= 1, "--rate and --seconds must be at least 1");
    let cluster = LocalCluster::start(1)?;
    let jar = cluster.jm.upload_jar("click_event_count.wasm", builtin::CLICK_EVENT_COUNT.to_vec())?;
    println!(
        "Latency: a window's last click produced -> its result readable in Kafka (Click Event Count, event time, \
         p=1, {rate} events/s for {seconds} s)"
    );
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "guarantee", "interval", "p50 ms", "p99 ms", "max ms", "results"
    );
    for (guarantee, interval) in SETTINGS {
        let l = latency(&cluster, &jar.id, guarantee, interval, rate, seconds)?;
        println!("{guarantee:<16} {:>8}ms {:>10.0} {:>10.0} {:>10.0} {:>9}", interval, l.p50, l.p99, l.max, l.results);
    }
    println!("\nThroughput: {events} events of the datagen source to the Kafka sink, p=1, run -> FINISHED");
    println!("{:<16} {:>10} {:>14}", "guarantee", "interval", "events/s");
    let (unchecked, check) = throughput(&cluster, &jar.id, None, events)?;
    println!("{:<16} {:>10} {:>14.0}   {check}", "no checkpoints", "-", unchecked);
    for (guarantee, interval) in SETTINGS {
        let (t, check) = throughput(&cluster, &jar.id, Some((guarantee, interval)), events)?;
        println!(
            "{guarantee:<16} {:>8}ms {:>14.0}   {check}, {:+.1} % against no checkpoints",
            interval,
            t,
            100.0 * (t / unchecked - 1.0)
        );
    }
    Ok(())
}

/// Latency percentiles in milliseconds, and how many results they cover.
struct Latency {
    p50: f64,
    p99: f64,
    max: f64,
    results: usize,
}

/// A fresh topic name.
fn topic(prefix: &str) -> String {
    format!("bench-{prefix}-{}", &weir_core::jobgraph::new_job_id()[..8])
}

/// The arguments of the Click Event Count job.
fn args(pairs: &[&str]) -> Vec<String> {
    pairs.iter().map(|s| s.to_string()).collect()
}

fn latency(
    cluster: &LocalCluster,
    jar: &str,
    guarantee: &str,
    interval: u64,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<Latency> {
    let (input, output) = (topic("input"), topic("output"));
    weir_connectors::kafka::ensure_topics(&cluster.bootstrap, &[input.as_str(), output.as_str()], 2)?;
    let arrivals = Arc::new(Mutex::new(Vec::<(String, Instant)>::new()));
    let stop = CancelToken::new();
    let reader = {
        let (arrivals, stop, bootstrap, output) =
            (arrivals.clone(), stop.clone(), cluster.bootstrap.clone(), output.clone());
        std::thread::Builder::new().name("bench-consumer".into()).spawn(move || {
            consume(&bootstrap, &output, &stop, |value, at| {
                if let Ok(mut a) = arrivals.lock() {
                    a.push((value.to_string(), at));
                }
            })
        })?
    };
    let interval_arg = interval.to_string();
    let program_args = args(&[
        "--bootstrap.servers",
        &cluster.bootstrap,
        "--input-topic",
        &input,
        "--output-topic",
        &output,
        "--event-time",
        "--checkpointing",
        "--checkpointing.interval-ms",
        &interval_arg,
        "--delivery-guarantee",
        guarantee,
    ]);
    let job = cluster.jm.run_jar(jar, RunOptions { program_args, parallelism: Some(1), ..Default::default() })?;
    wait_running(&cluster.jm, &job)?;
    let count = rate.checked_mul(seconds).ok_or_else(|| anyhow::anyhow!("--rate times --seconds is too large"))?;
    let options = GeneratorOptions {
        bootstrap_servers: cluster.bootstrap.clone(),
        topic: input,
        rate: Some(rate as f64),
        count: Some(count),
        start: 0,
    };
    let started = Instant::now();
    generator::run(&options, &CancelToken::new(), |_| {})?;
    std::thread::sleep(DRAIN);
    stop.cancel();
    let _ = reader.join();
    let _ = cluster.jm.cancel_job(&job);

    let arrivals = std::mem::take(&mut *arrivals.lock().map_err(|_| anyhow::anyhow!("consumer panicked"))?);
    let mut latencies: Vec<f64> = arrivals
        .iter()
        .filter_map(|(value, at)| {
            let last = last_click(value)?;
            (last < count).then(|| {
                let produced = started + Duration::from_secs_f64(last as f64 / rate as f64);
                at.saturating_duration_since(produced).as_secs_f64() * 1000.0
            })
        })
        .collect();
    anyhow::ensure!(!latencies.is_empty(), "no window results were read ({guarantee}, {interval} ms)");
    latencies.sort_by(f64::total_cmp);
    let at = |permille: usize| latencies[(latencies.len() - 1) * permille / 1000];
    Ok(Latency { p50: at(500), p99: at(990), max: at(1000), results: latencies.len() })
}

/// The index in the generator's sequence of the last click of the window a result counts:
/// events go round-robin over the pages, each page's clock advancing 15 ms per event, so the
/// last click of page `p`'s window `w` (1000 clicks) is event `6 (1000 (w + 1) - 1) + p`.
fn last_click(result: &str) -> Option<u64> {
    let json: serde_json::Value = serde_json::from_str(result).ok()?;
    let start = json["windowStart"].as_str()?;
    // "dd-MM-yyyy hh:mm:ss:SSS", hours on a 12-hour clock (12 for 0), as Flink's playground.
    let time = start.split(' ').nth(1)?;
    let mut parts = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    let window = ((h % 12) * 3600 + m * 60 + s) / 15;
    let pages = click_event::PAGES.len() as u64;
    let page = click_event::PAGES.iter().position(|p| json["page"] == *p)? as u64;
    Some(pages * (1000 * (window + 1) - 1) + page)
}

/// Waits until every task of `job` runs.
fn wait_running(jm: &JobManager, job: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let running = jm.state().jobs.get(job).is_some_and(|j| {
            j.record.status == JobStatus::Running
                && j.all_subtasks().all(|s| s.state == weir_core::execution::ExecutionState::Running)
        });
        if running {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "job {job} did not start running");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Events per second of a bounded datagen run to the Kafka sink, from the run to FINISHED, and
/// whether `output` then holds every window once (`ok`) or not.
fn throughput(
    cluster: &LocalCluster,
    jar: &str,
    setting: Option<(&str, u64)>,
    events: u64,
) -> anyhow::Result<(f64, String)> {
    let output = topic("throughput");
    let count = events.to_string();
    let mut program_args = args(&[
        "--source",
        "datagen",
        "--datagen.count",
        &count,
        "--event-time",
        "--bootstrap.servers",
        &cluster.bootstrap,
        "--output-topic",
        &output,
    ]);
    if let Some((guarantee, interval)) = setting {
        program_args.extend(args(&[
            "--checkpointing",
            "--checkpointing.interval-ms",
            &interval.to_string(),
            "--delivery-guarantee",
            guarantee,
        ]));
    }
    let started = Instant::now();
    let job = cluster.jm.run_jar(jar, RunOptions { program_args, parallelism: Some(1), ..Default::default() })?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let status = cluster.jm.state().jobs.get(&job).map(|j| j.record.status);
        match status {
            Some(JobStatus::Finished) => break,
            Some(s) if s.is_globally_terminal() => anyhow::bail!("the job ended {}", s.name()),
            _ => {}
        }
        anyhow::ensure!(Instant::now() < deadline, "the job did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    Ok((rate, check_windows(&cluster.bootstrap, &output, super::bench::expected_windows(events))))
}

/// Reads `topic` until it holds `expected` window results (or for 10 s more), and says whether
/// it holds exactly that many, each counting 1000.
fn check_windows(bootstrap: &str, topic: &str, expected: u64) -> String {
    let results = Arc::new(Mutex::new((0u64, 0u64)));
    let stop = CancelToken::new();
    let reader = {
        let (results, stop, bootstrap, topic) =
            (results.clone(), stop.clone(), bootstrap.to_string(), topic.to_string());
        std::thread::spawn(move || {
            consume(&bootstrap, &topic, &stop, |value, _| {
                let count = serde_json::from_str::<serde_json::Value>(value).ok().and_then(|j| j["count"].as_i64());
                if let Ok(mut r) = results.lock() {
                    r.0 += 1;
                    r.1 += u64::from(count != Some(1000));
                }
            })
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while results.lock().map(|r| r.0 < expected).unwrap_or(false) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Anything written twice arrives with the rest: a moment more to see it.
    std::thread::sleep(Duration::from_millis(300));
    stop.cancel();
    let _ = reader.join();
    let (seen, wrong) = results.lock().map(|r| *r).unwrap_or((0, 0));
    match (seen.cmp(&expected), wrong) {
        (std::cmp::Ordering::Equal, 0) => format!("{expected} windows (ok)"),
        _ => format!("WRONG: {seen} windows of {expected}, {wrong} not 1000"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_results_last_click_follows_the_generators_sequence() {
        let first = r#"{"windowStart":"01-01-1970 12:00:00:000","windowEnd":"01-01-1970 12:00:15:000","page":"/help","count":1000}"#;
        assert_eq!(last_click(first), Some(5994));
        let second = r#"{"windowStart":"01-01-1970 12:00:15:000","windowEnd":"01-01-1970 12:00:30:000","page":"/news","count":1000}"#;
        assert_eq!(last_click(second), Some(6 * 1999 + 5));
        assert_eq!(last_click("not json"), None);
    }
}
