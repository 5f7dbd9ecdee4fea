//! Flink-style configuration: a `config.yaml` (or the older `flink-conf.yaml`) of `key: value`
//! entries, nested maps flattened with dots, overridden by the `FLINK_PROPERTIES` environment
//! variable (as Flink's Docker images read it) and by `-D key=value` flags.
//!
//! The directory is, in order: the one given, `$WEIR_CONF_DIR`, `$FLINK_CONF_DIR`, `./conf`.
//! A missing directory or file is an empty configuration: every key has a default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use yaml_rust2::{Yaml, YamlLoader};

/// The keys Weir reads, with Flink's names.
pub mod keys {
    /// The port of the JobManager's REST API and web UI (8081 by default).
    pub const REST_PORT: &str = "rest.port";
    /// The largest request body the REST server takes, in bytes (uploads above it get 413).
    pub const REST_SERVER_MAX_CONTENT_LENGTH: &str = "rest.server.max-content-length";
    /// The host clients such as the `flink` CLI reach the REST API at.
    pub const REST_ADDRESS: &str = "rest.address";
    /// The address the REST server listens on (`0.0.0.0` by default).
    pub const REST_BIND_ADDRESS: &str = "rest.bind-address";
    /// The host TaskManagers reach the JobManager at.
    pub const JOBMANAGER_ADDRESS: &str = "jobmanager.rpc.address";
    /// The port TaskManagers reach the JobManager at (6123 by default).
    pub const JOBMANAGER_PORT: &str = "jobmanager.rpc.port";
    /// How many slots a TaskManager offers: how many subtasks of each vertex it can run.
    pub const TASK_SLOTS: &str = "taskmanager.numberOfTaskSlots";
    /// The host a TaskManager tells others to reach it at for data exchange.
    pub const TASKMANAGER_HOST: &str = "taskmanager.host";
    /// The address a TaskManager's data server listens on (`0.0.0.0` by default); others reach
    /// it at `taskmanager.host`.
    pub const TASKMANAGER_BIND_HOST: &str = "taskmanager.bind-host";
    /// The address the JobManager's RPC listens on (`0.0.0.0` by default); TaskManagers reach
    /// it at `jobmanager.rpc.address`.
    pub const JOBMANAGER_BIND_HOST: &str = "jobmanager.bind-host";
    /// The port of a TaskManager's data server for channels from other hosts (0: any free port).
    pub const TASKMANAGER_DATA_PORT: &str = "taskmanager.data.port";
    /// How often a TaskManager sends the JobManager a heartbeat (milliseconds unless a unit is given).
    pub const HEARTBEAT_INTERVAL: &str = "heartbeat.interval";
    /// How long without a heartbeat before the JobManager considers a TaskManager lost.
    pub const HEARTBEAT_TIMEOUT: &str = "heartbeat.timeout";
    /// The parallelism of operators that do not set their own.
    pub const DEFAULT_PARALLELISM: &str = "parallelism.default";
    /// Where checkpoints go (`state.checkpoints.dir` before Flink 1.20).
    pub const CHECKPOINTS_DIR: [&str; 2] = ["execution.checkpointing.dir", "state.checkpoints.dir"];
    /// Whether checkpoints of keyed state are incremental and asynchronous (Flink's key, before
    /// 1.20 `state.backend.incremental`). Weir's default is `true` (Flink's `false`); `false` takes
    /// a full copy of the state on the task's thread at every checkpoint.
    pub const CHECKPOINTING_INCREMENTAL: [&str; 2] =
        ["execution.checkpointing.incremental", "state.backend.incremental"];
    /// A testing aid: a JobManager that finds the file this key names deletes it and exits right
    /// after persisting a completed checkpoint, before deleting the one it replaces (what a kill
    /// at that moment leaves).
    pub const TESTING_EXIT_BEFORE_CHECKPOINT_DELETION: &str = "weir.testing.exit-before-checkpoint-deletion";
    /// The state backend's page cache per TaskManager (sled's `cache_capacity`; Weir's own key).
    pub const STATE_BACKEND_SLED_CACHE_SIZE: &str = "state.backend.sled.cache-size";
    /// Where savepoints go (`state.savepoints.dir` before Flink 1.20).
    pub const SAVEPOINTS_DIR: [&str; 2] = ["execution.checkpointing.savepoint-dir", "state.savepoints.dir"];
    /// Where the JobManager keeps jars, job graphs and history (Weir's own key).
    pub const JOBMANAGER_DATA_DIR: &str = "weir.jobmanager.data-dir";
    /// The browser origins allowed to use the REST API from other sites (Flink's key; Flink's
    /// default is `*`). Weir's default is none: cross-origin requests get no CORS headers and
    /// state-changing ones are refused. `*` allows any origin; a comma-separated list allows those.
    pub const WEB_ACCESS_CONTROL_ALLOW_ORIGIN: &str = "web.access-control-allow-origin";
    /// How often the web UI refreshes (reported by `/config`).
    pub const WEB_REFRESH_INTERVAL: &str = "web.refresh-interval";
    /// Where a process writes its log files (Flink's `env.log.dir`).
    pub const LOG_DIR: &str = "env.log.dir";
    /// How many rotated log files a process keeps besides the current one (Flink's `env.log.max`).
    pub const LOG_MAX: &str = "env.log.max";
    /// The size at which a log file is rotated, in bytes (Weir's key; Flink's log4j sets it).
    pub const LOG_FILE_SIZE: &str = "weir.log.file-size";
    /// The most functions an uploaded component may have (Weir's key).
    pub const COMPONENT_MAX_FUNCTIONS: &str = "weir.component.max-functions";
    /// How long compiling an uploaded component may take (Weir's key).
    pub const COMPONENT_COMPILE_TIMEOUT: &str = "weir.component.compile-timeout";
    /// The most one guest instance may hold in linear memories and tables together (Weir's key;
    /// default `256 mb`; a table element counts 8 bytes).
    pub const WASM_MEMORY_LIMIT: &str = "weir.wasm.memory-limit";
    /// How long one call into a guest may compute, WASI waits included and `time.sleep` and
    /// backpressure excluded (Weir's key; default `10 s`).
    pub const WASM_CALL_TIMEOUT: &str = "weir.wasm.call-timeout";
    /// How long a job's `plan` may take on the JobManager, wall-clock (Weir's key; default `30 s`).
    pub const WASM_PLAN_TIMEOUT: &str = "weir.wasm.plan-timeout";
    /// How many plans the JobManager runs at once (Weir's key; default 2).
    pub const WASM_PLAN_WORKERS: &str = "weir.wasm.plan-workers";
    /// How many plans may wait for a worker before more are refused with 503 (Weir's key;
    /// default 16).
    pub const WASM_PLAN_QUEUE: &str = "weir.wasm.plan-queue";
    /// The most linear memories one guest instance may create (Weir's key; default 16).
    pub const WASM_MAX_MEMORIES: &str = "weir.wasm.max-memories";
    /// The most tables one guest instance may create (Weir's key; default 64).
    pub const WASM_MAX_TABLES: &str = "weir.wasm.max-tables";
    /// The most core module instances one guest instance may create (Weir's key; default 256).
    pub const WASM_MAX_INSTANCES: &str = "weir.wasm.max-instances";
    /// The most elements one guest table may grow to (Weir's key; default 1048576).
    pub const WASM_MAX_TABLE_ELEMENTS: &str = "weir.wasm.max-table-elements";
    /// The most native stack a guest's WebAssembly may use (Weir's key; default `512 kb`).
    pub const WASM_STACK_SIZE: &str = "weir.wasm.stack-size";
    /// The longest guest log message or output line kept, in bytes; longer ones are cut with a
    /// marker (16384 by default).
    pub const GUEST_LOG_MAX_MESSAGE_SIZE: &str = "weir.guest.log.max-message-size";
    /// Guest log messages and output lines per second per subtask; more are dropped and counted
    /// in a periodic "N messages dropped" line (1000 by default).
    pub const GUEST_LOG_MAX_RATE: &str = "weir.guest.log.max-lines-per-second";
    /// The longest failure message a guest call reports, in bytes; longer ones are cut with a
    /// marker, never dropped (65536 by default).
    pub const GUEST_MAX_FAILURE_MESSAGE_SIZE: &str = "weir.guest.max-failure-message-size";
    /// The longest metric name a guest may register, in bytes (256 by default).
    pub const GUEST_METRICS_MAX_NAME_LENGTH: &str = "weir.guest.metrics.max-name-length";
    /// The most metrics one operator subtask may register (256 by default).
    pub const GUEST_METRICS_MAX_COUNT: &str = "weir.guest.metrics.max-count";
    /// The most timers one subtask may hold (1000000 by default).
    pub const GUEST_TIMERS_MAX_COUNT: &str = "weir.guest.timers.max-count";
    /// The longest timer namespace, in bytes (1024 by default).
    pub const GUEST_TIMERS_MAX_NAMESPACE_SIZE: &str = "weir.guest.timers.max-namespace-size";
    /// The bytes of keys and namespaces the timers of one subtask may hold (134217728 by default).
    pub const GUEST_TIMERS_MAX_BYTES: &str = "weir.guest.timers.max-bytes";
    /// The longest keyed-state key, namespace or map key, in bytes (65536 by default).
    pub const GUEST_STATE_MAX_KEY_SIZE: &str = "weir.guest.state.max-key-size";
    /// The largest keyed-state value, in bytes (16777216 by default).
    pub const GUEST_STATE_MAX_VALUE_SIZE: &str = "weir.guest.state.max-value-size";
    /// The largest record batch a guest may emit in one `collector.emit`, in bytes (16777216 by
    /// default).
    pub const GUEST_EMIT_MAX_BATCH_SIZE: &str = "weir.guest.emit.max-batch-size";
    /// The most operators a job's plan may declare (1000 by default).
    pub const PLAN_MAX_OPERATORS: &str = "weir.plan.max-operators";
    /// The most subtasks a job may have: its vertices' parallelism added up (10000 by default).
    pub const PLAN_MAX_SUBTASKS: &str = "weir.plan.max-subtasks";
    /// The longest string in a plan (a name, uid, function, config, topic or property), in
    /// bytes (65536 by default).
    pub const PLAN_MAX_STRING_SIZE: &str = "weir.plan.max-string-size";
    /// Mutual TLS between the cluster's processes (`false` by default).
    pub const SSL_INTERNAL_ENABLED: &str = "security.ssl.internal.enabled";
    /// The internal keystore: a PEM file with this process's certificate chain and key.
    pub const SSL_INTERNAL_KEYSTORE: &str = "security.ssl.internal.keystore";
    /// The internal truststore: a PEM file with the cluster CA's certificate.
    pub const SSL_INTERNAL_TRUSTSTORE: &str = "security.ssl.internal.truststore";
    /// TLS on the REST API (`false` by default).
    pub const SSL_REST_ENABLED: &str = "security.ssl.rest.enabled";
    /// The REST server's keystore: a PEM file with its certificate chain and key.
    pub const SSL_REST_KEYSTORE: &str = "security.ssl.rest.keystore";
    /// What REST clients (the CLI) trust: a PEM file of CA certificates.
    pub const SSL_REST_TRUSTSTORE: &str = "security.ssl.rest.truststore";
    /// The bearer token every REST request but the web UI's files must carry (Weir's key).
    pub const REST_AUTHENTICATION_TOKEN: &str = "rest.authentication.token";
    /// A file holding the bearer token, in place of the token itself in the configuration.
    pub const REST_AUTHENTICATION_TOKEN_FILE: &str = "rest.authentication.token-file";
    /// The S3 endpoint of `s3://` checkpoints and savepoints (an S3-compatible server's URL;
    /// AWS's own by default, or `AWS_ENDPOINT`).
    pub const S3_ENDPOINT: &str = "s3.endpoint";
    /// The S3 access key (or `AWS_ACCESS_KEY_ID`).
    pub const S3_ACCESS_KEY: &str = "s3.access-key";
    /// The S3 secret key (or `AWS_SECRET_ACCESS_KEY`).
    pub const S3_SECRET_KEY: &str = "s3.secret-key";
    /// Path-style requests (`endpoint/bucket/key`), as S3-compatible servers want.
    pub const S3_PATH_STYLE_ACCESS: &str = "s3.path.style.access";
    /// The S3 region (or `AWS_REGION`/`AWS_DEFAULT_REGION`; `us-east-1` by default).
    pub const S3_REGION: &str = "s3.region";
    /// The Kafka brokers jobs may name, comma-separated `host:port` (default: any, as Flink;
    /// the playground: its own broker). Checked when a job is submitted.
    pub const KAFKA_ALLOWED_BROKERS: &str = "weir.kafka.allowed-brokers";
    /// The prefix of Kafka client properties the cluster adds to every client it makes, over a
    /// job's own (`weir.kafka.client.security.protocol`, `…sasl.password`; default: none): the
    /// one place credentials come from.
    pub const KAFKA_CLIENT_PREFIX: &str = "weir.kafka.client.";
    /// The most task slots the JobManager accepts from one TaskManager's registration (default 1024).
    pub const JOBMANAGER_MAX_SLOTS_PER_TASKMANAGER: &str = "weir.jobmanager.max-slots-per-taskmanager";
    /// How long a connection to the RPC port may take to register (default 10 s).
    pub const JOBMANAGER_REGISTRATION_TIMEOUT: &str = "weir.jobmanager.registration-timeout";
    /// The most connections the RPC port holds at once, registered or not (default 256).
    pub const JOBMANAGER_RPC_MAX_CONNECTIONS: &str = "weir.jobmanager.rpc.max-connections";
    /// The most data connections a TaskManager's data server holds at once (default 2048).
    pub const TASKMANAGER_DATA_MAX_CONNECTIONS: &str = "weir.taskmanager.data.max-connections";
    /// How long a data connection may take to name its channel, TLS handshake included
    /// (default 10 s).
    pub const TASKMANAGER_DATA_HANDSHAKE_TIMEOUT: &str = "weir.taskmanager.data.handshake-timeout";
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The configuration file or `FLINK_PROPERTIES` is not YAML.
    #[error("{path} is not valid YAML: {message}")]
    Yaml {
        /// The file, or `$FLINK_PROPERTIES`.
        path: String,
        /// The YAML parser's message.
        message: String,
    },
    /// The file a secret's key names cannot be read.
    #[error("cannot read {key} ({path}): {message}")]
    SecretFile {
        /// The key naming the file.
        key: String,
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A `-D` flag without `key=value`.
    #[error("invalid dynamic property '{0}': expected key=value")]
    Dynamic(String),
    /// A key's value does not parse as what the key takes.
    #[error("invalid value '{value}' for {key}: {expected}")]
    Value {
        /// The key.
        key: String,
        /// Its value as configured.
        value: String,
        /// What the key takes, e.g. "a whole number".
        expected: &'static str,
    },
}

/// A flat map of configuration keys to values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Configuration {
    values: BTreeMap<String, String>,
}

fn flatten(prefix: &str, yaml: &Yaml, out: &mut BTreeMap<String, String>) {
    let key = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match yaml {
        Yaml::Hash(map) => {
            for (k, v) in map {
                let k = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Real(r) => r.clone(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => continue,
                };
                flatten(&key(&k), v, out);
            }
        }
        Yaml::Array(items) => {
            let joined: Vec<String> = items.iter().filter_map(scalar).collect();
            out.insert(prefix.to_string(), joined.join(";"));
        }
        other => {
            if let Some(v) = scalar(other) {
                out.insert(prefix.to_string(), v);
            }
        }
    }
}

fn scalar(yaml: &Yaml) -> Option<String> {
    match yaml {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses a memory size as Flink writes them: bytes, or a number with a unit (`b`, `k`/`kb`,
/// `m`/`mb`, `g`/`gb`, `t`/`tb`, any case, also Flink's `kibibytes` and the like).
pub fn parse_memory_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 0,
        "k" | "kb" | "kibibytes" => 10,
        "m" | "mb" | "mebibytes" => 20,
        "g" | "gb" | "gibibytes" => 30,
        "t" | "tb" | "tebibytes" => 40,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

/// Parses a duration as Flink writes them: `1000` (in `default_unit`), `500 ms`, `10 s`,
/// `5 min`, `1 h`.
pub fn parse_duration(text: &str, default_unit: Duration) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let unit = match unit.trim() {
        "" => default_unit,
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => Duration::from_millis(1),
        "s" | "sec" | "secs" | "second" | "seconds" => Duration::from_secs(1),
        "min" | "m" | "minute" | "minutes" => Duration::from_secs(60),
        "h" | "hour" | "hours" => Duration::from_secs(3600),
        "d" | "day" | "days" => Duration::from_secs(86_400),
        _ => return None,
    };
    unit.checked_mul(u32::try_from(n).ok()?)
}

impl Configuration {
    /// Parses YAML text (`path` is for messages).
    pub fn parse(text: &str, path: &str) -> Result<Self, ConfigError> {
        let docs = YamlLoader::load_from_str(text)
            .map_err(|e| ConfigError::Yaml { path: path.to_string(), message: e.to_string() })?;
        let mut values = BTreeMap::new();
        for doc in &docs {
            flatten("", doc, &mut values);
        }
        Ok(Configuration { values })
    }

    /// The configuration directory to use.
    pub fn directory(explicit: Option<&Path>) -> PathBuf {
        explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("WEIR_CONF_DIR").map(PathBuf::from))
            .or_else(|| std::env::var_os("FLINK_CONF_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("conf"))
    }

    /// Loads `config.yaml` (or `flink-conf.yaml`) from the configuration directory, then
    /// applies `FLINK_PROPERTIES`.
    pub fn load(explicit_dir: Option<&Path>) -> Result<Self, ConfigError> {
        let dir = Self::directory(explicit_dir);
        let mut config = Configuration::default();
        for name in ["config.yaml", "flink-conf.yaml"] {
            let path = dir.join(name);
            if path.is_file() {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
                config = Self::parse(&text, &path.display().to_string())?;
                break;
            }
        }
        if let Ok(props) = std::env::var("FLINK_PROPERTIES") {
            let overrides = Self::parse(&props, "$FLINK_PROPERTIES")?;
            config.values.extend(overrides.values);
        }
        Ok(config)
    }

    /// Applies `key=value` overrides (`-D` flags).
    pub fn apply_dynamic(&mut self, properties: &[String]) -> Result<(), ConfigError> {
        for p in properties {
            let (k, v) = p.split_once('=').ok_or_else(|| ConfigError::Dynamic(p.clone()))?;
            if k.trim().is_empty() {
                return Err(ConfigError::Dynamic(p.clone()));
            }
            self.set(k.trim(), v.trim());
        }
        Ok(())
    }

    /// Sets `key` to `value`, replacing any earlier value.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_string(), value.into());
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The first of `keys` that is set (a key and its deprecated names).
    pub fn get_any(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.get(k))
    }

    /// The value of `key`, or `default` when unset.
    pub fn get_or(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_string()
    }

    /// A number, or `default` when unset.
    pub fn get_u64(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| ConfigError::Value {
                key: key.to_string(),
                value: v.to_string(),
                expected: "a whole number",
            }),
        }
    }

    /// A duration in milliseconds unless it names its unit, or `default` when unset.
    pub fn get_duration_ms(&self, key: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => parse_duration(v, Duration::from_millis(1)).ok_or_else(|| ConfigError::Value {
                key: key.to_string(),
                value: v.to_string(),
                expected: "a duration such as 1000, 500 ms or 10 s",
            }),
        }
    }

    /// A size in bytes as Flink writes memory sizes (`268435456`, `256 mb`, `256m`, `1 gb`,
    /// `512 kb`), or `default` when unset.
    pub fn get_memory_size(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => parse_memory_size(v).ok_or_else(|| ConfigError::Value {
                key: key.to_string(),
                value: v.to_string(),
                expected: "a memory size such as 268435456, 256 mb or 1 gb",
            }),
        }
    }

    /// A boolean (`true`/`false`, any case), or `default` when unset.
    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(str::trim) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => {
                Err(ConfigError::Value { key: key.to_string(), value: v.to_string(), expected: "true or false" })
            }
        }
    }

    /// A secret: `key`'s value, else the trimmed content of the file `file_key` names (so the
    /// secret need not sit in the configuration); `None` when neither is set. Empty is an error.
    pub fn get_secret(&self, key: &str, file_key: &str) -> Result<Option<String>, ConfigError> {
        let empty =
            |key: &str| ConfigError::Value { key: key.to_string(), value: String::new(), expected: "not empty" };
        if let Some(value) = self.get(key) {
            return if value.trim().is_empty() { Err(empty(key)) } else { Ok(Some(value.trim().to_string())) };
        }
        let Some(path) = self.get_path(&[file_key]) else { return Ok(None) };
        let error =
            |message: String| ConfigError::SecretFile { key: file_key.to_string(), path: path.clone(), message };
        // A secret is a few dozen bytes: a large file is a mistake, not a secret.
        let metadata = std::fs::metadata(&path).map_err(|e| error(e.to_string()))?;
        if metadata.len() > 4096 {
            return Err(error(format!("{} bytes, more than a secret", metadata.len())));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| error(e.to_string()))?;
        match text.trim() {
            "" => Err(error("the file is empty".into())),
            secret => Ok(Some(secret.to_string())),
        }
    }

    /// Every entry, for `/jobmanager/config`.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A path value written as a path or a `file:` URI.
    pub fn get_path(&self, keys: &[&str]) -> Option<PathBuf> {
        let v = self.get_any(keys)?;
        let path = v.strip_prefix("file://").or_else(|| v.strip_prefix("file:")).unwrap_or(v);
        Some(PathBuf::from(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_read_as_flink_writes_them() {
        assert_eq!(parse_memory_size("268435456"), Some(256 << 20));
        assert_eq!(parse_memory_size("256 mb"), Some(256 << 20));
        assert_eq!(parse_memory_size("256m"), Some(256 << 20));
        assert_eq!(parse_memory_size("1 GB"), Some(1 << 30));
        assert_eq!(parse_memory_size("512 kb"), Some(512 << 10));
        assert_eq!(parse_memory_size("lots"), None);
        assert_eq!(parse_memory_size("1 parsec"), None);
        assert_eq!(parse_memory_size("99999999999999 tb"), None, "overflow is an error, not a wrap");
        let mut config = Configuration::default();
        config.set(keys::WASM_MEMORY_LIMIT, "1 gb");
        assert_eq!(config.get_memory_size(keys::WASM_MEMORY_LIMIT, 0).unwrap(), 1 << 30);
        config.set(keys::WASM_MEMORY_LIMIT, "a lot");
        let error = config.get_memory_size(keys::WASM_MEMORY_LIMIT, 0).unwrap_err().to_string();
        assert!(error.contains(keys::WASM_MEMORY_LIMIT), "{error}");
    }

    #[test]
    fn reads_the_playgrounds_flink_conf_and_nested_config_yaml() {
        let flat = "jobmanager.rpc.address: jobmanager\ntaskmanager.numberOfTaskSlots: 2\nstate.savepoints.dir: file:///tmp/flink-savepoints-directory\nheartbeat.interval: 1000\nheartbeat.timeout: 5000\nrest.flamegraph.enabled: true\n";
        let c = Configuration::parse(flat, "flink-conf.yaml").unwrap();
        assert_eq!(c.get(keys::JOBMANAGER_ADDRESS), Some("jobmanager"));
        assert_eq!(c.get_u64(keys::TASK_SLOTS, 1).unwrap(), 2);
        assert_eq!(c.get_path(&keys::SAVEPOINTS_DIR), Some(PathBuf::from("/tmp/flink-savepoints-directory")));
        assert_eq!(c.get_duration_ms(keys::HEARTBEAT_TIMEOUT, Duration::ZERO).unwrap(), Duration::from_secs(5));
        let nested = "rest:\n  port: 8082\ntaskmanager:\n  numberOfTaskSlots: 3\n";
        let c = Configuration::parse(nested, "config.yaml").unwrap();
        assert_eq!(c.get_u64(keys::REST_PORT, 8081).unwrap(), 8082);
        assert_eq!(c.get_u64(keys::TASK_SLOTS, 1).unwrap(), 3);
    }

    #[test]
    fn overrides_and_errors() {
        let mut c = Configuration::default();
        c.apply_dynamic(&["rest.port=9000".into()]).unwrap();
        assert_eq!(c.get_u64(keys::REST_PORT, 8081).unwrap(), 9000);
        assert!(c.apply_dynamic(&["nonsense".into()]).is_err());
        c.set(keys::HEARTBEAT_INTERVAL, "soon");
        assert!(
            c.get_duration_ms(keys::HEARTBEAT_INTERVAL, Duration::ZERO)
                .unwrap_err()
                .to_string()
                .contains("heartbeat.interval")
        );
        assert_eq!(parse_duration("10 s", Duration::from_millis(1)), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("5 min", Duration::from_millis(1)), Some(Duration::from_secs(300)));
        assert!(Configuration::parse("a: [", "x").is_err());
    }
}
