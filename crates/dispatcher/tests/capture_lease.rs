//! Capture leases on both backends: one holder per streamer, a standby marked and told, a
//! takeover that carries the session, hand-over and close, and racing daemons.

use std::time::Duration;

use core_models::DbConn;
use dispatcher::{CaptureClaim, CaptureRelease, Engine};
use test_support::TestDb;

const TTL: Duration = Duration::from_secs(3600);

fn ask(conn: &mut DbConn, owner: &str, ttl: Duration, dead: Option<&str>) -> CaptureClaim {
    Engine::new(conn)
        .acquire_capture("streamer", owner, ttl, dead, true)
        .expect("acquire_capture")
}

fn holder(claim: &CaptureClaim) -> &str {
    match claim {
        CaptureClaim::Held { lease, .. } | CaptureClaim::HeldBy(lease) => &lease.owner,
    }
}

#[test]
fn one_holder_a_told_standby_and_a_takeover_that_keeps_the_session() {
    for db in TestDb::all_migrated() {
        let mut conn = db.conn();
        let first = ask(&mut conn, "a", Duration::ZERO, None);
        assert!(matches!(
            first,
            CaptureClaim::Held {
                took_over_from: None,
                ..
            }
        ));
        // a's zero-length lease has expired: renewing is taking it again, b can take it too.
        assert!(Engine::new(&mut conn)
            .set_capture_session("streamer", "a", 42)
            .unwrap());
        let renewed = ask(&mut conn, "a", TTL, None);
        let CaptureClaim::Held {
            lease,
            took_over_from,
        } = renewed
        else {
            panic!("a renews: {renewed:?}")
        };
        assert_eq!((lease.session_id, took_over_from), (Some(42), None));

        // b stands by: told who holds it; a's next renewal sees b waiting.
        let waiting = ask(&mut conn, "b", TTL, None);
        assert!(
            matches!(&waiting, CaptureClaim::HeldBy(l) if l.owner == "a" && l.session_id == Some(42))
        );
        let CaptureClaim::Held { lease, .. } = ask(&mut conn, "a", TTL, None) else {
            panic!("a still holds it")
        };
        assert_eq!(lease.standby.as_deref(), Some("b"));

        // a hands over: b takes it at once, with a's session.
        assert!(Engine::new(&mut conn)
            .release_capture("streamer", "a", CaptureRelease::HandOver)
            .unwrap());
        let taken = ask(&mut conn, "b", TTL, None);
        let CaptureClaim::Held {
            lease,
            took_over_from,
        } = taken
        else {
            panic!("b takes over: {taken:?}")
        };
        assert_eq!(took_over_from.as_deref(), Some("a"));
        assert_eq!(lease.session_id, Some(42));
        assert_eq!(
            lease.standby, None,
            "the standby that took over is no longer waiting"
        );

        // a, back, finds it lost; its renewal does not make it a standby.
        let lost = Engine::new(&mut conn)
            .acquire_capture("streamer", "a", TTL, None, false)
            .unwrap();
        assert_eq!(holder(&lost), "b");
        let CaptureClaim::Held { lease, .. } = ask(&mut conn, "b", TTL, None) else {
            panic!("b holds it")
        };
        assert_eq!(lease.standby, None);

        // A holder known dead (a killed process of this machine) is replaced at once.
        let c = ask(&mut conn, "c", TTL, Some("b"));
        assert!(matches!(&c, CaptureClaim::Held { took_over_from: Some(f), .. } if f == "b"));

        // Closed: the row goes, and the next daemon starts afresh.
        assert!(!Engine::new(&mut conn)
            .release_capture("streamer", "b", CaptureRelease::Close)
            .unwrap());
        assert!(Engine::new(&mut conn)
            .release_capture("streamer", "c", CaptureRelease::Close)
            .unwrap());
        let fresh = ask(&mut conn, "d", TTL, None);
        let CaptureClaim::Held {
            lease,
            took_over_from,
        } = fresh
        else {
            panic!("d takes a fresh lease")
        };
        assert_eq!((lease.session_id, took_over_from), (None, None));
    }
}

#[test]
fn racing_daemons_get_one_holder() {
    for db in TestDb::all_migrated() {
        for round in 0..4 {
            let winners: Vec<String> = (0..6)
                .map(|i| {
                    let url = db.db_url().clone();
                    std::thread::spawn(move || {
                        let mut conn = DbConn::establish(&url).unwrap();
                        let me = format!("d{round}-{i}");
                        match ask(&mut conn, &me, TTL, None) {
                            CaptureClaim::Held { .. } => Some(me),
                            CaptureClaim::HeldBy(_) => None,
                        }
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .filter_map(|t| t.join().unwrap())
                .collect();
            assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
            // The next round races for an expired lease instead of an absent one.
            let mut conn = db.conn();
            ask(&mut conn, &winners[0], Duration::ZERO, None);
        }
    }
}
