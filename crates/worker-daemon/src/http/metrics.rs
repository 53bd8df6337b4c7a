//! `GET /metrics`: the Prometheus text format, encoded by the official client crate.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `tiklive_queue_items` | gauge | `service`, `status` (every service, from the database) |
//! | `tiklive_items_processed_total` | counter | `service`, `outcome` (`completed`/`failed`, this daemon) |
//! | `tiklive_lag_seconds` | histogram | `service` (capture → `process_event`, this daemon) |
//! | `tiklive_events_captured_total` | counter | (events of LIVE sessions, from the database) |
//!
//! Each scrape reads the queue counts and the sessions' totals (two queries) and copies this
//! daemon's counters; nothing is recorded per event beyond what the runners already count.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use dispatcher::{Engine, QueueStats};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::error::ApiError;
use super::state::AppState;
use crate::stats::LagSnapshot;

/// Histogram bounds of the lag, in seconds: from what a streamer cannot see to what ruins a
/// stream.
const LAG_BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Everything one scrape reports.
#[derive(Debug)]
struct Scrape {
    queues: Vec<QueueStats>,
    outcomes: Vec<(String, u64, u64)>,
    lag: Vec<(String, LagSnapshot)>,
    events_captured: u64,
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut items = encoder.encode_descriptor(
            "tiklive_queue_items",
            "Queue items per service and status",
            None,
            MetricType::Gauge,
        )?;
        for q in &self.queues {
            for (status, n) in [
                ("pending", q.pending),
                ("processing", q.processing),
                ("completed", q.completed),
                ("failed", q.failed),
                ("discarded", q.discarded),
            ] {
                let labels = [("service", q.slug.as_str()), ("status", status)];
                items.encode_family(&labels)?.encode_gauge(&n)?;
            }
        }
        let mut processed = encoder.encode_descriptor(
            "tiklive_items_processed",
            "Items this worker daemon processed, by outcome",
            None,
            MetricType::Counter,
        )?;
        for (slug, completed, failed) in &self.outcomes {
            for (outcome, n) in [("completed", completed), ("failed", failed)] {
                let labels = [("service", slug.as_str()), ("outcome", outcome)];
                ConstCounter::new(*n).encode(processed.encode_family(&labels)?)?;
            }
        }
        let mut lag = encoder.encode_descriptor(
            "tiklive_lag_seconds",
            "Capture to process_event lag of the items this worker daemon started",
            None,
            MetricType::Histogram,
        )?;
        for (slug, snapshot) in &self.lag {
            let (sum, count, buckets) = snapshot.cumulative(&LAG_BOUNDS);
            let labels = [("service", slug.as_str())];
            lag.encode_family(&labels)?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    sum, count, &buckets, None,
                )?;
        }
        let captured = encoder.encode_descriptor(
            "tiklive_events_captured",
            "Events stored from LIVE sessions (test sessions left out)",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(self.events_captured).encode(captured)?;
        Ok(())
    }
}

/// `GET /metrics`.
pub(super) async fn metrics(State(app): State<AppState>) -> Result<Response, ApiError> {
    let (queues, totals) = app
        .db
        .run(|c| {
            let queues = Engine::new(c).stats(None)?;
            let totals = core_models::sessions::totals(c, false)?;
            Ok::<_, ApiError>((queues, totals))
        })
        .await?;
    let scrape = Scrape {
        queues,
        outcomes: app.counters.outcomes(),
        lag: app.counters.lag(),
        events_captured: u64::try_from(totals.events).unwrap_or(0),
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut body = String::new();
    prometheus_client::encoding::text::encode(&mut body, &registry)
        .map_err(|_| ApiError::Unavailable("the metrics could not be encoded".into()))?;
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}
