//! Lease deadlines on the application clock ([`core_models::models::now`]), never the
//! database's, so both backends and every host compare the same kind of value.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};

/// Longest lease honoured; a longer one is cut to this (no lease should outlive a year, and
/// it keeps the arithmetic far from overflow).
const MAX_LEASE: TimeDelta = TimeDelta::days(365);

/// `at + lease`, saturating at a year.
pub(crate) fn deadline(at: NaiveDateTime, lease: Duration) -> NaiveDateTime {
    let d = TimeDelta::from_std(lease)
        .unwrap_or(MAX_LEASE)
        .min(MAX_LEASE);
    at.checked_add_signed(d).unwrap_or(at)
}

/// `at - age`, saturating at a year and a bit more than anything kept.
pub(crate) fn before(at: NaiveDateTime, age: Duration) -> NaiveDateTime {
    let d = TimeDelta::from_std(age)
        .unwrap_or(TimeDelta::days(36_500))
        .min(TimeDelta::days(36_500));
    at.checked_sub_signed(d)
        .unwrap_or(chrono::DateTime::UNIX_EPOCH.naive_utc())
}
