//! Prepared statements kept per connection for the hot paths.
//!
//! Diesel keeps a connection's prepared statements only for queries it can prove have a fixed
//! shape. It refuses every `UPDATE`, every `IN (…)` list (`eq_any`), every multi-row `INSERT`,
//! every `ON DUPLICATE KEY UPDATE` and every `sql_query`, so nearly each statement of a
//! dispatch or a claim was prepared, executed and closed again: on MySQL/MariaDB two round
//! trips and a parse per statement instead of one execute.
//!
//! [`Cached`] keeps such a statement anyway, keyed by its SQL text (and bind types), which is
//! always right: the same text is the same statement. What diesel guards against is a cache
//! that grows without bound, one entry per list length; so callers give [`Cached`] only a
//! bounded set of shapes: `IN` lists [`padded`] to a power of two, and multi-row inserts whose
//! row count is small or a full chunk (see [`cacheable_rows`]).
//!
//! [`SqliteInsert`] does the same for SQLite's multi-row inserts, which diesel runs through a
//! path of its own that no wrapper can reach.

use std::sync::OnceLock;

use diesel::insertable::InsertValues;
use diesel::mysql::{Mysql, MysqlQueryBuilder};
use diesel::query_builder::bind_collector::RawBytesBindCollector;
use diesel::query_builder::{AstPass, Query, QueryBuilder, QueryFragment, QueryId, ValuesClause};
use diesel::query_source::Table;
use diesel::sqlite::Sqlite;
use diesel::Insertable;
use diesel::QueryResult;

/// Row counts up to this are cached as they come: a live frame's few events. Larger inserts
/// are cached only when they are a full chunk; the rest (a burst's last chunk) are prepared
/// once and closed, a cost shared by hundreds of rows.
pub const CACHED_ROWS_MAX: usize = 64;

/// A query whose prepared statement the connection keeps, keyed by its SQL text.
///
/// Only for queries of a bounded set of shapes: see the module docs.
///
/// Diesel asks a statement whether it may be cached in two ways: a query run for rows is
/// asked directly, but one run for a count (`execute`) is asked through a reference, which
/// walks the inner query, and every `UPDATE`, `IN (…)` list or multi-row insert in it says
/// no. So on MySQL/MariaDB the wrapper hands diesel the query already rendered (its SQL text
/// and its bind values, computed once), which has nothing inside to say no. On SQLite, whose
/// statements are prepared in-process, only queries run for rows are kept.
#[derive(Debug)]
pub struct Cached<Q> {
    query: Q,
    keep: bool,
    rendered: OnceLock<Rendered>,
}

/// A MySQL query as its SQL text and its bind values.
#[derive(Debug)]
struct Rendered {
    sql: String,
    binds: RawBytesBindCollector<Mysql>,
}

impl<Q> Cached<Q> {
    /// `query`, its statement kept.
    pub fn new(query: Q) -> Cached<Q> {
        Cached::when(true, query)
    }

    /// `query`, its statement kept only if `keep` (otherwise as diesel decides).
    pub fn when(keep: bool, query: Q) -> Cached<Q> {
        Cached {
            query,
            keep,
            rendered: OnceLock::new(),
        }
    }
}

impl<Q: QueryFragment<Mysql>> Cached<Q> {
    /// The query rendered for MySQL, once: diesel walks a query several times per run (its
    /// SQL, its binds, whether it may be cached).
    fn rendered(&self) -> QueryResult<&Rendered> {
        if let Some(r) = self.rendered.get() {
            return Ok(r);
        }
        let mut sql = MysqlQueryBuilder::new();
        self.query.to_sql(&mut sql, &Mysql)?;
        let mut binds = RawBytesBindCollector::<Mysql>::new();
        self.query.collect_binds(&mut binds, &mut (), &Mysql)?;
        let rendered = Rendered {
            sql: sql.finish(),
            binds,
        };
        Ok(self.rendered.get_or_init(|| rendered))
    }
}

impl<Q> QueryId for Cached<Q> {
    type QueryId = ();
    // No static id: the cache key must then be the SQL text, never the Rust type, since the
    // same type renders lists of different lengths.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: QueryFragment<Mysql>> QueryFragment<Mysql> for Cached<Q> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Mysql>) -> QueryResult<()> {
        if !self.keep {
            return self.query.walk_ast(pass);
        }
        // Each pass takes what it needs: the SQL pass the text, the bind pass the values;
        // nothing marks the statement uncacheable.
        let rendered = self.rendered()?;
        pass.push_sql(&rendered.sql);
        pass.push_bind_collector_data(&rendered.binds)
    }
}

impl<Q: QueryFragment<Sqlite>> QueryFragment<Sqlite> for Cached<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.query.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, backend: &Sqlite) -> QueryResult<bool> {
        if self.keep {
            Ok(true)
        } else {
            self.query.is_safe_to_cache_prepared(backend)
        }
    }
}

impl<Q: Query> Query for Cached<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> diesel::RunQueryDsl<Conn> for Cached<Q> {}

/// A multi-row `INSERT` that SQLite keeps prepared.
///
/// Diesel runs a multi-row insert on SQLite through a path of its own that never keeps the
/// statement, so every batch parsed a statement of hundreds of rows anew: the largest cost
/// of an ingest burst after the writes themselves. This renders the same `INSERT INTO t
/// (columns) VALUES (…), (…)` from the rows' own `Insertable` values; nothing in it marks the
/// statement uncacheable, so it is kept by its text when `keep` says its shape recurs (see
/// [`cacheable_rows`]).
#[derive(Debug)]
pub struct SqliteInsert<From, V, Tab> {
    into: From,
    rows: Vec<ValuesClause<V, Tab>>,
    keep: bool,
    /// The columns of a unique key whose conflicts skip the row (`ON CONFLICT (…) DO
    /// NOTHING`): only that key, unlike `INSERT OR IGNORE`, which would also drop rows
    /// breaking NOT NULL or CHECK constraints.
    skip_conflicts_on: Option<&'static str>,
}

impl<Tab, V> SqliteInsert<Tab::FromClause, V, Tab>
where
    Tab: Table,
{
    /// `records` into `table`; their statement kept only if `keep`.
    pub fn new<'a, R>(table: Tab, records: &'a [R], keep: bool) -> Self
    where
        &'a R: Insertable<Tab, Values = ValuesClause<V, Tab>>,
    {
        SqliteInsert {
            into: table.from_clause(),
            rows: records.iter().map(Insertable::values).collect(),
            keep,
            skip_conflicts_on: None,
        }
    }

    /// Rows whose `columns` (a unique key, comma-separated) are already stored are skipped,
    /// not an error: only the rows inserted count as affected (and come back from a
    /// `RETURNING`).
    pub fn skip_conflicts_on(mut self, columns: &'static str) -> Self {
        self.skip_conflicts_on = Some(columns);
        self
    }
}

impl<From, V, Tab> QueryId for SqliteInsert<From, V, Tab> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<From, V, Tab> QueryFragment<Sqlite> for SqliteInsert<From, V, Tab>
where
    From: QueryFragment<Sqlite>,
    V: InsertValues<Sqlite, Tab>,
    Tab: Table,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let Some(first) = self.rows.first() else {
            return Err(diesel::result::Error::QueryBuilderError(
                "an INSERT needs at least one row".into(),
            ));
        };
        if !self.keep {
            out.unsafe_to_cache_prepared();
        }
        out.push_sql("INSERT INTO ");
        self.into.walk_ast(out.reborrow())?;
        out.push_sql(" (");
        first.values.column_names(out.reborrow())?;
        out.push_sql(") VALUES ");
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_sql("(");
            row.values.walk_ast(out.reborrow())?;
            out.push_sql(")");
        }
        if let Some(columns) = self.skip_conflicts_on {
            out.push_sql(" ON CONFLICT (");
            out.push_sql(columns);
            out.push_sql(") DO NOTHING");
        }
        Ok(())
    }
}

impl<From, V, Tab, Conn> diesel::RunQueryDsl<Conn> for SqliteInsert<From, V, Tab> {}

/// `values` lengthened to the next power of two by repeating its last value, for an
/// `IN (…)` list: the same rows match, and a list of any length up to 1,024 takes one of 11
/// shapes, so its statement can be [`Cached`].
pub fn padded<T: Clone>(values: &[T]) -> Vec<T> {
    let mut out = values.to_vec();
    if let Some(last) = values.last() {
        out.resize(values.len().next_power_of_two(), last.clone());
    }
    out
}

/// Whether a multi-row insert of `rows` rows, written in chunks of `chunk`, has a shape worth
/// keeping: few rows (a live frame) or a full chunk (a burst).
pub fn cacheable_rows(rows: usize, chunk: usize) -> bool {
    rows <= CACHED_ROWS_MAX || rows == chunk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_powers_of_two_with_the_last_value() {
        assert!(padded::<i64>(&[]).is_empty());
        assert_eq!(padded(&[7]), vec![7]);
        assert_eq!(padded(&[1, 2, 3]), vec![1, 2, 3, 3]);
        assert_eq!(padded(&[1, 2, 3, 4]), vec![1, 2, 3, 4]);
        assert_eq!(padded(&(0..1000).collect::<Vec<_>>()).len(), 1024);
    }

    #[test]
    fn keeps_small_and_full_chunk_inserts_only() {
        assert!(cacheable_rows(10, 500));
        assert!(cacheable_rows(CACHED_ROWS_MAX, 500));
        assert!(!cacheable_rows(CACHED_ROWS_MAX + 1, 500));
        assert!(cacheable_rows(500, 500));
    }
}
