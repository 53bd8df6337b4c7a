//! Services and their event configs: creation, inspection and changes, each one transaction.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConn;
use crate::error::{ModelError, ModelResult};
use crate::event::EventType;
use crate::models::{now, Service, ServiceEventConfig};
use crate::schema::{service_event_configs as sec, services as sv};
use crate::status::ServiceKind;
use crate::text::{clean_line, clean_text};
use crate::validate::{EventRoute, MaxQueueSize, Setting, Slug};
use crate::{scopes, with_conn};
use events::Streamer;

impl ServiceKind {
    /// Settings a service of this kind cannot run without.
    pub fn required_settings(self) -> &'static [&'static str] {
        match self {
            ServiceKind::Exec => &["command"],
            ServiceKind::Webhook => &["url"],
            _ => &[],
        }
    }
}

/// Everything needed to create a service.
#[derive(Debug, Clone)]
pub struct NewService {
    /// Display name.
    pub name: String,
    /// Unique handle.
    pub slug: Slug,
    /// The kind that runs it.
    pub kind: ServiceKind,
    /// Free text.
    pub description: String,
    /// Start active.
    pub is_active: bool,
    /// Queue limit.
    pub max_queue_size: MaxQueueSize,
    /// Kind-specific parameters.
    pub settings: Vec<Setting>,
    /// Event types it receives.
    pub routes: Vec<EventRoute>,
    /// The streamers it serves; empty = every streamer.
    pub streamers: Vec<Streamer>,
}

/// A service with its event configs.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceDetail {
    /// The service.
    #[serde(flatten)]
    pub service: Service,
    /// Parsed settings.
    pub settings_json: serde_json::Value,
    /// The streamers it serves, sorted; empty = every streamer.
    pub streamers: Vec<String>,
    /// Its event configs, highest priority first.
    pub event_configs: Vec<ServiceEventConfig>,
}

fn apply_settings(
    mut map: serde_json::Map<String, serde_json::Value>,
    settings: &[Setting],
) -> serde_json::Map<String, serde_json::Value> {
    for s in settings {
        match &s.value {
            Some(v) => {
                let mut v = v.clone();
                crate::text::clean_json(&mut v);
                map.insert(s.key.clone(), v);
            }
            None => {
                map.remove(&s.key);
            }
        }
    }
    map
}

fn check_required(
    kind: ServiceKind,
    settings: &serde_json::Map<String, serde_json::Value>,
) -> ModelResult<()> {
    for key in kind.required_settings() {
        let present = match settings.get(*key) {
            Some(serde_json::Value::String(s)) => !s.trim().is_empty(),
            Some(serde_json::Value::Null) | None => false,
            Some(_) => true,
        };
        if !present {
            return Err(ModelError::Invalid(format!(
                "service class '{kind}' needs the setting '{key}': add --setting {key}=…"
            )));
        }
    }
    Ok(())
}

fn check_name(name: &str) -> ModelResult<String> {
    let name = clean_line(name.trim(), 255);
    if name.is_empty() {
        return Err(ModelError::Invalid(
            "the service name is empty: pass --name \"My service\"".into(),
        ));
    }
    Ok(name)
}

fn check_unique_routes(routes: &[EventRoute]) -> ModelResult<()> {
    for (i, r) in routes.iter().enumerate() {
        if routes[..i].iter().any(|o| o.event_type == r.event_type) {
            return Err(ModelError::Invalid(format!(
                "event type {} is given twice: give each event type once",
                r.event_type
            )));
        }
    }
    Ok(())
}

/// Creates a service and its event configs in one transaction.
pub fn add(conn: &mut DbConn, new: &NewService) -> ModelResult<ServiceDetail> {
    let name = check_name(&new.name)?;
    let settings = apply_settings(serde_json::Map::new(), &new.settings);
    check_required(new.kind, &settings)?;
    check_unique_routes(&new.routes)?;
    let settings_text = serde_json::Value::Object(settings).to_string();
    let description = clean_text(&new.description);
    conn.write_transaction(|conn| {
        if find_opt(conn, new.slug.as_str())?.is_some() {
            return Err(ModelError::Invalid(format!(
                "a service with slug '{}' already exists: choose another slug or change it with `ctl service set {}`",
                new.slug, new.slug
            )));
        }
        let t = now();
        with_conn!(conn, |c| diesel::insert_into(sv::table)
            .values((
                sv::name.eq(&name),
                sv::slug.eq(new.slug.as_str()),
                sv::service_class.eq(new.kind.as_str()),
                sv::description.eq(&description),
                sv::is_active.eq(new.is_active),
                sv::max_queue_size.eq(new.max_queue_size.get()),
                sv::settings.eq(&settings_text),
                sv::created_at.eq(t),
                sv::updated_at.eq(t),
            ))
            .execute(c))?;
        let service = find(conn, new.slug.as_str())?;
        for route in &new.routes {
            insert_config(conn, service.id, route)?;
        }
        scopes::replace(conn, service.id, &new.streamers)?;
        detail(conn, new.slug.as_str())
    })
}

fn insert_config(conn: &mut DbConn, service_id: i64, r: &EventRoute) -> ModelResult<()> {
    crate::rules::insert_config(
        conn,
        service_id,
        r.event_type,
        ConfigChanges {
            priority: Some(r.priority),
            is_async: Some(r.is_async),
            is_discardable: Some(r.is_discardable),
            is_enabled: Some(r.is_enabled),
        },
    )
}

/// Every service, by id.
pub fn list(conn: &mut DbConn) -> ModelResult<Vec<Service>> {
    Ok(with_conn!(conn, |c| sv::table
        .order(sv::id.asc())
        .select(Service::as_select())
        .load(c))?)
}

/// A service as lists show it: its row and the streamers it serves (`ctl service list
/// --json`, `GET /api/services`).
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// The service.
    #[serde(flatten)]
    pub service: Service,
    /// The streamers it serves, sorted; empty = every streamer.
    pub streamers: Vec<String>,
}

/// Every service with its streamers, by id.
pub fn list_with_streamers(conn: &mut DbConn) -> ModelResult<Vec<Listed>> {
    let mut scopes = scopes::all(conn)?;
    Ok(list(conn)?
        .into_iter()
        .map(|service| Listed {
            streamers: scopes.remove(&service.id).unwrap_or_default(),
            service,
        })
        .collect())
}

/// The service with this slug, if any.
pub fn find_opt(conn: &mut DbConn, slug: &str) -> ModelResult<Option<Service>> {
    Ok(with_conn!(conn, |c| sv::table
        .filter(sv::slug.eq(slug))
        .select(Service::as_select())
        .first(c)
        .optional())?)
}

/// The service with this slug, or a not-found error that says how to list them.
pub fn find(conn: &mut DbConn, slug: &str) -> ModelResult<Service> {
    find_opt(conn, slug)?.ok_or_else(|| {
        ModelError::NotFound(format!(
            "unknown service '{slug}': `ctl service list` shows the existing ones"
        ))
    })
}

/// A service's rules (event configs included), highest priority first, then by type and
/// creation.
pub fn configs(conn: &mut DbConn, service_id: i64) -> ModelResult<Vec<ServiceEventConfig>> {
    Ok(with_conn!(conn, |c| sec::table
        .filter(sec::service_id.eq(service_id))
        .order((sec::priority.desc(), sec::event_type.asc(), sec::id.asc()))
        .select(ServiceEventConfig::as_select())
        .load(c))?)
}

/// A service with its settings and event configs.
pub fn detail(conn: &mut DbConn, slug: &str) -> ModelResult<ServiceDetail> {
    let service = find(conn, slug)?;
    let event_configs = configs(conn, service.id)?;
    let streamers = scopes::streamers_of(conn, service.id)?;
    Ok(ServiceDetail {
        settings_json: serde_json::Value::Object(service.settings_map()),
        service,
        streamers,
        event_configs,
    })
}

/// Activates or deactivates a service; returns it and whether anything changed.
pub fn set_active(conn: &mut DbConn, slug: &str, active: bool) -> ModelResult<(Service, bool)> {
    set_switch(conn, slug, Switch::Active, active)
}

/// Pauses or resumes a service; returns it and whether anything changed. A paused service
/// keeps receiving events (its overflow policy applies) but workers claim nothing of it; the
/// items in flight when it is paused finish.
pub fn set_paused(conn: &mut DbConn, slug: &str, paused: bool) -> ModelResult<(Service, bool)> {
    set_switch(conn, slug, Switch::Paused, paused)
}

/// The on/off columns of a service.
#[derive(Clone, Copy)]
enum Switch {
    Active,
    Paused,
}

fn set_switch(
    conn: &mut DbConn,
    slug: &str,
    switch: Switch,
    on: bool,
) -> ModelResult<(Service, bool)> {
    conn.write_transaction(|conn| {
        let service = find(conn, slug)?;
        let current = match switch {
            Switch::Active => service.is_active,
            Switch::Paused => service.is_paused,
        };
        if current == on {
            return Ok((service, false));
        }
        let row = sv::table.find(service.id);
        let t = now();
        with_conn!(conn, |c| match switch {
            Switch::Active => diesel::update(row)
                .set((sv::is_active.eq(on), sv::updated_at.eq(t)))
                .execute(c),
            Switch::Paused => diesel::update(row)
                .set((sv::is_paused.eq(on), sv::updated_at.eq(t)))
                .execute(c),
        })?;
        Ok((find(conn, slug)?, true))
    })
}

/// Deletes a service's event configs and its row; returns how many configs. Its queue rows
/// and lease are the queue engine's: remove a service with `dispatcher::Engine::remove_service`,
/// which deletes those and calls this in the same transaction.
pub fn delete(conn: &mut DbConn, service_id: i64) -> ModelResult<usize> {
    Ok(with_conn!(conn, |c| {
        let configs =
            diesel::delete(sec::table.filter(sec::service_id.eq(service_id))).execute(c)?;
        diesel::delete(sv::table.find(service_id)).execute(c)?;
        Ok::<_, diesel::result::Error>(configs)
    })?)
}

/// Changes to a service; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServiceChanges {
    /// New display name.
    pub name: Option<String>,
    /// New kind.
    pub kind: Option<ServiceKind>,
    /// New queue limit.
    pub max_queue_size: Option<MaxQueueSize>,
    /// New description.
    pub description: Option<String>,
    /// Settings to set or (with an empty value) remove.
    pub settings: Vec<Setting>,
    /// The streamers it serves from now on (empty: every streamer).
    pub streamers: Option<Vec<Streamer>>,
}

impl ServiceChanges {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.kind.is_none()
            && self.max_queue_size.is_none()
            && self.description.is_none()
            && self.settings.is_empty()
            && self.streamers.is_none()
    }
}

/// Applies changes to a service in one transaction; returns the updated service.
pub fn update(conn: &mut DbConn, slug: &str, changes: &ServiceChanges) -> ModelResult<Service> {
    if changes.is_empty() {
        return Err(ModelError::Invalid(
            "nothing to change: pass at least one of --name, --class, --max-queue-size, --description, --setting, --streamer, --all-streamers".into(),
        ));
    }
    let name = changes.name.as_deref().map(check_name).transpose()?;
    conn.write_transaction(|conn| {
        let service = find(conn, slug)?;
        let kind = match changes.kind {
            Some(k) => k,
            None => service.kind()?,
        };
        let settings = apply_settings(service.settings_map(), &changes.settings);
        check_required(kind, &settings)?;
        let settings_text = serde_json::Value::Object(settings).to_string();
        let t = now();
        with_conn!(conn, |c| diesel::update(sv::table.find(service.id))
            .set((
                sv::name.eq(name.as_deref().unwrap_or(&service.name)),
                sv::service_class.eq(kind.as_str()),
                sv::max_queue_size.eq(changes
                    .max_queue_size
                    .map_or(service.max_queue_size, MaxQueueSize::get)),
                sv::description.eq(changes
                    .description
                    .as_deref()
                    .map(clean_text)
                    .unwrap_or_else(|| service.description.clone())),
                sv::settings.eq(&settings_text),
                sv::updated_at.eq(t),
            ))
            .execute(c))?;
        if let Some(streamers) = &changes.streamers {
            scopes::replace(conn, service.id, streamers)?;
        }
        find(conn, slug)
    })
}

/// Changes to one event config (the rule named after its event type); `None` leaves a field
/// as it is (or at its default when the config is created: priority 5, SYNC, discardable,
/// enabled).
pub type ConfigChanges = crate::rules::Basics;

/// Creates or updates a service's config for one event type (the rule named after the
/// type); returns it and whether it was created.
pub fn set_config(
    conn: &mut DbConn,
    slug: &str,
    event_type: EventType,
    changes: ConfigChanges,
) -> ModelResult<(ServiceEventConfig, bool)> {
    crate::rules::set_config(conn, slug, event_type, changes)
}

/// Deletes a service's config for one event type.
pub fn remove_config(conn: &mut DbConn, slug: &str, event_type: EventType) -> ModelResult<()> {
    conn.write_transaction(|conn| {
        let service = find(conn, slug)?;
        let n = with_conn!(conn, |c| diesel::delete(
            sec::table
                .filter(sec::service_id.eq(service.id))
                .filter(sec::name.eq(event_type.as_str()))
        )
        .execute(c))?;
        if n == 0 {
            return Err(ModelError::NotFound(format!(
                "service '{slug}' has no config for {event_type}: `ctl event-config list {slug}` shows its configs"
            )));
        }
        Ok(())
    })
}
