//! The TikTok LIVE "Webcast" protocol: protobuf types, frame decoding, mapping to our events,
//! gift streaks, the client, and a local simulator that speaks the same protocol.
//!
//! The protocol facts come from `shared/reference/webcast-protocol.md`; our own `.proto` files
//! live in `proto/webcast/` at the workspace root and are compiled at build time by protox and
//! prost (no system `protoc`).
//!
//! # Modules
//!
//! | module | what it does |
//! |---|---|
//! | [`proto`] | prost types generated from `proto/webcast/*.proto` |
//! | [`frame`] | push frames: heartbeat / ack / enter-room builders, gunzip, fetch-result decoding |
//! | [`decode`] | each message of a frame decoded on its own by `method`; bad ones counted and skipped |
//! | [`mapping`] | decoded messages → [`events::CapturedEvent`] with the event_data contract |
//! | [`streak`] | gift streaks: max count per (sender, group_id), end on `repeat_end` or timeout |
//! | [`room`] | username normalisation and room-id lookup (live page, then api-live) |
//! | [`sign`] | the sign server's `/webcast/fetch` (API key, cookies, 401/402/403/429/5xx) |
//! | [`client`] | the connection loop: [`Client`], [`ClientConfig`], [`ClientEvent`] |
//! | [`recording`] | raw frames with timestamps (JSON lines) and their replay as simulator steps |
//! | [`simulator`] | a local LIVE: [`Simulator`], [`SimulatorConfig`], [`SimulatorHandle`], scenarios, faults |
//!
//! # Client
//!
//! [`Client::run`] (or [`Client::spawn`]) resolves the room (skipped when
//! [`ClientConfig::room_id`] is set), signs, opens the WebSocket with the signing's User-Agent
//! and cookies, sends enter-room, heartbeats on its own task, acks every `need_ack` frame, and
//! reconnects with backoff and a fresh signing on any close, error or watchdog silence. It
//! sends [`ClientEvent`]s over a tokio mpsc channel:
//! - [`ClientEvent::Events`]: the events of one frame, in order (store one batch per
//!   transaction); also the history of the initial fetch and streaks closed by timeout;
//! - [`ClientEvent::Status`]: [`ConnectionStatus`] changes (resolved, connecting, connected,
//!   rejected, disconnected, retrying);
//! - [`ClientEvent::RawFrame`]: raw WebSocket frames, when `emit_raw_frames` is on;
//! - [`ClientEvent::StreamEnded`]: the LIVE ended; `run` then returns
//!   [`StopReason::StreamEnded`].
//!
//! Fatal problems (bad username, offline, not found, blocked, age-restricted, invalid API key,
//! `max_attempts` reached) come back as a [`ClientError`] whose message says what to do.
//! Every base URL (TikTok web, api-live, sign server) is in [`ClientConfig`]; the API key is a
//! [`sign::Secret`] read from [`client::API_KEY_ENV`] by [`ClientConfig::new`] and never
//! logged.
//!
//! # Simulator
//!
//! [`Simulator::start`] binds a sign server + room lookup (one HTTP base URL) and a WebSocket
//! push server on 127.0.0.1. It plays a [`simulator::Scenario`] (JSON; format in
//! [`simulator::scenario`]) and/or a random stream, takes more steps and faults at runtime
//! ([`SimulatorHandle::push`], [`SimulatorHandle::inject`]), and records what the client did
//! ([`SimulatorHandle::duties`]). The `webcast-sim` binary wraps it for use as a process (see
//! `src/bin/webcast-sim.rs`: its first stdout line is
//! `webcast-sim sign_server=<url> room_id=<id> username=<handle> ws=<url>`).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use webcast::{Client, ClientConfig, ClientEvent, Simulator, SimulatorConfig};
//! use webcast::simulator::Step;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = Simulator::start(SimulatorConfig::default()).await?;
//! sim.push(Step::Comment { user: "alice".into(), text: "hello 👋".into() });
//! sim.push(Step::End);
//!
//! let mut config = ClientConfig::new(sim.username()).with_base_url(sim.base_url());
//! config.heartbeat_interval = Duration::from_millis(100);
//! let (mut events, task) = Client::new(config)?.spawn(64, std::future::pending());
//! let mut comments = Vec::new();
//! while let Some(event) = events.recv().await {
//!     match event {
//!         ClientEvent::Events(batch) => {
//!             comments.extend(batch.into_iter().filter_map(|e| e.data["comment"].as_str().map(str::to_owned)))
//!         }
//!         ClientEvent::StreamEnded => break,
//!         _ => {}
//!     }
//! }
//! assert_eq!(comments, ["first! 🥇", "hello 👋"]); // the simulator replays one history comment
//! task.await??;
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod client;
pub mod decode;
pub mod frame;
pub mod mapping;
pub mod proto;
pub mod recording;
pub mod room;
pub mod sign;
pub mod simulator;
pub mod streak;

pub use client::{
    AttemptFailure, Client, ClientConfig, ClientError, ClientEvent, ConnectionStatus, StopReason,
};
pub use simulator::{Simulator, SimulatorConfig, SimulatorHandle};
