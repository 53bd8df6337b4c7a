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
/// `types` at priority 5, not discardable, SYNC or ASYNC.
pub fn add_noop_service(
    conn: &mut DbConn,
    slug: &str,
    name: &str,
    types: &[EventType],
    is_async: bool,
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
