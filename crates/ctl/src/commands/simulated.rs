//! Wiring the capture path to the built-in simulator, shared by `ctl demo` and `ctl bench`.

use anyhow::Context;
use clap::Parser;
use core_models::DbUrl;
use webcast_sim::SimulatorHandle;

/// Capture arguments that point every TikTok-facing request at `simulator` and store into
/// `url`, plus `extra` flags.
pub fn capture_args(
    simulator: &SimulatorHandle,
    url: &DbUrl,
    extra: &[&str],
) -> anyhow::Result<capture_daemon::cli::Args> {
    let room = simulator.room_id().to_string();
    let base = simulator.base_url().as_str();
    let mut argv = vec![
        "capture-daemon",
        "--username",
        simulator.username(),
        "--room-id",
        &room,
        "--sign-server-url",
        base,
        "--tiktok-base-url",
        base,
        "--database-url",
        url.as_arg(),
    ];
    argv.extend_from_slice(extra);
    capture_daemon::cli::Args::try_parse_from(argv).context("capture arguments for the simulator")
}
