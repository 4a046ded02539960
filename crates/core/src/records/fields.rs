//! Reading one row field by field: the [`Parser`] every record shape uses,
//! which collects each problem as a [`FieldError`] and goes on, so a record
//! is refused with everything wrong with it; and the typed readers
//! (text, booleans, integers, JSON given as a string) with the messages
//! they give.

use serde_json::{Map, Value};

use super::{FieldError, RecordRules};
use crate::taxonomy::quote;

/// One row being read, and the problems found so far.
pub(super) struct Parser<'a, 'r> {
    pub(super) row: &'a Map<String, Value>,
    pub(super) rules: &'a RecordRules<'r>,
    pub(super) errors: Vec<FieldError>,
    /// Set when a stored sha256 did not match and the rules let it through.
    pub(super) hash_mismatch: bool,
}

impl Parser<'_, '_> {
    pub(super) fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// The value of `key`, unless absent, null or an empty string.
    pub(super) fn present(&self, key: &str) -> Option<&Value> {
        self.row.get(key).filter(|v| !is_blank(v))
    }

    /// Checks free text: no NUL; for prompts and responses (`content`), not
    /// empty unless the rules allow it.
    pub(super) fn check_text(&mut self, field: &str, text: &str, content: bool) -> bool {
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
    pub(super) fn content(&mut self, key: &str) -> Option<String> {
        match self.row.get(key) {
            None | Some(Value::Null) => {
                self.error(key, "missing");
                None
            }
            Some(value) => self.text_value(key, value, true),
        }
    }

    pub(super) fn text_value(
        &mut self,
        field: &str,
        value: &Value,
        content: bool,
    ) -> Option<String> {
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
    pub(super) fn optional_text(&mut self, key: &str) -> Option<String> {
        let value = self.present(key)?.clone();
        self.text_value(key, &value, false)
    }

    pub(super) fn required(&mut self, key: &str) -> Option<Value> {
        let value = self.present(key).cloned();
        if value.is_none() {
            self.error(key, "missing");
        }
        value
    }

    pub(super) fn boolean(&mut self, key: &str) -> Option<bool> {
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

    pub(super) fn integer(&mut self, key: &str) -> Option<i64> {
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
    pub(super) fn json(&mut self, key: &str, value: Value, expected: &str) -> Option<Value> {
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

    /// `response_N…` fields beyond the project's K.
    pub(super) fn extra_responses(&mut self) {
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
}

/// How a value looks, for "expected …, found …" messages.
pub(super) fn describe(value: &Value) -> String {
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
pub(super) fn list_names(names: &[&str]) -> String {
    let shown: Vec<String> = names.iter().take(3).map(|n| quote(n)).collect();
    let mut out = shown.join(", ");
    if names.len() > 3 {
        out.push_str(&format!(" and {} more", names.len() - 3));
    }
    out
}

/// A boolean, or a string spelling one (`true`, `True`, `TRUE`, and the
/// same for false).
pub(super) fn bool_of(value: &Value) -> Option<bool> {
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
    use serde_json::json;

    use crate::records::test_rows::{
        PROMPT, R0, R1, assert_one, assert_pku_error, object, parse, pku_row, rules,
    };
    use crate::records::{RecordRules, parse_record};

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
}
