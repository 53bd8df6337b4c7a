//! Migrations from an empty database on both backends, and schema parity between them.

use std::collections::BTreeMap;

use core_models::{Backend, DbConn};
use diesel::prelude::*;
use diesel::sql_types::Text;
use test_support::TestDb;

#[derive(QueryableByName)]
struct Col {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

fn columns(conn: &mut DbConn) -> BTreeMap<String, Vec<String>> {
    let cols: Vec<Col> = match conn {
        DbConn::Mysql(c) => diesel::sql_query(
            "SELECT CAST(table_name AS CHAR) AS table_name, CAST(column_name AS CHAR) AS column_name \
             FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND table_name <> '__diesel_schema_migrations' ORDER BY table_name, column_name",
        )
        .load(c)
        .unwrap(),
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name <> '__diesel_schema_migrations' ORDER BY 1, 2",
        )
        .load(c)
        .unwrap(),
    };
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in cols {
        map.entry(c.table_name).or_default().push(c.column_name);
    }
    map
}

#[test]
fn migrates_from_empty_and_is_idempotent() {
    for db in TestDb::all() {
        let mut conn = db.conn();
        let pending = conn.pending_migrations().unwrap();
        assert!(!pending.is_empty());
        let applied = conn.run_migrations().unwrap();
        assert_eq!(applied.len(), pending.len(), "{:?}", db.backend());
        assert!(conn.run_migrations().unwrap().is_empty());
        assert!(conn.pending_migrations().unwrap().is_empty());
        let tables = columns(&mut conn);
        for t in [
            "live_sessions",
            "live_events",
            "services",
            "service_event_configs",
            "event_queue",
            "app_config",
            "service_leases",
        ] {
            assert!(tables.contains_key(t), "{t} missing on {:?}", db.backend());
            assert!(tables[t].contains(&"created_at".to_string()), "{t}");
            assert!(tables[t].contains(&"updated_at".to_string()), "{t}");
        }
    }
}

#[test]
fn both_backends_have_the_same_tables_and_columns() {
    let sqlite = TestDb::sqlite();
    let Some(mysql) = TestDb::mysql() else {
        // Without a MySQL server the parity check still proves the SQLite side matches the
        // diesel schema the code is compiled against.
        let mut conn = sqlite.conn();
        conn.run_migrations().unwrap();
        assert_eq!(columns(&mut conn).len(), 7);
        return;
    };
    let mut a = sqlite.conn();
    let mut b = mysql.conn();
    a.run_migrations().unwrap();
    b.run_migrations().unwrap();
    assert_eq!(a.backend(), Backend::Sqlite);
    assert_eq!(b.backend(), Backend::Mysql);
    assert_eq!(columns(&mut a), columns(&mut b));
}

#[test]
fn mysql_tables_are_utf8mb4_innodb() {
    let Some(db) = TestDb::mysql() else { return };
    let mut conn = db.conn();
    conn.run_migrations().unwrap();
    #[derive(QueryableByName)]
    struct T {
        #[diesel(sql_type = Text)]
        engine: String,
        #[diesel(sql_type = Text)]
        collation: String,
    }
    let DbConn::Mysql(c) = &mut conn else {
        unreachable!()
    };
    let rows: Vec<T> = diesel::sql_query(
        "SELECT CAST(engine AS CHAR) AS engine, CAST(table_collation AS CHAR) AS collation \
         FROM information_schema.tables WHERE table_schema = DATABASE()",
    )
    .load(c)
    .unwrap();
    assert!(rows.len() >= 7);
    for r in rows {
        assert_eq!(r.engine, "InnoDB");
        assert!(r.collation.starts_with("utf8mb4"), "{}", r.collation);
    }
}

/// The MySQL connection of a MySQL test database.
fn mysql(conn: &mut DbConn) -> &mut core_models::db::MysqlConnection {
    match conn {
        DbConn::Mysql(c) => c,
        DbConn::Sqlite(_) => unreachable!("a MySQL test database"),
    }
}

#[test]
// The pure-Rust driver reports deadlocks (1213) and lock-wait timeouts (1205) by message
// only: a real deadlock and a real lock-wait timeout on the server must both be recognised,
// or the dispatcher's transparent retry would never fire.
fn real_mysql_lock_conflicts_are_recognised() {
    use diesel::connection::SimpleConnection;
    use std::sync::mpsc;
    let Some(db) = TestDb::mysql() else { return };
    let mut setup = db.conn();
    setup.run_migrations().unwrap();
    mysql(&mut setup)
        .batch_execute(
            "INSERT INTO app_config (meta_key, meta_value) VALUES ('lock_a', ''), ('lock_b', '')",
        )
        .unwrap();
    let lock = |c: &mut core_models::db::MysqlConnection, key: &str| {
        c.batch_execute(&format!(
            "UPDATE app_config SET meta_value = 'x' WHERE meta_key = '{key}'"
        ))
    };

    // Lock-wait timeout: B waits one second for A's row lock.
    let mut a = db.conn();
    let mut b = db.conn();
    mysql(&mut a).batch_execute("BEGIN").unwrap();
    lock(mysql(&mut a), "lock_a").unwrap();
    mysql(&mut b)
        .batch_execute("SET SESSION innodb_lock_wait_timeout = 1; BEGIN")
        .unwrap();
    let timeout = lock(mysql(&mut b), "lock_a").expect_err("lock wait timeout");
    assert!(core_models::db::is_lock_conflict(&timeout), "{timeout:?}");
    mysql(&mut b).batch_execute("ROLLBACK").unwrap();
    mysql(&mut a).batch_execute("ROLLBACK").unwrap();

    // Deadlock: A holds lock_a and wants lock_b, B holds lock_b and wants lock_a.
    mysql(&mut a).batch_execute("BEGIN").unwrap();
    lock(mysql(&mut a), "lock_a").unwrap();
    mysql(&mut b)
        .batch_execute("SET SESSION innodb_lock_wait_timeout = 30; BEGIN")
        .unwrap();
    lock(mysql(&mut b), "lock_b").unwrap();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        tx.send(()).unwrap();
        let r = lock(mysql(&mut a), "lock_b");
        let _ = mysql(&mut a).batch_execute("ROLLBACK");
        r
    });
    rx.recv().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300)); // A is now waiting
    let b_result = lock(mysql(&mut b), "lock_a");
    let _ = mysql(&mut b).batch_execute("ROLLBACK");
    let a_result = waiter.join().unwrap();
    // InnoDB picks one victim; the other statement goes through.
    let errors: Vec<_> = [a_result, b_result]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(core_models::db::is_lock_conflict(&errors[0]), "{errors:?}");
}
