//! The example jobs of `guest-jobs/examples`, written on the typed job API
//! (`weir_sdk::stream`), run on a real cluster against a real broker; their output is checked
//! record by record against what the input implies.

use std::collections::BTreeMap;
use std::time::Duration;

use weir_tests::*;

fn job_id(out: &str) -> String {
    out.trim().rsplit(' ').next().expect("a job id").to_string()
}

/// Flink's WordCount: every word's running count, `(word,1)` … `(word,n)`, each exactly once,
/// at parallelism 2 (words spread over two counting subtasks).
#[test]
fn word_count_emits_every_running_count_once() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let cluster = Cluster::start(1, 4);
    let lines: Vec<String> = [
        "To be, or not to be, that is the question:",
        "Whether 'tis nobler in the mind to suffer",
        "The slings and arrows of outrageous fortune,",
        "Or to take arms against a sea of troubles",
        "And by opposing end them. To die: to sleep;",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    produce(&bootstrap, "lines", &lines);
    let job = guest_component(cluster.dir.path(), "word_count", "word_count.wasm");
    let run = ["-d", "-p", "2", &job, "--bootstrap.servers", &bootstrap, "--output", "counts", "--bounded"];
    let (code, out, err) = cluster.cli("run", &run);
    assert_eq!(code, Some(0), "{out}{err}");
    let id = job_id(&out);
    cluster.wait_for_state(&id, "FINISHED", Duration::from_secs(120));

    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut expected = Vec::new();
    for line in &lines {
        for word in line.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let count = totals.entry(word.to_lowercase()).or_default();
            *count += 1;
            expected.push(format!("({},{count})", word.to_lowercase()));
        }
    }
    let mut got = witness(&bootstrap, "counts", expected.len(), Duration::from_secs(60)).expect("the counts");
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "{}", cluster.jobmanager_log());
    // The vertices carry the pipeline's names, chained as Flink chains them.
    let names: Vec<String> = cluster.vertices(&id).into_iter().map(|(_, name)| name).collect();
    assert_eq!(
        names,
        [
            "Source: Kafka lines -> Tokenizer -> Map",
            "Keyed Reduce -> Map",
            "Kafka counts: Writer",
            "Kafka counts: Committer"
        ]
    );
}
