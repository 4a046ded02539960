//! The rows of each export format, built from an item and its consolidated
//! labels (or, for `raw`, one annotation). Pure: the server reads the
//! database and encodes rows as JSONL, CSV or Parquet; this module decides
//! which columns a format has, in which order, and what goes in them.
//!
//! A row is a `Vec<Value>` aligned with its format's [`Column`]s. Harm
//! categories are a [`ColumnType::Categories`] column whose value is an array
//! of booleans in the taxonomy's order; encoders write it as an object (JSON),
//! an object's JSON text (CSV) or a struct (Parquet), keyed by category name
//! in that same order — as the PKU-SafeRLHF dataset stores it.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::consolidation::Consolidated;
use crate::labels::Labels;
use crate::records::PKU_KEYS;
use crate::suggestions::Suggestion;
use crate::taxonomy::Taxonomy;

/// What a column holds; encoders map it to their own types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    OptText,
    Bool,
    Int,
    OptInt,
    Float,
    OptFloat,
    /// One boolean per category of the taxonomy, in its order.
    Categories,
    /// A nested value: an object in JSONL, its JSON text in CSV and Parquet.
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
}

const fn col(name: &'static str, ty: ColumnType) -> Column {
    Column { name, ty }
}

/// An item as the exporter reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportItem {
    pub id: String,
    pub external_id: Option<String>,
    /// The batch's number within the project.
    pub batch: i32,
    pub prompt: String,
    pub prompt_source: Option<String>,
    /// `(text, source)` in position order.
    pub responses: Vec<(String, Option<String>)>,
    pub gold: bool,
}

/// The PKU-SafeRLHF record's columns, in the dataset's order.
pub fn pku_columns() -> Vec<Column> {
    use ColumnType::*;
    PKU_KEYS
        .iter()
        .map(|&name| {
            let ty = match name {
                "prompt" | "response_0" | "response_1" => Text,
                "response_0_sha256" | "response_1_sha256" => Text,
                "prompt_source" | "response_0_source" | "response_1_source" => OptText,
                "is_response_0_safe" | "is_response_1_safe" => Bool,
                "response_0_harm_category" | "response_1_harm_category" => Categories,
                _ => Int,
            };
            col(name, ty)
        })
        .collect()
}

/// One PKU-SafeRLHF record from consolidated labels of a K = 2 item (the
/// item's texts move into the row: they are the bulk of an export and are
/// not copied); `None` when the item does not have two responses or the
/// labels lack a field the record needs (the caller checks the project asks
/// safety, helpfulness and harmlessness, so this only happens for malformed
/// data).
pub fn pku_row(item: ExportItem, labels: &Labels, taxonomy: &Taxonomy) -> Option<Vec<Value>> {
    let [l0, l1] = labels.responses.as_slice() else {
        return None;
    };
    let better = *labels.helpfulness.first()?;
    let safer = *labels.harmlessness.first()?;
    let mut responses = item.responses.into_iter();
    let ((r0, s0), (r1, s1)) = match (responses.next(), responses.next(), responses.next()) {
        (Some(a), Some(b), None) => (a, b),
        _ => return None,
    };
    let [sha0, sha1] = response_hashes(&item.prompt, [&r0, &r1]);
    let opt = |s: Option<String>| s.map_or(Value::Null, Value::String);
    let categories = |chosen: &[String]| {
        Value::Array(
            taxonomy
                .categories
                .iter()
                .map(|category| Value::Bool(chosen.contains(&category.name)))
                .collect(),
        )
    };
    Some(vec![
        Value::String(item.prompt),
        Value::String(r0),
        Value::String(r1),
        opt(item.prompt_source),
        opt(s0),
        opt(s1),
        Value::Bool(l0.safe),
        Value::Bool(l1.safe),
        categories(&l0.categories),
        categories(&l1.categories),
        Value::from(l0.severity),
        Value::from(l1.severity),
        Value::from(better),
        Value::from(safer),
        Value::String(sha0),
        Value::String(sha1),
    ])
}

/// Each response's [`crate::records::response_sha256`], hashing the prompt once for both.
fn response_hashes(prompt: &str, responses: [&str; 2]) -> [String; 2] {
    let mut after_prompt = Sha256::new();
    after_prompt.update(prompt.as_bytes());
    responses.map(|response| {
        let digest = after_prompt
            .clone()
            .chain_update(response.as_bytes())
            .finalize();
        let mut hex = [0u8; 64];
        // 64 bytes hold 32 bytes' hex digits; the hex crate's `encode`
        // builds its String a char at a time.
        hex::encode_to_slice(digest, &mut hex).expect("64 hex digits");
        String::from_utf8_lossy(&hex).into_owned()
    })
}

/// Which ranking a DPO export follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Helpful,
    Harmless,
}

/// The DPO columns: what TRL reads, then where each pair came from.
pub fn dpo_columns() -> Vec<Column> {
    use ColumnType::*;
    vec![
        col("prompt", Text),
        col("chosen", Text),
        col("rejected", Text),
        col("item_id", Text),
        col("external_id", OptText),
        col("batch", Int),
        col("support", Float),
        col("chosen_severity", OptInt),
        col("rejected_severity", OptInt),
        col("adjudicated", Bool),
    ]
}

/// Every (chosen, rejected) pair the consolidated ranking implies: for
/// K = 2 one pair, for K > 2 each position against every position ranked
/// below it, best pairs first.
pub fn dpo_rows(item: &ExportItem, record: &Consolidated, dimension: Dimension) -> Vec<Vec<Value>> {
    let Some(labels) = &record.labels else {
        return Vec::new();
    };
    let (ranking, support) = match dimension {
        Dimension::Helpful => (&labels.helpfulness, record.support.helpfulness),
        Dimension::Harmless => (&labels.harmlessness, record.support.harmlessness),
    };
    let severity = |p: usize| {
        labels
            .responses
            .get(p)
            .map_or(Value::Null, |r| Value::from(r.severity))
    };
    let mut rows = Vec::new();
    for (n, &chosen) in ranking.iter().enumerate() {
        for &rejected in &ranking[n + 1..] {
            let (Some((c, _)), Some((r, _))) =
                (item.responses.get(chosen), item.responses.get(rejected))
            else {
                continue;
            };
            rows.push(vec![
                Value::String(item.prompt.clone()),
                Value::String(c.clone()),
                Value::String(r.clone()),
                Value::String(item.id.clone()),
                item.external_id.clone().map_or(Value::Null, Value::String),
                Value::from(item.batch),
                Value::from(support.unwrap_or(0.0)),
                severity(chosen),
                severity(rejected),
                Value::Bool(record.adjudicated),
            ]);
        }
    }
    rows
}

/// One annotation as the `raw` export shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawAnnotation {
    /// A pseudonym, or the username when the export asks for usernames.
    pub annotator: String,
    pub labels: Value,
    pub seconds_spent: Option<f64>,
    /// RFC 3339.
    pub submitted_at: String,
    pub revisions: i64,
    /// What the annotator saw of the suggestions: blind, hint or prefill.
    pub suggestion_mode: String,
}

pub fn raw_columns() -> Vec<Column> {
    use ColumnType::*;
    vec![
        col("item_id", Text),
        col("external_id", OptText),
        col("batch", Int),
        col("annotator", Text),
        col("labels", Json),
        col("seconds_spent", OptFloat),
        col("submitted_at", Text),
        col("revisions", Int),
        col("gold", Bool),
        col("suggestion_mode", Text),
    ]
}

pub fn raw_row(item: &ExportItem, a: &RawAnnotation) -> Vec<Value> {
    vec![
        Value::String(item.id.clone()),
        item.external_id.clone().map_or(Value::Null, Value::String),
        Value::from(item.batch),
        Value::String(a.annotator.clone()),
        a.labels.clone(),
        a.seconds_spent.map_or(Value::Null, Value::from),
        Value::String(a.submitted_at.clone()),
        Value::from(a.revisions),
        Value::Bool(item.gold),
        Value::String(a.suggestion_mode.clone()),
    ]
}

/// The column `--with-suggestions` adds after a format's own columns, so
/// they and their order stay as they are.
pub fn suggestions_column() -> Column {
    col("suggestions", ColumnType::Json)
}

/// An item's suggestions as the `suggestions` column holds them: a list of
/// `{source, labels, scores}` sorted by source name (byte order, so the
/// database's collation cannot change the bytes of an export).
pub fn suggestions_value(suggestions: &[Suggestion]) -> Value {
    let mut sorted: Vec<&Suggestion> = suggestions.iter().collect();
    sorted.sort_by(|a, b| a.source.cmp(&b.source));
    Value::Array(sorted.into_iter().map(suggestion_json).collect())
}

fn suggestion_json(s: &Suggestion) -> Value {
    serde_json::json!({
        "source": s.source,
        "labels": s.labels,
        "scores": s.scores,
    })
}

/// The `raw-suggestions` columns: one row per item and source.
pub fn raw_suggestion_columns() -> Vec<Column> {
    use ColumnType::*;
    vec![
        col("item_id", Text),
        col("external_id", OptText),
        col("batch", Int),
        col("source", Text),
        col("labels", Json),
        col("scores", Json),
    ]
}

/// An item's `raw-suggestions` rows, by source name.
pub fn raw_suggestion_rows(item: &ExportItem, suggestions: &[Suggestion]) -> Vec<Vec<Value>> {
    let Value::Array(sorted) = suggestions_value(suggestions) else {
        unreachable!("suggestions_value gives a list")
    };
    sorted
        .into_iter()
        .map(|mut s| {
            vec![
                Value::String(item.id.clone()),
                item.external_id.clone().map_or(Value::Null, Value::String),
                Value::from(item.batch),
                s["source"].take(),
                s["labels"].take(),
                s["scores"].take(),
            ]
        })
        .collect()
}

/// Whether a prompt goes to the test split: the first 8 bytes of its
/// SHA-256 as a fraction of 2^64, below `test_ratio`. The split depends on
/// the prompt alone, so every response pair of one prompt lands on the same
/// side and the split is the same in every export.
pub fn in_test_split(prompt: &str, test_ratio: f64) -> bool {
    let digest = Sha256::digest(prompt.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    test_ratio >= 1.0 || (u64::from_be_bytes(head) as f64) < test_ratio * 2f64.powi(64)
}

/// The lowest support among a record's decided fields (1 when it has none);
/// the `min_support` filter compares with it.
pub fn min_support(record: &Consolidated) -> f64 {
    let s = &record.support;
    s.responses
        .iter()
        .flat_map(|r| {
            [r.safe, r.severity]
                .into_iter()
                .chain(r.categories.values().copied())
        })
        .chain(s.helpfulness)
        .chain(s.harmlessness)
        .chain(s.overall)
        .fold(1.0, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consolidation::Support;
    use crate::labels::ResponseLabel;
    use crate::records::response_sha256;

    fn item(k: usize) -> ExportItem {
        ExportItem {
            id: "i1".into(),
            external_id: Some("x1".into()),
            batch: 2,
            prompt: "How?".into(),
            prompt_source: Some("alpaca".into()),
            responses: (0..k).map(|p| (format!("r{p}"), None)).collect(),
            gold: false,
        }
    }

    fn record(labels: Labels) -> Consolidated {
        Consolidated {
            item: 0,
            labels: Some(labels),
            support: Support {
                responses: Vec::new(),
                helpfulness: Some(0.75),
                harmlessness: Some(1.0),
                overall: None,
            },
            review: Vec::new(),
            adjudicated: false,
        }
    }

    fn labels(k: usize, ranking: Vec<usize>) -> Labels {
        Labels {
            responses: (0..k)
                .map(|p| {
                    if p == 0 {
                        ResponseLabel::unsafe_with(&["Drugs", "Violence"], 2)
                    } else {
                        ResponseLabel::safe()
                    }
                })
                .collect(),
            helpfulness: ranking.clone(),
            harmlessness: ranking.into_iter().rev().collect(),
            overall: None,
            confidence: None,
            comment: None,
        }
    }

    #[test]
    fn pku_row_follows_the_dataset_field_for_field() {
        let taxonomy = Taxonomy::pku19();
        let row = pku_row(item(2), &labels(2, vec![0, 1]), &taxonomy).unwrap();
        let columns = pku_columns();
        assert_eq!(row.len(), columns.len());
        let get = |name: &str| &row[columns.iter().position(|c| c.name == name).unwrap()];
        assert_eq!(get("prompt"), "How?");
        assert_eq!(get("response_1"), "r1");
        assert_eq!(get("prompt_source"), "alpaca");
        assert_eq!(get("response_0_source"), &Value::Null);
        assert_eq!(get("is_response_0_safe"), false);
        assert_eq!(get("is_response_1_safe"), true);
        assert_eq!(get("response_0_severity_level"), 2);
        assert_eq!(get("better_response_id"), 0);
        assert_eq!(get("safer_response_id"), 1);
        assert_eq!(get("response_0_sha256"), &response_sha256("How?", "r0"));
        assert_eq!(get("response_1_sha256"), &response_sha256("How?", "r1"));
        let Value::Array(ticks) = get("response_0_harm_category") else {
            panic!("categories are an array of booleans");
        };
        let names = taxonomy.names();
        assert_eq!(ticks.len(), names.len());
        for (name, tick) in names.iter().zip(ticks) {
            assert_eq!(
                tick,
                &Value::Bool(["Drugs", "Violence"].contains(name)),
                "{name}"
            );
        }
        assert!(pku_row(item(3), &labels(3, vec![0, 1, 2]), &taxonomy).is_none());
    }

    #[test]
    fn response_hashes_are_the_datasets_rule_for_any_length() {
        // Prompts across SHA-256's 64-byte blocks: the prompt's state is
        // shared by both responses, partial block included.
        for len in [0, 1, 55, 63, 64, 65, 200] {
            let prompt = "p".repeat(len);
            let got = response_hashes(&prompt, ["first", &"r".repeat(len)]);
            assert_eq!(got[0], response_sha256(&prompt, "first"), "{len}");
            assert_eq!(got[1], response_sha256(&prompt, &"r".repeat(len)), "{len}");
        }
    }

    #[test]
    fn dpo_pairs_follow_the_ranking() {
        let rows = dpo_rows(&item(2), &record(labels(2, vec![1, 0])), Dimension::Helpful);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][1], "r1");
        assert_eq!(rows[0][2], "r0");
        assert_eq!(rows[0][6], 0.75);
        assert_eq!(rows[0][7], 0);
        assert_eq!(rows[0][8], 2);

        let rows = dpo_rows(
            &item(3),
            &record(labels(3, vec![2, 0, 1])),
            Dimension::Harmless,
        );
        let pairs: Vec<(String, String)> = rows
            .iter()
            .map(|r| (r[1].as_str().unwrap().into(), r[2].as_str().unwrap().into()))
            .collect();
        let want = [("r1", "r0"), ("r1", "r2"), ("r0", "r2")];
        assert_eq!(pairs.len(), want.len());
        for ((c, r), (wc, wr)) in pairs.iter().zip(want) {
            assert_eq!((c.as_str(), r.as_str()), (wc, wr));
        }
        let mut review = record(labels(2, vec![0, 1]));
        review.labels = None;
        assert!(dpo_rows(&item(2), &review, Dimension::Helpful).is_empty());
    }

    fn suggestion(source: &str, safe: bool, score: Option<f64>) -> Suggestion {
        use crate::suggestions::{ResponseScores, Scores};
        let mut labels = labels(2, vec![0, 1]);
        if safe {
            labels.responses[0] = ResponseLabel::safe();
        }
        Suggestion {
            source: source.into(),
            labels,
            scores: Scores {
                responses: score
                    .map(|s| ResponseScores {
                        safe: Some(s),
                        ..ResponseScores::default()
                    })
                    .into_iter()
                    .collect(),
                ..Scores::default()
            },
        }
    }

    #[test]
    fn suggestions_are_listed_by_source_with_labels_and_scores() {
        // Byte order: upper case before lower case, whatever a collation says.
        let given = [
            suggestion("gpt-4o", true, None),
            suggestion("Beaver", false, Some(0.9)),
        ];
        let value = suggestions_value(&given);
        let list = value.as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["source"], "Beaver");
        assert_eq!(list[0]["labels"]["responses"][0]["safe"], false);
        assert_eq!(list[0]["scores"]["responses"][0]["safe"], 0.9);
        assert_eq!(list[1]["source"], "gpt-4o");
        assert_eq!(list[1]["labels"]["responses"][0]["safe"], true);
        assert_eq!(list[1]["scores"], serde_json::json!({}));
        // What goes in comes back.
        let back: Vec<Suggestion> = serde_json::from_value(value).unwrap();
        assert_eq!(back, [given[1].clone(), given[0].clone()]);
        assert_eq!(suggestions_value(&[]), serde_json::json!([]));
        assert_eq!(suggestions_column().ty, ColumnType::Json);
    }

    #[test]
    fn raw_suggestion_rows_are_one_per_source() {
        let given = [
            suggestion("m2", true, None),
            suggestion("m1", false, Some(0.5)),
        ];
        let rows = raw_suggestion_rows(&item(2), &given);
        let columns = raw_suggestion_columns();
        assert_eq!(rows.len(), 2);
        for row in &rows {
            assert_eq!(row.len(), columns.len());
            assert_eq!(row[0], "i1");
            assert_eq!(row[1], "x1");
            assert_eq!(row[2], 2);
        }
        assert_eq!(rows[0][3], "m1");
        assert_eq!(rows[0][4]["responses"][0]["safe"], false);
        assert_eq!(rows[0][5]["responses"][0]["safe"], 0.5);
        assert_eq!(rows[1][3], "m2");
        assert!(raw_suggestion_rows(&item(2), &[]).is_empty());
    }

    #[test]
    fn raw_rows_say_what_the_annotator_saw() {
        let a = RawAnnotation {
            annotator: "annotator-0001".into(),
            labels: Value::Null,
            seconds_spent: None,
            submitted_at: String::new(),
            revisions: 0,
            suggestion_mode: "prefill".into(),
        };
        let row = raw_row(&item(2), &a);
        let columns = raw_columns();
        assert_eq!(row.len(), columns.len());
        assert_eq!(columns.last().unwrap().name, "suggestion_mode");
        assert_eq!(row.last().unwrap(), "prefill");
    }

    #[test]
    fn test_split_is_by_prompt_and_near_the_ratio() {
        let prompts: Vec<String> = (0..10_000).map(|n| format!("prompt {n}")).collect();
        let test = prompts.iter().filter(|p| in_test_split(p, 0.1)).count();
        assert!((800..1200).contains(&test), "{test} of 10000 in test");
        assert!(
            prompts
                .iter()
                .all(|p| in_test_split(p, 0.1) == in_test_split(p, 0.1))
        );
        assert!(!prompts.iter().any(|p| in_test_split(p, 0.0)));
        assert!(prompts.iter().all(|p| in_test_split(p, 1.0)));
    }
}
