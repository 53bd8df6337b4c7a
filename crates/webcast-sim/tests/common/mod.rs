//! What the client-against-simulator tests share: a client configured for speed, a running
//! client whose events can be awaited, and ways to pick events out.

#![allow(dead_code)]

use std::time::Duration;

use events::{CapturedEvent, EventType};
use lifecycle::{Backoff, Jitter, Shutdown, Trigger};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webcast::client::{Client, ClientConfig, ClientCounters, ClientError, ClientEvent, StopReason};
use webcast_sim::{SimulatorHandle, Step};

pub const WAIT: Duration = Duration::from_secs(10);

pub fn client_config(sim: &SimulatorHandle) -> ClientConfig {
    let mut config = ClientConfig::new(format!(
        "https://www.tiktok.com/@{}/live",
        sim.username().to_uppercase()
    ))
    .with_base_url(sim.base_url());
    config.api_key = None;
    config.heartbeat_interval = Duration::from_millis(50);
    config.watchdog_timeout = Duration::from_secs(2);
    config.backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(100))
        .with_jitter(Jitter::Down(0.5));
    config.max_attempts = Some(20);
    config.streak_timeout = Duration::from_millis(200);
    config.request_timeout = Duration::from_secs(5);
    config
}

pub struct Running {
    pub rx: mpsc::Receiver<ClientEvent>,
    pub task: JoinHandle<Result<StopReason, ClientError>>,
    /// Dropping it stops the client too.
    pub stop: Trigger,
    pub counters: std::sync::Arc<ClientCounters>,
}

pub fn run(config: ClientConfig) -> Running {
    let client = Client::new(config).expect("client");
    let counters = client.counters();
    let (stop, shutdown) = Shutdown::new();
    let (rx, task) = client.spawn(256, shutdown);
    Running {
        rx,
        task,
        stop,
        counters,
    }
}

impl Running {
    /// Collects everything until `done` says so (inclusive) or the channel closes.
    pub async fn until(&mut self, done: impl Fn(&ClientEvent) -> bool) -> Vec<ClientEvent> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(event)) => {
                    let stop = done(&event);
                    seen.push(event);
                    if stop {
                        return seen;
                    }
                }
                Ok(None) => return seen,
                Err(_) => panic!(
                    "timed out; last events seen: {:#?}",
                    &seen[seen.len().saturating_sub(8)..]
                ),
            }
        }
    }

    pub async fn finish(self) -> Result<StopReason, ClientError> {
        self.stop.trigger();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("client stops")
            .expect("no panic")
    }
}

pub fn captured(events: &[ClientEvent]) -> Vec<CapturedEvent> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Events(batch) => Some(batch.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

pub fn of_type(events: &[CapturedEvent], t: EventType) -> Vec<&CapturedEvent> {
    events.iter().filter(|e| e.event_type == t).collect()
}

pub fn comments(events: &[CapturedEvent]) -> Vec<String> {
    of_type(events, EventType::Comment)
        .iter()
        .map(|e| e.data["comment"].as_str().unwrap_or_default().to_owned())
        .collect()
}

pub fn step(json: &str) -> Step {
    serde_json::from_str(json).expect("step json")
}
