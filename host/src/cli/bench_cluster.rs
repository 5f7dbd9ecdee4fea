//! The cluster the benchmarks that need checkpoints run on: a JobManager, a TaskManager and the
//! embedded broker, all in this process, on loopback ports of their own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use weir_broker::{BrokerConfig, EmbeddedBroker};
use weir_cluster::jobmanager::JobManager;
use weir_config::{Configuration, keys};
use weir_core::cancel::CancelToken;

/// A JobManager, one TaskManager with `slots` slots and the embedded broker; stopped when
/// dropped.
pub(super) struct LocalCluster {
    /// The embedded broker's `bootstrap.servers`.
    pub bootstrap: String,
    /// The JobManager, called directly.
    pub jm: Arc<JobManager>,
    shutdown: CancelToken,
    _broker: EmbeddedBroker,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl LocalCluster {
    /// Starts everything and waits until the TaskManager has registered.
    pub fn start(slots: u32) -> anyhow::Result<Self> {
        let broker = EmbeddedBroker::start_blocking(BrokerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertised_host: "127.0.0.1".into(),
            default_partitions: 2,
        })
        .map_err(|e| anyhow::anyhow!("embedded broker: {e}"))?;
        let bootstrap = broker.bootstrap_servers();
        let dir = tempfile::tempdir()?;
        let shutdown = CancelToken::new();
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;

        let mut config = Configuration::default();
        config.set(keys::CHECKPOINTS_DIR[0], dir.path().join("checkpoints").display().to_string());
        let mut options = super::cluster::jobmanager_options(config.clone(), Some(0), Some(dir.path().join("jm")))?;
        options.rpc_bind = SocketAddr::from(([127, 0, 0, 1], 0));
        options.rest_bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let jm = JobManager::open(options)?;
        let rpc = runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))?;
        let rest = runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))?;
        let rpc_address = rpc.local_addr()?;
        runtime.spawn(weir_rest::serve(jm.clone(), rpc, rest, shutdown.clone()));
        config.set(keys::TASKMANAGER_HOST, "127.0.0.1");
        let tm_options = super::cluster::taskmanager_options(&config, Some(rpc_address.to_string()), Some(slots))?;
        runtime.spawn(weir_cluster::taskmanager::run(tm_options, shutdown.clone()));
        let deadline = Instant::now() + Duration::from_secs(30);
        while jm.state().taskmanagers.is_empty() {
            anyhow::ensure!(Instant::now() < deadline, "the TaskManager did not register");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(LocalCluster { bootstrap, jm, shutdown, _broker: broker, _runtime: runtime, _dir: dir })
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Reads `topic` (two partitions) from its beginning until `stop`, calling `arrived` with each
/// record's value and the moment it was read.
pub(super) fn consume(bootstrap: &str, topic: &str, stop: &CancelToken, mut arrived: impl FnMut(&str, Instant)) {
    let consumer: BaseConsumer = match ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "weir-bench")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .set("isolation.level", "read_uncommitted")
        .create()
    {
        Ok(c) => c,
        Err(error) => {
            tracing::error!(%error, "bench consumer");
            return;
        }
    };
    let mut assignment = TopicPartitionList::new();
    for p in 0..2 {
        let _ = assignment.add_partition_offset(topic, p, Offset::Beginning);
    }
    if let Err(error) = consumer.assign(&assignment) {
        tracing::error!(%error, "bench consumer");
        return;
    }
    while !stop.is_cancelled() {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(20)) else { continue };
        let at = Instant::now();
        let Some(Ok(value)) = message.payload_view::<str>() else { continue };
        arrived(value, at);
    }
}
