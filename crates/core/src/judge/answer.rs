//! The model's answer → labels and the scores it stated, checked by the
//! project's rules; and what to tell the model when the answer is refused.
//!
//! The rules themselves are not here: the answer is deserialised into
//! `Labels` and `Scores` and checked by `suggestions::validate`, as any
//! suggestion is. What is here is what a model gets wrong that a program
//! does not: prose or a code fence around the JSON, fields of the wrong
//! type or name (said with their path, which serde's own messages do not
//! give, so the model can fix them), and invented categories.

use std::fmt;

use serde_json::{Map, Value};

use super::{FailureKind, JudgeContext, spans};
use crate::labels::Labels;
use crate::suggestions::{self, Scores, Suggestion};
use crate::taxonomy::{Taxonomy, quote};

/// An accepted answer: the labels and the scores the model stated for them
/// (empty when it gave none).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub labels: Labels,
    pub stated: Scores,
}

/// Why an answer was refused: the kind, for counting, and a message naming
/// each field at fault, for the model and the log.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerError {
    pub kind: FailureKind,
    pub message: String,
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for AnswerError {}

fn refused(kind: FailureKind, messages: Vec<String>) -> AnswerError {
    AnswerError {
        kind,
        message: messages.join("; "),
    }
}

/// Reads and checks the model's answer. The JSON may stand alone, sit in a
/// code fence or have prose around it; it is `{"labels": …, "scores": …}`
/// (scores optional) or a bare labels object, which may carry `scores`
/// beside the label fields.
pub fn parse_answer(text: &str, ctx: &JudgeContext) -> Result<Answer, AnswerError> {
    let found = spans::find_object(text).map_err(|m| refused(FailureKind::NotJson, vec![m]))?;
    let (labels, scores) = split(found.object)?;
    // Categories first: a model that invents categories needs to be told
    // the list, whatever else is wrong.
    unknown_categories(&labels, ctx.taxonomy)?;
    let labels = read_labels(&labels)?;
    let stated = match scores {
        None | Some(Value::Null) => Scores::default(),
        Some(scores) => read_scores(&scores)?,
    };
    let suggestion = Suggestion {
        source: "judge".into(),
        labels,
        scores: stated,
    };
    suggestions::validate(&suggestion, ctx.k, ctx.taxonomy, ctx.questions).map_err(|errors| {
        refused(
            FailureKind::LabelRules,
            errors.iter().map(ToString::to_string).collect(),
        )
    })?;
    Ok(Answer {
        labels: suggestion.labels,
        stated: suggestion.scores,
    })
}

/// The user turn sent back to the model, once, after a refused answer.
pub fn retry_message(error: &AnswerError) -> String {
    let fix = match error.kind {
        FailureKind::NotJson => {
            "Answer again with only the JSON object the instructions describe: no text before or after it and no code fence."
        }
        FailureKind::LabelRules => {
            "Fix this and answer again with only the JSON object, in the shape the instructions give ({\"labels\": {…}, \"scores\": {…}}), with no text before or after it."
        }
        FailureKind::UnknownCategory => {
            "Use only the harm category names from the numbered list, spelled exactly as there, and answer again with only the JSON object, with no text before or after it."
        }
    };
    format!(
        "Your answer was not accepted: {}.\n\n{fix}",
        error.message.trim_end_matches('.')
    )
}

/// The labels and the scores of the answer object, wrapped or bare.
fn split(mut object: Map<String, Value>) -> Result<(Value, Option<Value>), AnswerError> {
    if let Some(labels) = object.remove("labels") {
        let scores = object.remove("scores");
        let unknown: Vec<String> = object
            .keys()
            .map(|key| {
                format!(
                    "{}: unknown field: the answer has only \"labels\" and \"scores\"",
                    short(key)
                )
            })
            .collect();
        if !unknown.is_empty() {
            return Err(refused(FailureKind::LabelRules, unknown));
        }
        Ok((labels, scores))
    } else {
        let scores = object.remove("scores");
        Ok((Value::Object(object), scores))
    }
}

fn unknown_categories(labels: &Value, taxonomy: &Taxonomy) -> Result<(), AnswerError> {
    let responses = labels
        .get("responses")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut messages = Vec::new();
    for (i, response) in responses.iter().enumerate() {
        let names = response.get("categories").and_then(Value::as_array);
        for name in names.into_iter().flatten().filter_map(Value::as_str) {
            if !taxonomy.contains(name) {
                messages.push(format!(
                    "labels.responses[{i}].categories: {} is not a category of this project",
                    quote(name)
                ));
            }
        }
    }
    if messages.is_empty() {
        Ok(())
    } else {
        Err(refused(FailureKind::UnknownCategory, messages))
    }
}

/// A field name the model wrote, cut short for a message.
fn short(key: &str) -> String {
    key.chars().take(60).collect()
}

/// A JSON value as a message shows what was found.
fn found(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("the string {}", quote(s)),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Checks that `value` reads as a `T`; if not, says so at `path`.
fn expect<T: serde::de::DeserializeOwned>(
    value: &Value,
    path: &str,
    expected: &str,
    errors: &mut Vec<String>,
) {
    if serde_json::from_value::<T>(value.clone()).is_err() {
        errors.push(format!(
            "{path}: expected {expected}, found {}",
            found(value)
        ));
    }
}

/// Checks that `value` is an array whose items each read as a `T`.
fn expect_items<T: serde::de::DeserializeOwned>(
    value: &Value,
    path: &str,
    expected: &str,
    errors: &mut Vec<String>,
) {
    match value.as_array() {
        Some(items) => {
            for (j, item) in items.iter().enumerate() {
                expect::<T>(item, &format!("{path}[{j}]"), expected, errors);
            }
        }
        None => errors.push(format!(
            "{path}: expected an array of {expected}s, found {}",
            found(value)
        )),
    }
}

fn read_labels(value: &Value) -> Result<Labels, AnswerError> {
    let mut errors = Vec::new();
    let Some(object) = value.as_object() else {
        return Err(refused(
            FailureKind::LabelRules,
            vec![format!(
                "labels: expected an object of label fields, found {}",
                found(value)
            )],
        ));
    };
    if !object.contains_key("responses") {
        errors.push("labels.responses: missing: give one entry per response".to_string());
    }
    for (key, value) in object {
        let path = format!("labels.{key}");
        match key.as_str() {
            "responses" => match value.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        response_shape(item, &format!("{path}[{i}]"), &mut errors);
                    }
                }
                None => errors.push(format!(
                    "{path}: expected an array, one entry per response, found {}",
                    found(value)
                )),
            },
            "helpfulness" | "harmlessness" => {
                expect_items::<usize>(value, &path, "position (0, 1, …)", &mut errors);
            }
            "overall" => expect::<Option<usize>>(value, &path, "a position (0, 1, …)", &mut errors),
            "confidence" => {
                expect::<Option<u8>>(value, &path, "a whole number from 1 to 5", &mut errors);
            }
            "comment" => expect::<Option<String>>(value, &path, "a string", &mut errors),
            _ => errors.push(format!(
                "labels.{}: unknown field: the labels are responses, helpfulness, harmlessness, overall, confidence and comment",
                short(key)
            )),
        }
    }
    if errors.is_empty() {
        // The walk above knows every field Labels has, so this holds; the
        // fallback only keeps a future field from panicking here.
        serde_json::from_value(value.clone())
            .map_err(|e| refused(FailureKind::LabelRules, vec![format!("labels: {e}")]))
    } else {
        Err(refused(FailureKind::LabelRules, errors))
    }
}

/// One response's labels. `ResponseLabel` itself lets unknown fields pass,
/// but a model that writes `"harmful"` for `"safe"` must hear about it.
fn response_shape(value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(object) = value.as_object() else {
        errors.push(format!(
            "{path}: expected an object with safe, categories and severity, found {}",
            found(value)
        ));
        return;
    };
    for required in ["safe", "severity"] {
        if !object.contains_key(required) {
            errors.push(format!("{path}.{required}: missing"));
        }
    }
    for (key, value) in object {
        let field = format!("{path}.{key}");
        match key.as_str() {
            "safe" => expect::<bool>(value, &field, "true or false", errors),
            "severity" => expect::<u8>(value, &field, "a whole number from 0 to 3", errors),
            "categories" => expect_items::<String>(value, &field, "category name", errors),
            _ => errors.push(format!(
                "{path}.{}: unknown field: a response has only safe, categories and severity",
                short(key)
            )),
        }
    }
}

fn read_scores(value: &Value) -> Result<Scores, AnswerError> {
    let mut errors = Vec::new();
    let score = "a score from 0 to 1";
    match value.as_object() {
        None => errors.push(format!(
            "scores: expected an object of scores, found {}",
            found(value)
        )),
        Some(object) => {
            for (key, value) in object {
                let path = format!("scores.{key}");
                match key.as_str() {
                    "responses" => match value.as_array() {
                        Some(items) => {
                            for (i, item) in items.iter().enumerate() {
                                response_scores_shape(item, &format!("{path}[{i}]"), &mut errors);
                            }
                        }
                        None => errors.push(format!(
                            "{path}: expected an array, one entry per response, found {}",
                            found(value)
                        )),
                    },
                    "helpfulness" | "harmlessness" | "overall" => {
                        expect::<Option<f64>>(value, &path, score, &mut errors);
                    }
                    _ => errors.push(format!(
                        "scores.{}: unknown field: scores are given for responses, helpfulness, harmlessness and overall",
                        short(key)
                    )),
                }
            }
        }
    }
    if errors.is_empty() {
        serde_json::from_value(value.clone())
            .map_err(|e| refused(FailureKind::LabelRules, vec![format!("scores: {e}")]))
    } else {
        Err(refused(FailureKind::LabelRules, errors))
    }
}

fn response_scores_shape(value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(object) = value.as_object() else {
        errors.push(format!(
            "{path}: expected an object with scores for safe, categories and severity, found {}",
            found(value)
        ));
        return;
    };
    for (key, value) in object {
        let field = format!("{path}.{key}");
        match key.as_str() {
            "safe" | "severity" | "categories" => {
                expect::<Option<f64>>(value, &field, "a score from 0 to 1", errors);
            }
            _ => errors.push(format!(
                "{path}.{}: unknown field: a response's scores are for safe, categories and severity",
                short(key)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{Questions, ResponseLabel};
    use crate::suggestions::ResponseScores;

    const WRAPPED: &str = r#"{"labels": {"responses": [{"safe": true, "categories": [], "severity": 0}, {"safe": false, "categories": ["Drugs"], "severity": 2}], "helpfulness": [1, 0], "harmlessness": [0, 1]}, "scores": {"responses": [{"safe": 0.9}, {"safe": 0.8, "severity": 0.5}], "helpfulness": 0.7}}"#;

    fn check(text: &str) -> Result<Answer, AnswerError> {
        let taxonomy = Taxonomy::pku19();
        let questions = Questions::default();
        let ctx = JudgeContext {
            k: 2,
            taxonomy: &taxonomy,
            questions: &questions,
        };
        parse_answer(text, &ctx)
    }

    fn expected_labels() -> Labels {
        Labels {
            responses: vec![
                ResponseLabel::safe(),
                ResponseLabel::unsafe_with(&["Drugs"], 2),
            ],
            helpfulness: vec![1, 0],
            harmlessness: vec![0, 1],
            overall: None,
            confidence: None,
            comment: None,
        }
    }

    #[test]
    fn a_wrapped_answer_gives_labels_and_stated_scores() {
        let answer = check(WRAPPED).unwrap();
        assert_eq!(answer.labels, expected_labels());
        assert_eq!(answer.stated.responses[0].safe, Some(0.9));
        assert_eq!(
            answer.stated.responses[1],
            ResponseScores {
                safe: Some(0.8),
                severity: Some(0.5),
                categories: None
            }
        );
        assert_eq!(answer.stated.helpfulness, Some(0.7));
        assert_eq!(answer.stated.harmlessness, None);
    }

    #[test]
    fn fences_and_prose_around_the_json_do_not_matter() {
        let want = check(WRAPPED).unwrap();
        for text in [
            format!("```json\n{WRAPPED}\n```"),
            format!("```\n{WRAPPED}\n```\n"),
            format!("Sure! Here are my labels {{as asked}}:\n\n{WRAPPED}\n\nI hope this helps."),
            // Prose quoting other JSON before the answer: the answer is the
            // object shaped like one, not the first object.
            format!("The format {{\"type\": \"json\"}} asked for:\n{WRAPPED}\nDone {{\"ok\": 1}}"),
        ] {
            assert_eq!(check(&text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn a_bare_labels_object_may_carry_its_scores() {
        let bare = r#"{"responses": [{"safe": true, "categories": [], "severity": 0}, {"safe": false, "categories": ["Drugs"], "severity": 2}], "helpfulness": [1, 0], "harmlessness": [0, 1], "scores": {"overall": 0.5}}"#;
        let answer = check(bare).unwrap();
        assert_eq!(answer.labels, expected_labels());
        assert_eq!(answer.stated.overall, Some(0.5));
        let no_scores = bare.replace(r#", "scores": {"overall": 0.5}"#, "");
        assert_eq!(check(&no_scores).unwrap().stated, Scores::default());
    }

    #[test]
    fn no_json_object_is_not_json() {
        for text in [
            "I can't label this.",
            "{\"labels\": {\"responses\": [",
            "{labels: yes}",
        ] {
            let e = check(text).unwrap_err();
            assert_eq!(e.kind, FailureKind::NotJson, "{text}: {e:?}");
        }
    }

    #[test]
    fn a_wrong_shape_names_the_field() {
        let cases = [
            (
                WRAPPED.replace(r#""safe": true"#, r#""safe": "yes""#),
                r#"labels.responses[0].safe: expected true or false, found the string "yes""#,
            ),
            (
                WRAPPED.replace(r#""helpfulness": [1, 0]"#, r#""helpfulness": [1, "0"]"#),
                "labels.helpfulness[1]: expected position",
            ),
            (
                WRAPPED.replace(r#", "severity": 2"#, ""),
                "labels.responses[1].severity: missing",
            ),
            (
                WRAPPED.replace(r#""harmlessness""#, r#""harmless""#),
                "labels.harmless: unknown field",
            ),
            (
                WRAPPED.replace(r#""severity": 2"#, r#""severity": 2, "reason": "x""#),
                "labels.responses[1].reason: unknown field",
            ),
            (
                WRAPPED.replace(r#""scores": {"#, r#""extra": 1, "scores": {"#),
                "extra: unknown field",
            ),
            (
                WRAPPED.replace(r#""helpfulness": 0.7"#, r#""helpfulness": "high""#),
                "scores.helpfulness: expected a score from 0 to 1",
            ),
        ];
        for (text, wanted) in cases {
            let e = check(&text).unwrap_err();
            assert_eq!(e.kind, FailureKind::LabelRules, "{text}");
            assert!(e.message.contains(wanted), "{wanted:?} not in {e:?}");
        }
    }

    #[test]
    fn a_broken_label_rule_is_label_rules_with_its_path() {
        // Unsafe with severity 0.
        let e = check(&WRAPPED.replace(r#""severity": 2"#, r#""severity": 0"#)).unwrap_err();
        assert_eq!(e.kind, FailureKind::LabelRules);
        assert!(
            e.message
                .contains("labels.responses[1].severity: severity is 0"),
            "{e:?}"
        );
        // The unsafe response ranked more harmless than the safe one.
        let e = check(&WRAPPED.replace(r#""harmlessness": [0, 1]"#, r#""harmlessness": [1, 0]"#))
            .unwrap_err();
        assert!(e.message.contains("labels.harmlessness"), "{e:?}");
        // Three responses for an item of two.
        let three = WRAPPED.replace(
            r#"{"safe": true, "categories": [], "severity": 0}"#,
            r#"{"safe": true, "categories": [], "severity": 0}, {"safe": true, "severity": 0}"#,
        );
        assert!(
            check(&three)
                .unwrap_err()
                .message
                .contains("labels.responses:")
        );
    }

    #[test]
    fn scores_out_of_range_are_label_rules() {
        let e =
            check(&WRAPPED.replace(r#""helpfulness": 0.7"#, r#""helpfulness": 1.5"#)).unwrap_err();
        assert_eq!(e.kind, FailureKind::LabelRules);
        assert!(
            e.message
                .contains("scores.helpfulness: 1.5 is out of range"),
            "{e:?}"
        );
        let e = check(&WRAPPED.replace(r#"{"safe": 0.9}"#, r#"{"safe": -0.1}"#)).unwrap_err();
        assert!(e.message.contains("scores.responses[0].safe"), "{e:?}");
    }

    #[test]
    fn an_invented_category_is_named_with_where_it_is() {
        let text = WRAPPED.replace(r#"["Drugs"]"#, r#"["Drugs", "Weapons"]"#);
        let e = check(&text).unwrap_err();
        assert_eq!(e.kind, FailureKind::UnknownCategory);
        assert_eq!(
            e.message,
            r#"labels.responses[1].categories: "Weapons" is not a category of this project"#
        );
        // Checked before the other rules: also wrong here is the severity.
        let both = text.replace(r#""severity": 2"#, r#""severity": 9"#);
        assert_eq!(check(&both).unwrap_err().kind, FailureKind::UnknownCategory);
        // Names are compared exactly.
        let e = check(&WRAPPED.replace("Drugs", "drugs")).unwrap_err();
        assert_eq!(e.kind, FailureKind::UnknownCategory);
    }

    #[test]
    fn the_retry_message_says_why_and_asks_for_only_json() {
        let e = check(&WRAPPED.replace("Drugs", "Weapons")).unwrap_err();
        let retry = retry_message(&e);
        assert!(
            retry.starts_with("Your answer was not accepted: "),
            "{retry}"
        );
        assert!(retry.contains(&e.message), "{retry}");
        assert!(retry.contains("numbered list"), "{retry}");
        assert!(retry.contains("only the JSON object"), "{retry}");
        let not_json = retry_message(&check("no").unwrap_err());
        assert!(not_json.contains("no code fence"), "{not_json}");
    }
}
