//! Who the client says it is: one desktop browser, described the same way in every request (the
//! room lookup, the live check, the sign server and the WebSocket), as the peers do. TikTok
//! answers requests whose User-Agent disagrees with the URL's browser parameters with empty
//! pages, so the parameters are derived from the User-Agent, never set apart from it.

use crate::session::Session;

/// The language the client browses in.
const LANGUAGE: &str = "en";
/// The language with its country, as `navigator.language` gives it.
const LANGUAGE_COUNTRY: &str = "en-US";
/// `Accept-Language` of that browser.
const ACCEPT_LANGUAGE: &str = "en-US,en;q=0.9";
/// The browser's time zone.
const TIME_ZONE: &str = "America/New_York";
/// Its country.
const REGION: &str = "US";
/// A common desktop screen.
const SCREEN: (&str, &str) = ("1920", "1080");
/// The data centre cookie the peers send on every request unless a login says otherwise.
pub(crate) const DEFAULT_TT_TARGET_IDC: &str = "useast1a";
/// TikTok's web origin, sent as Origin and Referer.
const TIKTOK_ORIGIN: &str = "https://www.tiktok.com";

/// A browser identity built from a User-Agent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Browser<'a> {
    user_agent: &'a str,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(user_agent: &'a str) -> Browser<'a> {
        Browser { user_agent }
    }

    /// `navigator.platform` for the User-Agent's OS.
    fn platform(&self) -> &'static str {
        if self.user_agent.contains("Macintosh") {
            "MacIntel"
        } else if self.user_agent.contains("Linux") {
            "Linux x86_64"
        } else {
            "Win32"
        }
    }

    /// The `os` parameter of TikTok's web client.
    fn os(&self) -> &'static str {
        match self.platform() {
            "MacIntel" => "mac",
            "Linux x86_64" => "linux",
            _ => "windows",
        }
    }

    /// `browser_name` and `browser_version` as the web client sends them: the User-Agent split
    /// after `Mozilla/` (the query encoder escapes the rest).
    fn name_and_version(&self) -> (&'a str, &'a str) {
        self.user_agent
            .split_once('/')
            .unwrap_or((self.user_agent, ""))
    }

    /// The parameters TikTok's web client puts on its HTTP API requests (api-live, the live
    /// check), as the peers send them.
    pub(crate) fn web_params(&self, logged_in: bool) -> Vec<(&'static str, &'a str)> {
        let (name, version) = self.name_and_version();
        vec![
            ("aid", "1988"),
            ("app_language", LANGUAGE),
            ("app_name", "tiktok_web"),
            ("browser_language", LANGUAGE_COUNTRY),
            ("browser_name", name),
            ("browser_online", "true"),
            ("browser_platform", self.platform()),
            ("browser_version", version),
            ("channel", "tiktok_web"),
            ("cookie_enabled", "true"),
            ("data_collection_enabled", "true"),
            ("device_platform", "web_pc"),
            ("focus_state", "true"),
            ("from_page", "user"),
            ("history_len", "4"),
            ("is_fullscreen", "false"),
            ("is_page_visible", "true"),
            ("os", self.os()),
            ("priority_region", REGION),
            ("referer", ""),
            ("region", REGION),
            ("screen_height", SCREEN.1),
            ("screen_width", SCREEN.0),
            ("tz_name", TIME_ZONE),
            ("user_is_login", if logged_in { "true" } else { "false" }),
            ("webcast_language", LANGUAGE),
        ]
    }

    /// The parameters of the WebSocket URL, as the peers send them (reference §1.4), apart
    /// from the ones that come from the signed fetch.
    pub(crate) fn ws_params(&self) -> Vec<(&'static str, &'a str)> {
        let (name, version) = self.name_and_version();
        vec![
            ("aid", "1988"),
            ("app_language", LANGUAGE),
            ("app_name", "tiktok_web"),
            ("browser_language", LANGUAGE_COUNTRY),
            ("browser_name", name),
            ("browser_online", "true"),
            ("browser_platform", self.platform()),
            ("browser_version", version),
            ("cookie_enabled", "true"),
            ("device_platform", "web"),
            ("did_rule", "3"),
            ("history_comment_count", "6"),
            ("identity", "audience"),
            ("last_rtt", "150"),
            ("live_id", "12"),
            ("resp_content_type", "protobuf"),
            ("screen_height", SCREEN.1),
            ("screen_width", SCREEN.0),
            ("sup_ws_ds_opt", "1"),
            ("tz_name", TIME_ZONE),
            ("update_version_code", "2.0.0"),
            ("version_code", "180800"),
            ("webcast_language", LANGUAGE),
            ("client_enter", "1"),
            // Python sends 1, Node 0 (reference §9); both work. Python's matches
            // heartbeat_duration, which we send too.
            ("ws_direct", "1"),
        ]
    }

    /// The headers of a browser's request to TikTok, besides the User-Agent (the HTTP client
    /// sets that) and the Cookie.
    pub(crate) const HEADERS: [(&'static str, &'static str); 8] = [
        ("accept", "text/html,application/json,application/protobuf"),
        ("accept-language", ACCEPT_LANGUAGE),
        ("cache-control", "max-age=0"),
        ("origin", TIKTOK_ORIGIN),
        ("referer", "https://www.tiktok.com/"),
        ("sec-fetch-site", "same-site"),
        ("sec-fetch-mode", "cors"),
        ("sec-fetch-dest", "empty"),
    ];
}

/// The cookies a browser sends to TikTok: the data centre (`tt-target-idc`), the login's when
/// there is one, and `extra` (the signing's cookies on the WebSocket). `k=v; k2=v2`.
pub(crate) fn cookie_header(session: Option<&Session>, extra: &str) -> String {
    let mut parts = Vec::new();
    let extra = extra.trim().trim_end_matches(';').trim();
    if !extra.is_empty() {
        parts.push(extra.to_owned());
    }
    if !extra.contains("tt-target-idc=") {
        let idc = session.map_or(DEFAULT_TT_TARGET_IDC, Session::tt_target_idc);
        parts.push(format!("tt-target-idc={idc}"));
    }
    if let Some(session) = session {
        parts.push(session.cookies());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::Secret;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    #[test]
    fn browser_parameters_come_from_the_user_agent() {
        let browser = Browser::new(CHROME);
        let params = browser.ws_params();
        let get = |k: &str| params.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        assert_eq!(get("browser_name"), Some("Mozilla"));
        assert_eq!(get("browser_version"), Some(&CHROME["Mozilla/".len()..]));
        assert_eq!(get("browser_platform"), Some("Win32"));
        let mac = Browser::new("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Safari/605.1.15");
        assert_eq!(mac.platform(), "MacIntel");
        assert_eq!(mac.os(), "mac");
        for key in [
            "tz_name",
            "webcast_language",
            "screen_width",
            "screen_height",
        ] {
            assert!(get(key).is_some_and(|v| !v.is_empty()), "{key}");
        }
        let web = browser.web_params(true);
        assert!(web.contains(&("user_is_login", "true")));
    }

    #[test]
    fn cookies_carry_the_data_centre_and_the_login() {
        assert_eq!(cookie_header(None, ""), "tt-target-idc=useast1a");
        assert_eq!(
            cookie_header(None, "ttwid=1; tt_csrf_token=2;"),
            "ttwid=1; tt_csrf_token=2; tt-target-idc=useast1a"
        );
        let session = Session::new(Secret::new("abc"), Some("eu-ttp2".into()));
        assert_eq!(
            cookie_header(Some(&session), "ttwid=1"),
            "ttwid=1; tt-target-idc=eu-ttp2; sessionid=abc; sessionid_ss=abc; sid_tt=abc"
        );
    }
}
