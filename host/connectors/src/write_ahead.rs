//! A sink's write-ahead log: the records a sink subtask received, held by checkpoint epoch until
//! the checkpoint that closed the epoch completes (Flink's `GenericWriteAheadSink`).
//!
//! Records arriving between barrier `n - 1` and barrier `n` form epoch `n`. At barrier `n` the
//! epoch is sealed and written into the checkpoint with the epochs still held before it; when
//! checkpoint `n` completes, the sink publishes every sealed epoch up to `n`. What a failed
//! attempt received after its last completed checkpoint is never published: the restored job
//! produces it again, in whatever order, and only then is it published. So the guarantee holds
//! for any job, deterministic or not.
//!
//! Held records stay in memory up to a bound shared by all of a subtask's epochs; past it the
//! open epoch spills to a temporary file in the spill directory (deleted when the epoch is
//! published or the writer goes). An epoch's bytes are a sequence of `[u32 length, batch]`, each
//! batch in the frame format as it reached the sink, so an epoch is read back one batch at a time.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::ConnectorError;

/// How much a subtask's held records may take in memory before the open epoch spills to disk.
pub const DEFAULT_MEMORY_LIMIT: usize = 64 << 20;

/// The largest batch an epoch's bytes may declare: a longer length is corruption (a batch is at
/// most what one emit hands over, far less than this).
const MAX_BATCH: usize = 256 << 20;

/// Where an epoch's bytes are.
enum Data {
    Memory(Vec<u8>),
    Spilled { file: BufWriter<File>, length: u64 },
}

/// One epoch's records.
pub struct Epoch {
    /// The checkpoint whose barrier sealed the epoch (0 while it is open).
    pub checkpoint: u64,
    /// The identity its records carry (set when it is sealed, or restored).
    pub writer: String,
    /// The sequence number of its first record (its records follow without gaps).
    pub first_sequence: u64,
    /// How many records it holds.
    pub records: u64,
    data: Data,
}

impl Epoch {
    fn open() -> Epoch {
        Epoch { checkpoint: 0, writer: String::new(), first_sequence: 0, records: 0, data: Data::Memory(Vec::new()) }
    }

    /// An epoch restored from a checkpoint: `bytes` as [`Epoch::reader`] gave them.
    pub fn restored(checkpoint: u64, writer: String, first_sequence: u64, records: u64, bytes: Vec<u8>) -> Epoch {
        Epoch { checkpoint, writer, first_sequence, records, data: Data::Memory(bytes) }
    }

    /// The bytes held in memory.
    fn in_memory(&self) -> usize {
        match &self.data {
            Data::Memory(bytes) => bytes.len(),
            Data::Spilled { .. } => 0,
        }
    }

    /// The epoch's bytes, to copy into a checkpoint.
    pub fn reader(&mut self) -> Result<Box<dyn Read + '_>, ConnectorError> {
        Ok(match &mut self.data {
            Data::Memory(bytes) => Box::new(bytes.as_slice()),
            Data::Spilled { file, length } => {
                file.flush()?;
                let file = file.get_mut();
                file.seek(SeekFrom::Start(0))?;
                Box::new(Read::take(file, *length))
            }
        })
    }

    /// Calls `f` with each batch of the epoch, in the order they arrived.
    pub fn for_each_batch(
        &mut self,
        mut f: impl FnMut(&[u8]) -> Result<(), ConnectorError>,
    ) -> Result<(), ConnectorError> {
        let mut reader = BufReader::new(self.reader()?);
        let mut batch = Vec::new();
        loop {
            let mut length = [0u8; 4];
            match reader.read_exact(&mut length) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            let length = u32::from_le_bytes(length) as usize;
            if length > MAX_BATCH {
                return Err(ConnectorError::Restore(format!(
                    "a held epoch declares a batch of {length} bytes, more than {MAX_BATCH}: it is corrupt"
                )));
            }
            batch.resize(length, 0);
            reader.read_exact(&mut batch).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => ConnectorError::Restore("a held epoch is truncated".into()),
                _ => e.into(),
            })?;
            f(&batch)?;
        }
    }
}

/// A sink subtask's held records: sealed epochs awaiting their checkpoints, and the open one.
pub struct WriteAheadLog {
    sealed: VecDeque<Epoch>,
    open: Epoch,
    /// Bytes held in memory, over every epoch.
    memory: usize,
    memory_limit: usize,
    spill_dir: PathBuf,
}

impl WriteAheadLog {
    /// An empty log holding up to `memory_limit` bytes in memory, spilling into `spill_dir`.
    pub fn new(memory_limit: usize, spill_dir: PathBuf) -> Self {
        WriteAheadLog { sealed: VecDeque::new(), open: Epoch::open(), memory: 0, memory_limit, spill_dir }
    }

    /// Adds a restored epoch ahead of everything received since (restored epochs come first,
    /// oldest first).
    pub fn push_restored(&mut self, epoch: Epoch) {
        self.memory += epoch.in_memory();
        self.sealed.push_back(epoch);
    }

    /// Adds a batch of `records` records (frame format) to the open epoch.
    pub fn append(&mut self, batch: &[u8], records: u64) -> Result<(), ConnectorError> {
        let length = u32::try_from(batch.len())
            .ok()
            .filter(|l| (*l as usize) <= MAX_BATCH)
            .ok_or_else(|| ConnectorError::Restore(format!("a batch of {} bytes is too large to hold", batch.len())))?;
        if let Data::Memory(bytes) = &mut self.open.data
            && self.memory + batch.len() + 4 > self.memory_limit
        {
            let mut file = BufWriter::new(tempfile::tempfile_in(&self.spill_dir).map_err(|e| {
                std::io::Error::new(e.kind(), format!("spilling held records to {}: {e}", self.spill_dir.display()))
            })?);
            file.write_all(bytes)?;
            tracing::info!(
                held_in_memory = self.memory,
                limit = self.memory_limit,
                "the sink's held records reached their memory bound; the open epoch spills to disk"
            );
            self.memory -= bytes.len();
            self.open.data = Data::Spilled { length: bytes.len() as u64, file };
        }
        match &mut self.open.data {
            Data::Memory(bytes) => {
                bytes.extend_from_slice(&length.to_le_bytes());
                bytes.extend_from_slice(batch);
                self.memory += batch.len() + 4;
            }
            Data::Spilled { file, length: total } => {
                file.write_all(&length.to_le_bytes())?;
                file.write_all(batch)?;
                *total += batch.len() as u64 + 4;
            }
        }
        self.open.records += records;
        Ok(())
    }

    /// Seals the open epoch at barrier `checkpoint`, its records numbered from `first_sequence`
    /// under `writer`; an empty epoch is not kept. Returns how many records it holds.
    pub fn seal(&mut self, checkpoint: u64, writer: &str, first_sequence: u64) -> u64 {
        let mut epoch = std::mem::replace(&mut self.open, Epoch::open());
        let records = epoch.records;
        if records > 0 {
            epoch.checkpoint = checkpoint;
            epoch.writer = writer.to_string();
            epoch.first_sequence = first_sequence;
            self.sealed.push_back(epoch);
        } else {
            self.memory -= epoch.in_memory();
        }
        records
    }

    /// Takes the sealed epochs up to checkpoint `checkpoint` (inclusive), oldest first.
    pub fn take_through(&mut self, checkpoint: u64) -> Vec<Epoch> {
        let mut taken = Vec::new();
        while self.sealed.front().is_some_and(|e| e.checkpoint <= checkpoint) {
            if let Some(epoch) = self.sealed.pop_front() {
                self.memory -= epoch.in_memory();
                taken.push(epoch);
            }
        }
        taken
    }

    /// The sealed epochs, oldest first, to write into a checkpoint.
    pub fn sealed_mut(&mut self) -> impl Iterator<Item = &mut Epoch> {
        self.sealed.iter_mut()
    }

    /// Whether sealed epochs wait for their checkpoints to complete.
    pub fn has_sealed(&self) -> bool {
        !self.sealed.is_empty()
    }

    /// How many records are held, sealed and open.
    pub fn records(&self) -> u64 {
        self.sealed.iter().map(|e| e.records).sum::<u64>() + self.open.records
    }

    /// How many bytes are held in memory.
    pub fn memory(&self) -> usize {
        self.memory
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(values: &[&str]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in values {
            weir_frame::push(&mut b, 0, b"", v.as_bytes());
        }
        b
    }

    fn values(epoch: &mut Epoch) -> Vec<String> {
        let mut out = Vec::new();
        epoch
            .for_each_batch(|b| {
                for r in weir_frame::records(b) {
                    out.push(String::from_utf8_lossy(r?.value).into_owned());
                }
                Ok(())
            })
            .unwrap();
        out
    }

    /// Epochs are sealed at barriers, empty ones dropped, and taken up to a completed checkpoint;
    /// past the memory bound the open epoch spills to disk and reads back the same.
    #[test]
    fn epochs_are_held_until_their_checkpoint_and_spill_past_the_bound() {
        let spill = tempfile::tempdir().unwrap();
        let mut log = WriteAheadLog::new(64, spill.path().to_path_buf());
        log.append(&batch(&["a", "b"]), 2).unwrap();
        assert_eq!(log.seal(1, "w", 1), 2);
        assert_eq!(log.seal(2, "w", 3), 0, "an empty epoch");
        // Past 64 bytes: spills.
        for i in 0..10 {
            log.append(&batch(&[&format!("r{i}")]), 1).unwrap();
        }
        assert!(log.memory() <= 64, "{} bytes in memory", log.memory());
        assert_eq!(log.records(), 12);
        log.seal(3, "w", 3);
        let mut first = log.take_through(2);
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].checkpoint, first[0].first_sequence), (1, 1));
        assert_eq!(values(&mut first[0]), ["a", "b"]);
        let mut spilled = log.take_through(3);
        assert_eq!(values(&mut spilled[0]), (0..10).map(|i| format!("r{i}")).collect::<Vec<_>>());
        assert!(!log.has_sealed());
        assert_eq!(log.memory(), 0);
        // Written into a checkpoint and restored, an epoch reads the same.
        let mut bytes = Vec::new();
        spilled[0].reader().unwrap().read_to_end(&mut bytes).unwrap();
        let mut restored = Epoch::restored(3, "w".into(), 3, 10, bytes);
        assert_eq!(values(&mut restored), values(&mut spilled[0]));
    }

    /// A held epoch whose bytes lie (a length beyond the data) is refused, not read past.
    #[test]
    fn a_corrupt_epoch_is_refused() {
        let mut bytes = 100u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"short");
        let mut epoch = Epoch::restored(1, "w".into(), 1, 1, bytes);
        assert!(epoch.for_each_batch(|_| Ok(())).is_err());
        let mut huge = Epoch::restored(1, "w".into(), 1, 1, u32::MAX.to_le_bytes().to_vec());
        assert!(huge.for_each_batch(|_| Ok(())).is_err());
    }
}
