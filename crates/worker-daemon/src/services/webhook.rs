//! `webhook`: POSTs each job as JSON to a URL; any 2xx answer is success.

use std::time::Duration;

use anyhow::anyhow;
use async_trait::async_trait;
use lifecycle::Backoff;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::queue_service::QueueService;
use super::settings::{required_str, u64_setting, BuildError, Settings};
use crate::job::Job;

/// The pause before each retry: 200 ms, doubling. Not capped: the item's `timeout_ms` bounds
/// the whole delivery, retries included.
const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::MAX);

/// The `webhook` service. Settings: `url` (required), `request_timeout_ms` per request
/// (default 5 000), `retries` after a failed request (default 2, with doubling backoff from
/// 200 ms), `headers` (an object of extra headers, e.g. an authorization token).
///
/// The per-request timeout has its own key: `timeout_ms` bounds the whole item, retries
/// included, for every service kind. The defaults keep every attempt inside it
/// (3 × 5 s + backoff < 30 s), so a hanging endpoint fails with its own error.
pub struct Webhook {
    url: reqwest::Url,
    client: reqwest::Client,
    retries: u64,
    headers: HeaderMap,
}

impl Webhook {
    /// Reads `url`, `request_timeout_ms`, `retries` and `headers`.
    pub fn new(settings: &Settings) -> Result<Webhook, BuildError> {
        let url_text = required_str(settings, "url")?;
        let url = reqwest::Url::parse(&url_text).map_err(|e| BuildError::Setting {
            key: "url",
            problem: format!("is not a valid URL ({e}): e.g. http://127.0.0.1:9000/events"),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(BuildError::Setting {
                key: "url",
                problem: "must be an http:// or https:// URL".into(),
            });
        }
        let headers = extra_headers(settings)?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(
                u64_setting(settings, "request_timeout_ms", 5_000).max(1),
            ))
            .user_agent(concat!("tiklive-worker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BuildError::Setting {
                key: "url",
                problem: format!("cannot set up an HTTP client: {e}"),
            })?;
        Ok(Webhook {
            url,
            client,
            retries: u64_setting(settings, "retries", 2),
            headers,
        })
    }

    async fn post_once(&self, body: &[u8]) -> anyhow::Result<()> {
        let response = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| anyhow!("POST {} failed: {e}", self.url))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(anyhow!(
            "POST {} answered {status}: {}",
            self.url,
            text.chars().take(200).collect::<String>()
        ))
    }
}

/// The `headers` setting: an object of header names to string values.
fn extra_headers(settings: &Settings) -> Result<HeaderMap, BuildError> {
    let mut headers = HeaderMap::new();
    let Some(obj) = settings
        .get("headers")
        .and_then(serde_json::Value::as_object)
    else {
        return Ok(headers);
    };
    for (k, v) in obj {
        let (Ok(name), Some(Ok(value))) = (
            HeaderName::from_bytes(k.as_bytes()),
            v.as_str().map(HeaderValue::from_str),
        ) else {
            return Err(BuildError::Setting {
                key: "headers",
                problem: format!("has an invalid header '{k}'"),
            });
        };
        headers.insert(name, value);
    }
    Ok(headers)
}

#[async_trait]
impl QueueService for Webhook {
    async fn process_event(&self, job: &Job) -> anyhow::Result<()> {
        let body = serde_json::to_vec(&job.payload())?;
        let mut backoff = RETRY_BACKOFF;
        loop {
            match self.post_once(&body).await {
                Ok(()) => return Ok(()),
                Err(e) if u64::from(backoff.failures()) >= self.retries => return Err(e),
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::debug!("webhook attempt {} failed: {e}", backoff.failures());
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}
