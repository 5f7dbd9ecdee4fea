//! `weir playground`, the README's main command: one process brings up a broker, a JobManager,
//! a TaskManager (its own process), the generator and the job; Ctrl-C stops all of it.

use std::time::Duration;

use weir_tests::*;

/// The addresses this machine's TCP sockets listen on at `port` (from /proc/net/tcp and tcp6).
fn listening_addresses(port: u16) -> Vec<std::net::IpAddr> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEXADDR:HEXPORT; state 0A is LISTEN.
            let (Some(local), Some("0A")) = (fields.get(1), fields.get(3).copied()) else { continue };
            let Some((address, p)) = local.split_once(':') else { continue };
            if u16::from_str_radix(p, 16).ok() != Some(port) {
                continue;
            }
            // The kernel prints each 32-bit word of the address in host (little-endian) order.
            let bytes: Vec<u8> = (0..address.len() / 2)
                .filter_map(|i| u8::from_str_radix(&address[2 * i..2 * i + 2], 16).ok())
                .collect::<Vec<_>>()
                .chunks(4)
                .flat_map(|word| word.iter().rev().copied().collect::<Vec<_>>())
                .collect();
            match bytes.len() {
                4 => found.push(std::net::IpAddr::from([bytes[0], bytes[1], bytes[2], bytes[3]])),
                16 => {
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(&bytes);
                    found.push(std::net::IpAddr::from(octets));
                }
                _ => {}
            }
        }
    }
    found
}

/// README "The two commands": `weir playground` brings up broker, cluster, generator and job,
/// whose windows are in `output` once each at 1000; Ctrl-C stops all of it.
#[test]
fn the_playground_runs_the_job_and_stops_cleanly() {
    let dir = temp_dir();
    let (kafka, rest, rpc) = (free_port(), free_port(), free_port());
    let data = dir.path().join("playground");
    let mut playground = WeirProcess::spawn(
        &dir.path().join("cache"),
        &[
            "playground",
            "--kafka-port",
            &kafka.to_string(),
            "--rest-port",
            &rest.to_string(),
            "--rpc-port",
            &rpc.to_string(),
            "--rate",
            "6000",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        dir.path().join("playground.log"),
    );
    let up =
        eventually(Duration::from_secs(60), || playground.output().contains("Ctrl-C stops everything.").then_some(()));
    assert!(up.is_some(), "{}", playground.output());
    let out = playground.output();
    let pid: i32 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("TaskManager"))
        .and_then(|l| l.trim().strip_prefix("PID "))
        .and_then(|l| l.split(',').next())
        .and_then(|p| p.parse().ok())
        .expect(&out);

    let overview = curl(&[&format!("http://127.0.0.1:{rest}/overview")]).json();
    assert_eq!((overview["taskmanagers"].as_u64(), overview["slots-total"].as_u64()), (Some(1), Some(2)), "{overview}");
    let jobs = curl(&[&format!("http://127.0.0.1:{rest}/jobs/overview")]).json();
    assert_eq!(jobs["jobs"][0]["name"], "Click Event Count");
    assert_eq!(jobs["jobs"][0]["state"], "RUNNING");

    // Everything it listens on is this machine's only: the REST API runs any component it is sent.
    for port in [kafka, rest, rpc] {
        let addresses = listening_addresses(port);
        assert!(!addresses.is_empty() && addresses.iter().all(|a| a.is_loopback()), "port {port}: {addresses:?}");
    }

    // The job runs on while it is read: windows 0 to at least 1, each once, every page at 1000.
    read_windows(&format!("127.0.0.1:{kafka}"), "output", Windows::at_least(2), Duration::from_secs(60))
        .expect("exact output");

    assert_eq!(playground.stop(), Some(0), "{}", playground.output());
    // SAFETY: signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    assert!(!alive, "the TaskManager {pid} outlived the playground");
}
