//! A TikTok login, for age-restricted and private rooms: the `sessionid` cookie of a logged-in
//! browser and the data centre that holds the account (`tt-target-idc`).
//!
//! Sent the way the peers send it: as the `sessionid`, `sessionid_ss` and `sid_tt` cookies on
//! the room lookup, the live check and the WebSocket; to the sign server (the
//! `x-cookie-header` header) only when the user named that server's host in
//! [`SIGN_SERVER_WHITELIST_ENV`], because a session id gives whoever holds it the whole
//! account. Never printed, never logged: [`Secret`] shows as `***`, and errors name the session
//! without its value.

use std::fmt;

use crate::browser::DEFAULT_TT_TARGET_IDC;
use crate::sign::Secret;

/// The environment variable the session id is read from.
pub const SESSION_ID_ENV: &str = "WEBCAST_SESSION_ID";
/// The environment variable naming the account's data centre (default `useast1a`).
pub const TT_TARGET_IDC_ENV: &str = "WEBCAST_TT_TARGET_IDC";
/// The environment variable that allows sending the session to the sign server: it must hold
/// that server's host (e.g. `api.eulerstream.com`). The peers' name for the same consent.
pub const SIGN_SERVER_WHITELIST_ENV: &str = "WHITELIST_AUTHENTICATED_SESSION_ID_HOST";

/// Log filter directives a program adds to its own (e.g. `EnvFilter::add_directive`) so that
/// no login reaches a log: tungstenite prints the whole WebSocket handshake request, cookies
/// included, at TRACE (through the `log` crate, out of this crate's reach).
pub const LOG_DIRECTIVES: &[&str] = &["tungstenite::handshake::client=debug"];

/// A logged-in TikTok session.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    id: Secret,
    tt_target_idc: String,
}

impl Session {
    /// A session; the data centre defaults to `useast1a`, the peers' default.
    pub fn new(id: Secret, tt_target_idc: Option<String>) -> Session {
        Session {
            id,
            tt_target_idc: tt_target_idc
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_TT_TARGET_IDC.to_owned()),
        }
    }

    /// The session from [`SESSION_ID_ENV`] and [`TT_TARGET_IDC_ENV`], if the first is set.
    pub fn from_env() -> Option<Session> {
        let id = std::env::var(SESSION_ID_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty())?;
        Some(Session::new(
            Secret::new(id.trim()),
            std::env::var(TT_TARGET_IDC_ENV).ok(),
        ))
    }

    /// The account's data centre.
    pub fn tt_target_idc(&self) -> &str {
        &self.tt_target_idc
    }

    /// The login cookies, as a browser sends them: `sessionid=…; sessionid_ss=…; sid_tt=…`.
    pub(crate) fn cookies(&self) -> String {
        let id = self.id.expose();
        format!("sessionid={id}; sessionid_ss={id}; sid_tt={id}")
    }

    /// What the sign server gets in `x-cookie-header`: `sessionid=…; tt-target-idc=…`.
    pub(crate) fn sign_server_cookie(&self) -> String {
        format!(
            "sessionid={}; tt-target-idc={}",
            self.id.expose(),
            self.tt_target_idc
        )
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("tt_target_idc", &self.tt_target_idc)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_never_shows_its_id() {
        let s = Session::new(Secret::new("sess-TOPSECRET"), None);
        let shown = format!("{s:?}");
        assert!(!shown.contains("TOPSECRET"), "{shown}");
        assert_eq!(s.tt_target_idc(), "useast1a");
        assert_eq!(
            s.sign_server_cookie(),
            "sessionid=sess-TOPSECRET; tt-target-idc=useast1a"
        );
    }
}
