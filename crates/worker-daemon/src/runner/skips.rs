//! Items an operator skipped while they ran (the control room's skip button): the database
//! already says `failed` (reason `skipped`) and ignores the worker's outcome; this tells the
//! runner of this daemon that runs the item to stop waiting for it and move on.

use tokio::sync::broadcast;

/// Skipped item ids, announced to every runner of the daemon.
#[derive(Clone)]
pub struct Skips {
    tx: broadcast::Sender<i64>,
}

impl Default for Skips {
    fn default() -> Self {
        // A few skips at a time at most; a runner that lags behind misses none it waits for,
        // since it subscribes before its item starts.
        let (tx, _) = broadcast::channel(64);
        Skips { tx }
    }
}

impl Skips {
    /// Announces that `item` was skipped.
    pub fn announce(&self, item: i64) {
        // No runner listening: the item runs in another daemon, or has just finished.
        let _ = self.tx.send(item);
    }

    /// A listener, to take before the item starts.
    pub(crate) fn listen(&self) -> SkipListener {
        SkipListener {
            rx: self.tx.subscribe(),
        }
    }
}

/// One runner's view of the announcements.
pub(crate) struct SkipListener {
    rx: broadcast::Receiver<i64>,
}

impl SkipListener {
    /// Resolves when `item` is announced skipped (never, if it is not).
    pub(crate) async fn skipped(&mut self, item: i64) {
        loop {
            match self.rx.recv().await {
                Ok(id) if id == item => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }
}
