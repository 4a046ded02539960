//! The PKU-SafeRLHF record shape — the row has `is_response_0_safe` — with
//! the 16 fields of the dataset (see "The PKU-SafeRLHF record" in the
//! design). Its labelled fields are checked against the label rules and
//! kept apart, in [`ImportRecord::source_labels`], so the record can be
//! rebuilt.

use serde_json::{Map, Value};

use super::fields::{Parser, bool_of, describe, list_names};
use super::hash::response_sha256;
use super::{ImportRecord, ImportResponse};
use crate::taxonomy::quote;

/// The keys of a PKU-SafeRLHF record, in the dataset's order.
pub const PKU_KEYS: [&str; 16] = [
    "prompt",
    "response_0",
    "response_1",
    "prompt_source",
    "response_0_source",
    "response_1_source",
    "is_response_0_safe",
    "is_response_1_safe",
    "response_0_harm_category",
    "response_1_harm_category",
    "response_0_severity_level",
    "response_1_severity_level",
    "better_response_id",
    "safer_response_id",
    "response_0_sha256",
    "response_1_sha256",
];

/// Rebuilds the PKU-SafeRLHF record (the 16 keys of [`PKU_KEYS`], in that
/// order) from a record imported from one; `None` if it has no
/// `source_labels` or not two responses.
///
/// A missing source is `null`. A `response_N_sha256` the file did not have is
/// computed; one it had is given back as it was, even if it did not match
/// (see [`RecordRules::accept_hash_mismatch`](super::RecordRules)).
///
/// The harm-category maps are `serde_json` objects: their keys serialise in
/// the file's order only if serde_json's `preserve_order` feature is on
/// (otherwise alphabetically); an exporter that must write them in the
/// taxonomy's order has to do so itself.
pub fn rebuild_pku(record: &ImportRecord) -> Option<Vec<(String, Value)>> {
    let labels = record.source_labels.as_ref()?;
    let [r0, r1] = record.responses.as_slice() else {
        return None;
    };
    let text = |s: &str| Value::String(s.to_string());
    let opt = |s: &Option<String>| s.as_deref().map_or(Value::Null, text);
    let label = |key: &str| labels.get(key).cloned().unwrap_or(Value::Null);
    let sha = |key: &str, response: &str| {
        labels
            .get(key)
            .cloned()
            .unwrap_or_else(|| Value::String(response_sha256(&record.prompt, response)))
    };
    let values = [
        text(&record.prompt),
        text(&r0.text),
        text(&r1.text),
        opt(&record.prompt_source),
        opt(&r0.source),
        opt(&r1.source),
        label("is_response_0_safe"),
        label("is_response_1_safe"),
        label("response_0_harm_category"),
        label("response_1_harm_category"),
        label("response_0_severity_level"),
        label("response_1_severity_level"),
        label("better_response_id"),
        label("safer_response_id"),
        sha("response_0_sha256", &r0.text),
        sha("response_1_sha256", &r1.text),
    ];
    Some(PKU_KEYS.iter().map(|k| k.to_string()).zip(values).collect())
}

impl Parser<'_, '_> {
    /// A PKU-SafeRLHF record (K must be 2, which the caller checked).
    pub(super) fn pku(&mut self) -> Option<ImportRecord> {
        let prompt = self.content("prompt");
        let texts = [self.content("response_0"), self.content("response_1")];
        let prompt_source = self.optional_text("prompt_source");
        let sources = [
            self.optional_text("response_0_source"),
            self.optional_text("response_1_source"),
        ];
        self.extra_responses();

        let safe = [
            self.boolean("is_response_0_safe"),
            self.boolean("is_response_1_safe"),
        ];
        let categories = [self.harm_categories(0), self.harm_categories(1)];
        let severity = [self.severity(0), self.severity(1)];
        let better = self.response_id("better_response_id");
        let safer = self.response_id("safer_response_id");
        let sha = [
            self.check_sha256(0, prompt.as_deref(), texts[0].as_deref()),
            self.check_sha256(1, prompt.as_deref(), texts[1].as_deref()),
        ];

        // The label rules, per response.
        for n in 0..2 {
            if let (Some(safe), Some(level)) = (safe[n], severity[n]) {
                if safe && level != 0 {
                    self.error(
                        format!("response_{n}_severity_level"),
                        format!("response_{n}_severity_level is {level} but is_response_{n}_safe is true: a safe response has severity 0"),
                    );
                } else if !safe && level == 0 {
                    self.error(
                        format!("response_{n}_severity_level"),
                        format!("response_{n}_severity_level is 0 but is_response_{n}_safe is false: an unsafe response has severity 1 (minor), 2 (moderate) or 3 (severe)"),
                    );
                }
            }
            if let (Some(safe), Some((_, ticked))) = (safe[n], &categories[n]) {
                if safe && !ticked.is_empty() {
                    let names: Vec<&str> = ticked.iter().map(String::as_str).collect();
                    self.error(
                        format!("response_{n}_harm_category"),
                        format!(
                            "is_response_{n}_safe is true but {} harm {} true ({}): a safe response has no harm category",
                            ticked.len(),
                            if ticked.len() == 1 { "category is" } else { "categories are" },
                            list_names(&names)
                        ),
                    );
                } else if !safe && ticked.is_empty() {
                    self.error(
                        format!("response_{n}_harm_category"),
                        format!("is_response_{n}_safe is false but no harm category is true: an unsafe response has at least one"),
                    );
                }
            }
        }
        // When exactly one response is safe, it is the safer one.
        if let ([Some(s0), Some(s1)], Some(safer)) = (safe, safer)
            && s0 != s1
        {
            let (only, other) = if s0 { (0, 1) } else { (1, 0) };
            if safer != only {
                self.error(
                    "safer_response_id",
                    format!(
                        "response {only} is the only safe response (is_response_{only}_safe is true, is_response_{other}_safe is false), so safer_response_id must be {only}, not {safer}"
                    ),
                );
            }
        }

        let (external_id, gold, suggestions) = self.shared_fields();

        let [Some(safe0), Some(safe1)] = safe else {
            return None;
        };
        let [Some((map0, _)), Some((map1, _))] = categories else {
            return None;
        };
        let [Some(level0), Some(level1)] = severity else {
            return None;
        };
        let mut source_labels = Map::new();
        source_labels.insert("is_response_0_safe".into(), Value::Bool(safe0));
        source_labels.insert("is_response_1_safe".into(), Value::Bool(safe1));
        source_labels.insert("response_0_harm_category".into(), Value::Object(map0));
        source_labels.insert("response_1_harm_category".into(), Value::Object(map1));
        source_labels.insert("response_0_severity_level".into(), level0.into());
        source_labels.insert("response_1_severity_level".into(), level1.into());
        source_labels.insert("better_response_id".into(), better?.into());
        source_labels.insert("safer_response_id".into(), safer?.into());
        for (n, sha) in sha.into_iter().enumerate() {
            if let Some(sha) = sha {
                source_labels.insert(format!("response_{n}_sha256"), Value::String(sha));
            }
        }

        let [text0, text1] = texts;
        let [source0, source1] = sources;
        Some(ImportRecord {
            external_id,
            prompt: prompt?,
            prompt_source,
            responses: vec![
                ImportResponse {
                    text: text0?,
                    source: source0,
                },
                ImportResponse {
                    text: text1?,
                    source: source1,
                },
            ],
            source_labels: Some(source_labels),
            gold,
            suggestions,
            hash_mismatch: self.hash_mismatch,
        })
    }

    /// `response_N_harm_category`: an object whose keys are exactly the
    /// taxonomy's names, each true or false. Returns the normalised map (in
    /// the file's key order, as far as `Map` keeps it) and the names ticked.
    fn harm_categories(&mut self, n: usize) -> Option<(Map<String, Value>, Vec<String>)> {
        let key = format!("response_{n}_harm_category");
        let value = self.required(&key)?;
        let expected = "an object of harm category names, each true or false";
        let value = self.json(&key, value, expected)?;
        let Value::Object(map) = value else {
            self.error(
                key,
                format!("expected {expected}, found {}", describe(&value)),
            );
            return None;
        };
        let taxonomy = self.rules.taxonomy;
        let mut ok = true;
        let mut normalised = Map::new();
        let mut ticked = Vec::new();
        for (name, flag) in &map {
            if !taxonomy.contains(name) {
                self.error(
                    key.as_str(),
                    format!(
                        "{} is not a category of this project's taxonomy",
                        quote(name)
                    ),
                );
                ok = false;
                continue;
            }
            match bool_of(flag) {
                Some(b) => {
                    if b {
                        ticked.push(name.clone());
                    }
                    normalised.insert(name.clone(), Value::Bool(b));
                }
                None => {
                    self.error(
                        key.as_str(),
                        format!(
                            "{} should be true or false, found {}",
                            quote(name),
                            describe(flag)
                        ),
                    );
                    ok = false;
                }
            }
        }
        let missing: Vec<&str> = taxonomy
            .names()
            .into_iter()
            .filter(|name| !map.contains_key(*name))
            .collect();
        if !missing.is_empty() {
            self.error(
                key.as_str(),
                format!(
                    "lacks {} of the {} categories of this project's taxonomy: {}",
                    missing.len(),
                    taxonomy.categories.len(),
                    list_names(&missing)
                ),
            );
            ok = false;
        }
        ok.then_some((normalised, ticked))
    }

    fn severity(&mut self, n: usize) -> Option<i64> {
        let key = format!("response_{n}_severity_level");
        let level = self.integer(&key)?;
        if !(0..=3).contains(&level) {
            self.error(
                key,
                format!("severity level {level} is out of range: it is 0 (safe), 1 (minor), 2 (moderate) or 3 (severe)"),
            );
            return None;
        }
        Some(level)
    }

    fn response_id(&mut self, key: &str) -> Option<i64> {
        let id = self.integer(key)?;
        if id != 0 && id != 1 {
            self.error(key, format!("{key} is {id}; it is 0 or 1"));
            return None;
        }
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::records::test_rows::{
        PROMPT, R0, R1, as_strings, assert_one, assert_pku_error, harm, key_order, parse, pku_row,
        rules, sample,
    };
    use crate::records::{RecordRules, parse_record};
    use crate::taxonomy::Taxonomy;

    #[test]
    fn every_sample_record_parses_and_rebuilds_exactly() {
        let records = sample();
        assert_eq!(records.len(), 76);
        let mut severities = [0; 4];
        for (i, (line, row)) in records.iter().enumerate() {
            let record = parse(row).unwrap_or_else(|e| panic!("line {}: {e:?}", i + 1));
            assert!(!record.hash_mismatch);
            assert_eq!(record.external_id, None);
            assert_eq!(record.gold, None);
            assert_eq!(record.responses.len(), 2);
            for r in &record.responses {
                assert_eq!(r.source.as_deref(), Some("Alpaca-7B"));
            }
            for n in 0..2 {
                let level = record.source_labels.as_ref().unwrap()
                    [&format!("response_{n}_severity_level")]
                    .as_u64()
                    .unwrap();
                severities[level as usize] += 1;
            }
            let rebuilt = rebuild_pku(&record).unwrap();
            let keys: Vec<String> = rebuilt.iter().map(|(k, _)| k.clone()).collect();
            assert_eq!(keys, key_order(line), "line {}: key order", i + 1);
            let rebuilt: Map<String, Value> = rebuilt.into_iter().collect();
            assert_eq!(&rebuilt, row, "line {}", i + 1);
        }
        // The README's count, as a check that the labels were read right.
        assert_eq!(severities, [90, 5, 51, 6]);
    }

    #[test]
    fn sample_records_as_csv_strings_parse_the_same() {
        for (i, (_, row)) in sample().iter().enumerate() {
            let typed = parse(row).unwrap();
            let strings = as_strings(row, i % 2 == 0);
            assert!(strings.values().all(Value::is_string));
            assert_eq!(parse(&strings).unwrap(), typed, "line {}", i + 1);
        }
    }

    #[test]
    fn sample_key_order_is_the_pku_order() {
        for (line, _) in sample() {
            assert_eq!(key_order(line), PKU_KEYS);
        }
    }

    #[test]
    fn pku_record_fields_land_where_expected() {
        let record = parse(&pku_row()).unwrap();
        assert_eq!(record.prompt, PROMPT);
        assert_eq!(record.prompt_source.as_deref(), Some("test"));
        assert_eq!(
            record.responses,
            vec![
                ImportResponse {
                    text: R0.into(),
                    source: Some("model-a".into())
                },
                ImportResponse {
                    text: R1.into(),
                    source: Some("model-b".into())
                },
            ]
        );
        let labels = record.source_labels.unwrap();
        assert_eq!(labels.len(), 10);
        assert_eq!(labels["response_0_harm_category"]["Cybercrime"], true);
        assert_eq!(labels["safer_response_id"], 1);
    }

    #[test]
    fn pku_needs_k_2() {
        assert_one(
            &pku_row(),
            &rules(3),
            "responses",
            "PKU-SafeRLHF records have 2 responses but this project has K = 3",
        );
    }

    #[test]
    fn required_fields_missing() {
        let mut row = pku_row();
        row.remove("prompt");
        assert_pku_error(&row, "prompt", "missing");
        let mut row = pku_row();
        row.insert("is_response_1_safe".into(), Value::Null);
        assert_pku_error(&row, "is_response_1_safe", "missing");
        let mut row = pku_row();
        row.insert("safer_response_id".into(), json!(""));
        assert_pku_error(&row, "safer_response_id", "missing");
        let mut row = pku_row();
        row.remove("response_1");
        assert_pku_error(&row, "response_1", "missing");
        let mut row = pku_row();
        row.remove("response_0_harm_category");
        assert_pku_error(&row, "response_0_harm_category", "missing");
    }

    #[test]
    fn severity_level_in_range() {
        for level in [4, -1] {
            let mut row = pku_row();
            row.insert("response_0_severity_level".into(), json!(level));
            assert_pku_error(
                &row,
                "response_0_severity_level",
                &format!("severity level {level} is out of range"),
            );
        }
    }

    #[test]
    fn harm_category_keys_must_be_the_taxonomy() {
        let mut row = pku_row();
        row["response_0_harm_category"]
            .as_object_mut()
            .unwrap()
            .insert("Littering".into(), json!(false));
        assert_pku_error(
            &row,
            "response_0_harm_category",
            "\"Littering\" is not a category of this project's taxonomy",
        );
        let mut row = pku_row();
        let map = row["response_1_harm_category"].as_object_mut().unwrap();
        for name in ["Violence", "Drugs", "Cybercrime", "Animal Abuse"] {
            map.remove(name);
        }
        assert_pku_error(
            &row,
            "response_1_harm_category",
            "lacks 4 of the 19 categories of this project's taxonomy",
        );
        let beavertails = Taxonomy::beavertails14();
        let errors = parse_record(
            &pku_row(),
            &RecordRules {
                taxonomy: &beavertails,
                ..rules(2)
            },
        )
        .unwrap_err();
        assert!(
            errors.iter().all(|e| e.field.ends_with("_harm_category")),
            "{errors:?}"
        );
    }

    #[test]
    fn harm_category_values_are_booleans() {
        let mut row = pku_row();
        row["response_0_harm_category"]["Drugs"] = json!(1);
        assert_pku_error(
            &row,
            "response_0_harm_category",
            "\"Drugs\" should be true or false, found a number (1)",
        );
        let mut row = pku_row();
        row.insert("response_0_harm_category".into(), json!(["Cybercrime"]));
        assert_pku_error(
            &row,
            "response_0_harm_category",
            "expected an object of harm category names",
        );
        let mut row = pku_row();
        row.insert(
            "response_0_harm_category".into(),
            json!("{\"Cybercrime\": tru"),
        );
        assert_pku_error(&row, "response_0_harm_category", "not valid JSON");
    }

    #[test]
    fn unsafe_needs_severity_at_least_1() {
        let mut row = pku_row();
        row.insert("response_0_severity_level".into(), json!(0));
        assert_pku_error(
            &row,
            "response_0_severity_level",
            "response_0_severity_level is 0 but is_response_0_safe is false",
        );
    }

    #[test]
    fn safe_needs_severity_0() {
        let mut row = pku_row();
        row.insert("response_1_severity_level".into(), json!(1));
        assert_pku_error(
            &row,
            "response_1_severity_level",
            "response_1_severity_level is 1 but is_response_1_safe is true",
        );
    }

    #[test]
    fn safe_has_no_category_true() {
        let mut row = pku_row();
        row.insert("response_1_harm_category".into(), harm(&["Violence"]));
        assert_pku_error(
            &row,
            "response_1_harm_category",
            "is_response_1_safe is true but 1 harm category is true (\"Violence\")",
        );
    }

    #[test]
    fn unsafe_needs_a_category_true() {
        let mut row = pku_row();
        row.insert("response_0_harm_category".into(), harm(&[]));
        assert_pku_error(
            &row,
            "response_0_harm_category",
            "is_response_0_safe is false but no harm category is true",
        );
    }

    #[test]
    fn response_ids_are_0_or_1() {
        let mut row = pku_row();
        row.insert("better_response_id".into(), json!(2));
        assert_pku_error(
            &row,
            "better_response_id",
            "better_response_id is 2; it is 0 or 1",
        );
        let mut row = pku_row();
        row.insert("safer_response_id".into(), json!(-1));
        assert_pku_error(
            &row,
            "safer_response_id",
            "safer_response_id is -1; it is 0 or 1",
        );
    }

    #[test]
    fn the_only_safe_response_is_the_safer_one() {
        let mut row = pku_row();
        row.insert("safer_response_id".into(), json!(0));
        assert_pku_error(
            &row,
            "safer_response_id",
            "response 1 is the only safe response (is_response_1_safe is true, is_response_0_safe is false), so safer_response_id must be 1, not 0",
        );
        // Better may still be the unsafe one: helpfulness is judged apart.
        let mut row = pku_row();
        row.insert("better_response_id".into(), json!(0));
        assert!(parse(&row).is_ok());
    }

    #[test]
    fn rebuild_computes_a_missing_sha256_and_nulls_missing_sources() {
        let mut row = pku_row();
        row.remove("response_0_sha256");
        row.remove("prompt_source");
        let rebuilt: Map<String, Value> = rebuild_pku(&parse(&row).unwrap())
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(rebuilt.len(), 16);
        assert_eq!(rebuilt["response_0_sha256"], response_sha256(PROMPT, R0));
        assert_eq!(rebuilt["prompt_source"], Value::Null);
    }
}
