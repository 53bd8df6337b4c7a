//! Cooldowns with several dispatchers on one database (several capture daemons), on both
//! backends: the database is the truth, so a rule fires once per period however many
//! dispatchers race, and the events it would have taken go to the next rule or become
//! `cooldown` rows.

mod common;

use std::collections::BTreeMap;

use common::{dispatch, event, queue, service, session};
use core_models::rules::{self, Basics, NewRule};
use core_models::{Conditions, DbConn, EventType, Priority, QueueReason, QueueStatus};
use test_support::TestDb;

fn cooling_rule(conn: &mut DbConn, name: &str, priority: i64, rule_wide: bool) {
    let hour = Some("1h".parse().unwrap());
    rules::add(
        conn,
        "raced",
        &NewRule {
            name: name.into(),
            event_type: Some(EventType::Comment),
            basics: Basics {
                priority: Some(Priority::new(priority).unwrap()),
                ..Basics::default()
            },
            conditions: Conditions::default(),
            cooldown: if rule_wide { hour } else { None },
            user_cooldown: if rule_wide { None } else { hour },
            ..NewRule::default()
        },
    )
    .unwrap();
}

#[test]
fn racing_dispatchers_fire_a_cooling_rule_once_per_period() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        // The seed's kind of rule, cooling too (so events past the others become cooldown
        // rows), under an hourly rule-wide rule and an hourly per-viewer rule.
        let svc = service(
            &mut conn,
            "raced",
            10_000,
            &[(EventType::Comment, 2, true, true)],
        );
        rules::set(
            &mut conn,
            "raced",
            "CommentEvent",
            &rules::RuleChanges {
                user_cooldown: Some(Some("1h".parse().unwrap())),
                ..rules::RuleChanges::default()
            },
        )
        .unwrap();
        cooling_rule(&mut conn, "hourly", 9, true);
        cooling_rule(&mut conn, "per-viewer", 5, false);

        let threads: Vec<_> = (0..4i64)
            .map(|t| {
                let (url, ctx) = (db.db_url().clone(), session(&mut conn, "raced"));
                std::thread::spawn(move || {
                    let mut conn = DbConn::establish(&url).unwrap();
                    for b in 0..10i64 {
                        let batch: Vec<_> = (0..3i64)
                            .map(|viewer| {
                                let mut e =
                                    event(EventType::Comment, Some(t * 10_000 + b * 10 + viewer));
                                e.user_id = Some(format!("viewer-{viewer}"));
                                e
                            })
                            .collect();
                        dispatch(&mut conn, &ctx, &batch).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }

        let mut by_rule: BTreeMap<(String, QueueStatus), usize> = BTreeMap::new();
        let rows = queue(&mut conn, svc);
        for r in &rows {
            let rule = r.rule_name.clone().unwrap_or_default();
            *by_rule.entry((rule, r.status)).or_default() += 1;
            assert_eq!(
                r.reason,
                (r.status == QueueStatus::Discarded).then_some(QueueReason::Cooldown)
            );
        }
        // 120 comments of 3 viewers: "hourly" once in all, "per-viewer" and the config once
        // per viewer each; the 113 others are cooldown rows under the first cooling rule.
        assert_eq!(
            by_rule,
            BTreeMap::from([
                (("CommentEvent".to_owned(), QueueStatus::Pending), 3),
                (("hourly".to_owned(), QueueStatus::Discarded), 113),
                (("hourly".to_owned(), QueueStatus::Pending), 1),
                (("per-viewer".to_owned(), QueueStatus::Pending), 3),
            ]),
            "{}",
            db.url()
        );
    }
}
