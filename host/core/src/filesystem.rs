//! File systems by URI scheme (Flink's `FileSystem`, whose per-scheme factories are plugins):
//! where checkpoints and savepoints are written and read.
//!
//! A path without a scheme, or with `file:`, is a local path, which [`crate::checkpoint::storage`]
//! reads and writes itself. A path `scheme://authority/key` belongs to the [`FileSystem`]
//! registered for `scheme` ([`register`]): the `weir` binary registers `s3` at start (the
//! `weir-filesystems` crate), so this crate stays free of async I/O and HTTP. [`LocalFileSystem`]
//! is the same interface over local files.
//!
//! The interface is synchronous and small: what checkpoint storage needs, no more. Writes are
//! atomic (a rename for local files, a single PUT for objects), so a reader sees a whole file or
//! none.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// What [`FileSystem::status`] tells about a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStatus {
    /// Its length in bytes.
    pub len: u64,
    /// Whether it is a regular file (an object always is; a local symbolic link, directory or
    /// special file is not).
    pub regular: bool,
}

/// A file system: local files, or an object store (`s3://bucket/key`). Paths are given whole,
/// scheme included, as users write them.
pub trait FileSystem: Send + Sync {
    /// The status of the file at `path`, not following a symbolic link; `None` if there is none.
    fn status(&self, path: &str) -> io::Result<Option<FileStatus>>;
    /// Reads `length` bytes at `offset` of the file at `path`; fewer only if the file is shorter.
    fn read_range(&self, path: &str, offset: u64, length: u64) -> io::Result<Vec<u8>>;
    /// Writes the file at `path` whole and atomically, replacing any file there.
    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()>;
    /// The files under the directory (or key prefix) `path`, as paths relative to it, sorted.
    fn list(&self, path: &str) -> io::Result<Vec<String>>;
    /// Deletes the directory (or key prefix) `path` and everything under it; nothing there is
    /// not an error.
    fn delete_directory(&self, path: &str) -> io::Result<()>;
    /// Deletes the file at `path`; nothing there is not an error.
    fn delete(&self, path: &str) -> io::Result<()>;
}

/// The file systems registered by scheme.
static REGISTRY: RwLock<BTreeMap<String, Arc<dyn FileSystem>>> = RwLock::new(BTreeMap::new());

/// Registers `fs` for paths `scheme://...`, replacing any registered before.
pub fn register(scheme: &str, fs: Arc<dyn FileSystem>) {
    let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    registry.insert(scheme.to_ascii_lowercase(), fs);
}

/// Why a path has no file system.
#[derive(Debug, thiserror::Error)]
#[error(
    "Could not find a file system implementation for scheme '{scheme}' of {path}: Weir's cluster \
     processes support local paths (file:) and s3://"
)]
pub struct UnsupportedScheme {
    /// The scheme.
    pub scheme: String,
    /// The path given.
    pub path: String,
}

/// The scheme of `path` if it is a URI with an authority (`scheme://...`), lowercased: `None`
/// for a local path (`/tmp/x`, `file:/tmp/x`, `file:///tmp/x` give `Some("file")` or `None`).
pub fn scheme(path: &str) -> Option<String> {
    let (scheme, _) = path.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| scheme.to_ascii_lowercase())
}

/// The registered file system of `path`, or `None` for a local path (no scheme, or `file`).
pub fn remote(path: &str) -> Result<Option<Arc<dyn FileSystem>>, UnsupportedScheme> {
    match scheme(path) {
        None => Ok(None),
        Some(s) if s == "file" => Ok(None),
        Some(s) => {
            let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
            match registry.get(&s) {
                Some(fs) => Ok(Some(fs.clone())),
                None => Err(UnsupportedScheme { scheme: s, path: path.to_string() }),
            }
        }
    }
}

/// Splits an object URI `scheme://bucket/key` into its bucket and key (the key without leading
/// or trailing `/`, possibly empty); `None` if there is no bucket.
pub fn bucket_and_key(path: &str) -> Option<(&str, &str)> {
    let (_, rest) = path.split_once("://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, key.trim_matches('/')))
}

/// A path as users write it (`file:/tmp/x`, `file:///tmp/x`, `/tmp/x`), as a local path.
fn local(path: &str) -> PathBuf {
    let p = path.strip_prefix("file://").or_else(|| path.strip_prefix("file:")).unwrap_or(path);
    PathBuf::from(p)
}

/// Local files (`/tmp/x`, `file:/tmp/x`).
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalFileSystem;

impl FileSystem for LocalFileSystem {
    fn status(&self, path: &str) -> io::Result<Option<FileStatus>> {
        match std::fs::symlink_metadata(local(path)) {
            Ok(stat) => Ok(Some(FileStatus { len: stat.len(), regular: stat.is_file() })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn read_range(&self, path: &str, offset: u64, length: u64) -> io::Result<Vec<u8>> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        // Never follow a symbolic link out of the directory, never block on a FIFO.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW | libc::O_NONBLOCK);
        let mut file = options.open(local(path))?;
        let size = file.metadata()?.len();
        let length = length.min(size.saturating_sub(offset));
        let mut bytes = Vec::with_capacity(usize::try_from(length).map_err(io::Error::other)?);
        file.seek(SeekFrom::Start(offset))?;
        file.take(length).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let path = local(path);
        let name = path.file_name().ok_or_else(|| io::Error::other(format!("{} names no file", path.display())))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp_name = name.to_os_string();
        tmp_name.push(".inprogress");
        let tmp = dir.join(tmp_name);
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    }

    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    walk(root, &entry.path(), out)?;
                } else if let Ok(relative) = entry.path().strip_prefix(root) {
                    out.push(relative.display().to_string());
                }
            }
            Ok(())
        }
        let root = local(path);
        let mut out = Vec::new();
        match walk(&root, &root, &mut out) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
        out.sort();
        Ok(out)
    }

    fn delete_directory(&self, path: &str) -> io::Result<()> {
        match std::fs::remove_dir_all(local(path)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn delete(&self, path: &str) -> io::Result<()> {
        match std::fs::remove_file(local(path)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_object_paths_are_parsed() {
        assert_eq!(scheme("s3://bucket/a/b").as_deref(), Some("s3"));
        assert_eq!(scheme("S3://bucket").as_deref(), Some("s3"));
        assert_eq!(scheme("file:///tmp/x").as_deref(), Some("file"));
        for local in ["/tmp/x", "file:/tmp/x", "relative/dir", "a:b", "://x", "1s://x", "s 3://x"] {
            assert_eq!(scheme(local), None, "{local}");
        }
        assert_eq!(bucket_and_key("s3://bucket/a/b/"), Some(("bucket", "a/b")));
        assert_eq!(bucket_and_key("s3://bucket"), Some(("bucket", "")));
        assert_eq!(bucket_and_key("s3://bucket/"), Some(("bucket", "")));
        assert_eq!(bucket_and_key("s3:///key"), None);
        assert!(matches!(remote("/tmp/x"), Ok(None)));
        assert!(matches!(remote("file:///tmp/x"), Ok(None)));
        let error = remote("gs://bucket/x").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("Could not find a file system implementation for scheme 'gs'"), "{error}");
    }

    #[test]
    fn registered_schemes_resolve() {
        register("weirtest", Arc::new(LocalFileSystem));
        assert!(matches!(remote("WeirTest://b/k"), Ok(Some(_))));
    }

    #[test]
    fn local_files_are_written_atomically_read_by_range_listed_and_deleted() {
        let root = tempfile::tempdir().unwrap();
        let fs = LocalFileSystem;
        let dir = format!("file:{}/chk-1", root.path().display());
        assert_eq!(fs.status(&format!("{dir}/a")).unwrap(), None);
        fs.write(&format!("{dir}/a"), b"0123456789").unwrap();
        fs.write(&format!("{dir}/sub/b"), b"x").unwrap();
        assert_eq!(fs.status(&format!("{dir}/a")).unwrap(), Some(FileStatus { len: 10, regular: true }));
        assert_eq!(fs.status(&format!("{dir}/sub")).unwrap().map(|s| s.regular), Some(false));
        assert_eq!(fs.read_range(&format!("{dir}/a"), 2, 3).unwrap(), b"234");
        assert_eq!(fs.read_range(&format!("{dir}/a"), 8, 100).unwrap(), b"89");
        assert_eq!(fs.read_range(&format!("{dir}/a"), 100, 1).unwrap(), b"");
        // No temporary file stays behind.
        assert_eq!(fs.list(&dir).unwrap(), vec!["a".to_string(), "sub/b".to_string()]);
        fs.write(&format!("{dir}/a"), b"new").unwrap();
        assert_eq!(fs.read_range(&format!("{dir}/a"), 0, 100).unwrap(), b"new");
        fs.delete_directory(&dir).unwrap();
        assert!(fs.list(&dir).unwrap().is_empty());
        fs.delete_directory(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn local_reads_do_not_follow_symbolic_links() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("target"), b"secret").unwrap();
        std::os::unix::fs::symlink(root.path().join("target"), root.path().join("link")).unwrap();
        let link = root.path().join("link").display().to_string();
        assert_eq!(LocalFileSystem.status(&link).unwrap().map(|s| s.regular), Some(false));
        assert!(LocalFileSystem.read_range(&link, 0, 6).is_err());
    }
}
