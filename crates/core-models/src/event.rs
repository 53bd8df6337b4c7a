//! The event vocabulary shared by every crate: event types, streak statuses and the
//! [`CapturedEvent`] that the webcast client produces and the dispatcher stores.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An unknown string where one of a fixed set of names was expected (from the CLI or the DB).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{value}' (expected one of: {expected})")]
pub struct UnknownName {
    /// What kind of name it was, e.g. "event type".
    pub kind: &'static str,
    /// The string that was given.
    pub value: String,
    /// The accepted names, comma separated.
    pub expected: String,
}

/// Declares a string-backed enum: `as_str`, `ALL`, `Display`, `FromStr` (exact names; aliases
/// accepted case-insensitively), and serde as the stored string.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::diesel::expression::AsExpression, ::diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name stored in the database and shown to users.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::event::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $(
                    if s == $text $(|| s.eq_ignore_ascii_case($alias))* || s.eq_ignore_ascii_case($text) {
                        return Ok($name::$variant);
                    }
                )+
                Err($crate::event::UnknownName {
                    kind: $kind,
                    value: s.to_owned(),
                    expected: [$($text),+].join(", "),
                })
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// The kind of a LIVE event. The stored names are the original system's.
    EventType, "event type" {
        Comment => "CommentEvent" | "comment",
        Gift => "GiftEvent" | "gift",
        Like => "LikeEvent" | "like",
        Share => "ShareEvent" | "share",
        Follow => "FollowEvent" | "follow",
        Join => "JoinEvent" | "join",
        Subscribe => "SubscribeEvent" | "subscribe",
        /// Concurrent and cumulative viewer counts; stored, dispatched only on explicit subscription.
        ViewerCount => "ViewerCountEvent" | "viewer_count",
        /// The stream ended; stored, dispatched only on explicit subscription.
        LiveEnd => "LiveEndEvent" | "live_end",
    }
}

impl EventType {
    /// The seven interactive types that services subscribe to by default.
    pub const INTERACTIVE: &'static [EventType] = &[
        EventType::Comment,
        EventType::Gift,
        EventType::Like,
        EventType::Share,
        EventType::Follow,
        EventType::Join,
        EventType::Subscribe,
    ];
}

string_enum! {
    /// Where a gift message stands in its combo ("streak").
    StreakStatus, "streak status" {
        Start => "start",
        Continue => "continue",
        End => "end",
    }
}

/// The streak a gift event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Streak {
    /// Stable id shared by every event of one combo.
    pub id: String,
    /// Position of this event in the combo.
    pub status: StreakStatus,
}

/// One event as decoded from the LIVE, before it is stored.
///
/// Produced by the `webcast` crate, stored and routed by the `dispatcher`. Room and streamer
/// come from the capture session, not from the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapturedEvent {
    /// What happened.
    pub event_type: EventType,
    /// TikTok's message id, unique per room; `None` when the message carried none.
    pub msg_id: Option<i64>,
    /// When TikTok says it happened (normalised to UTC), or when it was received.
    pub timestamp: DateTime<Utc>,
    /// The acting user's numeric id, as a string.
    pub user_id: Option<String>,
    /// The acting user's @handle.
    pub user_unique_id: Option<String>,
    /// The acting user's display name.
    pub user_nickname: Option<String>,
    /// Set for streakable gifts.
    pub streak: Option<Streak>,
    /// The type-specific payload (the event_data contract in the README).
    pub data: serde_json::Value,
    /// When the capture daemon received the frame it came in; stored as the row's
    /// `created_at`, so queue lag is measured from receipt, not from the commit. `None` for
    /// events made without a frame (a streak closed by its timeout): stamped at commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
}
