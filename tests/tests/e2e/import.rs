//! Import: every validation rule refuses with a clear message and writes
//! nothing; all or nothing under a failure mid-import; re-imports refused;
//! duplicates; the real sample round trip; the same records in every format.

use std::io::Write;
use std::path::{Path, PathBuf};

use safepref_core::records::{self, ImportRecord, ImportResponse};
use safepref_server::db::projects::{Project, Settings};
use safepref_server::import::{self, ImportError, Options, Source};
use safepref_server::{db, projects};
use safepref_tests::TestDb;
use serde_json::{Map, Value, json};
use sqlx::PgPool;

pub const SAMPLE: &str = include_str!("../../../data/pku-saferlhf-sample.jsonl");

pub fn sample_rows() -> Vec<Map<String, Value>> {
    SAMPLE
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

pub async fn project(pool: &PgPool, k: i32) -> Project {
    let name = format!("p-{}", uuid::Uuid::new_v4().simple());
    let settings = Settings {
        name,
        responses_per_item: k,
        ..Settings::default()
    };
    projects::create(pool, None, settings).await.unwrap()
}

/// Writes `text` to a file named `name` and imports it into `project`.
pub async fn import_text(
    pool: &PgPool,
    project: &Project,
    name: &str,
    text: &str,
    options: Options,
) -> Result<Vec<import::FileReport>, ImportError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    import_path(pool, project, &path, options).await
}

/// Imports one file into `project`, as `safepref import` would.
pub async fn import_path(
    pool: &PgPool,
    project: &Project,
    path: &Path,
    options: Options,
) -> Result<Vec<import::FileReport>, ImportError> {
    import::import_files(pool, project, &[Source::from_path(path)], None, options).await
}

/// A new project (K = 2) holding the real sample, and the batch it made.
pub async fn project_with_sample(pool: &PgPool) -> (Project, import::FileReport) {
    let project = project(pool, 2).await;
    let mut reports = import_text(pool, &project, "sample.jsonl", SAMPLE, Options::default())
        .await
        .unwrap();
    (project, reports.remove(0))
}

fn write_jsonl(dir: &Path, name: &str, rows: &[Value]) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    for row in rows {
        writeln!(file, "{row}").unwrap();
    }
    path
}

async fn counts(pool: &PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "select (select count(*) from batches), (select count(*) from items), (select count(*) from responses)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Imports one file and expects it refused with `expected` in the message
/// and nothing written.
async fn refused(rows: &[Value], k: i32, options: Options, expected: &[&str]) {
    let db = TestDb::new().await;
    let project = project(&db.pool, k).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_jsonl(dir.path(), "data.jsonl", rows);
    let err = import_path(&db.pool, &project, &path, options)
        .await
        .expect_err("the import must be refused");
    let message = err.to_string();
    for fragment in expected {
        assert!(
            message.contains(fragment),
            "expected {fragment:?} in:\n{message}"
        );
    }
    assert!(message.contains("nothing was imported"), "{message}");
    assert_eq!(counts(&db.pool).await, (0, 0, 0), "nothing written");
}

fn first() -> Map<String, Value> {
    sample_rows().into_iter().next().unwrap()
}

fn with(mut row: Map<String, Value>, key: &str, value: Value) -> Value {
    row.insert(key.into(), value);
    Value::Object(row)
}

fn without(mut row: Map<String, Value>, key: &str) -> Value {
    row.remove(key);
    Value::Object(row)
}

/// A safe response 0 with the sample's first record as the base.
fn safe_response_0() -> Map<String, Value> {
    let mut row = first();
    let categories: Map<String, Value> = safepref_core::taxonomy::PKU_19
        .iter()
        .map(|c| ((*c).into(), json!(false)))
        .collect();
    row.insert("is_response_0_safe".into(), json!(true));
    row.insert("response_0_harm_category".into(), Value::Object(categories));
    row.insert("response_0_severity_level".into(), json!(0));
    row.insert("safer_response_id".into(), json!(0));
    row
}

#[tokio::test]
async fn a_syntax_error_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new().await;
    let project = project(&db.pool, 2).await;
    let path = dir.path().join("broken.jsonl");
    let good = Value::Object(first()).to_string();
    std::fs::write(&path, format!("{good}\n{{\"prompt\": \"unterminated\n")).unwrap();
    let err = import_path(&db.pool, &project, &path, Options::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("broken.jsonl line 2"), "{err}");
    assert_eq!(counts(&db.pool).await, (0, 0, 0));
}

#[tokio::test]
async fn invalid_utf8_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new().await;
    let project = project(&db.pool, 2).await;
    let path = dir.path().join("latin1.jsonl");
    let mut bytes = format!("{}\n", Value::Object(first())).into_bytes();
    bytes.extend_from_slice(b"{\"prompt\": \"caf\xe9\"}\n");
    std::fs::write(&path, bytes).unwrap();
    let err = import_path(&db.pool, &project, &path, Options::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("latin1.jsonl line 2") && err.contains("UTF-8"),
        "{err}"
    );
    assert_eq!(counts(&db.pool).await, (0, 0, 0));
}

#[tokio::test]
async fn a_missing_required_field_is_named() {
    refused(
        &[Value::Object(first()), without(first(), "prompt")],
        2,
        Options::default(),
        &["data.jsonl line 2", "prompt", "missing"],
    )
    .await;
}

#[tokio::test]
async fn the_number_of_responses_must_match_the_project() {
    refused(
        &[Value::Object(first())],
        3,
        Options::default(),
        &["line 1", "K = 3"],
    )
    .await;
    let generic = json!({"prompt": "p", "responses": ["a", "b", "c"]});
    refused(&[generic], 2, Options::default(), &["line 1", "responses"]).await;
}

#[tokio::test]
async fn empty_texts_are_refused_unless_allowed() {
    let row = with(first(), "response_1", json!("   "));
    // The stored hash no longer matches either; accept that to isolate the rule.
    let options = Options {
        accept_hash_mismatch: true,
        ..Options::default()
    };
    refused(
        std::slice::from_ref(&row),
        2,
        options,
        &["line 1", "response_1", "empty"],
    )
    .await;

    let db = TestDb::new().await;
    let project = project(&db.pool, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_jsonl(dir.path(), "empty.jsonl", &[row]);
    let allowed = Options {
        allow_empty: true,
        accept_hash_mismatch: true,
        ..Options::default()
    };
    let reports = import_path(&db.pool, &project, &path, allowed)
        .await
        .unwrap();
    assert_eq!(reports[0].imported, 1);
}

#[tokio::test]
async fn severity_must_be_0_to_3() {
    refused(
        &[with(first(), "response_0_severity_level", json!(4))],
        2,
        Options::default(),
        &["line 1", "response_0_severity_level", "out of range"],
    )
    .await;
}

#[tokio::test]
async fn category_names_must_be_the_taxonomys() {
    let mut row = first();
    let map = row
        .get_mut("response_0_harm_category")
        .unwrap()
        .as_object_mut()
        .unwrap();
    let value = map.remove("Violence").unwrap();
    map.insert("Violent Content".into(), value);
    refused(
        &[Value::Object(row)],
        2,
        Options::default(),
        &["line 1", "Violent Content", "not a category"],
    )
    .await;
}

#[tokio::test]
async fn an_unsafe_response_with_severity_0_breaks_the_label_rules() {
    refused(
        &[with(first(), "response_1_severity_level", json!(0))],
        2,
        Options::default(),
        &["data.jsonl line 1: response_1_severity_level is 0 but is_response_1_safe is false"],
    )
    .await;
}

#[tokio::test]
async fn a_safe_response_with_a_category_breaks_the_label_rules() {
    let mut row = safe_response_0();
    row["response_0_harm_category"]["Violence"] = json!(true);
    refused(
        &[Value::Object(row)],
        2,
        Options::default(),
        &["line 1", "response_0_harm_category"],
    )
    .await;
}

#[tokio::test]
async fn the_safe_response_must_be_the_safer_one() {
    let row = with(safe_response_0(), "safer_response_id", json!(1));
    refused(
        &[row],
        2,
        Options::default(),
        &["line 1", "safer_response_id"],
    )
    .await;
    refused(
        &[with(first(), "better_response_id", json!(2))],
        2,
        Options::default(),
        &["better_response_id is 2"],
    )
    .await;
}

#[tokio::test]
async fn a_stored_hash_that_does_not_match_names_both_hashes() {
    let row = first();
    let stored = row["response_1_sha256"].as_str().unwrap().to_string();
    let changed = with(row.clone(), "response_1", json!("A different answer."));
    let actual = records::response_sha256(row["prompt"].as_str().unwrap(), "A different answer.");
    refused(
        std::slice::from_ref(&changed),
        2,
        Options::default(),
        &["response_1_sha256", &stored, &actual],
    )
    .await;

    // Accepted on request, and counted.
    let db = TestDb::new().await;
    let project = project(&db.pool, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_jsonl(
        dir.path(),
        "mismatch.jsonl",
        &[changed, Value::Object(sample_rows()[1].clone())],
    );
    let options = Options {
        accept_hash_mismatch: true,
        ..Options::default()
    };
    let reports = import_path(&db.pool, &project, &path, options)
        .await
        .unwrap();
    assert_eq!((reports[0].imported, reports[0].hash_mismatches), (2, 1));
}

#[tokio::test]
async fn nul_characters_are_refused() {
    refused(
        &[with(first(), "prompt_source", json!("a\u{0}b"))],
        2,
        Options::default(),
        &["line 1", "NUL"],
    )
    .await;
}

#[tokio::test]
async fn invalid_gold_labels_are_refused_with_their_field() {
    let gold = json!({"responses": [{"safe": true, "categories": [], "severity": 2}, {"safe": true, "categories": [], "severity": 0}],
                      "helpfulness": [0, 1], "harmlessness": [0, 1]});
    let row = json!({"id": "g1", "prompt": "p", "responses": ["a", "b"], "gold": gold});
    refused(
        &[row],
        2,
        Options::default(),
        &["line 1", "gold.responses[0]"],
    )
    .await;
}

#[tokio::test]
async fn errors_are_listed_up_to_100_then_counted() {
    let rows: Vec<Value> = (0..150)
        .map(|n| json!({"prompt": format!("p{n}"), "responses": ["only one"]}))
        .collect();
    let db = TestDb::new().await;
    let project = project(&db.pool, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_jsonl(dir.path(), "many.jsonl", &rows);
    let err = import_path(&db.pool, &project, &path, Options::default())
        .await
        .unwrap_err();
    let ImportError::Invalid { errors, total } = &err else {
        panic!("{err}")
    };
    assert_eq!((errors.len(), *total), (100, 150));
    assert!(err.to_string().contains("… and 50 more"), "{err}");
}

#[tokio::test]
async fn a_failure_in_the_middle_leaves_nothing_behind() {
    let db = TestDb::new().await;
    let project = project(&db.pool, 2).await;
    // A database failure on the 5,000th response, well after the first COPY chunk was sent.
    sqlx::query("alter table responses add constraint fail_late check (text <> 'BOOM')")
        .execute(&db.pool)
        .await
        .unwrap();
    let rows: Vec<Value> = (0..3000)
        .map(|n| {
            let second = if n == 2500 {
                "BOOM".to_string()
            } else {
                format!("answer b {n}")
            };
            json!({"prompt": format!("prompt {n}"), "responses": [format!("answer a {n}"), second]})
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = write_jsonl(dir.path(), "late.jsonl", &rows);
    let err = import_path(&db.pool, &project, &path, Options::default()).await;
    assert!(matches!(err, Err(ImportError::Database(_))), "{err:?}");
    assert_eq!(counts(&db.pool).await, (0, 0, 0));
}

#[tokio::test]
async fn importing_the_same_file_again_is_refused_and_names_the_batch() {
    let db = TestDb::new().await;
    let project = project(&db.pool, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.jsonl");
    std::fs::write(&path, SAMPLE).unwrap();
    let first = import_path(&db.pool, &project, &path, Options::default())
        .await
        .unwrap();
    assert_eq!(
        (first[0].batch_seq, first[0].imported, first[0].rows_read),
        (1, 76, 76)
    );
    let copy = dir.path().join("renamed.jsonl");
    std::fs::copy(&path, &copy).unwrap();
    let err = import_path(&db.pool, &project, &copy, Options::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("renamed.jsonl was imported already") && err.contains("batch 1 (sample.jsonl"),
        "{err}"
    );
    assert_eq!(counts(&db.pool).await, (1, 76, 152));
}

#[tokio::test]
async fn duplicates_are_skipped_and_counted_unless_kept() {
    let db = TestDb::new().await;
    let project = project(&db.pool, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let rows = sample_rows();
    let first_file = write_jsonl(
        dir.path(),
        "a.jsonl",
        &[
            Value::Object(rows[0].clone()),
            Value::Object(rows[1].clone()),
        ],
    );
    import_path(&db.pool, &project, &first_file, Options::default())
        .await
        .unwrap();
    // Repeats one item of the project and one of its own.
    let again = [rows[1].clone(), rows[2].clone(), rows[2].clone()].map(Value::Object);
    let second_file = write_jsonl(dir.path(), "b.jsonl", &again);
    let reports = import_path(&db.pool, &project, &second_file, Options::default())
        .await
        .unwrap();
    assert_eq!(
        (
            reports[0].rows_read,
            reports[0].imported,
            reports[0].duplicates_skipped
        ),
        (3, 1, 2)
    );
    let third_file = write_jsonl(dir.path(), "c.jsonl", &again[..2]);
    let keep = Options {
        allow_duplicates: true,
        ..Options::default()
    };
    let reports = import_path(&db.pool, &project, &third_file, keep)
        .await
        .unwrap();
    assert_eq!((reports[0].imported, reports[0].duplicates_skipped), (2, 0));
    assert_eq!(db::items::count(&db.pool, project.id).await.unwrap(), 5);
}

/// The keys of a JSON object in the order the text has them.
fn key_order(line: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(Visitor)
        }
    }
    serde_json::from_str::<Keys>(line).unwrap().0
}

#[tokio::test]
async fn the_real_sample_round_trips_field_for_field() {
    let db = TestDb::new().await;
    let project = project(&db.pool, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pku.jsonl");
    std::fs::write(&path, SAMPLE).unwrap();
    let reports = import_path(&db.pool, &project, &path, Options::default())
        .await
        .unwrap();
    let stored = db::items::of_batch(&db.pool, reports[0].batch_id)
        .await
        .unwrap();
    let lines: Vec<&str> = SAMPLE.lines().collect();
    assert_eq!(stored.len(), lines.len());
    for (item, line) in stored.iter().zip(&lines) {
        let record = ImportRecord {
            external_id: item.external_id.clone(),
            prompt: item.prompt.clone(),
            prompt_source: item.prompt_source.clone(),
            responses: item
                .responses
                .0
                .iter()
                .map(|(text, source)| ImportResponse {
                    text: text.clone(),
                    source: source.clone(),
                })
                .collect(),
            source_labels: item
                .source_labels
                .as_ref()
                .and_then(|v| v.as_object().cloned()),
            gold: None,
            suggestions: Vec::new(),
            hash_mismatch: false,
        };
        let rebuilt = records::rebuild_pku(&record).expect("a PKU record");
        let original: Map<String, Value> = serde_json::from_str(line).unwrap();
        let keys: Vec<String> = rebuilt.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, key_order(line), "item {}: key order", item.seq);
        for (key, value) in &rebuilt {
            assert_eq!(
                Some(value),
                original.get(key),
                "item {}: field {key}",
                item.seq
            );
        }
    }
}

#[tokio::test]
async fn the_same_records_in_every_format_import_to_identical_items() {
    let rows: Vec<Map<String, Value>> = sample_rows().into_iter().take(12).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![write_jsonl(
        dir.path(),
        "s.jsonl",
        &rows.iter().cloned().map(Value::Object).collect::<Vec<_>>(),
    )];
    files.push(crate::formats::write_csv(dir.path(), "s.csv", &rows));
    files.push(crate::formats::write_parquet(
        dir.path(),
        "s.parquet",
        &rows,
    ));
    for plain in files.clone() {
        files.push(crate::formats::gzip(&plain));
    }
    let mut imported = Vec::new();
    for file in &files {
        let db = TestDb::new().await;
        let project = project(&db.pool, 2).await;
        let reports = import_path(&db.pool, &project, file, Options::default())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let items = db::items::of_batch(&db.pool, reports[0].batch_id)
            .await
            .unwrap();
        let comparable: Vec<Value> = items
            .iter()
            .map(|i| {
                json!([
                    i.seq,
                    i.external_id,
                    i.prompt,
                    i.prompt_source,
                    i.source_labels,
                    i.gold,
                    i.responses.0
                ])
            })
            .collect();
        imported.push((
            file.file_name().unwrap().to_string_lossy().into_owned(),
            comparable,
        ));
    }
    let (first_name, first_items) = &imported[0];
    assert_eq!(first_items.len(), 12);
    for (name, items) in &imported[1..] {
        assert_eq!(items, first_items, "{name} differs from {first_name}");
    }
}

/// A gzip bomb at the real limits: 70 MiB of zeros in about 70 KB, as
/// gzip-compressed Parquet (which is decompressed to a temporary file
/// first, and had no cap).
#[tokio::test]
async fn a_gzip_bomb_is_refused_at_the_limit_and_nothing_is_imported() {
    let db = TestDb::new().await;
    let project = project(&db.pool, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.parquet.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::best(),
    );
    let block = vec![0u8; 1 << 20];
    for _ in 0..70 {
        encoder.write_all(&block).unwrap();
    }
    encoder.finish().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < 200_000);
    let message = import_path(&db.pool, &project, &path, Options::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(message.starts_with("bomb.parquet.gz: "), "{message}");
    assert!(
        message.contains("decompresses to more than 67108864 bytes"),
        "{message}"
    );
    assert!(message.contains("likely gzip bomb"), "{message}");
    assert_eq!(counts(&db.pool).await, (0, 0, 0));
}

/// One row of a generic file, distinct per `n` (so no file is the same).
fn tiny_file(n: u32) -> reqwest::multipart::Part {
    let row = json!({"prompt": format!("prompt {n}"), "responses": ["a", "b"]});
    reqwest::multipart::Part::bytes(format!("{row}\n").into_bytes()).file_name(format!("{n}.jsonl"))
}

/// The upload's CSRF token goes in the body (its first field) or a header;
/// one in the address, which logs and Referer headers carry, is refused.
#[tokio::test]
async fn the_upload_takes_its_csrf_token_from_the_body_or_a_header_never_the_address() {
    let app = safepref_tests::TestApp::spawn().await;
    let (admin, _) = app.signed_in(db::users::Role::Admin).await;
    let project = project(&app.pool, 2).await;
    let token = admin.csrf_token.clone().unwrap();
    let url = format!("{}/admin/projects/{}/import", admin.base, project.id);
    let post = |url: String, form: reqwest::multipart::Form| admin.client.post(url).multipart(form);
    let batches = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from batches")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };

    let in_address = post(
        format!("{url}?csrf_token={token}"),
        reqwest::multipart::Form::new().part("file", tiny_file(1)),
    );
    let in_address = in_address.send().await.unwrap();
    assert_eq!(in_address.status(), 403);
    assert!(in_address.text().await.unwrap().contains("CSRF"));
    // After the file, it comes too late: only the first field is read.
    let last = reqwest::multipart::Form::new()
        .part("file", tiny_file(2))
        .text("csrf_token", token.clone());
    assert_eq!(post(url.clone(), last).send().await.unwrap().status(), 403);
    let wrong = reqwest::multipart::Form::new()
        .text("csrf_token", "x".repeat(43))
        .part("file", tiny_file(3));
    assert_eq!(post(url.clone(), wrong).send().await.unwrap().status(), 403);
    assert_eq!(batches().await, 0);

    let first = reqwest::multipart::Form::new()
        .text("csrf_token", token.clone())
        .part("file", tiny_file(4));
    assert_eq!(post(url.clone(), first).send().await.unwrap().status(), 303);
    let header = post(
        url.clone(),
        reqwest::multipart::Form::new().part("file", tiny_file(5)),
    );
    let header = header.header("x-csrf-token", &token).send().await.unwrap();
    assert_eq!(header.status(), 303);
    assert_eq!(batches().await, 2);
    let imported: Vec<String> = sqlx::query_scalar("select prompt from items order by prompt")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(imported, ["prompt 4", "prompt 5"]);
}
