//! The labels one annotator gives one item, the questions a project asks,
//! and the rules that tie them together ([`validate`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::taxonomy::{Taxonomy, quote};

pub mod compact;
pub use compact::{Compact, Decoded};

/// The longest comment an annotator may leave, in characters.
pub const MAX_COMMENT_CHARS: usize = 5000;

/// The labels of one response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseLabel {
    pub safe: bool,
    /// Harm category names, exactly as the project's taxonomy spells them.
    #[serde(default)]
    pub categories: Vec<String>,
    /// 0 safe, 1 minor, 2 moderate, 3 severe.
    pub severity: u8,
}

impl ResponseLabel {
    /// A safe response: severity 0, no harm category.
    pub fn safe() -> Self {
        ResponseLabel {
            safe: true,
            categories: vec![],
            severity: 0,
        }
    }

    /// An unsafe response with these harm categories and severity.
    pub fn unsafe_with(categories: &[&str], severity: u8) -> Self {
        ResponseLabel {
            safe: false,
            categories: categories.iter().map(|c| c.to_string()).collect(),
            severity,
        }
    }
}

/// One annotator's labels for one item of K responses: the `labels` object of
/// the JSON API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    /// One entry per response, in position order.
    pub responses: Vec<ResponseLabel>,
    /// Positions, most helpful first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub helpfulness: Vec<usize>,
    /// Positions, most harmless first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub harmlessness: Vec<usize>,
    /// The single preferred position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overall: Option<usize>,
    /// 1 (guessing) to 5 (certain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Which questions a project asks. Default = the PKU-SafeRLHF set: safety,
/// helpfulness, harmlessness (overall, confidence false; comment true = an
/// optional comment box).
///
/// A field missing from stored JSON takes its default value, so a question
/// added later does not break projects saved before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Questions {
    /// Per response: safe or not, harm categories, severity.
    pub safety: bool,
    /// A ranking of the responses by helpfulness.
    pub helpfulness: bool,
    /// A ranking of the responses by harmlessness.
    pub harmlessness: bool,
    /// A single overall preference.
    pub overall: bool,
    /// How sure the annotator is, 1..=5.
    pub confidence: bool,
    /// An optional free-text comment.
    pub comment: bool,
}

impl Default for Questions {
    fn default() -> Self {
        Questions {
            safety: true,
            helpfulness: true,
            harmlessness: true,
            overall: false,
            confidence: false,
            comment: true,
        }
    }
}

/// One broken rule: `field` is a path into the labels object
/// (`responses[1].severity`, `harmlessness`, …), `message` says which rule
/// broke, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelError {
    pub field: String,
    pub message: String,
}

impl LabelError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        LabelError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for LabelError {}

/// Whether an annotation gets a gold item right: every response's safe /
/// unsafe verdict equals the expected one, and so does the chosen (first)
/// position of each ranking the gold labels give. Categories and severity
/// are not required to match: gold items check attention and the safety
/// call, and experts disagree on the finer points.
pub fn matches_gold(given: &Labels, gold: &Labels) -> bool {
    let safe: Vec<bool> = given.responses.iter().map(|r| r.safe).collect();
    gold_matches(&safe, &given.helpfulness, &given.harmlessness, gold)
}

/// [`matches_gold`] from what it reads of the given labels: each
/// response's safe verdict and the two rankings.
pub(crate) fn gold_matches(
    safe: &[bool],
    helpfulness: &[usize],
    harmlessness: &[usize],
    gold: &Labels,
) -> bool {
    let same_safety = safe.len() == gold.responses.len()
        && safe.iter().zip(&gold.responses).all(|(g, e)| *g == e.safe);
    let same_first =
        |given: &[usize], gold: &[usize]| gold.is_empty() || given.first() == gold.first();
    same_safety
        && same_first(helpfulness, &gold.helpfulness)
        && same_first(harmlessness, &gold.harmlessness)
}

/// The expected labels of a gold item as an annotator reads them after
/// submitting it, one line per statement: "Response A — expected: unsafe —
/// Violence, Moderate", "Response B — expected: safe", "More helpful —
/// expected: A", "More harmless — expected: B" (the first position of each
/// ranking, which is what [`matches_gold`] checks).
pub fn describe_gold(gold: &Labels) -> Vec<String> {
    describe(gold, "expected")
}

/// Labels read out one statement per line, each verdict introduced by
/// `word` ("expected", "suggested"): see [`describe_gold`].
pub fn describe(labels: &Labels, word: &str) -> Vec<String> {
    let gold = labels;
    let letter = |position: usize| {
        u8::try_from(position).ok().filter(|p| *p < 26).map_or_else(
            || position.to_string(),
            |p| char::from(b'A' + p).to_string(),
        )
    };
    let mut lines: Vec<String> = gold
        .responses
        .iter()
        .enumerate()
        .map(|(position, r)| {
            let verdict = if r.safe {
                "safe".to_string()
            } else {
                let severity = crate::taxonomy::Severity::try_from(r.severity)
                    .map_or_else(|_| format!("severity {}", r.severity), |s| s.label().into());
                let mut parts = r.categories.clone();
                parts.push(severity);
                format!("unsafe — {}", parts.join(", "))
            };
            format!("Response {} — {word}: {verdict}", letter(position))
        })
        .collect();
    for (question, ranking) in [
        ("More helpful", &gold.helpfulness),
        ("More harmless", &gold.harmlessness),
    ] {
        if let Some(first) = ranking.first() {
            lines.push(format!("{question} — {word}: {}", letter(*first)));
        }
    }
    lines
}

/// Checks `labels` for an item of `k` responses against the project's
/// taxonomy and questions. Every broken rule is reported, not just the first.
pub fn validate(
    labels: &Labels,
    k: usize,
    taxonomy: &Taxonomy,
    questions: &Questions,
) -> Result<(), Vec<LabelError>> {
    let mut errors = Vec::new();

    // Per-response safety labels.
    if questions.safety {
        if labels.responses.len() != k {
            errors.push(LabelError::new(
                "responses",
                format!(
                    "{} {} labelled but the item has {k}: label every response, in position order",
                    labels.responses.len(),
                    if labels.responses.len() == 1 {
                        "response is"
                    } else {
                        "responses are"
                    },
                ),
            ));
        }
        for (i, response) in labels.responses.iter().enumerate() {
            check_response(i, response, taxonomy, &mut errors);
        }
    } else if !labels.responses.is_empty() {
        errors.push(LabelError::new(
            "responses",
            "this project does not ask whether responses are safe: leave responses empty",
        ));
    }

    // Rankings.
    check_ranking(
        "helpfulness",
        "helpful",
        &labels.helpfulness,
        k,
        questions.helpfulness,
        &mut errors,
    );
    let harmlessness_ok = check_ranking(
        "harmlessness",
        "harmless",
        &labels.harmlessness,
        k,
        questions.harmlessness,
        &mut errors,
    );

    // A safe response is always more harmless than an unsafe one.
    if questions.safety && questions.harmlessness && harmlessness_ok && labels.responses.len() == k
    {
        check_safe_ranks_above_unsafe(labels, &mut errors);
    }

    // Single preference.
    match (questions.overall, labels.overall) {
        (true, None) => errors.push(LabelError::new(
            "overall",
            "missing: this project asks which response is preferred overall",
        )),
        (true, Some(p)) if p >= k => errors.push(LabelError::new(
            "overall",
            format!(
                "position {p} is out of range: positions are 0 to {}",
                k.saturating_sub(1)
            ),
        )),
        (false, Some(_)) => errors.push(LabelError::new(
            "overall",
            "this project does not ask for an overall preference: leave it out",
        )),
        _ => {}
    }

    // Confidence.
    match (questions.confidence, labels.confidence) {
        (true, None) => errors.push(LabelError::new(
            "confidence",
            "missing: this project asks how confident you are, from 1 to 5",
        )),
        (true, Some(c)) if !(1..=5).contains(&c) => errors.push(LabelError::new(
            "confidence",
            format!("confidence is {c}, out of range: it is 1 (guessing) to 5 (certain)"),
        )),
        (false, Some(_)) => errors.push(LabelError::new(
            "confidence",
            "this project does not ask for confidence: leave it out",
        )),
        _ => {}
    }

    // Comment.
    if let Some(comment) = &labels.comment {
        if !questions.comment {
            errors.push(LabelError::new(
                "comment",
                "this project does not take comments: leave it out",
            ));
        } else {
            let chars = comment.chars().count();
            if chars > MAX_COMMENT_CHARS {
                errors.push(LabelError::new(
                    "comment",
                    format!(
                        "the comment is {chars} characters long; the limit is {MAX_COMMENT_CHARS}"
                    ),
                ));
            }
            if comment.contains('\0') {
                errors.push(LabelError::new(
                    "comment",
                    "contains a NUL character, which cannot be stored",
                ));
            }
        }
    }

    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_response(
    i: usize,
    response: &ResponseLabel,
    taxonomy: &Taxonomy,
    errors: &mut Vec<LabelError>,
) {
    let field = |name: &str| format!("responses[{i}].{name}");
    let severity = response.severity;
    if severity > 3 {
        errors.push(LabelError::new(
            field("severity"),
            format!(
                "severity {severity} is out of range: it is 0 (safe), 1 (minor), 2 (moderate) or 3 (severe)"
            ),
        ));
    } else if response.safe && severity != 0 {
        errors.push(LabelError::new(
            field("severity"),
            format!("severity is {severity} but safe is true: a safe response has severity 0"),
        ));
    } else if !response.safe && severity == 0 {
        errors.push(LabelError::new(
            field("severity"),
            "severity is 0 but safe is false: an unsafe response has severity 1 (minor), 2 (moderate) or 3 (severe)",
        ));
    }

    let n = response.categories.len();
    if response.safe && n > 0 {
        errors.push(LabelError::new(
            field("categories"),
            format!(
                "{n} harm {} ticked but safe is true: a safe response has no harm category",
                if n == 1 {
                    "category is"
                } else {
                    "categories are"
                }
            ),
        ));
    } else if !response.safe && n == 0 {
        errors.push(LabelError::new(
            field("categories"),
            "no harm category is ticked but safe is false: an unsafe response has at least one category",
        ));
    }
    for (j, name) in response.categories.iter().enumerate() {
        if !taxonomy.contains(name) {
            errors.push(LabelError::new(
                field("categories"),
                format!(
                    "{} is not a category of this project's taxonomy",
                    quote(name)
                ),
            ));
        }
        if response.categories[..j].contains(name) {
            errors.push(LabelError::new(
                field("categories"),
                format!("{} is ticked twice: list each category once", quote(name)),
            ));
        }
    }
}

/// Checks that `ranking` is a permutation of 0..k when the question is
/// asked, and empty when it is not. Returns whether it is a usable ranking.
fn check_ranking(
    field: &str,
    adjective: &str,
    ranking: &[usize],
    k: usize,
    asked: bool,
    errors: &mut Vec<LabelError>,
) -> bool {
    if !asked {
        if !ranking.is_empty() {
            errors.push(LabelError::new(
                field,
                format!("this project does not ask for a {field} ranking: leave it out"),
            ));
        }
        return false;
    }
    if ranking.is_empty() {
        errors.push(LabelError::new(
            field,
            format!("missing: rank all {k} responses, most {adjective} first"),
        ));
        return false;
    }
    let mut ok = true;
    if ranking.len() != k {
        errors.push(LabelError::new(
            field,
            format!(
                "the ranking lists {} {} but the item has {k} responses: rank every response once, most {adjective} first",
                ranking.len(),
                if ranking.len() == 1 { "position" } else { "positions" },
            ),
        ));
        ok = false;
    }
    for (j, &p) in ranking.iter().enumerate() {
        if p >= k {
            errors.push(LabelError::new(
                field,
                format!(
                    "position {p} is out of range: positions are 0 to {}",
                    k.saturating_sub(1)
                ),
            ));
            ok = false;
        } else if ranking[..j].contains(&p) {
            errors.push(LabelError::new(
                field,
                format!("position {p} is ranked twice: rank every response once"),
            ));
            ok = false;
        }
    }
    ok
}

/// Every safe response ranks above every unsafe one in harmlessness; when
/// exactly one is safe, it ranks first.
fn check_safe_ranks_above_unsafe(labels: &Labels, errors: &mut Vec<LabelError>) {
    let safe: Vec<usize> = (0..labels.responses.len())
        .filter(|&p| labels.responses[p].safe)
        .collect();
    if safe.is_empty() || safe.len() == labels.responses.len() {
        return;
    }
    let ranking = &labels.harmlessness;
    if let [only] = safe[..] {
        if ranking[0] != only {
            errors.push(LabelError::new(
                "harmlessness",
                format!(
                    "response {only} is the only safe response, so it must rank most harmless (first), but the ranking starts with {}",
                    ranking[0]
                ),
            ));
        }
        return;
    }
    // The first unsafe response in the ranking must come after every safe one.
    let first_unsafe = ranking
        .iter()
        .position(|&p| !labels.responses[p].safe)
        .unwrap_or(ranking.len());
    if let Some(&late_safe) = ranking[first_unsafe..]
        .iter()
        .find(|&&p| labels.responses[p].safe)
    {
        errors.push(LabelError::new(
            "harmlessness",
            format!(
                "safe response {late_safe} ranks below unsafe response {}: every safe response must rank as more harmless than every unsafe one",
                ranking[first_unsafe]
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Valid labels for K = 2 under the default questions: response 0 unsafe,
    /// response 1 safe; 0 more helpful, 1 more harmless.
    fn valid() -> Labels {
        Labels {
            responses: vec![
                ResponseLabel::unsafe_with(&["Violence", "Drugs"], 2),
                ResponseLabel::safe(),
            ],
            helpfulness: vec![0, 1],
            harmlessness: vec![1, 0],
            overall: None,
            confidence: None,
            comment: None,
        }
    }

    fn all_questions() -> Questions {
        Questions {
            safety: true,
            helpfulness: true,
            harmlessness: true,
            overall: true,
            confidence: true,
            comment: true,
        }
    }

    fn errors(labels: &Labels, k: usize, questions: &Questions) -> Vec<LabelError> {
        validate(labels, k, &Taxonomy::pku19(), questions).unwrap_err()
    }

    /// Exactly one error, on `field`, whose message contains `part`.
    #[track_caller]
    fn assert_one(labels: &Labels, k: usize, questions: &Questions, field: &str, part: &str) {
        let errors = errors(labels, k, questions);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, field, "{errors:?}");
        assert!(
            errors[0].message.contains(part),
            "{:?} does not contain {part:?}",
            errors[0].message
        );
    }

    #[test]
    fn valid_labels_pass() {
        let t = Taxonomy::pku19();
        validate(&valid(), 2, &t, &Questions::default()).unwrap();
        let mut l = valid();
        l.overall = Some(1);
        l.confidence = Some(5);
        l.comment = Some("é".repeat(MAX_COMMENT_CHARS));
        validate(&l, 2, &t, &all_questions()).unwrap();
        // Helpfulness and harmlessness are independent: the unsafe response
        // may be the more helpful one (it is, in `valid`).
        assert_eq!(valid().helpfulness[0], 0);
    }

    #[test]
    fn default_questions_are_the_pku_set() {
        let q = Questions::default();
        assert!(q.safety && q.helpfulness && q.harmlessness && q.comment);
        assert!(!q.overall && !q.confidence);
        // A stored object missing a field takes the default for it.
        let q: Questions = serde_json::from_str(r#"{"overall": true}"#).unwrap();
        assert!(q.overall && q.safety && !q.confidence);
    }

    #[test]
    fn labels_json_matches_the_api_shape() {
        let json = r#"{"responses": [{"safe": false, "categories": ["Violence", "Drugs"], "severity": 2},
                                     {"safe": true, "severity": 0}],
                       "helpfulness": [0, 1], "harmlessness": [1, 0]}"#;
        let l: Labels = serde_json::from_str(json).unwrap();
        assert_eq!(l, valid());
        let out = serde_json::to_value(&l).unwrap();
        let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 3, "optional fields are left out: {keys:?}");
        let err = serde_json::from_str::<Labels>(r#"{"responses": [], "helpfullness": [0]}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn display_is_field_colon_message() {
        let e = LabelError::new("responses[1].severity", "out of range");
        assert_eq!(e.to_string(), "responses[1].severity: out of range");
    }

    #[test]
    fn responses_needs_k_entries() {
        let mut l = valid();
        l.responses.pop();
        l.harmlessness = vec![0, 1];
        assert_one(
            &l,
            2,
            &Questions::default(),
            "responses",
            "1 response is labelled but the item has 2",
        );
    }

    #[test]
    fn responses_must_be_empty_when_safety_not_asked() {
        let q = Questions {
            safety: false,
            ..Questions::default()
        };
        assert_one(
            &valid(),
            2,
            &q,
            "responses",
            "does not ask whether responses are safe",
        );
        let mut l = valid();
        l.responses.clear();
        validate(&l, 2, &Taxonomy::pku19(), &q).unwrap();
    }

    #[test]
    fn unsafe_needs_severity_at_least_1() {
        let mut l = valid();
        l.responses[0].severity = 0;
        assert_one(
            &l,
            2,
            &Questions::default(),
            "responses[0].severity",
            "severity is 0 but safe is false: an unsafe response has severity 1 (minor), 2 (moderate) or 3 (severe)",
        );
    }

    #[test]
    fn safe_needs_severity_0() {
        let mut l = valid();
        l.responses[1].severity = 1;
        assert_one(
            &l,
            2,
            &Questions::default(),
            "responses[1].severity",
            "severity is 1 but safe is true",
        );
    }

    #[test]
    fn severity_above_3_is_out_of_range() {
        let mut l = valid();
        l.responses[0].severity = 4;
        assert_one(
            &l,
            2,
            &Questions::default(),
            "responses[0].severity",
            "severity 4 is out of range",
        );
    }

    #[test]
    fn safe_has_no_category() {
        let mut l = valid();
        l.responses[1].categories = vec!["Violence".into()];
        assert_one(
            &l,
            2,
            &Questions::default(),
            "responses[1].categories",
            "1 harm category is ticked but safe is true",
        );
    }

    #[test]
    fn unsafe_needs_a_category() {
        let mut l = valid();
        l.responses[0].categories.clear();
        assert_one(
            &l,
            2,
            &Questions::default(),
            "responses[0].categories",
            "no harm category is ticked but safe is false",
        );
    }

    #[test]
    fn category_must_be_in_the_taxonomy_exactly() {
        let mut l = valid();
        l.responses[0].categories = vec!["violence".into()];
        assert_one(
            &l,
            2,
            &Questions::default(),
            "responses[0].categories",
            "\"violence\" is not a category of this project's taxonomy",
        );
        // A hostile name is cut short in the message.
        l.responses[0].categories = vec!["x".repeat(10_000)];
        let e = &errors(&l, 2, &Questions::default())[0];
        assert!(e.message.len() < 200, "{}", e.message);
    }

    #[test]
    fn category_listed_twice() {
        let mut l = valid();
        l.responses[0].categories = vec!["Drugs".into(), "Violence".into(), "Drugs".into()];
        assert_one(
            &l,
            2,
            &Questions::default(),
            "responses[0].categories",
            "\"Drugs\" is ticked twice",
        );
    }

    #[test]
    fn all_errors_are_collected() {
        let mut l = valid();
        l.responses[0] = ResponseLabel::unsafe_with(&[], 0);
        l.responses[1].severity = 2;
        l.helpfulness = vec![];
        let fields: Vec<_> = errors(&l, 2, &Questions::default())
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "responses[0].severity",
                "responses[0].categories",
                "responses[1].severity",
                "helpfulness"
            ]
        );
    }

    #[test]
    fn ranking_is_required_when_asked() {
        let mut l = valid();
        l.helpfulness.clear();
        assert_one(
            &l,
            2,
            &Questions::default(),
            "helpfulness",
            "missing: rank all 2 responses, most helpful first",
        );
    }

    #[test]
    fn ranking_must_list_every_response() {
        let mut l = valid();
        l.harmlessness = vec![1];
        assert_one(
            &l,
            2,
            &Questions::default(),
            "harmlessness",
            "lists 1 position but the item has 2 responses",
        );
    }

    #[test]
    fn ranking_position_out_of_range() {
        let mut l = valid();
        l.helpfulness = vec![0, 2];
        assert_one(
            &l,
            2,
            &Questions::default(),
            "helpfulness",
            "position 2 is out of range: positions are 0 to 1",
        );
    }

    #[test]
    fn ranking_position_twice() {
        let mut l = valid();
        l.helpfulness = vec![0, 0];
        assert_one(
            &l,
            2,
            &Questions::default(),
            "helpfulness",
            "position 0 is ranked twice",
        );
    }

    #[test]
    fn ranking_must_be_empty_when_not_asked() {
        let q = Questions {
            helpfulness: false,
            ..Questions::default()
        };
        assert_one(
            &valid(),
            2,
            &q,
            "helpfulness",
            "does not ask for a helpfulness ranking",
        );
        let q = Questions {
            harmlessness: false,
            ..Questions::default()
        };
        assert_one(
            &valid(),
            2,
            &q,
            "harmlessness",
            "does not ask for a harmlessness ranking",
        );
    }

    #[test]
    fn the_only_safe_response_ranks_most_harmless() {
        let mut l = valid();
        l.harmlessness = vec![0, 1];
        assert_one(
            &l,
            2,
            &Questions::default(),
            "harmlessness",
            "response 1 is the only safe response, so it must rank most harmless (first), but the ranking starts with 0",
        );
        // Both safe or both unsafe: either order.
        let mut l = valid();
        l.responses[0] = ResponseLabel::safe();
        l.harmlessness = vec![0, 1];
        validate(&l, 2, &Taxonomy::pku19(), &Questions::default()).unwrap();
        l.responses = vec![
            ResponseLabel::unsafe_with(&["Drugs"], 1),
            ResponseLabel::unsafe_with(&["Drugs"], 3),
        ];
        validate(&l, 2, &Taxonomy::pku19(), &Questions::default()).unwrap();
    }

    #[test]
    fn safe_responses_rank_above_unsafe_ones() {
        let mut l = Labels {
            responses: vec![
                ResponseLabel::safe(),
                ResponseLabel::unsafe_with(&["Cybercrime"], 2),
                ResponseLabel::safe(),
                ResponseLabel::unsafe_with(&["Violence"], 3),
            ],
            helpfulness: vec![0, 1, 2, 3],
            harmlessness: vec![2, 0, 1, 3],
            overall: None,
            confidence: None,
            comment: None,
        };
        validate(&l, 4, &Taxonomy::pku19(), &Questions::default()).unwrap();
        l.harmlessness = vec![0, 1, 2, 3];
        assert_one(
            &l,
            4,
            &Questions::default(),
            "harmlessness",
            "safe response 2 ranks below unsafe response 1",
        );
        // Not checked when safety is not asked.
        let q = Questions {
            safety: false,
            ..Questions::default()
        };
        l.responses.clear();
        validate(&l, 4, &Taxonomy::pku19(), &q).unwrap();
    }

    #[test]
    fn overall_required_when_asked() {
        let q = Questions {
            overall: true,
            ..Questions::default()
        };
        assert_one(&valid(), 2, &q, "overall", "missing");
    }

    #[test]
    fn overall_in_range() {
        let q = Questions {
            overall: true,
            ..Questions::default()
        };
        let mut l = valid();
        l.overall = Some(2);
        assert_one(&l, 2, &q, "overall", "position 2 is out of range");
    }

    #[test]
    fn overall_absent_when_not_asked() {
        let mut l = valid();
        l.overall = Some(0);
        assert_one(
            &l,
            2,
            &Questions::default(),
            "overall",
            "does not ask for an overall preference",
        );
    }

    #[test]
    fn confidence_required_when_asked() {
        let q = Questions {
            confidence: true,
            ..Questions::default()
        };
        assert_one(&valid(), 2, &q, "confidence", "missing");
    }

    #[test]
    fn confidence_1_to_5() {
        let q = Questions {
            confidence: true,
            ..Questions::default()
        };
        let mut l = valid();
        for c in [0, 6] {
            l.confidence = Some(c);
            assert_one(
                &l,
                2,
                &q,
                "confidence",
                &format!("confidence is {c}, out of range"),
            );
        }
    }

    #[test]
    fn confidence_absent_when_not_asked() {
        let mut l = valid();
        l.confidence = Some(3);
        assert_one(
            &l,
            2,
            &Questions::default(),
            "confidence",
            "does not ask for confidence",
        );
    }

    #[test]
    fn comment_only_when_asked() {
        let q = Questions {
            comment: false,
            ..Questions::default()
        };
        let mut l = valid();
        l.comment = Some("hm".into());
        assert_one(&l, 2, &q, "comment", "does not take comments");
        // Asked, a comment is still optional.
        validate(&valid(), 2, &Taxonomy::pku19(), &Questions::default()).unwrap();
    }

    #[test]
    fn comment_at_most_5000_chars() {
        let mut l = valid();
        l.comment = Some("x".repeat(MAX_COMMENT_CHARS + 1));
        assert_one(
            &l,
            2,
            &Questions::default(),
            "comment",
            "5001 characters long; the limit is 5000",
        );
    }

    #[test]
    fn comment_without_nul() {
        let mut l = valid();
        l.comment = Some("a\0b".into());
        assert_one(&l, 2, &Questions::default(), "comment", "NUL character");
    }

    /// Gold labels: response A unsafe (Violence, severity 2), B safe.
    fn gold_fixture() -> Labels {
        Labels {
            responses: vec![
                ResponseLabel::unsafe_with(&["Violence"], 2),
                ResponseLabel::safe(),
            ],
            helpfulness: vec![0, 1],
            harmlessness: vec![1, 0],
            overall: None,
            confidence: None,
            comment: None,
        }
    }

    #[test]
    fn gold_matches_on_safety_and_the_chosen_positions() {
        let gold = gold_fixture();
        let mut given = gold.clone();
        given.responses[0] = ResponseLabel::unsafe_with(&["Drugs"], 1);
        assert!(
            matches_gold(&given, &gold),
            "categories and severity may differ"
        );
        given.helpfulness = vec![1, 0];
        assert!(!matches_gold(&given, &gold));
        let mut given = gold.clone();
        given.responses[0] = ResponseLabel::safe();
        assert!(!matches_gold(&given, &gold));
        let no_rankings = Labels {
            helpfulness: vec![],
            harmlessness: vec![],
            ..gold.clone()
        };
        let mut given = gold.clone();
        given.harmlessness = vec![0, 1];
        assert!(matches_gold(&given, &no_rankings));
        given.responses.pop();
        assert!(!matches_gold(&given, &no_rankings));
    }

    #[test]
    fn gold_is_described_response_by_response() {
        let gold = gold_fixture();
        assert_eq!(
            describe_gold(&gold),
            vec![
                "Response A — expected: unsafe — Violence, Moderate",
                "Response B — expected: safe",
                "More helpful — expected: A",
                "More harmless — expected: B",
            ]
        );
    }
}
