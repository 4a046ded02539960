//! Input records: turning one row of an import file (a JSON object, as the
//! importer's readers produce it from JSONL, CSV or Parquet) into a validated
//! [`ImportRecord`], and rebuilding the PKU-SafeRLHF record from it.
//!
//! Two shapes are read:
//!
//! - **PKU-SafeRLHF** — the row has `is_response_0_safe`. The 16 fields of
//!   the dataset as published (see `pku.rs`); the labelled
//!   ones are checked against the label rules and kept apart, in
//!   [`ImportRecord::source_labels`], so the record can be rebuilt.
//! - **Generic** — `prompt` and either `responses` (a list of strings) or
//!   `response_0` … `response_{K-1}`; optionally `id`, `prompt_source`,
//!   `response_N_source`, `response_N_sha256` and `gold` (a labels object).
//!
//! Values may come typed (JSON, Parquet) or as strings (CSV): see
//! [`parse_record`] for what is accepted.
//!
//! The files: `fields` (the parser and its typed readers), `pku` and
//! `generic` (the two shapes), `shared_fields` (`id`, `gold`,
//! `suggestions`), `hash` (the dataset's sha256 rule and the content hash);
//! the tests also have `test_rows`.

mod fields;
mod generic;
mod hash;
mod pku;
mod shared_fields;
#[cfg(test)]
mod test_rows;

use std::fmt;

use serde_json::{Map, Value};

pub use hash::{content_hash, response_sha256};
pub use pku::{PKU_KEYS, rebuild_pku};

use crate::labels::{Labels, Questions};
use crate::suggestions::Suggestion;
use crate::taxonomy::Taxonomy;
use fields::Parser;

/// What a project expects of the records imported into it.
#[derive(Debug, Clone, Copy)]
pub struct RecordRules<'a> {
    /// Responses per item (the project's K).
    pub k: usize,
    pub taxonomy: &'a Taxonomy,
    /// For checking `gold` labels.
    pub questions: &'a Questions,
    /// Let empty or whitespace-only prompts and responses through.
    pub allow_empty: bool,
    /// A stored `response_N_sha256` that does not match is not an error; the
    /// record is flagged with [`ImportRecord::hash_mismatch`] instead.
    pub accept_hash_mismatch: bool,
}

/// One record, checked and ready to store as an item.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRecord {
    pub external_id: Option<String>,
    pub prompt: String,
    pub prompt_source: Option<String>,
    /// Exactly K, in position order.
    pub responses: Vec<ImportResponse>,
    /// PKU records: the labelled fields exactly as in the file
    /// (is_response_N_safe, response_N_harm_category,
    /// response_N_severity_level, better_response_id, safer_response_id,
    /// response_N_sha256), kept apart from human labels, so the source record
    /// can be rebuilt losslessly. Values are normalised to their JSON types
    /// (a CSV's `"True"` is stored as `true`, `"2"` as `2`, a harm-category
    /// map given as a JSON string as the object it holds).
    pub source_labels: Option<Map<String, Value>>,
    pub gold: Option<Labels>,
    /// Machine suggestions (the `suggestions` field), at most one per source.
    pub suggestions: Vec<Suggestion>,
    /// True when a stored response_N_sha256 did not match and
    /// accept_hash_mismatch let it through.
    pub hash_mismatch: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportResponse {
    pub text: String,
    pub source: Option<String>,
}

/// One problem with one field of a record. Display is `{field}: {message}`,
/// except that a message which already starts with the field's name (as
/// "response_1_severity_level is 0 but is_response_1_safe is false" does) is
/// shown alone rather than with the name twice. The importer prefixes the
/// file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names_itself = self
            .message
            .strip_prefix(self.field.as_str())
            .is_some_and(|rest| rest.starts_with(' '));
        if names_itself {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// Turns one input row into a checked record, or lists everything wrong
/// with it.
///
/// What is accepted, for values that may come typed (JSON, Parquet) or as
/// strings (CSV):
///
/// - booleans: `true`/`false`, or the strings `true`, `True`, `TRUE`,
///   `false`, `False`, `FALSE`;
/// - integers: a JSON integer, or a string holding one (`"2"`); not `2.0`;
/// - `responses`, `gold`, `response_N_harm_category`: the JSON value, or a
///   string holding it as JSON;
/// - `id`: a string or an integer (made a string);
/// - an optional field that is null or an empty string is absent.
///
/// Keys not listed in the module documentation are ignored, except
/// `response_N…` keys for N ≥ K, which are an error (the file has more
/// responses than the project).
pub fn parse_record(
    row: &Map<String, Value>,
    rules: &RecordRules,
) -> Result<ImportRecord, Vec<FieldError>> {
    let mut p = Parser {
        row,
        rules,
        errors: Vec::new(),
        hash_mismatch: false,
    };
    let record = if row.contains_key("is_response_0_safe") {
        if rules.k != 2 {
            return Err(vec![FieldError::new(
                "responses",
                format!(
                    "PKU-SafeRLHF records have 2 responses but this project has K = {}",
                    rules.k
                ),
            )]);
        }
        p.pku()
    } else {
        p.generic()
    };
    match record {
        Some(record) if p.errors.is_empty() => Ok(record),
        _ => Err(p.errors),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::test_rows::{parse, pku_row};
    use super::*;

    #[test]
    fn all_errors_of_a_record_are_collected() {
        let mut row = pku_row();
        row.remove("prompt");
        row.insert("response_0_severity_level".into(), json!(0));
        row.insert("better_response_id".into(), json!(5));
        let fields: Vec<String> = parse(&row)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["prompt", "better_response_id", "response_0_severity_level"]
        );
    }

    #[test]
    fn field_error_display() {
        let e = FieldError::new("response_1_sha256", "stored a but b");
        assert_eq!(e.to_string(), "response_1_sha256: stored a but b");
        // A message that names its field is not prefixed with it again.
        let mut row = pku_row();
        row.insert("response_1_severity_level".into(), json!(2));
        let errors = parse(&row).unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "response_1_severity_level is 2 but is_response_1_safe is true: a safe response has severity 0"
        );
        let e = FieldError::new("prompt", "prompts are odd");
        assert_eq!(e.to_string(), "prompt: prompts are odd");
    }
}
