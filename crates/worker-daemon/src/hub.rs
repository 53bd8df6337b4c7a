//! The pages connected right now, and the deliveries waiting for a page's answer.
//!
//! Services talk to pages only through the [`Hub`]: they [`deliver`](Hub::deliver) a message
//! for one queue item to every matching page and await the first acknowledgement. The HTTP
//! server's WebSocket handlers [`connect`](Hub::connect) pages and pass their acks in. The hub
//! knows neither side's details: it depends on nothing else in the crate.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot, watch};

/// Messages a page may have queued before it counts as too slow to receive more.
const PAGE_BACKLOG: usize = 256;

/// Which page a browser opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageKind {
    /// `/overlays`: alerts and the chat feed.
    Overlays,
    /// `/dino`: the runner game.
    Dino,
}

impl PageKind {
    /// The page's name in URLs and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            PageKind::Overlays => "overlays",
            PageKind::Dino => "dino",
        }
    }
}

/// Why a delivery did not reach a page, or no page answered it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// No matching page is connected (or every one is too far behind to take more).
    #[error("no {0} page is connected")]
    NoPage(&'static str),
    /// Every page that received it disconnected before answering.
    #[error("the {0} page disconnected before it answered")]
    Disconnected(&'static str),
}

/// Shared registry of connected pages; cheap to clone.
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    /// Bumped on every connect and disconnect, so waiters for a page wake up.
    changes: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    next_page: u64,
    pages: HashMap<u64, Page>,
    /// Deliveries awaiting an ack, by queue item id.
    pending: HashMap<i64, Pending>,
}

struct Page {
    kind: PageKind,
    /// `?service=SLUG`: only that service's messages; `None`: every service of the kind.
    service: Option<String>,
    tx: mpsc::Sender<Arc<str>>,
}

impl Page {
    fn wants(&self, kind: PageKind, service: &str) -> bool {
        self.kind == kind && self.service.as_deref().is_none_or(|s| s == service)
    }
}

struct Pending {
    kind: PageKind,
    /// Pages that were sent the message and may still answer.
    pages: HashSet<u64>,
    done: oneshot::Sender<Result<u64, DeliveryError>>,
}

/// A connected page as its WebSocket handler holds it; disconnects when dropped.
pub struct PageHandle {
    hub: Hub,
    /// The page's id in this hub (logs, acks).
    pub id: u64,
    /// Messages for the page, to write to its socket in order.
    pub outbox: mpsc::Receiver<Arc<str>>,
}

impl Drop for PageHandle {
    fn drop(&mut self) {
        self.hub.disconnect(self.id);
    }
}

/// A message sent to one or more pages, awaiting the first page's ack. Forgotten by the hub
/// when dropped (e.g. when the item timed out), so a late ack finds nothing; the pages that
/// still hold it unanswered are told to drop it (`{"type":"cancel","id":N}`), so an item that
/// counts as failed does not turn up on screen later.
pub struct Delivery {
    hub: Hub,
    item_id: i64,
    /// How many pages the message went to (what the tests check fan-out by).
    #[cfg(test)]
    sent_to: usize,
    answer: Option<oneshot::Receiver<Result<u64, DeliveryError>>>,
}

impl Delivery {
    /// Waits for the first ack; returns the id of the page that answered.
    pub async fn acked(mut self) -> Result<u64, DeliveryError> {
        let Some(answer) = self.answer.take() else {
            return Err(DeliveryError::Disconnected("browser"));
        };
        // The sender lives in the hub until someone resolves it; a dropped sender means the
        // hub forgot the delivery, which only happens when every page went away.
        answer
            .await
            .unwrap_or(Err(DeliveryError::Disconnected("browser")))
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        let mut state = self.hub.lock();
        // Still pending: no page acked it and none is going to count.
        let Some(abandoned) = state.pending.remove(&self.item_id) else {
            return;
        };
        let cancel: Arc<str> = Arc::from(format!(r#"{{"type":"cancel","id":{}}}"#, self.item_id));
        for page in &abandoned.pages {
            if let Some(p) = state.pages.get(page) {
                // A page too far behind to take this also has the item queued behind other
                // messages; the timeout that got us here already failed the item either way.
                let _ = p.tx.try_send(cancel.clone());
            }
        }
    }
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind: still consistent enough.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a page that just connected.
    pub fn connect(&self, kind: PageKind, service: Option<String>) -> PageHandle {
        let (tx, outbox) = mpsc::channel(PAGE_BACKLOG);
        let id = {
            let mut state = self.lock();
            state.next_page += 1;
            let id = state.next_page;
            state.pages.insert(id, Page { kind, service, tx });
            id
        };
        self.inner.changes.send_modify(|n| *n += 1);
        tracing::info!(page = id, "{} page connected", kind.as_str());
        PageHandle {
            hub: self.clone(),
            id,
            outbox,
        }
    }

    fn disconnect(&self, page: u64) {
        let kind = {
            let mut state = self.lock();
            let kind = state.pages.remove(&page).map(|p| p.kind);
            // Deliveries only this page could still answer fail now, not at their timeout.
            let orphaned: Vec<i64> = state
                .pending
                .iter_mut()
                .filter_map(|(item, p)| {
                    (p.pages.remove(&page) && p.pages.is_empty()).then_some(*item)
                })
                .collect();
            for item in orphaned {
                if let Some(p) = state.pending.remove(&item) {
                    let _ = p
                        .done
                        .send(Err(DeliveryError::Disconnected(p.kind.as_str())));
                }
            }
            kind
        };
        self.inner.changes.send_modify(|n| *n += 1);
        if let Some(kind) = kind {
            tracing::info!(page, "{} page disconnected", kind.as_str());
        }
    }

    /// How many pages of this kind would receive a message of `service`.
    pub fn pages(&self, kind: PageKind, service: &str) -> usize {
        self.lock()
            .pages
            .values()
            .filter(|p| p.wants(kind, service))
            .count()
    }

    /// Every connected page, by kind (for `/health`).
    pub fn counts(&self) -> HashMap<&'static str, usize> {
        let mut out = HashMap::from([("overlays", 0), ("dino", 0)]);
        for p in self.lock().pages.values() {
            *out.entry(p.kind.as_str()).or_default() += 1;
        }
        out
    }

    /// Resolves once at least one page would receive a message of `service`.
    pub async fn wait_for_page(&self, kind: PageKind, service: &str) {
        let mut changes = self.inner.changes.subscribe();
        loop {
            if self.pages(kind, service) > 0 {
                return;
            }
            // The sender lives as long as the hub, which outlives this future.
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Sends `message` about queue item `item_id` to every page of `kind` that wants
    /// `service`'s messages, and tracks it until the first of them acks.
    pub fn deliver(
        &self,
        kind: PageKind,
        service: &str,
        item_id: i64,
        message: Arc<str>,
    ) -> Result<Delivery, DeliveryError> {
        let (done, answer) = oneshot::channel();
        let mut state = self.lock();
        let mut sent = HashSet::new();
        for (id, page) in state.pages.iter().filter(|(_, p)| p.wants(kind, service)) {
            // A page that stopped reading is skipped rather than waited for: the others
            // (or the timeout) decide.
            if page.tx.try_send(message.clone()).is_ok() {
                sent.insert(*id);
            } else {
                tracing::warn!(
                    page = id,
                    "{} page is not keeping up; skipped",
                    kind.as_str()
                );
            }
        }
        if sent.is_empty() {
            return Err(DeliveryError::NoPage(kind.as_str()));
        }
        #[cfg(test)]
        let sent_to = sent.len();
        state.pending.insert(
            item_id,
            Pending {
                kind,
                pages: sent,
                done,
            },
        );
        drop(state);
        Ok(Delivery {
            hub: self.clone(),
            item_id,
            #[cfg(test)]
            sent_to,
            answer: Some(answer),
        })
    }

    /// A page answered for an item. The first answer wins; answers from pages that were not
    /// sent the item, or that come late, are ignored. Returns whether it was the winner.
    pub fn ack(&self, page: u64, item_id: i64) -> bool {
        let mut state = self.lock();
        let ours = state
            .pending
            .get(&item_id)
            .is_some_and(|p| p.pages.contains(&page));
        if !ours {
            return false;
        }
        match state.pending.remove(&item_id) {
            Some(p) => p.done.send(Ok(page)).is_ok(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    #[tokio::test]
    async fn first_ack_wins_and_others_are_ignored() {
        let hub = Hub::default();
        let mut a = hub.connect(PageKind::Dino, None);
        let mut b = hub.connect(PageKind::Dino, Some("dinochrome".into()));
        let _other = hub.connect(PageKind::Dino, Some("elsewhere".into()));
        let d = hub
            .deliver(PageKind::Dino, "dinochrome", 7, msg("x"))
            .unwrap();
        assert_eq!(d.sent_to, 2);
        assert_eq!(&*a.outbox.recv().await.unwrap(), "x");
        assert_eq!(&*b.outbox.recv().await.unwrap(), "x");
        assert!(!hub.ack(999, 7), "an unknown page cannot ack");
        assert!(hub.ack(b.id, 7));
        assert!(!hub.ack(a.id, 7), "the second ack is ignored");
        assert_eq!(d.acked().await, Ok(b.id));
    }

    #[tokio::test]
    async fn no_page_and_disconnect_fail_the_delivery() {
        let hub = Hub::default();
        assert_eq!(
            hub.deliver(PageKind::Overlays, "o", 1, msg("x")).err(),
            Some(DeliveryError::NoPage("overlays"))
        );
        let page = hub.connect(PageKind::Overlays, None);
        let d = hub.deliver(PageKind::Overlays, "o", 1, msg("x")).unwrap();
        drop(page);
        assert_eq!(
            d.acked().await,
            Err(DeliveryError::Disconnected("overlays"))
        );
    }

    #[tokio::test]
    async fn an_abandoned_delivery_is_cancelled_on_the_pages_that_still_hold_it() {
        let hub = Hub::default();
        let mut a = hub.connect(PageKind::Overlays, None);
        let mut b = hub.connect(PageKind::Overlays, None);
        let d = hub.deliver(PageKind::Overlays, "o", 3, msg("x")).unwrap();
        assert_eq!(&*a.outbox.recv().await.unwrap(), "x");
        assert_eq!(&*b.outbox.recv().await.unwrap(), "x");
        // Given up (timed out) before any ack: both pages are told.
        drop(d);
        for page in [&mut a, &mut b] {
            assert_eq!(
                &*page.outbox.recv().await.unwrap(),
                r#"{"type":"cancel","id":3}"#
            );
        }
        assert!(!hub.ack(a.id, 3), "a late ack finds nothing");

        // An acked delivery is not cancelled anywhere.
        let d = hub.deliver(PageKind::Overlays, "o", 4, msg("y")).unwrap();
        assert!(hub.ack(a.id, 4));
        assert_eq!(d.acked().await, Ok(a.id));
        let _ = hub.deliver(PageKind::Overlays, "o", 5, msg("z")).unwrap();
        assert_eq!(&*a.outbox.recv().await.unwrap(), "y");
        assert_eq!(&*a.outbox.recv().await.unwrap(), "z");
        assert_eq!(
            &*a.outbox.recv().await.unwrap(),
            r#"{"type":"cancel","id":5}"#,
            "only the abandoned item 5 is cancelled, not the acked 4"
        );
    }

    #[tokio::test]
    async fn waiting_for_a_page_ends_when_one_connects() {
        let hub = Hub::default();
        let waiter = tokio::spawn({
            let hub = hub.clone();
            async move { hub.wait_for_page(PageKind::Dino, "d").await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        let _page = hub.connect(PageKind::Dino, None);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
