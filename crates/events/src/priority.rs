//! Queue priorities, checked once at the edge and carried as a [`Priority`] from there on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A queue priority: 1 (lowest) to 10 (highest). Serialised as the bare number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i32")]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
    diesel(sql_type = diesel::sql_types::Integer)
)]
pub struct Priority(pub(crate) i32);

/// A number outside 1–10, or no number at all, where a priority was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPriority {
    /// A number outside the range.
    #[error("priority {0} is out of range: use 1 (lowest) to 10 (highest)")]
    OutOfRange(i64),
    /// Not a number.
    #[error("priority '{0}' is not a number: use 1 to 10")]
    NotANumber(String),
}

impl Priority {
    /// Lowest priority.
    pub const MIN: i32 = 1;
    /// Highest priority.
    pub const MAX: i32 = 10;
    /// The original system's default.
    pub const DEFAULT: Priority = Priority(5);

    /// Checks the range.
    pub fn new(value: i64) -> Result<Priority, InvalidPriority> {
        if (i64::from(Self::MIN)..=i64::from(Self::MAX)).contains(&value) {
            Ok(Priority(value as i32))
        } else {
            Err(InvalidPriority::OutOfRange(value))
        }
    }

    /// The number.
    pub fn get(self) -> i32 {
        self.0
    }
}

impl FromStr for Priority {
    type Err = InvalidPriority;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n: i64 = s
            .trim()
            .parse()
            .map_err(|_| InvalidPriority::NotANumber(s.to_owned()))?;
        Priority::new(n)
    }
}

impl TryFrom<i64> for Priority {
    type Error = InvalidPriority;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Priority::new(value)
    }
}

impl From<Priority> for i32 {
    fn from(p: Priority) -> i32 {
        p.0
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_to_ten() {
        assert_eq!("10".parse::<Priority>().unwrap().get(), 10);
        for bad in ["0", "11", "-1", "x", ""] {
            let e = bad.parse::<Priority>().unwrap_err().to_string();
            assert!(e.contains("priority"), "{e}");
        }
        assert_eq!(serde_json::to_string(&Priority::DEFAULT).unwrap(), "5");
        assert!(serde_json::from_str::<Priority>("11").is_err());
    }
}
