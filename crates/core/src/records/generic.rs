//! The generic record shape: `prompt` and either `responses` (a list of
//! strings) or `response_0` … `response_{K-1}`; optionally `id`,
//! `prompt_source`, `response_N_source`, `response_N_sha256`, `gold` and
//! `suggestions`.

use serde_json::Value;

use super::fields::{Parser, describe};
use super::{ImportRecord, ImportResponse};

impl Parser<'_, '_> {
    /// A generic record (the row has no `is_response_0_safe`).
    pub(super) fn generic(&mut self) -> Option<ImportRecord> {
        let k = self.rules.k;
        let prompt = self.content("prompt");
        let prompt_source = self.optional_text("prompt_source");

        let numbered: Vec<String> = (0..k)
            .map(|n| format!("response_{n}"))
            .filter(|key| self.present(key).is_some())
            .collect();
        let texts: Option<Vec<Option<String>>> = match self.present("responses").cloned() {
            Some(_) if !numbered.is_empty() => {
                self.error(
                    "responses",
                    format!(
                        "the record has both responses and {}: give the responses one way only",
                        numbered[0]
                    ),
                );
                None
            }
            Some(value) => self.responses_list(value),
            None if numbered.is_empty() => {
                self.error(
                    "responses",
                    format!(
                        "missing: give responses (a list of {k} texts) or response_0 to response_{}",
                        k.saturating_sub(1)
                    ),
                );
                None
            }
            None => Some(
                (0..k)
                    .map(|n| self.content(&format!("response_{n}")))
                    .collect(),
            ),
        };
        self.extra_responses();
        let sources: Vec<Option<String>> = (0..k)
            .map(|n| self.optional_text(&format!("response_{n}_source")))
            .collect();
        if let Some(texts) = &texts {
            for (n, text) in texts.iter().enumerate() {
                self.check_sha256(n, prompt.as_deref(), text.as_deref());
            }
        }
        let (external_id, gold, suggestions) = self.shared_fields();

        let responses = texts?
            .into_iter()
            .zip(sources)
            .map(|(text, source)| {
                Some(ImportResponse {
                    text: text?,
                    source,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ImportRecord {
            external_id,
            prompt: prompt?,
            prompt_source,
            responses,
            source_labels: None,
            gold,
            suggestions,
            hash_mismatch: self.hash_mismatch,
        })
    }

    /// `responses`: a list of K strings (or a string holding one as JSON).
    fn responses_list(&mut self, value: Value) -> Option<Vec<Option<String>>> {
        let k = self.rules.k;
        let expected = format!("a list of {k} strings");
        let value = self.json("responses", value, &expected)?;
        let Value::Array(items) = value else {
            self.error(
                "responses",
                format!("expected {expected}, found {}", describe(&value)),
            );
            return None;
        };
        if items.len() != k {
            self.error(
                "responses",
                format!(
                    "the record has {} responses but this project has K = {k}",
                    items.len()
                ),
            );
            return None;
        }
        Some(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| self.text_value(&format!("responses[{i}]"), item, true))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::records::test_rows::{PROMPT, R0, R1, assert_one, object, rules};
    use crate::records::{parse_record, rebuild_pku};

    #[test]
    fn generic_responses_list_and_numbered_fields_parse_alike() {
        let list = object(json!({
            "id": 17,
            "prompt": "Which is the capital of France?",
            "prompt_source": "quiz",
            "responses": ["Paris.", "Lyon.", "It is Paris, on the Seine."],
            "response_2_source": "model-c",
        }));
        let numbered = object(json!({
            "id": "17",
            "prompt": "Which is the capital of France?",
            "prompt_source": "quiz",
            "response_0": "Paris.",
            "response_1": "Lyon.",
            "response_2": "It is Paris, on the Seine.",
            "response_2_source": "model-c",
            "response_0_source": "",
            "response_1_source": null,
            "unrelated": [1, 2, 3],
        }));
        let a = parse_record(&list, &rules(3)).unwrap();
        let b = parse_record(&numbered, &rules(3)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.external_id.as_deref(), Some("17"));
        assert_eq!(a.responses[2].text, "It is Paris, on the Seine.");
        assert_eq!(a.responses[2].source.as_deref(), Some("model-c"));
        assert_eq!(a.responses[0].source, None);
        assert_eq!(a.source_labels, None);
        assert_eq!(rebuild_pku(&a), None);
        // The list given as a JSON string (CSV) is the same too.
        let mut csv = list.clone();
        csv.insert(
            "responses".into(),
            json!(r#"["Paris.", "Lyon.", "It is Paris, on the Seine."]"#),
        );
        csv.insert("id".into(), json!("17"));
        assert_eq!(parse_record(&csv, &rules(3)).unwrap(), a);
    }

    #[test]
    fn generic_needs_responses() {
        let row = object(json!({"prompt": PROMPT}));
        assert_one(
            &row,
            &rules(2),
            "responses",
            "missing: give responses (a list of 2 texts) or response_0 to response_1",
        );
        let row = object(json!({"prompt": PROMPT, "response_0": R0}));
        assert_one(&row, &rules(2), "response_1", "missing");
    }

    #[test]
    fn generic_responses_one_way_only() {
        let row = object(json!({"prompt": PROMPT, "responses": [R0, R1], "response_0": R0}));
        assert_one(
            &row,
            &rules(2),
            "responses",
            "both responses and response_0",
        );
    }

    #[test]
    fn generic_response_count_must_be_k() {
        let row = object(json!({"prompt": PROMPT, "responses": [R0, R1, "third"]}));
        assert_one(
            &row,
            &rules(2),
            "responses",
            "the record has 3 responses but this project has K = 2",
        );
    }
}
