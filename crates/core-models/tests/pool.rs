//! The pool without a checkout ping: a connection in steady use is handed out as it is, and
//! one the server dropped costs one failed operation before the pool replaces it (MySQL only:
//! it needs a server that can kill a session).

use core_models::{Db, DbConn, PoolOptions};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use test_support::TestDb;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

fn connection_id(conn: &mut DbConn) -> i64 {
    let DbConn::Mysql(c) = conn else {
        unreachable!("MySQL only")
    };
    diesel::sql_query("SELECT CAST(CONNECTION_ID() AS SIGNED) AS id")
        .get_result::<Id>(c)
        .expect("connection id")
        .id
}

#[test]
fn a_connection_the_server_killed_fails_once_then_is_replaced() {
    let Some(db) = TestDb::mysql() else {
        eprintln!("TEST_MYSQL_URL not set: skipped");
        return;
    };
    let pool = Db::connect(db.db_url(), PoolOptions::default()).expect("pool");
    let first = connection_id(&mut pool.get().expect("checkout"));
    let mut admin = db.conn();
    let DbConn::Mysql(a) = &mut admin else {
        unreachable!("MySQL only")
    };
    a.batch_execute(&format!("KILL {first}")).expect("kill");

    // Used a moment ago, so handed out without a ping: its first statement finds it dead.
    let mut conn = pool.get().expect("checkout");
    assert!(conn.ping().is_err(), "the killed session still answered");
    assert!(conn.is_broken());
    drop(conn);

    // The pool dropped it: the next checkout is a new session that works.
    let mut conn = pool.get().expect("checkout");
    conn.ping().expect("a working connection");
    assert_ne!(connection_id(&mut conn), first);
    assert!(!conn.is_broken());
}
