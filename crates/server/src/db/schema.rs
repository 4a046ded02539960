//! Bringing the schema up to date, or, on a server that cannot be written (a
//! hot standby, or one set read-only), checking that it already is.

use anyhow::{Context, bail};
use sqlx::PgPool;

use super::MIGRATOR;

/// Whether the server takes no writes: a standby in recovery, or
/// `default_transaction_read_only` set for this database or role.
pub async fn read_only(pool: &PgPool) -> anyhow::Result<bool> {
    sqlx::query_scalar(
        "select pg_is_in_recovery() or current_setting('transaction_read_only') = 'on'",
    )
    .fetch_one(pool)
    .await
    .context("asking the database whether it takes writes")
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations")
}

/// Checks that a database this binary may not migrate has exactly the
/// migrations it has: same numbers, same contents.
pub async fn check(pool: &PgPool) -> anyhow::Result<()> {
    let exists: bool = sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
        .fetch_one(pool)
        .await
        .context("looking for the schema's migrations")?;
    if !exists {
        bail!(
            "the database has no safepref schema; run `safepref migrate` against its primary first"
        );
    }
    let applied: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "select version, checksum from _sqlx_migrations where success order by version",
    )
    .fetch_all(pool)
    .await
    .context("reading the schema's migrations")?;
    let wanted: Vec<(i64, &[u8])> = MIGRATOR
        .iter()
        .map(|m| (m.version, m.checksum.as_ref()))
        .collect();
    compare(&applied, &wanted).map_err(anyhow::Error::msg)
}

/// The one sentence saying how the database's migrations differ from the
/// binary's, if they do.
fn compare(applied: &[(i64, Vec<u8>)], wanted: &[(i64, &[u8])]) -> Result<(), String> {
    let has = applied.last().map_or(0, |m| m.0);
    let wants = wanted.last().map_or(0, |m| m.0);
    if has < wants {
        return Err(format!(
            "the database's schema is at migration {has} and this safepref needs migration \
             {wants}; run `safepref migrate` against the primary (a standby follows it), then try again"
        ));
    }
    if has > wants {
        return Err(format!(
            "the database's schema is at migration {has}, newer than this safepref's {wants}; \
             use the safepref release that migrated it"
        ));
    }
    let differs = wanted
        .iter()
        .find(|(version, checksum)| !applied.iter().any(|a| a.0 == *version && a.1 == *checksum));
    match differs {
        Some((version, _)) => Err(format!(
            "the database's migration {version} is missing or not the one this safepref has \
             (its checksum differs); use the safepref release that migrated it"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_difference_is_one_sentence_naming_both_versions() {
        let wanted: Vec<(i64, &[u8])> = vec![(1, b"a"), (2, b"b")];
        let applied = |list: &[(i64, &[u8])]| -> Vec<(i64, Vec<u8>)> {
            list.iter().map(|(v, c)| (*v, c.to_vec())).collect()
        };
        assert_eq!(compare(&applied(&[(1, b"a"), (2, b"b")]), &wanted), Ok(()));
        let older = compare(&applied(&[(1, b"a")]), &wanted).unwrap_err();
        assert!(
            older.contains("at migration 1") && older.contains("needs migration 2"),
            "{older}"
        );
        let newer = compare(&applied(&[(1, b"a"), (2, b"b"), (3, b"c")]), &wanted).unwrap_err();
        assert!(
            newer.contains("at migration 3") && newer.contains("safepref's 2"),
            "{newer}"
        );
        let edited = compare(&applied(&[(1, b"x"), (2, b"b")]), &wanted).unwrap_err();
        assert!(
            edited.contains("migration 1 is missing or not the one"),
            "{edited}"
        );
        let none = compare(&[], &wanted).unwrap_err();
        assert!(none.contains("at migration 0"), "{none}");
    }
}
