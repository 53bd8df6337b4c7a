//! Where the browser sources are served and who may reach them: `--http` and the token,
//! validated before anything starts, and the listener bound just as early.

use std::net::SocketAddr;

/// The address served when `--http` is not given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8000";

/// Where and how to serve, validated.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Address to bind.
    pub addr: SocketAddr,
    /// Required on every request when set.
    pub token: Option<String>,
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// `--http` is not an address.
    #[error("--http '{0}' is not an address like 127.0.0.1:8000 (or 'off')")]
    BadAddress(String),
    /// A non-loopback address without a token.
    #[error(
        "--http {0} is reachable from other machines: set a token with --http-token or \
         WORKER_HTTP_TOKEN (or bind 127.0.0.1)"
    )]
    TokenRequired(SocketAddr),
    /// A token with characters that do not survive a URL or a cookie unescaped.
    #[error("the http token may contain only letters, digits and - . _ ~ (it goes in URLs)")]
    BadToken,
    /// The port is taken or the address is not ours.
    #[error("cannot listen on {addr}: {source} (another worker-daemon? choose one with --http ADDR, or --http off)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl HttpSettings {
    /// Validates `--http` and the token: `None` when the server is off.
    pub fn new(addr: &str, token: Option<String>) -> Result<Option<HttpSettings>, HttpError> {
        if addr.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        // `localhost` is the one name accepted: resolving others is not worth a surprise.
        let numeric = match addr.strip_prefix("localhost:") {
            Some(port) => format!("127.0.0.1:{port}"),
            None => addr.to_owned(),
        };
        let addr: SocketAddr = numeric
            .parse()
            .map_err(|_| HttpError::BadAddress(addr.to_owned()))?;
        let token = token.filter(|t| !t.trim().is_empty());
        let url_safe = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        if token.as_deref().is_some_and(|t| !t.chars().all(url_safe)) {
            return Err(HttpError::BadToken);
        }
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(HttpError::TokenRequired(addr));
        }
        Ok(Some(HttpSettings { addr, token }))
    }

    /// Binds the address now (before anything else starts), so a taken port is one clear
    /// error at startup.
    pub fn bind(&self) -> Result<std::net::TcpListener, HttpError> {
        let bind_err = |source| HttpError::Bind {
            addr: self.addr,
            source,
        };
        let listener = std::net::TcpListener::bind(self.addr).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        Ok(listener)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_need_a_token_off_the_loopback() {
        assert!(HttpSettings::new("off", None).unwrap().is_none());
        let local = HttpSettings::new("127.0.0.1:0", None).unwrap().unwrap();
        assert!(local.token.is_none());
        assert!(matches!(
            HttpSettings::new("0.0.0.0:8000", None),
            Err(HttpError::TokenRequired(_))
        ));
        assert!(matches!(
            HttpSettings::new("0.0.0.0:8000", Some(" ".into())),
            Err(HttpError::TokenRequired(_))
        ));
        assert!(HttpSettings::new("0.0.0.0:8000", Some("s3cret".into()))
            .unwrap()
            .is_some());
        assert!(matches!(
            HttpSettings::new("0.0.0.0:8000", Some("a;b".into())),
            Err(HttpError::BadToken)
        ));
        assert_eq!(
            HttpSettings::new("localhost:8001", None)
                .unwrap()
                .unwrap()
                .addr,
            "127.0.0.1:8001".parse().unwrap()
        );
        assert!(matches!(
            HttpSettings::new("localhost:99999", None),
            Err(HttpError::BadAddress(_))
        ));
    }
}
