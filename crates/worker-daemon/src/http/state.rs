//! What every handler of the server shares.

use std::sync::Arc;

use core_models::Db;

use super::live::LiveFeed;
use crate::hub::Hub;
use crate::queue_client::QueueClient;
use crate::runner::Skips;
use crate::stats::Counters;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    /// Connected pages.
    pub hub: Hub,
    /// Database access for `/api/stats`.
    pub queue: QueueClient,
    /// Database access for the control room's API.
    pub db: Db,
    /// This daemon's counters, for the lag in `/api/stats`.
    pub counters: Counters,
    /// Required on every request when set.
    pub token: Option<Arc<str>>,
    /// The token every state-changing request must carry in `X-CSRF-Token` (made at start,
    /// handed to the page by `GET /api/csrf`).
    pub csrf: Arc<str>,
    /// The dashboard's snapshots, shared by every open dashboard.
    pub live: LiveFeed,
    /// Tells this daemon's runners which items an operator skipped.
    pub skips: Skips,
}
