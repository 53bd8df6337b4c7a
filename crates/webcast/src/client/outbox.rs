//! The one way out of the client: every report goes through an [`Outbox`], which counts the
//! events it passes on and notices when nobody listens any more.

use std::sync::Arc;

use events::CapturedEvent;
use tokio::sync::mpsc;

use super::report::{ClientCounters, ClientEvent, ConnectionStatus};

/// The receiver of the client's reports was dropped: the client has nobody to work for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ReceiverGone;

/// The sending end of the client's channel, with its counters.
#[derive(Debug)]
pub(super) struct Outbox {
    tx: mpsc::Sender<ClientEvent>,
    counters: Arc<ClientCounters>,
}

impl Outbox {
    pub(super) fn new(tx: mpsc::Sender<ClientEvent>, counters: Arc<ClientCounters>) -> Outbox {
        Outbox { tx, counters }
    }

    /// The counters the whole client shares.
    pub(super) fn counters(&self) -> &Arc<ClientCounters> {
        &self.counters
    }

    /// A connection state change.
    pub(super) async fn status(&self, status: ConnectionStatus) -> Result<(), ReceiverGone> {
        self.send(ClientEvent::Status(status)).await
    }

    /// A batch of events, in order; nothing is sent for an empty one.
    pub(super) async fn events(&self, batch: Vec<CapturedEvent>) -> Result<(), ReceiverGone> {
        if batch.is_empty() {
            return Ok(());
        }
        ClientCounters::add(&self.counters.events, batch.len() as u64);
        self.send(ClientEvent::Events(batch)).await
    }

    /// A raw frame, for a recorder.
    pub(super) async fn raw_frame(&self, frame: Vec<u8>) -> Result<(), ReceiverGone> {
        self.send(ClientEvent::RawFrame(frame)).await
    }

    /// The LIVE ended.
    pub(super) async fn stream_ended(&self) -> Result<(), ReceiverGone> {
        self.send(ClientEvent::StreamEnded).await
    }

    async fn send(&self, event: ClientEvent) -> Result<(), ReceiverGone> {
        self.tx.send(event).await.map_err(|_| ReceiverGone)
    }
}
