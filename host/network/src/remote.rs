//! Channels between hosts: a TaskManager's data server receives the channels whose receivers
//! run there, and a thread per outgoing channel sends what a local task writes.
//!
//! A connection carries one channel. It opens with the channel's name (a length-prefixed
//! string), then stream elements framed as a tag byte and a payload. The receiving thread puts
//! each element into the receiving task's bounded channel and blocks while it is full; it then
//! stops reading the socket, TCP's window fills, the sending thread blocks, and so does the
//! sending task: backpressure crosses machines as it does within one.
//!
//! With internal TLS on (`security.ssl.internal.enabled`), both ends show a certificate of the
//! cluster's CA before the channel's name is read: a connection without one is dropped and logged.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender};

use super::StreamElement;
use weir_core::cancel::CancelToken;
use weir_core::checkpoint::{Barrier, BarrierKind, SnapshotFormat};
use weir_core::framing::{Framing, Prefix};
use weir_core::watermark::WatermarkStatus;
use weir_security::InternalTls;

/// How long a connection may wait for its channel's receiver to be deployed.
const REGISTRATION_WAIT: Duration = Duration::from_secs(30);
/// How long a sender keeps trying to reach the receiving host.
const CONNECT_WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);
/// How long a peer may take over the TLS handshake before it is dropped.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(10);

const RECORDS: u8 = 0;
const WATERMARK: u8 = 1;
const STATUS: u8 = 2;
const END: u8 = 3;
const BARRIER: u8 = 4;
/// A records batch: a little-endian u32 length, refused beyond 64 MiB on either side (a
/// corrupt or hostile peer).
const RECORD_BATCH: Framing = Framing::new("a record batch's length", Prefix::U32Le, 64 << 20);
/// The channel name a connection opens with: a little-endian u16 length.
const CHANNEL_NAME: Framing = Framing::new("a channel name's length", Prefix::U16Le, usize::MAX);
/// A barrier's checkpoint location: a little-endian u16 length.
const LOCATION: Framing = Framing::new("a checkpoint location's length", Prefix::U16Le, usize::MAX);

fn write_element(out: &mut impl Write, element: &StreamElement) -> io::Result<()> {
    match element {
        StreamElement::Records(b) => {
            // The length is checked before the tag goes out.
            let header = RECORD_BATCH.header(b.len())?;
            out.write_all(&[RECORDS])?;
            out.write_all(header.as_bytes())?;
            out.write_all(b)
        }
        StreamElement::Watermark(w) => {
            out.write_all(&[WATERMARK])?;
            out.write_all(&w.to_le_bytes())
        }
        StreamElement::Status(s) => out.write_all(&[STATUS, matches!(s, WatermarkStatus::Idle) as u8]),
        StreamElement::EndOfInput => out.write_all(&[END]),
        StreamElement::Barrier(b) => {
            // The location's length is checked before the tag goes out.
            let header = LOCATION.header(b.location.len())?;
            out.write_all(&[BARRIER])?;
            out.write_all(&b.id.to_le_bytes())?;
            let (kind, drain) = match b.kind {
                BarrierKind::Checkpoint => (0u8, 0u8),
                BarrierKind::Savepoint => (1, 0),
                BarrierKind::Stop { drain } => (2, drain as u8),
                BarrierKind::Upgrade => (3, 0),
            };
            // The second byte's bit 0 is drain, bit 1 a native savepoint.
            let native = u8::from(b.format == SnapshotFormat::Native) << 1;
            out.write_all(&[kind, drain | native])?;
            out.write_all(header.as_bytes())?;
            out.write_all(b.location.as_bytes())
        }
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

fn read_element(input: &mut impl Read) -> io::Result<Option<StreamElement>> {
    let mut tag = [0u8; 1];
    match input.read_exact(&mut tag) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    Ok(Some(match tag[0] {
        RECORDS => {
            let batch = RECORD_BATCH.read(input)?;
            weir_frame::count(&batch).map_err(|_| invalid("malformed record batch"))?;
            StreamElement::Records(batch)
        }
        WATERMARK => {
            let mut w = [0u8; 8];
            input.read_exact(&mut w)?;
            StreamElement::Watermark(i64::from_le_bytes(w))
        }
        STATUS => {
            let mut s = [0u8; 1];
            input.read_exact(&mut s)?;
            StreamElement::Status(if s[0] == 1 { WatermarkStatus::Idle } else { WatermarkStatus::Active })
        }
        END => StreamElement::EndOfInput,
        BARRIER => {
            let mut id = [0u8; 8];
            input.read_exact(&mut id)?;
            let mut kind = [0u8; 2];
            input.read_exact(&mut kind)?;
            let format = if kind[1] & 2 != 0 { SnapshotFormat::Native } else { SnapshotFormat::Canonical };
            let kind = match kind {
                [0, _] => BarrierKind::Checkpoint,
                [1, _] => BarrierKind::Savepoint,
                [2, flags] => BarrierKind::Stop { drain: flags & 1 == 1 },
                [3, _] => BarrierKind::Upgrade,
                _ => return Err(invalid("unknown barrier kind")),
            };
            let location = read_string(input, LOCATION, "checkpoint location")?;
            StreamElement::Barrier(Barrier { id: u64::from_le_bytes(id), kind, location: location.into(), format })
        }
        _ => return Err(invalid("unknown stream element")),
    }))
}

/// Reads a string framed by `framing`; `what` names it if it is not UTF-8.
fn read_string(input: &mut impl Read, framing: Framing, what: &str) -> io::Result<String> {
    String::from_utf8(framing.read(input)?).map_err(|_| invalid(&format!("{what} is not UTF-8")))
}

/// Channel destinations by name.
type Destinations = Mutex<HashMap<String, Sender<StreamElement>>>;

/// Receivers waiting for their remote senders, by channel name.
#[derive(Clone, Default)]
pub struct ChannelRegistry {
    inner: Arc<(Destinations, Condvar)>,
}

impl ChannelRegistry {
    /// Makes `sender` the destination of the channel `name`.
    pub fn register(&self, name: String, sender: Sender<StreamElement>) {
        let (map, cv) = &*self.inner;
        map.lock().unwrap_or_else(|e| e.into_inner()).insert(name, sender);
        cv.notify_all();
    }

    /// Forgets every channel of `job`.
    pub fn remove_job(&self, job: &str) {
        let prefix = format!("{job}/");
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner()).retain(|k, _| !k.starts_with(&prefix));
    }

    /// Takes the destination of `name`, waiting for it to be registered.
    fn take(&self, name: &str, wait: Duration) -> Option<Sender<StreamElement>> {
        let (map, cv) = &*self.inner;
        let deadline = Instant::now() + wait;
        let mut guard = map.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(sender) = guard.remove(name) {
                return Some(sender);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            guard = cv.wait_timeout(guard, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// What a data server lets peers hold: connections are capped, and one that has not named its
/// channel (TLS handshake included) by the deadline is closed.
#[derive(Clone, Copy, Debug)]
pub struct DataLimits {
    /// The most connections open at once (`weir.taskmanager.data.max-connections`); beyond,
    /// new ones are closed at once.
    pub max_connections: usize,
    /// How long a connection may take to name its channel
    /// (`weir.taskmanager.data.handshake-timeout`).
    pub handshake_timeout: Duration,
}

impl Default for DataLimits {
    /// 2048 connections (a TaskManager receiving a job of parallelism 32 with two hash edges
    /// from other hosts holds some 2000), 10 s to name the channel.
    fn default() -> Self {
        DataLimits { max_connections: 2048, handshake_timeout: HANDSHAKE_WAIT }
    }
}

/// Counts a connection while its thread lives.
struct ConnectionSlot(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// A TaskManager's data server: accepts channel connections from other hosts.
pub struct DataServer {
    address: String,
    registry: ChannelRegistry,
}

impl DataServer {
    /// Listens on `bind` and advertises `host` with the bound port; with `tls`, only peers with a
    /// certificate of the cluster are served.
    pub fn start(bind: &str, host: &str, tls: Option<InternalTls>) -> io::Result<DataServer> {
        DataServer::start_limited(bind, host, tls, DataLimits::default())
    }

    /// [`DataServer::start`] with `limits` on what peers may hold.
    pub fn start_limited(
        bind: &str,
        host: &str,
        tls: Option<InternalTls>,
        limits: DataLimits,
    ) -> io::Result<DataServer> {
        let listener = TcpListener::bind(bind)?;
        let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let port = listener.local_addr()?.port();
        let registry = ChannelRegistry::default();
        let accept_registry = registry.clone();
        std::thread::Builder::new().name("data-server".into()).spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                // Counted before its thread starts: a flood of connections is refused here,
                // never given a thread each.
                if open.fetch_add(1, std::sync::atomic::Ordering::AcqRel) >= limits.max_connections {
                    open.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                    tracing::warn!(
                        %peer,
                        limit = limits.max_connections,
                        "refused a data connection: {} are open (weir.taskmanager.data.max-connections)",
                        limits.max_connections
                    );
                    continue;
                }
                let slot = ConnectionSlot(open.clone());
                let registry = accept_registry.clone();
                let tls = tls.clone();
                let spawned = std::thread::Builder::new().name("data-in".into()).spawn(move || {
                    let _slot = slot;
                    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                    let deadline = Instant::now() + limits.handshake_timeout;
                    let socket = match stream.try_clone() {
                        Ok(socket) => socket,
                        Err(error) => {
                            tracing::warn!(%peer, %error, "cannot serve a data connection");
                            return;
                        }
                    };
                    let input = match secure(stream, tls.as_ref(), limits.handshake_timeout) {
                        Ok(input) => input,
                        Err(error) => {
                            tracing::warn!(%peer, %error, "refused a data connection: no valid certificate of this cluster, or no handshake in time");
                            return;
                        }
                    };
                    let input = Deadline { inner: input, socket, deadline: Some(deadline) };
                    if let Err(error) = receive(input, &registry) {
                        tracing::debug!(%peer, %error, "incoming channel closed");
                    }
                });
                if let Err(error) = spawned {
                    tracing::warn!(%error, "cannot start a thread for an incoming channel");
                }
            }
        })?;
        Ok(DataServer { address: format!("{host}:{port}"), registry })
    }

    /// The address other hosts connect to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The receivers this server hands incoming channels to.
    pub fn registry(&self) -> &ChannelRegistry {
        &self.registry
    }
}

/// The reading side of an accepted connection: with `tls`, after a handshake in which the peer
/// showed a certificate of the cluster.
fn secure(stream: TcpStream, tls: Option<&InternalTls>, wait: Duration) -> io::Result<Box<dyn Read + Send>> {
    stream.set_nodelay(true)?;
    let Some(tls) = tls else { return Ok(Box::new(stream)) };
    // A peer that connects and stays silent must not hold a thread forever.
    stream.set_read_timeout(Some(wait))?;
    let session = tls.accept_blocking(stream)?;
    Ok(Box::new(session))
}

/// A connection's input that must deliver what is read before `deadline` (the channel's name)
/// in time: each read may wait only until then, and none once it is past. Reading the
/// elements afterwards has no deadline (`deadline` is lifted).
struct Deadline {
    inner: Box<dyn Read + Send>,
    socket: TcpStream,
    deadline: Option<Instant>,
}

impl Deadline {
    /// Lifts the deadline: the channel is named, reads may wait as long as the sender idles.
    fn lift(&mut self) -> io::Result<()> {
        self.deadline = None;
        self.socket.set_read_timeout(None)
    }
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "the channel was not named in time"));
            }
            self.socket.set_read_timeout(Some(left))?;
        }
        self.inner.read(buf)
    }
}

/// The longest channel name a connection may open with, in bytes (`<job>/<attempt>/…`: short).
const MAX_CHANNEL_NAME: usize = 1024;

/// Reads one channel from `input` into its registered receiver.
fn receive(input: Deadline, registry: &ChannelRegistry) -> io::Result<()> {
    let mut input = BufReader::with_capacity(256 * 1024, input);
    let mut header = [0u8; 2];
    input.read_exact(&mut header)?;
    if usize::from(u16::from_le_bytes(header)) > MAX_CHANNEL_NAME {
        return Err(invalid("a channel name longer than 1024 bytes"));
    }
    let mut named = header.chain(&mut input);
    let name = read_string(&mut named, CHANNEL_NAME, "channel name")?;
    input.get_mut().lift()?;
    let Some(sender) = registry.take(&name, REGISTRATION_WAIT) else {
        return Err(invalid(&format!("no receiver for channel {name}")));
    };
    while let Some(mut element) = read_element(&mut input)? {
        let end = element == StreamElement::EndOfInput;
        // Blocking here is the backpressure: the socket is not read while the task is behind.
        loop {
            match sender.send_timeout(element, Duration::from_secs(1)) {
                Ok(()) => break,
                Err(SendTimeoutError::Timeout(back)) => element = back,
                Err(SendTimeoutError::Disconnected(_)) => return Ok(()),
            }
        }
        if end {
            return Ok(());
        }
    }
    // The sender went away without finishing: dropping `sender` tells the task.
    Ok(())
}

/// Starts a thread that sends what a local task writes to `receiver` to the channel `name` on
/// the host at `address` (over mutual TLS with `tls`), until the end of input, the task's end,
/// or `cancel`.
pub fn spawn_sender(
    name: String,
    address: String,
    receiver: Receiver<StreamElement>,
    tls: Option<InternalTls>,
    cancel: CancelToken,
) -> io::Result<()> {
    std::thread::Builder::new().name("data-out".into()).spawn(move || {
        if let Err(error) = send(&name, &address, &receiver, tls.as_ref(), &cancel)
            && !cancel.is_cancelled()
        {
            tracing::warn!(channel = name, address, %error, "outgoing channel failed");
        }
        // Dropping the receiver makes the sending task see that the channel is gone.
    })?;
    Ok(())
}

fn connect(address: &str, cancel: &CancelToken) -> io::Result<TcpStream> {
    let deadline = Instant::now() + CONNECT_WAIT;
    loop {
        let addr = address.to_socket_addrs()?.next().ok_or_else(|| invalid("address resolves to nothing"))?;
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() > deadline || cancel.is_cancelled() => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn send(
    name: &str,
    address: &str,
    receiver: &Receiver<StreamElement>,
    tls: Option<&InternalTls>,
    cancel: &CancelToken,
) -> io::Result<()> {
    let stream = connect(address, cancel)?;
    stream.set_nodelay(true)?;
    let stream: Box<dyn Write + Send> = match tls {
        Some(tls) => {
            stream.set_read_timeout(Some(HANDSHAKE_WAIT))?;
            let session = tls.connect_blocking(stream)?;
            session.sock.set_read_timeout(None)?;
            Box::new(session)
        }
        None => Box::new(stream),
    };
    let mut out = BufWriter::with_capacity(256 * 1024, stream);
    CHANNEL_NAME.write(&mut out, name.as_bytes())?;
    out.flush()?;
    loop {
        let element = match receiver.try_recv() {
            Ok(e) => e,
            Err(_) => {
                // Nothing queued: push out what is buffered, then wait.
                out.flush()?;
                match receiver.recv_timeout(POLL) {
                    Ok(e) => e,
                    Err(RecvTimeoutError::Timeout) if cancel.is_cancelled() => return Ok(()),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            }
        };
        write_element(&mut out, &element)?;
        if element == StreamElement::EndOfInput {
            return out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel;

    #[test]
    fn silent_connections_are_closed_at_the_deadline_and_capped() {
        let limits = DataLimits { max_connections: 2, handshake_timeout: Duration::from_millis(300) };
        let server = DataServer::start_limited("127.0.0.1:0", "127.0.0.1", None, limits).unwrap();
        let mut silent: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(server.address()).unwrap()).collect();
        let started = Instant::now();
        let mut byte = [0u8; 1];
        for stream in &mut silent {
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            // Closed: at once beyond the cap, at the deadline within it.
            assert!(matches!(stream.read(&mut byte), Ok(0) | Err(_)));
        }
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        // A name that trickles in is still held to the deadline.
        let mut slow = TcpStream::connect(server.address()).unwrap();
        slow.write_all(&[200, 0]).unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(2) && slow.write_all(b"x").is_ok() {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(started.elapsed() < Duration::from_secs(2), "a trickled name outlived the deadline");
    }

    #[test]
    fn the_wire_format_is_unchanged() {
        let mut batch = Vec::new();
        weir_frame::push(&mut batch, 5, b"/help", b"{}");
        let mut out = Vec::new();
        write_element(&mut out, &StreamElement::Records(batch.clone())).unwrap();
        let mut expected = vec![RECORDS];
        expected.extend_from_slice(&u32::try_from(batch.len()).unwrap().to_le_bytes());
        expected.extend_from_slice(&batch);
        assert_eq!(out, expected);

        let barrier = Barrier {
            id: 9,
            kind: BarrierKind::Stop { drain: true },
            location: "/tmp/chk-9".into(),
            format: SnapshotFormat::Native,
        };
        let mut out = Vec::new();
        write_element(&mut out, &StreamElement::Barrier(barrier.clone())).unwrap();
        let mut expected = vec![BARRIER];
        expected.extend_from_slice(&9u64.to_le_bytes());
        // Stop, drain (bit 0) and native (bit 1); a canonical savepoint's byte is as before.
        expected.extend_from_slice(&[2, 3, 10, 0]);
        expected.extend_from_slice(b"/tmp/chk-9");
        assert_eq!(out, expected);
        assert_eq!(read_element(&mut &out[..]).unwrap(), Some(StreamElement::Barrier(barrier)));

        let mut out = Vec::new();
        CHANNEL_NAME.write(&mut out, b"job/0.0/1.0/0").unwrap();
        assert_eq!(&out[..2], &[13, 0]);
        assert_eq!(read_string(&mut &out[..], CHANNEL_NAME, "channel name").unwrap(), "job/0.0/1.0/0");
    }

    #[test]
    fn oversized_lengths_are_refused_on_both_sides() {
        // A peer declaring a 4 GiB batch: refused after the length, nothing allocated for it.
        let mut bytes = vec![RECORDS];
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        let error = read_element(&mut &bytes[..]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(
            error.to_string().contains("a record batch's length is 4294967295, over the limit of 67108864"),
            "{error}"
        );
        // One declaring more than it sends.
        let mut bytes = vec![RECORDS];
        bytes.extend_from_slice(&100u32.to_le_bytes());
        bytes.extend_from_slice(&[0; 10]);
        let error = read_element(&mut &bytes[..]).unwrap_err();
        assert!(error.to_string().contains("is 100, but only 10 bytes remain"), "{error}");
        // Our side refuses what the other would, before writing anything.
        let mut out = Vec::new();
        let error = write_element(&mut out, &StreamElement::Records(vec![0; (64 << 20) + 1])).unwrap_err();
        assert!(error.to_string().contains("over the limit of 67108864"), "{error}");
        let location = "x".repeat(70_000);
        let barrier = Barrier {
            id: 1,
            kind: BarrierKind::Checkpoint,
            location: location.as_str().into(),
            format: Default::default(),
        };
        let error = write_element(&mut out, &StreamElement::Barrier(barrier)).unwrap_err();
        assert!(
            error.to_string().contains("a checkpoint location's length is 70000, over the limit of 65535"),
            "{error}"
        );
        assert!(out.is_empty());
        assert!(CHANNEL_NAME.write(&mut out, location.as_bytes()).is_err() && out.is_empty());
    }

    #[test]
    fn elements_cross_a_connection_in_order() {
        let server = DataServer::start("127.0.0.1:0", "127.0.0.1", None).unwrap();
        let (remote_tx, remote_rx) = channel();
        server.registry().register("job/0.0/1.0/0".into(), remote_tx);
        let (local_tx, local_rx) = channel();
        spawn_sender("job/0.0/1.0/0".into(), server.address().to_string(), local_rx, None, CancelToken::new()).unwrap();
        let mut batch = Vec::new();
        weir_frame::push(&mut batch, 5, b"/help", b"{}");
        let sent = vec![
            StreamElement::Records(batch),
            StreamElement::Watermark(42),
            StreamElement::Status(WatermarkStatus::Idle),
            StreamElement::Barrier(Barrier {
                id: 9,
                kind: BarrierKind::Stop { drain: true },
                location: "/tmp/chk-9".into(),
                format: Default::default(),
            }),
            StreamElement::EndOfInput,
        ];
        for e in &sent {
            local_tx.send(e.clone()).unwrap();
        }
        let received: Vec<_> = (0..5).map(|_| remote_rx.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
        assert_eq!(received, sent);
    }

    /// Internal TLS from freshly made cluster certificates in `dir`.
    fn cluster_tls(dir: &std::path::Path) -> InternalTls {
        use weir_security::certificates::files;
        weir_security::ClusterCertificates::generate(&[], String::new()).unwrap().write(dir).unwrap();
        InternalTls::load(&dir.join(files::INTERNAL), &dir.join(files::CA)).unwrap()
    }

    #[test]
    fn with_tls_members_exchange_data_and_strangers_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let tls = cluster_tls(dir.path());
        let server = DataServer::start("127.0.0.1:0", "127.0.0.1", Some(tls.clone())).unwrap();

        // A member of the cluster: its elements arrive.
        let (remote_tx, remote_rx) = channel();
        server.registry().register("job/0.0/1.0/0".into(), remote_tx);
        let (local_tx, local_rx) = channel();
        spawn_sender("job/0.0/1.0/0".into(), server.address().to_string(), local_rx, Some(tls), CancelToken::new())
            .unwrap();
        local_tx.send(StreamElement::Watermark(7)).unwrap();
        assert_eq!(remote_rx.recv_timeout(Duration::from_secs(5)).unwrap(), StreamElement::Watermark(7));

        // A plain connection naming a registered channel: dropped, nothing delivered.
        let (stranger_tx, stranger_rx) = channel();
        server.registry().register("job/0.0/1.0/1".into(), stranger_tx);
        let (plain_tx, plain_rx) = channel();
        spawn_sender("job/0.0/1.0/1".into(), server.address().to_string(), plain_rx, None, CancelToken::new()).unwrap();
        plain_tx.send(StreamElement::Watermark(8)).unwrap();
        // And one with a certificate of another cluster.
        let other = tempfile::tempdir().unwrap();
        let (other_tx, other_rx) = channel();
        let other_tls = cluster_tls(other.path());
        spawn_sender(
            "job/0.0/1.0/1".into(),
            server.address().to_string(),
            other_rx,
            Some(other_tls),
            CancelToken::new(),
        )
        .unwrap();
        other_tx.send(StreamElement::Watermark(9)).unwrap();
        assert!(stranger_rx.recv_timeout(Duration::from_secs(2)).is_err(), "a stranger's element was delivered");
    }
}

/// Fuzzing on stable Rust: arbitrary and mutated bytes into the data-exchange decoder
/// (`PROPTEST_CASES=<n>` for more cases).
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// `default` cases per property, or as many as `PROPTEST_CASES` asks for.
    fn cases(default: u32) -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default);
        ProptestConfig { cases, ..ProptestConfig::default() }
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max)
    }

    /// Any element a sender writes: record batches in the frame format, watermarks, statuses,
    /// barriers of every kind with arbitrary locations, the end of input.
    fn element() -> impl Strategy<Value = StreamElement> {
        let records = proptest::collection::vec((any::<i64>(), bytes(16), bytes(32)), 0..4).prop_map(|records| {
            let mut batch = Vec::new();
            for (timestamp, key, value) in records {
                weir_frame::push(&mut batch, timestamp, &key, &value);
            }
            StreamElement::Records(batch)
        });
        let kind = prop_oneof![
            Just(BarrierKind::Checkpoint),
            Just(BarrierKind::Savepoint),
            any::<bool>().prop_map(|drain| BarrierKind::Stop { drain }),
            Just(BarrierKind::Upgrade),
        ];
        let barrier = (any::<u64>(), kind, any::<String>()).prop_map(|(id, kind, location)| {
            StreamElement::Barrier(Barrier { id, kind, location: location.into(), format: Default::default() })
        });
        prop_oneof![
            records,
            any::<i64>().prop_map(StreamElement::Watermark),
            prop_oneof![Just(WatermarkStatus::Idle), Just(WatermarkStatus::Active)].prop_map(StreamElement::Status),
            barrier,
            Just(StreamElement::EndOfInput),
        ]
    }

    /// Reads elements until the input ends or is refused; returns how many were read.
    fn drain(bytes: &[u8]) -> usize {
        let mut input = bytes;
        let mut read = 0;
        while let Ok(Some(_)) = read_element(&mut input) {
            read += 1;
        }
        read
    }

    proptest! {
        #![proptest_config(cases(256))]

        /// Arbitrary bytes: elements, the end or an error, never a panic.
        #[test]
        fn fuzz_arbitrary_bytes_decode_or_are_refused(bytes in bytes(512)) {
            prop_assert!(drain(&bytes) <= bytes.len());
        }

        /// Valid elements with bytes overwritten or cut: elements, the end or an error.
        #[test]
        fn fuzz_mutated_elements_decode_or_are_refused(
            elements in proptest::collection::vec(element(), 1..6),
            sets in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let mut out = Vec::new();
            for element in &elements {
                write_element(&mut out, element).unwrap();
            }
            for (at, byte) in sets {
                let at = at % out.len();
                out[at] = byte;
            }
            out.truncate(cut % (out.len() + 1));
            drain(&out);
        }

        /// What `write_element` writes, `read_element` reads back, element by element.
        #[test]
        fn fuzz_elements_round_trip(elements in proptest::collection::vec(element(), 0..8)) {
            let mut out = Vec::new();
            for element in &elements {
                write_element(&mut out, element).unwrap();
            }
            let mut input = &out[..];
            for element in elements {
                prop_assert_eq!(read_element(&mut input).unwrap(), Some(element));
            }
            prop_assert_eq!(read_element(&mut input).unwrap(), None);
        }
    }
}
