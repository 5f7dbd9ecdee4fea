//! Checkpoints on disk (Flink's file-system checkpoint storage, Weir's own format).
//!
//! ```text
//! <checkpoint dir>/<job id>/chk-<n>/_metadata          JSON: CheckpointMetadata
//! <checkpoint dir>/<job id>/chk-<n>/<uid>-<subtask>.state
//! <savepoint dir>/savepoint-<6 hex of job id>-<12 hex>/   the same, self-contained
//! ```
//!
//! A `.state` file holds one section per key group, so that a restore at another parallelism
//! reads just the key groups each new subtask owns. A section is the key group's state entries
//! (storage key and value, each length-prefixed) and then its timers.
//!
//! A savepoint may come from anywhere, so loading one trusts nothing in it: `_metadata` is
//! refused beyond [`MAX_METADATA`] before it is read; every state file it names must be a plain
//! file name ([`is_plain_file_name`]) of a regular file inside the savepoint's directory, never
//! a path, `..` or a symbolic link; every section's offset and length are added with a check and
//! compared with the file's actual size before anything is allocated or read; and the counts
//! and lengths inside a section are checked against its remaining bytes by
//! [`crate::framing`] as it decodes. Each refusal is a [`StorageError`] naming the `_metadata`
//! and what in it is wrong.
//!
//! A directory may also be an object store's prefix (`s3://bucket/path`, through the
//! [`FileSystem`] registered for its scheme): the layout and every check are the same, with an
//! object's size from its metadata (a HEAD) and each section read by range after its bounds are
//! checked. Objects have no symbolic links and no directories to create or remove.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::{CheckpointMetadata, HeldRecords, KeyedStateHandle, METADATA_FORMAT, RestorePoint};
use crate::filesystem::{self, FileSystem, UnsupportedScheme};
use crate::framing::{self, Framing, FramingError, Prefix};
use crate::keygroup::KeyGroupRange;
use crate::timer::FiredTimer;
use crate::timer::TimeDomain;

/// The metadata file's name.
pub const METADATA: &str = "_metadata";

/// The largest `_metadata` loaded: a larger one is refused before it is read. (Weir's own stay
/// far below: a few megabytes for thousands of subtasks.)
pub const MAX_METADATA: u64 = 64 << 20;

/// The longest state file name `_metadata` may give (a file system's limit on a name).
pub const MAX_FILE_NAME: usize = 255;

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Reading or writing a checkpoint file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory being read or written.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The path given for a restore holds no `_metadata` file.
    #[error("{0} does not exist or is not a savepoint or checkpoint (no _metadata)")]
    Missing(String),
    /// A checkpoint file is there but does not decode or is too short.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file that does not decode.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `_metadata` names a state file by something other than a plain file name inside its
    /// directory (a path, `..`, an empty or overlong name): nothing is read.
    #[error(
        "{} names state file {name:?}, which is not a plain file name inside the savepoint directory",
        metadata.display()
    )]
    UnsafeFileName {
        /// The `_metadata` file.
        metadata: PathBuf,
        /// The name it gives.
        name: String,
    },
    /// A state file named in `_metadata` is a symbolic link or a special file, not a regular
    /// file of the savepoint: nothing is read.
    #[error(
        "{} names state file {name:?}, which is not a regular file inside the savepoint directory \
         (a symbolic link, a directory or a special file)",
        metadata.display()
    )]
    NotARegularFile {
        /// The `_metadata` file.
        metadata: PathBuf,
        /// The name it gives.
        name: String,
    },
    /// `_metadata` places a key group's section past the end of its state file (or at an
    /// offset and length whose sum overflows): nothing is read.
    #[error(
        "{} places key group {key_group}'s section at offset {offset} with length {length}, beyond the \
         end of state file {name:?} ({size} bytes): the state file is truncated or the metadata is corrupt",
        metadata.display()
    )]
    SectionOutOfBounds {
        /// The `_metadata` file.
        metadata: PathBuf,
        /// The state file's name.
        name: String,
        /// The key group of the section.
        key_group: u16,
        /// The section's offset in the state file.
        offset: u64,
        /// The section's length.
        length: u64,
        /// The state file's actual size.
        size: u64,
    },
    /// `_metadata` is larger than [`MAX_METADATA`]; it is not read.
    #[error("{} is {size} bytes, more than the {limit} bytes a _metadata file may have", path.display())]
    MetadataTooLarge {
        /// The `_metadata` file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// [`MAX_METADATA`].
        limit: u64,
    },
    /// A key group's state has a count or length the `.state` format's u32 prefixes cannot hold.
    #[error(transparent)]
    Framing(#[from] FramingError),
    /// The path's scheme has no file system (neither local nor `s3://`).
    #[error(transparent)]
    UnsupportedScheme(#[from] UnsupportedScheme),
}

/// The file system of `dir` if it is not a local directory (`s3://...`).
fn remote(dir: &Path) -> Result<Option<Arc<dyn FileSystem>>, StorageError> {
    Ok(filesystem::remote(&dir.to_string_lossy())?)
}

/// What an object store said was not there, as an I/O error.
fn not_found() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotFound, "no such object")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io { path: path.to_path_buf(), source }
}

/// One key group's state entries and timers.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Section {
    /// The key group's state entries: (storage key, value) as the state backend holds them.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// The key group's registered timers, event time and processing time.
    pub timers: Vec<FiredTimer>,
}

/// The `.state` format's prefixes: little-endian u32 counts and lengths, limited only by their
/// width on writing and by what remains of the section on reading.
const ENTRIES: Framing = Framing::new("a key group's number of state entries", Prefix::U32Le, usize::MAX);
const ENTRY_KEY: Framing = Framing::new("a state entry's key length", Prefix::U32Le, usize::MAX);
const ENTRY_VALUE: Framing = Framing::new("a state entry's value length", Prefix::U32Le, usize::MAX);
const TIMERS: Framing = Framing::new("a key group's number of timers", Prefix::U32Le, usize::MAX);
const TIMER_KEY: Framing = Framing::new("a timer's key length", Prefix::U32Le, usize::MAX);
const TIMER_NAMESPACE: Framing = Framing::new("a timer's namespace length", Prefix::U32Le, usize::MAX);
/// The fewest bytes a state entry takes: an empty key and an empty value.
const MIN_ENTRY: usize = 4 + 4;
/// The fewest bytes a timer takes: its domain, its time, an empty key and an empty namespace.
const MIN_TIMER: usize = 1 + 8 + 4 + 4;

impl Section {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, FramingError> {
        let mut out = Vec::new();
        out.extend_from_slice(ENTRIES.header(self.entries.len())?.as_bytes());
        for (k, v) in &self.entries {
            ENTRY_KEY.put(&mut out, k)?;
            ENTRY_VALUE.put(&mut out, v)?;
        }
        out.extend_from_slice(TIMERS.header(self.timers.len())?.as_bytes());
        for t in &self.timers {
            out.push(matches!(t.domain, TimeDomain::ProcessingTime) as u8);
            out.extend_from_slice(&t.time.to_le_bytes());
            TIMER_KEY.put(&mut out, &t.key)?;
            TIMER_NAMESPACE.put(&mut out, &t.namespace)?;
        }
        Ok(out)
    }

    /// Decodes a section, every count and length checked against the bytes that remain.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Section, String> {
        let mut input = bytes;
        let section = Self::decode_from(&mut input).map_err(|e| e.to_string())?;
        if !input.is_empty() {
            return Err(format!("{} bytes follow its last timer", input.len()));
        }
        Ok(section)
    }

    fn decode_from(input: &mut &[u8]) -> Result<Section, FramingError> {
        let mut section = Section::default();
        for _ in 0..ENTRIES.count(input, MIN_ENTRY)? {
            let key = ENTRY_KEY.split(input)?.to_vec();
            let value = ENTRY_VALUE.split(input)?.to_vec();
            section.entries.push((key, value));
        }
        for _ in 0..TIMERS.count(input, MIN_TIMER)? {
            let [domain] = framing::take_array(input, "a timer's time domain")?;
            let domain = if domain == 1 { TimeDomain::ProcessingTime } else { TimeDomain::EventTime };
            let time = i64::from_le_bytes(framing::take_array(input, "a timer's time")?);
            let key = TIMER_KEY.split(input)?.to_vec();
            let namespace = TIMER_NAMESPACE.split(input)?.to_vec();
            section.timers.push(FiredTimer { key, namespace, time, domain });
        }
        Ok(section)
    }
}

/// Whether `name` is a plain file name: one normal path component (no `/` or `\`, not `.`,
/// `..`, empty or absolute), no NUL, at most [`MAX_FILE_NAME`] bytes. Only such names in
/// `_metadata` are joined onto a savepoint's directory.
pub fn is_plain_file_name(name: &str) -> bool {
    let mut components = Path::new(name).components();
    !name.is_empty()
        && name.len() <= MAX_FILE_NAME
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && matches!(
            (components.next(), components.next()),
            (Some(Component::Normal(n)), None) if n == OsStr::new(name)
        )
}

/// The path of the state file `handle` names inside `dir`, if its name is a plain file name.
fn state_file(dir: &Path, metadata: &Path, handle: &KeyedStateHandle) -> Result<PathBuf, StorageError> {
    if !is_plain_file_name(&handle.file) {
        return Err(StorageError::UnsafeFileName { metadata: metadata.to_path_buf(), name: handle.file.clone() });
    }
    Ok(dir.join(&handle.file))
}

/// Checks that each of `sections` lies within a state file of `size` bytes.
fn check_sections<'a>(
    metadata: &Path,
    name: &str,
    size: u64,
    sections: impl IntoIterator<Item = &'a (u16, u64, u64)>,
) -> Result<(), StorageError> {
    for &(key_group, offset, length) in sections {
        if offset.checked_add(length).is_none_or(|end| end > size) {
            return Err(StorageError::SectionOutOfBounds {
                metadata: metadata.to_path_buf(),
                name: name.to_string(),
                key_group,
                offset,
                length,
                size,
            });
        }
    }
    Ok(())
}

/// Opens a state file for reading, refusing a symbolic link (without following it) or anything
/// but a regular file; returns it with its size.
fn open_state_file(path: &Path, metadata: &Path, name: &str) -> Result<(File, u64), StorageError> {
    let not_regular = || StorageError::NotARegularFile { metadata: metadata.to_path_buf(), name: name.to_string() };
    if !std::fs::symlink_metadata(path).map_err(io(path))?.is_file() {
        return Err(not_regular());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Replaced by a link or a FIFO since the check: the open fails rather than follows it or waits.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW | libc::O_NONBLOCK);
    let file = options.open(path).map_err(io(path))?;
    let stat = file.metadata().map_err(io(path))?;
    if !stat.is_file() {
        return Err(not_regular());
    }
    Ok((file, stat.len()))
}

/// A file name for operator `uid`'s subtask: the uid reduced to safe characters.
fn state_file_name(uid: &str, subtask: u32) -> String {
    let safe: String =
        uid.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("{safe}-{subtask}.state")
}

/// Writes a subtask's keyed state, one section per key group, into `dir`.
pub fn write_keyed_state(
    dir: &Path,
    uid: &str,
    subtask: u32,
    range: KeyGroupRange,
    sections: &[(u16, Section)],
) -> Result<(KeyedStateHandle, u64), StorageError> {
    if let Some(fs) = remote(dir)? {
        // One PUT of the whole file: an object is written whole or not at all.
        let name = state_file_name(uid, subtask);
        let path = dir.join(&name);
        let mut handle = KeyedStateHandle { file: name, range: Some(range), ..Default::default() };
        let mut bytes = Vec::new();
        for (kg, section) in sections {
            let encoded = section.encode()?;
            handle.sections.push((*kg, bytes.len() as u64, encoded.len() as u64));
            bytes.extend_from_slice(&encoded);
        }
        fs.write(&path.to_string_lossy(), &bytes).map_err(io(&path))?;
        return Ok((handle, bytes.len() as u64));
    }
    // The JobManager created the directory; a task never recreates one that was given up.
    let name = state_file_name(uid, subtask);
    let path = dir.join(&name);
    let mut file = File::create(&path).map_err(io(&path))?;
    let mut handle = KeyedStateHandle { file: name, range: Some(range), ..Default::default() };
    let mut offset = 0u64;
    for (kg, section) in sections {
        let bytes = section.encode()?;
        file.write_all(&bytes).map_err(io(&path))?;
        handle.sections.push((*kg, offset, bytes.len() as u64));
        offset += bytes.len() as u64;
    }
    file.sync_all().map_err(io(&path))?;
    Ok((handle, offset))
}

/// Reads the sections of `handle` whose key groups lie in `range`, from `dir` (the checkpoint's
/// directory, whose `_metadata` gave `handle`). The handle is checked as [`load`] checks it — a
/// plain file name of a regular file, every wanted section within the file — before anything is
/// allocated or read, and each section's counts and lengths against its bytes as it decodes.
pub fn read_keyed_state(
    dir: &Path,
    handle: &KeyedStateHandle,
    range: KeyGroupRange,
) -> Result<Vec<(u16, Section)>, StorageError> {
    let metadata = dir.join(METADATA);
    let path = state_file(dir, &metadata, handle)?;
    let wanted: Vec<&(u16, u64, u64)> = handle.sections.iter().filter(|(kg, _, _)| range.contains(*kg)).collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(fs) = remote(dir)? {
        let name = path.to_string_lossy();
        let status = fs.status(&name).map_err(io(&path))?.ok_or_else(|| io(&path)(not_found()))?;
        check_sections(&metadata, &handle.file, status.len, wanted.iter().copied())?;
        let mut out = Vec::new();
        for (kg, offset, len) in wanted {
            let bytes = fs.read_range(&name, *offset, *len).map_err(io(&path))?;
            if bytes.len() as u64 != *len {
                return Err(StorageError::Corrupt {
                    path: name.to_string(),
                    reason: format!("key group {kg}'s section of {len} bytes is truncated (it shrank while read)"),
                });
            }
            let section = Section::decode(&bytes).map_err(|reason| StorageError::Corrupt {
                path: name.to_string(),
                reason: format!("key group {kg} does not decode: {reason}"),
            })?;
            out.push((*kg, section));
        }
        return Ok(out);
    }
    let (mut file, size) = open_state_file(&path, &metadata, &handle.file)?;
    check_sections(&metadata, &handle.file, size, wanted.iter().copied())?;
    let mut out = Vec::new();
    for (kg, offset, len) in wanted {
        let len = usize::try_from(*len).map_err(|_| StorageError::Corrupt {
            path: path.display().to_string(),
            reason: format!("key group {kg}'s section of {len} bytes does not fit in memory"),
        })?;
        let mut bytes = vec![0u8; len];
        file.seek(SeekFrom::Start(*offset)).map_err(io(&path))?;
        file.read_exact(&mut bytes).map_err(io(&path))?;
        let section = Section::decode(&bytes).map_err(|reason| StorageError::Corrupt {
            path: path.display().to_string(),
            reason: format!("key group {kg} does not decode: {reason}"),
        })?;
        out.push((*kg, section));
    }
    Ok(out)
}

/// The name of a sink subtask's held-records file in a checkpoint.
fn held_file_name(uid: &str, subtask: u32) -> String {
    let state = state_file_name(uid, subtask);
    format!("{}.held", state.trim_end_matches(".state"))
}

/// Writes a write-ahead sink subtask's held records (`<uid>-<subtask>.held`) into `dir`:
/// `sections` are read to their ends one after the other. Returns the file's name and each
/// section's (offset, length).
pub fn write_held_records(
    dir: &Path,
    uid: &str,
    subtask: u32,
    sections: &mut [&mut dyn Read],
) -> Result<(String, Vec<(u64, u64)>), StorageError> {
    let name = held_file_name(uid, subtask);
    let path = dir.join(&name);
    let mut placed = Vec::with_capacity(sections.len());
    if let Some(fs) = remote(dir)? {
        // One PUT of the whole file: an object is written whole or not at all.
        let mut bytes = Vec::new();
        for section in sections.iter_mut() {
            let offset = bytes.len() as u64;
            section.read_to_end(&mut bytes).map_err(io(&path))?;
            placed.push((offset, bytes.len() as u64 - offset));
        }
        fs.write(&path.to_string_lossy(), &bytes).map_err(io(&path))?;
        return Ok((name, placed));
    }
    // The JobManager created the directory; a task never recreates one that was given up.
    let mut file = std::io::BufWriter::new(File::create(&path).map_err(io(&path))?);
    let mut offset = 0u64;
    for section in sections.iter_mut() {
        let length = std::io::copy(section, &mut file).map_err(io(&path))?;
        placed.push((offset, length));
        offset += length;
    }
    let file = file.into_inner().map_err(|e| io(&path)(e.into_error()))?;
    file.sync_all().map_err(io(&path))?;
    Ok((name, placed))
}

/// Reads section `(offset, length)` of the held-records file `held` names in `dir`, checked as
/// [`load`] checks it: a plain file name of a regular file, the section within the file.
pub fn read_held_records(dir: &Path, held: &HeldRecords, offset: u64, length: u64) -> Result<Vec<u8>, StorageError> {
    let metadata = dir.join(METADATA);
    if !is_plain_file_name(&held.file) {
        return Err(StorageError::UnsafeFileName { metadata, name: held.file.clone() });
    }
    let path = dir.join(&held.file);
    let out_of_bounds = |size| StorageError::Corrupt {
        path: path.display().to_string(),
        reason: format!("a held epoch at offset {offset} with length {length} lies beyond its {size} bytes"),
    };
    if let Some(fs) = remote(dir)? {
        let name = path.to_string_lossy();
        let status = fs.status(&name).map_err(io(&path))?.ok_or_else(|| io(&path)(not_found()))?;
        if offset.checked_add(length).is_none_or(|end| end > status.len) {
            return Err(out_of_bounds(status.len));
        }
        return fs.read_range(&name, offset, length).map_err(io(&path));
    }
    let (mut file, size) = open_state_file(&path, &metadata, &held.file)?;
    if offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(out_of_bounds(size));
    }
    let length = usize::try_from(length).map_err(|_| out_of_bounds(size))?;
    let mut bytes = vec![0u8; length];
    file.seek(SeekFrom::Start(offset)).map_err(io(&path))?;
    file.read_exact(&mut bytes).map_err(io(&path))?;
    Ok(bytes)
}

/// Writes `_metadata` into `dir`, atomically: the checkpoint exists once the rename is done.
/// Returns its size in bytes.
pub fn write_metadata(dir: &Path, metadata: &CheckpointMetadata) -> Result<u64, StorageError> {
    if let Some(fs) = remote(dir)? {
        // A single PUT: the checkpoint exists once it is done.
        let path = dir.join(METADATA);
        let bytes = serde_json::to_vec_pretty(metadata)
            .map_err(|e| StorageError::Corrupt { path: path.display().to_string(), reason: e.to_string() })?;
        fs.write(&path.to_string_lossy(), &bytes).map_err(io(&path))?;
        return Ok(bytes.len() as u64);
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = dir.join("_metadata.inprogress");
    let bytes = serde_json::to_vec_pretty(metadata)
        .map_err(|e| StorageError::Corrupt { path: tmp.display().to_string(), reason: e.to_string() })?;
    let mut file = File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(&bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    let path = dir.join(METADATA);
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(bytes.len() as u64)
}

/// A path as users write it (`file:/tmp/x`, `file:///tmp/x`, `/tmp/x`), as a file-system path;
/// an object store's URI (`s3://bucket/x`) stays as it is.
pub fn local_path(path: &str) -> PathBuf {
    let p = path.strip_prefix("file://").or_else(|| path.strip_prefix("file:")).unwrap_or(path);
    PathBuf::from(p)
}

/// The URI Flink prints for a checkpoint or savepoint directory (`file:/tmp/...`, `s3://...`).
pub fn uri(dir: &Path) -> String {
    if filesystem::scheme(&dir.to_string_lossy()).is_some_and(|s| s != "file") {
        return dir.display().to_string();
    }
    format!("file:{}", dir.display())
}

/// Creates a checkpoint's directory (an object store needs none).
pub fn create_directory(dir: &Path) -> Result<(), StorageError> {
    if remote(dir)?.is_some() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(io(dir))
}

/// Deletes a checkpoint's directory and every file in it.
pub fn remove_directory(dir: &Path) -> Result<(), StorageError> {
    match remote(dir)? {
        Some(fs) => fs.delete_directory(&dir.to_string_lossy()).map_err(io(dir)),
        None => std::fs::remove_dir_all(dir).map_err(io(dir)),
    }
}

/// Removes `dir` if it is an empty local directory (a job's checkpoint directory after its last
/// checkpoint went); an object store has no directories to remove.
pub fn remove_empty_directory(dir: &Path) {
    if matches!(remote(dir), Ok(None)) {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Reads an object store's `_metadata`: its size from the store first, refused beyond
/// [`MAX_METADATA`] before a byte is read; `Missing` if there is none.
fn read_remote_metadata(fs: &dyn FileSystem, file: &Path, given: &str) -> Result<Vec<u8>, StorageError> {
    let name = file.to_string_lossy();
    let Some(status) = fs.status(&name).map_err(io(file))? else {
        return Err(StorageError::Missing(given.to_string()));
    };
    if status.len > MAX_METADATA {
        return Err(StorageError::MetadataTooLarge { path: file.to_path_buf(), size: status.len, limit: MAX_METADATA });
    }
    // At most the size just read, whatever the object has become since.
    fs.read_range(&name, 0, status.len).map_err(io(file))
}

/// Reads a `_metadata` file, refusing one larger than [`MAX_METADATA`] before reading it.
fn read_metadata(path: &Path) -> Result<Vec<u8>, StorageError> {
    let file = File::open(path).map_err(io(path))?;
    let too_large = |size| StorageError::MetadataTooLarge { path: path.to_path_buf(), size, limit: MAX_METADATA };
    let size = file.metadata().map_err(io(path))?.len();
    if size > MAX_METADATA {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // A file that grows while it is read is cut one byte past the limit, and refused.
    file.take(MAX_METADATA + 1).read_to_end(&mut bytes).map_err(io(path))?;
    if bytes.len() as u64 > MAX_METADATA {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Loads a savepoint or checkpoint given as its directory or its `_metadata` file, checking
/// that every state file it names is a plain file name of a regular file inside the directory,
/// and long enough for the sections it places there. A `_metadata` larger than
/// [`MAX_METADATA`] is refused unread; every state file name is checked before any state file
/// is looked at; no state file is read.
pub fn load(path: &str) -> Result<RestorePoint, StorageError> {
    let given = local_path(path);
    let (dir, file) = if given.file_name().is_some_and(|n| n == METADATA) {
        (given.parent().map(Path::to_path_buf).unwrap_or_default(), given.clone())
    } else {
        (given.clone(), given.join(METADATA))
    };
    let fs = remote(&dir)?;
    let bytes = match &fs {
        Some(fs) => read_remote_metadata(fs.as_ref(), &file, path)?,
        None if !file.is_file() => return Err(StorageError::Missing(path.to_string())),
        None => read_metadata(&file)?,
    };
    let corrupt = |reason: String| StorageError::Corrupt { path: file.display().to_string(), reason };
    let metadata: CheckpointMetadata = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if metadata.format != METADATA_FORMAT {
        return Err(corrupt(format!("unknown format '{}'", metadata.format)));
    }
    let keyed = || {
        metadata
            .operators
            .iter()
            .flat_map(|(uid, op)| op.subtasks.iter().filter_map(move |s| Some((uid, s.subtask, s.keyed.as_ref()?))))
    };
    let mut files = Vec::new();
    for (_, _, handle) in keyed().filter(|(_, _, h)| h.has_file()) {
        files.push(state_file(&dir, &file, handle)?);
    }
    // A chain's files: plain names in the directory, or a checkpoint's `../shared/` files.
    let mut chained = Vec::new();
    for (uid, subtask, handle) in keyed() {
        for state in &handle.files {
            let Some(path) = state.resolve(&dir, metadata.may_share()) else {
                return Err(StorageError::UnsafeFileName { metadata: file.clone(), name: state.path.clone() });
            };
            chained.push((uid, subtask, state, path));
        }
    }
    // A sink that held nothing names no file.
    let held = metadata.operators.values().flat_map(|o| &o.subtasks).filter_map(|s| s.sink.as_ref()?.held.as_ref());
    for held in held.filter(|h| !h.epochs.is_empty()) {
        if !is_plain_file_name(&held.file) {
            return Err(StorageError::UnsafeFileName { metadata: file.clone(), name: held.file.clone() });
        }
    }
    let status_of = |uid: &str, subtask: u32, name: &str, state: &Path| -> Result<(bool, u64), StorageError> {
        let missing = || corrupt(format!("the state of operator '{uid}' subtask {subtask} ({name}) is missing"));
        match &fs {
            None => {
                let stat = std::fs::symlink_metadata(state).map_err(|_| missing())?;
                Ok((stat.is_file(), stat.len()))
            }
            Some(fs) => {
                let status = fs.status(&state.to_string_lossy()).map_err(io(state))?.ok_or_else(missing)?;
                Ok((status.regular, status.len))
            }
        }
    };
    for ((uid, subtask, handle), state) in keyed().filter(|(_, _, h)| h.has_file()).zip(files) {
        let (regular, size) = status_of(uid, subtask, &handle.file, &state)?;
        if !regular {
            return Err(StorageError::NotARegularFile { metadata: file.clone(), name: handle.file.clone() });
        }
        check_sections(&file, &handle.file, size, &handle.sections)?;
    }
    for (uid, subtask, state, path) in chained {
        let (regular, size) = status_of(uid, subtask, &state.path, &path)?;
        if !regular {
            return Err(StorageError::NotARegularFile { metadata: file.clone(), name: state.path.clone() });
        }
        if size != state.size {
            return Err(corrupt(format!(
                "the state of operator '{uid}' subtask {subtask} ({}) has {size} bytes, not the {} it was written with",
                state.path, state.size
            )));
        }
        check_sections(&file, &state.path, size, &state.sections)?;
    }
    Ok(RestorePoint { directory: dir, metadata })
}

/// A new savepoint directory's name: `savepoint-<first 6 hex of the job id>-<12 random hex>`.
pub fn savepoint_name(job_id: &str) -> String {
    format!("savepoint-{}-{}", &job_id[..6.min(job_id.len())], &hex::encode(rand::random::<[u8; 6]>()))
}

/// Deletes a savepoint (`flink savepoint -d`), refusing directories that are not one.
pub fn dispose(path: &str) -> Result<(), StorageError> {
    let point = load(path)?;
    remove_directory(&point.directory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{BarrierKind, OperatorSnapshot, SubtaskSnapshot};

    #[test]
    fn keyed_state_round_trips_by_key_group() {
        let dir = tempfile::tempdir().unwrap();
        let metadata = savepoint(dir.path());
        let subtask = &metadata.operators[UID].subtasks[0];
        let handle = subtask.keyed.clone().unwrap();
        assert!(subtask.size > 0);
        let upper = read_keyed_state(dir.path(), &handle, KeyGroupRange { start: 64, end: 127 }).unwrap();
        assert_eq!(upper.len(), 1);
        let timer =
            FiredTimer { key: b"/help".to_vec(), namespace: vec![0; 8], time: 14_999, domain: TimeDomain::EventTime };
        assert_eq!(upper[0].1.timers, vec![timer]);
        assert_eq!(read_keyed_state(dir.path(), &handle, ALL).unwrap().len(), 2);

        let uri = uri(dir.path());
        assert_eq!(load(&uri).unwrap().metadata, metadata);
        assert_eq!(load(&format!("{}/_metadata", dir.path().display())).unwrap().metadata, metadata);

        // Missing, corrupt, truncated.
        assert!(matches!(load("/no/such/savepoint"), Err(StorageError::Missing(_))));
        std::fs::write(dir.path().join("click-event-counter-0.state"), b"x").unwrap();
        assert!(load(&uri).unwrap_err().to_string().contains("truncated"));
        std::fs::write(dir.path().join(METADATA), b"{not json").unwrap();
        assert!(matches!(load(&uri), Err(StorageError::Corrupt { .. })));
    }

    const UID: &str = "click-event-counter";
    const ALL: KeyGroupRange = KeyGroupRange { start: 0, end: 127 };

    /// A real savepoint in `dir`: one keyed subtask with two key groups' sections.
    fn savepoint(dir: &Path) -> CheckpointMetadata {
        create_directory(dir).unwrap();
        let timer =
            FiredTimer { key: b"/help".to_vec(), namespace: vec![0; 8], time: 14_999, domain: TimeDomain::EventTime };
        let sections = vec![
            (3u16, Section { entries: vec![(b"k3".to_vec(), b"v3".to_vec())], timers: vec![] }),
            (70u16, Section { entries: vec![(b"k70".to_vec(), b"v".to_vec())], timers: vec![timer] }),
        ];
        let (handle, size) = write_keyed_state(dir, UID, 0, ALL, &sections).unwrap();
        let metadata = CheckpointMetadata {
            format: METADATA_FORMAT.into(),
            job_id: "0123456789abcdef0123456789abcdef".into(),
            job_name: "j".into(),
            checkpoint_id: 7,
            timestamp: 1,
            kind: BarrierKind::Savepoint,
            max_parallelism: 128,
            operators: [(
                UID.to_string(),
                OperatorSnapshot {
                    parallelism: 1,
                    subtasks: vec![SubtaskSnapshot { subtask: 0, keyed: Some(handle), size, ..Default::default() }],
                },
            )]
            .into(),
        };
        write_metadata(dir, &metadata).unwrap();
        metadata
    }

    /// A sink's held records: written as sections, read back by section; a sink that held
    /// nothing names no file and loads; one whose held file is not a plain file name, or whose
    /// section lies past the file's end, is refused.
    #[test]
    fn held_records_round_trip_and_are_checked() {
        use crate::checkpoint::{HeldEpoch, HeldRecords, SinkState};
        let dir = tempfile::tempdir().unwrap();
        let mut metadata = savepoint(dir.path());
        let (first, second) = (b"epoch one".to_vec(), b"epoch two, longer".to_vec());
        let (name, placed) =
            write_held_records(dir.path(), "sink", 0, &mut [&mut first.as_slice(), &mut second.as_slice()]).unwrap();
        assert_eq!(placed, [(0, 9), (9, 17)]);
        let epoch = |(offset, length)| HeldEpoch { checkpoint: 7, offset, length, ..Default::default() };
        let held = HeldRecords { file: name, epochs: placed.iter().copied().map(epoch).collect() };
        assert_eq!(read_held_records(dir.path(), &held, 9, 17).unwrap(), second);
        assert!(read_held_records(dir.path(), &held, 9, 18).is_err(), "past the end");
        let sink = |held| SubtaskSnapshot {
            subtask: 0,
            sink: Some(SinkState { writer: "w".into(), held: Some(held), ..Default::default() }),
            ..Default::default()
        };
        let with = |metadata: &mut CheckpointMetadata, held| {
            metadata.operators.insert("sink".into(), OperatorSnapshot { parallelism: 1, subtasks: vec![sink(held)] });
            write_metadata(dir.path(), metadata).unwrap();
        };
        with(&mut metadata, HeldRecords::default());
        assert!(load(&dir.path().display().to_string()).is_ok(), "held nothing, no file");
        with(&mut metadata, held.clone());
        assert!(load(&dir.path().display().to_string()).is_ok());
        let crafted = HeldRecords { file: "../x.held".into(), ..held };
        with(&mut metadata, crafted.clone());
        assert!(matches!(load(&dir.path().display().to_string()), Err(StorageError::UnsafeFileName { .. })));
        assert!(matches!(read_held_records(dir.path(), &crafted, 0, 1), Err(StorageError::UnsafeFileName { .. })));
    }

    fn handle(metadata: &mut CheckpointMetadata) -> &mut KeyedStateHandle {
        metadata.operators.get_mut(UID).unwrap().subtasks[0].keyed.as_mut().unwrap()
    }

    #[test]
    fn the_state_file_format_is_unchanged() {
        let section = Section {
            entries: vec![(b"k".to_vec(), b"vv".to_vec())],
            timers: vec![FiredTimer {
                key: b"t".to_vec(),
                namespace: vec![9],
                time: -2,
                domain: TimeDomain::ProcessingTime,
            }],
        };
        let mut expected = Vec::new();
        expected.extend_from_slice(&1u32.to_le_bytes());
        expected.extend_from_slice(&1u32.to_le_bytes());
        expected.extend_from_slice(b"k");
        expected.extend_from_slice(&2u32.to_le_bytes());
        expected.extend_from_slice(b"vv");
        expected.extend_from_slice(&1u32.to_le_bytes());
        expected.push(1);
        expected.extend_from_slice(&(-2i64).to_le_bytes());
        expected.extend_from_slice(&1u32.to_le_bytes());
        expected.extend_from_slice(b"t");
        expected.extend_from_slice(&1u32.to_le_bytes());
        expected.push(9);
        assert_eq!(section.encode().unwrap(), expected);
        assert_eq!(Section::decode(&expected).unwrap(), section);
    }

    #[test]
    fn plain_file_names_are_the_only_names_accepted() {
        for good in ["click-event-counter-0.state", "a", "..a", "a..", "a b", &"x".repeat(MAX_FILE_NAME)] {
            assert!(is_plain_file_name(good), "{good:?}");
        }
        let long = "x".repeat(MAX_FILE_NAME + 1);
        for bad in ["", ".", "..", "/etc/passwd", "../x", "a/b", "a/", "./a", "a\\b", "..\\x", "a\0b", "/", &long] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_state_file_named_outside_the_savepoint_is_refused_and_not_read() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("savepoint");
        let real = savepoint(&dir);
        // A valid state file outside the savepoint: were any name below followed, it would load.
        let outside = root.path().join("x");
        std::fs::copy(dir.join("click-event-counter-0.state"), &outside).unwrap();
        let absolute = outside.display().to_string();
        let long = "x".repeat(MAX_FILE_NAME + 1);
        for name in ["/etc/passwd", absolute.as_str(), "../x", "a/b", "", ".", "..", "..\\x", long.as_str()] {
            let mut crafted = real.clone();
            handle(&mut crafted).file = name.to_string();
            write_metadata(&dir, &crafted).unwrap();
            let error = load(&dir.display().to_string()).unwrap_err();
            assert!(matches!(&error, StorageError::UnsafeFileName { name: n, .. } if n == name), "{name:?}: {error:?}");
            assert_eq!(
                error.to_string(),
                format!(
                    "{}/_metadata names state file {name:?}, which is not a plain file name inside the savepoint directory",
                    dir.display()
                )
            );
            // A TaskManager handed such a handle (the restore point travels over the RPC) refuses too.
            let error = read_keyed_state(&dir, handle(&mut crafted), ALL).unwrap_err();
            assert!(matches!(error, StorageError::UnsafeFileName { .. }), "{name:?}: {error:?}");
        }
        // The name is checked first even when no section is wanted.
        let mut crafted = real.clone();
        handle(&mut crafted).file = "../x".into();
        let none = KeyGroupRange { start: 100, end: 127 };
        assert!(matches!(read_keyed_state(&dir, handle(&mut crafted), none), Err(StorageError::UnsafeFileName { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn a_state_file_that_is_a_symbolic_link_or_not_a_file_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("savepoint");
        let mut crafted = savepoint(&dir);
        let outside = root.path().join("x");
        std::fs::copy(dir.join("click-event-counter-0.state"), &outside).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link.state")).unwrap();
        std::fs::create_dir(dir.join("sub.state")).unwrap();
        for name in ["link.state", "sub.state"] {
            handle(&mut crafted).file = name.into();
            write_metadata(&dir, &crafted).unwrap();
            let error = load(&dir.display().to_string()).unwrap_err();
            assert!(matches!(error, StorageError::NotARegularFile { .. }), "{name}: {error:?}");
            assert!(error.to_string().contains("which is not a regular file inside the savepoint directory"));
            let error = read_keyed_state(&dir, handle(&mut crafted), ALL).unwrap_err();
            assert!(matches!(error, StorageError::NotARegularFile { .. }), "{name}: {error:?}");
        }
    }

    #[test]
    fn sections_beyond_the_state_file_are_refused_before_anything_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let real = savepoint(dir.path());
        let size = std::fs::metadata(dir.path().join("click-event-counter-0.state")).unwrap().len();
        for (offset, length) in
            [(size, 1), (size - 1, 2), (0, size + 1), (u64::MAX, 1), (1, u64::MAX), (u64::MAX, u64::MAX)]
        {
            let mut crafted = real.clone();
            handle(&mut crafted).sections[1] = (70, offset, length);
            write_metadata(dir.path(), &crafted).unwrap();
            let error = load(&dir.path().display().to_string()).unwrap_err();
            assert!(
                matches!(error, StorageError::SectionOutOfBounds { key_group: 70, offset: o, length: l, size: s, .. }
                    if (o, l, s) == (offset, length, size)),
                "({offset}, {length}): {error:?}"
            );
            assert!(error.to_string().contains(&format!(
                "places key group 70's section at offset {offset} with length {length}, beyond the end of state file \
                 \"click-event-counter-0.state\" ({size} bytes)"
            )));
            // A TaskManager checks every section it wants before it reads any (key group 3's is fine).
            let error = read_keyed_state(dir.path(), handle(&mut crafted), ALL).unwrap_err();
            assert!(matches!(error, StorageError::SectionOutOfBounds { key_group: 70, .. }), "{error:?}");
            // One that does not want the bad section reads its own.
            let lower = KeyGroupRange { start: 0, end: 63 };
            assert_eq!(read_keyed_state(dir.path(), handle(&mut crafted), lower).unwrap().len(), 1);
        }
    }

    #[test]
    fn counts_and_lengths_inside_a_state_file_are_bounded_by_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut crafted = savepoint(dir.path());
        let file = dir.path().join("click-event-counter-0.state");
        let cases: [(&str, Vec<u8>); 5] = [
            ("a key group's number of state entries is 4294967295", u32::MAX.to_le_bytes().to_vec()),
            ("a state entry's key length is 4294967295", [1u32.to_le_bytes(), u32::MAX.to_le_bytes(), [0; 4]].concat()),
            ("a key group's number of timers is 1000", [0u32.to_le_bytes(), 1000u32.to_le_bytes()].concat()),
            ("a state entry's value length is 9", [1u32, 0, 9, 0].map(u32::to_le_bytes).concat()),
            ("3 bytes follow its last timer", [[0u8; 8].as_slice(), b"abc"].concat()),
        ];
        for (message, bytes) in cases {
            std::fs::write(&file, &bytes).unwrap();
            handle(&mut crafted).sections = vec![(3, 0, bytes.len() as u64)];
            let error = read_keyed_state(dir.path(), handle(&mut crafted), ALL).unwrap_err();
            assert!(matches!(error, StorageError::Corrupt { .. }), "{error:?}");
            assert!(error.to_string().contains(message), "{error}");
        }
    }

    #[test]
    fn an_oversized_metadata_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        savepoint(dir.path());
        // Sparse: the size is what is checked, before a byte is read.
        File::options().write(true).open(dir.path().join(METADATA)).unwrap().set_len(MAX_METADATA + 1).unwrap();
        let error = load(&dir.path().display().to_string()).unwrap_err();
        assert!(matches!(error, StorageError::MetadataTooLarge { size, .. } if size == MAX_METADATA + 1), "{error:?}");
        assert!(error.to_string().contains("more than the 67108864 bytes a _metadata file may have"), "{error}");
    }

    #[test]
    fn savepoint_names_follow_flink() {
        let name = savepoint_name("5e20cb6b0f357591171dfcca2eea09de");
        assert!(name.starts_with("savepoint-5e20cb-") && name.len() == "savepoint-5e20cb-".len() + 12, "{name}");
    }

    /// An object store in memory, registered as `memory://`: the object branch of every function.
    #[derive(Default)]
    struct MemoryFileSystem(std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>);

    impl FileSystem for MemoryFileSystem {
        fn status(&self, path: &str) -> std::io::Result<Option<filesystem::FileStatus>> {
            let objects = self.0.lock().unwrap();
            Ok(objects.get(path).map(|b| filesystem::FileStatus { len: b.len() as u64, regular: true }))
        }
        fn read_range(&self, path: &str, offset: u64, length: u64) -> std::io::Result<Vec<u8>> {
            let objects = self.0.lock().unwrap();
            let bytes = objects.get(path).ok_or_else(not_found)?;
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
            let end = usize::try_from(length).unwrap_or(usize::MAX).saturating_add(start).min(bytes.len());
            Ok(bytes[start..end].to_vec())
        }
        fn write(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
            self.0.lock().unwrap().insert(path.to_string(), bytes.to_vec());
            Ok(())
        }
        fn delete(&self, path: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().remove(path);
            Ok(())
        }
        fn list(&self, path: &str) -> std::io::Result<Vec<String>> {
            let prefix = format!("{path}/");
            Ok(self.0.lock().unwrap().keys().filter_map(|k| k.strip_prefix(&prefix).map(str::to_string)).collect())
        }
        fn delete_directory(&self, path: &str) -> std::io::Result<()> {
            let prefix = format!("{path}/");
            self.0.lock().unwrap().retain(|k, _| !k.starts_with(&prefix));
            Ok(())
        }
    }

    #[test]
    fn savepoints_on_an_object_store_are_written_loaded_checked_and_disposed() {
        let fs = Arc::new(MemoryFileSystem::default());
        filesystem::register("memory", fs.clone());
        let dir = PathBuf::from("memory://bucket/savepoints/savepoint-1");
        let real = savepoint(&dir);
        assert_eq!(
            fs.list("memory://bucket/savepoints/savepoint-1").unwrap(),
            vec!["_metadata".to_string(), "click-event-counter-0.state".to_string()]
        );
        assert_eq!(uri(&dir), "memory://bucket/savepoints/savepoint-1");
        let point = load("memory://bucket/savepoints/savepoint-1").unwrap();
        assert_eq!((point.directory.as_path(), &point.metadata), (dir.as_path(), &real));
        assert_eq!(load("memory://bucket/savepoints/savepoint-1/_metadata").unwrap().metadata, real);
        let upper = read_keyed_state(&dir, handle(&mut real.clone()), KeyGroupRange { start: 64, end: 127 }).unwrap();
        assert_eq!(upper[0].1.entries, vec![(b"k70".to_vec(), b"v".to_vec())]);

        // Crafted names and sections are refused as for files.
        let mut crafted = real.clone();
        handle(&mut crafted).file = "../x".into();
        write_metadata(&dir, &crafted).unwrap();
        assert!(matches!(load(&uri(&dir)), Err(StorageError::UnsafeFileName { .. })));
        assert!(matches!(read_keyed_state(&dir, handle(&mut crafted), ALL), Err(StorageError::UnsafeFileName { .. })));
        let mut crafted = real.clone();
        handle(&mut crafted).sections[1] = (70, 1, u64::MAX);
        write_metadata(&dir, &crafted).unwrap();
        assert!(matches!(load(&uri(&dir)), Err(StorageError::SectionOutOfBounds { key_group: 70, .. })));
        assert!(matches!(
            read_keyed_state(&dir, handle(&mut crafted), ALL),
            Err(StorageError::SectionOutOfBounds { key_group: 70, .. })
        ));
        // A missing state file, corrupt and missing metadata.
        write_metadata(&dir, &real).unwrap();
        fs.0.lock().unwrap().remove("memory://bucket/savepoints/savepoint-1/click-event-counter-0.state");
        assert!(load(&uri(&dir)).unwrap_err().to_string().contains("(click-event-counter-0.state) is missing"));
        fs.write("memory://bucket/savepoints/savepoint-1/_metadata", b"{not json").unwrap();
        assert!(matches!(load(&uri(&dir)), Err(StorageError::Corrupt { .. })));
        assert!(matches!(load("memory://bucket/none"), Err(StorageError::Missing(_))));

        // Disposal deletes the prefix, and only a savepoint's.
        let other = PathBuf::from("memory://bucket/savepoints/savepoint-2");
        savepoint(&other);
        dispose("memory://bucket/savepoints/savepoint-2").unwrap();
        assert!(fs.list("memory://bucket/savepoints/savepoint-2").unwrap().is_empty());
        assert!(!fs.list("memory://bucket/savepoints/savepoint-1").unwrap().is_empty());
        assert!(matches!(dispose("memory://bucket/savepoints"), Err(StorageError::Missing(_))));
        // An unknown scheme is refused, not taken for a local path.
        assert!(matches!(load("gs://bucket/x"), Err(StorageError::UnsupportedScheme(_))));
    }

    /// Fuzzing on stable Rust: crafted `_metadata` and state files (`PROPTEST_CASES` for more).
    mod fuzz {
        use proptest::prelude::*;

        use super::*;
        use crate::framing::fuzz::cases;

        /// A change to a real `_metadata`'s bytes.
        #[derive(Debug, Clone)]
        enum Mutation {
            /// Overwrites the byte at (an index modulo the length) with a value.
            Set(usize, u8),
            /// Cuts the file at (an index modulo the length).
            Truncate(usize),
            /// Inserts bytes at (an index modulo the length).
            Insert(usize, Vec<u8>),
        }

        fn mutation() -> impl Strategy<Value = Mutation> {
            prop_oneof![
                (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Set(at, b)),
                // JSON's own bytes, so that a mutation often still parses.
                (any::<usize>(), proptest::sample::select(b"0123456789-.\"/\\e:,[]{}".to_vec()))
                    .prop_map(|(at, b)| Mutation::Set(at, b)),
                any::<usize>().prop_map(Mutation::Truncate),
                (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
                    .prop_map(|(at, b)| Mutation::Insert(at, b)),
            ]
        }

        fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
            let at = |i: usize| if bytes.is_empty() { 0 } else { i % bytes.len() };
            match mutation {
                Mutation::Set(i, b) if !bytes.is_empty() => {
                    let i = at(*i);
                    bytes[i] = *b;
                }
                Mutation::Set(..) => {}
                Mutation::Truncate(i) => bytes.truncate(at(*i)),
                Mutation::Insert(i, b) => {
                    let i = at(*i);
                    bytes.splice(i..i, b.iter().copied());
                }
            }
        }

        /// Loads the savepoint in `dir` and reads every state file it names: whatever `_metadata`
        /// holds, that is an answer (never a panic), and what loads names only plain files in
        /// `dir` whose sections lie within them.
        fn load_and_read(dir: &Path) -> Result<(), TestCaseError> {
            let Ok(point) = load(&dir.display().to_string()) else { return Ok(()) };
            prop_assert_eq!(&point.directory, &dir.to_path_buf());
            for subtask in point.metadata.operators.values().flat_map(|op| &op.subtasks) {
                // A handle with no full file and no sections names nothing.
                let Some(handle) = subtask.keyed.as_ref().filter(|h| h.has_file()) else { continue };
                prop_assert!(is_plain_file_name(&handle.file), "{:?} loaded", handle.file);
                let size = std::fs::symlink_metadata(dir.join(&handle.file)).map(|m| m.len());
                prop_assert!(size.is_ok(), "{:?} loaded but is not in the savepoint", handle.file);
                let size = size.unwrap_or_default();
                for &(_, offset, length) in &handle.sections {
                    prop_assert!(offset.checked_add(length).is_some_and(|end| end <= size));
                }
                if let Ok(sections) = read_keyed_state(dir, handle, ALL) {
                    prop_assert!(sections.len() <= handle.sections.len());
                }
            }
            Ok(())
        }

        proptest! {
            // Each case writes a savepoint (with fsyncs): fewer cases than the in-memory decoders.
            #![proptest_config(cases(128))]

            /// A real `_metadata`, mutated byte by byte, truncated or extended: loaded or
            /// refused with an error, never a panic, never a file outside the savepoint.
            #[test]
            fn fuzz_mutated_metadata_loads_or_is_refused(mutations in proptest::collection::vec(mutation(), 1..6)) {
                let root = tempfile::tempdir().unwrap();
                let dir = root.path().join("savepoint");
                savepoint(&dir);
                // What an escaping name would reach.
                std::fs::copy(dir.join("click-event-counter-0.state"), root.path().join("x")).unwrap();
                let mut bytes = std::fs::read(dir.join(METADATA)).unwrap();
                for mutation in &mutations {
                    apply(&mut bytes, mutation);
                }
                std::fs::write(dir.join(METADATA), &bytes).unwrap();
                load_and_read(&dir)?;
            }

            /// Entirely arbitrary `_metadata` bytes.
            #[test]
            fn fuzz_random_metadata_is_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join(METADATA), &bytes).unwrap();
                load_and_read(dir.path())?;
            }

            /// A well-formed `_metadata` whose state file name and sections are arbitrary: only a
            /// plain name of a file in the savepoint, with sections inside it, loads.
            #[test]
            fn fuzz_crafted_state_handles_are_confined(
                name in prop_oneof![
                    Just("click-event-counter-0.state".to_string()),
                    Just("../x".to_string()),
                    Just("/etc/passwd".to_string()),
                    "[./\\a-z\u{0}\u{e9}\u{1F600}]{0,12}",
                    any::<String>(),
                ],
                sections in proptest::collection::vec(
                    (any::<u16>(), prop_oneof![0u64..200, any::<u64>()], prop_oneof![0u64..200, any::<u64>()]),
                    0..4,
                ),
            ) {
                let root = tempfile::tempdir().unwrap();
                let dir = root.path().join("savepoint");
                let mut crafted = savepoint(&dir);
                std::fs::copy(dir.join("click-event-counter-0.state"), root.path().join("x")).unwrap();
                *handle(&mut crafted) = KeyedStateHandle { file: name, range: Some(ALL), sections, ..Default::default() };
                write_metadata(&dir, &crafted).unwrap();
                load_and_read(&dir)?;
                // A TaskManager handed the handle without `load` (it travels over the RPC) is as safe.
                let handle = handle(&mut crafted);
                if read_keyed_state(&dir, handle, ALL).is_ok() {
                    prop_assert!(is_plain_file_name(&handle.file));
                }
            }

            /// Arbitrary state file bytes under arbitrary sections: each section decodes or is
            /// refused, never a panic, never an allocation beyond the file.
            #[test]
            fn fuzz_state_files_decode_or_are_refused(
                bytes in proptest::collection::vec(any::<u8>(), 0..256),
                sections in proptest::collection::vec((0u16..128, 0u64..300, 0u64..300), 1..4),
            ) {
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join("s.state"), &bytes).unwrap();
                let handle = KeyedStateHandle { file: "s.state".into(), range: Some(ALL), sections, ..Default::default() };
                if let Ok(read) = read_keyed_state(dir.path(), &handle, ALL) {
                    for (_, section) in read {
                        let held: usize = section.entries.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
                            + section.timers.iter().map(|t| t.key.len() + t.namespace.len()).sum::<usize>();
                        prop_assert!(held <= bytes.len());
                    }
                }
                if let Ok(section) = Section::decode(&bytes) {
                    prop_assert_eq!(section.encode().unwrap(), bytes);
                }
            }

            /// Arbitrary sections survive encoding and decoding unchanged.
            #[test]
            fn fuzz_sections_round_trip(
                entries in proptest::collection::vec(
                    (proptest::collection::vec(any::<u8>(), 0..16), proptest::collection::vec(any::<u8>(), 0..16)),
                    0..8,
                ),
                timers in proptest::collection::vec(
                    (proptest::collection::vec(any::<u8>(), 0..16), proptest::collection::vec(any::<u8>(), 0..16), any::<i64>(), any::<bool>()),
                    0..8,
                ),
            ) {
                let timers = timers
                    .into_iter()
                    .map(|(key, namespace, time, processing)| FiredTimer {
                        key,
                        namespace,
                        time,
                        domain: if processing { TimeDomain::ProcessingTime } else { TimeDomain::EventTime },
                    })
                    .collect();
                let section = Section { entries, timers };
                prop_assert_eq!(Section::decode(&section.encode().unwrap()).unwrap(), section);
            }
        }
    }
}
