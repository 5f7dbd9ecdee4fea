//! The crate graph stays layered: read from `cargo metadata`, every host crate depends only on
//! crates of lower layers (so no cycle can form), the engine's core stays free of WebAssembly and
//! Kafka, and every crate says in its first line what it owns. `docs/ARCHITECTURE.md` draws the
//! same graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Each host crate's layer: a crate may depend on crates of lower layers only. A new crate must
/// be placed here, which is the point: its place in the graph is a decision.
const LAYERS: &[(&str, u32)] = &[
    ("weir-config", 0),
    ("weir-core", 0),
    ("weir-broker", 0),
    ("weir-security", 0),
    ("weir-network", 1),
    ("weir-connectors", 1),
    ("weir-filesystems", 1),
    ("weir-flink-cli", 1),
    ("weir-wasm", 2),
    ("weir-runtime", 3),
    ("weir-test-harness", 3),
    ("weir-cluster", 4),
    ("weir-rest", 5),
    ("weir", 6),
];

/// External crates a host crate must not use: the core is the engine's vocabulary, so it
/// compiles without the WebAssembly runtime, Kafka, async I/O or HTTP.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("weir-core", &["wasmtime", "wasmtime-wasi", "rdkafka", "tokio", "axum"]),
    ("weir-network", &["wasmtime", "wasmtime-wasi", "rdkafka", "axum"]),
    ("weir-connectors", &["wasmtime", "wasmtime-wasi", "axum"]),
    ("weir-filesystems", &["wasmtime", "wasmtime-wasi", "rdkafka", "axum"]),
    ("weir-wasm", &["rdkafka", "axum"]),
    ("weir-runtime", &["axum"]),
    ("weir-cluster", &["axum"]),
];

/// The workspace's packages: name → (manifest path, normal and build dependencies by name).
fn packages() -> Result<BTreeMap<String, (String, BTreeSet<String>)>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(&root)
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)?;
    let mut packages = BTreeMap::new();
    for package in metadata["packages"].as_array().context("packages")? {
        let name = package["name"].as_str().context("name")?.to_string();
        let manifest = package["manifest_path"].as_str().context("manifest_path")?.to_string();
        let deps = package["dependencies"]
            .as_array()
            .context("dependencies")?
            .iter()
            .filter(|d| d["kind"].is_null() || d["kind"] == "build")
            .filter_map(|d| d["name"].as_str().map(str::to_string))
            .collect();
        packages.insert(name, (manifest, deps));
    }
    Ok(packages)
}

fn layer(name: &str) -> Option<u32> {
    LAYERS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
}

#[test]
fn every_crate_depends_only_on_lower_layers() -> Result<()> {
    let packages = packages()?;
    let mut wrong = Vec::new();
    for (name, (manifest, deps)) in &packages {
        if name == "weir-tests" {
            continue;
        }
        let is_host = manifest.contains("/host/");
        let Some(own) = layer(name) else {
            if is_host {
                wrong.push(format!("{name} has no layer in tests/tests/architecture.rs"));
            }
            continue;
        };
        for dep in deps {
            match layer(dep) {
                Some(l) if l >= own => wrong.push(format!("{name} (layer {own}) depends on {dep} (layer {l})")),
                _ => {}
            }
        }
    }
    for (name, _) in LAYERS {
        if !packages.contains_key(*name) {
            wrong.push(format!("{name} is in the layer table but not in the workspace"));
        }
    }
    assert!(wrong.is_empty(), "the crate graph is not layered:\n{}", wrong.join("\n"));
    Ok(())
}

#[test]
fn the_crate_graph_has_no_cycle() -> Result<()> {
    let packages = packages()?;
    // Depth-first search over workspace crates, with the path so far.
    fn visit(
        name: &str,
        packages: &BTreeMap<String, (String, BTreeSet<String>)>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == name) {
            let mut cycle = path[i..].to_vec();
            cycle.push(name.to_string());
            return Some(cycle);
        }
        if done.contains(name) {
            return None;
        }
        path.push(name.to_string());
        for dep in packages.get(name).map(|(_, d)| d.iter()).into_iter().flatten() {
            if packages.contains_key(dep)
                && let Some(cycle) = visit(dep, packages, path, done)
            {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(name.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for name in packages.keys() {
        if let Some(cycle) = visit(name, &packages, &mut Vec::new(), &mut done) {
            panic!("dependency cycle: {}", cycle.join(" -> "));
        }
    }
    Ok(())
}

#[test]
fn lower_crates_stay_free_of_heavier_ones() -> Result<()> {
    let packages = packages()?;
    let mut wrong = Vec::new();
    for (name, forbidden) in FORBIDDEN {
        let (_, deps) = packages.get(*name).with_context(|| format!("{name} is missing"))?;
        for dep in *forbidden {
            if deps.contains(*dep) {
                wrong.push(format!("{name} depends on {dep}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

#[test]
fn every_host_crate_says_what_it_owns() -> Result<()> {
    let packages = packages()?;
    for (name, _) in LAYERS {
        let (manifest, _) = &packages[*name];
        let dir = Path::new(manifest).parent().context("manifest dir")?;
        let lib = dir.join("src/lib.rs");
        let text = std::fs::read_to_string(&lib).with_context(|| format!("reading {}", lib.display()))?;
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("//! ") && first.len() > 20,
            "{name}: src/lib.rs must open with a doc line, not {first:?}"
        );
    }
    Ok(())
}
