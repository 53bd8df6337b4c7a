//! What every handler of the server shares.

use std::sync::Arc;

use crate::hub::Hub;
use crate::queue_client::QueueClient;
use crate::stats::Counters;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    /// Connected pages.
    pub hub: Hub,
    /// Database access for `/api/stats`.
    pub queue: QueueClient,
    /// This daemon's counters, for the lag in `/api/stats`.
    pub counters: Counters,
    /// Required on every request when set.
    pub token: Option<Arc<str>>,
}
