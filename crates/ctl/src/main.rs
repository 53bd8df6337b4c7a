//! `ctl`: administration of the TikTok LIVE event system.

// First: its `outln!` macro is used by the modules below.
#[macro_use]
mod output;
mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

use cli::Cli;

/// Exit code for input the command rejected (nothing was written).
const EXIT_USAGE: u8 = 2;
/// Exit code for failures of the database or the environment.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CTL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || matches!(
                    e.kind(),
                    ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                )
            {
                let _ = e.print();
                return if e.exit_code() == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_USAGE)
                };
            }
            // One line: what was wrong (clap's first paragraph, which for a missing
            // argument names it on the next line); --help has the rest.
            let rendered = e.render().to_string();
            let what = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ");
            let what = if what.is_empty() {
                "error: invalid arguments"
            } else {
                &what
            };
            eprintln!("{what} (see --help)");
            return ExitCode::from(EXIT_USAGE);
        }
    };

    match commands::execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let user_error = e
                .downcast_ref::<core_models::ModelError>()
                .is_some_and(core_models::ModelError::is_user_error)
                || e.downcast_ref::<dispatcher::EngineError>()
                    .is_some_and(dispatcher::EngineError::is_user_error);
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(if user_error { EXIT_USAGE } else { EXIT_FAILURE })
        }
    }
}

/// The error and its causes on one line, without repeating a cause the message already has.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out.replace('\n', " ")
}
