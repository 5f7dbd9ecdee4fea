//! Incremental checkpoints: a subtask's keyed state as a chain of files (Flink's shared state of
//! RocksDB incremental checkpoints).
//!
//! ```text
//! <checkpoint dir>/<job id>/shared/chk<n>-<random>-<uid>-<subtask>.delta   what changed up to n
//! <checkpoint dir>/<job id>/shared/chk<n>-<random>-<uid>-<subtask>.full    a compacted chain
//! <checkpoint dir>/<job id>/chk-<n>/_metadata                             names the chains
//! ```
//!
//! A checkpoint writes only the changes since the subtask's previous one, as a `.delta` file in
//! the job's `shared/` directory, and its `_metadata` names the subtask's whole chain: a full file
//! (or none) and the deltas after it, each as a [`StateFile`] whose path is relative to the
//! checkpoint's directory (`../shared/<name>`). Files are shared by the checkpoints that name
//! them; the JobManager deletes a shared file once no retained checkpoint names it
//! ([`sweep_shared`]). A chain that grows too long or too large is merged into one full file in
//! the background ([`write_merged`]), so a restore reads a bounded chain.
//!
//! Savepoints stay self-contained: a canonical savepoint is one merged full file per subtask in
//! the savepoint's directory (the format of [`super::storage`]), a native one the chain's files
//! copied there.
//!
//! A `.delta` file has one section per key group that changed: the entries written (storage
//! key and value), the keys removed, the timers registered and the timers removed, each a
//! little-endian u32 count followed by length-prefixed parts, checked against the section's
//! bytes as it decodes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::storage::{Section, StorageError, is_plain_file_name};
use crate::filesystem::{self, FileSystem, LocalFileSystem};
use crate::framing::{self, Framing, FramingError, Prefix};
use crate::keygroup::KeyGroupRange;
use crate::timer::{FiredTimer, TimeDomain};

/// The directory of a job's shared state files, beside its checkpoints' directories.
pub const SHARED: &str = "shared";

/// A state file's sections: (key group, offset, length), in key-group order.
pub type Sections = Vec<(u16, u64, u64)>;

/// One state file of a subtask's chain, as `_metadata` names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// Its path relative to the checkpoint's directory: a plain file name (in the directory
    /// itself), or `../shared/<plain file name>` (a checkpoint's shared file).
    pub path: String,
    /// Whether it holds changes (a `.delta`) rather than every entry of its key groups.
    #[serde(default)]
    pub delta: bool,
    /// Each key group's section: (key group, offset, length).
    pub sections: Vec<(u16, u64, u64)>,
    /// The file's size in bytes.
    pub size: u64,
}

impl StateFile {
    /// The file's name without its directory.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// Whether the file is in the job's `shared/` directory rather than in the checkpoint's own.
    pub fn is_shared(&self) -> bool {
        self.path.starts_with("../shared/")
    }

    /// Where the file is, for a checkpoint in `dir`; `None` if its path is neither a plain file
    /// name nor `../shared/<plain file name>` (or is shared and `allow_shared` is false).
    pub fn resolve(&self, dir: &Path, allow_shared: bool) -> Option<PathBuf> {
        if is_plain_file_name(&self.path) {
            return Some(dir.join(&self.path));
        }
        let name = self.path.strip_prefix("../shared/")?;
        (allow_shared && is_plain_file_name(name)).then(|| shared_directory(dir).join(name))
    }
}

/// The job's `shared/` directory of the checkpoint in `dir` (`<job dir>/chk-<n>`).
pub fn shared_directory(checkpoint: &Path) -> PathBuf {
    checkpoint.parent().unwrap_or(Path::new("")).join(SHARED)
}

/// A file of a chain, located: where it is and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// The file's path (local, or an object store's URI).
    pub path: PathBuf,
    /// Whether it holds changes.
    pub delta: bool,
    /// Its sections: (key group, offset, length).
    pub sections: Vec<(u16, u64, u64)>,
    /// Its size in bytes.
    pub size: u64,
}

impl Layer {
    /// The section of key group `kg`, if the file has one.
    fn section(&self, kg: u16) -> Option<(u64, u64)> {
        // Sections are written in key-group order.
        let i = self.sections.binary_search_by_key(&kg, |s| s.0).ok()?;
        Some((self.sections[i].1, self.sections[i].2))
    }
}

/// What changed in one key group since the previous snapshot.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DeltaSection {
    /// Entries written: (storage key, value).
    pub written: Vec<(Vec<u8>, Vec<u8>)>,
    /// Storage keys removed.
    pub removed: Vec<Vec<u8>>,
    /// Timers registered.
    pub timers_registered: Vec<FiredTimer>,
    /// Timers removed (fired or deleted).
    pub timers_removed: Vec<FiredTimer>,
}

const COUNT: Framing = Framing::new("a delta section's count", Prefix::U32Le, usize::MAX);
const BYTES: Framing = Framing::new("a delta section's key, value or namespace", Prefix::U32Le, usize::MAX);
/// The fewest bytes a removed key takes (an empty one).
const MIN_KEY: usize = 4;
/// The fewest bytes an entry takes.
const MIN_ENTRY: usize = 8;
/// The fewest bytes a timer takes: its domain, its time, an empty key and namespace.
const MIN_TIMER: usize = 1 + 8 + 4 + 4;

fn put_timer(out: &mut Vec<u8>, t: &FiredTimer) -> Result<(), FramingError> {
    out.push(matches!(t.domain, TimeDomain::ProcessingTime) as u8);
    out.extend_from_slice(&t.time.to_le_bytes());
    BYTES.put(out, &t.key)?;
    BYTES.put(out, &t.namespace)
}

fn take_timer(input: &mut &[u8]) -> Result<FiredTimer, FramingError> {
    let [domain] = framing::take_array(input, "a timer's time domain")?;
    let domain = if domain == 1 { TimeDomain::ProcessingTime } else { TimeDomain::EventTime };
    let time = i64::from_le_bytes(framing::take_array(input, "a timer's time")?);
    let key = BYTES.split(input)?.to_vec();
    let namespace = BYTES.split(input)?.to_vec();
    Ok(FiredTimer { key, namespace, time, domain })
}

impl DeltaSection {
    /// True if nothing changed.
    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
            && self.removed.is_empty()
            && self.timers_registered.is_empty()
            && self.timers_removed.is_empty()
    }

    fn encode(&self) -> Result<Vec<u8>, FramingError> {
        let mut out = Vec::new();
        out.extend_from_slice(COUNT.header(self.written.len())?.as_bytes());
        for (k, v) in &self.written {
            BYTES.put(&mut out, k)?;
            BYTES.put(&mut out, v)?;
        }
        out.extend_from_slice(COUNT.header(self.removed.len())?.as_bytes());
        for k in &self.removed {
            BYTES.put(&mut out, k)?;
        }
        for timers in [&self.timers_registered, &self.timers_removed] {
            out.extend_from_slice(COUNT.header(timers.len())?.as_bytes());
            for t in timers {
                put_timer(&mut out, t)?;
            }
        }
        Ok(out)
    }

    fn decode(bytes: &[u8]) -> Result<DeltaSection, String> {
        let mut input = bytes;
        let section = Self::decode_from(&mut input).map_err(|e| e.to_string())?;
        if !input.is_empty() {
            return Err(format!("{} bytes follow its last timer", input.len()));
        }
        Ok(section)
    }

    fn decode_from(input: &mut &[u8]) -> Result<DeltaSection, FramingError> {
        let mut section = DeltaSection::default();
        for _ in 0..COUNT.count(input, MIN_ENTRY)? {
            let key = BYTES.split(input)?.to_vec();
            section.written.push((key, BYTES.split(input)?.to_vec()));
        }
        for _ in 0..COUNT.count(input, MIN_KEY)? {
            section.removed.push(BYTES.split(input)?.to_vec());
        }
        for _ in 0..COUNT.count(input, MIN_TIMER)? {
            section.timers_registered.push(take_timer(input)?);
        }
        for _ in 0..COUNT.count(input, MIN_TIMER)? {
            section.timers_removed.push(take_timer(input)?);
        }
        Ok(section)
    }
}

/// The file system of `path`: an object store's, or the local one.
fn file_system(path: &Path) -> Result<Arc<dyn FileSystem>, StorageError> {
    Ok(filesystem::remote(&path.to_string_lossy())?.unwrap_or_else(|| Arc::new(LocalFileSystem)))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io { path: path.to_path_buf(), source }
}

/// A state file being written, a section at a time: streamed to a local file (renamed into
/// place when done), or gathered for one PUT to an object store.
enum Sink {
    Local { file: BufWriter<File>, tmp: PathBuf },
    Remote { fs: Arc<dyn FileSystem>, bytes: Vec<u8> },
}

/// Writes a state file section by section.
pub struct StateFileWriter {
    path: PathBuf,
    sink: Sink,
    offset: u64,
    sections: Vec<(u16, u64, u64)>,
}

impl StateFileWriter {
    /// Starts the file at `path`. Its directory must exist: only the JobManager creates one, so a
    /// task never recreates a directory that was given up.
    pub fn create(path: PathBuf) -> Result<Self, StorageError> {
        let sink = match filesystem::remote(&path.to_string_lossy())? {
            Some(fs) => Sink::Remote { fs, bytes: Vec::new() },
            None => {
                let mut tmp = path.clone().into_os_string();
                tmp.push(".inprogress");
                let tmp = PathBuf::from(tmp);
                let file = File::create(&tmp).map_err(io_error(&tmp))?;
                Sink::Local { file: BufWriter::with_capacity(1 << 20, file), tmp }
            }
        };
        Ok(StateFileWriter { path, sink, offset: 0, sections: Vec::new() })
    }

    /// Appends key group `kg`'s encoded section.
    fn append(&mut self, kg: u16, bytes: &[u8]) -> Result<(), StorageError> {
        match &mut self.sink {
            Sink::Local { file, .. } => file.write_all(bytes).map_err(io_error(&self.path))?,
            Sink::Remote { bytes: out, .. } => out.extend_from_slice(bytes),
        }
        self.sections.push((kg, self.offset, bytes.len() as u64));
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Appends a full section (every entry and timer of key group `kg`).
    pub fn full_section(&mut self, kg: u16, section: &Section) -> Result<(), StorageError> {
        if section.entries.is_empty() && section.timers.is_empty() {
            return Ok(());
        }
        let bytes = section.encode()?;
        self.append(kg, &bytes)
    }

    /// Appends a delta section (what changed in key group `kg`).
    pub fn delta_section(&mut self, kg: u16, section: &DeltaSection) -> Result<(), StorageError> {
        if section.is_empty() {
            return Ok(());
        }
        let bytes = section.encode()?;
        self.append(kg, &bytes)
    }

    /// Finishes the file: synced and in place. Returns its sections and size.
    pub fn finish(self) -> Result<(Sections, u64), StorageError> {
        match self.sink {
            Sink::Local { file, tmp } => {
                let file = file.into_inner().map_err(|e| io_error(&self.path)(e.into_error()))?;
                file.sync_all().map_err(io_error(&self.path))?;
                std::fs::rename(&tmp, &self.path).map_err(io_error(&self.path))?;
            }
            Sink::Remote { fs, bytes } => {
                fs.write(&self.path.to_string_lossy(), &bytes).map_err(io_error(&self.path))?;
            }
        }
        Ok((self.sections, self.offset))
    }
}

/// Reads `length` bytes at `offset` of the layer's file, checked to lie within the file as
/// `_metadata` gave its size.
fn read_section(layer: &Layer, kg: u16, offset: u64, length: u64) -> Result<Vec<u8>, StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt { path: layer.path.display().to_string(), reason };
    if offset.checked_add(length).is_none_or(|end| end > layer.size) {
        return Err(corrupt(format!(
            "key group {kg}'s section at offset {offset} with length {length} lies beyond its {} bytes",
            layer.size
        )));
    }
    let fs = file_system(&layer.path)?;
    let bytes = fs.read_range(&layer.path.to_string_lossy(), offset, length).map_err(io_error(&layer.path))?;
    if bytes.len() as u64 != length {
        return Err(corrupt(format!("key group {kg}'s section of {length} bytes is truncated")));
    }
    Ok(bytes)
}

/// Key group `kg`'s state as the chain `layers` leaves it: each full file's entries and timers,
/// then each delta's changes in order. Only this key group is held in memory.
pub fn merge_key_group(layers: &[Layer], kg: u16) -> Result<Section, StorageError> {
    // One full file holds the key group's state as it is (the usual case after a merge).
    let mut holding = layers.iter().filter(|l| l.section(kg).is_some());
    if let (Some(only), None) = (holding.next(), holding.next())
        && !only.delta
        && let Some((offset, length)) = only.section(kg)
    {
        let bytes = read_section(only, kg, offset, length)?;
        return Section::decode(&bytes).map_err(|reason| StorageError::Corrupt {
            path: only.path.display().to_string(),
            reason: format!("key group {kg} does not decode: {reason}"),
        });
    }
    let mut entries: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut timers: BTreeSet<(bool, i64, Vec<u8>, Vec<u8>)> = BTreeSet::new();
    let timer_key = |t: FiredTimer| (t.domain == TimeDomain::ProcessingTime, t.time, t.key, t.namespace);
    for layer in layers {
        let Some((offset, length)) = layer.section(kg) else { continue };
        let bytes = read_section(layer, kg, offset, length)?;
        let corrupt = |reason: String| StorageError::Corrupt {
            path: layer.path.display().to_string(),
            reason: format!("key group {kg} does not decode: {reason}"),
        };
        if layer.delta {
            let delta = DeltaSection::decode(&bytes).map_err(corrupt)?;
            for (k, v) in delta.written {
                entries.insert(k, v);
            }
            for k in delta.removed {
                entries.remove(&k);
            }
            for t in delta.timers_registered {
                timers.insert(timer_key(t));
            }
            for t in delta.timers_removed {
                timers.remove(&timer_key(t));
            }
        } else {
            let full = Section::decode(&bytes).map_err(corrupt)?;
            entries.extend(full.entries);
            timers.extend(full.timers.into_iter().map(timer_key));
        }
    }
    let timers = timers
        .into_iter()
        .map(|(processing, time, key, namespace)| FiredTimer {
            key,
            namespace,
            time,
            domain: if processing { TimeDomain::ProcessingTime } else { TimeDomain::EventTime },
        })
        .collect();
    Ok(Section { entries: entries.into_iter().collect(), timers })
}

/// The key groups of `range` that any of `layers` has a section for, in order.
pub fn key_groups(layers: &[Layer], range: KeyGroupRange) -> Vec<u16> {
    let groups: BTreeSet<u16> =
        layers.iter().flat_map(|l| l.sections.iter().map(|s| s.0)).filter(|kg| range.contains(*kg)).collect();
    groups.into_iter().collect()
}

/// Merges the chain `layers` over `range` into one full file at `path`, a key group at a time;
/// `abandon` is asked between key groups and stops the merge (the file is removed). Returns the
/// file's sections and size.
pub fn write_merged(
    layers: &[Layer],
    range: KeyGroupRange,
    path: PathBuf,
    abandon: &dyn Fn() -> bool,
) -> Result<Option<(Sections, u64)>, StorageError> {
    let mut writer = StateFileWriter::create(path.clone())?;
    for kg in key_groups(layers, range) {
        if abandon() {
            drop(writer);
            let _ = delete_file(&path);
            return Ok(None);
        }
        writer.full_section(kg, &merge_key_group(layers, kg)?)?;
    }
    writer.finish().map(Some)
}

/// Copies the file of `layer` to `to` (a native savepoint's own copy).
pub fn copy_file(layer: &Layer, to: &Path) -> Result<(), StorageError> {
    match (filesystem::remote(&layer.path.to_string_lossy())?, filesystem::remote(&to.to_string_lossy())?) {
        (None, None) => {
            std::fs::copy(&layer.path, to).map_err(io_error(to))?;
            Ok(())
        }
        _ => {
            let from = file_system(&layer.path)?;
            let bytes = from.read_range(&layer.path.to_string_lossy(), 0, layer.size).map_err(io_error(&layer.path))?;
            file_system(to)?.write(&to.to_string_lossy(), &bytes).map_err(io_error(to))
        }
    }
}

/// Deletes one state file; nothing there is not an error.
pub fn delete_file(path: &Path) -> Result<(), StorageError> {
    file_system(path)?.delete(&path.to_string_lossy()).map_err(io_error(path))
}

/// A new shared file's name for operator `uid`'s subtask at checkpoint `checkpoint`:
/// `chk<n>-<8 hex>-<uid>-<subtask>.<ext>`, the checkpoint first so a sweep can tell old from new.
pub fn shared_file_name(checkpoint: u64, uid: &str, subtask: u32, ext: &str) -> String {
    let safe: String = uid
        .chars()
        .take(100)
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("chk{checkpoint}-{}-{safe}-{subtask}.{ext}", hex::encode(rand::random::<[u8; 4]>()))
}

/// The checkpoint a shared file was written for, from its name.
fn checkpoint_of(name: &str) -> Option<u64> {
    name.strip_prefix("chk")?.split('-').next()?.parse().ok()
}

/// Which unnamed files of a job's `shared/` directory a sweep deletes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sweep<'a> {
    /// After checkpoint `latest` completed: the files the checkpoint it replaced named, and
    /// deltas written for checkpoints before `latest` (by a task attempt that failed: a live
    /// task's deltas are all in its chain). A merge a task is still writing is left alone.
    Completed {
        /// The id of the checkpoint that completed.
        latest: u64,
        /// The file names the replaced checkpoint named.
        replaced: &'a BTreeSet<String>,
    },
    /// With no task running (a JobManager starting): every file written for a checkpoint
    /// before `latest`, leftovers of a crash included.
    Start {
        /// The id of the checkpoint the job resumes from.
        latest: u64,
    },
}

/// Deletes the files of `shared` that `keep` (the latest checkpoint's file names) does not name
/// and `sweep` says may go. Returns how many were deleted.
pub fn sweep_shared(shared: &Path, keep: &BTreeSet<String>, sweep: Sweep<'_>) -> Result<usize, StorageError> {
    let fs = file_system(shared)?;
    let mut deleted = 0;
    for name in fs.list(&shared.to_string_lossy()).map_err(io_error(shared))? {
        if name.contains('/') || keep.contains(&name) {
            continue;
        }
        let Some(written_for) = checkpoint_of(&name) else { continue };
        let goes = match sweep {
            Sweep::Completed { latest, replaced } => {
                replaced.contains(&name) || (name.ends_with(".delta") && written_for < latest)
            }
            Sweep::Start { latest } => written_for < latest,
        };
        if goes {
            let path = shared.join(&name);
            fs.delete(&path.to_string_lossy()).map_err(io_error(&path))?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(key: &[u8], time: i64) -> FiredTimer {
        FiredTimer { key: key.to_vec(), namespace: vec![], time, domain: TimeDomain::EventTime }
    }

    fn layer(path: PathBuf, delta: bool, (sections, size): (Vec<(u16, u64, u64)>, u64)) -> Layer {
        Layer { path, delta, sections, size }
    }

    #[test]
    fn a_chain_merges_to_the_state_it_describes() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("a.full");
        let mut w = StateFileWriter::create(full.clone()).unwrap();
        let base = Section {
            entries: vec![(b"\0\x03a".to_vec(), b"1".to_vec()), (b"\0\x03b".to_vec(), b"2".to_vec())],
            timers: vec![timer(b"a", 10)],
        };
        w.full_section(3, &base).unwrap();
        let full = layer(full, false, w.finish().unwrap());
        let delta = dir.path().join("b.delta");
        let mut w = StateFileWriter::create(delta.clone()).unwrap();
        let change = DeltaSection {
            written: vec![(b"\0\x03c".to_vec(), b"3".to_vec()), (b"\0\x03a".to_vec(), b"9".to_vec())],
            removed: vec![b"\0\x03b".to_vec()],
            timers_registered: vec![timer(b"c", 20)],
            timers_removed: vec![timer(b"a", 10)],
        };
        w.delta_section(3, &change).unwrap();
        w.delta_section(5, &DeltaSection { written: vec![(b"\0\x05z".to_vec(), vec![])], ..Default::default() })
            .unwrap();
        let delta = layer(delta, true, w.finish().unwrap());
        let chain = [full, delta];
        let merged = merge_key_group(&chain, 3).unwrap();
        assert_eq!(merged.entries, vec![(b"\0\x03a".to_vec(), b"9".to_vec()), (b"\0\x03c".to_vec(), b"3".to_vec())]);
        assert_eq!(merged.timers, vec![timer(b"c", 20)]);
        assert_eq!(key_groups(&chain, KeyGroupRange { start: 0, end: 4 }), vec![3]);

        let out = dir.path().join("merged.full");
        let (sections, size) =
            write_merged(&chain, KeyGroupRange { start: 0, end: 127 }, out.clone(), &|| false).unwrap().unwrap();
        let merged = [layer(out, false, (sections, size))];
        assert_eq!(merge_key_group(&merged, 3).unwrap(), merge_key_group(&chain, 3).unwrap());
        assert_eq!(merge_key_group(&merged, 5).unwrap().entries.len(), 1);
        // Abandoned: no file is left.
        let abandoned = dir.path().join("abandoned.full");
        assert!(
            write_merged(&chain, KeyGroupRange { start: 0, end: 127 }, abandoned.clone(), &|| true).unwrap().is_none()
        );
        assert!(!abandoned.exists());
    }

    #[test]
    fn paths_resolve_only_inside_the_checkpoint_or_its_shared_directory() {
        let dir = Path::new("/cp/job/chk-3");
        let file = |path: &str| StateFile { path: path.into(), delta: true, sections: vec![], size: 0 };
        assert_eq!(file("a.delta").resolve(dir, false), Some(PathBuf::from("/cp/job/chk-3/a.delta")));
        assert_eq!(file("../shared/a.delta").resolve(dir, true), Some(PathBuf::from("/cp/job/shared/a.delta")));
        assert_eq!(file("../shared/a.delta").resolve(dir, false), None, "a savepoint is self-contained");
        for bad in ["../a", "../shared/../x", "/etc/passwd", "../shared/", "../other/a", "a/b"] {
            assert_eq!(file(bad).resolve(dir, true), None, "{bad}");
        }
    }

    #[test]
    fn a_sweep_keeps_what_is_named_and_what_is_newer() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["chk1-aa-op-0.delta", "chk2-bb-op-0.delta", "chk3-cc-op-0.delta", "chk4-dd-op-0.delta", "other"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::write(dir.path().join("chk1-ee-op-0.full"), b"x").unwrap();
        std::fs::write(dir.path().join("chk2-ff-op-0.full"), b"x").unwrap();
        let keep: BTreeSet<String> = ["chk1-aa-op-0.delta".to_string()].into();
        let replaced: BTreeSet<String> = ["chk1-ee-op-0.full".to_string()].into();
        let left = || {
            let mut left: Vec<String> =
                std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            left.sort();
            left
        };
        // chk2's delta is a failed attempt's, chk1's full was replaced; chk2's full may be a
        // merge being written, chk3 and chk4 may be written now.
        assert_eq!(sweep_shared(dir.path(), &keep, Sweep::Completed { latest: 3, replaced: &replaced }).unwrap(), 2);
        assert_eq!(
            left(),
            ["chk1-aa-op-0.delta", "chk2-ff-op-0.full", "chk3-cc-op-0.delta", "chk4-dd-op-0.delta", "other"]
        );
        assert_eq!(sweep_shared(dir.path(), &keep, Sweep::Start { latest: 3 }).unwrap(), 1);
        assert_eq!(left(), ["chk1-aa-op-0.delta", "chk3-cc-op-0.delta", "chk4-dd-op-0.delta", "other"]);
    }
}
