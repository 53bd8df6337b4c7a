//! Stores the string enums as SQL `Text` on every backend. An unknown string read from the
//! database becomes a deserialization error that names the value, never a panic.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

use crate::{EventType, QueueStatus, ServiceKind, SessionStatus, StreakStatus};

macro_rules! text_sql {
    ($($ty:ty),+) => {$(
        impl<DB> ToSql<Text, DB> for $ty
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB> FromSql<Text, DB> for $ty
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let s = String::from_sql(bytes)?;
                Ok(s.parse::<$ty>()?)
            }
        }
    )+};
}

text_sql!(
    EventType,
    StreakStatus,
    QueueStatus,
    SessionStatus,
    ServiceKind
);
