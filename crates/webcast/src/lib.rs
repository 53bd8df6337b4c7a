//! The TikTok LIVE "Webcast" protocol and the client that speaks it: protobuf types, frame
//! decoding, the mapping of messages to [`events::CapturedEvent`]s, gift streaks, the room
//! lookup, signing, and the connection loop that keeps a LIVE flowing across reconnects.
//!
//! What this crate must never do: touch a database, or pull a database driver into the build.
//! It turns a socket into events and hands them over a channel; storing them is the capture
//! daemon's business (`cargo tree -p webcast -e normal` lists no diesel, mysql_async,
//! libsqlite3-sys or r2d2, and `tests/no_database.rs` keeps it so). Its peer for tests and
//! demos, the simulator, lives in the `webcast-sim` crate.
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
//! | `streak` (private) | gift streaks: max count per (sender, group_id), end on `repeat_end` or timeout |
//! | `browser` (private) | the browser the client says it is: parameters, headers, cookies |
//! | [`room`] | username normalisation and room-id lookup (live page, api-live, sign server) |
//! | [`sign`] | the sign server's `/webcast/fetch` (API key, cookies, X-Room-Id, 401/402/403/429/5xx, fallback stubs) |
//! | [`session`] | an optional TikTok login (`sessionid`), never logged |
//! | [`client`] | the connection loop: [`Client`], [`ClientConfig`], [`ClientEvent`] |
//! | [`recording`] | raw frames with timestamps (JSON lines), for replaying a session later |
//!
//! # Client
//!
//! [`Client::run`] (or [`Client::spawn`]) resolves the room (skipped when
//! [`ClientConfig::room_id`] is set), signs, opens the WebSocket with the signing's User-Agent
//! and cookies, sends enter-room, heartbeats on its own task, acks every `need_ack` frame, and
//! reconnects with backoff and a fresh signing on any close, error or watchdog silence (no
//! data frame for a minute: heartbeats and acks do not count), until the stream ends or its
//! [`lifecycle::Shutdown`] fires. When no data comes for a while it asks TikTok whether the
//! room is still live (`check_alive`), so a LIVE that ended without a word ends the session.
//! It sends [`ClientEvent`]s over a tokio mpsc channel:
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
//! Every base URL (TikTok web, api-live, webcast API, sign server) is in [`ClientConfig`]; the
//! API key is a [`sign::Secret`] read from [`client::API_KEY_ENV`] by [`ClientConfig::new`],
//! the optional login a [`session::Session`] read from [`session::SESSION_ID_ENV`]; neither is
//! ever logged.
//!
//! ```no_run
//! use lifecycle::Shutdown;
//! use webcast::{Client, ClientConfig, ClientEvent};
//!
//! # async fn watch() -> Result<(), Box<dyn std::error::Error>> {
//! let (_trigger, shutdown) = Shutdown::on_signals("watcher")?; // Ctrl+C stops it
//! let client = Client::new(ClientConfig::new("@someone"))?;
//! let (mut events, task) = client.spawn(64, shutdown);
//! while let Some(event) = events.recv().await {
//!     if let ClientEvent::Events(batch) = event {
//!         println!("{} event(s)", batch.len());
//!     }
//! }
//! println!("stopped: {:?}", task.await??);
//! # Ok(()) }
//! ```

mod browser;
pub mod client;
pub mod decode;
pub mod frame;
pub mod mapping;
pub mod proto;
pub mod recording;
pub mod room;
pub mod session;
pub mod sign;
mod streak;

pub use client::{
    AttemptFailure, Client, ClientConfig, ClientError, ClientEvent, ConnectionStatus, StopReason,
};
