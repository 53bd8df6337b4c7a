//! One module per command group; [`execute`] opens the database and hands over.

mod bench;
mod config;
mod demo;
mod event;
mod event_config;
mod migrate;
mod queue;
mod rule;
mod service;
mod session;
mod simulated;

use anyhow::Context;
use core_models::{DbConn, DbUrl, ModelError};

use crate::cli::{Cli, Command};

/// Runs one parsed command line.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    let url = DbUrl::resolve(cli.database_url.as_deref())?;
    match cli.command {
        Command::Migrate => migrate::migrate(&url),
        Command::PopulateInitialData => migrate::populate(&mut open(&url)?),
        Command::Service(cmd) => service::run(&mut open(&url)?, cmd),
        Command::EventConfig(cmd) => event_config::run(&mut open(&url)?, cmd),
        Command::Rule(cmd) => rule::run(&mut open(&url)?, cmd),
        Command::Config(cmd) => config::run(&mut open(&url)?, cmd),
        Command::Queue(cmd) => queue::run(&mut open(&url)?, cmd),
        Command::Session(cmd) => session::run(&mut open(&url)?, cmd),
        Command::Event(cmd) => event::run(&mut open(&url)?, cmd),
        Command::Bench(args) => bench::measure(&url, args),
        Command::Demo(args) => demo::play(cli.database_url.as_deref(), args),
    }
}

/// Connects and checks the schema is current, so commands never run on a half-made database.
fn open(url: &DbUrl) -> anyhow::Result<DbConn> {
    let mut conn = DbConn::establish(url)?;
    let pending = conn
        .pending_migrations()
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot read the schema version of {}", url.masked()))?;
    if !pending.is_empty() {
        return Err(ModelError::Invalid(format!(
            "the database {} is not migrated ({} pending): run `ctl migrate` first",
            url.masked(),
            pending.len()
        ))
        .into());
    }
    Ok(conn)
}
