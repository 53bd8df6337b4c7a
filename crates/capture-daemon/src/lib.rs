//! The capture path as a library: [`capture::run`] captures one LIVE until it ends or its
//! [`lifecycle::Shutdown`] signal fires. The `capture-daemon` binary is a thin wrapper around
//! it; `ctl demo` embeds it next to the simulator and the workers, and `ctl bench` measures
//! its [`committer`] (the spool and the group commit) directly.

pub mod capture;
pub mod cli;
pub mod committer;
pub mod console;
pub mod error;
mod record;
mod session;
pub mod spool;
