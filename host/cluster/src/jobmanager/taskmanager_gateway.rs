//! Requests from the JobManager to one TaskManager that expect an answer (Flink's
//! `TaskExecutorGateway` calls for logs and thread dumps): each goes out with an id over the
//! control channel, and its answer comes back with the same id, or the caller stops waiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;

use super::JobManager;
use crate::rpc::{Request, Response, ToTaskManager};

/// How long the JobManager waits for a TaskManager's answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The requests awaiting their answers.
#[derive(Debug, Default)]
pub struct Pending {
    next: AtomicU64,
    /// By request ID: the TaskManager asked, and who waits for its answer.
    waiting: Mutex<HashMap<u64, (String, oneshot::Sender<Response>)>>,
}

/// Why a TaskManager did not answer.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No TaskManager of that id is registered.
    #[error("Could not find TaskManager {0}.")]
    UnknownTaskManager(String),
    /// It did not answer in time (or its connection closed meanwhile).
    #[error("TaskManager {0} did not answer within {TIMEOUT:?}.")]
    NoAnswer(String),
}

impl JobManager {
    /// Asks TaskManager `id` and waits (at most 10 s) for its answer.
    pub async fn ask_taskmanager(&self, id: &str, request: Request) -> Result<Response, GatewayError> {
        let pending = &self.gateway;
        let request_id = pending.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        pending.waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(request_id, (id.to_string(), tx));
        let sent = {
            let state = self.state();
            state.taskmanagers.get(id).map(|tm| tm.send(ToTaskManager::Request { id: request_id, request }))
        };
        let answer = match sent {
            None => Err(GatewayError::UnknownTaskManager(id.to_string())),
            Some(()) => match tokio::time::timeout(TIMEOUT, rx).await {
                Ok(Ok(response)) => Ok(response),
                _ => Err(GatewayError::NoAnswer(id.to_string())),
            },
        };
        pending.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&request_id);
        answer
    }

    /// TaskManager `tm` answered request `id` (an answer nobody waits for any more is
    /// dropped, and so is one from a TaskManager that was not asked).
    pub(super) fn answered(&self, tm: &str, id: u64, response: Response) {
        let mut waiting = self.gateway.waiting.lock().unwrap_or_else(|e| e.into_inner());
        match waiting.get(&id) {
            Some((asked, _)) if asked == tm => {
                if let Some((_, tx)) = waiting.remove(&id) {
                    let _ = tx.send(response);
                }
            }
            Some(_) => tracing::warn!(
                taskmanager = tm,
                request = id,
                "ignored an answer from a TaskManager that was not asked"
            ),
            None => {}
        }
    }
}
