//! SQL mappings for the storage side (the `diesel` feature): the string enums as `Text` on
//! every backend, a [`Priority`] as `Integer`. A value read back that is not in the
//! vocabulary is a deserialization error naming it, never a panic.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Integer;

use crate::{EventType, Priority, StreakStatus};

/// Stores string enums (see [`string_enum!`](crate::string_enum)) as SQL `Text`. The storage
/// crate calls it for its own enums, which must derive diesel's `AsExpression` and
/// `FromSqlRow` with `#[diesel(sql_type = Text)]`.
#[macro_export]
macro_rules! text_sql {
    ($($ty:ty),+ $(,)?) => {$(
        impl<DB> ::diesel::serialize::ToSql<::diesel::sql_types::Text, DB> for $ty
        where
            DB: ::diesel::backend::Backend,
            str: ::diesel::serialize::ToSql<::diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut ::diesel::serialize::Output<'b, '_, DB>,
            ) -> ::diesel::serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB> ::diesel::deserialize::FromSql<::diesel::sql_types::Text, DB> for $ty
        where
            DB: ::diesel::backend::Backend,
            String: ::diesel::deserialize::FromSql<::diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> ::diesel::deserialize::Result<Self> {
                let s = String::from_sql(bytes)?;
                Ok(s.parse::<$ty>()?)
            }
        }
    )+};
}

text_sql!(EventType, StreakStatus);

impl<DB> ToSql<Integer, DB> for Priority
where
    DB: Backend,
    i32: ToSql<Integer, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}

impl<DB> FromSql<Integer, DB> for Priority
where
    DB: Backend,
    i32: FromSql<Integer, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let n = i32::from_sql(bytes)?;
        Ok(Priority::new(i64::from(n))?)
    }
}
