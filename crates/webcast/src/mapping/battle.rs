//! Battles between hosts: when one starts or ends ([`BattleEvent`](EventType::Battle), once
//! each per battle), and the points of each host while it runs
//! ([`BattleScoreEvent`](EventType::BattleScore)).

use std::collections::{HashMap, VecDeque};

use events::EventType;
use serde_json::{json, Value};

use super::user::id_string;
use super::Mapping;
use crate::proto::{BattleArmiesEntry, WebcastLinkMicArmies, WebcastLinkMicBattle};

/// `LinkMicBattle.action` values (the peers' `LinkMicBattleBattleAction`).
mod action {
    pub const OPEN: i32 = 4;
    pub const FINISH: i32 = 5;
    pub const CUT_SHORT: i32 = 6;
    pub const ACCEPT: i32 = 7;
    pub const LEAVE_LINK_MIC: i32 = 11;
}

/// `BattleSetting.status` values.
mod status {
    pub const FINISHED: i32 = 2;
    pub const PUNISH_STARTED: i32 = 3;
    pub const PUNISH_FINISHED: i32 = 4;
}

/// How many battles the tracker remembers (a LIVE has a few dozen at most).
const REMEMBERED_BATTLES: usize = 1024;

/// Where a battle stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Start,
    End,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Start => "start",
            Stage::End => "end",
        }
    }

    /// What a battle message says about its battle: `None` for the invitation dance (1 invite,
    /// 2 refusal, 3 cancel: no battle runs) and the other link-mic actions.
    fn of(m: &WebcastLinkMicBattle) -> Option<Stage> {
        let settings = m.battle_settings.as_ref().map_or(0, |s| s.status);
        match m.action {
            action::FINISH | action::CUT_SHORT | action::LEAVE_LINK_MIC => Some(Stage::End),
            _ if !m.battle_result.is_empty() => Some(Stage::End),
            _ if matches!(
                settings,
                status::FINISHED | status::PUNISH_STARTED | status::PUNISH_FINISHED
            ) =>
            {
                Some(Stage::End)
            }
            action::OPEN | action::ACCEPT => Some(Stage::Start),
            // No action: the settings say whether it runs (a bare battle message does).
            0 => Some(Stage::Start),
            // INVITE, REJECT, CANCEL and the other link-mic actions.
            _ => None,
        }
    }
}

/// Remembers the stage each battle reached, so that a start or an end is reported once even
/// when TikTok says it twice (an accept, then an open).
#[derive(Debug, Default)]
pub(super) struct BattleTracker {
    stages: HashMap<i64, Stage>,
    order: VecDeque<i64>,
}

impl BattleTracker {
    /// The BattleEvent of `m`, unless it says nothing new about its battle.
    pub(super) fn battle(&mut self, m: &WebcastLinkMicBattle) -> Option<Mapping> {
        let stage = Stage::of(m)?;
        let battle_id = battle_id(m.battle_id, m.battle_settings.as_ref().map(|s| s.battle_id));
        if battle_id != 0 && !self.advance(battle_id, stage) {
            return None;
        }
        let mut data = json!({
            "battle_id": id_string(battle_id),
            "status": stage.as_str(),
            "action": m.action,
            "hosts": hosts(m),
        });
        if let Some(settings) = &m.battle_settings {
            data["duration_s"] = json!(settings.duration);
        }
        if stage == Stage::End {
            data["results"] = m
                .battle_result
                .iter()
                .map(|r| {
                    let result = r.value.unwrap_or_default();
                    json!({
                        "user_id": id_string(r.key),
                        "result": match result.result { 0 => "win", 1 => "lose", _ => "draw" },
                        "points": result.score,
                    })
                })
                .collect();
        }
        Some((EventType::Battle, data))
    }

    /// Records `stage` for `battle_id`; false when the battle was already there.
    fn advance(&mut self, battle_id: i64, stage: Stage) -> bool {
        match self.stages.insert(battle_id, stage) {
            Some(before) if before == stage => false,
            Some(_) => true,
            None => {
                self.order.push_back(battle_id);
                if self.order.len() > REMEMBERED_BATTLES {
                    if let Some(old) = self.order.pop_front() {
                        self.stages.remove(&old);
                    }
                }
                true
            }
        }
    }
}

fn battle_id(own: i64, from_settings: Option<i64>) -> i64 {
    if own != 0 {
        own
    } else {
        from_settings.unwrap_or_default()
    }
}

/// `[{user_id, unique_id, nickname}]` of the hosts: who the message names as hosts, else the
/// ids of the sides it scores.
fn hosts(m: &WebcastLinkMicBattle) -> Value {
    if !m.anchors_info.is_empty() {
        return m
            .anchors_info
            .iter()
            .map(|h| {
                let user = h.value.as_ref().and_then(|v| v.user.clone()).unwrap_or_default();
                let id = if user.user_id != 0 { user.user_id } else { h.key };
                json!({"user_id": id_string(id), "unique_id": user.display_id, "nickname": user.nick_name})
            })
            .collect();
    }
    m.armies
        .iter()
        .map(|a| a.key)
        .chain(m.battle_result.iter().map(|r| r.key))
        .fold(Vec::new(), |mut ids, id| {
            if !ids.contains(&id) {
                ids.push(id);
            }
            ids
        })
        .into_iter()
        .map(|id| json!({"user_id": id_string(id), "unique_id": "", "nickname": ""}))
        .collect()
}

/// The points of a running battle: per host, its points and its top viewers; in a team battle
/// (no per-host sides), each host's points from its team.
pub(super) fn battle_score(m: &WebcastLinkMicArmies) -> Mapping {
    let battle_id = battle_id(m.battle_id, m.battle_settings.as_ref().map(|s| s.battle_id));
    let scores: Vec<Value> = if m.armies.is_empty() {
        m.team_armies
            .iter()
            .flat_map(|team| {
                team.team_user.iter().map(move |u| {
                    json!({"user_id": id_string(u.user_id), "points": u.score, "team_id": team.team_id, "top_viewers": []})
                })
            })
            .collect()
    } else {
        m.armies.iter().map(side_json).collect()
    };
    let data = json!({
        "battle_id": id_string(battle_id),
        "scores": scores,
        "reason": match m.trigger_reason {
            1 => "score_update",
            2 => "battle_end",
            3 => "opt_out_update",
            4 => "keep_alive",
            5 => "effect_update",
            _ => "unknown",
        },
        "from_user_id": id_string(m.from_user_id),
        "gift_id": (m.gift_id != 0).then_some(m.gift_id),
    });
    (EventType::BattleScore, data)
}

/// `{user_id, points, top_viewers[{user_id, nickname, points}]}` of one host's side.
fn side_json(side: &BattleArmiesEntry) -> Value {
    let armies = side.value.clone().unwrap_or_default();
    json!({
        "user_id": id_string(side.key),
        "points": armies.host_score,
        "top_viewers": armies.user_armies.iter().map(|v| json!({
            "user_id": id_string(v.user_id),
            "nickname": v.nickname,
            "points": v.score,
        })).collect::<Vec<_>>(),
    })
}
