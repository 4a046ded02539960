//! Fuzz targets (proptest) for what comes from outside: import rows
//! (`records::parse_record`) and annotators' labels (`labels::validate`,
//! after the JSON the API and the form produce).
//!
//! The promise checked: no panic, whatever the input, and every error names
//! the field it is about. The runs are bounded (a fixed number of cases) so
//! they cost CI about a second; raise `PROPTEST_CASES` to fuzz longer on an
//! idle machine.

use proptest::prelude::*;
use proptest::test_runner::Config;
use safepref_core::labels::{self, Labels, Questions};
use safepref_core::records::{PKU_KEYS, RecordRules, parse_record, response_sha256};
use safepref_core::taxonomy::{PKU_19, Taxonomy};
use serde_json::{Map, Value, json};

/// Cases per target unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 1000;

fn config() -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(CASES),
        // Failing inputs are kept as named regression tests below instead.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Strings that parsers treat specially, beside arbitrary ones.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just(String::new()),
        Just(" \t\n".to_string()),
        Just("\0".to_string()),
        Just("true".to_string()),
        Just("False".to_string()),
        Just("2".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551616".to_string()),
        Just("{}".to_string()),
        Just("[0, 1]".to_string()),
        Just("[\"a\", \"b\"]".to_string()),
        Just("{\"Violence\": true}".to_string()),
        prop::sample::select(PKU_19.to_vec()).prop_map(str::to_string),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u8..6).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys the parser knows (so mutations reach deep code), and others.
fn key() -> impl Strategy<Value = String> {
    let known: Vec<&str> = PKU_KEYS
        .iter()
        .copied()
        .chain([
            "id",
            "gold",
            "responses",
            "response_2",
            "response_3",
            "response_2_source",
            "response_9_sha256",
            "response_",
            "response_x",
            "safe",
            "severity",
            "categories",
            "helpfulness",
            "harmlessness",
            "overall",
            "confidence",
            "comment",
        ])
        .chain(PKU_19)
        .collect();
    prop_oneof![
        4 => prop::sample::select(known).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

const PROMPT: &str = "How do I get onto my neighbour's wifi?";
const R0: &str = "Capture the handshake and crack it.";
const R1: &str = "Ask your neighbour first.";

fn harm(ticked: &[&str]) -> Value {
    Value::Object(
        PKU_19
            .iter()
            .map(|c| (c.to_string(), Value::Bool(ticked.contains(c))))
            .collect(),
    )
}

/// A valid PKU-SafeRLHF row, the seed the mutations start from.
fn pku_row() -> Map<String, Value> {
    let Value::Object(row) = json!({
        "prompt": PROMPT,
        "response_0": R0,
        "response_1": R1,
        "prompt_source": "test",
        "response_0_source": "model-a",
        "response_1_source": "model-b",
        "is_response_0_safe": false,
        "is_response_1_safe": true,
        "response_0_harm_category": harm(&["Cybercrime"]),
        "response_1_harm_category": harm(&[]),
        "response_0_severity_level": 2,
        "response_1_severity_level": 0,
        "better_response_id": 1,
        "safer_response_id": 1,
        "response_0_sha256": response_sha256(PROMPT, R0),
        "response_1_sha256": response_sha256(PROMPT, R1),
    }) else {
        unreachable!()
    };
    row
}

/// A valid generic row with gold labels, the other seed.
fn generic_row() -> Map<String, Value> {
    let Value::Object(row) = json!({
        "id": "g-1",
        "prompt": PROMPT,
        "responses": [R0, R1],
        "gold": {
            "responses": [
                {"safe": false, "categories": ["Cybercrime"], "severity": 2},
                {"safe": true, "categories": [], "severity": 0}
            ],
            "helpfulness": [0, 1],
            "harmlessness": [1, 0]
        }
    }) else {
        unreachable!()
    };
    row
}

/// One change to a row: set a key to a value, or remove a key.
#[derive(Debug, Clone)]
enum Mutation {
    Set(String, Value),
    Remove(String),
    /// Every value turned into the string a CSV would hold.
    Stringify,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        5 => (key(), json_value()).prop_map(|(k, v)| Mutation::Set(k, v)),
        2 => key().prop_map(Mutation::Remove),
        1 => Just(Mutation::Stringify),
    ]
}

fn apply(row: &mut Map<String, Value>, mutation: Mutation) {
    match mutation {
        Mutation::Set(k, v) => {
            row.insert(k, v);
        }
        Mutation::Remove(k) => {
            row.remove(&k);
        }
        Mutation::Stringify => {
            for value in row.values_mut() {
                if !value.is_string() && !value.is_null() {
                    *value = Value::String(value.to_string());
                }
            }
        }
    }
}

/// Parses `row` for a project of `k` responses and checks the promise.
fn check_row(row: &Map<String, Value>, k: usize) {
    let taxonomy = Taxonomy::pku19();
    let questions = Questions::default();
    for (allow_empty, accept_hash_mismatch) in [(false, false), (true, true)] {
        let rules = RecordRules {
            k,
            taxonomy: &taxonomy,
            questions: &questions,
            allow_empty,
            accept_hash_mismatch,
        };
        match parse_record(row, &rules) {
            Ok(record) => {
                assert_eq!(record.responses.len(), k, "K responses: {row:?}");
                assert!(!record.prompt.contains('\0'));
                if let Some(gold) = &record.gold {
                    labels::validate(gold, k, &taxonomy, &questions)
                        .expect("gold labels that got in are valid");
                }
            }
            Err(errors) => {
                assert!(!errors.is_empty(), "an Err lists its errors: {row:?}");
                for e in &errors {
                    assert!(
                        !e.field.trim().is_empty() && !e.message.trim().is_empty(),
                        "an error names its field and what is wrong: {e:?} for {row:?}"
                    );
                    assert!(e.to_string().contains(&e.field), "{e}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_record_survives_mutated_pku_rows(mutations in prop::collection::vec(mutation(), 1..6)) {
        let mut row = pku_row();
        for m in mutations {
            apply(&mut row, m);
        }
        check_row(&row, 2);
    }

    #[test]
    fn parse_record_survives_mutated_generic_rows(
        mutations in prop::collection::vec(mutation(), 1..6),
        k in 1usize..5,
    ) {
        let mut row = generic_row();
        for m in mutations {
            apply(&mut row, m);
        }
        check_row(&row, k);
    }

    #[test]
    fn parse_record_survives_arbitrary_rows(
        row in prop::collection::btree_map(key(), json_value(), 0..12),
        k in 1usize..5,
    ) {
        check_row(&row.into_iter().collect(), k);
    }

    #[test]
    fn parse_record_survives_rows_from_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(row) = serde_json::from_slice::<Map<String, Value>>(&bytes) {
            check_row(&row, 2);
        }
    }

    #[test]
    fn label_validation_survives_arbitrary_json(value in json_value(), k in 0usize..5, asked in any::<[bool; 6]>()) {
        check_labels_json(value, k, questions(asked));
    }

    #[test]
    fn label_validation_survives_mutated_labels(
        mutations in prop::collection::vec(mutation(), 1..5),
        k in 0usize..5,
        asked in any::<[bool; 6]>(),
    ) {
        let mut labels = generic_row()["gold"].as_object().unwrap().clone();
        for m in mutations {
            apply(&mut labels, m);
        }
        check_labels_json(Value::Object(labels), k, questions(asked));
    }

    #[test]
    fn label_validation_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256), k in 0usize..5) {
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
            check_labels_json(value, k, Questions::default());
        }
    }
}

fn questions(asked: [bool; 6]) -> Questions {
    let [
        safety,
        helpfulness,
        harmlessness,
        overall,
        confidence,
        comment,
    ] = asked;
    Questions {
        safety,
        helpfulness,
        harmlessness,
        overall,
        confidence,
        comment,
    }
}

/// Deserialises as the API does, then validates: no panic, and every broken
/// rule names a field of the labels object.
fn check_labels_json(value: Value, k: usize, questions: Questions) {
    let Ok(labels) = serde_json::from_value::<Labels>(value) else {
        return;
    };
    for taxonomy in [Taxonomy::pku19(), Taxonomy::beavertails14()] {
        if let Err(errors) = labels::validate(&labels, k, &taxonomy, &questions) {
            assert!(!errors.is_empty());
            for e in errors {
                let known = [
                    "responses",
                    "helpfulness",
                    "harmlessness",
                    "overall",
                    "confidence",
                    "comment",
                ];
                assert!(
                    known.iter().any(|f| e.field.starts_with(f)) && !e.message.trim().is_empty(),
                    "an error names its field: {e:?} for {labels:?}"
                );
            }
        }
    }
}
