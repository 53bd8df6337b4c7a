//! The LIVE client: resolves the room, then keeps a WebSocket to it open (signing afresh for
//! every connection) until the stream ends, the shutdown fires or nobody listens any more.
//! Events come out over an mpsc channel, one batch per frame.
//!
//! How it is built, from the outside in:
//! - [`Client::run`] resolves the room and hands over to the supervisor
//!   (`supervisor.rs`), which loops: one attempt, judge how it ended, wait out the backoff;
//! - an attempt signs (`sign`), takes the fetch's history, opens the WebSocket
//!   (`handshake.rs`) and reads it as a connection (`connection.rs`): frames opened, acked,
//!   mapped and emitted, heartbeats on their own task, a watchdog for silence, a clock for
//!   gift streaks whose end never came;
//! - everything the client reports goes out through one outbox (`outbox.rs`), which counts
//!   it.

mod alive;
mod config;
mod connection;
mod error;
mod handshake;
mod mapped;
mod outbox;
mod report;
mod supervisor;

use std::sync::Arc;

use lifecycle::Shutdown;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use config::{ClientConfig, API_KEY_ENV, DEFAULT_SIGN_SERVER, DEFAULT_USER_AGENT};
pub use error::{AttemptFailure, ClientError};
pub use report::{ClientCounters, ClientEvent, ConnectionStatus, StopReason};

use crate::room::{normalize_username, RoomLookup};
use crate::sign::SignClient;
use outbox::Outbox;
use supervisor::Supervisor;

/// The client. Build with [`Client::new`], then [`Client::run`] or [`Client::spawn`].
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    http: reqwest::Client,
    counters: Arc<ClientCounters>,
}

impl Client {
    /// A client for `config`.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(config.request_timeout)
            .build()
            .map_err(ClientError::Http)?;
        Ok(Self {
            config,
            http,
            counters: Arc::new(ClientCounters::default()),
        })
    }

    /// Live counters (shared; keep a clone before calling `run`).
    pub fn counters(&self) -> Arc<ClientCounters> {
        self.counters.clone()
    }

    /// Runs `run` on a new task with a channel of `capacity`; returns the receiver and the task.
    pub fn spawn(
        self,
        capacity: usize,
        shutdown: Shutdown,
    ) -> (
        mpsc::Receiver<ClientEvent>,
        JoinHandle<Result<StopReason, ClientError>>,
    ) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let task = tokio::spawn(async move { self.run(tx, shutdown).await });
        (rx, task)
    }

    /// Connects and keeps connected until the stream ends, `shutdown` fires or the receiver
    /// is dropped. Fatal errors (bad username, offline, invalid API key, too many failures)
    /// are returned; everything else is retried with backoff and a fresh signing.
    pub async fn run(
        self,
        events: mpsc::Sender<ClientEvent>,
        mut shutdown: Shutdown,
    ) -> Result<StopReason, ClientError> {
        let outbox = Outbox::new(events, self.counters.clone());
        let sign = self.sign_client()?;
        let room_id = tokio::select! {
            id = self.resolve_room(&sign) => id?,
            () = shutdown.wait() => return Ok(StopReason::Shutdown),
        };
        if outbox
            .status(ConnectionStatus::RoomResolved { room_id })
            .await
            .is_err()
        {
            return Ok(StopReason::ReceiverGone);
        }
        Supervisor::new(&self.config, &self.http, sign, room_id, outbox)
            .run(shutdown)
            .await
    }

    /// The sign server's client, with the login when the user allowed that server to have it.
    fn sign_client(&self) -> Result<SignClient, ClientError> {
        let config = &self.config;
        let session = config
            .session_for_sign_server()
            .map_err(ClientError::SessionNotAllowed)?;
        if config.session.is_some() && session.is_none() {
            tracing::info!(
                "the TikTok session is sent to TikTok only, not to the sign server (set {}={} to allow that)",
                crate::session::SIGN_SERVER_WHITELIST_ENV,
                config.sign_server_url.host_str().unwrap_or_default()
            );
        }
        Ok(SignClient::new(
            self.http.clone(),
            config.sign_server_url.clone(),
            config.api_key.clone(),
            config.client_name.clone(),
            config.user_agent.clone(),
            session,
        ))
    }

    async fn resolve_room(&self, sign: &SignClient) -> Result<i64, ClientError> {
        if let Some(id) = self.config.room_id {
            return Ok(id);
        }
        let raw = self
            .config
            .username
            .as_deref()
            .ok_or(ClientError::NoTarget)?;
        let username = normalize_username(raw)?;
        let lookup = RoomLookup::new(
            self.http.clone(),
            self.config.web_base.clone(),
            self.config.api_base.clone(),
            &self.config.user_agent,
            self.config.session.clone(),
            Some(sign.clone()),
        );
        let room_id = lookup.room_id(&username).await?;
        tracing::info!(%username, room_id, "room resolved");
        Ok(room_id)
    }
}
