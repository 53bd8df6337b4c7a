//! The queue of batches waiting to be committed, in arrival order: in memory (bounded) and,
//! once the database has failed (or memory is full), in an append-only spool file.
//!
//! # File
//!
//! JSON lines, one [`Batch`] (the queue engine's type) per line, appended and `fsync`ed
//! before the batch counts as spooled. Lines are never rewritten: the file is truncated only
//! when every batch in it has been committed. A daemon killed before the truncation leaves
//! lines that were already committed; the next start commits them again, which stores nothing
//! twice because the engine's dispatch is idempotent (see `committer`). A torn last line
//! (killed mid-write, never `fsync`ed) is skipped with a warning.
//!
//! # Lock
//!
//! The open spool holds an exclusive advisory lock on its file for as long as it lives (the
//! OS drops it when the process dies, even by kill -9). A second daemon capturing the same
//! streamer into the same database would otherwise append to the same file and mark the
//! first daemon's live session aborted; it gets [`SpoolError::Locked`] instead.
//!
//! # Invariant
//!
//! Either the spool is not durable (the file is empty and every batch is in memory only),
//! or it is durable and every batch is in the file, in order (some also cached in memory,
//! within the bound). `Spool::persist_all` moves from the first state to the second.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dispatcher::Batch;

/// Spool file errors.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Reading or writing the file failed.
    #[error("spool file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Another process holds the spool open.
    #[error("spool file {path} is in use by another process")]
    Locked {
        /// The file.
        path: String,
    },
    /// A line of the file is not a batch.
    #[error("spool file {path}: line at byte {offset} is not a batch: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// Where the line starts.
        offset: u64,
        /// The parse error.
        reason: String,
    },
}

#[derive(Debug)]
struct Pending {
    /// The batch, when cached in memory. Shared with the commit in flight, which reads it
    /// where it is rather than from a copy.
    batch: Option<Arc<Batch>>,
    /// Events in it (for the memory bound).
    events: usize,
    /// Where its line is in the file, once written: (offset, length without newline).
    at: Option<(u64, u64)>,
}

/// Batches waiting to be committed, oldest first.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    file: Option<File>,
    file_len: u64,
    durable: bool,
    queue: VecDeque<Pending>,
    mem_events: usize,
    mem_limit: usize,
}

impl Spool {
    /// Opens and locks the spool at `path`, loading the batches a previous run left there
    /// (they come first). `mem_limit` bounds the events kept in memory. Fails with
    /// [`SpoolError::Locked`] while another process has it open.
    pub fn open(path: &Path, mem_limit: usize) -> Result<Spool, SpoolError> {
        let mut spool = Spool {
            path: path.to_path_buf(),
            file: None,
            file_len: 0,
            durable: false,
            queue: VecDeque::new(),
            mem_events: 0,
            mem_limit: mem_limit.max(1),
        };
        let file = spool.create_locked()?;
        let valid_end = spool.load_leftovers(&file)?;
        // Cut a torn tail so new lines start on a line boundary.
        file.set_len(valid_end).map_err(|e| spool.io(e))?;
        spool.file_len = valid_end;
        spool.durable = !spool.queue.is_empty();
        spool.file = Some(file);
        if !spool.durable && valid_end > 0 {
            spool.truncate()?;
        }
        Ok(spool)
    }

    /// Opens (creating it and its directory) and locks the file.
    fn create_locked(&self) -> Result<File, SpoolError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(SpoolError::Locked {
                path: self.path.display().to_string(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(self.io(e)),
        }
    }

    /// Queues the batches of a previous run, in file order; returns where the last complete
    /// line ends (a torn last line is skipped with a warning).
    fn load_leftovers(&mut self, file: &File) -> Result<u64, SpoolError> {
        let mut reader = BufReader::new(file.try_clone().map_err(|e| self.io(e))?);
        let mut offset = 0u64;
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(|e| self.io(e))? as u64;
            if n == 0 {
                return Ok(offset);
            }
            let complete = line.ends_with('\n');
            let text = line.trim_end_matches('\n');
            if !text.trim().is_empty() {
                match serde_json::from_str::<Batch>(text) {
                    Ok(batch) => self.queue_back(batch, Some((offset, text.len() as u64))),
                    Err(e) if !complete => {
                        tracing::warn!(path = %self.path.display(), error = %e, "skipping a torn last line of the spool");
                        return Ok(offset);
                    }
                    Err(e) => {
                        return Err(SpoolError::Corrupt {
                            path: self.path.display().to_string(),
                            offset,
                            reason: e.to_string(),
                        })
                    }
                }
            }
            offset += n;
        }
    }

    /// Puts a batch at the back of the queue, kept in memory if it fits the bound (always
    /// when it is not in the file, `at`: that is the invariant).
    fn queue_back(&mut self, batch: Batch, at: Option<(u64, u64)>) {
        let events = batch.events.len();
        let cached = at.is_none() || self.mem_events + events <= self.mem_limit;
        if cached {
            self.mem_events += events;
        }
        self.queue.push_back(Pending {
            batch: cached.then(|| Arc::new(batch)),
            events,
            at,
        });
    }

    fn io(&self, source: std::io::Error) -> SpoolError {
        SpoolError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Batches waiting.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Nothing waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Events waiting.
    pub(crate) fn events(&self) -> usize {
        self.queue.iter().map(|p| p.events).sum()
    }

    /// Whether new batches go to the file.
    pub(crate) fn is_durable(&self) -> bool {
        self.durable
    }

    /// Queues a batch behind the others: in the file when durable (or when memory is full,
    /// which makes the spool durable).
    pub(crate) fn push(&mut self, batch: Batch) -> Result<(), SpoolError> {
        if !self.durable && self.mem_events + batch.events.len() > self.mem_limit {
            self.persist_all()?;
        }
        let at = if self.durable {
            let at = self.append(&batch)?;
            self.sync()?;
            Some(at)
        } else {
            None
        };
        self.queue_back(batch, at);
        Ok(())
    }

    /// Writes every batch held only in memory to the file (in order) and makes the spool
    /// durable: called when the database fails, so a crash from now on loses nothing queued.
    pub(crate) fn persist_all(&mut self) -> Result<(), SpoolError> {
        if self.durable {
            return Ok(());
        }
        let mut writes = Vec::new();
        for (i, p) in self.queue.iter().enumerate() {
            if let (None, Some(batch)) = (p.at, &p.batch) {
                writes.push((i, Arc::clone(batch)));
            }
        }
        for (i, batch) in writes {
            let at = self.append(&batch)?;
            if let Some(p) = self.queue.get_mut(i) {
                p.at = Some(at);
            }
        }
        self.sync()?;
        self.durable = true;
        Ok(())
    }

    /// The oldest batches that can be committed as one: consecutive batches of the same
    /// session, with at most `max_events` events between them (but always the oldest batch,
    /// however big), in order; they are shared, not copied (see [`BatchGroup`]), and
    /// [`Spool::pop_committed_many`] forgets them once committed. Batches not cached in
    /// memory are read back from the file.
    ///
    /// Committing frames together is what keeps up with a burst: a transaction's fixed cost
    /// (round trips, the commit itself) is paid once for everything that queued up while the
    /// previous one ran, and a lone frame still goes alone, at once.
    pub(crate) fn front_group(&mut self, max_events: usize) -> Result<Vec<Arc<Batch>>, SpoolError> {
        let Some(first) = self.queue.front() else {
            return Ok(Vec::new());
        };
        let first = self.load(first)?;
        let mut events = first.events.len();
        let mut group = vec![Arc::clone(&first)];
        for p in self.queue.iter().skip(1) {
            if events + p.events > max_events {
                break;
            }
            let next = self.load(p)?;
            if next.session != first.session {
                break;
            }
            events += next.events.len();
            group.push(next);
        }
        Ok(group)
    }

    /// A queued batch, shared from memory or read back from the file.
    fn load(&self, p: &Pending) -> Result<Arc<Batch>, SpoolError> {
        if let Some(b) = &p.batch {
            return Ok(Arc::clone(b));
        }
        let Some((offset, len)) = p.at else {
            // Unreachable by the invariant (a batch is in memory, in the file, or both).
            return Err(self.io(std::io::Error::other(
                "queued batch neither in memory nor on file",
            )));
        };
        let mut file = File::open(&self.path).map_err(|e| self.io(e))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| self.io(e))?;
        let mut buf = vec![0u8; len as usize];
        file.read_exact(&mut buf).map_err(|e| self.io(e))?;
        serde_json::from_slice(&buf)
            .map(Arc::new)
            .map_err(|e| SpoolError::Corrupt {
                path: self.path.display().to_string(),
                offset,
                reason: e.to_string(),
            })
    }

    /// Forgets the `n` oldest batches, which were committed. When nothing is left, the file
    /// is truncated and the spool stops being durable.
    pub(crate) fn pop_committed_many(&mut self, n: usize) -> Result<(), SpoolError> {
        for _ in 0..n {
            let Some(p) = self.queue.pop_front() else {
                break;
            };
            if p.batch.is_some() {
                self.mem_events = self.mem_events.saturating_sub(p.events);
            }
        }
        if self.queue.is_empty() && self.durable {
            self.truncate()?;
            self.durable = false;
        }
        Ok(())
    }

    fn append(&mut self, batch: &Batch) -> Result<(u64, u64), SpoolError> {
        let mut line = serde_json::to_vec(batch).map_err(|e| self.io(e.into()))?;
        let len = line.len() as u64;
        line.push(b'\n');
        let offset = self.file_len;
        let path = self.path.display().to_string();
        let file = self.file.as_mut().ok_or_else(|| SpoolError::Io {
            path,
            source: std::io::Error::other("spool file not open"),
        })?;
        if let Err(e) = file.write_all(&line) {
            return Err(self.io(e));
        }
        self.file_len += line.len() as u64;
        Ok((offset, len))
    }

    fn sync(&mut self) -> Result<(), SpoolError> {
        match self.file.as_ref().map(File::sync_data) {
            Some(Err(e)) => Err(self.io(e)),
            _ => Ok(()),
        }
    }

    fn truncate(&mut self) -> Result<(), SpoolError> {
        if let Some(file) = self.file.as_ref() {
            if let Err(e) = file.set_len(0).and_then(|()| file.sync_data()) {
                return Err(self.io(e));
            }
        }
        self.file_len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use core_models::{CapturedEvent, EventType};
    use dispatcher::SessionRef;

    fn batch(n: usize, tag: i64) -> Batch {
        Batch {
            session: SessionRef {
                session_id: 1,
                room_id: "7".into(),
                streamer_unique_id: "s".into(),
            },
            events: (0..n)
                .map(|i| CapturedEvent {
                    event_type: EventType::Comment,
                    msg_id: Some(tag * 100 + i as i64),
                    timestamp: Utc::now(),
                    user_id: None,
                    user_unique_id: Some("alice".into()),
                    user_nickname: None,
                    streak: None,
                    data: serde_json::json!({"comment": "héllo 👋"}),
                    received_at: None,
                })
                .collect(),
        }
    }

    /// The front group merged into one batch (to check its events), and how many batches it
    /// holds.
    fn front(spool: &mut Spool, max_events: usize) -> Option<(Batch, usize)> {
        let frames = spool.front_group(max_events).expect("front");
        let first = frames.first()?;
        let mut merged = Batch {
            session: first.session.clone(),
            events: Vec::new(),
        };
        for frame in &frames {
            merged.events.extend(frame.events.iter().cloned());
        }
        Some((merged, frames.len()))
    }

    fn tags(spool: &mut Spool) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some((b, n)) = front(spool, 0) {
            assert_eq!(n, 1, "the oldest batch alone");
            out.push(b.events[0].msg_id.expect("id") / 100);
            spool.pop_committed_many(1).expect("pop");
        }
        out
    }

    #[test]
    fn memory_only_until_persisted_then_file_in_order() {
        let filled = |dir: &tempfile::TempDir| {
            let path = dir.path().join("spool.jsonl");
            let mut spool = Spool::open(&path, 100).expect("open");
            spool.push(batch(2, 1)).expect("push");
            assert!(!spool.is_durable());
            assert_eq!(std::fs::metadata(&path).expect("meta").len(), 0);
            spool.persist_all().expect("persist");
            spool.push(batch(2, 2)).expect("push");
            assert_eq!(spool.len(), 2);
            (spool, path)
        };
        // The running spool gives both back, in order.
        let dir = tempfile::tempdir().expect("dir");
        let (mut spool, _) = filled(&dir);
        assert_eq!(tags(&mut spool), vec![1, 2]);
        // A restart sees both, in order (the first run is gone, and its lock with it).
        let dir = tempfile::tempdir().expect("dir");
        let (spool, path) = filled(&dir);
        drop(spool);
        let mut reopened = Spool::open(&path, 100).expect("reopen");
        assert_eq!(tags(&mut reopened), vec![1, 2]);
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len(),
            0,
            "truncated when empty"
        );
    }

    #[test]
    fn memory_bound_spills_and_reads_back() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("spool.jsonl");
        let mut spool = Spool::open(&path, 5).expect("open");
        for tag in 1..=6 {
            spool.push(batch(2, tag)).expect("push");
        }
        assert!(spool.is_durable(), "memory full → file");
        assert!(spool.mem_events <= 5);
        assert_eq!(spool.events(), 12);
        assert_eq!(tags(&mut spool), vec![1, 2, 3, 4, 5, 6]);
        assert!(!spool.is_durable());
    }

    /// Queued frames of one session are committed together, up to the event bound (the
    /// oldest always, even alone over it), never across sessions, in order, also when some
    /// are read back from the file.
    #[test]
    fn queued_frames_group_by_session_within_the_bound() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("spool.jsonl");
        let mut spool = Spool::open(&path, 5).expect("open");
        for tag in 1..=4 {
            spool.push(batch(2, tag)).expect("push");
        }
        let mut other = batch(2, 5);
        other.session.session_id = 2;
        spool.push(other).expect("push");
        spool.push(batch(2, 6)).expect("push");
        assert!(spool.is_durable(), "some only on file");

        let ids = |b: &Batch| -> Vec<i64> { b.events.iter().filter_map(|e| e.msg_id).collect() };
        let (group, n) = front(&mut spool, 7).expect("some");
        assert_eq!(n, 3, "3 frames of 2 events fit in 7");
        assert_eq!(ids(&group), vec![100, 101, 200, 201, 300, 301]);
        spool.pop_committed_many(n).expect("pop");

        let (group, n) = front(&mut spool, 100).expect("some");
        assert_eq!(
            (n, ids(&group)),
            (1, vec![400, 401]),
            "stops at the next session"
        );
        spool.pop_committed_many(n).expect("pop");
        let (group, n) = front(&mut spool, 1).expect("some");
        assert_eq!(
            (n, group.session.session_id),
            (1, 2),
            "the oldest goes even over the bound"
        );
        spool.pop_committed_many(n).expect("pop");
        let (_, n) = front(&mut spool, 100).expect("some");
        spool.pop_committed_many(n).expect("pop");
        assert!(spool.is_empty() && !spool.is_durable());
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 0);
    }

    #[test]
    fn a_second_open_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.jsonl");
        let first = Spool::open(&path, 10).unwrap();
        let second = Spool::open(&path, 10);
        assert!(
            matches!(second, Err(SpoolError::Locked { .. })),
            "{second:?}"
        );
        drop(first);
        Spool::open(&path, 10).unwrap();
    }

    #[test]
    fn torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("spool.jsonl");
        let mut spool = Spool::open(&path, 100).expect("open");
        spool.persist_all().expect("persist");
        spool.push(batch(1, 1)).expect("push");
        drop(spool);
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"{\"session_id\":1,\"room").expect("write");
        drop(f);
        let mut spool = Spool::open(&path, 100).expect("reopen");
        assert_eq!(spool.len(), 1);
        spool.push(batch(1, 2)).expect("push");
        drop(spool);
        let mut again = Spool::open(&path, 100).expect("reopen");
        assert_eq!(tags(&mut again), vec![1, 2]);
    }

    /// A spool left by the daemon as it was before the engine owned the batch type (its
    /// `Batch` had the session's fields and the events side by side) loads and is committed
    /// as before: an upgrade in the middle of an outage loses nothing.
    #[test]
    fn a_spool_written_before_the_engine_owned_the_batch_loads() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("spool.jsonl");
        let line = r#"{"session_id":4,"room_id":"7","streamer":"s","events":[{"event_type":"LikeEvent","msg_id":900,"timestamp":"2026-09-21T14:15:00.654321Z","user_id":null,"user_unique_id":"alice","user_nickname":null,"streak":null,"data":{"like_count":5},"received_at":"2026-09-21T14:15:00.700Z"}]}"#;
        std::fs::write(&path, format!("{line}\n{line}\n")).expect("write");
        let mut spool = Spool::open(&path, 100).expect("open");
        assert_eq!((spool.len(), spool.events()), (2, 2));
        let (group, n) = front(&mut spool, 100).expect("some");
        assert_eq!(n, 2, "one session: committed together");
        assert_eq!(group.session.session_id, 4);
        assert_eq!(group.session.streamer_unique_id, "s");
        assert_eq!(group.events[0].event_type, EventType::Like);
        assert_eq!(group.events[1].msg_id, Some(900));
    }
}
