//! The process's threads for a thread dump (Flink's `ThreadDumpInfo`), read from
//! `/proc/self/task`: each thread's name, state, the kernel function it waits in and, where the
//! kernel lets the process read it, its kernel stack.
//!
//! Native user-space stacks of other threads cannot be read by a Rust process without stopping
//! them (ptrace or signal handlers walking foreign stacks), so the dump does not have them; a
//! thread blocked in a channel, a lock or a sleep shows where in the kernel it waits. Subtask
//! threads are named after their subtask (`ClickEvent Counter (2/2)`, the full name from
//! [`weir_core::threads`], where the kernel keeps only 15 bytes).

use serde::{Deserialize, Serialize};

/// At most this many threads are reported (a process with more is unusual; the dump stays small).
const MAX_THREADS: usize = 4096;

/// One thread, as Flink's `ThreadInfo`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThreadInfo {
    /// The thread's name.
    pub name: String,
    /// Its text, as Java's `ThreadInfo.toString()` lays it out: name, id, state, then the stack.
    pub stringified: String,
}

/// Java's name for a Linux thread state letter (`/proc/<pid>/task/<tid>/stat`).
fn state_name(letter: char) -> &'static str {
    match letter {
        'R' => "RUNNABLE",
        'S' | 'I' => "WAITING",
        'D' => "BLOCKED",
        'T' | 't' => "STOPPED",
        'Z' | 'X' => "TERMINATED",
        _ => "UNKNOWN",
    }
}

/// The state letter from a `stat` line: the field after the parenthesised name (which may
/// itself hold spaces and parentheses).
fn state_letter(stat: &str) -> Option<char> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

/// The threads of this process, ordered by thread id.
pub fn threads() -> Vec<ThreadInfo> {
    let full_names = weir_core::threads::names();
    let Ok(entries) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    let mut tids: Vec<i64> =
        entries.flatten().filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok())).collect();
    tids.sort_unstable();
    tids.truncate(MAX_THREADS);
    tids.into_iter()
        .filter_map(|tid| {
            let dir = std::path::PathBuf::from(format!("/proc/self/task/{tid}"));
            let read = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
            let comm = read("comm")?.trim_end().to_string();
            let name = full_names.get(&tid).cloned().unwrap_or(comm);
            let state = read("stat").as_deref().and_then(state_letter).map_or("UNKNOWN", state_name);
            let mut text = format!("\"{name}\" Id={tid} {state}");
            if let Some(wchan) = read("wchan").filter(|w| !w.is_empty() && w != "0") {
                text.push_str(&format!(" in {wchan}"));
            }
            text.push('\n');
            match read("stack").filter(|s| !s.trim().is_empty()) {
                Some(stack) => {
                    for frame in stack.lines() {
                        // `[<0>] do_select+0x63a/0x930`: the kernel's frames of the thread.
                        let frame = frame.split_once("] ").map_or(frame, |(_, f)| f);
                        text.push_str(&format!("\tat [kernel] {frame}\n"));
                    }
                }
                None => text.push_str("\t(no kernel stack: /proc/self/task/<tid>/stack is not readable here)\n"),
            }
            Some(ThreadInfo { name, stringified: text })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_thread_appears_with_its_full_name_and_state() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("Stuck Subtask Thread (1/2)".into())
            .spawn(move || {
                let _named = weir_core::threads::register_current();
                let _ = ready_tx.send(());
                let _ = rx.recv();
            })
            .unwrap();
        ready_rx.recv().unwrap();
        // Between its signal and its wait the thread still runs: look until it waits.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let stuck = loop {
            let dump = threads();
            let stuck =
                dump.into_iter().find(|t| t.name == "Stuck Subtask Thread (1/2)").expect("the thread is listed");
            if stuck.stringified.contains("WAITING") || std::time::Instant::now() > deadline {
                break stuck;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert!(stuck.stringified.starts_with("\"Stuck Subtask Thread (1/2)\" Id="), "{}", stuck.stringified);
        assert!(stuck.stringified.contains("WAITING"), "{}", stuck.stringified);
        drop(tx);
        handle.join().unwrap();
        assert_eq!(state_letter("12 (a (b) c) S 1 2"), Some('S'));
    }
}
