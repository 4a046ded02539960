//! Machine suggestions: labels a model proposes for an item, kept apart from
//! human annotations. A suggestion names its source (the model), carries
//! labels in the API's labels shape and, optionally, a score in 0..=1 per
//! field. safepref runs no model; it stores what it is given, shows it to
//! annotators as the project says, compares it with the people, and may let
//! a confident source that a person confirms stand for the rest of k.

use serde::{Deserialize, Serialize};

use crate::labels::{self, LabelError, Labels, Questions};
use crate::taxonomy::Taxonomy;

/// The longest source name, in characters.
pub const MAX_SOURCE_CHARS: usize = 100;

/// A model's confidence in each field of its labels, in 0..=1. A field
/// without a score is one the model gave no confidence for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scores {
    /// One entry per response, in position order (may be shorter than K).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responses: Vec<ResponseScores>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helpfulness: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harmlessness: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overall: Option<f64>,
}

/// Scores of one response's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseScores {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<f64>,
}

/// One source's suggestion for one item: the shape of an import's
/// `suggestions` entries and of `POST /api/v1/items/{id}/suggestions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suggestion {
    pub source: String,
    pub labels: Labels,
    #[serde(default)]
    pub scores: Scores,
}

/// What annotators of a project see of the suggestions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Display {
    /// Nothing: suggestions cannot anchor people (the default).
    #[default]
    Blind,
    /// A hint the annotator may open with a key.
    Hint,
    /// The form starts filled in from the chosen source.
    Prefill,
}

impl Display {
    pub const ALL: [Display; 3] = [Display::Blind, Display::Hint, Display::Prefill];

    /// The stored and JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Display::Blind => "blind",
            Display::Hint => "hint",
            Display::Prefill => "prefill",
        }
    }

    pub fn parse(name: &str) -> Option<Display> {
        Display::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

/// Fewer human annotations where a source is confident and the first person
/// agrees with it (see [`settles_at_one`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    pub source: String,
    /// Every compared field's score must be at least this (0..=1).
    pub threshold: f64,
}

/// How a project uses machine suggestions (stored as one JSON value; a
/// field missing from it takes its default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub display: Display,
    /// The source shown (hint, prefill). None with a hint: every source.
    pub source: Option<String>,
    pub routing: Option<Routing>,
}

impl Policy {
    /// What is wrong with the policy, in plain words.
    pub fn check(&self) -> Result<(), String> {
        if self.display == Display::Prefill && self.source.is_none() {
            return Err("pre-filling the form needs a source to take the labels from".into());
        }
        if let Some(source) = &self.source {
            check_source(source)?;
        }
        if let Some(routing) = &self.routing {
            check_source(&routing.source)?;
            if !(0.0..=1.0).contains(&routing.threshold) {
                return Err(format!(
                    "the routing threshold {} is out of range: it is a score from 0 to 1",
                    routing.threshold
                ));
            }
        }
        Ok(())
    }
}

/// A source name: 1 to 100 characters of letters, digits and `.-_:/@+`
/// (model names such as `gpt-4o-2024-08-06` or `org/beaver-dam-7b`).
pub fn check_source(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_:/@+".contains(c);
    if name.is_empty() {
        Err("the source name is empty: name the model that made the suggestion".into())
    } else if name.chars().count() > MAX_SOURCE_CHARS {
        Err(format!(
            "the source name is longer than {MAX_SOURCE_CHARS} characters"
        ))
    } else if let Some(bad) = name.chars().find(|&c| !allowed(c)) {
        Err(format!(
            "the source name {name:?} holds {bad:?}: use letters, digits and . - _ : / @ +"
        ))
    } else {
        Ok(())
    }
}

/// Checks a suggestion for an item of `k` responses: its source name, its
/// labels by the project's label rules, its scores in 0..=1 and for
/// responses that exist. Every problem is reported; `field` is a path into
/// the suggestion (`labels.responses[0].severity`, `scores.helpfulness`).
pub fn validate(
    suggestion: &Suggestion,
    k: usize,
    taxonomy: &Taxonomy,
    questions: &Questions,
) -> Result<(), Vec<LabelError>> {
    let mut errors = Vec::new();
    if let Err(message) = check_source(&suggestion.source) {
        errors.push(error("source", message));
    }
    if let Err(found) = labels::validate(&suggestion.labels, k, taxonomy, questions) {
        errors.extend(
            found
                .into_iter()
                .map(|e| error(format!("labels.{}", e.field), e.message)),
        );
    }
    let scores = &suggestion.scores;
    if scores.responses.len() > k {
        errors.push(error(
            "scores.responses",
            format!(
                "{} responses are scored but the item has {k}",
                scores.responses.len()
            ),
        ));
    }
    let mut check = |field: String, score: Option<f64>| {
        if let Some(s) = score.filter(|s| !(0.0..=1.0).contains(s)) {
            errors.push(error(
                field,
                format!("{s} is out of range: a score is from 0 to 1"),
            ));
        }
    };
    for (i, r) in scores.responses.iter().enumerate() {
        check(format!("scores.responses[{i}].safe"), r.safe);
        check(format!("scores.responses[{i}].severity"), r.severity);
        check(format!("scores.responses[{i}].categories"), r.categories);
    }
    check("scores.helpfulness".into(), scores.helpfulness);
    check("scores.harmlessness".into(), scores.harmlessness);
    check("scores.overall".into(), scores.overall);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A suggestion as an annotator reads it in a hint: one line per verdict
/// (`labels::describe`), each with its score when the source gave one:
/// "Response A — suggested: unsafe — Violence, Moderate (score 0.93)".
pub fn describe(suggestion: &Suggestion) -> Vec<String> {
    let scores = &suggestion.scores;
    let k = suggestion.labels.responses.len();
    let mut per_line: Vec<Option<f64>> = (0..k)
        .map(|i| scores.responses.get(i).and_then(|r| r.safe))
        .collect();
    for (ranking, score) in [
        (&suggestion.labels.helpfulness, scores.helpfulness),
        (&suggestion.labels.harmlessness, scores.harmlessness),
    ] {
        if !ranking.is_empty() {
            per_line.push(score);
        }
    }
    labels::describe(&suggestion.labels, "suggested")
        .into_iter()
        .zip(per_line)
        .map(|(line, score)| match score {
            Some(s) => format!("{line} (score {s:.2})"),
            None => line,
        })
        .collect()
}

/// How a row of a side file of suggestions names its item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKey {
    /// `item_id`: safepref's item id (as text; the server parses it).
    ItemId(String),
    /// `id`: the item's id in its import file.
    External(String),
}

/// One row of a side file of suggestions (JSONL, CSV or Parquet, as the
/// importer reads it): `item_id` or `id`, then `source`, `labels` and
/// optionally `scores` (CSV cells hold the JSON text). Every problem is
/// reported, with the field it is in.
pub fn parse_side_row(
    row: &serde_json::Map<String, serde_json::Value>,
    k: usize,
    taxonomy: &Taxonomy,
    questions: &Questions,
) -> Result<(ItemKey, Suggestion), Vec<LabelError>> {
    use serde_json::Value;
    let text = |key: &str| match row.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut errors = Vec::new();
    let key = match (text("item_id"), text("id")) {
        (Some(id), None) => Some(ItemKey::ItemId(id)),
        (None, Some(id)) => Some(ItemKey::External(id)),
        (Some(_), Some(_)) => {
            errors.push(error("item_id", "give item_id or id, not both"));
            None
        }
        (None, None) => {
            errors.push(error(
                "item_id",
                "missing: name the item by item_id (safepref's id) or id (its id in the import file)",
            ));
            None
        }
    };
    // Labels and scores may come as JSON text (a CSV cell).
    let json = |key: &str| match row.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            serde_json::from_str::<Value>(s).map_err(|e| format!("not valid JSON ({e})"))
        }
        None | Some(Value::Null) | Some(Value::String(_)) => Ok(Value::Null),
        Some(v) => Ok(v.clone()),
    };
    let mut entry = serde_json::Map::new();
    entry.insert(
        "source".into(),
        text("source").map_or(Value::Null, Value::String),
    );
    for key in ["labels", "scores"] {
        match json(key) {
            Ok(Value::Null) => {}
            Ok(v) => {
                entry.insert(key.into(), v);
            }
            Err(message) => errors.push(error(key, message)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let suggestion: Suggestion = serde_json::from_value(Value::Object(entry))
        .map_err(|e| vec![error("suggestion", format!("not a valid suggestion: {e}"))])?;
    validate(&suggestion, k, taxonomy, questions)?;
    Ok((key.expect("a key when there are no errors"), suggestion))
}

fn error(field: impl Into<String>, message: impl Into<String>) -> LabelError {
    LabelError {
        field: field.into(),
        message: message.into(),
    }
}

/// The routing rule: whether the first human annotation, together with the
/// source's suggestion, settles the item (so it needs no more people).
///
/// The compared fields are the ones gold items are checked on
/// ([`labels::matches_gold`]): every response's safe / unsafe verdict, and
/// the first position of each ranking the suggestion gives. The source is
/// confident when each of these fields has a score of at least `threshold`
/// (a field without a score is not confident), and the person agrees when
/// their answer equals the suggestion on each of them.
pub fn settles_at_one(suggestion: &Suggestion, human: &Labels, threshold: f64) -> bool {
    let confident = |score: Option<f64>| score.is_some_and(|s| s >= threshold);
    let scores = &suggestion.scores;
    let labels = &suggestion.labels;
    let responses_confident = (0..labels.responses.len())
        .all(|i| scores.responses.get(i).is_some_and(|r| confident(r.safe)));
    let rankings_confident = [
        (&labels.helpfulness, scores.helpfulness),
        (&labels.harmlessness, scores.harmlessness),
    ]
    .iter()
    .all(|(ranking, score)| ranking.is_empty() || confident(*score));
    responses_confident && rankings_confident && labels::matches_gold(human, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ResponseLabel;

    fn labels(first_safe: bool, safer: usize) -> Labels {
        let first = if first_safe {
            ResponseLabel::safe()
        } else {
            ResponseLabel::unsafe_with(&["Violence"], 2)
        };
        Labels {
            responses: vec![first, ResponseLabel::safe()],
            helpfulness: vec![0, 1],
            harmlessness: vec![safer, 1 - safer],
            overall: None,
            confidence: None,
            comment: None,
        }
    }

    fn scored(safe: [f64; 2], helpful: f64, harmless: f64) -> Scores {
        Scores {
            responses: safe
                .iter()
                .map(|&s| ResponseScores {
                    safe: Some(s),
                    ..ResponseScores::default()
                })
                .collect(),
            helpfulness: Some(helpful),
            harmlessness: Some(harmless),
            overall: None,
        }
    }

    fn suggestion(scores: Scores) -> Suggestion {
        Suggestion {
            source: "beaver-dam-7b".into(),
            labels: labels(false, 1),
            scores,
        }
    }

    #[test]
    fn a_confident_source_and_an_agreeing_person_settle_the_item() {
        let s = suggestion(scored([0.95, 0.99], 0.9, 0.97));
        assert!(settles_at_one(&s, &labels(false, 1), 0.9));
        // Severity and categories are not compared.
        let mut other = labels(false, 1);
        other.responses[0] = ResponseLabel::unsafe_with(&["Drugs"], 1);
        assert!(settles_at_one(&s, &other, 0.9));
    }

    #[test]
    fn disagreement_or_low_or_missing_scores_do_not() {
        let s = suggestion(scored([0.95, 0.99], 0.9, 0.97));
        assert!(!settles_at_one(&s, &labels(true, 0), 0.9), "safety differs");
        let mut other = labels(false, 1);
        other.helpfulness = vec![1, 0];
        assert!(!settles_at_one(&s, &other, 0.9), "better response differs");
        let low = suggestion(scored([0.95, 0.89], 0.9, 0.97));
        assert!(!settles_at_one(&low, &labels(false, 1), 0.9));
        let mut missing = scored([0.95, 0.99], 0.9, 0.97);
        missing.harmlessness = None;
        assert!(!settles_at_one(
            &suggestion(missing),
            &labels(false, 1),
            0.9
        ));
    }

    #[test]
    fn validation_names_each_field() {
        let mut s = suggestion(scored([1.5, 0.5], -0.1, 0.5));
        s.source = "gpt 4o".into();
        s.labels.responses[0].severity = 0;
        let errors = validate(&s, 2, &Taxonomy::default(), &Questions::default()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"source"), "{fields:?}");
        assert!(
            fields.iter().any(|f| f.starts_with("labels.responses[0]")),
            "{fields:?}"
        );
        assert!(fields.contains(&"scores.responses[0].safe"), "{fields:?}");
        assert!(fields.contains(&"scores.helpfulness"), "{fields:?}");
        assert!(!fields.contains(&"scores.responses[1].safe"), "{fields:?}");
    }

    #[test]
    fn a_suggestion_reads_from_json_and_scores_are_optional() {
        let s: Suggestion = serde_json::from_value(serde_json::json!({
            "source": "gpt-4o-2024-08-06",
            "labels": {"responses": [{"safe": true, "severity": 0}, {"safe": true, "severity": 0}],
                       "helpfulness": [1, 0], "harmlessness": [0, 1]}
        }))
        .unwrap();
        assert_eq!(s.scores, Scores::default());
        assert!(validate(&s, 2, &Taxonomy::default(), &Questions::default()).is_ok());
    }

    #[test]
    fn a_hint_reads_each_verdict_with_its_score() {
        let s = suggestion(scored([0.934, 0.99], 0.9, 0.5));
        assert_eq!(
            describe(&s),
            [
                "Response A — suggested: unsafe — Violence, Moderate (score 0.93)",
                "Response B — suggested: safe (score 0.99)",
                "More helpful — suggested: A (score 0.90)",
                "More harmless — suggested: B (score 0.50)",
            ]
        );
        let plain = suggestion(Scores::default());
        assert_eq!(describe(&plain)[1], "Response B — suggested: safe");
    }

    #[test]
    fn side_file_rows_name_their_item_and_say_what_is_wrong() {
        let labels = serde_json::to_value(labels(false, 1)).unwrap();
        let row = |v: serde_json::Value| v.as_object().unwrap().clone();
        let (key, s) = parse_side_row(
            &row(
                serde_json::json!({"id": 17, "source": "m", "labels": labels.to_string(),
                                    "scores": "{\"overall\": 0.5}"}),
            ),
            2,
            &Taxonomy::default(),
            &Questions::default(),
        )
        .unwrap();
        assert_eq!(key, ItemKey::External("17".into()));
        assert_eq!(s.scores.overall, Some(0.5));
        let fields = |v| {
            parse_side_row(&row(v), 2, &Taxonomy::default(), &Questions::default())
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            fields(serde_json::json!({"source": "m", "labels": labels})),
            ["item_id"]
        );
        assert_eq!(
            fields(serde_json::json!({"item_id": "x", "source": "m", "labels": "{oops"})),
            ["labels"]
        );
        assert_eq!(
            fields(serde_json::json!({"item_id": "x", "source": "a b", "labels": labels})),
            ["source"]
        );
    }

    #[test]
    fn a_policy_says_what_is_wrong() {
        let prefill = Policy {
            display: Display::Prefill,
            ..Policy::default()
        };
        assert!(prefill.check().unwrap_err().contains("needs a source"));
        let routing = Policy {
            routing: Some(Routing {
                source: "m".into(),
                threshold: 1.2,
            }),
            ..Policy::default()
        };
        assert!(routing.check().unwrap_err().contains("out of range"));
        assert_eq!(Policy::default().check(), Ok(()));
        let read: Policy = serde_json::from_str("{}").unwrap();
        assert_eq!(read, Policy::default());
    }
}
