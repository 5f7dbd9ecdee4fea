//! The process's log files (Flink's `log/` directory): a size-rotating writer keeps the log in
//! at most `max_files` files of `max_size` bytes each, and the REST API lists them and reads one
//! back by name — the JobManager's directly, a TaskManager's through the control channel.
//!
//! A name is served only if it is one of the names this process's listing gives (its own log
//! file or a rotated one): a name with a path, `..` or anything else is unknown, so nothing
//! outside the log directory can be read.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

/// The most a single read of a log file returns: larger files are served from `start` in parts
/// (the web UI follows a log that way), so neither an answer nor an RPC message grows unbounded.
pub const MAX_READ: u64 = 8 << 20;

/// One log file, as Flink's `LogInfo`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogFile {
    /// Its file name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written (ms since the epoch).
    pub mtime: i64,
}

/// Part of a log file: the bytes from `start`, and how large the file is now.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogPart {
    /// Where the text starts in the file.
    pub start: u64,
    /// The file's size when read.
    pub size: u64,
    /// The text (invalid UTF-8 replaced).
    pub text: String,
}

/// Why a log file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// No log file of this process has that name.
    #[error("the log file {0} does not exist")]
    NotFound(String),
    /// This process keeps no log files (they are written only by the `weir` command).
    #[error("this process keeps no log files")]
    NoLogs,
    /// The file could not be read.
    #[error("reading the log file: {0}")]
    Io(#[from] std::io::Error),
}

/// Where a process's log files are and how they rotate.
#[derive(Clone, Debug)]
pub struct LogFiles {
    /// The directory (`env.log.dir`).
    pub dir: PathBuf,
    /// The current file's name; rotated files are `<base>.1` (the newest) to `<base>.<n>`.
    pub base: String,
    /// A file is rotated before it grows beyond this many bytes.
    pub max_size: u64,
    /// At most this many rotated files are kept besides the current one (`env.log.max`).
    pub max_files: u32,
}

impl LogFiles {
    /// The current log file.
    pub fn current(&self) -> PathBuf {
        self.dir.join(&self.base)
    }

    fn rotated(&self, n: u32) -> PathBuf {
        self.dir.join(format!("{}.{n}", self.base))
    }

    /// Whether `name` is one of this process's log file names (the current or a rotated one).
    fn owns(&self, name: &str) -> bool {
        match name.strip_prefix(self.base.as_str()) {
            Some("") => true,
            Some(rest) => rest
                .strip_prefix('.')
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n >= 1 && n <= self.max_files && rest == format!(".{n}")),
            None => false,
        }
    }

    /// This process's log files, current first, with their sizes and modification times.
    pub fn list(&self) -> Vec<LogFile> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut files: Vec<LogFile> = entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                // Only regular files (not symbolic links) of this process's names.
                let meta = std::fs::symlink_metadata(entry.path()).ok().filter(|m| m.is_file())?;
                self.owns(&name).then(|| LogFile { name, size: meta.len(), mtime: mtime_ms(&meta) })
            })
            .collect();
        files.sort_by_key(|f| (f.name.len(), f.name.clone()));
        files
    }

    /// Reads log file `name` from byte `start` (at most [`MAX_READ`] bytes). `name` must be one
    /// [`LogFiles::list`] gives; anything else is [`LogError::NotFound`].
    pub fn read(&self, name: &str, start: u64) -> Result<LogPart, LogError> {
        if !self.list().iter().any(|f| f.name == name) {
            return Err(LogError::NotFound(name.to_string()));
        }
        let mut file = File::open(self.dir.join(name))?;
        let size = file.metadata()?.len();
        let start = start.min(size);
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.take(MAX_READ).read_to_end(&mut bytes)?;
        Ok(LogPart { start, size, text: String::from_utf8_lossy(&bytes).into_owned() })
    }
}

fn mtime_ms(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

/// The open log file, rotated when the next line would take it beyond its size.
struct Rotating {
    files: LogFiles,
    file: File,
    written: u64,
}

impl Rotating {
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        // `<base>.<max>` falls off; every other moves one up; the current becomes `<base>.1`.
        let _ = std::fs::remove_file(self.files.rotated(self.files.max_files));
        for n in (1..self.files.max_files).rev() {
            let from = self.files.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.files.rotated(n + 1))?;
            }
        }
        if self.files.max_files > 0 {
            std::fs::rename(self.files.current(), self.files.rotated(1))?;
        }
        self.file = File::create(self.files.current())?;
        self.written = 0;
        Ok(())
    }

    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let len = line.len() as u64;
        if self.written > 0 && self.written.saturating_add(len) > self.files.max_size {
            self.rotate()?;
        }
        self.file.write_all(line)?;
        self.written = self.written.saturating_add(len);
        Ok(())
    }
}

static LOG: OnceLock<(LogFiles, Mutex<Rotating>)> = OnceLock::new();

/// Starts writing this process's log into `files` (once per process; later calls change
/// nothing). An existing file of the same name is rotated away first.
pub fn install(files: LogFiles) -> std::io::Result<()> {
    if LOG.get().is_some() {
        return Ok(());
    }
    std::fs::create_dir_all(&files.dir)?;
    let file = std::fs::OpenOptions::new().create(true).append(true).open(files.current())?;
    let written = file.metadata()?.len();
    let mut rotating = Rotating { files: files.clone(), file, written };
    if written > 0 {
        rotating.rotate()?;
    }
    let _ = LOG.set((files, Mutex::new(rotating)));
    Ok(())
}

/// This process's log files, once [`install`]ed.
pub fn current() -> Option<&'static LogFiles> {
    LOG.get().map(|(files, _)| files)
}

/// Lists this process's log files (none before [`install`]).
pub fn list() -> Vec<LogFile> {
    current().map(LogFiles::list).unwrap_or_default()
}

/// Reads one of this process's log files by name, from byte `start`.
pub fn read(name: &str, start: u64) -> Result<LogPart, LogError> {
    current().ok_or(LogError::NoLogs)?.read(name, start)
}

/// A writer of log lines into this process's log file (a no-op before [`install`]): hand one to
/// the logging framework per event. A failed write is dropped, as a logger must not fail its
/// caller.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some((_, rotating)) = LOG.get() {
            let _ = rotating.lock().unwrap_or_else(|e| e.into_inner()).write_line(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_rotate_within_their_bound_and_only_their_names_are_served() {
        let dir = tempfile::tempdir().unwrap();
        let files = LogFiles {
            dir: dir.path().to_path_buf(),
            base: "weir-taskmanager-1.log".into(),
            max_size: 100,
            max_files: 2,
        };
        std::fs::write(dir.path().join("secret"), "not a log").unwrap();
        let file = File::create(files.current()).unwrap();
        let mut rotating = Rotating { files: files.clone(), file, written: 0 };
        for i in 0..40 {
            rotating.write_line(format!("line {i:03} of the log\n").as_bytes()).unwrap();
        }
        let listed = files.list();
        let names: Vec<&str> = listed.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["weir-taskmanager-1.log", "weir-taskmanager-1.log.1", "weir-taskmanager-1.log.2"]);
        assert!(listed.iter().all(|f| f.size <= 100), "{listed:?}");
        let newest = files.read("weir-taskmanager-1.log", 0).unwrap();
        assert!(newest.text.ends_with("line 039 of the log\n"), "{}", newest.text);
        assert_eq!(files.read("weir-taskmanager-1.log", 22).unwrap().text, newest.text[22..]);
        for name in ["secret", "../secret", "weir-taskmanager-1.log.3", "weir-taskmanager-1.log.01", "/etc/passwd", ""]
        {
            assert!(matches!(files.read(name, 0), Err(LogError::NotFound(_))), "{name}");
        }
    }
}
