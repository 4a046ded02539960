//! The JSON Schema of the answer, for servers that constrain a model's
//! output to it (`response_format` of type `json_schema`).
//!
//! Only the subset OpenAI, vLLM and llama.cpp all accept is used: `type`,
//! `properties`, `required`, `items`, `enum`, `minimum`, `maximum`,
//! `minItems`, `maxItems`, `additionalProperties: false`. The schema cannot
//! say every label rule (a ranking being a permutation, severity 0 exactly
//! when safe); `parse_answer` checks those, and the retry fixes the rest.

use serde_json::{Map, Value, json};

use super::JudgeContext;

/// The schema of `{"labels": …, "scores": …}` for this project: labels of
/// exactly K responses and only the questions it asks (required), scores
/// optional.
pub fn answer_schema(ctx: &JudgeContext) -> Value {
    let q = ctx.questions;
    let k = ctx.k;
    let last = k.saturating_sub(1);
    let position = json!({"type": "integer", "minimum": 0, "maximum": last});
    let ranking = json!({"type": "array", "items": position, "minItems": k, "maxItems": k});
    let score = json!({"type": "number", "minimum": 0, "maximum": 1});

    // A project that does not ask about safety still has `responses` in its
    // labels (the field is required), but empty.
    let response_count = if q.safety { k } else { 0 };
    let response = json!({
        "type": "object",
        "properties": {
            "safe": {"type": "boolean"},
            "categories": {
                "type": "array",
                "items": {"type": "string", "enum": ctx.taxonomy.names()},
            },
            "severity": {"type": "integer", "minimum": 0, "maximum": 3},
        },
        "required": ["safe", "categories", "severity"],
        "additionalProperties": false,
    });
    let mut labels = Map::new();
    let mut required = vec!["responses"];
    labels.insert(
        "responses".into(),
        json!({"type": "array", "items": response, "minItems": response_count, "maxItems": response_count}),
    );
    let mut scores = Map::new();
    if q.safety {
        scores.insert(
            "responses".into(),
            json!({
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"safe": score, "categories": score, "severity": score},
                    "additionalProperties": false,
                },
                "maxItems": k,
            }),
        );
    }
    for (asked, name) in [
        (q.helpfulness, "helpfulness"),
        (q.harmlessness, "harmlessness"),
    ] {
        if asked {
            labels.insert(name.into(), ranking.clone());
            required.push(name);
            scores.insert(name.into(), score.clone());
        }
    }
    if q.overall {
        labels.insert("overall".into(), position.clone());
        required.push("overall");
        scores.insert("overall".into(), score.clone());
    }
    if q.confidence {
        labels.insert(
            "confidence".into(),
            json!({"type": "integer", "minimum": 1, "maximum": 5}),
        );
        required.push("confidence");
    }
    if q.comment {
        // Allowed, never required: the template does not ask for one.
        labels.insert("comment".into(), json!({"type": "string"}));
    }
    json!({
        "type": "object",
        "properties": {
            "labels": {
                "type": "object",
                "properties": labels,
                "required": required,
                "additionalProperties": false,
            },
            "scores": {
                "type": "object",
                "properties": scores,
                "additionalProperties": false,
            },
        },
        "required": ["labels"],
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Questions;
    use crate::taxonomy::Taxonomy;

    /// Every keyword in the schema, to hold it to the accepted subset.
    fn keywords(value: &Value, out: &mut Vec<String>) {
        if let Value::Object(map) = value {
            for (key, child) in map {
                out.push(key.clone());
                if key == "properties" {
                    for property in child.as_object().unwrap().values() {
                        keywords(property, out);
                    }
                } else {
                    keywords(child, out);
                }
            }
        }
    }

    #[test]
    fn the_schema_has_k_responses_and_only_the_asked_questions() {
        let taxonomy = Taxonomy::pku19();
        let questions = Questions::default();
        let ctx = JudgeContext {
            k: 3,
            taxonomy: &taxonomy,
            questions: &questions,
        };
        let schema = answer_schema(&ctx);
        let labels = &schema["properties"]["labels"];
        assert_eq!(
            labels["required"],
            json!(["responses", "helpfulness", "harmlessness"])
        );
        assert_eq!(labels["properties"]["responses"]["minItems"], 3);
        assert_eq!(labels["properties"]["responses"]["maxItems"], 3);
        let categories = &labels["properties"]["responses"]["items"]["properties"]["categories"];
        assert_eq!(categories["items"]["enum"].as_array().unwrap().len(), 19);
        assert_eq!(categories["items"]["enum"][5], "Violence");
        assert_eq!(labels["properties"]["helpfulness"]["items"]["maximum"], 2);
        assert_eq!(labels["properties"]["helpfulness"]["minItems"], 3);
        assert!(labels["properties"].get("overall").is_none());
        assert!(labels["properties"].get("confidence").is_none());
        assert_eq!(schema["required"], json!(["labels"]));

        let mut words = Vec::new();
        keywords(&schema, &mut words);
        let subset = [
            "type",
            "properties",
            "required",
            "items",
            "enum",
            "minimum",
            "maximum",
            "minItems",
            "maxItems",
            "additionalProperties",
        ];
        for word in words {
            assert!(
                subset.contains(&word.as_str()),
                "{word} is outside the subset"
            );
        }
    }

    #[test]
    fn overall_and_confidence_are_required_when_asked() {
        let taxonomy = Taxonomy::beavertails14();
        let questions = Questions {
            safety: false,
            helpfulness: false,
            harmlessness: false,
            overall: true,
            confidence: true,
            comment: false,
        };
        let ctx = JudgeContext {
            k: 2,
            taxonomy: &taxonomy,
            questions: &questions,
        };
        let schema = answer_schema(&ctx);
        let labels = &schema["properties"]["labels"];
        assert_eq!(
            labels["required"],
            json!(["responses", "overall", "confidence"])
        );
        assert_eq!(labels["properties"]["responses"]["maxItems"], 0);
        assert_eq!(labels["properties"]["overall"]["maximum"], 1);
        assert_eq!(labels["properties"]["confidence"]["minimum"], 1);
        assert!(labels["properties"].get("comment").is_none());
        assert_eq!(
            schema["properties"]["scores"]["properties"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["overall"]
        );
    }
}
