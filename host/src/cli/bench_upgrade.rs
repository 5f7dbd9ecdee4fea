//! `weir bench --upgrade`: what a hot-swap upgrade costs a job running at full speed.
//!
//! A JobManager, a TaskManager and the embedded broker run in this process; the Click Event
//! Count job reads `events` events of the datagen source as fast as it can and writes its windows
//! to Kafka with the exactly-once sink. A consumer timestamps every result as it arrives. After a
//! warm-up the job is upgraded in place to version 1.1, and the run prints: the time from the
//! request to COMPLETED, the longest pause between two results around the swap against the
//! longest pause in as long a stretch before it, the throughput dip (results per second), and,
//! once the bounded job has finished, whether every window came out once at 1000 (the window
//! strings repeat every 12 hours of event time, so the check is on the total, as `weir bench`'s).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::bench_cluster::LocalCluster;
use crate::builtin;
use weir_cluster::jobmanager::JobManager;
use weir_cluster::jobmanager::dispatcher::RunOptions;
use weir_cluster::jobmanager::upgrade::{Started, UpgradeRequest};
use weir_core::cancel::CancelToken;

/// How long the job runs before the swap.
const WARM_UP: Duration = Duration::from_secs(4);
/// The stretch around the swap whose pauses are measured.
const AROUND: Duration = Duration::from_millis(1500);
/// Results are counted per second: event-time windows fire in bursts, at every watermark
/// (200 ms), so shorter buckets measure the bursts rather than the throughput.
const BUCKET: Duration = Duration::from_secs(1);

/// One result the consumer saw: when, its count, and whether version 1.1 wrote it.
struct Arrival {
    at: Instant,
    count: i64,
    tagged: bool,
}

/// Runs the upgrade benchmark at each parallelism.
pub fn run(parallelisms: &[u32], events: u64) -> anyhow::Result<()> {
    let cluster = LocalCluster::start(parallelisms.iter().copied().max().unwrap_or(1))?;
    let jm = &cluster.jm;
    let v1 = jm.upload_jar("click_event_count.wasm", builtin::CLICK_EVENT_COUNT.to_vec())?;
    let (name, bytes) = builtin::UPGRADE_DEMOS[0];
    let v1_1 = jm.upload_jar(name, bytes.to_vec())?;
    println!(
        "Hot-swap upgrade v1 -> v1.1 at full speed ({events} events of the datagen source, event time, exactly-once Kafka sink)"
    );
    for &p in parallelisms {
        measure(jm, &cluster.bootstrap, &v1.id, &v1_1.id, p, events)?;
    }
    Ok(())
}

fn measure(
    jm: &Arc<JobManager>,
    bootstrap: &str,
    v1: &str,
    v1_1: &str,
    parallelism: u32,
    events: u64,
) -> anyhow::Result<()> {
    let topic = format!("bench-output-{}", &weir_core::jobgraph::new_job_id()[..8]);
    weir_connectors::kafka::ensure_topics(bootstrap, &[topic.as_str()], 2)?;
    let arrivals = Arc::new(Mutex::new(Vec::<Arrival>::new()));
    let stop = CancelToken::new();
    let reader = {
        let (arrivals, stop, bootstrap, topic) = (arrivals.clone(), stop.clone(), bootstrap.to_string(), topic.clone());
        std::thread::Builder::new()
            .name("bench-consumer".into())
            .spawn(move || consume(&bootstrap, &topic, &arrivals, &stop))?
    };
    let program_args: Vec<String> = [
        "--source",
        "datagen",
        "--datagen.count",
        &events.to_string(),
        "--event-time",
        "--checkpointing",
        "--bootstrap.servers",
        bootstrap,
        "--output-topic",
        &topic,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let job = jm.run_jar(v1, RunOptions { program_args, parallelism: Some(parallelism), ..Default::default() })?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.lock().map(|a| a.is_empty()).unwrap_or(true) {
        anyhow::ensure!(Instant::now() < deadline, "the job wrote no results");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(WARM_UP);

    let requested = Instant::now();
    let request = UpgradeRequest { jar_id: v1_1.to_string(), ..Default::default() };
    let Started::Running(id) = jm.upgrade(&job, request)? else { anyhow::bail!("not a dry run") };
    let (result, checkpoint, swap_ms) = loop {
        let done = {
            let state = jm.state();
            let history =
                state.jobs.get(&job).and_then(|j| j.record.upgrades.iter().rev().find(|h| h.id == id).cloned());
            history.filter(|h| h.completed.is_some())
        };
        if let Some(h) = done {
            break (h.result.map(|r| r.name()).unwrap_or("REFUSED"), h.checkpoint, h.swap_ms);
        }
        anyhow::ensure!(requested.elapsed() < Duration::from_secs(30), "the upgrade did not complete");
        std::thread::sleep(Duration::from_millis(1));
    };
    let completed = requested.elapsed();
    // The bounded job finishes, and the consumer reads what is left.
    let expected = usize::try_from(super::bench::expected_windows(events)).unwrap_or(usize::MAX);
    let deadline = Instant::now() + Duration::from_secs(120);
    while arrivals.lock().map(|a| a.len() < expected).unwrap_or(false) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.cancel();
    let _ = reader.join();

    let arrivals = std::mem::take(&mut *arrivals.lock().map_err(|_| anyhow::anyhow!("consumer panicked"))?);
    let longest_pause = |from: Instant, to: Instant| {
        let times: Vec<Instant> = arrivals.iter().map(|a| a.at).filter(|t| *t >= from && *t < to).collect();
        times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default()
    };
    let around = longest_pause(requested - AROUND / 3, requested + AROUND);
    let before = longest_pause(requested - AROUND / 3 - AROUND - AROUND / 3, requested - AROUND / 3);
    let buckets = |from: Instant, n: u32| -> Vec<usize> {
        (0..n)
            .map(|i| {
                let start = from + BUCKET * i;
                arrivals.iter().filter(|a| a.at >= start && a.at < start + BUCKET).count()
            })
            .collect()
    };
    let mut steady = buckets(requested - BUCKET * 3, 3);
    steady.sort_unstable();
    let median = steady.get(steady.len() / 2).copied().unwrap_or(0).max(1);
    let lowest = buckets(requested - BUCKET / 2, 2).into_iter().min().unwrap_or(0);
    let dip = 100.0 * (1.0 - lowest as f64 / median as f64).max(0.0);
    let wrong = arrivals.iter().filter(|a| a.count != 1000).count();
    let check = match arrivals.len().cmp(&expected) {
        std::cmp::Ordering::Equal if wrong == 0 => "ok: none lost or doubled".to_string(),
        std::cmp::Ordering::Equal => format!("WRONG: {wrong} not 1000"),
        std::cmp::Ordering::Less => format!("WRONG: {} lost", expected - arrivals.len()),
        std::cmp::Ordering::Greater => format!("WRONG: {} doubled", arrivals.len() - expected),
    };
    let tagged = arrivals.iter().filter(|a| a.tagged).count();
    let results_per_s = median as f64 / BUCKET.as_secs_f64();
    println!(
        "p={parallelism}  {result} at checkpoint {} in {:.1} ms (every task on the new code after {} ms)\n     longest output pause {:.1} ms around the swap, {:.1} ms in as long a stretch before\n     throughput in the seconds around the swap: {dip:.0}% below the {results_per_s:.0} results/s before\n     {} windows of {expected} expected ({tagged} from v1.1): {check}",
        checkpoint.map_or("-".to_string(), |c| c.to_string()),
        completed.as_secs_f64() * 1000.0,
        swap_ms.unwrap_or(-1),
        around.as_secs_f64() * 1000.0,
        before.as_secs_f64() * 1000.0,
        arrivals.len(),
    );
    Ok(())
}

/// Reads `topic` from its beginning until `stop`, noting when each result arrives.
fn consume(bootstrap: &str, topic: &str, arrivals: &Mutex<Vec<Arrival>>, stop: &CancelToken) {
    super::bench_cluster::consume(bootstrap, topic, stop, |value, at| {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(value) else { return };
        let arrival = Arrival { at, count: json["count"].as_i64().unwrap_or(-1), tagged: json["version"] == "1.1" };
        if let Ok(mut a) = arrivals.lock() {
            a.push(arrival);
        }
    });
}
