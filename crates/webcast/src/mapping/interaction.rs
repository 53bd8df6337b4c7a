//! What the host runs for the audience: polls and LIVE goals.

use events::EventType;
use serde_json::{json, Value};

use super::user::{brief_user_json, id_string};
use super::Mapping;
use crate::proto::{
    LiveStreamSubGoal, PollOptionInfo, User, WebcastGoalUpdateMessage, WebcastPollMessage,
};

/// A poll's stage, from the one content its message carries: `start`, `update` (votes) or
/// `end` (final votes). No acting user: the host (or a moderator) is the `operator`.
pub(super) fn poll(m: &WebcastPollMessage) -> Mapping {
    let basic = m.poll_basic_info.clone().unwrap_or_default();
    let (kind, options, operator): (&str, &[PollOptionInfo], Option<&User>) =
        if let Some(end) = &m.end_content {
            ("end", &end.option_list, end.operator.as_ref())
        } else if let Some(start) = &m.start_content {
            ("start", &start.option_list, start.operator.as_ref())
        } else if let Some(update) = &m.update_votes_content {
            ("update", &update.option_list, update.operator.as_ref())
        } else {
            ("update", &[], None)
        };
    let title = m
        .start_content
        .as_ref()
        .map(|s| s.title.as_str())
        .filter(|t| !t.is_empty())
        .unwrap_or(&basic.title);
    let poll_id = match m.poll_id {
        0 if !basic.poll_id_str.is_empty() => json!(basic.poll_id_str),
        id => id_string(id),
    };
    let mut data = json!({
        "poll_id": poll_id,
        "kind": kind,
        "title": title,
        "options": options
            .iter()
            .map(|o| json!({"text": o.display_content, "votes": o.votes}))
            .collect::<Vec<_>>(),
        "poll_kind": m.poll_kind,
        "operator": operator.map(brief_user_json),
    });
    if let Some(end) = &m.end_content {
        data["end_type"] = json!(end.end_type);
    }
    if let Some(start) = &m.start_content {
        data["ends_at"] = json!((start.end_time > 0).then_some(start.end_time));
    }
    (EventType::Poll, data)
}

/// A goal moved: its description and the progress of the sub-goal this update is about (the
/// contributed one, else the first), every sub-goal, and who contributed. No acting user: a
/// goal update names its contributor by id and handle only.
pub(super) fn goal(m: &WebcastGoalUpdateMessage) -> Mapping {
    let goal = m.goal.clone().unwrap_or_default();
    let current = m
        .contribute_subgoal
        .as_ref()
        .or_else(|| goal.sub_goals.first());
    let goal_id = match goal.id {
        0 if !goal.id_str.is_empty() => json!(goal.id_str),
        id => id_string(id),
    };
    let contributor_id = match m.contributor_id {
        0 => Some(m.contributor_id_str.clone()).filter(|s| !s.is_empty()),
        id => Some(id.to_string()),
    };
    let data = json!({
        "goal_id": goal_id,
        "description": goal.description,
        "progress": current.map_or(0, |s| s.progress),
        "target": current.map_or(0, |s| s.target),
        "sub_goals": goal.sub_goals.iter().map(sub_goal_json).collect::<Vec<_>>(),
        "contributor": contributor_id.map(|id| json!({
            "id": id,
            "unique_id": m.contributor_display_id,
        })),
        "contribute_count": m.contribute_count,
        "update_source": m.update_source,
    });
    (EventType::Goal, data)
}

fn sub_goal_json(s: &LiveStreamSubGoal) -> Value {
    let id = match s.id {
        0 if !s.id_str.is_empty() => json!(s.id_str),
        id => id_string(id),
    };
    json!({
        "id": id,
        "type": s.r#type,
        "progress": s.progress,
        "target": s.target,
        "gift_name": s.gift.as_ref().map(|g| &g.name),
    })
}
