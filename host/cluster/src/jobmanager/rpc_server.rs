//! Accepts TaskManager connections: registration, then heartbeats and task states until the
//! connection drops, which loses the TaskManager.

use std::sync::Arc;

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
                    if let Err(error) = connection(jm, stream).await {
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

async fn connection(jm: Arc<JobManager>, stream: TcpStream) -> Result<(), rpc::RpcError> {
    stream.set_nodelay(true)?;
    let (mut reader, mut writer) = stream.into_split();
    let Some(ToJobManager::Register { id, data_address, slots, hardware }) = rpc::read(&mut reader).await? else {
        return Ok(());
    };
    let (outbox, mut outgoing) = mpsc::unbounded_channel::<ToTaskManager>();
    // The acknowledgement is queued first, ahead of any deployment registering may trigger.
    let _ = outbox.send(ToTaskManager::Registered);
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
            Ok(Some(ToJobManager::Register { .. })) => {}
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    writer_task.abort();
    jm.taskmanager_lost(&id, &format!("TaskManager with id {id} is no longer reachable."));
    result
}
