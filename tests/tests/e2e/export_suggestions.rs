//! Machine suggestions in exports, end to end: the shared PKU sample
//! imported with suggestions from two sources, annotated over the JSON API,
//! and exported with the suggestions beside the consolidated labels, listed
//! (`raw-suggestions`), or counted as one more annotator in Dawid–Skene.

use safepref_core::records::PKU_KEYS;
use safepref_server::db::projects::Project;
use safepref_server::db::users::Role;
use safepref_server::import::Options;
use safepref_tests::TestApp;
use serde_json::{Map, Value, json};

use crate::export::{annotate, export, export_ok, jsonl, manifest_of, read_back, source_labels};
use crate::import::{import_text, project, sample_rows};

/// The source that sides with the first annotator (see [`flip`]).
const MIRROR: &str = "mirror-7b";
/// A second source, always the sample's own labels, with scores.
const SAMPLE_MODEL: &str = "Beaver-dam-7b";

/// The sample imported into a new K = 2 project, each record carrying
/// `suggestions(n, record)`.
async fn sample_with_suggestions(
    app: &TestApp,
    suggestions: impl Fn(usize, &Map<String, Value>) -> Value,
) -> Project {
    let project = project(&app.pool, 2).await;
    let text: String = sample_rows()
        .iter()
        .enumerate()
        .map(|(n, row)| {
            let mut row = row.clone();
            row.insert("suggestions".into(), suggestions(n, &row));
            format!("{}\n", Value::Object(row))
        })
        .collect();
    import_text(
        &app.pool,
        &project,
        "sample.jsonl",
        &text,
        Options::default(),
    )
    .await
    .unwrap();
    project
}

/// Two sources that both give the sample's labels; only the second scores.
fn two_sources(_: usize, row: &Map<String, Value>) -> Value {
    json!([
        {"source": MIRROR, "labels": source_labels(row)},
        {"source": SAMPLE_MODEL, "labels": source_labels(row),
         "scores": {"responses": [{"safe": 0.9}, {"safe": 0.8}], "helpfulness": 0.7}},
    ])
}

/// The expected `suggestions` value of a record: sorted by source name.
fn expected_suggestions(row: &Map<String, Value>) -> Value {
    json!([
        {"source": SAMPLE_MODEL, "labels": source_labels(row),
         "scores": {"responses": [{"safe": 0.9}, {"safe": 0.8}], "helpfulness": 0.7}},
        {"source": MIRROR, "labels": source_labels(row), "scores": {}},
    ])
}

fn sample_by_prompt(prompt: &Value) -> Map<String, Value> {
    sample_rows()
        .into_iter()
        .find(|r| &r["prompt"] == prompt)
        .expect("an exported prompt is a sample prompt")
}

/// A record without its `suggestions` field.
fn without_suggestions(mut row: Map<String, Value>) -> Map<String, Value> {
    assert!(row.remove("suggestions").is_some(), "{row:?}");
    row
}

/// Whether the keys come in this order in each line of a JSON Lines file
/// (its maps, once parsed, forget the order).
fn keys_in_order(path: &std::path::Path, keys: &[&str]) {
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let at: Vec<usize> = keys
            .iter()
            .map(|k| line.find(&format!("\"{k}\":")).expect(k))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{keys:?} in {line}");
    }
}

/// Deletes the project's suggestions, as if none had been imported.
async fn forget_suggestions(app: &TestApp, project: &Project) {
    sqlx::query(
        "delete from suggestions s using items i where i.id = s.item_id and i.project_id = $1",
    )
    .bind(project.id)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn suggestions_ride_beside_the_consolidated_labels() {
    let app = TestApp::spawn().await;
    let project = sample_with_suggestions(&app, two_sources).await;
    annotate(&app, &project, 3, usize::MAX, |_, _, _| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str, args: Vec<&'static str>| {
        let (app, project, dir) = (&app, &project, dir.path());
        let name = name.to_string();
        async move { export_ok(app, project, dir, &name, &args).await }
    };

    // JSON Lines: every standard field as before, in its place, then the
    // suggestions, nested, by source.
    let plain = out("pku.jsonl", vec!["--format", "pku"]).await;
    let with = out("pku-s.jsonl", vec!["--format", "pku", "--with-suggestions"]).await;
    let (plain_text, with_text) = (
        std::fs::read_to_string(&plain).unwrap(),
        std::fs::read_to_string(&with).unwrap(),
    );
    assert_eq!(plain_text.lines().count(), 76);
    for (a, b) in plain_text.lines().zip(with_text.lines()) {
        let head = a.strip_suffix('}').unwrap();
        assert!(b.starts_with(head), "standard fields unchanged:\n{a}\n{b}");
        assert!(b[head.len()..].starts_with(",\"suggestions\":["), "{b}");
    }
    keys_in_order(&with, &[&PKU_KEYS[..], &["suggestions"]].concat());
    let rows = jsonl(&with);
    for row in &rows {
        assert_eq!(row.len(), PKU_KEYS.len() + 1);
        let source = sample_by_prompt(&row["prompt"]);
        assert_eq!(row["suggestions"], expected_suggestions(&source));
    }
    let manifest = manifest_of(&with);
    assert_eq!(manifest["options"]["with_suggestions"], true);
    assert_eq!(manifest["options"]["ds_source"], Value::Null);
    assert_eq!(manifest_of(&plain)["options"]["with_suggestions"], false);

    // CSV and Parquet: the same list as JSON text in one cell / string
    // column; the other fields read back as without the option.
    for encoding in ["csv", "parquet"] {
        let args = vec!["--format", "pku", "--encoding", encoding];
        let plain = read_back(&out(&format!("pku.{encoding}"), args.clone()).await);
        let with_args = [args, vec!["--with-suggestions"]].concat();
        let with = read_back(&out(&format!("pku-s.{encoding}"), with_args).await);
        assert_eq!(with.len(), rows.len(), "{encoding}");
        for ((got, plain), want) in with.into_iter().zip(plain).zip(&rows) {
            let text = got["suggestions"].as_str().expect("JSON text").to_string();
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value, want["suggestions"], "{encoding}");
            assert_eq!(without_suggestions(got), plain, "{encoding}");
        }
    }

    // DPO rows and the safe-rlhf directory carry them too, last; its card
    // says so.
    let dpo_path = out(
        "dpo.jsonl",
        vec!["--format", "dpo-helpful", "--with-suggestions"],
    )
    .await;
    keys_in_order(
        &dpo_path,
        &["prompt", "chosen", "adjudicated", "suggestions"],
    );
    let dpo = jsonl(&dpo_path);
    assert_eq!(dpo.len(), 76);
    for row in &dpo {
        let source = sample_by_prompt(&row["prompt"]);
        assert_eq!(row["suggestions"], expected_suggestions(&source));
    }
    let plain_dpo = jsonl(&out("dpo-plain.jsonl", vec!["--format", "dpo-helpful"]).await);
    let stripped: Vec<_> = dpo.into_iter().map(without_suggestions).collect();
    assert_eq!(stripped, plain_dpo);
    let rlhf = out(
        "rlhf",
        vec![
            "--format",
            "safe-rlhf",
            "--with-suggestions",
            "--test-ratio",
            "0.5",
        ],
    )
    .await;
    let card = std::fs::read_to_string(rlhf.join("README.md")).unwrap();
    assert!(card.contains("The `suggestions` column carries"), "{card}");
    assert!(card.contains("none took part in consolidation"), "{card}");
    let train = jsonl(&rlhf.join("train.jsonl"));
    let test = jsonl(&rlhf.join("test.jsonl"));
    assert_eq!(train.len() + test.len(), 76);
    assert!(
        train
            .iter()
            .chain(&test)
            .all(|r| r["suggestions"].is_array())
    );

    // Without the option, the suggestions change nothing: the same bytes
    // once they are gone from the database.
    forget_suggestions(&app, &project).await;
    let again = out("pku-again.jsonl", vec!["--format", "pku"]).await;
    assert_eq!(std::fs::read(again).unwrap(), plain_text.as_bytes());

    // The option is refused where no consolidated record carries it.
    let output = export(&app, &project, &["--format", "raw", "--with-suggestions"]).await;
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("raw-suggestions lists"), "{message}");
}

#[tokio::test]
async fn raw_suggestions_list_every_source_and_raw_says_what_annotators_saw() {
    let app = TestApp::spawn().await;
    let project = sample_with_suggestions(&app, two_sources).await;
    annotate(&app, &project, 2, usize::MAX, |_, _, _| {}).await;
    let dir = tempfile::tempdir().unwrap();

    let path = export_ok(
        &app,
        &project,
        dir.path(),
        "s.jsonl",
        &["--format", "raw-suggestions"],
    )
    .await;
    keys_in_order(
        &path,
        &[
            "item_id",
            "external_id",
            "batch",
            "source",
            "labels",
            "scores",
        ],
    );
    let lines = jsonl(&path);
    assert_eq!(lines.len(), 76 * 2);
    let items: Vec<(String, Value, String, i64)> = sqlx::query_as(
        "select i.id::text, coalesce(to_jsonb(i.external_id), 'null'), i.prompt, i.batch_seq::int8
           from items i where i.project_id = $1 order by i.batch_seq, i.seq",
    )
    .bind(project.id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    for (pair, (id, external, prompt, batch)) in lines.chunks(2).zip(&items) {
        let source = sample_by_prompt(&json!(prompt));
        let want = expected_suggestions(&source);
        for (line, want) in pair.iter().zip(want.as_array().unwrap()) {
            assert_eq!(line.len(), 6);
            assert_eq!(line["item_id"], id.as_str());
            assert_eq!(line["external_id"], *external);
            assert_eq!(line["batch"], *batch);
            assert_eq!(line["source"], want["source"]);
            assert_eq!(line["labels"], want["labels"]);
            assert_eq!(line["scores"], want["scores"]);
        }
    }
    assert_eq!(manifest_of(&path)["files"][0]["rows"], 152);
    // Parquet: labels and scores as JSON text.
    let parquet = read_back(
        &export_ok(
            &app,
            &project,
            dir.path(),
            "s.parquet",
            &["--format", "raw-suggestions", "--encoding", "parquet"],
        )
        .await,
    );
    assert_eq!(parquet.len(), lines.len());
    for (got, want) in parquet.iter().zip(&lines) {
        let labels: Value = serde_json::from_str(got["labels"].as_str().unwrap()).unwrap();
        assert_eq!(labels, want["labels"]);
        assert_eq!(got["source"], want["source"]);
    }

    // raw: every line says what its annotator saw; one annotation was made
    // with the form pre-filled.
    let (item_id, annotator): (uuid::Uuid, String) = sqlx::query_as(
        "update annotations a set suggestion_mode = 'prefill' from users u
          where u.id = a.annotator_id
            and a.id = (select a2.id from annotations a2 join items i on i.id = a2.item_id
                         where i.project_id = $1 order by a2.id limit 1)
          returning a.item_id, u.username",
    )
    .bind(project.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let raw_path = export_ok(
        &app,
        &project,
        dir.path(),
        "raw.jsonl",
        &["--format", "raw", "--with-usernames"],
    )
    .await;
    keys_in_order(&raw_path, &["item_id", "labels", "gold", "suggestion_mode"]);
    let raw = jsonl(&raw_path);
    assert_eq!(raw.len(), 152);
    for line in &raw {
        let prefilled = line["item_id"] == item_id.to_string().as_str()
            && line["annotator"] == annotator.as_str();
        let want = if prefilled { "prefill" } else { "blind" };
        assert_eq!(line["suggestion_mode"], want, "{line:?}");
    }
    assert_eq!(
        raw.iter()
            .filter(|l| l["suggestion_mode"] == "prefill")
            .count(),
        1
    );
}

/// Items whose response `p` one annotator calls safe although the sample
/// says unsafe: the labels stay valid (the safe one is the more harmless
/// when the other is unsafe).
fn flip(labels: &mut Value, p: usize) {
    labels["responses"][p] = json!({"safe": true, "categories": [], "severity": 0});
    if labels["responses"][1 - p]["safe"] == false {
        labels["harmlessness"] = json!([p, 1 - p]);
    }
}

/// The first unsafe response of a sample record, if any.
fn unsafe_response(row: &Map<String, Value>) -> Option<usize> {
    (0..2).find(|p| row[&format!("is_response_{p}_safe")] == false)
}

#[tokio::test]
async fn dawid_skene_can_count_a_source_as_one_more_annotator() {
    let app = TestApp::spawn().await;
    let rows = sample_rows();
    // Eight items with an unsafe response: on the first four the first
    // annotator calls it safe, on the next four the second does. The mirror
    // source always says what the first annotator says, so with it each
    // split goes the first annotator's way; without it the two kinds of
    // split look alike.
    let split: Vec<(String, usize)> = rows
        .iter()
        .filter_map(|r| Some((r["prompt"].as_str()?.to_string(), unsafe_response(r)?)))
        .take(8)
        .collect();
    assert_eq!(split.len(), 8);
    let flipped_by = |prompt: &str| {
        let n = split.iter().position(|(p, _)| p == prompt)?;
        Some((n / 4, split[n].1))
    };
    let project = sample_with_suggestions(&app, |_, row| {
        let mut labels = source_labels(row);
        if let Some((0, p)) = flipped_by(row["prompt"].as_str().unwrap()) {
            flip(&mut labels, p);
        }
        json!([{"source": MIRROR, "labels": labels},
               {"source": SAMPLE_MODEL, "labels": source_labels(row)}])
    })
    .await;
    annotate(&app, &project, 2, usize::MAX, |n, prompt, labels| {
        if let Some((who, p)) = flipped_by(prompt)
            && who == n
        {
            flip(labels, p);
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ds = ["--format", "pku", "--method", "dawid-skene"];
    let people = export_ok(&app, &project, dir.path(), "people.jsonl", &ds).await;
    let with_args = [&ds[..], &["--ds-source", MIRROR]].concat();
    let with = export_ok(&app, &project, dir.path(), "with.jsonl", &with_args).await;

    let manifest = manifest_of(&with);
    assert_eq!(manifest["options"]["ds_source"], MIRROR);
    assert_eq!(manifest["counts"]["items_with_source_vote"], 76);
    let rlhf_args = [
        &["--format", "safe-rlhf", "--method", "dawid-skene"][..],
        &["--ds-source", MIRROR],
    ]
    .concat();
    let rlhf = export_ok(&app, &project, dir.path(), "rlhf", &rlhf_args).await;
    let card = std::fs::read_to_string(rlhf.join("README.md")).unwrap();
    assert!(
        card.contains(&format!(
            "the suggestions of `{MIRROR}` were counted as one more annotator"
        )),
        "{card}"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(rlhf.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["options"]["ds_source"], MIRROR);
    let manifest = manifest_of(&people);
    assert_eq!(manifest["options"]["ds_source"], Value::Null);
    assert_eq!(manifest["counts"]["items_with_source_vote"], 0);

    let safe_in = |records: &[Map<String, Value>], prompt: &str, p: usize| {
        records
            .iter()
            .find(|r| r["prompt"] == prompt)
            .map(|r| r[&format!("is_response_{p}_safe")].as_bool().unwrap())
    };
    let (records, before) = (jsonl(&with), jsonl(&people));
    for (n, (prompt, p)) in split.iter().enumerate() {
        let want = n < 4;
        assert_eq!(safe_in(&records, prompt, *p), Some(want), "split item {n}");
    }
    let same_as_with = split
        .iter()
        .enumerate()
        .all(|(n, (prompt, p))| safe_in(&before, prompt, *p) == Some(n < 4));
    assert!(
        !same_as_with,
        "without the source the splits cannot all go its way"
    );
    assert_ne!(
        std::fs::read(&people).unwrap(),
        std::fs::read(&with).unwrap()
    );
    // Items everyone agreed on are the same either way.
    for record in &records {
        let prompt = record["prompt"].as_str().unwrap();
        if flipped_by(prompt).is_none() {
            let source = sample_by_prompt(&record["prompt"]);
            assert_eq!(record, &source, "{prompt}");
        }
    }

    // The API gives the same bytes; majority vote refuses a source.
    let (admin, _) = app.signed_in(Role::Admin).await;
    let api = format!(
        "/api/v1/projects/{}/export?format=pku&method=dawid-skene&ds_source={MIRROR}",
        project.id
    );
    let response = admin.get(&api).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        std::fs::read(&with).unwrap()
    );
    let response = admin
        .get(&format!(
            "/api/v1/projects/{}/export?format=pku&ds_source={MIRROR}",
            project.id
        ))
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("needs method dawid-skene"), "{message}");
    let output = export(&app, &project, &["--format", "pku", "--ds-source", MIRROR]).await;
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("needs method dawid-skene"), "{message}");
    let out = dir.path().join("nosuch.jsonl");
    let output = export(
        &app,
        &project,
        &[
            &ds[..],
            &["--ds-source", "nosuch", "--out", out.to_str().unwrap()],
        ]
        .concat(),
    )
    .await;
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("no suggestions from \"nosuch\"") && message.contains(MIRROR),
        "{message}"
    );
    assert!(!out.exists());

    // The admin page offers the project's sources and records the choice.
    let page = format!("/admin/projects/{}/exports", project.id);
    let html = admin.get(&page).await.text().await.unwrap();
    assert!(
        html.contains(&format!("<option value=\"{MIRROR}\">")),
        "{html}"
    );
    let response = admin
        .post(
            &page,
            &[
                ("format", "pku"),
                ("method", "dawid-skene"),
                ("ds_source", MIRROR),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let html = admin.get(&page).await.text().await.unwrap();
    assert!(
        html.contains(&format!("Dawid–Skene with source {MIRROR}")),
        "{html}"
    );
    let response = admin
        .post(&page, &[("format", "pku"), ("ds_source", MIRROR)])
        .await;
    assert_eq!(response.status(), 400);

    // Leaving the source out: the same bytes as with no suggestions at all.
    forget_suggestions(&app, &project).await;
    let again = export_ok(&app, &project, dir.path(), "again.jsonl", &ds).await;
    assert_eq!(
        std::fs::read(again).unwrap(),
        std::fs::read(&people).unwrap()
    );
}
