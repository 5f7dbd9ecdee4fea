//! Accepts TaskManager connections: registration, then heartbeats and task states until the
//! connection drops, which loses the TaskManager.
//!
//! With internal TLS on, a connection is served only after the TaskManager showed a
//! certificate of the cluster's CA: anyone else is refused, and the refusal logged.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::JobManager;
use crate::rpc::{self, ToJobManager, ToTaskManager};

pub async fn accept(jm: Arc<JobManager>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let jm = jm.clone();
                tokio::spawn(async move {
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
    let Some(ToJobManager::Register { id, data_address, slots, hardware }) = rpc::read(&mut reader).await? else {
        return Ok(());
    };
    let (outbox, mut outgoing) = mpsc::unbounded_channel::<ToTaskManager>();
    // The acknowledgement is queued first, ahead of any deployment registering may trigger.
    let _ = outbox.send(ToTaskManager::Registered);
    // For answers sent from here rather than through the cluster state (components).
    let replies = outbox.clone();
    if let Err(reason) = jm.register_taskmanager(id.clone(), data_address, slots, hardware, outbox) {
        rpc::write(&mut writer, &ToTaskManager::Rejected { reason }).await?;
        return Ok(());
    }
    let writer_task = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if rpc::write(&mut writer, &message).await.is_err() {
                break;
            }
        }
    });
    let result = loop {
        match rpc::read::<ToJobManager>(&mut reader).await {
            Ok(Some(ToJobManager::Heartbeat { tasks, hardware, metrics })) => {
                jm.heartbeat(&id, tasks, hardware, metrics)
            }
            Ok(Some(ToJobManager::TaskState { job, vertex, subtask, attempt, state, failure, consequence })) => {
                let task = super::scheduler::SubtaskAttempt { job: &job, vertex, subtask, attempt };
                let failure = failure.map(|message| super::scheduler::Failure { message, consequence });
                jm.task_state(&id, task, state, failure)
            }
            Ok(Some(ToJobManager::AcknowledgeCheckpoint { job, vertex, subtask, checkpoint, snapshot })) => {
                jm.acknowledge_checkpoint(&job, vertex, subtask, checkpoint, snapshot)
            }
            Ok(Some(ToJobManager::DeclineCheckpoint { job, checkpoint, reason })) => {
                jm.decline_checkpoint(&job, checkpoint, &reason)
            }
            Ok(Some(ToJobManager::UpgradePrepared { job, upgrade, failure })) => {
                jm.upgrade_prepared(&id, &job, &upgrade, failure)
            }
            Ok(Some(ToJobManager::Swapped { job, vertex, subtask, attempt, checkpoint, failure })) => {
                let task = super::scheduler::SubtaskAttempt { job: &job, vertex, subtask, attempt };
                jm.swapped(task, checkpoint, failure)
            }
            Ok(Some(ToJobManager::Response { id: request, response })) => jm.answered(request, response),
            Ok(Some(ToJobManager::FetchComponent { hash })) => {
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
                    let _ = outbox.send(answer);
                });
            }
            Ok(Some(ToJobManager::Register { .. })) => {}
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    writer_task.abort();
    jm.connection_closed(&id, &replies, &format!("TaskManager with id {id} is no longer reachable."));
    result
}
