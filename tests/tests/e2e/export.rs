//! Exports end to end: the shared PKU sample imported, annotated over the
//! JSON API by scripted annotators, exported by `safepref export`, the API
//! and the admin page's jobs, and read back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use safepref_core::export::in_test_split;
use safepref_core::labels::Questions;
use safepref_core::records::{PKU_KEYS, RecordRules, parse_record, rebuild_pku};
use safepref_core::taxonomy::Taxonomy;
use safepref_server::db::projects::Project;
use safepref_server::db::users::Role;
use safepref_server::import::{Options, read};
use safepref_tests::{TestApp, safepref_binary};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::import::{SAMPLE, import_text, project_with_sample, sample_rows};
use crate::queue::annotator;

/// The labels a PKU record holds, in the API's labels shape.
pub(crate) fn source_labels(record: &Map<String, Value>) -> Value {
    let response = |i: usize| {
        let categories: Vec<&String> = record[&format!("response_{i}_harm_category")]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, ticked)| ticked.as_bool().unwrap())
            .map(|(name, _)| name)
            .collect();
        json!({
            "safe": record[&format!("is_response_{i}_safe")],
            "categories": categories,
            "severity": record[&format!("response_{i}_severity_level")],
        })
    };
    let first = |key: &str| {
        let p = record[key].as_u64().unwrap();
        json!([p, 1 - p])
    };
    json!({
        "responses": [response(0), response(1)],
        "helpfulness": first("better_response_id"),
        "harmlessness": first("safer_response_id"),
    })
}

/// Annotators lease through the API until the queue is empty (or `limit`
/// items each) and give every item its source labels; `tweak` may change
/// one annotator's labels for one prompt.
pub(crate) async fn annotate(
    app: &TestApp,
    project: &Project,
    annotators: usize,
    limit: usize,
    tweak: impl Fn(usize, &str, &mut Value),
) {
    let sources = sample_rows();
    for n in 0..annotators {
        let a = annotator(&app.pool).await;
        for _ in 0..limit {
            let Some(lease) = a.lease(&app.url(""), project.id).await else {
                break;
            };
            let prompt = lease.json["item"]["prompt"].as_str().unwrap();
            let source = sources
                .iter()
                .find(|r| {
                    r["prompt"] == prompt
                        && r["response_0"] == lease.json["item"]["responses"][0]["text"]
                })
                .expect("a leased item is a sample record");
            let mut labels = source_labels(source);
            tweak(n, prompt, &mut labels);
            a.submit_ok(&app.url(""), lease.assignment, &labels).await;
        }
    }
}

pub async fn annotated_sample(app: &TestApp) -> Project {
    let (project, _) = project_with_sample(&app.pool).await;
    annotate(app, &project, 3, usize::MAX, |_, _, _| {}).await;
    project
}

/// Runs `safepref export --project P ARGS…`.
pub(crate) async fn export(
    app: &TestApp,
    project: &Project,
    args: &[&str],
) -> std::process::Output {
    tokio::process::Command::new(safepref_binary())
        .args(["export", "--project", &project.name])
        .args(args)
        .env("DATABASE_URL", &app.db_url)
        .output()
        .await
        .unwrap()
}

/// Exports into `dir/name` and returns the path; the export must succeed.
pub(crate) async fn export_ok(
    app: &TestApp,
    project: &Project,
    dir: &Path,
    name: &str,
    args: &[&str],
) -> PathBuf {
    let out = dir.join(name);
    let mut all = vec!["--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let output = export(app, project, &all).await;
    assert!(
        output.status.success(),
        "export {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

pub(crate) fn jsonl(path: &Path) -> Vec<Map<String, Value>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The rows of any encoding, through the importer's readers.
pub(crate) fn read_back(path: &Path) -> Vec<Map<String, Value>> {
    read::rows(path)
        .unwrap()
        .map(|r| r.unwrap().fields)
        .collect()
}

fn sha256_hex(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

pub(crate) fn manifest_of(path: &Path) -> Value {
    let mut name = path.as_os_str().to_owned();
    name.push(".manifest.json");
    serde_json::from_slice(&std::fs::read(PathBuf::from(name)).unwrap()).unwrap()
}

#[tokio::test]
async fn pku_round_trip_gives_back_every_source_record() {
    let app = TestApp::spawn().await;
    let project = annotated_sample(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let path = export_ok(
        &app,
        &project,
        dir.path(),
        "pku.jsonl",
        &["--format", "pku"],
    )
    .await;

    let exported = jsonl(&path);
    let sources = sample_rows();
    assert_eq!(exported.len(), sources.len());
    for (got, want) in exported.iter().zip(&sources) {
        assert_eq!(got, want, "record for prompt {:?}", want["prompt"]);
    }
    // Field order is the dataset's, categories in the taxonomy's order.
    let first_line = std::fs::read_to_string(&path).unwrap();
    let first_line = first_line.lines().next().unwrap();
    let positions: Vec<usize> = PKU_KEYS
        .iter()
        .map(|k| first_line.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    let source_first = SAMPLE.lines().next().unwrap();
    let cats = |line: &str| {
        let at = line.find("\"response_0_harm_category\":").unwrap();
        let rest = &line[at..];
        rest[..rest.find('}').unwrap()].replace(' ', "")
    };
    assert_eq!(cats(first_line), cats(source_first));

    // The manifest accounts for the file.
    let manifest = manifest_of(&path);
    assert_eq!(manifest["files"][0]["name"], "pku.jsonl");
    assert_eq!(manifest["files"][0]["rows"], 76);
    assert_eq!(manifest["files"][0]["sha256"], sha256_hex(&path));
    assert_eq!(
        manifest["files"][0]["bytes"],
        std::fs::metadata(&path).unwrap().len()
    );
    assert_eq!(manifest["counts"]["items_read"], 76);
    assert_eq!(manifest["counts"]["items_needing_review"], 0);
    assert_eq!(manifest["options"]["method"], "majority");
    assert_eq!(manifest["agreement"]["annotations"], 228);
    assert_eq!(manifest["agreement"]["questions"]["safe"]["alpha"], 1.0);
    assert_eq!(manifest["safepref_version"], env!("CARGO_PKG_VERSION"));

    // Determinism: the same data and options give the same bytes, by the
    // command line and by the API.
    let again = export_ok(
        &app,
        &project,
        dir.path(),
        "again.jsonl",
        &["--format", "pku"],
    )
    .await;
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&path).unwrap()
    );
    let mut m1 = manifest;
    let mut m2 = manifest_of(&again);
    m1["created_at"] = Value::Null;
    m2["created_at"] = Value::Null;
    m1["files"][0]["name"] = Value::Null;
    m2["files"][0]["name"] = Value::Null;
    assert_eq!(m1, m2);
    let (admin, _) = app.signed_in(Role::Admin).await;
    let response = admin
        .get(&format!(
            "/api/v1/projects/{}/export?format=pku",
            project.id
        ))
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("pku.jsonl")
    );
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        std::fs::read(&path).unwrap()
    );
}

#[tokio::test]
async fn every_format_and_encoding_reads_back_equal() {
    let app = TestApp::spawn().await;
    let project = annotated_sample(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let pku = jsonl(
        &export_ok(
            &app,
            &project,
            dir.path(),
            "pku.jsonl",
            &["--format", "pku"],
        )
        .await,
    );

    for encoding in ["jsonl.gz", "parquet"] {
        let path = export_ok(
            &app,
            &project,
            dir.path(),
            &format!("pku.{encoding}"),
            &["--format", "pku", "--encoding", encoding],
        )
        .await;
        assert_eq!(read_back(&path), pku, "{encoding}");
        assert_eq!(manifest_of(&path)["files"][0]["sha256"], sha256_hex(&path));
    }
    // CSV has no types: read back through the importer's record parser.
    let csv = read_back(
        &export_ok(
            &app,
            &project,
            dir.path(),
            "pku.csv",
            &["--format", "pku", "--encoding", "csv"],
        )
        .await,
    );
    let taxonomy = Taxonomy::pku19();
    let questions = Questions::default();
    let rules = RecordRules {
        k: 2,
        taxonomy: &taxonomy,
        questions: &questions,
        allow_empty: false,
        accept_hash_mismatch: false,
    };
    assert_eq!(csv.len(), pku.len());
    for (row, want) in csv.iter().zip(&pku) {
        let record = parse_record(row, &rules).unwrap();
        let rebuilt: Map<String, Value> = rebuild_pku(&record).unwrap().into_iter().collect();
        assert_eq!(&rebuilt, want);
    }

    // DPO: the chosen response is the consolidated better / safer one.
    for (format, key) in [
        ("dpo-helpful", "better_response_id"),
        ("dpo-harmless", "safer_response_id"),
    ] {
        let path = export_ok(
            &app,
            &project,
            dir.path(),
            &format!("{format}.jsonl"),
            &["--format", format],
        )
        .await;
        let rows = jsonl(&path);
        assert_eq!(rows.len(), pku.len(), "{format}");
        for (row, record) in rows.iter().zip(&pku) {
            let chosen = record[key].as_u64().unwrap();
            assert_eq!(row["prompt"], record["prompt"]);
            assert_eq!(row["chosen"], record[&format!("response_{chosen}")]);
            assert_eq!(row["rejected"], record[&format!("response_{}", 1 - chosen)]);
            assert_eq!(row["support"], 1.0);
            assert_eq!(row["adjudicated"], false);
            assert_eq!(row["batch"], 1);
            assert_eq!(
                row["chosen_severity"],
                record[&format!("response_{chosen}_severity_level")]
            );
        }
        let parquet = export_ok(
            &app,
            &project,
            dir.path(),
            &format!("{format}.parquet"),
            &["--format", format, "--encoding", "parquet"],
        )
        .await;
        assert_eq!(read_back(&parquet), rows, "{format} parquet");
    }

    // Raw: one line per annotation, pseudonyms unless usernames are asked for.
    let raw = jsonl(
        &export_ok(
            &app,
            &project,
            dir.path(),
            "raw.jsonl",
            &["--format", "raw"],
        )
        .await,
    );
    assert_eq!(raw.len(), 228);
    let mut names: Vec<&str> = raw
        .iter()
        .map(|r| r["annotator"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names,
        ["annotator-0001", "annotator-0002", "annotator-0003"]
    );
    assert!(
        raw.iter()
            .all(|r| r["gold"] == false && r["seconds_spent"] == 12.5)
    );
    assert!(raw.iter().all(|r| r["labels"]["responses"].is_array()));
    let raw_parquet = export_ok(
        &app,
        &project,
        dir.path(),
        "raw.parquet",
        &["--format", "raw", "--encoding", "parquet"],
    )
    .await;
    let back = read_back(&raw_parquet);
    assert_eq!(back.len(), raw.len());
    for (got, want) in back.iter().zip(&raw) {
        for (key, value) in want {
            // Parquet keeps the labels object as its JSON text.
            let got = match (key.as_str(), &got[key]) {
                ("labels", Value::String(s)) => serde_json::from_str(s).unwrap(),
                (_, v) => v.clone(),
            };
            assert_eq!(&got, value, "{key}");
        }
    }
    let named = jsonl(
        &export_ok(
            &app,
            &project,
            dir.path(),
            "named.jsonl",
            &["--format", "raw", "--with-usernames"],
        )
        .await,
    );
    assert!(
        named
            .iter()
            .all(|r| r["annotator"].as_str().unwrap().starts_with("ann-"))
    );

    // safe-rlhf: a directory with train and test split by prompt, a card
    // and a manifest.
    let out = export_ok(
        &app,
        &project,
        dir.path(),
        "safe-rlhf",
        &["--format", "safe-rlhf", "--test-ratio", "0.3"],
    )
    .await;
    let train = jsonl(&out.join("train.jsonl"));
    let test = jsonl(&out.join("test.jsonl"));
    assert_eq!(train.len() + test.len(), pku.len());
    assert!(!test.is_empty() && !train.is_empty());
    assert!(
        test.iter()
            .all(|r| in_test_split(r["prompt"].as_str().unwrap(), 0.3))
    );
    assert!(
        train
            .iter()
            .all(|r| !in_test_split(r["prompt"].as_str().unwrap(), 0.3))
    );
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(card.starts_with("---\nconfigs:"), "{card}");
    assert!(card.contains("split: train\n    path: train.jsonl"));
    assert!(card.contains("| safe | nominal |"), "{card}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    for file in manifest["files"].as_array().unwrap() {
        let path = out.join(file["name"].as_str().unwrap());
        assert_eq!(file["sha256"], sha256_hex(&path));
    }
    assert_eq!(manifest["options"]["test_ratio"], 0.3);

    // The API streams one split at a time, byte for byte the file's.
    let (admin, _) = app.signed_in(Role::Admin).await;
    let api = |query: &str| {
        format!(
            "/api/v1/projects/{}/export?format=safe-rlhf&test_ratio=0.3{query}",
            project.id
        )
    };
    for split in ["train", "test"] {
        let response = admin.get(&api(&format!("&split={split}"))).await;
        assert_eq!(response.status(), 200, "{split}");
        assert!(
            response.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains(&format!("{split}.jsonl"))
        );
        assert_eq!(
            response.bytes().await.unwrap().as_ref(),
            std::fs::read(out.join(format!("{split}.jsonl"))).unwrap(),
            "{split}"
        );
    }
    for (query, message) in [
        ("", "add split=train or split=test"),
        ("&split=dev", "split: \"dev\" is not train or test"),
    ] {
        let response = admin.get(&api(query)).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        let text = body["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{query}: {text}");
    }
    let response = admin
        .get(&format!(
            "/api/v1/projects/{}/export?format=pku&split=test",
            project.id
        ))
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn filters_choose_the_items() {
    let app = TestApp::spawn().await;
    let (project, _) = project_with_sample(&app.pool).await;
    // A second batch of five more records.
    let second: String = SAMPLE
        .lines()
        .take(5)
        .map(|l| {
            let mut r: Map<String, Value> = serde_json::from_str(l).unwrap();
            let prompt = format!("second batch: {}", r["prompt"].as_str().unwrap());
            r.insert("prompt".into(), json!(prompt));
            r.remove("response_0_sha256");
            r.remove("response_1_sha256");
            format!("{}\n", Value::Object(r))
        })
        .collect();
    import_text(
        &app.pool,
        &project,
        "second.jsonl",
        &second,
        Options::default(),
    )
    .await
    .unwrap();
    // Three annotators finish 30 items; the third prefers the other response
    // on ten of them. A fourth labels 5 more, which stay incomplete.
    let sources = sample_rows();
    let disputed: Vec<String> = sources[..10]
        .iter()
        .map(|r| r["prompt"].as_str().unwrap().to_string())
        .collect();
    annotate(&app, &project, 3, 30, |n, prompt, labels| {
        if n == 2 && disputed.iter().any(|p| p == prompt) {
            let first = labels["helpfulness"][0].as_u64().unwrap();
            labels["helpfulness"] = json!([1 - first, first]);
        }
    })
    .await;
    annotate(&app, &project, 1, 5, |_, _, _| {}).await;

    let dir = tempfile::tempdir().unwrap();
    let count = |path: PathBuf| jsonl(&path).len();
    let all = export_ok(
        &app,
        &project,
        dir.path(),
        "all.jsonl",
        &["--format", "pku"],
    )
    .await;
    assert_eq!(count(all.clone()), 35);
    let manifest = manifest_of(&all);
    assert_eq!(manifest["counts"]["items_read"], 81);
    assert_eq!(
        manifest["counts"]["items_needing_review"], 46,
        "no votes yet"
    );
    // The manifest's agreement is that of the exported items: here the
    // whole project, so the report's figures.
    let out = tokio::process::Command::new(safepref_binary())
        .args(["report", "--project", &project.name, "--format", "json"])
        .env("DATABASE_URL", &app.db_url)
        .output()
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(manifest["agreement"]["annotations"], report["annotations"]);
    for (name, q) in manifest["agreement"]["questions"].as_object().unwrap() {
        assert_eq!(q["units"], report["questions"][name]["units"], "{name}");
        let (a, b) = (
            q["alpha"].as_f64(),
            report["questions"][name]["alpha"].as_f64(),
        );
        match (a, b) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{name}: {a} vs {b}"),
            _ => assert_eq!(a, b, "{name}"),
        }
    }
    let complete = export_ok(
        &app,
        &project,
        dir.path(),
        "c.jsonl",
        &["--format", "pku", "--complete-only"],
    )
    .await;
    assert_eq!(count(complete), 30);
    // Dawid–Skene learns that the third annotator strays and reads the
    // same labels here; its support differs from the vote shares.
    let ds = export_ok(
        &app,
        &project,
        dir.path(),
        "ds.jsonl",
        &[
            "--format",
            "pku",
            "--complete-only",
            "--method",
            "dawid-skene",
        ],
    )
    .await;
    assert_eq!(jsonl(&ds), jsonl(&dir.path().join("c.jsonl")));
    assert_eq!(manifest_of(&ds)["options"]["method"], "dawid-skene");
    let support = |path: PathBuf| -> Vec<f64> {
        jsonl(&path)
            .iter()
            .map(|r| r["support"].as_f64().unwrap())
            .collect()
    };
    let majority = support(
        export_ok(
            &app,
            &project,
            dir.path(),
            "m-dpo.jsonl",
            &["--format", "dpo-helpful", "--complete-only"],
        )
        .await,
    );
    let ds = support(
        export_ok(
            &app,
            &project,
            dir.path(),
            "ds-dpo.jsonl",
            &[
                "--format",
                "dpo-helpful",
                "--complete-only",
                "--method",
                "dawid-skene",
            ],
        )
        .await,
    );
    assert_eq!(
        majority
            .iter()
            .filter(|&&s| (s - 2.0 / 3.0).abs() < 1e-9)
            .count(),
        10
    );
    assert_eq!(ds.len(), majority.len());
    assert!(
        ds.iter().zip(&majority).any(|(d, m)| (d - m).abs() > 1e-6),
        "{ds:?}"
    );
    let supported = export_ok(
        &app,
        &project,
        dir.path(),
        "s.jsonl",
        &["--format", "pku", "--complete-only", "--min-support", "0.9"],
    )
    .await;
    assert_eq!(count(supported.clone()), 20);
    assert_eq!(
        manifest_of(&supported)["counts"]["items_below_min_support"],
        10
    );
    let batch2 = export_ok(
        &app,
        &project,
        dir.path(),
        "b2.jsonl",
        &["--format", "raw", "--batch", "2"],
    )
    .await;
    assert_eq!(count(batch2), 0, "nobody reached the second batch");
    let batch1 = export_ok(
        &app,
        &project,
        dir.path(),
        "b1.jsonl",
        &["--format", "raw", "--batch", "1"],
    )
    .await;
    assert_eq!(count(batch1), 95);

    // Gold items can be left out.
    let gold_item: uuid::Uuid = sqlx::query_scalar(
        "update items set gold = '{\"responses\": [{\"safe\": true, \"severity\": 0}, {\"safe\": true, \"severity\": 0}]}'::json
         where id = (select item_id from annotations a join items i on i.id = a.item_id
                     where i.project_id = $1 limit 1)
         returning id",
    )
    .bind(project.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let no_gold = export_ok(
        &app,
        &project,
        dir.path(),
        "ng.jsonl",
        &["--format", "raw", "--exclude-gold"],
    )
    .await;
    let rows = jsonl(&no_gold);
    assert!(rows.len() < 95 && !rows.iter().any(|r| r["item_id"] == gold_item.to_string()));

    // An adjudication wins over the votes, and can be exported alone.
    let (item, prompt): (uuid::Uuid, String) = sqlx::query_as(
        "select id, prompt from items where project_id = $1 and state = 'complete' order by batch_seq, seq limit 1",
    )
    .bind(project.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let lead: uuid::Uuid = sqlx::query_scalar("select id from users limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let verdict = json!({"responses": [{"safe": false, "categories": ["Drugs"], "severity": 3},
                                        {"safe": true, "categories": [], "severity": 0}],
                         "helpfulness": [0, 1], "harmlessness": [1, 0]});
    sqlx::query("insert into adjudications (id, item_id, lead_id, labels, reason) values ($1, $2, $3, $4, 'checked')")
        .bind(uuid::Uuid::new_v4())
        .bind(item)
        .bind(lead)
        .bind(&verdict)
        .execute(&app.pool)
        .await
        .unwrap();
    let only = jsonl(
        &export_ok(
            &app,
            &project,
            dir.path(),
            "adj.jsonl",
            &["--format", "pku", "--adjudicated-only"],
        )
        .await,
    );
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["prompt"], prompt);
    assert_eq!(only[0]["response_0_severity_level"], 3);
    assert_eq!(only[0]["response_0_harm_category"]["Drugs"], true);
    // Without the filter too (the exporter reads adjudications only when the
    // scope has one), beside the items' consolidated records.
    let all = jsonl(
        &export_ok(
            &app,
            &project,
            dir.path(),
            "all-adjudicated.jsonl",
            &["--format", "pku"],
        )
        .await,
    );
    let adjudicated: Vec<_> = all.iter().filter(|r| r["prompt"] == prompt).collect();
    assert_eq!(adjudicated.len(), 1);
    assert_eq!(adjudicated[0]["response_0_severity_level"], 3);
    assert_eq!(adjudicated[0]["response_0_harm_category"]["Drugs"], true);
    assert!(all.len() > 1);
    let dpo = jsonl(
        &export_ok(
            &app,
            &project,
            dir.path(),
            "adj-dpo.jsonl",
            &["--format", "dpo-helpful", "--adjudicated-only"],
        )
        .await,
    );
    assert_eq!(dpo[0]["adjudicated"], true);
}

#[tokio::test]
async fn bad_requests_fail_clearly_and_leave_nothing() {
    let app = TestApp::spawn().await;
    let (project, _) = project_with_sample(&app.pool).await;
    let dir = tempfile::tempdir().unwrap();
    let fail = |output: std::process::Output| {
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let message = fail(export(&app, &project, &["--format", "xml"]).await);
    assert!(
        message.contains("format: \"xml\" is not one of pku"),
        "{message}"
    );
    let message = fail(export(&app, &project, &["--format", "safe-rlhf"]).await);
    assert!(message.contains("--out DIR"), "{message}");
    // A destination whose parent is a file: nothing is written anywhere.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let out = blocker.join("pku.jsonl");
    let message = fail(
        export(
            &app,
            &project,
            &["--format", "pku", "--out", out.to_str().unwrap()],
        )
        .await,
    );
    assert!(message.contains("cannot create"), "{message}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the blocking file: {left:?}");
    // An existing destination is not overwritten.
    let message = fail(
        export(
            &app,
            &project,
            &["--format", "pku", "--out", blocker.to_str().unwrap()],
        )
        .await,
    );
    assert!(message.contains("already exists"), "{message}");
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "x");

    // Three responses per item cannot be a PKU record.
    let three = crate::import::project(&app.pool, 3).await;
    let message = fail(export(&app, &three, &["--format", "pku"]).await);
    assert!(message.contains("two responses"), "{message}");

    let (admin, _) = app.signed_in(Role::Admin).await;
    let response = admin
        .get(&format!(
            "/api/v1/projects/{}/export?format=pku&encoding=xlsx",
            project.id
        ))
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("encoding: \"xlsx\"")
    );
    let (lead, _) = app.signed_in(Role::Lead).await;
    let response = lead
        .get(&format!(
            "/api/v1/projects/{}/export?format=pku",
            project.id
        ))
        .await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn the_admin_page_runs_an_export_job_and_serves_its_files() {
    let app = TestApp::spawn().await;
    let project = annotated_sample(&app).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let page = format!("/admin/projects/{}/exports", project.id);
    let response = admin
        .post(
            &page,
            &[
                ("format", "dpo-harmless"),
                ("encoding", "csv"),
                ("complete_only", "on"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);

    let job: uuid::Uuid = sqlx::query_scalar("select id from export_jobs where project_id = $1")
        .bind(project.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let html = loop {
        let html = admin.get(&page).await.text().await.unwrap();
        if html.contains(&format!("/admin/exports/{job}/files/manifest.json")) {
            break html;
        }
        assert!(!html.contains("failed"), "{html}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job did not finish: {html}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(html.contains("dpo-harmless as csv"), "{html}");
    let file = admin
        .get(&format!("/admin/exports/{job}/files/dpo-harmless.csv"))
        .await;
    assert_eq!(file.status(), 200);
    let bytes = file.bytes().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let cli = export_ok(
        &app,
        &project,
        dir.path(),
        "dpo.csv",
        &[
            "--format",
            "dpo-harmless",
            "--encoding",
            "csv",
            "--complete-only",
        ],
    )
    .await;
    assert_eq!(
        bytes.as_ref(),
        std::fs::read(&cli).unwrap(),
        "the page and the command agree"
    );
    let manifest: Value = admin
        .get(&format!("/admin/exports/{job}/files/manifest.json"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        manifest["files"][0]["sha256"],
        hex::encode(Sha256::digest(&bytes))
    );
    assert_eq!(
        admin
            .get(&format!(
                "/admin/exports/{job}/files/..%2F..%2Fetc%2Fpasswd"
            ))
            .await
            .status(),
        404
    );
    // A bad option shows on the page, and starts nothing.
    let response = admin
        .post(&page, &[("format", "pku"), ("min_support", "2")])
        .await;
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("min_support must be between 0 and 1")
    );
}

/// Starts a `raw` export job on the admin page and waits until it is done.
async fn finished_job(
    app: &TestApp,
    admin: &safepref_tests::Browser,
    project: &Project,
) -> uuid::Uuid {
    let page = format!("/admin/projects/{}/exports", project.id);
    let response = admin.post(&page, &[("format", "raw")]).await;
    assert_eq!(response.status(), 303);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let newest: (uuid::Uuid, String) = sqlx::query_as(
            "select id, state::text from export_jobs where project_id = $1
             order by created_at desc, id desc limit 1",
        )
        .bind(project.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if newest.1 != "running" {
            assert_eq!(newest.1, "done");
            return newest.0;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn only_the_newest_finished_jobs_are_kept() {
    let exports = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(safepref_server::config::Config {
        exports_dir: exports.path().to_path_buf(),
        export_jobs_kept: 2,
        ..Default::default()
    })
    .await;
    let (project, _) = project_with_sample(&app.pool).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(finished_job(&app, &admin, &project).await);
        // Jobs are ordered by their start time.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Pruning follows a job's end: wait for it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let left = loop {
        let left: Vec<uuid::Uuid> = sqlx::query_scalar(
            "select id from export_jobs where project_id = $1 order by created_at",
        )
        .bind(project.id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        if left.len() < jobs.len() || tokio::time::Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(left, jobs[1..], "the oldest job's row is deleted");
    assert!(
        !exports.path().join(jobs[0].to_string()).exists(),
        "and its files"
    );
    for job in &jobs[1..] {
        assert!(
            exports
                .path()
                .join(job.to_string())
                .join("raw.jsonl")
                .exists()
        );
    }
    let gone = admin
        .get(&format!("/admin/exports/{}/files/raw.jsonl", jobs[0]))
        .await;
    assert_eq!(gone.status(), 404);
}

/// Collects every output of an export in memory.
#[derive(Default)]
struct Collect(Vec<Vec<u8>>);

impl safepref_server::export::Sink for Collect {
    async fn write(&mut self, output: usize, bytes: Vec<u8>) -> std::io::Result<()> {
        if self.0.len() <= output {
            self.0.resize(output + 1, Vec::new());
        }
        self.0[output].extend(bytes);
        Ok(())
    }
}

#[tokio::test]
async fn small_ranges_over_both_readers_give_the_same_bytes() {
    use safepref_server::export::{Format, Options, run_in_chunks};
    let app = TestApp::spawn().await;
    let project = annotated_sample(&app).await;
    for format in [Format::Pku, Format::Raw, Format::SafeRlhf] {
        let options = Options::new(format);
        let mut whole = Collect::default();
        let counts = run_in_chunks(&app.pool, &project, &options, &mut whole, 500, 1)
            .await
            .unwrap();
        assert_eq!(counts.items_read, 76);
        assert!(!whole.0[0].is_empty());
        // 76 items in ranges of 7 (eleven ranges, taken in turn by the two
        // readers), and in ranges of 14 read as chunks of 7 (six ranges, the
        // full ones ending with an empty chunk) or of 5, must come out in the
        // same order.
        for (chunk, range_chunks) in [(7, 1), (7, 2), (5, 3)] {
            let mut ranged = Collect::default();
            let again = run_in_chunks(
                &app.pool,
                &project,
                &options,
                &mut ranged,
                chunk,
                range_chunks,
            )
            .await
            .unwrap();
            let case = format!(
                "{} in chunks of {chunk}, {range_chunks} a range",
                format.name()
            );
            assert_eq!(again.items_read, 76, "{case}");
            assert_eq!(again.rows, counts.rows, "{case}");
            assert_eq!(ranged.0, whole.0, "{case}");
        }
    }
}

/// `--csv-safe` puts a `'` before text a spreadsheet would run as a formula;
/// without it the text is exported as it is (and round-trips).
#[tokio::test]
async fn csv_safe_defuses_formula_cells_only_when_asked() {
    let app = TestApp::spawn().await;
    let project = annotated_sample(&app).await;
    let formula = "=HYPERLINK(\"http://example.com\",\"x\")";
    sqlx::query(
        "update items set prompt = $1 where id = (select id from items order by seq limit 1)",
    )
    .bind(formula)
    .execute(&app.pool)
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args = ["--format", "pku", "--encoding", "csv"];
    let plain = read_back(&export_ok(&app, &project, dir.path(), "plain.csv", &args).await);
    let mut safe_args = args.to_vec();
    safe_args.push("--csv-safe");
    let safe_path = export_ok(&app, &project, dir.path(), "safe.csv", &safe_args).await;
    let safe = read_back(&safe_path);
    assert_eq!(manifest_of(&safe_path)["options"]["csv_safe"], true);
    assert_eq!(plain.len(), safe.len());
    let prompts = |rows: &[Map<String, Value>]| -> Vec<String> {
        rows.iter()
            .map(|r| r["prompt"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(prompts(&plain).contains(&formula.to_string()));
    assert!(prompts(&safe).contains(&format!("'{formula}")));
    assert!(!prompts(&safe).contains(&formula.to_string()));
    // Everything else is the same.
    for (p, s) in plain.iter().zip(&safe) {
        if p["prompt"] != formula {
            assert_eq!(p, s);
        }
    }

    let refused = export(&app, &project, &["--format", "pku", "--csv-safe"]).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("csv_safe applies to the csv encoding only, not jsonl"),
        "{stderr}"
    );
}
