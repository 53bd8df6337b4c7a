//! What the two browser-source services share: the `no_page` setting and sending one item to
//! the pages until one of them acks it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use super::settings::{u64_setting, BuildError, Settings};
use crate::hub::{DeliveryError, Hub, PageKind};

/// What an item does when no page is connected (`no_page` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPage {
    /// Wait for a page (bounded by the service's `timeout_ms`, then failed). The default:
    /// starting the daemon before OBS loses nothing.
    Wait,
    /// Fail the item at once.
    Fail,
    /// Complete the item at once without showing it.
    Complete,
}

impl NoPage {
    /// Reads `no_page`, allowing only `allowed`.
    pub fn from_settings(settings: &Settings, allowed: &[NoPage]) -> Result<NoPage, BuildError> {
        let names = allowed.iter().map(|n| n.as_str()).collect::<Vec<_>>();
        let problem = || format!("must be one of: {}", names.join(", "));
        let chosen = match settings.get("no_page") {
            None => NoPage::Wait,
            Some(serde_json::Value::String(s)) => match s.as_str() {
                "wait" => NoPage::Wait,
                "fail" => NoPage::Fail,
                "complete" => NoPage::Complete,
                _ => {
                    return Err(BuildError::Setting {
                        key: "no_page",
                        problem: problem(),
                    })
                }
            },
            Some(_) => {
                return Err(BuildError::Setting {
                    key: "no_page",
                    problem: problem(),
                })
            }
        };
        if !allowed.contains(&chosen) {
            return Err(BuildError::Setting {
                key: "no_page",
                problem: problem(),
            });
        }
        Ok(chosen)
    }

    fn as_str(self) -> &'static str {
        match self {
            NoPage::Wait => "wait",
            NoPage::Fail => "fail",
            NoPage::Complete => "complete",
        }
    }
}

/// The pages of one kind, as one service sees them.
pub struct Pages {
    hub: Hub,
    kind: PageKind,
    service: Arc<str>,
    no_page: NoPage,
    /// How long a page may take to ack (`ack_timeout_ms`).
    ack_timeout: Duration,
}

/// How a send ended when it did not fail.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// A page acked it.
    Acked,
    /// No page was connected and `no_page = complete`.
    Skipped,
}

impl Pages {
    /// Reads `no_page` (one of `allowed`) and `ack_timeout_ms` (default `ack_default`).
    pub fn new(
        hub: Hub,
        kind: PageKind,
        service: &str,
        settings: &Settings,
        allowed: &[NoPage],
        ack_default: Duration,
    ) -> Result<Pages, BuildError> {
        Ok(Pages {
            hub,
            kind,
            service: Arc::from(service),
            no_page: NoPage::from_settings(settings, allowed)?,
            ack_timeout: Duration::from_millis(
                u64_setting(settings, "ack_timeout_ms", ack_default.as_millis() as u64).max(1),
            ),
        })
    }

    /// Sends `message` for item `item_id` and waits for the first ack. With `no_page = wait`,
    /// a page reloading mid-delivery (OBS refresh) just means sending again once it is back.
    pub async fn send(&self, item_id: i64, message: String) -> anyhow::Result<Sent> {
        let message: Arc<str> = Arc::from(message);
        loop {
            if self.hub.pages(self.kind, &self.service) == 0 {
                match self.no_page {
                    NoPage::Wait => self.hub.wait_for_page(self.kind, &self.service).await,
                    NoPage::Fail => bail!(DeliveryError::NoPage(self.kind.as_str())),
                    NoPage::Complete => return Ok(Sent::Skipped),
                }
            }
            let delivery =
                match self
                    .hub
                    .deliver(self.kind, &self.service, item_id, message.clone())
                {
                    Ok(d) => d,
                    // The last page left between the count and the send: decide again.
                    Err(DeliveryError::NoPage(_)) => continue,
                    Err(e) => bail!(e),
                };
            match tokio::time::timeout(self.ack_timeout, delivery.acked()).await {
                Ok(Ok(_page)) => return Ok(Sent::Acked),
                Ok(Err(e)) if self.no_page == NoPage::Wait => {
                    tracing::debug!(service = %self.service, item = item_id, "{e}; sending again");
                }
                Ok(Err(e)) => bail!(e),
                Err(_) => bail!(
                    "no {} page answered within {} ms",
                    self.kind.as_str(),
                    self.ack_timeout.as_millis()
                ),
            }
        }
    }
}
