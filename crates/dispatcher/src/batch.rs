//! The one shape of captured events on their way in: a [`Batch`], the events of one or more
//! webcast frames with the capture session they belong to. The capture daemon spools it as a
//! JSON line while the database is away and commits it with
//! [`Engine::dispatch`](crate::Engine::dispatch).

use core_models::{CapturedEvent, LiveSession};
use serde::{Deserialize, Serialize};

/// The capture session a batch belongs to: room and streamer come from it, not from the
/// events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRef {
    /// `live_sessions.id`.
    pub session_id: i64,
    /// TikTok room id of the LIVE (de-duplication is per room).
    pub room_id: String,
    /// The streamer's @handle. Named `streamer` in JSON, as spool files have always had it.
    #[serde(rename = "streamer")]
    pub streamer_unique_id: String,
}

impl SessionRef {
    /// The reference of a stored session.
    pub fn of(session: &LiveSession) -> SessionRef {
        SessionRef {
            session_id: session.id,
            room_id: session.room_id.clone(),
            streamer_unique_id: session.streamer_unique_id.clone(),
        }
    }
}

/// Events of one session, in arrival order: one webcast frame, or several queued frames
/// committed together.
///
/// In JSON the session's fields sit beside the events
/// (`{"session_id":…,"room_id":…,"streamer":…,"events":[…]}`): the line format of the
/// capture's spool file, which a newer daemon must still read after an upgrade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The session the events were captured in.
    #[serde(flatten)]
    pub session: SessionRef,
    /// The events, in order.
    pub events: Vec<CapturedEvent>,
}

/// Consecutive batches of one session committed in one transaction, borrowed where they are:
/// the capture's spool keeps its queued frames until they are committed (to retry them, or to
/// write them to disk while the database is slow), so a group points at their events rather
/// than copying them into one [`Batch`].
#[derive(Debug, Clone)]
pub struct BatchGroup<'a> {
    session: &'a SessionRef,
    events: Vec<&'a CapturedEvent>,
    batches: usize,
}

impl<'a> BatchGroup<'a> {
    /// `first`, then the batches of `rest` up to the first of another session (a transaction
    /// stores one session's events): [`BatchGroup::batches`] says how many it took.
    pub fn join<I>(first: &'a Batch, rest: I) -> BatchGroup<'a>
    where
        I: IntoIterator<Item = &'a Batch>,
    {
        let mut group = BatchGroup::from(first);
        for batch in rest {
            if batch.session != *group.session {
                break;
            }
            group.events.extend(&batch.events);
            group.batches += 1;
        }
        group
    }

    /// The session every event of the group was captured in.
    pub fn session(&self) -> &'a SessionRef {
        self.session
    }

    /// The events, in order.
    pub fn events(&self) -> &[&'a CapturedEvent] {
        &self.events
    }

    /// How many batches the group holds.
    pub fn batches(&self) -> usize {
        self.batches
    }
}

impl<'a> From<&'a Batch> for BatchGroup<'a> {
    fn from(batch: &'a Batch) -> Self {
        BatchGroup {
            session: &batch.session,
            events: batch.events.iter().collect(),
            batches: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use core_models::{EventType, StreakStatus};

    /// A spool line as the capture daemon has written it since the spool exists (a comment
    /// with a receipt time, and a synthesised streak end without msg_id nor receipt time).
    const SPOOLED: &str = r#"{"session_id":3,"room_id":"7400000000000000001","streamer":"some_streamer","events":[{"event_type":"CommentEvent","msg_id":7400000000000000123,"timestamp":"2026-09-21T14:15:00.654321Z","user_id":"42","user_unique_id":"bob","user_nickname":"Bob 🌹","streak":null,"data":{"comment":"héllo 👋"},"received_at":"2026-09-21T14:15:00.700Z"},{"event_type":"GiftEvent","msg_id":null,"timestamp":"2026-09-21T14:15:03Z","user_id":"42","user_unique_id":"bob","user_nickname":"Bob 🌹","streak":{"id":"42-5655-1","status":"end"},"data":{"gift":{"name":"Rose"}}}]}"#;

    #[test]
    fn reads_and_writes_the_spool_line_format() {
        let batch: Batch = serde_json::from_str(SPOOLED).expect("a spooled line");
        assert_eq!(
            batch.session,
            SessionRef {
                session_id: 3,
                room_id: "7400000000000000001".into(),
                streamer_unique_id: "some_streamer".into(),
            }
        );
        assert_eq!(batch.events.len(), 2);
        let (comment, end) = (&batch.events[0], &batch.events[1]);
        assert_eq!(comment.event_type, EventType::Comment);
        assert_eq!(comment.msg_id, Some(7_400_000_000_000_000_123));
        assert!(comment.received_at.is_some());
        assert_eq!(comment.data["comment"], "héllo 👋");
        assert!(end.is_synthetic_streak_end());
        assert_eq!(
            end.streak.as_ref().map(|s| s.status),
            Some(StreakStatus::End)
        );
        assert_eq!(end.received_at, None);
        // Written back, it is the same line: old and new daemons read each other's spools.
        assert_eq!(serde_json::to_string(&batch).expect("json"), SPOOLED);
    }
}
