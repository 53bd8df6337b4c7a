//! `--record FILE`: every raw frame received, with its receive time, written by a thread of
//! its own so a slow disk never delays the capture. The format is `webcast::recording`'s;
//! `webcast-sim --replay FILE` plays it back.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use webcast::recording::{Recorder, RecordingError};

/// A running recorder.
#[derive(Debug)]
pub struct RecordTask {
    tx: mpsc::Sender<(i64, Vec<u8>)>,
    thread: JoinHandle<u64>,
}

impl RecordTask {
    /// Creates the file (so a bad path fails at start) and starts the writer thread.
    pub fn start(path: &Path) -> Result<RecordTask, RecordingError> {
        let mut recorder = Recorder::create(path)?;
        let (tx, rx) = mpsc::channel::<(i64, Vec<u8>)>();
        let thread = std::thread::spawn(move || {
            let mut written = 0u64;
            for (ts_ms, frame) in rx {
                if let Err(error) = recorder.write(ts_ms, &frame) {
                    // Recording is a side output: losing it must not stop the capture.
                    tracing::error!(%error, "recording stopped");
                    break;
                }
                written += 1;
            }
            written
        });
        Ok(RecordTask { tx, thread })
    }

    /// Queues one frame, stamped now.
    pub fn frame(&self, frame: Vec<u8>) {
        let _ = self.tx.send((chrono::Utc::now().timestamp_millis(), frame));
    }

    /// Flushes and stops; returns the frames written.
    pub fn finish(self) -> u64 {
        drop(self.tx);
        self.thread.join().unwrap_or(0)
    }
}
