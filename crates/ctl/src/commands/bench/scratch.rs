//! The benchmark's own database, so it never touches a user's data: a temporary SQLite file,
//! or a fresh database on the given MySQL server, dropped afterwards.

use anyhow::Context;
use core_models::services::{self, NewService};
use core_models::{
    seed, sessions, Backend, DbConn, DbUrl, EventRoute, EventType, MaxQueueSize, Priority, Service,
    ServiceKind, Setting,
};
use diesel::connection::SimpleConnection;
use dispatcher::{workload, Batch, Engine, SessionRef};

/// A migrated, seeded scratch database; removed on drop.
pub struct Scratch {
    pub url: DbUrl,
    server: Option<(DbUrl, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Scratch {
    /// A fresh database next to `base` (the user's URL; `None` is the SQLite default).
    pub fn new(base: &DbUrl, label: &str) -> anyhow::Result<Scratch> {
        let scratch = match base.backend() {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("tiklive-bench-")
                    .tempdir()
                    .context("cannot create a temporary directory")?;
                let path = dir.path().join(format!("{label}.sqlite3"));
                Scratch {
                    url: DbUrl::resolve(Some(&path.display().to_string()))?,
                    server: None,
                    _dir: Some(dir),
                }
            }
            Backend::Mysql => {
                let name = format!("tiklive_bench_{}_{label}", std::process::id());
                let mut admin = DbConn::establish(base)?;
                if let DbConn::Mysql(c) = &mut admin {
                    c.batch_execute(&format!(
                        "DROP DATABASE IF EXISTS `{name}`; \
                         CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    ))
                    .with_context(|| {
                        format!(
                            "the benchmark works in a scratch database it creates and drops; {} may not CREATE DATABASE",
                            base.masked()
                        )
                    })?;
                }
                Scratch {
                    url: base.with_database(&name).context("not a MySQL URL")?,
                    server: Some((base.clone(), name)),
                    _dir: None,
                }
            }
        };
        let mut conn = scratch.conn()?;
        conn.run_migrations().map_err(anyhow::Error::msg)?;
        seed::populate_initial_data(&mut conn)?;
        Ok(scratch)
    }

    /// A new connection.
    pub fn conn(&self) -> anyhow::Result<DbConn> {
        Ok(DbConn::establish(&self.url)?)
    }
}

/// Adds the benchmark's no-op service (`dummy`, no queue limit, 32 ASYNC slots), taking
/// `types` at priority 5, not discardable, SYNC or ASYNC, from `streamers` (empty: every
/// streamer).
pub fn add_noop_service(
    conn: &mut DbConn,
    slug: &str,
    name: &str,
    types: &[EventType],
    is_async: bool,
    streamers: &[String],
) -> anyhow::Result<()> {
    let routes = types
        .iter()
        .map(|&event_type| {
            Ok(EventRoute {
                event_type,
                priority: Priority::new(5)?,
                is_async,
                is_discardable: false,
                is_enabled: true,
            })
        })
        .collect::<Result<_, core_models::ModelError>>()?;
    services::add(
        conn,
        &NewService {
            name: name.to_owned(),
            slug: slug.parse()?,
            kind: ServiceKind::Dummy,
            description: String::new(),
            is_active: true,
            max_queue_size: MaxQueueSize::new(i64::from(i32::MAX))?,
            settings: vec![Setting {
                key: "max_concurrency".into(),
                value: Some(serde_json::json!(32)),
            }],
            streamers: streamers
                .iter()
                .map(|s| s.parse())
                .collect::<Result<_, _>>()?,
            routes,
        },
    )?;
    Ok(())
}

/// A scratch database whose no-op service (see [`add_noop_service`]) has `items` pending
/// viewer-count items (no seeded service takes those, so only this queue fills).
pub fn filled_noop_queue(
    base: &DbUrl,
    label: &str,
    slug: &str,
    items: usize,
    is_async: bool,
) -> anyhow::Result<(Scratch, Service)> {
    let scratch = Scratch::new(base, label)?;
    let mut conn = scratch.conn()?;
    add_noop_service(
        &mut conn,
        slug,
        &format!("no-op ({label})"),
        &[EventType::ViewerCount],
        is_async,
        &[],
    )?;
    let session = SessionRef::of(&sessions::start(&mut conn, Some(label), label, "bench")?);
    let events = workload::burst(items, &[(EventType::ViewerCount, 1)], 3, 1);
    for frame in events.chunks(500) {
        Engine::new(&mut conn).dispatch(&Batch {
            session: session.clone(),
            events: frame.to_vec(),
        })?;
    }
    let service = services::find(&mut conn, slug)?;
    Ok((scratch, service))
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.server {
            if let Ok(DbConn::Mysql(mut c)) = DbConn::establish(server) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS `{name}`"));
            }
        }
    }
}

/// A bench rule: name, type, priority, conditions, cooldown, per-viewer cooldown.
type BenchRule = (
    &'static str,
    EventType,
    i64,
    core_models::Conditions,
    Option<&'static str>,
    Option<&'static str>,
);

/// Rules per service in the rules ingest case (the seed's 7 included).
pub const RULES_PER_SERVICE: usize = 20;

/// Gives each seeded service [`RULES_PER_SERVICE`] rules: its 7 configs plus 13 with
/// conditions of every kind, cooldowns (rule-wide and per viewer) and streak policies, at
/// priorities around the configs', so matching walks several rules per event and writes
/// cooldowns on most frames. The seed's LikeEvent rule cools for 1 s, so likes also end in
/// `cooldown` rows.
pub fn add_bench_rules(conn: &mut DbConn) -> anyhow::Result<()> {
    use core_models::rules::{self, Audience, Basics, NewRule, RuleChanges};
    use core_models::{Conditions, Cooldown, StreakPolicy};
    let p = |n: i64| Priority::new(n).map(Some);
    let c = Conditions::default;
    for slug in ["dinochrome", "overlays"] {
        let specs: Vec<BenchRule> = vec![
            (
                "rose",
                EventType::Gift,
                10,
                Conditions {
                    gifts: vec!["Rose".into(), "5655".into()],
                    min_count: Some(5),
                    ..c()
                },
                None,
                Some("30s"),
            ),
            (
                "big-gift",
                EventType::Gift,
                10,
                Conditions {
                    min_diamonds: Some(100),
                    ..c()
                },
                None,
                None,
            ),
            (
                "combo",
                EventType::Gift,
                9,
                Conditions {
                    min_count: Some(10),
                    ..c()
                },
                Some("10s"),
                None,
            ),
            (
                "fan-gift",
                EventType::Gift,
                9,
                Conditions {
                    from: vec![Audience::Follower, Audience::Subscriber],
                    ..c()
                },
                None,
                Some("1m"),
            ),
            (
                "chat-jump",
                EventType::Comment,
                9,
                Conditions {
                    comment_prefix: Some("!jump".into()),
                    ..c()
                },
                None,
                Some("1m"),
            ),
            (
                "chat-duck",
                EventType::Comment,
                9,
                Conditions {
                    comment_regex: Some(r"^!(duck|down)\b".into()),
                    ..c()
                },
                None,
                Some("1m"),
            ),
            (
                "mods",
                EventType::Comment,
                8,
                Conditions {
                    from: vec![Audience::Moderator],
                    ..c()
                },
                None,
                None,
            ),
            (
                "hello",
                EventType::Comment,
                7,
                Conditions {
                    comment_regex: Some("(?i)hello".into()),
                    ..c()
                },
                Some("2s"),
                Some("30s"),
            ),
            (
                "vip",
                EventType::Comment,
                7,
                Conditions {
                    users: vec!["viewer_1".into(), "viewer_2".into()],
                    ..c()
                },
                None,
                None,
            ),
            (
                "like-burst",
                EventType::Like,
                6,
                Conditions {
                    min_likes: Some(5),
                    ..c()
                },
                Some("500ms"),
                Some("10s"),
            ),
            (
                "gifter-join",
                EventType::Join,
                5,
                Conditions {
                    min_gifter_level: Some(10),
                    ..c()
                },
                None,
                Some("1m"),
            ),
            (
                "friend-follow",
                EventType::Follow,
                9,
                Conditions {
                    from: vec![Audience::Friend],
                    ..c()
                },
                None,
                None,
            ),
            (
                "share-wave",
                EventType::Share,
                8,
                Conditions::default(),
                Some("5s"),
                None,
            ),
        ];
        debug_assert_eq!(specs.len() + 7, RULES_PER_SERVICE);
        for (name, ty, prio, conditions, cooldown, user_cooldown) in specs {
            let cool = |d: Option<&str>| d.map(str::parse::<Cooldown>).transpose();
            rules::add(
                conn,
                slug,
                &NewRule {
                    name: name.into(),
                    event_type: Some(ty),
                    basics: Basics {
                        priority: p(prio)?,
                        ..Basics::default()
                    },
                    conditions,
                    cooldown: cool(cooldown)?,
                    user_cooldown: cool(user_cooldown)?,
                    streak: (ty == EventType::Gift).then_some(StreakPolicy::Each),
                    action: Some(name.into()),
                },
            )?;
        }
        rules::set(
            conn,
            slug,
            "LikeEvent",
            &RuleChanges {
                cooldown: Some(Some("1s".parse()?)),
                ..RuleChanges::default()
            },
        )?;
    }
    Ok(())
}
