//! The SQL functions of sql/functions: a migrated database holds exactly the
//! files' functions, as the files write them; `migrate` puts back one that
//! differs, and the read-only check refuses it.

use safepref_server::db::{self, schema::FUNCTIONS};
use safepref_tests::TestDb;
use sqlx::{AssertSqlSafe, PgPool};

/// `pg_get_functiondef` of the function `name` (the only one of that name).
async fn functiondef(db: impl sqlx::PgExecutor<'_>, name: &str) -> String {
    sqlx::query_scalar("select pg_get_functiondef($1::regproc)")
        .bind(name)
        .fetch_one(db)
        .await
        .unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

/// The functions of the schema (not an extension's), in name order.
async fn schema_functions(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "select p.proname::text
           from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where n.nspname = current_schema()
            and not exists (select 1 from pg_depend d
                             where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                               and d.deptype = 'e')
          order by 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_migrated_database_holds_exactly_the_functions_of_the_files() {
    let db = TestDb::new().await;
    let files: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
    assert_eq!(
        schema_functions(&db.pool).await,
        files,
        "every function of the schema has its file in sql/functions"
    );
    // Each file, applied again, changes nothing: the database holds it.
    for function in FUNCTIONS {
        let mut tx = db.pool.begin().await.unwrap();
        let before = functiondef(&mut *tx, function.name).await;
        sqlx::raw_sql(function.sql)
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("applying {}: {e}", function.name));
        let after = functiondef(&mut *tx, function.name).await;
        tx.rollback().await.unwrap();
        assert!(
            before == after,
            "the database's {} is not sql/functions/{}.sql:\n{before}\n---\n{after}",
            function.name,
            function.name
        );
    }
    // And the read-only check, which compares without applying, agrees.
    db::schema::check(&db.pool).await.unwrap();
}

#[tokio::test]
async fn migrate_puts_back_a_function_that_is_not_its_file_and_the_check_refuses_it() {
    let db = TestDb::new().await;
    let lease_item = FUNCTIONS.iter().find(|f| f.name == "lease_item").unwrap();
    let original = functiondef(&db.pool, "lease_item").await;
    // The body with one more comment line, as a database migrated by
    // another release could hold it.
    let edited = lease_item
        .sql
        .replacen("$$\n", "$$\n-- another release\n", 1);
    sqlx::raw_sql(AssertSqlSafe(edited))
        .execute(&db.pool)
        .await
        .unwrap();
    let refused = db::schema::check(&db.pool).await.unwrap_err().to_string();
    assert_eq!(
        refused,
        "the database's function `lease_item` is not the one this safepref has \
         (sql/functions/lease_item.sql); migrate the primary with this safepref (a standby \
         follows it), or use the safepref release that migrated it"
    );
    db::migrate(&db.pool).await.unwrap();
    assert_eq!(functiondef(&db.pool, "lease_item").await, original);

    sqlx::query("drop function submit_and_lease")
        .execute(&db.pool)
        .await
        .unwrap();
    let refused = db::schema::check(&db.pool).await.unwrap_err().to_string();
    assert!(
        refused.starts_with("the database has no function `submit_and_lease`"),
        "{refused}"
    );
    db::migrate(&db.pool).await.unwrap();
    db::schema::check(&db.pool).await.unwrap();
}

/// Two `migrate`s that both find every function changed: without the
/// advisory lock one of them failed with "tuple concurrently updated".
#[tokio::test]
async fn two_migrates_replacing_the_functions_at_once_both_succeed() {
    let db = TestDb::new().await;
    let other = db::pool_for(&db.url).await.unwrap();
    for round in 0..10 {
        for function in FUNCTIONS {
            let edited = function.sql.replacen("$$\n", "$$\n-- another release\n", 1);
            sqlx::raw_sql(AssertSqlSafe(edited))
                .execute(&db.pool)
                .await
                .unwrap();
        }
        let (a, b) = tokio::join!(db::migrate(&db.pool), db::migrate(&other));
        a.unwrap_or_else(|e| panic!("round {round}, the first: {e:#}"));
        b.unwrap_or_else(|e| panic!("round {round}, the second: {e:#}"));
        db::schema::check(&db.pool).await.unwrap();
    }
}
