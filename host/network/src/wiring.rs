//! Which channels a job needs, on one host: for every local subtask its edge writers and input
//! channels, and for every channel that crosses to another host, the end that a network thread
//! feeds or drains (see [`super::remote`]).
//!
//! Every edge has one channel per (upstream subtask, downstream subtask) pair it connects: all
//! pairs for hash and rebalance edges, `i → i` for forward edges.

use std::collections::HashMap;

use crossbeam_channel::{Receiver, Sender};

use super::{EdgeWriter, InputChannel, Partitioner, StreamElement, channel};
use weir_core::jobgraph::{JobGraph, ShipStrategy};

/// The channels of one local subtask.
#[derive(Default)]
pub struct TaskChannels {
    /// The subtask's outgoing edges, one writer per edge of its vertex.
    pub edges: Vec<EdgeWriter>,
    /// The subtask's input channels, from every upstream subtask that sends to it.
    pub inputs: Vec<InputChannel>,
}

/// A channel whose sender is here and whose receiver is on another host.
pub struct RemoteOutput {
    /// The channel's name on both hosts (see [`channel_id`]).
    pub channel: String,
    /// The data address of the receiving host.
    pub address: String,
    /// What the local sender writes; a network thread sends it on.
    pub receiver: Receiver<StreamElement>,
}

/// A channel whose receiver is here and whose sender is on another host.
pub struct RemoteInput {
    /// The channel's name on both hosts (see [`channel_id`]).
    pub channel: String,
    /// Where a network thread puts what arrives.
    pub sender: Sender<StreamElement>,
}

/// The channels of a job on one host.
#[derive(Default)]
pub struct Wiring {
    /// The channels of each local subtask, by (vertex index, subtask index).
    pub tasks: HashMap<(usize, u32), TaskChannels>,
    /// Channels from local subtasks to subtasks on other hosts.
    pub remote_outputs: Vec<RemoteOutput>,
    /// Channels into local subtasks from subtasks on other hosts.
    pub remote_inputs: Vec<RemoteInput>,
}

/// The name both hosts give a channel.
pub fn channel_id(scope: &str, from: (usize, u32), to: (usize, u32), input: usize) -> String {
    format!("{scope}/{}.{}/{}.{}/{input}", from.0, from.1, to.0, to.1)
}

/// Wires `graph` for host `local`, where `host_of(vertex, subtask)` says which host runs each
/// subtask and `addresses[host]` is a host's data address. Channel names start with `scope`
/// (the job and its attempt), so a restarted job's channels never meet the old ones.
pub fn wire(
    graph: &JobGraph,
    scope: &str,
    host_of: impl Fn(usize, u32) -> usize,
    local: usize,
    addresses: &[String],
) -> Wiring {
    let mut wiring = Wiring::default();
    for (v, vertex) in graph.vertices.iter().enumerate() {
        for s in 0..vertex.parallelism {
            if host_of(v, s) == local {
                wiring.tasks.insert((v, s), TaskChannels::default());
            }
        }
    }
    for (w, vertex) in graph.vertices.iter().enumerate() {
        for (input, edge) in vertex.inputs.iter().enumerate() {
            let from = edge.source;
            let upstream = graph.vertices[from].parallelism;
            for i in 0..upstream {
                let targets: Vec<u32> = match edge.strategy {
                    ShipStrategy::Forward => vec![i],
                    _ => (0..vertex.parallelism).collect(),
                };
                let sender_here = host_of(from, i) == local;
                let mut senders = Vec::new();
                for j in targets {
                    let receiver_here = host_of(w, j) == local;
                    if !sender_here && !receiver_here {
                        continue;
                    }
                    let (tx, rx) = channel();
                    let id = channel_id(scope, (from, i), (w, j), input);
                    if sender_here {
                        senders.push(tx);
                    } else {
                        wiring.remote_inputs.push(RemoteInput { channel: id.clone(), sender: tx });
                    }
                    if receiver_here {
                        if let Some(task) = wiring.tasks.get_mut(&(w, j)) {
                            // The edge's index among its vertex's inputs: far below u32::MAX.
                            task.inputs.push(InputChannel::new(rx, u32::try_from(input).unwrap_or(u32::MAX)));
                        }
                    } else {
                        let address = addresses.get(host_of(w, j)).cloned().unwrap_or_default();
                        wiring.remote_outputs.push(RemoteOutput { channel: id, address, receiver: rx });
                    }
                }
                if sender_here {
                    let partitioner = match edge.strategy {
                        ShipStrategy::Forward => Partitioner::Forward,
                        ShipStrategy::Hash => Partitioner::hash(graph.max_parallelism),
                        ShipStrategy::Rebalance => {
                            Partitioner::Rebalance { next: i as usize % vertex.parallelism as usize }
                        }
                    };
                    if let Some(task) = wiring.tasks.get_mut(&(from, i)) {
                        task.edges.push(EdgeWriter::new(partitioner, senders));
                    }
                }
            }
        }
    }
    wiring
}
