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

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{CheckpointMetadata, KeyedStateHandle, METADATA_FORMAT, RestorePoint};
use crate::keygroup::KeyGroupRange;
use crate::timer::FiredTimer;
use crate::timer::TimeDomain;

/// The metadata file's name.
pub const METADATA: &str = "_metadata";

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
    /// A key group's state has a count or length the `.state` format's u32 prefixes cannot hold.
    #[error("{what} of {len} exceeds the state file format's limit of {max}")]
    TooLarge {
        /// What was too large (e.g. "a state entry's value length").
        what: &'static str,
        /// Its actual size.
        len: usize,
        /// The largest the format can hold.
        max: u32,
    },
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

/// `len` as the format's u32 count or length prefix, or why it does not fit.
fn prefix(what: &'static str, len: usize) -> Result<[u8; 4], StorageError> {
    let n = u32::try_from(len).map_err(|_| StorageError::TooLarge { what, len, max: u32::MAX })?;
    Ok(n.to_le_bytes())
}

fn put_bytes(out: &mut Vec<u8>, what: &'static str, bytes: &[u8]) -> Result<(), StorageError> {
    out.extend_from_slice(&prefix(what, bytes.len())?);
    out.extend_from_slice(bytes);
    Ok(())
}

impl Section {
    fn encode(&self) -> Result<Vec<u8>, StorageError> {
        let mut out = Vec::new();
        out.extend_from_slice(&prefix("a key group's number of state entries", self.entries.len())?);
        for (k, v) in &self.entries {
            put_bytes(&mut out, "a state entry's key length", k)?;
            put_bytes(&mut out, "a state entry's value length", v)?;
        }
        out.extend_from_slice(&prefix("a key group's number of timers", self.timers.len())?);
        for t in &self.timers {
            out.push(matches!(t.domain, TimeDomain::ProcessingTime) as u8);
            out.extend_from_slice(&t.time.to_le_bytes());
            put_bytes(&mut out, "a timer's key length", &t.key)?;
            put_bytes(&mut out, "a timer's namespace length", &t.namespace)?;
        }
        Ok(out)
    }

    fn decode(bytes: &[u8]) -> Option<Section> {
        let mut r = Reader { bytes, at: 0 };
        let mut section = Section::default();
        for _ in 0..r.u32()? {
            section.entries.push((r.bytes()?.to_vec(), r.bytes()?.to_vec()));
        }
        for _ in 0..r.u32()? {
            let domain = if r.take(1)?[0] == 1 { TimeDomain::ProcessingTime } else { TimeDomain::EventTime };
            let time = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
            let key = r.bytes()?.to_vec();
            let namespace = r.bytes()?.to_vec();
            section.timers.push(FiredTimer { key, namespace, time, domain });
        }
        (r.at == bytes.len()).then_some(section)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let slice = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
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
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = state_file_name(uid, subtask);
    let path = dir.join(&name);
    let mut file = File::create(&path).map_err(io(&path))?;
    let mut handle = KeyedStateHandle { file: name, range: Some(range), sections: Vec::new() };
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

/// Reads the sections of `handle` whose key groups lie in `range`.
pub fn read_keyed_state(
    dir: &Path,
    handle: &KeyedStateHandle,
    range: KeyGroupRange,
) -> Result<Vec<(u16, Section)>, StorageError> {
    let wanted: Vec<&(u16, u64, u64)> = handle.sections.iter().filter(|(kg, _, _)| range.contains(*kg)).collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let path = dir.join(&handle.file);
    let mut file = File::open(&path).map_err(io(&path))?;
    let mut out = Vec::new();
    for (kg, offset, len) in wanted {
        let len = usize::try_from(*len).map_err(|_| StorageError::Corrupt {
            path: path.display().to_string(),
            reason: format!("key group {kg}'s section of {len} bytes does not fit in memory"),
        })?;
        let mut bytes = vec![0u8; len];
        file.seek(SeekFrom::Start(*offset)).map_err(io(&path))?;
        file.read_exact(&mut bytes).map_err(io(&path))?;
        let section = Section::decode(&bytes).ok_or_else(|| StorageError::Corrupt {
            path: path.display().to_string(),
            reason: format!("key group {kg} does not decode"),
        })?;
        out.push((*kg, section));
    }
    Ok(out)
}

/// Writes `_metadata` into `dir`, atomically: the checkpoint exists once the rename is done.
/// Returns its size in bytes.
pub fn write_metadata(dir: &Path, metadata: &CheckpointMetadata) -> Result<u64, StorageError> {
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

/// A path as users write it (`file:/tmp/x`, `file:///tmp/x`, `/tmp/x`), as a file-system path.
pub fn local_path(path: &str) -> PathBuf {
    let p = path.strip_prefix("file://").or_else(|| path.strip_prefix("file:")).unwrap_or(path);
    PathBuf::from(p)
}

/// The URI Flink prints for a checkpoint or savepoint directory (`file:/tmp/...`).
pub fn uri(dir: &Path) -> String {
    format!("file:{}", dir.display())
}

/// Loads a savepoint or checkpoint given as its directory or its `_metadata` file, checking
/// that every state file it names is there and long enough.
pub fn load(path: &str) -> Result<RestorePoint, StorageError> {
    let given = local_path(path);
    let (dir, file) = if given.file_name().is_some_and(|n| n == METADATA) {
        (given.parent().map(Path::to_path_buf).unwrap_or_default(), given.clone())
    } else {
        (given.clone(), given.join(METADATA))
    };
    if !file.is_file() {
        return Err(StorageError::Missing(path.to_string()));
    }
    let bytes = std::fs::read(&file).map_err(io(&file))?;
    let corrupt = |reason: String| StorageError::Corrupt { path: file.display().to_string(), reason };
    let metadata: CheckpointMetadata = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if metadata.format != METADATA_FORMAT {
        return Err(corrupt(format!("unknown format '{}'", metadata.format)));
    }
    for (uid, op) in &metadata.operators {
        for s in &op.subtasks {
            let Some(handle) = &s.keyed else { continue };
            let needed = handle.sections.iter().map(|(_, o, l)| o + l).max().unwrap_or(0);
            let state = dir.join(&handle.file);
            let len = std::fs::metadata(&state).map(|m| m.len()).map_err(|_| {
                corrupt(format!("the state of operator '{uid}' subtask {} ({}) is missing", s.subtask, handle.file))
            })?;
            if len < needed {
                return Err(corrupt(format!("the state file {} is truncated", handle.file)));
            }
        }
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
    std::fs::remove_dir_all(&point.directory).map_err(io(&point.directory))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{BarrierKind, OperatorSnapshot, SubtaskSnapshot};

    #[test]
    fn keyed_state_round_trips_by_key_group() {
        let dir = tempfile::tempdir().unwrap();
        let timer =
            FiredTimer { key: b"/help".to_vec(), namespace: vec![0; 8], time: 14_999, domain: TimeDomain::EventTime };
        let sections = vec![
            (3u16, Section { entries: vec![(b"k3".to_vec(), b"v3".to_vec())], timers: vec![] }),
            (70u16, Section { entries: vec![(b"k70".to_vec(), b"v".to_vec())], timers: vec![timer.clone()] }),
        ];
        let range = KeyGroupRange { start: 0, end: 127 };
        let (handle, size) = write_keyed_state(dir.path(), "click-event-counter", 0, range, &sections).unwrap();
        assert!(size > 0);
        let upper = read_keyed_state(dir.path(), &handle, KeyGroupRange { start: 64, end: 127 }).unwrap();
        assert_eq!(upper.len(), 1);
        assert_eq!(upper[0].1.timers, vec![timer]);
        assert_eq!(read_keyed_state(dir.path(), &handle, range).unwrap().len(), 2);

        let metadata = CheckpointMetadata {
            format: METADATA_FORMAT.into(),
            job_id: "0123456789abcdef0123456789abcdef".into(),
            job_name: "j".into(),
            checkpoint_id: 7,
            timestamp: 1,
            kind: BarrierKind::Savepoint,
            max_parallelism: 128,
            operators: [(
                "click-event-counter".to_string(),
                OperatorSnapshot {
                    parallelism: 1,
                    subtasks: vec![SubtaskSnapshot { subtask: 0, keyed: Some(handle), size, ..Default::default() }],
                },
            )]
            .into(),
        };
        write_metadata(dir.path(), &metadata).unwrap();
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

    #[test]
    fn savepoint_names_follow_flink() {
        let name = savepoint_name("5e20cb6b0f357591171dfcca2eea09de");
        assert!(name.starts_with("savepoint-5e20cb-") && name.len() == "savepoint-5e20cb-".len() + 12, "{name}");
    }
}
