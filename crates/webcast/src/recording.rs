//! Recordings of a LIVE's raw WebSocket frames, for replaying a real session through the
//! simulator later (`webcast-sim --replay FILE`).
//!
//! # Format
//!
//! JSON lines, one frame per line, in the order received:
//!
//! ```text
//! {"ts_ms":1764273600123,"frame_b64":"CAEQ..."}
//! ```
//!
//! `ts_ms` is the wall-clock receive time (Unix milliseconds), `frame_b64` the binary frame
//! exactly as it came off the socket (standard base64). The messages a signed fetch carries
//! (TikTok's recent history) arrive over HTTP, not the socket; a client with
//! [`ClientConfig::emit_raw_frames`](crate::ClientConfig::emit_raw_frames) reports them as a
//! synthetic uncompressed `msg` frame with log_id 0 so that a recording holds every message
//! the session saw.
//!
//! A truncated last line (a recorder killed mid-write) is skipped when reading.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// One recorded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFrame {
    /// Receive time, Unix milliseconds.
    pub ts_ms: i64,
    /// The frame's bytes.
    pub frame: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Line {
    ts_ms: i64,
    frame_b64: String,
}

/// Why a recording could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file could not be opened, read or written.
    #[error("recording {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line (not the last one) is not a recorded frame.
    #[error("recording {path}, line {line}: not a recorded frame: {reason}")]
    Format {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Appends frames to a recording file.
#[derive(Debug)]
pub struct Recorder {
    path: String,
    out: BufWriter<File>,
}

impl Recorder {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<Recorder, RecordingError> {
        let shown = path.display().to_string();
        let file = File::create(path).map_err(|source| RecordingError::Io {
            path: shown.clone(),
            source,
        })?;
        Ok(Recorder {
            path: shown,
            out: BufWriter::new(file),
        })
    }

    /// Writes one frame and flushes it to the OS, so a killed recorder loses at most the line
    /// being written.
    pub fn write(&mut self, ts_ms: i64, frame: &[u8]) -> Result<(), RecordingError> {
        let line = Line {
            ts_ms,
            frame_b64: base64::engine::general_purpose::STANDARD.encode(frame),
        };
        let io = |source| RecordingError::Io {
            path: self.path.clone(),
            source,
        };
        serde_json::to_writer(&mut self.out, &line).map_err(|e| io(e.into()))?;
        self.out.write_all(b"\n").map_err(io)?;
        self.out.flush().map_err(io)
    }
}

/// Reads a whole recording.
pub fn read(path: &Path) -> Result<Vec<RecordedFrame>, RecordingError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| RecordingError::Io {
        path: shown.clone(),
        source,
    })?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|source| RecordingError::Io {
            path: shown.clone(),
            source,
        })?;
    let last = lines.len();
    let mut frames = Vec::with_capacity(lines.len());
    for (i, text) in lines.iter().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        match parse_line(text) {
            Ok(frame) => frames.push(frame),
            // A recorder killed mid-write leaves a partial last line: skip it.
            Err(reason) if i + 1 == last => {
                tracing::warn!(path = %shown, %reason, "skipping a truncated last line");
            }
            Err(reason) => {
                return Err(RecordingError::Format {
                    path: shown,
                    line: i + 1,
                    reason,
                })
            }
        }
    }
    Ok(frames)
}

/// One line of a recording, or what is wrong with it.
fn parse_line(text: &str) -> Result<RecordedFrame, String> {
    let line = serde_json::from_str::<Line>(text).map_err(|e| e.to_string())?;
    let frame = base64::engine::general_purpose::STANDARD
        .decode(&line.frame_b64)
        .map_err(|e| e.to_string())?;
    Ok(RecordedFrame {
        ts_ms: line.ts_ms,
        frame,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncated_last_line() {
        let dir = std::env::temp_dir().join(format!("rec-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("r.jsonl");
        let mut rec = Recorder::create(&path).expect("create");
        rec.write(1000, &[1, 2, 3]).expect("write");
        rec.write(1250, &[0xff]).expect("write");
        drop(rec);
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str("{\"ts_ms\":13");
        std::fs::write(&path, text).expect("write");
        let frames = read(&path).expect("read");
        assert_eq!(
            frames,
            vec![
                RecordedFrame {
                    ts_ms: 1000,
                    frame: vec![1, 2, 3]
                },
                RecordedFrame {
                    ts_ms: 1250,
                    frame: vec![0xff]
                }
            ]
        );
        std::fs::write(&path, "garbage\n{\"ts_ms\":1,\"frame_b64\":\"AQ==\"}\n").expect("write");
        assert!(matches!(
            read(&path),
            Err(RecordingError::Format { line: 1, .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
