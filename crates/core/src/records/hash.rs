//! The hashes of a record: the dataset's `response_N_sha256` rule, a stored
//! one checked against the texts, and the content hash used to find
//! duplicates.

use sha2::{Digest, Sha256};

use super::fields::Parser;
use crate::taxonomy::quote;

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

impl Parser<'_, '_> {
    /// A stored `response_N_sha256`, checked against the texts. Returns the
    /// value to keep (as stored).
    pub(super) fn check_sha256(
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
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::*;
    use crate::records::test_rows::{
        PROMPT, R0, R1, assert_one, assert_pku_error, object, parse, pku_row, rules,
    };
    use crate::records::{RecordRules, parse_record, rebuild_pku};

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
