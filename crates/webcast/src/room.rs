//! From a username to a room id (reference §1.1-§1.2): normalise the handle, read the live
//! page's SIGI_STATE JSON, fall back to the api-live JSON, then to the sign server's room-id
//! endpoint. Every request looks like a browser's: its headers, the web client's parameters
//! and the `tt-target-idc` cookie (plus the login's cookies when there is one), as the peers
//! send them; bare requests are what TikTok's firewall turns away first.

use reqwest::header::{HeaderValue, COOKIE};
use serde_json::Value;
use url::Url;

use crate::browser::{cookie_header, Browser};
use crate::session::Session;
use crate::sign::SignClient;

/// `LiveRoom.status` / `user.status` of a room that is not live.
const STATUS_OFFLINE: i64 = 4;
/// `statusCode` of the api-live answer for an 18+ room.
const AGE_RESTRICTED_CODE: i64 = 4_003_110;

/// Why the room of a user could not be found. Each variant is a message a streamer can act on.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// The input is not a usable handle.
    #[error("'{input}' is not a TikTok username (expected e.g. @name or https://www.tiktok.com/@name/live)")]
    InvalidUsername {
        /// What was given.
        input: String,
    },
    /// The user exists but is not live.
    #[error("@{username} is offline: start the LIVE first, or pass --room-id")]
    Offline {
        /// The normalised handle.
        username: String,
    },
    /// No such user, or a user that has never gone live.
    #[error(
        "@{username} was not found on TikTok (check the spelling; handles are usually lowercase)"
    )]
    NotFound {
        /// The normalised handle.
        username: String,
    },
    /// TikTok answered with a captcha, a login wall or an error page.
    #[error("TikTok blocked the room lookup for @{username} ({detail}); your IP or country might be blocked, try later, a proxy, or pass --room-id")]
    Blocked {
        /// The normalised handle.
        username: String,
        /// What was seen.
        detail: String,
    },
    /// The room is 18+ and cannot be looked up anonymously.
    #[error("@{username}'s LIVE is age-restricted and cannot be looked up without a login; pass --room-id")]
    AgeRestricted {
        /// The normalised handle.
        username: String,
    },
    /// The request itself failed.
    #[error("room lookup request to {url} failed: {source}")]
    Http {
        /// The URL requested.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
}

impl RoomError {
    /// An answer about the user (offline, not found, 18+), rather than a failure to ask.
    fn is_definite(&self) -> bool {
        matches!(
            self,
            RoomError::Offline { .. }
                | RoomError::NotFound { .. }
                | RoomError::AgeRestricted { .. }
        )
    }
}

/// Normalises what a user typed into TikTok's canonical handle: strips the profile or live URL,
/// a leading `@` and whitespace, and lowercases (TikTok handles are case-insensitive in practice,
/// and the lookup fails on the wrong case).
pub fn normalize_username(input: &str) -> Result<String, RoomError> {
    events::Streamer::parse(input)
        .map(|s| s.as_str().to_owned())
        .map_err(|e| RoomError::InvalidUsername { input: e.input })
}

/// Finds the room id of a live user through TikTok's web endpoints, then the sign server's.
#[derive(Debug, Clone)]
pub(crate) struct RoomLookup {
    http: reqwest::Client,
    web_base: Url,
    api_base: Url,
    user_agent: String,
    session: Option<Session>,
    sign: Option<SignClient>,
}

impl RoomLookup {
    /// `web_base` serves `/@{user}/live`, `api_base` serves `/api-live/user/room/`; both are
    /// `https://www.tiktok.com` in production and a local server in tests. `sign`, when given,
    /// is asked last (its room-id endpoint is a paid feature of the public sign server).
    pub fn new(
        http: reqwest::Client,
        web_base: Url,
        api_base: Url,
        user_agent: &str,
        session: Option<Session>,
        sign: Option<SignClient>,
    ) -> Self {
        Self {
            http,
            web_base,
            api_base,
            user_agent: user_agent.to_owned(),
            session,
            sign,
        }
    }

    /// The room id of `username` (already normalised): the live page first, then the API,
    /// then the sign server. A definite answer (offline, not found, 18+) ends the search; a
    /// failure to look is reported as the live page's failure.
    pub async fn room_id(&self, username: &str) -> Result<i64, RoomError> {
        let html_error = match self.lookup_live_page(username).await {
            Ok(id) => return Ok(id),
            Err(e) => e,
        };
        tracing::debug!(error = %html_error, "live page lookup failed; trying api-live");
        match self.lookup_api(username).await {
            Ok(id) => return Ok(id),
            Err(e) if e.is_definite() => return Err(e),
            Err(api_error) => tracing::debug!(error = %api_error, "api-live lookup failed too"),
        }
        let Some(sign) = &self.sign else {
            return Err(html_error);
        };
        match sign.room_id(username).await {
            Ok(Some(id)) => Ok(id),
            Ok(None) => Err(RoomError::Offline {
                username: username.to_owned(),
            }),
            Err(sign_error) => {
                tracing::debug!(error = %sign_error, "the sign server's room lookup failed too");
                Err(html_error)
            }
        }
    }

    async fn lookup_live_page(&self, username: &str) -> Result<i64, RoomError> {
        let url = join(&self.web_base, &format!("@{username}/live"));
        let body = self.get_text(&url, username).await?;
        parse_live_page(&body, username)
    }

    async fn lookup_api(&self, username: &str) -> Result<i64, RoomError> {
        let mut url = join(&self.api_base, "api-live/user/room/");
        let browser = Browser::new(&self.user_agent);
        url.query_pairs_mut()
            .extend_pairs(browser.web_params(self.session.is_some()))
            .append_pair("uniqueId", username)
            .append_pair("sourceType", "54");
        let body = self.get_text(&url, username).await?;
        parse_api_live(&body, username)
    }

    /// A browser's GET: its headers and cookies (marked sensitive: they may hold the login).
    async fn get_text(&self, url: &Url, username: &str) -> Result<String, RoomError> {
        let http_err = |source| RoomError::Http {
            url: url.to_string(),
            source,
        };
        let mut request = self.http.get(url.clone());
        for (name, value) in Browser::HEADERS {
            request = request.header(name, value);
        }
        if let Ok(mut cookie) = HeaderValue::from_str(&cookie_header(self.session.as_ref(), "")) {
            cookie.set_sensitive(true);
            request = request.header(COOKIE, cookie);
        }
        let response = request.send().await.map_err(http_err)?;
        let status = response.status();
        if !status.is_success() {
            return Err(RoomError::Blocked {
                username: username.to_owned(),
                detail: format!("HTTP {status} from {url}"),
            });
        }
        response.text().await.map_err(http_err)
    }
}

/// `base` + `path`, keeping any path prefix of `base`.
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}/{path}"));
    url
}

/// Reads the room id from the live page's `<script id="SIGI_STATE">` JSON.
fn parse_live_page(html: &str, username: &str) -> Result<i64, RoomError> {
    let blocked = |detail: &str| RoomError::Blocked {
        username: username.to_owned(),
        detail: detail.to_owned(),
    };
    let start = html
        .find("id=\"SIGI_STATE\"")
        .ok_or_else(|| blocked("the live page has no SIGI_STATE (captcha or login page?)"))?;
    let after_tag = html[start..]
        .find('>')
        .map(|i| start + i + 1)
        .ok_or_else(|| blocked("truncated SIGI_STATE tag"))?;
    let end = html[after_tag..]
        .find("</script>")
        .map(|i| after_tag + i)
        .ok_or_else(|| blocked("truncated SIGI_STATE script"))?;
    let state: Value = serde_json::from_str(&html[after_tag..end])
        .map_err(|_| blocked("SIGI_STATE is not JSON (captcha?)"))?;
    let Some(info) = state
        .get("LiveRoom")
        .and_then(|l| l.get("liveRoomUserInfo"))
    else {
        return Err(RoomError::NotFound {
            username: username.to_owned(),
        });
    };
    let user_status = info.pointer("/user/status").and_then(Value::as_i64);
    let room_status = info.pointer("/liveRoom/status").and_then(Value::as_i64);
    if user_status == Some(STATUS_OFFLINE) || room_status == Some(STATUS_OFFLINE) {
        return Err(RoomError::Offline {
            username: username.to_owned(),
        });
    }
    room_id_value(info.pointer("/user/roomId")).ok_or_else(|| RoomError::Offline {
        username: username.to_owned(),
    })
}

/// Reads the room id from `/api-live/user/room/` JSON.
fn parse_api_live(body: &str, username: &str) -> Result<i64, RoomError> {
    let not_found = || RoomError::NotFound {
        username: username.to_owned(),
    };
    let json: Value = serde_json::from_str(body).map_err(|_| RoomError::Blocked {
        username: username.to_owned(),
        detail: "api-live did not answer JSON (captcha?)".to_owned(),
    })?;
    if json.get("statusCode").and_then(Value::as_i64) == Some(AGE_RESTRICTED_CODE) {
        return Err(RoomError::AgeRestricted {
            username: username.to_owned(),
        });
    }
    match json.get("message").and_then(Value::as_str) {
        Some("user_not_found") => return Err(not_found()),
        Some("params_error") => {
            return Err(RoomError::Blocked {
                username: username.to_owned(),
                detail: "api-live rejected the request (params_error)".to_owned(),
            })
        }
        _ => {}
    }
    let data = json
        .get("data")
        .filter(|d| !d.is_null())
        .ok_or_else(not_found)?;
    let status = data
        .pointer("/liveRoom/status")
        .or_else(|| data.pointer("/user/status"))
        .and_then(Value::as_i64);
    let room_id = room_id_value(data.pointer("/user/roomId"));
    match status {
        Some(STATUS_OFFLINE) => Err(RoomError::Offline {
            username: username.to_owned(),
        }),
        Some(2 | 3) => room_id.ok_or_else(not_found),
        // A status TikTok has not used before, or none: the room id is what matters (the
        // peers use it too), and connecting tells whether the room is live.
        other => {
            if room_id.is_some() {
                tracing::debug!(status = ?other, "api-live answered an unexpected status; using its room id");
            }
            room_id.ok_or_else(not_found)
        }
    }
}

/// A room id given as a JSON string (TikTok's way) or number; 0 and empty mean "none".
fn room_id_value(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised() {
        for input in [
            "Maya_Fami",
            "@maya_fami",
            " @Maya_Fami ",
            "https://www.tiktok.com/@maya_fami/live",
            "https://www.tiktok.com/@Maya_Fami/live?lang=en",
            "tiktok.com/@maya_fami/",
        ] {
            assert_eq!(normalize_username(input).expect(input), "maya_fami");
        }
        assert!(normalize_username("").is_err());
        assert!(normalize_username("@").is_err());
        assert!(normalize_username("bad name").is_err());
    }

    fn page(state: &str) -> String {
        format!("<html><script id=\"SIGI_STATE\" type=\"application/json\">{state}</script></html>")
    }

    #[test]
    fn live_page_variants() {
        let live = page(
            r#"{"LiveRoom":{"liveRoomUserInfo":{"user":{"roomId":"7300000000000000001","status":2},"liveRoom":{"status":2}}}}"#,
        );
        assert_eq!(
            parse_live_page(&live, "u").expect("live"),
            7300000000000000001
        );
        let offline = page(
            r#"{"LiveRoom":{"liveRoomUserInfo":{"user":{"roomId":"7300000000000000001","status":4}}}}"#,
        );
        assert!(matches!(
            parse_live_page(&offline, "u"),
            Err(RoomError::Offline { .. })
        ));
        assert!(matches!(
            parse_live_page(&page("{}"), "u"),
            Err(RoomError::NotFound { .. })
        ));
        assert!(matches!(
            parse_live_page(&page("{not json"), "u"),
            Err(RoomError::Blocked { .. })
        ));
        assert!(matches!(
            parse_live_page("<html>captcha</html>", "u"),
            Err(RoomError::Blocked { .. })
        ));
    }

    #[test]
    fn api_live_variants() {
        let ok = r#"{"statusCode":0,"data":{"user":{"roomId":"42","status":2},"liveRoom":{"status":2}}}"#;
        assert_eq!(parse_api_live(ok, "u").expect("live"), 42);
        let offline = r#"{"statusCode":0,"data":{"user":{"roomId":"42","status":4},"liveRoom":{"status":4}}}"#;
        assert!(matches!(
            parse_api_live(offline, "u"),
            Err(RoomError::Offline { .. })
        ));
        let missing = r#"{"statusCode":19881007,"message":"user_not_found"}"#;
        assert!(matches!(
            parse_api_live(missing, "u"),
            Err(RoomError::NotFound { .. })
        ));
        let age = r#"{"statusCode":4003110,"data":{"prompts":""}}"#;
        assert!(matches!(
            parse_api_live(age, "u"),
            Err(RoomError::AgeRestricted { .. })
        ));
        let odd_status = r#"{"statusCode":0,"data":{"user":{"roomId":"43","status":1},"liveRoom":{"status":7}}}"#;
        assert_eq!(
            parse_api_live(odd_status, "u").expect("the room id counts"),
            43
        );
        assert!(matches!(
            parse_api_live(r#"{"statusCode":0,"data":{"user":{"status":1}}}"#, "u"),
            Err(RoomError::NotFound { .. })
        ));
        assert!(matches!(
            parse_api_live(r#"{"data":null}"#, "u"),
            Err(RoomError::NotFound { .. })
        ));
        assert!(matches!(
            parse_api_live("<html>", "u"),
            Err(RoomError::Blocked { .. })
        ));
    }

    #[test]
    fn join_keeps_base_prefix() {
        let base = Url::parse("http://127.0.0.1:1/prefix/").expect("url");
        assert_eq!(
            join(&base, "@a/live").as_str(),
            "http://127.0.0.1:1/prefix/@a/live"
        );
    }
}
