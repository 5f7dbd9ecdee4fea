//! An embedded, in-memory Kafka-protocol broker, so that `weir playground` needs no Kafka,
//! Java or Docker.
//!
//! It is one broker (node 0) that leads every partition of every topic, speaks the Kafka wire
//! protocol through the `kafka-protocol` crate, and serves Weir's own clients (librdkafka) as
//! well as others (kafka-python). Record batches are stored as the producer sent them, only
//! their base offset assigned, and fetched back as they are: the broker never looks inside a
//! batch, so its cost is per batch, not per record.
//!
//! - `batch`: the record-batch header, the one part of the records the broker reads.
//! - `log`: a partition's log: stored batches, offsets, idempotent producers, waiting fetchers.
//! - `topics`: topics by name, created explicitly or on first use.
//! - `groups`: consumer groups' committed offsets.
//! - `membership`: consumer group membership (the classic rebalance protocol).
//! - `apis`: the APIs and versions the broker speaks (what ApiVersions advertises).
//! - `connection`: one client connection: framing, headers, dispatch, responses in order.
//! - `handlers`: what each API does.
//!
//! Not implemented: persistence (everything is lost when the broker stops), retention (the log
//! grows until then), transactions, compaction, the KIP-848 group protocol, ACLs and SASL/TLS.
//!
//! ```ignore
//! # async fn example() -> Result<(), weir::broker::BrokerError> {
//! use weir::broker::{BrokerConfig, EmbeddedBroker};
//! let broker = EmbeddedBroker::start(BrokerConfig::default()).await?;
//! println!("bootstrap.servers={}", broker.bootstrap_servers());
//! broker.shutdown();
//! # Ok(())
//! # }
//! ```

mod apis;
mod batch;
mod connection;
mod groups;
mod handlers;
mod log;
mod membership;
mod topics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use kafka_protocol::protocol::StrBytes;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use groups::Groups;
use membership::Membership;
use topics::Topics;

/// The broker's node id: the leader of every partition and the coordinator of every group.
const NODE_ID: i32 = 0;

/// What the broker listens on and tells clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Where to accept connections; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The host name clients are told to connect to (Kafka's `advertised.listeners`); the port
    /// advertised is the one actually bound.
    pub advertised_host: String,
    /// Partitions of topics created on first use (Kafka's `num.partitions`).
    pub default_partitions: i32,
}

impl Default for BrokerConfig {
    /// `localhost:9092` with 2 partitions per auto-created topic, like the playground's broker.
    fn default() -> Self {
        BrokerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9092)),
            advertised_host: "localhost".to_string(),
            default_partitions: 2,
        }
    }
}

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The listen address could not be bound (in use, not local, no permission).
    #[error("the broker cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The configuration makes no sense.
    #[error("invalid broker configuration: {0}")]
    Config(String),
    /// The broker's own thread or runtime could not be started.
    #[error("the broker's runtime could not start: {0}")]
    Runtime(std::io::Error),
}

/// The broker's own address, as Metadata and FindCoordinator report it.
pub(crate) struct Node {
    pub id: i32,
    pub host: StrBytes,
    pub port: i32,
}

/// Everything the broker knows, shared by all connections.
pub(crate) struct BrokerState {
    pub node: Node,
    pub topics: Topics,
    pub groups: Groups,
    pub membership: Membership,
    /// The next id InitProducerId hands out.
    pub next_producer_id: AtomicI64,
}

impl BrokerState {
    /// A broker with no topics, advertised as `host:port`.
    pub(crate) fn new(host: &str, port: u16, default_partitions: i32) -> BrokerState {
        BrokerState {
            node: Node { id: NODE_ID, host: StrBytes::from_string(host.to_string()), port: i32::from(port) },
            topics: Topics::new(default_partitions),
            groups: Groups::default(),
            membership: Membership::default(),
            next_producer_id: AtomicI64::new(1),
        }
    }
}

/// A running broker. Dropping it (or [`EmbeddedBroker::shutdown`]) stops it: the listener
/// closes, open connections are dropped and the data is gone.
pub struct EmbeddedBroker {
    local_addr: SocketAddr,
    bootstrap: String,
    stop: watch::Sender<bool>,
    /// The broker's own runtime thread, when started with [`EmbeddedBroker::start_blocking`].
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Binds `config.listen` and serves on the current tokio runtime (one task per
    /// connection) until the handle is shut down or dropped.
    pub async fn start(config: BrokerConfig) -> Result<EmbeddedBroker, BrokerError> {
        if !(1..=topics::MAX_PARTITIONS).contains(&config.default_partitions) {
            return Err(BrokerError::Config(format!(
                "default_partitions must be 1 to {}, not {}",
                topics::MAX_PARTITIONS,
                config.default_partitions
            )));
        }
        if config.advertised_host.is_empty() {
            return Err(BrokerError::Config("advertised_host is empty".into()));
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| BrokerError::Bind { addr: config.listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| BrokerError::Bind { addr: config.listen, source })?;
        let state = Arc::new(BrokerState::new(&config.advertised_host, local_addr.port(), config.default_partitions));
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(accept(listener, state, stopped));
        let bootstrap = format!("{}:{}", config.advertised_host, local_addr.port());
        tracing::info!(listen = %local_addr, bootstrap, "Kafka-protocol broker started");
        Ok(EmbeddedBroker { local_addr, bootstrap, stop, thread: None })
    }

    /// Starts the broker on a runtime of its own, on its own thread, for callers without a
    /// tokio runtime (tests, a CLI's synchronous `main`). Returns once the port is bound;
    /// [`EmbeddedBroker::shutdown`] (or drop) stops the broker and joins the thread.
    pub fn start_blocking(config: BrokerConfig) -> Result<EmbeddedBroker, BrokerError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            // Two workers: a producer's and a consumer's connections are served in parallel
            // without taking every core from the clients on the same machine.
            .worker_threads(2)
            .thread_name("weir-broker")
            .enable_all()
            .build()
            .map_err(BrokerError::Runtime)?;
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("weir-broker".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match EmbeddedBroker::start(config).await {
                        Ok(broker) => {
                            let mut stopped = broker.stop.subscribe();
                            let _ = started_tx.send(Ok(broker));
                            // Run until the handle (now on the caller's side) says stop or is dropped.
                            let _ = stopped.wait_for(|stop| *stop).await;
                        }
                        Err(e) => {
                            let _ = started_tx.send(Err(e));
                        }
                    }
                });
                // Dropping the runtime here ends the accept loop and every connection task.
            })
            .map_err(BrokerError::Runtime)?;
        match started_rx.recv() {
            Ok(Ok(mut broker)) => {
                broker.thread = Some(thread);
                Ok(broker)
            }
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(BrokerError::Runtime(std::io::Error::other("the broker thread ended before it started")))
            }
        }
    }

    /// `host:port` for clients' `bootstrap.servers`: the advertised host and the bound port.
    pub fn bootstrap_servers(&self) -> String {
        self.bootstrap.clone()
    }

    /// The address actually bound (with the real port when the configuration said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the broker. On a broker from [`EmbeddedBroker::start_blocking`] this returns once
    /// its thread has ended and the port is free; from [`EmbeddedBroker::start`], the server
    /// tasks end on their runtime shortly after.
    pub fn shutdown(self) {
        // Drop does the work.
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until told to stop; each connection is a task of its own, all aborted
/// when the loop ends.
async fn accept(listener: TcpListener, state: Arc<BrokerState>, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // (The guard `wait_for` returns is not `Send`: drop it inside.)
            () = async { let _ = stopped.wait_for(|stop| *stop).await; } => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection::serve(stream, peer, state.clone()));
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "the broker could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished connections so the set does not grow with every client ever seen.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
    tracing::info!("Kafka-protocol broker stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_broker_binds_a_free_port_and_frees_it_on_shutdown() {
        let config = BrokerConfig { listen: SocketAddr::from(([127, 0, 0, 1], 0)), ..BrokerConfig::default() };
        let broker = EmbeddedBroker::start(config.clone()).await.expect("starts");
        let port = broker.local_addr().port();
        assert_ne!(port, 0);
        assert_eq!(broker.bootstrap_servers(), format!("localhost:{port}"));
        let again = EmbeddedBroker::start(BrokerConfig { listen: broker.local_addr(), ..config.clone() }).await;
        assert!(matches!(again, Err(BrokerError::Bind { .. })));
        broker.shutdown();
        let bad = EmbeddedBroker::start(BrokerConfig { default_partitions: 0, ..config }).await;
        assert!(matches!(bad, Err(BrokerError::Config(_))));
    }

    #[test]
    fn a_blocking_broker_releases_its_port_when_shut_down() {
        let config = BrokerConfig { listen: SocketAddr::from(([127, 0, 0, 1], 0)), ..BrokerConfig::default() };
        let broker = EmbeddedBroker::start_blocking(config.clone()).expect("starts");
        let addr = broker.local_addr();
        assert!(std::net::TcpStream::connect(addr).is_ok());
        broker.shutdown();
        let again = EmbeddedBroker::start_blocking(BrokerConfig { listen: addr, ..config }).expect("the port is free");
        drop(again);
    }
}
