//! The key-value settings in `app_config` (e.g. `tiktok_user`, the default streamer).

use diesel::prelude::*;

use crate::db::DbConn;
use crate::error::{ModelError, ModelResult};
use crate::models::{now, ConfigEntry};
use crate::schema::app_config::dsl as ac;
use crate::text::clean_text;
use crate::with_conn;

/// The default streamer's @handle, used when capture is started without `--username`.
pub const TIKTOK_USER: &str = "tiktok_user";

/// The value of `key`, if set.
pub fn get(conn: &mut DbConn, key: &str) -> ModelResult<Option<String>> {
    Ok(with_conn!(conn, |c| ac::app_config
        .filter(ac::meta_key.eq(key))
        .select(ac::meta_value)
        .first::<String>(c)
        .optional())?)
}

/// Sets `key` to `value`; returns the previous value (`None` if the key was new).
pub fn set(conn: &mut DbConn, key: &str, value: &str) -> ModelResult<Option<String>> {
    let key = key.trim();
    if key.is_empty() || key.chars().count() > 191 || key.chars().any(char::is_control) {
        return Err(ModelError::Invalid(format!(
            "invalid config key '{key}': use 1 to 191 printable characters, e.g. tiktok_user"
        )));
    }
    let value = clean_text(value);
    conn.write_transaction(|conn| {
        let previous = get(conn, key)?;
        let t = now();
        with_conn!(conn, |c| match previous {
            Some(_) => diesel::update(ac::app_config.filter(ac::meta_key.eq(key)))
                .set((ac::meta_value.eq(&value), ac::updated_at.eq(t)))
                .execute(c),
            None => diesel::insert_into(ac::app_config)
                .values((
                    ac::meta_key.eq(key),
                    ac::meta_value.eq(&value),
                    ac::created_at.eq(t),
                    ac::updated_at.eq(t),
                ))
                .execute(c),
        })?;
        Ok(previous)
    })
}

/// Creates `key` with `value` only if it is missing; returns whether it was created.
pub fn ensure(conn: &mut DbConn, key: &str, value: &str) -> ModelResult<bool> {
    if get(conn, key)?.is_some() {
        return Ok(false);
    }
    set(conn, key, value)?;
    Ok(true)
}

/// Every setting, by key.
pub fn list(conn: &mut DbConn) -> ModelResult<Vec<ConfigEntry>> {
    Ok(with_conn!(conn, |c| ac::app_config
        .order(ac::meta_key.asc())
        .select(ConfigEntry::as_select())
        .load(c))?)
}

/// Every setting as `{key: value}`, by key: what `ctl config list --json` and
/// `GET /api/config` show.
pub fn as_map(conn: &mut DbConn) -> ModelResult<std::collections::BTreeMap<String, String>> {
    Ok(list(conn)?
        .into_iter()
        .map(|e| (e.meta_key, e.meta_value))
        .collect())
}

/// The streamer named by the `tiktok_user` setting: whose LIVE test events pretend to come
/// from when none is given. Empty or unset is an error that says how to set it.
pub fn default_streamer(conn: &mut DbConn) -> ModelResult<events::Streamer> {
    let user = get(conn, "tiktok_user")?.unwrap_or_default();
    if user.trim().is_empty() {
        return Err(ModelError::Invalid(
            "no streamer given and the tiktok_user setting is empty: pass --streamer NAME or `ctl config set tiktok_user NAME`".into(),
        ));
    }
    user.parse()
        .map_err(|e| ModelError::Invalid(format!("the tiktok_user setting: {e}")))
}
