//! DinoChrome and Overlays as the original ran them: they take the original's time per event
//! type and log what they would show. (They become real browser sources in a later step.)

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use core_models::EventType;

use super::{Job, QueueService};

/// A service that spends a per-type duration on each event.
pub struct Simulated {
    name: Arc<str>,
    durations: fn(EventType) -> Duration,
}

impl Simulated {
    /// The dino runner: each event makes the dino act.
    pub fn dinochrome(name: Arc<str>) -> Simulated {
        Simulated {
            name,
            durations: |t| {
                Duration::from_millis(match t {
                    EventType::Gift => 1000,
                    EventType::Subscribe | EventType::Follow => 800,
                    EventType::Share => 600,
                    EventType::Comment => 500,
                    _ => 300,
                })
            },
        }
    }

    /// Overlay alerts, with the original's durations.
    pub fn overlays(name: Arc<str>) -> Simulated {
        Simulated {
            name,
            durations: |t| {
                Duration::from_millis(match t {
                    EventType::Gift => 1200,
                    EventType::Subscribe => 1000,
                    EventType::Follow => 700,
                    EventType::Share => 500,
                    EventType::Comment => 400,
                    EventType::Join => 300,
                    _ => 200,
                })
            },
        }
    }
}

#[async_trait]
impl QueueService for Simulated {
    async fn process_event(&self, job: &Job) -> anyhow::Result<()> {
        tokio::time::sleep((self.durations)(job.event.event_type)).await;
        tracing::debug!(
            service = %self.name,
            "showed {} from {}",
            job.event.event_type,
            job.event.user_nickname.as_deref().unwrap_or("someone")
        );
        Ok(())
    }
}
