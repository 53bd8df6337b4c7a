//! `populate-initial-data`: exactly the original system's defaults, created only where missing.

use serde::Serialize;

use crate::config_store::{self, TIKTOK_USER};
use crate::db::DbConn;
use crate::error::ModelResult;
use crate::event::EventType;
use crate::services::{self, NewService};
use crate::status::ServiceKind;
use crate::validate::{EventRoute, MaxQueueSize, Priority};

/// What one run created; all empty when everything was already there.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedReport {
    /// Config keys created.
    pub config_created: Vec<String>,
    /// Services created (slug).
    pub services_created: Vec<String>,
    /// Event configs added to services that already existed ("slug:EventType").
    pub event_configs_created: Vec<String>,
}

impl SeedReport {
    /// True when the run changed nothing.
    pub fn is_unchanged(&self) -> bool {
        self.config_created.is_empty()
            && self.services_created.is_empty()
            && self.event_configs_created.is_empty()
    }
}

struct Seed {
    name: &'static str,
    slug: &'static str,
    kind: ServiceKind,
    description: &'static str,
    max_queue_size: i64,
    is_async: bool,
    /// (type, priority, discardable, enabled)
    configs: &'static [(EventType, i64, bool, bool)],
}

const SEEDS: &[Seed] = &[
    Seed {
        name: "DinoChrome",
        slug: "dinochrome",
        kind: ServiceKind::DinoChrome,
        description: "The Chrome dino runner as a browser source: events make the dino act.",
        max_queue_size: 50,
        is_async: false,
        configs: &[
            (EventType::Gift, 10, false, true),
            (EventType::Subscribe, 9, false, true),
            (EventType::Follow, 8, false, true),
            (EventType::Share, 7, false, true),
            (EventType::Comment, 6, true, true),
            (EventType::Like, 3, true, true),
            (EventType::Join, 2, true, false),
        ],
    },
    Seed {
        name: "Overlays",
        slug: "overlays",
        kind: ServiceKind::Overlays,
        description: "On-stream alerts and chat as a browser source.",
        max_queue_size: 100,
        is_async: true,
        configs: &[
            (EventType::Gift, 10, false, true),
            (EventType::Subscribe, 8, false, true),
            (EventType::Follow, 7, false, true),
            (EventType::Share, 6, true, true),
            (EventType::Comment, 5, true, true),
            (EventType::Join, 3, true, true),
            (EventType::Like, 2, true, true),
        ],
    },
];

fn routes(seed: &Seed) -> ModelResult<Vec<EventRoute>> {
    seed.configs
        .iter()
        .map(|&(event_type, priority, is_discardable, is_enabled)| {
            Ok(EventRoute {
                event_type,
                priority: Priority::new(priority)?,
                is_async: seed.is_async,
                is_discardable,
                is_enabled,
            })
        })
        .collect()
}

/// Creates the original's initial data where missing, in one transaction. Existing rows are
/// never changed (like the original's get-or-create), so a user's edits survive a re-run.
pub fn populate_initial_data(conn: &mut DbConn) -> ModelResult<SeedReport> {
    conn.write_transaction(|conn| {
        let mut report = SeedReport::default();
        if config_store::ensure(conn, TIKTOK_USER, "")? {
            report.config_created.push(TIKTOK_USER.to_owned());
        }
        for seed in SEEDS {
            let routes = routes(seed)?;
            match services::find_opt(conn, seed.slug)? {
                None => {
                    services::add(
                        conn,
                        &NewService {
                            name: seed.name.to_owned(),
                            slug: seed.slug.parse()?,
                            kind: seed.kind,
                            description: seed.description.to_owned(),
                            is_active: true,
                            max_queue_size: MaxQueueSize::new(seed.max_queue_size)?,
                            settings: Vec::new(),
                            streamers: Vec::new(),
                            routes,
                        },
                    )?;
                    report.services_created.push(seed.slug.to_owned());
                }
                Some(service) => {
                    let existing = services::configs(conn, service.id)?;
                    for route in routes {
                        // The seed's rules are the ones named after their type.
                        if existing.iter().all(|c| c.name != route.event_type.as_str()) {
                            services::set_config(
                                conn,
                                seed.slug,
                                route.event_type,
                                services::ConfigChanges {
                                    priority: Some(route.priority),
                                    is_async: Some(route.is_async),
                                    is_discardable: Some(route.is_discardable),
                                    is_enabled: Some(route.is_enabled),
                                },
                            )?;
                            report
                                .event_configs_created
                                .push(format!("{}:{}", seed.slug, route.event_type));
                        }
                    }
                }
            }
        }
        Ok(report)
    })
}
