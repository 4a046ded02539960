//! Read-only transactions that see one snapshot of the database: the
//! exporter and the report read a scope in several of them at once, and
//! every one sees the same data while annotators keep writing.

use sqlx::{PgConnection, PgPool};

/// A read-only repeatable-read transaction: a new snapshot, or the one
/// another transaction exported (`pg_export_snapshot()`). The exporter and
/// the report read through it.
pub async fn read_only(
    pool: &PgPool,
    snapshot: Option<&str>,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    if let Some(id) = snapshot {
        // SET takes no parameters; a snapshot id is hex digits and dashes.
        if !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(sqlx::Error::Protocol(format!(
                "unexpected snapshot id {id:?}"
            )));
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "set transaction snapshot '{id}'"
        )))
        .execute(&mut *tx)
        .await?;
    }
    // Compiling these long-running queries with JIT costs more than it
    // saves; and each range query is planned for its own keys (a generic
    // plan cannot see that a range is small, and may sort the project).
    sqlx::query("set local jit = off").execute(&mut *tx).await?;
    sqlx::query("set local plan_cache_mode = force_custom_plan")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Exports the snapshot of `tx` for [`read_only`] transactions to share.
pub async fn export(tx: &mut PgConnection) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("select pg_export_snapshot()")
        .fetch_one(tx)
        .await
}
