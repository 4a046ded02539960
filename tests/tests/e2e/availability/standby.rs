//! Read-only use of a hot standby (`pg_basebackup -R`): reports, exports and
//! lists read from it without migrating it and give what the primary gives,
//! byte for byte; commands that write are refused, and so is a schema that
//! is not the binary's.

use safepref_tests::{OwnCluster, Standby, TestApp, safepref_binary};

/// Runs `safepref ARGS…` against `url`.
fn safepref(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(safepref_binary())
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .unwrap()
}

fn stdout_of(url: &str, args: &[&str]) -> Vec<u8> {
    let out = safepref(url, args);
    assert!(
        out.status.success(),
        "safepref {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn last_error_line(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "it should have failed");
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    text.lines().last().unwrap_or_default().to_string()
}

#[tokio::test]
async fn reports_exports_and_lists_read_a_standby_as_they_read_the_primary() {
    let cluster = OwnCluster::start();
    let standby = Standby::of(&cluster);
    let app = TestApp::serve(cluster.db().await, Default::default()).await;
    let project = crate::export::annotated_sample(&app).await;
    standby.catch_up(&app.pool).await;
    let replica = standby.database_url("safepref");

    let reads: [&[&str]; 5] = [
        &["export", "--project", &project.name, "--format", "pku"],
        &["export", "--project", &project.name, "--format", "raw"],
        &["report", "--project", &project.name, "--format", "json"],
        &["project", "list"],
        &["user", "list"],
    ];
    for args in reads {
        let primary = stdout_of(&app.db_url, args);
        let secondary = stdout_of(&replica, args);
        assert!(!primary.is_empty(), "{args:?} printed nothing");
        assert!(primary == secondary, "{args:?} differs on the standby");
    }

    // A command that writes is refused in one sentence; nothing is tried.
    let out = safepref(&replica, &["project", "create", "--name", "on-a-standby"]);
    let line = last_error_line(&out);
    assert!(
        line.contains("takes no writes") && line.contains("point it at the primary"),
        "{line}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .matches("error")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_read_only_database_whose_schema_is_not_the_binarys_is_refused_clearly() {
    let cluster = OwnCluster::start();
    let db = cluster.db().await;
    sqlx::query("create role reader login superuser")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("alter role reader set default_transaction_read_only = on")
        .execute(&db.pool)
        .await
        .unwrap();
    let reader = db.url.replacen("postgres@", "reader@", 1);
    assert!(reader.contains("reader@"), "{reader}");
    let wanted: i64 = sqlx::query_scalar("select max(version) from _sqlx_migrations")
        .fetch_one(&db.pool)
        .await
        .unwrap();

    // The same schema: a read passes, unmigrated.
    stdout_of(&reader, &["project", "list"]);

    // One migration short, as a standby of an older primary would be.
    sqlx::query("delete from _sqlx_migrations where version = $1")
        .bind(wanted)
        .execute(&db.pool)
        .await
        .unwrap();
    let line = last_error_line(&safepref(&reader, &["project", "list"]));
    let says = format!(
        "error: the database's schema is at migration {} and this safepref needs migration {wanted}",
        wanted - 1
    );
    assert!(line.starts_with(&says), "{line}");
    let still: i64 = sqlx::query_scalar("select max(version) from _sqlx_migrations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(still, wanted - 1, "nothing was migrated");
}
