//! Weir's file systems beyond local files (Flink's file-system plugins): `s3://bucket/path` for
//! checkpoints and savepoints, on AWS S3 or any S3-compatible server, through `object_store`.
//!
//! [`register`] puts them in [`weir_core::filesystem`]'s registry; the `weir` binary calls it at
//! start with the process's configuration, so the JobManager (which writes `_metadata`) and every
//! TaskManager (which write their state files) reach the same store. The S3 client is
//! asynchronous; checkpoint storage is synchronous, so each call runs on a small runtime of this
//! crate's own and the caller waits for its answer (never `block_on` in the caller's thread,
//! which may be inside another runtime).
//!
//! Configuration: Flink's keys `s3.endpoint`, `s3.access-key`, `s3.secret-key`,
//! `s3.path.style.access`, `s3.region`; whatever they leave unset comes from the usual AWS
//! environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT`, ...).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig};
use weir_config::{ConfigError, Configuration, keys};
use weir_core::filesystem::{self, FileStatus, FileSystem};

/// How long one S3 request may be retried before its error is the answer: a checkpoint that
/// cannot be written fails, it does not stall the job.
const RETRY_TIMEOUT: Duration = Duration::from_secs(30);

/// Registers the file systems this crate provides (`s3://`, and `s3a://` as Flink's Hadoop
/// plugin names it) for the process, configured from `config`.
pub fn register(config: &Configuration) -> Result<(), ConfigError> {
    let fs = Arc::new(S3FileSystem::new(S3Options::from_config(config)?).map_err(|e| ConfigError::Value {
        key: "s3".into(),
        value: e.to_string(),
        expected: "a runtime for the S3 client",
    })?);
    filesystem::register("s3", fs.clone());
    filesystem::register("s3a", fs);
    Ok(())
}

/// The S3 client's settings from Flink's keys (unset ones from the environment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Options {
    /// `s3.endpoint`.
    pub endpoint: Option<String>,
    /// `s3.access-key`.
    pub access_key: Option<String>,
    /// `s3.secret-key`.
    pub secret_key: Option<String>,
    /// `s3.region`.
    pub region: Option<String>,
    /// `s3.path.style.access`, if set.
    pub path_style: Option<bool>,
}

impl S3Options {
    /// Reads Flink's `s3.*` keys.
    pub fn from_config(config: &Configuration) -> Result<Self, ConfigError> {
        let path_style = match config.get(keys::S3_PATH_STYLE_ACCESS) {
            None => None,
            Some(_) => Some(config.get_bool(keys::S3_PATH_STYLE_ACCESS, false)?),
        };
        Ok(S3Options {
            endpoint: config.get(keys::S3_ENDPOINT).map(str::to_string),
            access_key: config.get(keys::S3_ACCESS_KEY).map(str::to_string),
            secret_key: config.get(keys::S3_SECRET_KEY).map(str::to_string),
            region: config.get(keys::S3_REGION).map(str::to_string),
            path_style,
        })
    }

    /// A client of `bucket`.
    fn client(&self, bucket: &str) -> object_store::Result<AmazonS3> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket).with_retry(RetryConfig {
            retry_timeout: RETRY_TIMEOUT,
            max_retries: 3,
            ..RetryConfig::default()
        });
        if let Some(endpoint) = &self.endpoint {
            // A local S3-compatible server is often plain HTTP.
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(key) = &self.access_key {
            builder = builder.with_access_key_id(key);
        }
        if let Some(key) = &self.secret_key {
            builder = builder.with_secret_access_key(key);
        }
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let Some(path_style) = self.path_style {
            builder = builder.with_virtual_hosted_style_request(!path_style);
        }
        builder.build()
    }
}

/// `s3://bucket/key`: objects in S3 buckets, one client per bucket.
pub struct S3FileSystem {
    options: S3Options,
    clients: Mutex<HashMap<String, Arc<AmazonS3>>>,
    /// The runtime the S3 client's requests run on, whatever thread asks.
    runtime: tokio::runtime::Runtime,
}

impl S3FileSystem {
    /// A file system with these settings; clients are made on first use of each bucket.
    pub fn new(options: S3Options) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("s3-client")
            .enable_all()
            .build()?;
        Ok(S3FileSystem { options, clients: Mutex::new(HashMap::new()), runtime })
    }

    /// The client of `path`'s bucket and the object key `path` names.
    fn locate(&self, path: &str) -> io::Result<(Arc<AmazonS3>, ObjectPath)> {
        let (bucket, key) = filesystem::bucket_and_key(path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{path} names no bucket")))?;
        let key = ObjectPath::parse(key).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(bucket) {
            return Ok((client.clone(), key));
        }
        let client = Arc::new(self.options.client(bucket).map_err(io::Error::other)?);
        clients.insert(bucket.to_string(), client.clone());
        Ok((client, key))
    }

    /// Runs `request` on this file system's runtime and waits for its answer.
    fn run<T: Send + 'static>(
        &self,
        request: impl Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> io::Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(request.await);
        });
        let answer = rx.recv().map_err(|_| io::Error::other("the S3 client's runtime stopped"))?;
        answer.map_err(io::Error::from)
    }
}

impl FileSystem for S3FileSystem {
    fn status(&self, path: &str) -> io::Result<Option<FileStatus>> {
        let (client, key) = self.locate(path)?;
        match self.run(async move { client.head(&key).await }) {
            Ok(meta) => Ok(Some(FileStatus { len: meta.size, regular: true })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn read_range(&self, path: &str, offset: u64, length: u64) -> io::Result<Vec<u8>> {
        let end = offset.checked_add(length).ok_or_else(|| io::Error::other("range overflows"))?;
        if length == 0 {
            return Ok(Vec::new());
        }
        let (client, key) = self.locate(path)?;
        let bytes = self.run(async move { client.get_range(&key, offset..end).await })?;
        // Never more than asked, whatever the server sent.
        let length = usize::try_from(length).map_err(io::Error::other)?;
        Ok(bytes.get(..length.min(bytes.len())).unwrap_or_default().to_vec())
    }

    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let (client, key) = self.locate(path)?;
        let payload = bytes::Bytes::copy_from_slice(bytes);
        self.run(async move { client.put(&key, payload.into()).await }).map(|_| ())
    }

    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        let (client, prefix) = self.locate(path)?;
        let listed = prefix.clone();
        let objects: Vec<_> = self.run(async move { client.list(Some(&listed)).try_collect().await })?;
        let mut names: Vec<String> = objects
            .iter()
            .filter_map(|o| o.location.prefix_match(&prefix).map(|parts| parts.map(|p| p.as_ref().to_string())))
            .map(|parts| parts.collect::<Vec<_>>().join("/"))
            .collect();
        names.sort();
        Ok(names)
    }

    fn delete(&self, path: &str) -> io::Result<()> {
        let (client, key) = self.locate(path)?;
        match self.run(async move { client.delete(&key).await }) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn delete_directory(&self, path: &str) -> io::Result<()> {
        let (client, prefix) = self.locate(path)?;
        if prefix.as_ref().is_empty() {
            // Never a whole bucket: no checkpoint or savepoint directory is one.
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{path} is a whole bucket")));
        }
        self.run(async move {
            let locations = client.list(Some(&prefix)).map_ok(|o| o.location).boxed();
            client.delete_stream(locations).try_collect::<Vec<_>>().await
        })
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flinks_keys_configure_the_client() {
        let mut config = Configuration::default();
        config.set(keys::S3_ENDPOINT, "http://127.0.0.1:9000");
        config.set(keys::S3_ACCESS_KEY, "a");
        config.set(keys::S3_SECRET_KEY, "s");
        config.set(keys::S3_PATH_STYLE_ACCESS, "true");
        let options = S3Options::from_config(&config).unwrap();
        assert_eq!(
            options,
            S3Options {
                endpoint: Some("http://127.0.0.1:9000".into()),
                access_key: Some("a".into()),
                secret_key: Some("s".into()),
                region: None,
                path_style: Some(true),
            }
        );
        assert!(options.client("bucket").is_ok());
        config.set(keys::S3_PATH_STYLE_ACCESS, "maybe");
        assert!(S3Options::from_config(&config).is_err());
    }

    #[test]
    fn paths_without_a_bucket_or_with_bad_keys_are_refused() {
        let fs = S3FileSystem::new(S3Options::default()).unwrap();
        for bad in ["s3://", "s3:///key", "s3://bucket/a//b", "s3://bucket/a/../b"] {
            let error = fs.locate(bad).err().map(|e| e.kind());
            assert_eq!(error, Some(io::ErrorKind::InvalidInput), "{bad}");
        }
        assert_eq!(fs.delete_directory("s3://bucket").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
