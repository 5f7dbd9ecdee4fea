//! The docker-compose playground: there is no Docker engine here, so the file is checked with a
//! compose validator (`docker-compose config`), and its commands against the Dockerfile.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository root")
}

#[test]
fn the_compose_file_is_valid_and_runs_the_playground() {
    let out = Command::new("docker-compose")
        .args(["-f", "docker-compose.yaml", "config"])
        .current_dir(root())
        .output()
        .expect("docker-compose is installed (tests/run installs Debian's docker-compose)");
    let config = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "docker-compose config failed: {}", String::from_utf8_lossy(&out.stderr));
    for service in ["client:", "clickevent-generator:", "jobmanager:", "taskmanager:", "kafka:"] {
        assert!(config.contains(service), "service {service} missing:\n{config}");
    }
    // The guide's own commands, unchanged.
    assert!(config.contains("flink run -d /opt/ClickCountJob.jar --bootstrap.servers kafka:9092 --checkpointing"));
    assert!(config.contains("8081:8081") || config.contains("published: 8081"), "{config}");
    assert!(config.contains("image: apache/kafka"));
    assert!(config.contains("flink_data"));
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("the Dockerfile");
    assert!(
        dockerfile.contains("/opt/ClickCountJob.jar")
            && dockerfile.contains("ln -s /usr/local/bin/weir /usr/local/bin/flink")
    );
    // The image builds with the README's command.
    let readme = std::fs::read_to_string(root().join("README.md")).expect("the README");
    assert!(dockerfile.contains("cargo build --release") && readme.contains("cargo build --release"));
}
