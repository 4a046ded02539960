//! Labels decoded for counting: the report's builders and the dashboard's
//! severity confusion read every stored annotation of a scope, and need
//! neither the comment nor the harm categories' names. [`Decoded::from_json`]
//! reads the JSON straight into a [`Compact`] (categories as bits over the
//! taxonomy's names, rankings inline: no allocation per annotation); labels
//! that do not fit one (a name outside the taxonomy, more than
//! [`COMPACT_MAX`] responses or ranked positions, a string with escapes
//! where a name or key is, anything [`Labels`] would refuse) are decoded in
//! full instead, so every reader sees exactly what [`Labels`] holds.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::Labels;

/// The most responses, and ranked positions, a [`Compact`] holds.
pub const COMPACT_MAX: usize = 4;

/// One response of [`Compact`] labels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactResponse {
    pub safe: bool,
    pub severity: u8,
    /// The categories ticked, as bits: bit `i` is the `i`-th name of the
    /// list the labels were decoded against.
    pub categories: u64,
}

/// A ranking of at most [`COMPACT_MAX`] positions, inline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactRanking {
    len: u8,
    positions: [usize; COMPACT_MAX],
}

impl CompactRanking {
    pub fn as_slice(&self) -> &[usize] {
        &self.positions[..usize::from(self.len)]
    }
}

/// One annotation's labels as the counts read them (see the module).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compact {
    len: u8,
    responses: [CompactResponse; COMPACT_MAX],
    pub helpfulness: CompactRanking,
    pub harmlessness: CompactRanking,
    pub overall: Option<usize>,
    pub confidence: Option<u8>,
}

impl Compact {
    /// The responses labelled, in position order.
    pub fn responses(&self) -> &[CompactResponse] {
        &self.responses[..usize::from(self.len)]
    }
}

/// Labels decoded for counting: compactly when they fit, else in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Compact(Compact),
    Full(Labels),
}

impl Decoded {
    /// Decodes a labels JSON object; `names` numbers the category bits
    /// (the taxonomy's names: only the first 64 are given bits). Fails
    /// exactly when decoding into [`Labels`] fails, with its error.
    pub fn from_json(json: &[u8], names: &[String]) -> Result<Decoded, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let compact = LabelsSeed { names }
            .deserialize(&mut de)
            .and_then(|c| de.end().map(|()| c));
        match compact {
            Ok(compact) => Ok(Decoded::Compact(compact)),
            Err(_) => serde_json::from_slice(json).map(Decoded::Full),
        }
    }

    /// Each labelled response's severity, in position order.
    pub fn severities(&self) -> impl Iterator<Item = u8> + '_ {
        let (compact, full) = match self {
            Decoded::Compact(c) => (Some(c.responses().iter().map(|r| r.severity)), None),
            Decoded::Full(l) => (None, Some(l.responses.iter().map(|r| r.severity))),
        };
        compact
            .into_iter()
            .flatten()
            .chain(full.into_iter().flatten())
    }

    /// [`super::matches_gold`] of these labels.
    pub fn matches_gold(&self, gold: &Labels) -> bool {
        let c = match self {
            Decoded::Full(labels) => return super::matches_gold(labels, gold),
            Decoded::Compact(c) => c,
        };
        let mut safe = [false; COMPACT_MAX];
        for (s, r) in safe.iter_mut().zip(c.responses()) {
            *s = r.safe;
        }
        super::gold_matches(
            &safe[..c.responses().len()],
            c.helpfulness.as_slice(),
            c.harmlessness.as_slice(),
            gold,
        )
    }
}

/// Whether a JSON string's raw bytes (keys and names are read so, which
/// saves checking every one as UTF-8) are text serde_json reads as a str:
/// valid UTF-8 without control characters.
fn is_plain_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok() && !bytes.iter().any(|b| *b < 0x20)
}

/// Any failure of the compact decoder: the caller then decodes in full,
/// which gives the error (if any) its words.
fn misfit<E: de::Error>() -> E {
    E::custom("does not fit the compact form")
}

/// Reads a labels object into a [`Compact`]; refuses what [`Labels`]
/// refuses (an unknown or repeated field, a missing `responses`, a value
/// of the wrong type) and what does not fit.
struct LabelsSeed<'n> {
    names: &'n [String],
}

impl<'de> DeserializeSeed<'de> for LabelsSeed<'_> {
    type Value = Compact;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Compact, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LabelsSeed<'_> {
    type Value = Compact;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a labels object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Compact, A::Error> {
        let mut out = Compact::default();
        // responses, helpfulness, harmlessness, overall, confidence, comment
        let mut seen = [false; 6];
        while let Some(key) = map.next_key::<&[u8]>()? {
            let field = match key {
                b"responses" => 0,
                b"helpfulness" => 1,
                b"harmlessness" => 2,
                b"overall" => 3,
                b"confidence" => 4,
                b"comment" => 5,
                _ => return Err(misfit()),
            };
            if std::mem::replace(&mut seen[field], true) {
                return Err(misfit());
            }
            match field {
                0 => {
                    map.next_value_seed(ResponsesSeed {
                        names: self.names,
                        out: &mut out,
                    })?;
                }
                1 => out.helpfulness = map.next_value::<CompactRanking>()?,
                2 => out.harmlessness = map.next_value::<CompactRanking>()?,
                3 => out.overall = map.next_value()?,
                4 => out.confidence = map.next_value()?,
                // Not kept; a string with escapes does not borrow, and so
                // goes the full way.
                _ => {
                    map.next_value::<Option<&str>>()?;
                }
            }
        }
        if seen[0] { Ok(out) } else { Err(misfit()) }
    }
}

/// The `responses` array, into `out`.
struct ResponsesSeed<'n, 'o> {
    names: &'n [String],
    out: &'o mut Compact,
}

impl<'de> DeserializeSeed<'de> for ResponsesSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ResponsesSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of responses")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut n = 0;
        while let Some(response) = seq.next_element_seed(ResponseSeed { names: self.names })? {
            let slot = self.out.responses.get_mut(n).ok_or_else(misfit)?;
            *slot = response;
            n += 1;
        }
        self.out.len = n as u8;
        Ok(())
    }
}

/// One response object (unknown fields are ignored, as [`super::ResponseLabel`]
/// ignores them).
struct ResponseSeed<'n> {
    names: &'n [String],
}

impl<'de> DeserializeSeed<'de> for ResponseSeed<'_> {
    type Value = CompactResponse;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<CompactResponse, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ResponseSeed<'_> {
    type Value = CompactResponse;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a response's labels")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CompactResponse, A::Error> {
        let (mut safe, mut severity, mut categories) = (None, None, None);
        while let Some(key) = map.next_key::<&[u8]>()? {
            match key {
                b"safe" if safe.is_none() => safe = Some(map.next_value()?),
                b"severity" if severity.is_none() => severity = Some(map.next_value()?),
                b"categories" if categories.is_none() => {
                    categories = Some(map.next_value_seed(CategoriesSeed { names: self.names })?)
                }
                b"safe" | b"severity" | b"categories" => return Err(misfit()),
                // Read as bytes, a key is not checked as a str is: one
                // Labels would refuse goes the full way.
                _ if !is_plain_text(key) => return Err(misfit()),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(CompactResponse {
            safe: safe.ok_or_else(misfit)?,
            severity: severity.ok_or_else(misfit)?,
            categories: categories.unwrap_or(0),
        })
    }
}

/// A list of category names, as bits over `names`.
struct CategoriesSeed<'n> {
    names: &'n [String],
}

impl<'de> DeserializeSeed<'de> for CategoriesSeed<'_> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for CategoriesSeed<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of category names")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut bits = 0u64;
        // As bytes: a name equal to a taxonomy name's bytes is valid text.
        while let Some(name) = seq.next_element::<&[u8]>()? {
            // The first match, as the report's builder numbers names.
            let i = self.names.iter().position(|n| n.as_bytes() == name);
            bits |= i
                .filter(|&i| i < 64)
                .map(|i| 1u64 << i)
                .ok_or_else(misfit)?;
        }
        Ok(bits)
    }
}

impl<'de> Deserialize<'de> for CompactRanking {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CompactRanking, D::Error> {
        struct RankingVisitor;
        impl<'de> Visitor<'de> for RankingVisitor {
            type Value = CompactRanking;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of positions")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CompactRanking, A::Error> {
                let mut out = CompactRanking::default();
                while let Some(p) = seq.next_element::<usize>()? {
                    let slot = out.positions.get_mut(usize::from(out.len));
                    *slot.ok_or_else(misfit)? = p;
                    out.len += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_seq(RankingVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ResponseLabel;

    fn names() -> Vec<String> {
        ["Violence", "Privacy", "Drugs"].map(String::from).to_vec()
    }

    /// The compact form of full labels, or None when they do not fit.
    fn expected(labels: &Labels, names: &[String]) -> Option<Compact> {
        let mut c = Compact::default();
        if labels.responses.len() > COMPACT_MAX {
            return None;
        }
        for (slot, r) in c.responses.iter_mut().zip(&labels.responses) {
            let mut bits = 0u64;
            for name in &r.categories {
                let i = names.iter().position(|n| n == name).filter(|&i| i < 64)?;
                bits |= 1 << i;
            }
            *slot = CompactResponse {
                safe: r.safe,
                severity: r.severity,
                categories: bits,
            };
        }
        c.len = labels.responses.len() as u8;
        for (ranking, given) in [
            (&mut c.helpfulness, &labels.helpfulness),
            (&mut c.harmlessness, &labels.harmlessness),
        ] {
            if given.len() > COMPACT_MAX {
                return None;
            }
            ranking.positions[..given.len()].copy_from_slice(given);
            ranking.len = given.len() as u8;
        }
        c.overall = labels.overall;
        c.confidence = labels.confidence;
        Some(c)
    }

    /// Every input decodes as `Labels` does: the same error, or the same
    /// labels (compactly when they fit).
    fn check(json: &str) -> Decoded {
        let names = names();
        let full = serde_json::from_str::<Labels>(json);
        let decoded = Decoded::from_json(json.as_bytes(), &names);
        match (&full, &decoded) {
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{json}"),
            (Ok(labels), Ok(Decoded::Compact(c))) => {
                assert_eq!(Some(*c), expected(labels, &names), "{json}")
            }
            (Ok(labels), Ok(Decoded::Full(l))) => {
                assert_eq!(labels, l, "{json}");
                assert!(
                    expected(labels, &names).is_none()
                        || json.contains('\\')
                        || json.starts_with('['),
                    "fits but was decoded in full: {json}"
                );
            }
            _ => panic!("{json}: {full:?} against {decoded:?}"),
        }
        decoded.unwrap_or(Decoded::Full(Labels {
            responses: vec![],
            helpfulness: vec![],
            harmlessness: vec![],
            overall: None,
            confidence: None,
            comment: None,
        }))
    }

    #[test]
    fn decodes_as_labels_does() {
        let compact = [
            r#"{"responses": [{"safe": true, "severity": 0, "categories": []}, {"safe": false, "severity": 2, "categories": ["Drugs", "Violence"]}], "helpfulness": [1, 0], "harmlessness": [0, 1]}"#,
            r#"{"responses":[{"safe":true,"severity":0},{"safe":false,"severity":3,"categories":["Privacy"],"note":{"x":[1]}}],"comment":"fine","confidence":4,"overall":1}"#,
            r#"{"responses": []}"#,
            r#"{"responses": [{"safe": true, "severity": 0}, {"safe": true, "severity": 0}, {"safe": false, "severity": 1, "categories": ["Drugs"]}], "helpfulness": [2, 0, 1], "harmlessness": [0, 1, 2]}"#,
            r#"{"responses": [{"safe": false, "severity": 9, "categories": ["Drugs", "Drugs"]}], "helpfulness": [7], "comment": null, "overall": null}"#,
        ];
        for json in compact {
            assert!(matches!(check(json), Decoded::Compact(_)), "{json}");
        }
        let full = [
            // A name outside the taxonomy; an escaped name; too many responses.
            r#"{"responses": [{"safe": false, "severity": 2, "categories": ["Fraud"]}]}"#,
            r#"{"responses": [{"safe": false, "severity": 2, "categories": ["Dr\u0075gs"]}]}"#,
            r#"{"responses": [{"safe": true, "severity": 0}, {"safe": true, "severity": 0}, {"safe": true, "severity": 0}, {"safe": true, "severity": 0}, {"safe": true, "severity": 0}, {"safe": true, "severity": 0}, {"safe": true, "severity": 0}, {"safe": true, "severity": 0}, {"safe": true, "severity": 0}]}"#,
            r#"{"responses": [], "helpfulness": [0, 1, 2, 3, 4, 5, 6, 7, 8]}"#,
            r#"{"responses": [], "comment": "line\nbreak"}"#,
            // The array form serde also reads a struct from.
            r#"[[]]"#,
        ];
        for json in full {
            assert!(matches!(check(json), Decoded::Full(_)), "{json}");
        }
        let refused = [
            r#"{"helpfulness": [0, 1]}"#,
            r#"{"responses": [], "colour": "red"}"#,
            r#"{"responses": [], "responses": []}"#,
            r#"{"responses": [{"safe": true}]}"#,
            r#"{"responses": [{"safe": true, "severity": 0, "severity": 1}]}"#,
            r#"{"responses": [{"safe": "yes", "severity": 0}]}"#,
            r#"{"responses": [{"safe": true, "severity": 300}]}"#,
            r#"{"responses": [{"safe": true, "severity": 0, "categories": null}]}"#,
            r#"{"responses": [], "confidence": -1}"#,
            r#"{"responses": [], "comment": 3}"#,
            r#"{"responses": []} trailing"#,
            "{\"responses\": [{\"safe\": true, \"severity\": 0, \"no\u{1}te\": 1}]}",
            "{\"responses\": [{\"safe\": false, \"severity\": 1, \"categories\": [\"Dr\u{1}ugs\"]}]}",
            "",
        ];
        for json in refused {
            check(json);
        }
    }

    /// Keys and names are read as bytes: text Labels refuses as a str
    /// (not UTF-8) is refused all the same.
    #[test]
    fn bytes_that_are_not_text_are_refused_as_labels_refuses_them() {
        for json in [
            &b"{\"responses\": [{\"safe\": true, \"severity\": 0, \"\xff\": 1}]}"[..],
            &b"{\"responses\": [{\"safe\": false, \"severity\": 1, \"categories\": [\"\xffDrugs\"]}]}"[..],
            &b"{\"\xffresponses\": []}"[..],
        ] {
            let full = serde_json::from_slice::<Labels>(json).unwrap_err();
            let decoded = Decoded::from_json(json, &names()).unwrap_err();
            assert_eq!(decoded.to_string(), full.to_string());
        }
    }

    #[test]
    fn gold_and_severities_read_as_the_full_labels() {
        let gold = Labels {
            responses: vec![
                ResponseLabel::safe(),
                ResponseLabel::unsafe_with(&["Drugs"], 2),
            ],
            helpfulness: vec![1, 0],
            harmlessness: vec![],
            overall: None,
            confidence: None,
            comment: None,
        };
        for json in [
            r#"{"responses": [{"safe": true, "severity": 0}, {"safe": false, "severity": 1, "categories": ["Violence"]}], "helpfulness": [1, 0], "harmlessness": [1, 0]}"#,
            r#"{"responses": [{"safe": true, "severity": 0}, {"safe": false, "severity": 1, "categories": ["Violence"]}], "helpfulness": [0, 1]}"#,
            r#"{"responses": [{"safe": true, "severity": 0}, {"safe": true, "severity": 0}], "helpfulness": [1, 0]}"#,
            r#"{"responses": [{"safe": true, "severity": 0}], "helpfulness": [1, 0]}"#,
            r#"{"responses": [{"safe": true, "severity": 0}, {"safe": false, "severity": 3, "categories": ["Other"]}], "helpfulness": [1]}"#,
        ] {
            let labels: Labels = serde_json::from_str(json).unwrap();
            let decoded = Decoded::from_json(json.as_bytes(), &names()).unwrap();
            assert_eq!(
                decoded.matches_gold(&gold),
                crate::labels::matches_gold(&labels, &gold),
                "{json}"
            );
            let severities: Vec<u8> = labels.responses.iter().map(|r| r.severity).collect();
            assert_eq!(decoded.severities().collect::<Vec<_>>(), severities);
        }
    }
}
