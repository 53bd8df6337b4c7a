//! The capture path as a library: [`capture::run`] captures one LIVE until it ends or the
//! [`capture::Shutdown`] signal comes. The `capture-daemon` binary is a thin wrapper around
//! it; `ctl demo` embeds it next to the simulator and the workers.

pub mod capture;
pub mod cli;
mod console;
pub mod error;
mod record;
mod session;
mod spool;
mod store;
