//! A streamer's @handle, in the one form every table stores it: what a capture records on its
//! session and what a service's scope lists must compare equal.

use std::fmt;
use std::str::FromStr;

/// A TikTok @handle, normalised: no `@`, no profile URL around it, lowercase, 1 to 64 of
/// `a-z 0-9 _ .`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Streamer(String);

/// Text that is not a TikTok handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid TikTok username '{input}': use the @handle (letters, digits, '_' and '.') or the profile URL")]
pub struct InvalidStreamer {
    /// What was given.
    pub input: String,
}

impl Streamer {
    /// Normalises `@Name`, `name`, `https://www.tiktok.com/@name/live`, … to `name`.
    pub fn parse(input: &str) -> Result<Streamer, InvalidStreamer> {
        let mut s = input.trim();
        for prefix in ["https://", "http://"] {
            s = s.strip_prefix(prefix).unwrap_or(s);
        }
        for prefix in ["www.tiktok.com/", "m.tiktok.com/", "tiktok.com/"] {
            s = s.strip_prefix(prefix).unwrap_or(s);
        }
        let s = s.split(['?', '#']).next().unwrap_or_default();
        let s = s.trim_end_matches('/');
        let s = s.strip_suffix("/live").unwrap_or(s);
        let s = s.trim().trim_start_matches('@').to_lowercase();
        let valid = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if valid {
            Ok(Streamer(s))
        } else {
            Err(InvalidStreamer {
                input: input.to_owned(),
            })
        }
    }

    /// The handle, without `@`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Streamer {
    type Err = InvalidStreamer;
    fn from_str(s: &str) -> Result<Streamer, InvalidStreamer> {
        Streamer::parse(s)
    }
}

impl fmt::Display for Streamer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_handle_is_one_streamer() {
        for input in [
            "someone",
            "@SomeOne",
            " @someone ",
            "https://www.tiktok.com/@someone/live",
            "tiktok.com/@someone?lang=en",
        ] {
            assert_eq!(
                Streamer::parse(input).unwrap().as_str(),
                "someone",
                "{input}"
            );
        }
        for bad in ["", "@", "some one", "a/b", &"x".repeat(65)] {
            assert!(Streamer::parse(bad).is_err(), "{bad}");
        }
    }
}
