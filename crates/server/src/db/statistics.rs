//! Gives the queue's tables real planner statistics once they outgrow
//! their near-empty start.
//!
//! Each connection keeps the plans of its prepared statements (and
//! PL/pgSQL's) until the next ANALYZE of their tables. In a new database
//! those plans are made on nearly empty `assignments` and `annotations`,
//! where reading an annotator's whole history, or the whole table, is the
//! cheapest plan, and they stayed while the tables grew: autovacuum's
//! first ANALYZE can be a minute away. Measured under scripts/bench with
//! three annotators, the lease then cost more with every item. So a queue
//! table is analyzed once it has `min_rows` rows while its statistics say
//! fewer than half that (or it has none): one ANALYZE per table in a
//! database's life (the half keeps a miscount of live rows from repeating
//! it), which reads a sample of at most 30,000 rows; later ones are
//! autovacuum's.
//!
//! Not more often: every ANALYZE makes each connection rebuild the table's
//! cached descriptions and replan every statement that reads it. Under
//! scripts/bench's 64 annotators each one stalled the server for about a
//! tenth of a second (60 to 100 requests over 90 ms at once), and an earlier
//! rule (analyze whenever a table has doubled since its statistics) did it
//! four times in the 30 s run. Autovacuum's settings are left alone (a
//! shorter autovacuum nap was tried: its extra vacuums cost more than they
//! saved).

use sqlx::PgConnection;

/// The tables whose plans the queue depends on.
const QUEUE_TABLES: [&str; 3] = ["items", "assignments", "annotations"];

/// Analyzes each queue table that has at least `min_rows` live rows while
/// its statistics say fewer than half that; returns their names.
pub async fn analyze_grown(
    db: &mut PgConnection,
    min_rows: i64,
) -> Result<Vec<&'static str>, sqlx::Error> {
    let grown: Vec<String> = sqlx::query_scalar(
        "select s.relname::text from pg_stat_user_tables s join pg_class c on c.oid = s.relid
          where s.relname = any($1) and s.n_live_tup >= $2
            and c.reltuples < $2 / 2",
    )
    .bind(&QUEUE_TABLES[..])
    .bind(min_rows)
    .fetch_all(&mut *db)
    .await?;
    let tables: Vec<&'static str> = QUEUE_TABLES
        .into_iter()
        .filter(|t| grown.iter().any(|g| g == t))
        .collect();
    for table in &tables {
        sqlx::query(sqlx::AssertSqlSafe(format!("analyze {table}")))
            .execute(&mut *db)
            .await?;
    }
    Ok(tables)
}
