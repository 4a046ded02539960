//! The fields both record shapes share: `id`, `gold` (labels checked by
//! the label rules) and `suggestions` (machine labels, one per source).

use serde_json::Value;

use super::fields::{Parser, describe};
use crate::labels::{self, Labels};
use crate::suggestions::{self, Suggestion};

impl Parser<'_, '_> {
    /// Fields both shapes share: `id`, `gold` and `suggestions`.
    pub(super) fn shared_fields(&mut self) -> (Option<String>, Option<Labels>, Vec<Suggestion>) {
        let external_id = match self.present("id").cloned() {
            None => None,
            Some(Value::String(s)) => self.check_text("id", &s, false).then_some(s),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            Some(other) => {
                self.error(
                    "id",
                    format!(
                        "expected a string or an integer, found {}",
                        describe(&other)
                    ),
                );
                None
            }
        };

        let gold = self.present("gold").cloned().and_then(|value| {
            let value = self.json("gold", value, "a labels object")?;
            let labels: Labels = match serde_json::from_value(value) {
                Ok(labels) => labels,
                Err(e) => {
                    self.error("gold", format!("not a valid labels object: {e}"));
                    return None;
                }
            };
            let rules = self.rules;
            match labels::validate(&labels, rules.k, rules.taxonomy, rules.questions) {
                Ok(()) => Some(labels),
                Err(errors) => {
                    for e in errors {
                        self.error(format!("gold.{}", e.field), e.message);
                    }
                    None
                }
            }
        });
        let suggestions = self.suggestions();
        (external_id, gold, suggestions)
    }

    /// `suggestions`: a list of `{source, labels, scores}` objects (or a
    /// string holding one as JSON), one per source.
    fn suggestions(&mut self) -> Vec<Suggestion> {
        let Some(value) = self.present("suggestions").cloned() else {
            return Vec::new();
        };
        let Some(value) = self.json("suggestions", value, "a list of suggestions") else {
            return Vec::new();
        };
        let Value::Array(entries) = value else {
            self.error(
                "suggestions",
                format!(
                    "expected a list of {{source, labels, scores}} objects, found {}",
                    describe(&value)
                ),
            );
            return Vec::new();
        };
        let rules = self.rules;
        let mut found: Vec<Suggestion> = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let field = format!("suggestions[{i}]");
            let suggestion: Suggestion = match serde_json::from_value(entry) {
                Ok(s) => s,
                Err(e) => {
                    self.error(field, format!("not a valid suggestion: {e}"));
                    continue;
                }
            };
            if let Err(errors) =
                suggestions::validate(&suggestion, rules.k, rules.taxonomy, rules.questions)
            {
                for e in errors {
                    self.error(format!("{field}.{}", e.field), e.message);
                }
                continue;
            }
            if found.iter().any(|s| s.source == suggestion.source) {
                self.error(
                    format!("{field}.source"),
                    format!(
                        "{:?} suggests twice for this item: give one suggestion per source",
                        suggestion.source
                    ),
                );
                continue;
            }
            found.push(suggestion);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::labels::ResponseLabel;
    use crate::records::test_rows::{
        PROMPT, R0, R1, assert_one, assert_pku_error, object, parse, pku_row, rules,
    };

    #[test]
    fn id_is_a_string_or_an_integer() {
        let mut row = pku_row();
        row.insert("id".into(), json!(12345678901234_u64));
        assert_eq!(
            parse(&row).unwrap().external_id.as_deref(),
            Some("12345678901234")
        );
        row.insert("id".into(), json!("abc-1"));
        assert_eq!(parse(&row).unwrap().external_id.as_deref(), Some("abc-1"));
        row.insert("id".into(), json!(""));
        assert_eq!(parse(&row).unwrap().external_id, None);
        row.insert("id".into(), json!(1.5));
        assert_pku_error(
            &row,
            "id",
            "expected a string or an integer, found a number (1.5)",
        );
    }

    #[test]
    fn generic_gold_is_read_and_validated() {
        let gold = json!({
            "responses": [{"safe": false, "categories": ["Cybercrime"], "severity": 2},
                          {"safe": true, "categories": [], "severity": 0}],
            "helpfulness": [1, 0],
            "harmlessness": [1, 0],
        });
        let mut row = object(json!({"prompt": PROMPT, "responses": [R0, R1], "gold": gold}));
        let record = parse(&row).unwrap();
        let expected = Labels {
            responses: vec![
                ResponseLabel {
                    safe: false,
                    categories: vec!["Cybercrime".into()],
                    severity: 2,
                },
                ResponseLabel {
                    safe: true,
                    categories: vec![],
                    severity: 0,
                },
            ],
            helpfulness: vec![1, 0],
            harmlessness: vec![1, 0],
            overall: None,
            confidence: None,
            comment: None,
        };
        assert_eq!(record.gold.as_ref(), Some(&expected));
        // As a string holding JSON (CSV).
        row.insert("gold".into(), Value::String(gold.to_string()));
        assert_eq!(parse(&row).unwrap().gold, Some(expected));
    }

    #[test]
    fn gold_errors_are_prefixed() {
        let mut gold = json!({
            "responses": [{"safe": false, "categories": ["Cybercrime"], "severity": 0},
                          {"safe": true, "categories": [], "severity": 0}],
            "helpfulness": [1, 0],
            "harmlessness": [1, 0],
        });
        let row = object(json!({"prompt": PROMPT, "responses": [R0, R1], "gold": gold.clone()}));
        assert_one(
            &row,
            &rules(2),
            "gold.responses[0].severity",
            "severity is 0 but safe is false",
        );
        gold["helpfulness"] = json!([1]);
        gold["responses"][0]["severity"] = json!(2);
        let row = object(json!({"prompt": PROMPT, "responses": [R0, R1], "gold": gold}));
        assert_one(&row, &rules(2), "gold.helpfulness", "lists 1 position but");
    }

    #[test]
    fn gold_must_be_a_labels_object() {
        let row = object(
            json!({"prompt": PROMPT, "responses": [R0, R1], "gold": {"responses": [], "oops": 1}}),
        );
        assert_one(
            &row,
            &rules(2),
            "gold",
            "not a valid labels object: unknown field `oops`",
        );
        let row = object(json!({"prompt": PROMPT, "responses": [R0, R1], "gold": "{not json"}));
        assert_one(
            &row,
            &rules(2),
            "gold",
            "expected a labels object, found a string that is not valid JSON",
        );
    }

    #[test]
    fn suggestions_from_several_sources_are_read_and_checked() {
        let labels = json!({
            "responses": [{"safe": false, "categories": ["Cybercrime"], "severity": 2},
                          {"safe": true, "severity": 0}],
            "helpfulness": [0, 1], "harmlessness": [1, 0]
        });
        let mut row = pku_row();
        row.insert(
            "suggestions".into(),
            json!([
                {"source": "gpt-4o-2024-08-06", "labels": labels},
                {"source": "beaver-dam-7b", "labels": labels,
                 "scores": {"responses": [{"safe": 0.97}, {"safe": 0.88}], "harmlessness": 0.9}}
            ]),
        );
        let record = parse(&row).unwrap();
        let sources: Vec<&str> = record
            .suggestions
            .iter()
            .map(|s| s.source.as_str())
            .collect();
        assert_eq!(sources, ["gpt-4o-2024-08-06", "beaver-dam-7b"]);
        assert_eq!(record.suggestions[1].scores.responses[0].safe, Some(0.97));
        // As a CSV cell: the same list as JSON text.
        let text = row["suggestions"].to_string();
        row.insert("suggestions".into(), Value::String(text));
        assert_eq!(parse(&row).unwrap().suggestions.len(), 2);

        let mut bad = labels.clone();
        bad["responses"][0]["severity"] = json!(0);
        row.insert(
            "suggestions".into(),
            json!([{"source": "m", "labels": labels}, {"source": "m", "labels": bad},
                   {"source": "n", "labels": labels, "scores": {"overall": 2}}]),
        );
        let errors = parse(&row).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "suggestions[1].labels.responses[0].severity",
                "suggestions[2].scores.overall"
            ]
        );
        row.insert("suggestions".into(), json!({"source": "m"}));
        assert_one(&row, &rules(2), "suggestions", "expected a list");
    }
}
