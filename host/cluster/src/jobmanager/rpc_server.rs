//! Accepts TaskManager connections: registration, then heartbeats and task states until the
//! connection drops, which loses the TaskManager.
//!
//! With internal TLS on, a connection is served only after the TaskManager showed a
//! certificate of the cluster's CA: anyone else is refused, and the refusal logged.
//!
//! Without it, anyone who reaches the port may connect, so nothing a peer sends is trusted:
//! connections are capped (`weir.jobmanager.rpc.max-connections`), a registration must arrive
//! within `weir.jobmanager.registration-timeout` and within 64 KiB, its fields are checked, and
//! what a TaskManager reports about a subtask, a job or a request counts only if that
//! TaskManager runs the subtask or job or was asked; anything else is ignored and logged.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

use super::JobManager;
use super::resource_manager::OUTBOX;
use crate::rpc::{self, ToJobManager, ToTaskManager};
use weir_config::keys;

/// How many one-second checks a connection outlives its registration by.
const UNREGISTERED_GRACE: u32 = 5;
/// The longest failure text kept from a TaskManager's report, in bytes.
const MAX_REASON: usize = 64 << 10;

/// `reason` cut to [`MAX_REASON`] bytes (at a character boundary), marked where it was cut.
fn truncated(mut reason: String) -> String {
    if reason.len() > MAX_REASON {
        reason.truncate(weir_core::text::prefix(&reason, MAX_REASON).len());
        reason.push_str(" … (truncated)");
    }
    reason
}

pub async fn accept(jm: Arc<JobManager>, listener: TcpListener) {
    let config = &jm.options.config;
    let max = config.get_u64(keys::JOBMANAGER_RPC_MAX_CONNECTIONS, 256).unwrap_or(256);
    let max = usize::try_from(max).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
    let connections = Arc::new(Semaphore::new(max));
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Ok(permit) = connections.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, limit = max, "refused a connection to the RPC port: {max} are open ({})", keys::JOBMANAGER_RPC_MAX_CONNECTIONS);
                    continue;
                };
                let jm = jm.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Err(error) = secure(jm, stream, peer).await {
                        tracing::debug!(%peer, %error, "TaskManager connection ended");
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "accepting a TaskManager connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves `stream`, after the TLS handshake when the cluster has internal TLS on.
async fn secure(jm: Arc<JobManager>, stream: TcpStream, peer: std::net::SocketAddr) -> Result<(), rpc::RpcError> {
    stream.set_nodelay(true)?;
    let Some(tls) = jm.options.internal_tls.clone() else { return connection(jm, stream).await };
    let handshake = tokio_rustls::TlsAcceptor::from(tls.server()).accept(stream);
    match tokio::time::timeout(rpc::HANDSHAKE_WAIT, handshake).await {
        Ok(Ok(stream)) => connection(jm, stream).await,
        Ok(Err(error)) => {
            tracing::warn!(%peer, %error, "refused a TaskManager connection: no valid certificate of this cluster");
            Ok(())
        }
        Err(_) => {
            tracing::warn!(%peer, "refused a TaskManager connection: the TLS handshake timed out");
            Ok(())
        }
    }
}

async fn connection(
    jm: Arc<JobManager>,
    stream: impl AsyncRead + AsyncWrite + Send + 'static,
) -> Result<(), rpc::RpcError> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let timeout = jm
        .options
        .config
        .get_duration_ms(keys::JOBMANAGER_REGISTRATION_TIMEOUT, Duration::from_secs(10))
        .unwrap_or(Duration::from_secs(10));
    let first = match tokio::time::timeout(timeout, rpc::read_registration(&mut reader)).await {
        Ok(first) => first?,
        Err(_) => {
            tracing::warn!(
                ?timeout,
                "closed an RPC connection that did not register in time ({})",
                keys::JOBMANAGER_REGISTRATION_TIMEOUT
            );
            return Ok(());
        }
    };
    let Some(ToJobManager::Register { id, data_address, slots, hardware }) = first else {
        return Ok(());
    };
    let (outbox, mut outgoing) = mpsc::channel::<ToTaskManager>(OUTBOX);
    // The acknowledgement is queued first, ahead of any deployment registering may trigger.
    let _ = outbox.try_send(ToTaskManager::Registered);
    // For answers sent from here rather than through the cluster state (components).
    let replies = outbox.clone();
    if let Err(reason) = jm.register_taskmanager(id.clone(), data_address, slots, hardware, outbox) {
        let id: String = id.chars().take(64).collect();
        tracing::warn!(id, reason, "refused a TaskManager's registration");
        rpc::write(&mut writer, &ToTaskManager::Rejected { reason }).await?;
        return Ok(());
    }
    // Components being sent on this connection: one answer per hash at a time.
    let in_flight: Arc<Mutex<HashSet<String>>> = Default::default();
    let sent = in_flight.clone();
    let writer_task = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if rpc::write(&mut writer, &message).await.is_err() {
                break;
            }
            if let ToTaskManager::Component { hash, .. } = &message {
                sent.lock().unwrap_or_else(|e| e.into_inner()).remove(hash);
            }
        }
    });
    let ignored = |what: &str, job: &str| {
        tracing::warn!(taskmanager = id, job, "ignored {what} from a TaskManager that does not run it");
    };
    // Once its registration is gone (removed, its tasks failed over), the connection ends soon
    // after: the Disconnect has gone out, and a peer that stays cannot hold the connection.
    let mut checks = tokio::time::interval(Duration::from_secs(1));
    let mut unregistered = 0u32;
    // Frames are read on a task of their own: a read is not cancel-safe (a frame half read when
    // the check's tick won a `select!` would be lost and the stream out of step), a channel is.
    let (frames, mut incoming) = mpsc::channel::<Result<Option<ToJobManager>, rpc::RpcError>>(1);
    let reader_task = tokio::spawn(async move {
        loop {
            let frame = rpc::read::<ToJobManager>(&mut reader).await;
            let last = !matches!(frame, Ok(Some(_)));
            if frames.send(frame).await.is_err() || last {
                break;
            }
        }
    });
    let result = loop {
        let message = tokio::select! {
            m = incoming.recv() => m.unwrap_or(Ok(None)),
            _ = checks.tick() => {
                unregistered = if jm.is_registered(&id, &replies) { 0 } else { unregistered + 1 };
                if unregistered > UNREGISTERED_GRACE {
                    break Ok(());
                }
                continue;
            }
        };
        match message {
            Ok(Some(ToJobManager::Heartbeat { tasks, hardware, metrics })) => {
                jm.heartbeat(&id, tasks, hardware, metrics)
            }
            Ok(Some(ToJobManager::TaskState { job, vertex, subtask, attempt, state, failure, consequence })) => {
                let task = super::scheduler::SubtaskAttempt { job: &job, vertex, subtask, attempt };
                let failure = failure.map(|message| super::scheduler::Failure { message, consequence });
                jm.task_state(&id, task, state, failure)
            }
            Ok(Some(ToJobManager::AcknowledgeCheckpoint { job, vertex, subtask, checkpoint, snapshot })) => {
                if jm.runs_subtask(&id, &job, vertex, subtask) {
                    jm.acknowledge_checkpoint(&job, vertex, subtask, checkpoint, *snapshot)
                } else {
                    ignored("a checkpoint acknowledgement", &job)
                }
            }
            Ok(Some(ToJobManager::DeclineCheckpoint { job, checkpoint, reason })) => {
                if jm.runs_job(&id, &job) {
                    jm.decline_checkpoint(&job, checkpoint, &truncated(reason))
                } else {
                    ignored("a declined checkpoint", &job)
                }
            }
            Ok(Some(ToJobManager::UpgradePrepared { job, upgrade, failure })) => {
                if jm.runs_job(&id, &job) {
                    jm.upgrade_prepared(&id, &job, &upgrade, failure.map(truncated))
                } else {
                    ignored("an upgrade's preparation", &job)
                }
            }
            Ok(Some(ToJobManager::Swapped { job, vertex, subtask, attempt, checkpoint, failure })) => {
                if jm.runs_subtask(&id, &job, vertex, subtask) {
                    let task = super::scheduler::SubtaskAttempt { job: &job, vertex, subtask, attempt };
                    jm.swapped(task, checkpoint, failure.map(truncated))
                } else {
                    ignored("a swap report", &job)
                }
            }
            Ok(Some(ToJobManager::Response { id: request, response })) => jm.answered(&id, request, response),
            Ok(Some(ToJobManager::FetchComponent { hash })) => {
                // Only a component this TaskManager was sent, and each once at a time: a peer
                // cannot make the JobManager queue component after component.
                let sent_here =
                    jm.state().taskmanagers.get(&id).is_some_and(|tm| tm.is_connection(&replies) && tm.was_sent(&hash));
                if !sent_here {
                    tracing::warn!(taskmanager = id, "ignored a fetch of a component this TaskManager was not sent");
                    let failure = Some("no deployment sent this TaskManager that component".to_string());
                    let _ = replies.try_send(ToTaskManager::Component { hash, component: None, failure });
                    continue;
                }
                if !in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(hash.clone()) {
                    continue;
                }
                // Read and hex-encoded off the connection's task: a component is megabytes.
                let (jm, outbox, taskmanager) = (jm.clone(), replies.clone(), id.clone());
                tokio::task::spawn_blocking(move || {
                    let answer = match jm.component_for(&hash) {
                        Ok(bytes) => {
                            tracing::info!(taskmanager, hash = &hash[..12], size = bytes.len(), "sending a component");
                            ToTaskManager::Component {
                                hash,
                                component: Some(hex::encode(bytes.as_slice())),
                                failure: None,
                            }
                        }
                        Err(failure) => ToTaskManager::Component { hash, component: None, failure: Some(failure) },
                    };
                    let _ = outbox.try_send(answer);
                });
            }
            Ok(Some(ToJobManager::Register { .. })) => {}
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    writer_task.abort();
    reader_task.abort();
    jm.connection_closed(&id, &replies, &format!("TaskManager with id {id} is no longer reachable."));
    result
}
