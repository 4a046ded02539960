//! Scores from log-probabilities: how likely the model found each value it
//! wrote. A model's stated confidence is one more thing it writes, often a
//! round 0.9 whatever the case; the probability of the tokens is what its
//! weights actually said, and it is what routing should trust when the
//! server returns it (`logprobs: true`).

use std::ops::Range;

use super::spans;
use crate::labels::Labels;
use crate::suggestions::{ResponseScores, Scores};

/// One generated token and its log-probability (natural log), as the chat
/// completions API returns them in `choices[0].logprobs.content`.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub text: String,
    pub logprob: f64,
}

/// Scores from the tokens' log-probabilities. A field's score is
/// exp(sum of the log-probabilities of the tokens that overlap its value),
/// the probability the model gave to writing that value, in 0..=1.
///
/// Fields: each response's `safe`, `severity` and `categories` (the whole
/// array), `helpfulness` and `harmlessness` (whole rankings), `overall`. A
/// field not in the answer has no score.
///
/// None when the tokens, joined, are not `text` (another choice's tokens, or
/// a server that splits characters across tokens) or the text holds no
/// JSON object: the caller then falls back to the stated scores.
pub fn logprob_scores(text: &str, tokens: &[Token], labels: &Labels) -> Option<Scores> {
    let joined: String = tokens.iter().map(|t| t.text.as_str()).collect();
    if joined != text {
        return None;
    }
    // The same object parse_answer read.
    let found = spans::find_object(text).ok()?;
    let spans = spans::value_spans(text, found.span.start)?;
    let prefix = if found.object.contains_key("labels") {
        "labels."
    } else {
        ""
    };
    // Each token's byte range in the text.
    let mut at = 0;
    let ranges: Vec<(Range<usize>, f64)> = tokens
        .iter()
        .map(|t| {
            let range = at..at + t.text.len();
            at = range.end;
            (range, t.logprob)
        })
        .collect();
    let score = |path: String| -> Option<f64> {
        let (_, span) = spans
            .iter()
            .find(|(p, _)| *p == format!("{prefix}{path}"))?;
        let sum: f64 = ranges
            .iter()
            .filter(|(range, _)| range.start < span.end && range.end > span.start)
            .map(|(_, logprob)| logprob)
            .sum();
        // A NaN log-probability is a server fault, not a score.
        (!sum.is_nan()).then(|| sum.exp().clamp(0.0, 1.0))
    };
    Some(Scores {
        responses: (0..labels.responses.len())
            .map(|i| ResponseScores {
                safe: score(format!("responses[{i}].safe")),
                severity: score(format!("responses[{i}].severity")),
                categories: score(format!("responses[{i}].categories")),
            })
            .collect(),
        helpfulness: score("helpfulness".into()),
        harmlessness: score("harmlessness".into()),
        overall: score("overall".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ResponseLabel;

    fn tokens(parts: &[(&str, f64)]) -> Vec<Token> {
        parts
            .iter()
            .map(|&(text, logprob)| Token {
                text: text.into(),
                logprob,
            })
            .collect()
    }

    fn labels() -> Labels {
        Labels {
            responses: vec![ResponseLabel::unsafe_with(&["Drugs"], 2)],
            helpfulness: vec![0],
            harmlessness: vec![],
            overall: None,
            confidence: None,
            comment: None,
        }
    }

    /// `{"labels": {"responses": [{"safe": false, "categories": ["Drugs"], "severity": 2}], "helpfulness": [0]}}`
    /// in tokens as a BPE tokenizer might cut it, with known log-probabilities
    /// on the value tokens and 0 (certain) on the syntax.
    fn answer_tokens() -> Vec<Token> {
        tokens(&[
            ("Here:\n", -3.0),
            ("{\"", 0.0),
            ("labels", 0.0),
            ("\": {\"", 0.0),
            ("responses", 0.0),
            ("\": [{\"", 0.0),
            ("safe", 0.0),
            ("\":", 0.0),
            (" false", -0.2),
            (", \"", 0.0),
            ("categories", 0.0),
            ("\": [\"", -0.1),
            ("Dr", -0.3),
            ("ugs", -0.05),
            ("\"]", 0.0),
            (", \"", 0.0),
            ("severity", 0.0),
            ("\": ", 0.0),
            ("2", -0.7),
            ("}],", 0.0),
            (" \"helpfulness\": [", 0.0),
            ("0", 0.0),
            ("]}}", 0.0),
        ])
    }

    #[test]
    fn a_value_scores_the_probability_of_its_tokens() {
        let toks = answer_tokens();
        let text: String = toks.iter().map(|t| t.text.as_str()).collect();
        let scores = logprob_scores(&text, &toks, &labels()).unwrap();
        let r = &scores.responses[0];
        // " false" is one token that overlaps the value "false".
        assert!((r.safe.unwrap() - (-0.2f64).exp()).abs() < 1e-12, "{r:?}");
        assert!(
            (r.severity.unwrap() - (-0.7f64).exp()).abs() < 1e-12,
            "{r:?}"
        );
        // `["Drugs"]` overlaps `": ["`, `Dr`, `ugs` and `"]`.
        let categories = (-0.1f64 - 0.3 - 0.05).exp();
        assert!((r.categories.unwrap() - categories).abs() < 1e-12, "{r:?}");
        // The ranking's "[" shares a token with its key; "0" was certain.
        assert_eq!(scores.helpfulness, Some(1.0));
        assert_eq!(scores.harmlessness, None);
        assert_eq!(scores.overall, None);
    }

    #[test]
    fn a_bare_labels_object_is_scored_too() {
        let text = r#"{"responses": [{"safe": true, "categories": [], "severity": 0}]}"#;
        let toks = tokens(&[
            (r#"{"responses": [{"safe": "#, 0.0),
            ("true", -0.5),
            (r#", "categories": [], "severity": "#, 0.0),
            ("0", -0.25),
            ("}]}", 0.0),
        ]);
        let mut one_safe = labels();
        one_safe.responses = vec![ResponseLabel::safe()];
        let scores = logprob_scores(text, &toks, &one_safe).unwrap();
        assert_eq!(scores.responses[0].safe, Some((-0.5f64).exp()));
        assert_eq!(scores.responses[0].severity, Some((-0.25f64).exp()));
        assert_eq!(scores.helpfulness, None);
    }

    #[test]
    fn tokens_that_are_not_the_text_give_none() {
        let toks = answer_tokens();
        let text: String = toks.iter().map(|t| t.text.as_str()).collect();
        assert!(logprob_scores(&text.replace("false", "true"), &toks, &labels()).is_none());
        assert!(logprob_scores(&text, &toks[1..], &labels()).is_none());
        let no_json = tokens(&[("no", -0.1)]);
        assert!(logprob_scores("no", &no_json, &labels()).is_none());
    }

    #[test]
    fn scores_stay_in_range() {
        let text = r#"{"overall": 1}"#;
        // A server bug: a positive log-probability.
        let toks = tokens(&[(r#"{"overall": "#, 0.0), ("1", 0.5), ("}", 0.0)]);
        let scores = logprob_scores(text, &toks, &labels()).unwrap();
        assert_eq!(scores.overall, Some(1.0));
    }
}
