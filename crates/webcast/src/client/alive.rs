//! TikTok's live check (`GET /webcast/room/check_alive/?room_ids=…`), asked when no data has
//! come for a while: a socket can stay open, answering heartbeats, after its LIVE ended
//! without a control message, and only this tells (reference §7, "missed stream-end event").

use std::time::Duration;

use reqwest::header::{HeaderValue, COOKIE};
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use super::config::ClientConfig;
use crate::browser::{cookie_header, Browser};

/// How long one check may take; a check that does not answer in time tells nothing.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The live check of one room, due after a quiet spell.
pub(super) struct AliveCheck {
    http: reqwest::Client,
    url: Url,
    cookie: Option<HeaderValue>,
    room_id: i64,
    quiet: Duration,
    due: Instant,
}

impl AliveCheck {
    /// A check for `room_id`, first due `config.alive_check_after` from now.
    pub(super) fn new(config: &ClientConfig, http: &reqwest::Client, room_id: i64) -> AliveCheck {
        let mut url = config.webcast_base.clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}/webcast/room/check_alive/"));
        let room = room_id.to_string();
        let browser = Browser::new(&config.user_agent);
        url.query_pairs_mut()
            .extend_pairs(browser.web_params(config.session.is_some()))
            .append_pair("room_ids", &room);
        let cookie = HeaderValue::from_str(&cookie_header(config.session.as_ref(), ""))
            .ok()
            .map(|mut v| {
                v.set_sensitive(true);
                v
            });
        AliveCheck {
            http: http.clone(),
            url,
            cookie,
            room_id,
            quiet: config.alive_check_after,
            due: Instant::now() + config.alive_check_after,
        }
    }

    /// Completes when the next check is due.
    pub(super) fn due(&self) -> tokio::time::Sleep {
        tokio::time::sleep_until(self.due)
    }

    /// Data came: no check until the next quiet spell.
    pub(super) fn data_arrived(&mut self) {
        self.due = Instant::now() + self.quiet;
    }

    /// Asks whether the room is live; the next check is due a quiet spell later. `None` when
    /// the answer did not come or says nothing (a failed check ends nothing).
    pub(super) async fn ask(&mut self) -> Option<bool> {
        self.due = Instant::now() + self.quiet;
        let mut request = self.http.get(self.url.clone());
        for (name, value) in Browser::HEADERS {
            request = request.header(name, value);
        }
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie.clone());
        }
        let answer = async {
            let response = request.send().await?.error_for_status()?;
            response.bytes().await
        };
        match tokio::time::timeout(CHECK_TIMEOUT, answer).await {
            Ok(Ok(body)) => serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|json| alive_in(&json, self.room_id)),
            Ok(Err(error)) => {
                tracing::debug!(%error, "live check failed");
                None
            }
            Err(_) => {
                tracing::debug!("live check timed out");
                None
            }
        }
    }
}

/// `data[i].alive` of our room (by `room_id` or `room_id_str`), else of the only entry.
fn alive_in(json: &Value, room_id: i64) -> Option<bool> {
    let rooms = json.get("data")?.as_array()?;
    let ours = rooms.iter().find(|r| {
        r.get("room_id").and_then(Value::as_i64) == Some(room_id)
            || r.get("room_id_str").and_then(Value::as_str) == Some(&room_id.to_string())
    });
    let entry = match (ours, rooms.as_slice()) {
        (Some(entry), _) => entry,
        (None, [only]) => only,
        (None, _) => return None,
    };
    entry.get("alive").and_then(Value::as_bool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_for_our_room() {
        let json: Value = serde_json::from_str(
            r#"{"data":[{"alive":true,"room_id":1,"room_id_str":"1"},{"alive":false,"room_id":7300000000000000001,"room_id_str":"7300000000000000001"}],"status_code":0}"#,
        )
        .expect("json");
        assert_eq!(alive_in(&json, 7_300_000_000_000_000_001), Some(false));
        assert_eq!(alive_in(&json, 1), Some(true));
        assert_eq!(alive_in(&json, 2), None);
        let only: Value = serde_json::from_str(r#"{"data":[{"alive":false}]}"#).expect("json");
        assert_eq!(alive_in(&only, 9), Some(false));
        assert_eq!(alive_in(&serde_json::json!({"data": null}), 9), None);
    }
}
