//! Keeps the planner's statistics of the queue's tables up with their
//! growth.
//!
//! Each connection keeps the plans of its prepared statements (and
//! PL/pgSQL's) until the next ANALYZE of their tables. In a new database
//! those plans are made on nearly empty `assignments` and `annotations`,
//! where reading an annotator's whole history, or the whole table, is the
//! cheapest plan, and they stayed while the tables grew: autovacuum's
//! first ANALYZE can be a minute away. Measured under scripts/bench with
//! three annotators, the lease then cost more with every item. Analyzing a
//! table when it has doubled since its statistics costs a few analyses in
//! a database's life (each ANALYZE reads a sample of at most 30,000 rows)
//! and leaves autovacuum's settings alone (a shorter autovacuum nap was
//! tried: its extra vacuums cost more than they saved).

use sqlx::PgExecutor;

/// The queue's tables that have at least `min_rows` live rows and more
/// than twice the rows their statistics say.
pub async fn grown(db: impl PgExecutor<'_>, min_rows: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select s.relname::text from pg_stat_user_tables s join pg_class c on c.oid = s.relid
          where s.relname in ('assignments', 'annotations', 'items')
            and s.n_live_tup >= $1 and s.n_live_tup > 2 * greatest(c.reltuples, 0)",
    )
    .bind(min_rows)
    .fetch_all(db)
    .await
}

/// ANALYZE one of the tables [`grown`] names.
pub async fn analyze(db: impl PgExecutor<'_>, table: &str) -> Result<(), sqlx::Error> {
    let table = match table {
        "assignments" => "assignments",
        "annotations" => "annotations",
        _ => "items",
    };
    sqlx::query(sqlx::AssertSqlSafe(format!("analyze {table}")))
        .execute(db)
        .await?;
    Ok(())
}
