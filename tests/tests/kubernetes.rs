//! The Kubernetes manifests under `deploy/kubernetes/`. There is no cluster on these machines:
//! the manifests are checked offline with PyPI's `kubernetes-validate` (strict, against a pinned
//! Kubernetes version), their wiring is read back from the YAML, and the ConfigMap's
//! `config.yaml` runs a real JobManager and TaskManager whose probe targets answer.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use weir_tests::{WeirProcess, curl, eventually, free_port, python, temp_dir, weir};
use yaml_rust2::{Yaml, YamlLoader};

/// The Kubernetes version the manifests are validated against.
const KUBERNETES_VERSION: &str = "1.33.0";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository root")
}

fn deploy_dir() -> PathBuf {
    root().join("deploy/kubernetes")
}

/// Every manifest but the kustomization, by file name.
fn manifests() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(deploy_dir())
        .expect("deploy/kubernetes")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    names.sort();
    names
}

fn load(name: &str) -> Yaml {
    let text = std::fs::read_to_string(deploy_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{name} holds one resource");
    docs.remove(0)
}

fn str_of<'a>(yaml: &'a Yaml, what: &str) -> &'a str {
    yaml.as_str().unwrap_or_else(|| panic!("{what} is not a string: {yaml:?}"))
}

fn int_of(yaml: &Yaml, what: &str) -> i64 {
    yaml.as_i64().unwrap_or_else(|| panic!("{what} is not a number: {yaml:?}"))
}

fn items(yaml: &Yaml) -> &[Yaml] {
    yaml.as_vec().map(Vec::as_slice).unwrap_or_default()
}

/// The ConfigMap's `config.yaml`, as text and parsed.
fn config_yaml() -> (String, Yaml) {
    let map = load("configmap.yaml");
    let text = str_of(&map["data"]["config.yaml"], "the ConfigMap's config.yaml").to_string();
    let mut docs = YamlLoader::load_from_str(&text).expect("config.yaml is YAML");
    (text, docs.remove(0))
}

/// A flat key of `config.yaml`, as text (numbers and booleans included).
fn config_value(config: &Yaml, key: &str) -> String {
    match &config[key] {
        Yaml::String(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("config.yaml has no {key}: {other:?}"),
    }
}

/// The one container of a Deployment's pod template.
fn container(deployment: &Yaml) -> &Yaml {
    let containers = items(&deployment["spec"]["template"]["spec"]["containers"]);
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

/// A container's environment variable.
fn env<'a>(container: &'a Yaml, name: &str) -> &'a Yaml {
    items(&container["env"])
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in {:?}", container["env"]))
}

fn command(container: &Yaml) -> Vec<String> {
    items(&container["command"]).iter().map(|a| str_of(a, "a command word").to_string()).collect()
}

/// Every manifest is a valid Kubernetes resource in strict mode (README, "Running on Kubernetes").
#[test]
fn every_manifest_is_valid_kubernetes_in_strict_mode() {
    let validate = |files: &[PathBuf]| {
        Command::new(python())
            .args(["-m", "kubernetes_validate", "--strict", "-k", KUBERNETES_VERSION])
            .args(files)
            .output()
            .expect("python runs (tests/run installs kubernetes-validate in target/test-venv)")
    };
    let names = manifests();
    let files: Vec<PathBuf> = names.iter().map(|n| deploy_dir().join(n)).collect();
    let out = validate(&files);
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "kubernetes-validate failed:\n{report}");
    for name in &names {
        assert!(
            report.lines().any(|l| l.contains(name.as_str()) && l.contains("passed")),
            "{name} not passed:\n{report}"
        );
    }

    // Strict validation does refuse a misspelt field, so the pass above means something.
    let dir = temp_dir();
    let text = std::fs::read_to_string(deploy_dir().join("taskmanager-deployment.yaml")).expect("the TaskManagers");
    assert!(text.contains("  replicas:"));
    let broken = dir.path().join("taskmanager-deployment.yaml");
    std::fs::write(&broken, text.replacen("  replicas:", "  replica:", 1)).expect("write a copy");
    let out = validate(&[broken]);
    assert!(!out.status.success(), "a misspelt field passed: {}", String::from_utf8_lossy(&out.stdout));

    // `kubectl apply -k deploy/kubernetes` applies every manifest.
    let kustomization = load("kustomization.yaml");
    let listed: BTreeSet<String> =
        items(&kustomization["resources"]).iter().map(|r| str_of(r, "a resource").to_string()).collect();
    assert_eq!(listed, names.into_iter().collect::<BTreeSet<_>>(), "kustomization.yaml's resources");
}

/// The manifests wire the cluster as the README says: the Service's REST and RPC ports are the
/// configuration's, the JobManager's probes hit /overview on REST, the TaskManagers' probe their
/// data port and advertise their pod IP, checkpoints and savepoints go to S3 with credentials
/// from a Secret, the image is the Dockerfile's, reading config.yaml where it is mounted.
#[test]
fn the_manifests_wire_the_cluster_as_the_readme_says() {
    let (_, config) = config_yaml();
    let rest_port = config_value(&config, "rest.port");
    let rpc_port = config_value(&config, "jobmanager.rpc.port");
    let data_port = config_value(&config, "taskmanager.data.port");
    assert_eq!((rest_port.as_str(), rpc_port.as_str()), ("8081", "6123"));
    assert_eq!(config_value(&config, "taskmanager.numberOfTaskSlots"), "2");
    assert!(config_value(&config, "parallelism.default").parse::<u32>().is_ok_and(|p| p >= 1));
    assert_eq!(config_value(&config, "execution.checkpointing.dir"), "s3://weir/checkpoints");
    assert_eq!(config_value(&config, "execution.checkpointing.savepoint-dir"), "s3://weir/savepoints");
    assert!(config_value(&config, "s3.endpoint").starts_with("http"));
    assert_eq!(config_value(&config, "s3.path.style.access"), "true");
    for secret_key in ["s3.access-key", "s3.secret-key"] {
        assert!(config[secret_key].is_badvalue(), "{secret_key} belongs in the Secret, not the ConfigMap");
    }

    // The Service: the JobManager's address in the configuration, its ports, its pods.
    let service = load("jobmanager-service.yaml");
    let jobmanager = load("jobmanager-deployment.yaml");
    let service_name = str_of(&service["metadata"]["name"], "the Service's name");
    assert_eq!(config_value(&config, "jobmanager.rpc.address"), service_name);
    assert_eq!(config_value(&config, "rest.address"), service_name);
    let ports: Vec<(String, String)> = items(&service["spec"]["ports"])
        .iter()
        .map(|p| (str_of(&p["name"], "a port name").to_string(), int_of(&p["port"], "a port").to_string()))
        .collect();
    assert_eq!(ports, [("rest".to_string(), rest_port.clone()), ("rpc".to_string(), rpc_port.clone())]);
    let labels = &jobmanager["spec"]["template"]["metadata"]["labels"];
    for (key, value) in service["spec"]["selector"].as_hash().expect("a selector") {
        assert_eq!(&labels[str_of(key, "a label")], value, "the Service selects the JobManager's pod");
    }
    let jm = container(&jobmanager);
    let jm_ports: Vec<(String, String)> = items(&jm["ports"])
        .iter()
        .map(|p| (str_of(&p["name"], "a port name").to_string(), int_of(&p["containerPort"], "a port").to_string()))
        .collect();
    assert_eq!(jm_ports, [("rest".to_string(), rest_port.clone()), ("rpc".to_string(), rpc_port.clone())]);
    assert_eq!(command(jm), ["weir", "jobmanager"]);
    assert_eq!(int_of(&jobmanager["spec"]["replicas"], "replicas"), 1);
    assert_eq!(str_of(&jobmanager["spec"]["strategy"]["type"], "strategy"), "Recreate");
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &jm[probe]["httpGet"];
        assert_eq!(str_of(&get["path"], "the probe's path"), "/overview", "{probe}");
        assert_eq!(int_of(&get["port"], "the probe's port").to_string(), rest_port, "{probe}");
    }

    // The TaskManagers: scaled by replicas, probed on their data port, reachable at the pod IP.
    let taskmanager = load("taskmanager-deployment.yaml");
    assert!(int_of(&taskmanager["spec"]["replicas"], "replicas") >= 1);
    let tm = container(&taskmanager);
    assert_eq!(command(tm), ["weir", "taskmanager", "-Dtaskmanager.host=$(POD_IP)"]);
    assert_eq!(str_of(&env(tm, "POD_IP")["valueFrom"]["fieldRef"]["fieldPath"], "POD_IP"), "status.podIP");
    assert_eq!(int_of(&items(&tm["ports"])[0]["containerPort"], "the data port").to_string(), data_port);
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(int_of(&tm[probe]["tcpSocket"]["port"], "the probe's port").to_string(), data_port, "{probe}");
    }

    // What both pods share: the image, the configuration, the Secret, resources, a scratch /tmp.
    let compose = std::fs::read_to_string(root().join("docker-compose.yaml")).expect("docker-compose.yaml");
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("the Dockerfile");
    let secret = load("secret.yaml");
    assert_eq!(str_of(&secret["kind"], "kind"), "Secret");
    for deployment in [&jobmanager, &taskmanager] {
        let pod = &deployment["spec"]["template"]["spec"];
        let c = container(deployment);
        let image = str_of(&c["image"], "the image");
        assert!(compose.contains(&format!("image: {image}")), "{image} is not docker-compose.yaml's image");
        assert!(dockerfile.contains("COPY --from=build /src/target/release/weir /usr/local/bin/weir"));
        let conf_dir = str_of(&env(c, "WEIR_CONF_DIR")["value"], "WEIR_CONF_DIR");
        let mounts = items(&c["volumeMounts"]);
        let config_mount = mounts
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(conf_dir))
            .unwrap_or_else(|| panic!("nothing is mounted at {conf_dir}"));
        let config_volume = items(&pod["volumes"])
            .iter()
            .find(|v| v["name"] == config_mount["name"])
            .expect("the configuration volume");
        assert_eq!(config_volume["configMap"]["name"], load("configmap.yaml")["metadata"]["name"]);
        // The Dockerfile's WORKDIR is /opt/weir: ./conf is the same directory.
        assert!(dockerfile.contains("WORKDIR /opt/weir") && conf_dir == "/opt/weir/conf");
        for (variable, key) in [("AWS_ACCESS_KEY_ID", "access-key"), ("AWS_SECRET_ACCESS_KEY", "secret-key")] {
            let reference = &env(c, variable)["valueFrom"]["secretKeyRef"];
            assert_eq!(reference["name"], secret["metadata"]["name"], "{variable}");
            assert_eq!(str_of(&reference["key"], "the Secret's key"), key);
            assert!(!secret["stringData"][key].is_badvalue(), "the Secret has no {key}");
        }
        for bound in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(!c["resources"][bound][resource].is_badvalue(), "no {bound}.{resource}");
            }
        }
        // A read-only root: everything Weir writes (data dir, logs, component cache) is in /tmp.
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"].as_bool(), Some(true));
        assert!(mounts.iter().any(|m| m["mountPath"].as_str() == Some("/tmp")), "no /tmp volume");
    }
    assert!(dockerfile.contains("ENV WEIR_CACHE_DIR=/tmp/"));
    assert!(config_value(&config, "weir.jobmanager.data-dir").starts_with("/tmp/"));
}

/// The ConfigMap's config.yaml, read by `weir` through WEIR_CONF_DIR as the pods do, runs a
/// JobManager whose readiness path (/overview) answers and a TaskManager that registers with the
/// ConfigMap's slots, advertises the host given as `$(POD_IP)`, and accepts connections on its
/// data port (the TaskManagers' probe) (README, "Running on Kubernetes").
#[test]
fn the_configmaps_config_runs_a_cluster_whose_probes_answer() {
    let (text, config) = config_yaml();
    let dir = temp_dir();
    let conf_dir = dir.path().join("conf");
    std::fs::create_dir_all(&conf_dir).expect("a configuration directory");
    std::fs::write(conf_dir.join("config.yaml"), &text).expect("write config.yaml");
    let cache = dir.path().join("cache");
    let with_conf = || {
        let mut command = weir(&cache);
        command.env("WEIR_CONF_DIR", &conf_dir);
        command
    };

    // Only what a shared test machine needs differs from the pods: free ports, and a data
    // directory of the test's own. Everything else comes from the ConfigMap.
    let (rest_port, rpc_port, data_port) = (free_port(), free_port(), free_port());
    let rest = format!("-Drest.port={rest_port}");
    let rpc = format!("-Djobmanager.rpc.port={rpc_port}");
    let data_dir = format!("-Dweir.jobmanager.data-dir={}", dir.path().join("jobmanager").display());
    let _jm =
        WeirProcess::spawn_command(with_conf(), &["jobmanager", &rest, &rpc, &data_dir], dir.path().join("jm.log"));
    let probe = str_of(&container(&load("jobmanager-deployment.yaml"))["readinessProbe"]["httpGet"]["path"], "path")
        .to_string();
    let url = |path: &str| format!("http://127.0.0.1:{rest_port}{path}");
    let ready = eventually(Duration::from_secs(30), || (curl(&[&url(&probe)]).status == 200).then_some(()));
    assert!(ready.is_some(), "the readiness probe's {probe} did not answer 200");
    let served = curl(&[&url("/jobmanager/config")]).json();
    let served_value =
        |key: &str| served.as_array().and_then(|a| a.iter().find(|e| e["key"] == key)).map(|e| e["value"].clone());
    for key in ["execution.checkpointing.dir", "execution.checkpointing.savepoint-dir", "parallelism.default"] {
        assert_eq!(served_value(key), Some(serde_json::json!(config_value(&config, key))), "{key}");
    }

    // The TaskManager's command from its manifest, `$(POD_IP)` filled in as the kubelet does.
    let pod_ip = "127.0.0.1";
    let mut args: Vec<String> = command(container(&load("taskmanager-deployment.yaml")))
        .into_iter()
        .skip(1)
        .map(|a| a.replace("$(POD_IP)", pod_ip))
        .collect();
    // The Service's name resolves only inside the cluster.
    args.extend([
        "-Djobmanager.rpc.address=127.0.0.1".to_string(),
        rpc,
        format!("-Dtaskmanager.data.port={data_port}"),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tm = WeirProcess::spawn_command(with_conf(), &args, dir.path().join("tm.log"));
    let registered = eventually(Duration::from_secs(30), || {
        let answer = curl(&[&url("/taskmanagers")]).json();
        answer["taskmanagers"].as_array().and_then(|t| t.first().cloned())
    });
    let registered = registered.unwrap_or_else(|| panic!("the TaskManager did not register:\n{}", tm.output()));
    assert_eq!(registered["slotsNumber"].to_string(), config_value(&config, "taskmanager.numberOfTaskSlots"));
    let path = registered["path"].as_str().unwrap_or_default();
    assert!(path.contains(&format!("{pod_ip}:{data_port}")), "not advertised at the pod IP: {registered}");
    assert!(
        TcpStream::connect_timeout(&([127, 0, 0, 1], data_port).into(), Duration::from_secs(5)).is_ok(),
        "the data port (the TaskManagers' probe) refused a connection"
    );
}
