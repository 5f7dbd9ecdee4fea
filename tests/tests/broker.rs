//! The embedded Kafka-protocol broker, through real clients over real TCP: librdkafka (Weir's
//! own client, via rdkafka), kafka-python (the witness) and Weir's Click Event Count job.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use weir::builtin::CLICK_EVENT_COUNT;
use weir_broker::{BrokerConfig, EmbeddedBroker};
use weir_connectors::generator::GeneratorOptions;
use weir_core::cancel::CancelToken;
use weir_runtime::minicluster::{JobStatus, MiniCluster};
use weir_tests::*;
use weir_wasm::Limits;
use weir_wasm::cache::ComponentCache;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A broker on a free loopback port, on its own runtime thread.
fn broker() -> EmbeddedBroker {
    EmbeddedBroker::start_blocking(BrokerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        advertised_host: "127.0.0.1".into(),
        default_partitions: 2,
    })
    .expect("the broker starts")
}

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("an admin client")
}

fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> BaseProducer {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("linger.ms", "5");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().expect("a producer")
}

fn consumer(bootstrap: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("enable.auto.commit", "false").set("group.id", "tests");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().expect("a consumer")
}

/// Runs a future to completion on this thread (rdkafka's admin futures need no runtime: a
/// thread of librdkafka's completes them).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<String, (String, RDKafkaErrorCode)> {
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let mut results = block_on(admin(bootstrap).create_topics(&[new], &options)).expect("CreateTopics answered");
    results.remove(0)
}

fn partition_count(bootstrap: &str, topic: &str) -> usize {
    let metadata = admin(bootstrap).inner().fetch_metadata(Some(topic), TIMEOUT).expect("metadata");
    let found = metadata.topics().iter().find(|t| t.name() == topic).expect("the topic is listed");
    assert!(found.error().is_none(), "{:?}", found.error());
    found.partitions().len()
}

/// Sends `value(i)` for `i` in `0..count` to partition `i % 2` of `topic`, retrying when
/// librdkafka's queue is full, and waits until every record is acknowledged.
fn produce(producer: &BaseProducer, topic: &str, count: usize, value: impl Fn(usize) -> String) {
    for i in 0..count {
        let payload = value(i);
        let key = i.to_string();
        let mut record = BaseRecord::to(topic).partition((i % 2) as i32).key(&key).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
                Err((error, _)) => panic!("send failed: {error}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(TIMEOUT).expect("every record acknowledged");
}

/// Reads every record of both partitions of `topic` from the beginning until `count` have come,
/// and returns the values per partition in the order read.
fn consume_all(bootstrap: &str, topic: &str, count: usize) -> HashMap<i32, Vec<String>> {
    let consumer = consumer(bootstrap, &[]);
    let mut assignment = TopicPartitionList::new();
    for p in 0..2 {
        assignment.add_partition_offset(topic, p, Offset::Beginning).expect("assignable");
    }
    consumer.assign(&assignment).expect("assigned");
    let mut read: HashMap<i32, Vec<String>> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut total = 0;
    while total < count {
        assert!(Instant::now() < deadline, "only {total} of {count} records arrived");
        if let Some(message) = consumer.poll(Duration::from_millis(500)) {
            let message = message.expect("no consumer error");
            let value = String::from_utf8(message.payload().expect("a value").to_vec()).expect("UTF-8");
            read.entry(message.partition()).or_default().push(value);
            total += 1;
        }
    }
    read
}

/// Produces 100,000 records with `config` and checks that a consumer reads each exactly once,
/// in order per partition, and that the watermarks are the true end offsets.
fn round_trip(config: &[(&str, &str)]) {
    let broker = broker();
    let bootstrap = broker.bootstrap_servers();
    let count = 100_000;
    produce(&producer(&bootstrap, config), "records", count, |i| format!("record-{i}"));
    let read = consume_all(&bootstrap, "records", count);
    for p in 0..2 {
        let expected: Vec<String> = (0..count).filter(|i| i % 2 == p as usize).map(|i| format!("record-{i}")).collect();
        assert_eq!(read[&p].len(), expected.len(), "partition {p}");
        assert!(read[&p] == expected, "partition {p} is out of order or has duplicates");
        let watermarks = consumer(&bootstrap, &[]).fetch_watermarks("records", p, TIMEOUT).expect("watermarks");
        assert_eq!(watermarks, (0, (count / 2) as i64));
    }
}

#[test]
fn admin_creates_topics_and_metadata_lists_their_partitions() {
    let broker = broker();
    let bootstrap = broker.bootstrap_servers();
    assert_eq!(create_topic(&bootstrap, "created", 2), Ok("created".to_string()));
    assert_eq!(partition_count(&bootstrap, "created"), 2);
    assert_eq!(
        create_topic(&bootstrap, "created", 3),
        Err(("created".to_string(), RDKafkaErrorCode::TopicAlreadyExists))
    );
    assert_eq!(partition_count(&bootstrap, "created"), 2);
    // A producer's metadata request creates a missing topic with the default partition count.
    let producer = producer(&bootstrap, &[]);
    let metadata = producer.client().fetch_metadata(Some("auto-created"), TIMEOUT).expect("metadata");
    assert_eq!(metadata.topics()[0].partitions().len(), 2);
    assert_eq!(metadata.brokers().len(), 1);
    assert_eq!(format!("{}:{}", metadata.brokers()[0].host(), metadata.brokers()[0].port()), bootstrap);
}

#[test]
fn records_produced_with_acks_all_are_read_back_once_in_order() {
    round_trip(&[("acks", "all")]);
}

#[test]
fn records_produced_idempotently_are_read_back_once_in_order() {
    round_trip(&[("enable.idempotence", "true")]);
}

#[test]
fn records_produced_without_acks_arrive() {
    let broker = broker();
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "unacked", 2).expect("created");
    produce(&producer(&bootstrap, &[("acks", "0")]), "unacked", 1000, |i| i.to_string());
    let read = consume_all(&bootstrap, "unacked", 1000);
    assert_eq!(read.values().map(Vec::len).sum::<usize>(), 1000);
}

#[test]
fn a_waiting_fetch_is_answered_as_soon_as_a_record_arrives() {
    let broker = broker();
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "later", 2).expect("created");
    // Fetches wait up to 10 s: only the broker waking them on append delivers within a second.
    let consumer = consumer(&bootstrap, &[("fetch.wait.max.ms", "10000")]);
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset("later", 0, Offset::Beginning).expect("assignable");
    consumer.assign(&assignment).expect("assigned");
    assert!(consumer.poll(Duration::from_secs(2)).is_none(), "the partition is empty");
    let producer = producer(&bootstrap, &[("linger.ms", "0")]);
    let sent = Instant::now();
    producer.send(BaseRecord::<str, str>::to("later").partition(0).payload("hello")).expect("queued");
    producer.flush(TIMEOUT).expect("acknowledged");
    let message = consumer.poll(Duration::from_secs(10)).expect("a record").expect("no error");
    let latency = sent.elapsed();
    assert_eq!(message.payload(), Some(&b"hello"[..]));
    assert!(latency < Duration::from_secs(1), "the waiting fetch took {latency:?}");
}

#[test]
fn committed_offsets_round_trip() {
    let broker = broker();
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "committed", 2).expect("created");
    let consumer = consumer(&bootstrap, &[("group.id", "group-a")]);
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset("committed", 0, Offset::Offset(42)).expect("valid");
    offsets.add_partition_offset("committed", 1, Offset::Offset(7)).expect("valid");
    consumer.commit(&offsets, CommitMode::Sync).expect("committed");
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("committed", 0);
    wanted.add_partition("committed", 1);
    // Another consumer of the same group reads them back; another group has none.
    let same_group = self::consumer(&bootstrap, &[("group.id", "group-a")]);
    let committed = same_group.committed_offsets(wanted.clone(), TIMEOUT).expect("committed offsets");
    let committed: Vec<Offset> = committed.elements().iter().map(|e| e.offset()).collect();
    assert_eq!(committed, [Offset::Offset(42), Offset::Offset(7)]);
    let other_group = self::consumer(&bootstrap, &[("group.id", "group-b")]);
    let none = other_group.committed_offsets(wanted, TIMEOUT).expect("committed offsets");
    assert!(none.elements().iter().all(|e| e.offset() == Offset::Invalid), "{none:?}");
}

#[test]
fn subscribed_consumers_of_one_group_share_the_partitions() {
    let broker = broker();
    let bootstrap = broker.bootstrap_servers();
    produce(&producer(&bootstrap, &[]), "shared", 1000, |i| i.to_string());
    let member = || {
        let consumer = consumer(&bootstrap, &[("group.id", "sharing"), ("auto.offset.reset", "earliest")]);
        consumer.subscribe(&["shared"]).expect("subscribed");
        consumer
    };
    let (a, b) = (member(), member());
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for consumer in [&a, &b] {
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message.expect("no consumer error");
                seen.insert(String::from_utf8(message.payload().expect("a value").to_vec()).expect("UTF-8"));
            }
        }
        let assigned = [&a, &b].map(|c| c.assignment().expect("an assignment").count());
        if seen.len() == 1000 && assigned == [1, 1] {
            break;
        }
        assert!(Instant::now() < deadline, "read {} records, assignments {assigned:?}", seen.len());
    }
}

#[test]
fn kafka_python_consumer_groups_subscribe_and_commit() {
    let broker = broker();
    let bootstrap = broker.bootstrap_servers();
    produce(&producer(&bootstrap, &[]), "py-group", 500, |i| i.to_string());
    let script = r#"
import sys
from kafka import KafkaConsumer
consumer = KafkaConsumer("py-group", bootstrap_servers=sys.argv[1], group_id="py", auto_offset_reset="earliest",
                         enable_auto_commit=False, consumer_timeout_ms=3000)
values = [m.value for m in consumer]
consumer.commit()
print(len(values), len(set(values)), sorted(p.partition for p in consumer.assignment()))
consumer.close()
"#;
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python).args(["-c", script, &bootstrap]).output().expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "500 500 [0, 1]");
    // The group's commit is visible to librdkafka.
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("py-group", 0);
    wanted.add_partition("py-group", 1);
    let committed = consumer(&bootstrap, &[("group.id", "py")]).committed_offsets(wanted, TIMEOUT).expect("offsets");
    let committed: Vec<Offset> = committed.elements().iter().map(|e| e.offset()).collect();
    assert_eq!(committed, [Offset::Offset(250), Offset::Offset(250)]);
}

#[test]
fn kafka_python_reads_what_rdkafka_wrote() {
    let broker = broker();
    let bootstrap = broker.bootstrap_servers();
    produce(&producer(&bootstrap, &[("acks", "all")]), "witnessed", 5000, |i| format!("value-{i}"));
    let mut values = witness(&bootstrap, "witnessed", 5000, TIMEOUT).expect("the witness reads the topic");
    values.sort();
    let mut expected: Vec<String> = (0..5000).map(|i| format!("value-{i}")).collect();
    expected.sort();
    assert_eq!(values, expected);
}

/// README "Walkthrough": the job runs against the embedded Kafka-protocol broker; `output` holds
/// each window once at 1000.
#[test]
fn the_click_event_count_job_runs_against_the_embedded_broker() {
    let broker = broker();
    let bootstrap = broker.bootstrap_servers();
    let options = GeneratorOptions {
        bootstrap_servers: bootstrap.clone(),
        topic: "input".into(),
        rate: None,
        count: Some(12_000),
        start: 0,
    };
    assert_eq!(
        weir_connectors::generator::run(&options, &CancelToken::new(), |_| {}).expect("the generator runs"),
        12_000
    );
    let cluster = MiniCluster::new(Limits::default(), ComponentCache::disabled()).expect("a mini cluster");
    let args: Vec<String> = format!("--bootstrap.servers {bootstrap} --event-time --bounded")
        .split_whitespace()
        .map(String::from)
        .collect();
    let job = cluster.run(CLICK_EVENT_COUNT, &args, 2).expect("the job starts");
    assert_eq!(job.wait(), JobStatus::Finished);
    // Two windows of events, both closed by the bounded input's end: each page once at 1000.
    read_windows(&bootstrap, "output", Windows::exactly(2), TIMEOUT).expect("exact output");
}

/// A raw request frame: size, api key, version, correlation id, null client id, and `body`
/// (header version 1; enough for the broker to find the api and version).
fn raw_request(api_key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend(api_key.to_be_bytes());
    frame.extend(version.to_be_bytes());
    frame.extend(correlation_id.to_be_bytes());
    frame.extend((-1i16).to_be_bytes());
    frame.extend(body);
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend(frame);
    out
}

fn read_response(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut body)?;
    Ok(body)
}

#[test]
fn unsupported_requests_get_an_error_or_a_closed_connection_and_the_broker_lives_on() {
    let broker = broker();
    let addr = broker.local_addr();
    let connect = || {
        let stream = TcpStream::connect(addr).expect("connects");
        stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        stream
    };

    // ApiVersions in a version newer than the broker's: UNSUPPORTED_VERSION (35) in a version 0
    // response that lists what the broker does speak.
    let mut stream = connect();
    stream.write_all(&raw_request(18, 99, 7, &[])).expect("sent");
    let response = read_response(&mut stream).expect("an answer");
    assert_eq!(i32::from_be_bytes(response[0..4].try_into().expect("4 bytes")), 7, "correlation id");
    assert_eq!(i16::from_be_bytes(response[4..6].try_into().expect("2 bytes")), 35, "UNSUPPORTED_VERSION");
    assert!(i32::from_be_bytes(response[6..10].try_into().expect("4 bytes")) >= 10, "the supported APIs");

    // ApiVersions v0 on the same connection works.
    stream.write_all(&raw_request(18, 0, 8, &[])).expect("sent");
    let response = read_response(&mut stream).expect("an answer");
    assert_eq!(i16::from_be_bytes(response[4..6].try_into().expect("2 bytes")), 0, "no error");

    // An unknown API key, an unsupported version, a truncated body and a negative frame size
    // each close their connection.
    for bytes in [
        raw_request(999, 0, 1, &[]),
        raw_request(0, 1, 1, &[]),
        raw_request(3, 1, 1, &[0, 0, 0, 5, 0, 1]),
        (-5i32).to_be_bytes().to_vec(),
    ] {
        let mut stream = connect();
        stream.write_all(&bytes).expect("sent");
        assert!(read_response(&mut stream).is_err(), "{bytes:?} was answered");
    }

    // The broker still serves real clients.
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "still-alive", 1).expect("created");
}
