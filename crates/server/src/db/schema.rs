//! Bringing the schema up to date, or, on a server that cannot be written (a
//! hot standby, or one set read-only), checking that it already is.
//!
//! The schema has two parts. The migrations (/migrations: tables, indexes,
//! triggers) are applied once each and never edited. The SQL functions
//! (/sql/functions, one file per function holding its current definition)
//! are compared with the database's after every migrate, and a file whose
//! function differs is applied (`create or replace`). A function is
//! compared by its header's words and its body's exact text (see
//! [`Definition`]).

use anyhow::{Context, bail};
use sqlx::{PgExecutor, PgPool};

use super::MIGRATOR;

/// One file of /sql/functions: a single `create or replace function`
/// statement, after comments, for the function the file is named after.
pub struct SqlFunction {
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! sql_function {
    ($name:literal) => {
        SqlFunction {
            name: $name,
            sql: include_str!(concat!("../../../../sql/functions/", $name, ".sql")),
        }
    };
}

/// The files of /sql/functions, compiled in (a unit test keeps this list
/// and the folder equal).
pub static FUNCTIONS: &[SqlFunction] = &[
    sql_function!("audit_entry_project"),
    sql_function!("audit_log_is_append_only"),
    sql_function!("audit_log_project"),
    sql_function!("bump_queue_epoch"),
    sql_function!("lease_item"),
    sql_function!("project_visible"),
    sql_function!("submit_and_lease"),
    sql_function!("submit_annotation"),
];

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

/// Applies pending migrations, then the functions that differ from their
/// files.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations")?;
    apply_functions(pool)
        .await
        .context("applying the SQL functions of sql/functions")
}

/// Applies each file of /sql/functions whose function the database does not
/// have as written. One transaction under an advisory lock: two processes
/// replacing one function at once could fail ("tuple concurrently
/// updated"), and the second to get the lock finds nothing left to do. A
/// function already as written is left alone, so a start rewrites no
/// catalog row and running servers keep their cached plans.
async fn apply_functions(pool: &PgPool) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('sql functions', 0))")
        .execute(&mut *tx)
        .await?;
    for function in FUNCTIONS {
        let found = definitions(&mut *tx, function.name).await?;
        if compare_function(function, &found).is_err() {
            sqlx::raw_sql(function.sql).execute(&mut *tx).await?;
        }
    }
    tx.commit().await
}

/// Checks that a database this binary may not migrate has exactly the
/// migrations it has (same numbers, same contents) and its functions as its
/// files write them.
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
    compare_migrations(&applied, &wanted).map_err(anyhow::Error::msg)?;
    for function in FUNCTIONS {
        let found = definitions(pool, function.name)
            .await
            .context("reading the schema's functions")?;
        compare_function(function, &found).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// The one sentence saying how the database's migrations differ from the
/// binary's, if they do.
fn compare_migrations(applied: &[(i64, Vec<u8>)], wanted: &[(i64, &[u8])]) -> Result<(), String> {
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

/// The one sentence saying how the database's function differs from its
/// file, if it does. `found`: the definitions of the functions of that name
/// in the database (more than one when an overload was added).
fn compare_function(function: &SqlFunction, found: &[Definition]) -> Result<(), String> {
    let name = function.name;
    match found {
        [] => Err(format!(
            "the database has no function `{name}` (sql/functions/{name}.sql); run `safepref \
             migrate` against the primary (a standby follows it), then try again"
        )),
        [one] if *one == Definition::of_file(function.sql) => Ok(()),
        _ => Err(format!(
            "the database's function `{name}` is not the one this safepref has \
             (sql/functions/{name}.sql); migrate the primary with this safepref (a standby \
             follows it), or use the safepref release that migrated it"
        )),
    }
}

/// The definitions of the functions named `name` in the current schema.
async fn definitions(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<Vec<Definition>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select pg_get_functiondef(p.oid), p.prosrc
           from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where p.proname = $1 and n.nspname = current_schema()",
    )
    .bind(name)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|(functiondef, body)| Definition::of_database(functiondef, body))
        .collect())
}

/// A function as the check compares it: the words of its header (what
/// comes before the body's opening `$`: name, arguments, result, language,
/// options), in lower case, without comments, spacing or schema names; and
/// its body exactly, comments and spacing included. So a file must write
/// its header as PostgreSQL prints it back (`integer`, not `int`; options
/// in `pg_get_functiondef`'s order), which the tests check.
#[derive(Debug, PartialEq)]
struct Definition {
    header: Vec<String>,
    body: String,
}

impl Definition {
    /// A file's: the body is what lies between its first two `$$`.
    fn of_file(sql: &str) -> Definition {
        let (header, rest) = sql.split_once("$$").unwrap_or((sql, ""));
        let body = rest.split_once("$$").map_or(rest, |(body, _)| body);
        Definition {
            header: words(header),
            body: body.to_string(),
        }
    }

    /// The database's, from `pg_get_functiondef` (its header ends where its
    /// body's dollar quote begins) and the stored body, `prosrc`.
    fn of_database(functiondef: &str, body: &str) -> Definition {
        let header = functiondef.split_once('$').map_or(functiondef, |(h, _)| h);
        Definition {
            header: words(header),
            body: body.to_string(),
        }
    }
}

/// The words of a function's header: `--` comments dropped, parentheses
/// and commas as words of their own, lower case, and a schema-qualified
/// name (`public.lease_item`) as its last part.
fn words(header: &str) -> Vec<String> {
    let mut spaced = String::new();
    for line in header.lines() {
        let code = line.split_once("--").map_or(line, |(code, _)| code);
        for c in code.chars() {
            if matches!(c, '(' | ')' | ',') {
                spaced.extend([' ', c, ' ']);
            } else {
                spaced.push(c);
            }
        }
        spaced.push(' ');
    }
    spaced
        .split_whitespace()
        .map(|word| word.rsplit('.').next().unwrap_or(word).to_lowercase())
        .collect()
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
        assert_eq!(
            compare_migrations(&applied(&[(1, b"a"), (2, b"b")]), &wanted),
            Ok(())
        );
        let older = compare_migrations(&applied(&[(1, b"a")]), &wanted).unwrap_err();
        assert!(
            older.contains("at migration 1") && older.contains("needs migration 2"),
            "{older}"
        );
        let newer =
            compare_migrations(&applied(&[(1, b"a"), (2, b"b"), (3, b"c")]), &wanted).unwrap_err();
        assert!(
            newer.contains("at migration 3") && newer.contains("safepref's 2"),
            "{newer}"
        );
        let edited = compare_migrations(&applied(&[(1, b"x"), (2, b"b")]), &wanted).unwrap_err();
        assert!(
            edited.contains("migration 1 is missing or not the one"),
            "{edited}"
        );
        let none = compare_migrations(&[], &wanted).unwrap_err();
        assert!(none.contains("at migration 0"), "{none}");
    }

    #[test]
    fn every_file_of_sql_functions_is_compiled_in() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql/functions");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let listed: Vec<String> = FUNCTIONS
            .iter()
            .map(|f| format!("{}.sql", f.name))
            .collect();
        assert_eq!(files, listed, "FUNCTIONS lists the folder, in name order");
    }

    #[test]
    fn each_file_is_one_create_or_replace_function_named_after_it() {
        for function in FUNCTIONS {
            let header = Definition::of_file(function.sql).header;
            let starts = ["create", "or", "replace", "function", function.name, "("];
            assert_eq!(header[..6], starts, "{}", function.name);
            let after_body = function.sql.splitn(3, "$$").nth(2).map(str::trim);
            assert_eq!(after_body, Some(";"), "{}: one statement", function.name);
        }
    }

    #[test]
    fn a_function_is_compared_by_its_header_words_and_its_exact_body() {
        let file = SqlFunction {
            name: "f",
            sql: "-- Why f.\ncreate or replace function f(\n    p integer -- the input\n) \
                  returns integer language plpgsql as $$\nbegin return p; end\n$$;\n",
        };
        let printed = |argument: &str, body: &str| {
            let functiondef = format!(
                "CREATE OR REPLACE FUNCTION public.f(p {argument})\n RETURNS integer\n \
                 LANGUAGE plpgsql\nAS $function${body}$function$\n"
            );
            Definition::of_database(&functiondef, body)
        };
        let body = "\nbegin return p; end\n";
        assert_eq!(compare_function(&file, &[printed("integer", body)]), Ok(()));
        for other in [
            printed("bigint", body),
            printed("integer", "\nbegin return p + 1; end\n"),
            printed("integer", "\nbegin  return p; end\n"),
        ] {
            let differs = compare_function(&file, &[other]).unwrap_err();
            assert!(differs.contains("function `f` is not the one"), "{differs}");
        }
        let overloaded = [printed("integer", body), printed("bigint", body)];
        assert!(compare_function(&file, &overloaded).is_err());
        let missing = compare_function(&file, &[]).unwrap_err();
        assert!(missing.contains("has no function `f`"), "{missing}");
    }
}
