//! One stop signal per process, seen by every task.
//!
//! [`Shutdown::on_signals`] wires Ctrl+C and SIGTERM to it; an embedding program (`ctl demo`,
//! the tests) makes its own with [`Shutdown::new`] and pulls the [`Trigger`]. A task that may
//! also be stopped alone (one service's runner) gets a [`Shutdown::child`]: it fires with its
//! parent or with its own trigger.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Pulls the signal. Cheap to clone; dropping every clone counts as pulling it (whoever was
/// meant to stop the tasks is gone).
#[derive(Debug, Clone)]
pub struct Trigger {
    tx: Arc<watch::Sender<bool>>,
}

impl Trigger {
    /// Signals every [`Shutdown`] made from this trigger (and their children).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// True once [`trigger`](Trigger::trigger) was called.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }
}

/// A task's view of the stop signal: [`wait`](Shutdown::wait) completes once it fires.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
    parent: Option<Box<Shutdown>>,
}

impl Shutdown {
    /// A new signal and the trigger that fires it.
    pub fn new() -> (Trigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (Trigger { tx: Arc::new(tx) }, Shutdown { rx, parent: None })
    }

    /// The process's signal, fired by Ctrl+C or SIGTERM. A second signal exits at once with
    /// code 130 after one line naming `program`: whatever the first one was waiting for
    /// (in-flight items, a spool flush) is given up, and the leases and spool files make that
    /// safe.
    pub fn on_signals(program: &'static str) -> Result<(Trigger, Shutdown), ctrlc::Error> {
        let (trigger, shutdown) = Shutdown::new();
        let on_signal = trigger.clone();
        let count = AtomicUsize::new(0);
        ctrlc::set_handler(move || {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                on_signal.trigger();
            } else {
                eprintln!("{program}: second signal, exiting now");
                std::process::exit(130);
            }
        })?;
        Ok((trigger, shutdown))
    }

    /// A signal that fires with this one or with its own trigger, for a task that can also be
    /// stopped alone.
    pub fn child(&self) -> (Trigger, Shutdown) {
        let (trigger, mut child) = Shutdown::new();
        child.parent = Some(Box::new(self.clone()));
        (trigger, child)
    }

    /// True once the signal fired (here or in a parent).
    pub fn is_triggered(&self) -> bool {
        // A closed channel (every trigger dropped) counts as fired, as in `wait`.
        *self.rx.borrow()
            || self.rx.has_changed().is_err()
            || self.parent.as_ref().is_some_and(|p| p.is_triggered())
    }

    /// Completes once the signal fires, or at once if it already has.
    pub async fn wait(&mut self) {
        match &mut self.parent {
            None => own(&mut self.rx).await,
            Some(parent) => {
                tokio::select! {
                    () = own(&mut self.rx) => {}
                    () = Box::pin(parent.wait()) => {}
                }
            }
        }
    }

    /// Sleeps for `d` unless the signal fires first; true when it did.
    pub async fn sleep(&mut self, d: Duration) -> bool {
        tokio::time::timeout(d, self.wait()).await.is_ok()
    }
}

/// Waits for one channel: fired, or every trigger dropped.
async fn own(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|fired| *fired).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fires_every_clone_and_stays_fired() {
        let (trigger, shutdown) = Shutdown::new();
        let mut a = shutdown.clone();
        let mut b = shutdown;
        assert!(!a.is_triggered());
        assert!(!a.sleep(Duration::from_millis(10)).await);
        trigger.trigger();
        a.wait().await;
        b.wait().await;
        assert!(b.is_triggered() && trigger.is_triggered());
        assert!(
            a.sleep(Duration::from_secs(60)).await,
            "already fired: no sleep"
        );
    }

    #[tokio::test]
    async fn a_child_fires_with_its_parent_or_alone() {
        let (parent_trigger, parent) = Shutdown::new();
        let (alone, mut child) = parent.child();
        let (_keep, mut other) = parent.child();
        alone.trigger();
        child.wait().await;
        assert!(!parent.is_triggered() && !other.is_triggered());
        parent_trigger.trigger();
        other.wait().await;
        assert!(other.is_triggered());
    }

    #[tokio::test]
    async fn dropping_every_trigger_counts_as_firing() {
        let (trigger, mut shutdown) = Shutdown::new();
        drop(trigger);
        tokio::time::timeout(Duration::from_secs(5), shutdown.wait())
            .await
            .expect("a signal nobody can fire any more must not hang its tasks");
        assert!(shutdown.is_triggered());
    }
}
