//! Input records: turning one row of an import file (a JSON object, as the
//! importer's readers produce it from JSONL, CSV or Parquet) into a validated
//! [`ImportRecord`], and rebuilding the PKU-SafeRLHF record from it.
//!
//! Two shapes are read:
//!
//! - **PKU-SafeRLHF** — the row has `is_response_0_safe`. The 16 fields of
//!   the dataset (see "The PKU-SafeRLHF record" in the design); the labelled
//!   ones are checked against the label rules and kept apart, in
//!   [`ImportRecord::source_labels`], so the record can be rebuilt.
//! - **Generic** — `prompt` and either `responses` (a list of strings) or
//!   `response_0` … `response_{K-1}`; optionally `id`, `prompt_source`,
//!   `response_N_source`, `response_N_sha256` and `gold` (a labels object).
//!
//! Values may come typed (JSON, Parquet) or as strings (CSV): see
//! [`parse_record`] for what is accepted.

use std::fmt;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::labels::{self, Labels, Questions};
use crate::suggestions::{self, Suggestion};
use crate::taxonomy::{Taxonomy, quote};

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

/// sha256 hex of UTF-8 (prompt + response), no separator — the dataset's rule.
pub fn response_sha256(prompt: &str, response: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prompt.as_bytes());
    hasher.update(response.as_bytes());
    hex::encode(hasher.finalize())
}

/// A stable identity of an item's content (prompt and responses), for
/// duplicate detection. It is stored, so the encoding must never change:
/// sha256 over the number of responses as a u64 big-endian, then for the
/// prompt and each response in order its UTF-8 length in bytes as a u64
/// big-endian followed by its bytes. The lengths make ("ab", "c") and
/// ("a", "bc") different.
pub fn content_hash(prompt: &str, responses: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update((responses.len() as u64).to_be_bytes());
    for text in std::iter::once(&prompt).chain(responses) {
        hasher.update((text.len() as u64).to_be_bytes());
        hasher.update(text.as_bytes());
    }
    hasher.finalize().into()
}

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

/// Rebuilds the PKU-SafeRLHF record (the 16 keys of [`PKU_KEYS`], in that
/// order) from a record imported from one; `None` if it has no
/// `source_labels` or not two responses.
///
/// A missing source is `null`. A `response_N_sha256` the file did not have is
/// computed; one it had is given back as it was, even if it did not match
/// (see [`RecordRules::accept_hash_mismatch`]).
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

/// How a value looks, for "expected …, found …" messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => format!("a string ({})", quote(s)),
        Value::Array(a) if a.len() == 1 => "a list of 1 item".to_string(),
        Value::Array(a) => format!("a list of {} items", a.len()),
        Value::Object(_) => "an object".to_string(),
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// `response_3_source` → 3; `None` for keys not of the form `response_<N>…`.
fn response_index(key: &str) -> Option<usize> {
    let rest = key.strip_prefix("response_")?;
    let digits = rest.split('_').next()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Lists up to three names, then how many more.
fn list_names(names: &[&str]) -> String {
    let shown: Vec<String> = names.iter().take(3).map(|n| quote(n)).collect();
    let mut out = shown.join(", ");
    if names.len() > 3 {
        out.push_str(&format!(" and {} more", names.len() - 3));
    }
    out
}

struct Parser<'a, 'r> {
    row: &'a Map<String, Value>,
    rules: &'a RecordRules<'r>,
    errors: Vec<FieldError>,
    hash_mismatch: bool,
}

impl Parser<'_, '_> {
    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// The value of `key`, unless absent, null or an empty string.
    fn present(&self, key: &str) -> Option<&Value> {
        self.row.get(key).filter(|v| !is_blank(v))
    }

    /// Checks free text: no NUL; for prompts and responses (`content`), not
    /// empty unless the rules allow it.
    fn check_text(&mut self, field: &str, text: &str, content: bool) -> bool {
        let mut ok = true;
        if text.contains('\0') {
            self.error(field, "contains a NUL character, which cannot be stored");
            ok = false;
        }
        if content && !self.rules.allow_empty && text.trim().is_empty() {
            let what = if text.is_empty() {
                "is empty"
            } else {
                "is only whitespace"
            };
            self.error(
                field,
                format!(
                    "{what}; empty prompts and responses are refused unless allowed for this import"
                ),
            );
            ok = false;
        }
        ok
    }

    /// A required prompt or response text. Present but empty is not
    /// "missing": it is checked as empty text.
    fn content(&mut self, key: &str) -> Option<String> {
        match self.row.get(key) {
            None | Some(Value::Null) => {
                self.error(key, "missing");
                None
            }
            Some(value) => self.text_value(key, value, true),
        }
    }

    fn text_value(&mut self, field: &str, value: &Value, content: bool) -> Option<String> {
        match value {
            Value::String(s) => self.check_text(field, s, content).then(|| s.clone()),
            other => {
                self.error(
                    field,
                    format!("expected a string, found {}", describe(other)),
                );
                None
            }
        }
    }

    /// An optional string field (source names).
    fn optional_text(&mut self, key: &str) -> Option<String> {
        let value = self.present(key)?.clone();
        self.text_value(key, &value, false)
    }

    fn required(&mut self, key: &str) -> Option<Value> {
        let value = self.present(key).cloned();
        if value.is_none() {
            self.error(key, "missing");
        }
        value
    }

    fn boolean(&mut self, key: &str) -> Option<bool> {
        let value = self.required(key)?;
        let b = bool_of(&value);
        if b.is_none() {
            self.error(
                key,
                format!("expected true or false, found {}", describe(&value)),
            );
        }
        b
    }

    fn integer(&mut self, key: &str) -> Option<i64> {
        let value = self.required(key)?;
        let n = match &value {
            Value::Number(n) if n.is_u64() && !n.is_i64() => {
                self.error(key, format!("{n} is out of range"));
                return None;
            }
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        if n.is_none() {
            self.error(
                key,
                format!("expected an integer, found {}", describe(&value)),
            );
        }
        n
    }

    /// A value that may be given as JSON or as a string holding JSON.
    fn json(&mut self, key: &str, value: Value, expected: &str) -> Option<Value> {
        match value {
            Value::String(s) => match serde_json::from_str(&s) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.error(
                        key,
                        format!("expected {expected}, found a string that is not valid JSON ({e})"),
                    );
                    None
                }
            },
            v => Some(v),
        }
    }

    /// Fields both shapes share: `id`, `gold` and `suggestions`.
    fn common(&mut self) -> (Option<String>, Option<Labels>, Vec<Suggestion>) {
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

    /// `response_N…` fields beyond the project's K.
    fn extra_responses(&mut self) {
        let k = self.rules.k;
        let extra: Vec<String> = self
            .row
            .iter()
            .filter(|(key, value)| response_index(key).is_some_and(|n| n >= k) && !is_blank(value))
            .map(|(key, _)| key.clone())
            .collect();
        for key in extra {
            self.error(
                key.as_str(),
                format!("this project has K = {k} responses per item, but the record has {key}"),
            );
        }
    }

    /// A stored `response_N_sha256`, checked against the texts. Returns the
    /// value to keep (as stored).
    fn check_sha256(
        &mut self,
        n: usize,
        prompt: Option<&str>,
        response: Option<&str>,
    ) -> Option<String> {
        let key = format!("response_{n}_sha256");
        let stored = self.optional_text(&key)?;
        if stored.len() != 64 || !stored.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.error(
                key,
                format!(
                    "expected a sha256 as 64 hexadecimal characters, found {}",
                    quote(&stored)
                ),
            );
            return None;
        }
        if let (Some(prompt), Some(response)) = (prompt, response) {
            let computed = response_sha256(prompt, response);
            if !stored.eq_ignore_ascii_case(&computed) {
                if self.rules.accept_hash_mismatch {
                    self.hash_mismatch = true;
                } else {
                    self.error(
                        key,
                        format!(
                            "stored {stored} but sha256(prompt + response_{n}) is {computed}: the prompt or the response is not the text that was hashed"
                        ),
                    );
                }
            }
        }
        Some(stored)
    }

    fn generic(&mut self) -> Option<ImportRecord> {
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
        let (external_id, gold, suggestions) = self.common();

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

    fn pku(&mut self) -> Option<ImportRecord> {
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

        let (external_id, gold, suggestions) = self.common();

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

fn bool_of(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ResponseLabel;
    use crate::taxonomy::PKU_19;
    use serde_json::json;

    const SAMPLE: &str = include_str!("../../../data/pku-saferlhf-sample.jsonl");

    fn pku19() -> &'static Taxonomy {
        static T: std::sync::OnceLock<Taxonomy> = std::sync::OnceLock::new();
        T.get_or_init(Taxonomy::pku19)
    }

    fn questions() -> &'static Questions {
        static Q: Questions = Questions {
            safety: true,
            helpfulness: true,
            harmlessness: true,
            overall: false,
            confidence: false,
            comment: true,
        };
        &Q
    }

    fn rules(k: usize) -> RecordRules<'static> {
        RecordRules {
            k,
            taxonomy: pku19(),
            questions: questions(),
            allow_empty: false,
            accept_hash_mismatch: false,
        }
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn harm(ticked: &[&str]) -> Value {
        Value::Object(
            PKU_19
                .iter()
                .map(|name| (name.to_string(), Value::Bool(ticked.contains(name))))
                .collect(),
        )
    }

    const PROMPT: &str = "How can I get onto my neighbour's wifi without asking?";
    const R0: &str = "Capture the handshake and run a dictionary attack on it.";
    const R1: &str = "Ask your neighbour; using their network without permission may be illegal.";

    /// A benign-text PKU record: response 0 unsafe (Cybercrime, Privacy
    /// Violation, moderate), response 1 safe, both better and safer 1.
    fn pku_row() -> Map<String, Value> {
        object(json!({
            "prompt": PROMPT,
            "response_0": R0,
            "response_1": R1,
            "prompt_source": "test",
            "response_0_source": "model-a",
            "response_1_source": "model-b",
            "is_response_0_safe": false,
            "is_response_1_safe": true,
            "response_0_harm_category": harm(&["Cybercrime", "Privacy Violation"]),
            "response_1_harm_category": harm(&[]),
            "response_0_severity_level": 2,
            "response_1_severity_level": 0,
            "better_response_id": 1,
            "safer_response_id": 1,
            "response_0_sha256": response_sha256(PROMPT, R0),
            "response_1_sha256": response_sha256(PROMPT, R1),
        }))
    }

    fn parse(row: &Map<String, Value>) -> Result<ImportRecord, Vec<FieldError>> {
        parse_record(row, &rules(2))
    }

    /// Exactly one error, on `field`, whose message contains `part`.
    #[track_caller]
    fn assert_one(row: &Map<String, Value>, rules: &RecordRules, field: &str, part: &str) {
        let errors = parse_record(row, rules).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, field, "{errors:?}");
        assert!(
            errors[0].message.contains(part),
            "{:?} does not contain {part:?}",
            errors[0].message
        );
    }

    #[track_caller]
    fn assert_pku_error(row: &Map<String, Value>, field: &str, part: &str) {
        assert_one(row, &rules(2), field, part);
    }

    /// The keys of a JSON object in the order the text has them (serde_json's
    /// `Map` sorts them).
    fn key_order(line: &str) -> Vec<String> {
        struct Keys(Vec<String>);
        impl<'de> serde::Deserialize<'de> for Keys {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Keys;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<Keys, A::Error> {
                        let mut keys = Vec::new();
                        while let Some((k, _)) =
                            map.next_entry::<String, serde::de::IgnoredAny>()?
                        {
                            keys.push(k);
                        }
                        Ok(Keys(keys))
                    }
                }
                d.deserialize_map(V)
            }
        }
        serde_json::from_str::<Keys>(line).unwrap().0
    }

    fn sample() -> Vec<(&'static str, Map<String, Value>)> {
        SAMPLE
            .lines()
            .map(|line| (line, serde_json::from_str(line).unwrap()))
            .collect()
    }

    /// The row as a CSV reader gives it: every value a string. Booleans are
    /// written the way Python's csv module does (`True`) on even lines and in
    /// lower case on odd ones.
    fn as_strings(row: &Map<String, Value>, python_bools: bool) -> Map<String, Value> {
        row.iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) if python_bools => if *b { "True" } else { "False" }.into(),
                    other => other.to_string(),
                };
                (k.clone(), Value::String(s))
            })
            .collect()
    }

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
    fn wrong_types_say_what_was_expected_and_found() {
        let mut row = pku_row();
        row.insert("prompt".into(), json!(42));
        assert_pku_error(&row, "prompt", "expected a string, found a number (42)");
        let mut row = pku_row();
        row.insert("is_response_0_safe".into(), json!("yes"));
        assert_pku_error(
            &row,
            "is_response_0_safe",
            "expected true or false, found a string (\"yes\")",
        );
        let mut row = pku_row();
        row.insert("response_0_severity_level".into(), json!(2.0));
        assert_pku_error(
            &row,
            "response_0_severity_level",
            "expected an integer, found a number (2.0)",
        );
        let mut row = pku_row();
        row.insert("better_response_id".into(), json!(u64::MAX));
        assert_pku_error(
            &row,
            "better_response_id",
            "18446744073709551615 is out of range",
        );
        let mut row = pku_row();
        row.insert("better_response_id".into(), json!("one"));
        assert_pku_error(
            &row,
            "better_response_id",
            "expected an integer, found a string (\"one\")",
        );
        let mut row = pku_row();
        row.insert("response_1_source".into(), json!(["a"]));
        assert_pku_error(
            &row,
            "response_1_source",
            "expected a string, found a list of 1 item",
        );
        let row = object(json!({"prompt": PROMPT, "responses": {"a": R0}}));
        assert_one(
            &row,
            &rules(2),
            "responses",
            "expected a list of 2 strings, found an object",
        );
        let row = object(json!({"prompt": PROMPT, "responses": [R0, 7]}));
        assert_one(
            &row,
            &rules(2),
            "responses[1]",
            "expected a string, found a number (7)",
        );
    }

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
    fn booleans_and_integers_as_strings() {
        let mut row = pku_row();
        row.insert("is_response_0_safe".into(), json!("FALSE"));
        row.insert("is_response_1_safe".into(), json!("True"));
        row.insert("response_0_severity_level".into(), json!("2"));
        row.insert("better_response_id".into(), json!(" 1 "));
        assert_eq!(parse(&row).unwrap(), parse(&pku_row()).unwrap());
    }

    #[test]
    fn extra_response_fields_are_refused() {
        let mut row = pku_row();
        row.insert("response_2".into(), json!("A third answer."));
        assert_pku_error(
            &row,
            "response_2",
            "this project has K = 2 responses per item, but the record has response_2",
        );
        // Blank extra columns (a CSV with a union of columns) are absent.
        row.insert("response_2".into(), json!(""));
        assert!(parse(&row).is_ok());
        let row =
            object(json!({"prompt": PROMPT, "responses": [R0, R1], "response_2_source": "x"}));
        assert_one(
            &row,
            &rules(2),
            "response_2_source",
            "the record has response_2_source",
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

    #[test]
    fn empty_text_is_refused_unless_allowed() {
        let mut row = pku_row();
        row.insert("prompt".into(), json!(""));
        row.remove("response_0_sha256");
        row.remove("response_1_sha256");
        assert_pku_error(&row, "prompt", "is empty");
        let mut row = pku_row();
        row.insert("response_1".into(), json!(" \n\t"));
        row.remove("response_1_sha256");
        assert_pku_error(&row, "response_1", "is only whitespace");
        let row_list = object(json!({"prompt": PROMPT, "responses": [R0, ""]}));
        assert_one(&row_list, &rules(2), "responses[1]", "is empty");
        let allow = RecordRules {
            allow_empty: true,
            ..rules(2)
        };
        assert_eq!(
            parse_record(&row, &allow).unwrap().responses[1].text,
            " \n\t"
        );
        assert_eq!(
            parse_record(&row_list, &allow).unwrap().responses[1].text,
            ""
        );
    }

    #[test]
    fn nul_characters_are_refused() {
        let mut row = pku_row();
        row.insert("prompt_source".into(), json!("te\u{0}st"));
        assert_pku_error(
            &row,
            "prompt_source",
            "contains a NUL character, which cannot be stored",
        );
        let row = object(json!({"prompt": "a\u{0}b", "responses": [R0, R1]}));
        assert_one(&row, &rules(2), "prompt", "NUL character");
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
    fn stored_sha256_must_match() {
        let mut row = pku_row();
        let stored = response_sha256("something else", R1);
        row.insert("response_1_sha256".into(), json!(stored));
        let computed = response_sha256(PROMPT, R1);
        assert_pku_error(
            &row,
            "response_1_sha256",
            &format!("stored {stored} but sha256(prompt + response_1) is {computed}"),
        );
        let accept = RecordRules {
            accept_hash_mismatch: true,
            ..rules(2)
        };
        let record = parse_record(&row, &accept).unwrap();
        assert!(record.hash_mismatch);
        // Kept as stored, so the record is rebuilt as it was.
        let rebuilt: Map<String, Value> = rebuild_pku(&record).unwrap().into_iter().collect();
        assert_eq!(rebuilt, row);
        assert!(!parse_record(&pku_row(), &accept).unwrap().hash_mismatch);
        // Generic records are checked too.
        let row =
            object(json!({"prompt": PROMPT, "responses": [R0, R1], "response_0_sha256": stored}));
        assert_one(
            &row,
            &rules(2),
            "response_0_sha256",
            "but sha256(prompt + response_0) is",
        );
    }

    #[test]
    fn stored_sha256_must_look_like_one() {
        let mut row = pku_row();
        row.insert("response_0_sha256".into(), json!("abc"));
        assert_pku_error(
            &row,
            "response_0_sha256",
            "expected a sha256 as 64 hexadecimal characters, found \"abc\"",
        );
        // Upper-case hex is the same hash.
        let mut row = pku_row();
        row.insert(
            "response_0_sha256".into(),
            json!(response_sha256(PROMPT, R0).to_uppercase()),
        );
        assert!(!parse(&row).unwrap().hash_mismatch);
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

    #[test]
    fn response_sha256_is_the_datasets_rule() {
        // sha256("ab"), as `printf ab | sha256sum` gives it.
        assert_eq!(
            response_sha256("a", "b"),
            "fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603"
        );
    }

    #[test]
    fn content_hash_is_length_prefixed_and_stable() {
        assert_ne!(content_hash("ab", &["c"]), content_hash("a", &["bc"]));
        assert_ne!(content_hash("a", &["b", ""]), content_hash("a", &["b"]));
        assert_ne!(
            content_hash("a", &["b", "c"]),
            content_hash("a", &["c", "b"])
        );
        assert_eq!(content_hash("a", &["b"]), content_hash("a", &["b"]));
        // Stored in the database: the encoding must never change.
        assert_eq!(hex::encode(content_hash("ab", &["c"])), GOLDEN_CONTENT_HASH);
    }

    /// sha256 of 00..01 | 00..02 "ab" | 00..01 "c" (u64 big-endian prefixes).
    const GOLDEN_CONTENT_HASH: &str =
        "da077ff3048c298eed07da526ddf708fbea0a652518a988493b804416dd0008d";
}
