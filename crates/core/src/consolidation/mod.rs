//! Consolidation: one record per item from the labels of several
//! annotators.
//!
//! Pure and deterministic: each categorical field of an item is decided by
//! majority vote or Dawid–Skene, rankings of more than two responses by
//! ranked pairs; the fields are assembled into one [`Consolidated`] record
//! per item, checked against the label rules with
//! [`labels::validate`](crate::labels::validate), and adjudications
//! applied. A [`Fitter`] takes every item's votes (for Dawid–Skene, which
//! learns from all of them), then its [`Model`] consolidates items in
//! chunks; [`consolidate`] does both at once.
//!
//! The files: `votes` (the fields and a vote encoded as one class per
//! field), `majority`, `dawid_skene` and `ranked_pairs` (the methods),
//! `fitter`, `model` (one item's record); the tests also have `vote_table`
//! (the methods over a plain table of votes) and `test_labels`.
//!
//! # Fields and their classes
//!
//! For response `i` (only when the project asks the safety question):
//! - `responses[i].safe`: two classes, 0 = safe, 1 = unsafe.
//! - `responses[i].severity`: four classes 0..=3, over **all** annotators of
//!   the item; a safe vote counts as severity 0. (So the severity vote is
//!   comparable with the safe/unsafe vote: when they disagree — e.g. unsafe
//!   wins but severity 0 is the plurality — the item goes to review with the
//!   rule named, instead of silently picking a severity among unsafe votes.)
//! - `responses[i].categories[NAME]`: for every category of the taxonomy,
//!   two classes, 0 = not ticked, 1 = ticked, over all annotators (a safe
//!   vote ticks nothing).
//!
//! Rankings (`helpfulness`, `harmlessness`, when asked):
//! - K ≤ 2: the first (chosen) position is a field with K classes, decided
//!   by the method; the ranking is that position then the other.
//! - K > 2: Tideman's ranked pairs over the annotators' full rankings, for
//!   both methods (Dawid–Skene does not model rankings). Support is the
//!   smallest share of ballots ranking `a` above `b` over the adjacent pairs
//!   `(a, b)` of the result (for K = 2 this is the share choosing the first
//!   position, as with majority vote). Two adjacent positions with equal
//!   pairwise wins are a tie; under [`TieRule::Review`] the item goes to
//!   review, under the other rules ranked pairs' own tie-break (lower
//!   position first) stands.
//!
//! `overall` (when asked): K classes, decided by the method.
//!
//! Class 0 is always the "milder" reading (safe, severity 0, not ticked), so
//! [`TieRule::Highest`] is the cautious rule (unsafe, more severe, ticked)
//! and [`TieRule::Lowest`] the lenient one.
//!
//! A vote whose field is malformed (wrong number of responses, a ranking
//! that is not a permutation of the K positions, an out-of-range position or
//! severity, a category outside the taxonomy) does not count for that field;
//! the rest of the annotator's labels still count.
//!
//! `confidence`, when asked, is the lower median of the annotators' valid
//! confidences (1..=5); it is not subject to ties or support. `comment` is
//! never consolidated (`None`).
//!
//! # Dawid–Skene
//!
//! Every field (e.g. `responses[1].severity`) is estimated separately, over
//! all items of the call at once, so each annotator's confusion matrices are
//! learned from all their work. Annotator ids are mapped to dense indices in
//! ascending id order. Each item then reads its MAP class, and the MAP
//! posterior is the support. Posteriors within 1e-12 of the maximum count as
//! tied, and the tie rule applies as for majority vote.
//!
//! # Review
//!
//! - [`ReviewReason::Tie`] (a tie under [`TieRule::Review`]) and
//!   [`ReviewReason::NoVotes`] (no valid vote on an asked field): the
//!   labels cannot be assembled, `labels = None`.
//! - [`ReviewReason::RuleConflict`]: the assembled labels break a label
//!   rule; every broken rule is listed (`"field: message"`, as
//!   [`labels::validate`](crate::labels::validate) words it) and
//!   `labels = None`. A label is never bent to fit.
//! - [`ReviewReason::LowSupport`]: a decided field's support is below
//!   `min_support`. The item is flagged but **keeps** its labels (when no
//!   other reason removes them): the labels are valid and the majority /
//!   MAP reading, only weakly supported. Tied fields are reported as ties,
//!   not also as low support.
//!
//! An adjudication always wins: the item's labels are the adjudicated ones,
//! `adjudicated = true` and no review reasons (the support from the votes is
//! still reported).

mod dawid_skene;
mod fitter;
mod majority;
mod model;
mod ranked_pairs;
#[cfg(test)]
mod test_labels;
#[cfg(test)]
mod vote_table;
mod votes;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

pub use fitter::Fitter;
pub use majority::TieRule;
pub use model::{CategorySupport, Memo, Model};
pub use ranked_pairs::{InvalidBallot, RankedPairsResult, ranked_pairs};

use crate::labels::{Decoded, Labels, Questions};
use crate::taxonomy::Taxonomy;

/// How categorical fields are consolidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Per-item plurality vote; support = share of the item's votes.
    Majority,
    /// Dawid & Skene EM per field over all items; support = MAP posterior.
    DawidSkene,
}

/// The labels annotators gave one item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemAnnotations<'a> {
    pub item: usize,
    /// `(annotator, labels)`.
    pub votes: Vec<(usize, &'a Labels)>,
}

/// The labels annotators gave one item, decoded for counting
/// ([`Decoded::from_json`] against the taxonomy's names).
#[derive(Debug, Clone, Copy)]
pub struct DecodedItem<'a> {
    pub item: usize,
    /// `(annotator, labels)`.
    pub votes: &'a [(usize, Decoded)],
}

/// Support of one response's fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseSupport {
    pub safe: f64,
    pub severity: f64,
    /// Support of the ticked / not-ticked decision, per category name.
    pub categories: BTreeMap<String, f64>,
}

/// Support of each consolidated field: the share of annotators agreeing
/// (majority vote, and ranked pairs) or the MAP posterior (Dawid–Skene), in
/// 0..=1. A field with no valid votes has support 0. Fields the project does
/// not ask are empty / `None`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Support {
    /// One per response, in position order (empty without the safety
    /// question).
    pub responses: Vec<ResponseSupport>,
    pub helpfulness: Option<f64>,
    pub harmlessness: Option<f64>,
    pub overall: Option<f64>,
}

/// Why an item needs a lead's review.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ReviewReason {
    /// The field's vote is tied (under [`TieRule::Review`]).
    Tie { field: String },
    /// The consolidated labels break a label rule: `"field: message"`.
    RuleConflict { rule: String },
    /// The field's support is below the minimum (labels are kept).
    LowSupport { field: String, support: f64 },
    /// Nobody gave a valid vote on an asked field.
    NoVotes { field: String },
}

/// The consolidated record of one item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Consolidated {
    pub item: usize,
    /// `None` when the item goes to review for a tie, missing votes or a rule
    /// conflict.
    pub labels: Option<Labels>,
    pub support: Support,
    /// Empty when the item needs no review.
    pub review: Vec<ReviewReason>,
    /// Whether a lead's adjudication gave the labels.
    pub adjudicated: bool,
}

/// The annotator a machine source stands as when Dawid–Skene counts it as
/// one more annotator: above every person's index (people are numbered from
/// 0), so it never shares one and comes last in the model's order.
pub const SOURCE_ANNOTATOR: usize = usize::MAX;

/// Adds a machine source's labels to an item's votes as
/// [`SOURCE_ANNOTATOR`] — only when a person has voted on the item: a source
/// alone never labels an item (it would be the model's labels in place of
/// people's).
pub fn add_source_vote<L>(votes: &mut Vec<(usize, L)>, source: Option<L>) {
    if let Some(labels) = source.filter(|_| !votes.is_empty()) {
        votes.push((SOURCE_ANNOTATOR, labels));
    }
}

/// Consolidates every item into one record, in input order: a [`Fitter`]
/// over all the items, then [`Model::consolidate`]. See the module
/// documentation for the rules. `tie` applies to majority vote, to exactly
/// tied Dawid–Skene posteriors and to ranked-pairs ties; `min_support` flags
/// weakly supported fields; `adjudicated` maps item ids to a lead's labels,
/// which always win.
#[allow(clippy::too_many_arguments)]
pub fn consolidate(
    items: &[ItemAnnotations],
    k: usize,
    taxonomy: &Taxonomy,
    questions: &Questions,
    method: Method,
    tie: TieRule,
    min_support: f64,
    adjudicated: &HashMap<usize, Labels>,
) -> Vec<Consolidated> {
    let mut fitter = Fitter::new(k, taxonomy, questions, method);
    for item in items {
        fitter.add(item);
    }
    fitter
        .finish()
        .consolidate(items, tie, min_support, adjudicated, CategorySupport::Named)
}

#[cfg(test)]
mod tests {
    use super::test_labels::{as_items, item, lab, random_labels, random_set, run, valid};
    use super::*;
    use crate::labels::ResponseLabel;
    use crate::rng::SplitMix64 as Rng;

    const EPS: f64 = 1e-9;
    const V: &str = "Violence";
    const D: &str = "Drugs";

    #[test]
    fn unanimous_items_keep_their_labels_with_full_support() {
        let l = lab(
            vec![
                ResponseLabel::safe(),
                ResponseLabel::unsafe_with(&[V, D], 2),
            ],
            &[1, 0],
            &[0, 1],
        );
        valid(&l, 2);
        let votes = vec![l.clone(), l.clone(), l.clone()];
        for method in [Method::Majority, Method::DawidSkene] {
            let out = run(&[item(7, &votes)], 2, method, TieRule::Review);
            assert_eq!(out.len(), 1);
            let c = &out[0];
            assert_eq!(c.item, 7);
            assert_eq!(c.labels.as_ref(), Some(&l));
            assert!(c.review.is_empty(), "{:?}", c.review);
            assert!(!c.adjudicated);
            assert!(c.support.responses[1].safe > 0.99);
            if method == Method::Majority {
                assert!((c.support.responses[0].safe - 1.0).abs() < EPS);
                assert!((c.support.responses[1].categories[V] - 1.0).abs() < EPS);
                assert!((c.support.responses[1].categories["Animal Abuse"] - 1.0).abs() < EPS);
                assert_eq!(c.support.helpfulness, Some(1.0));
                assert_eq!(c.support.overall, None);
            }
            assert_eq!(c.support.responses[0].categories.len(), 19);
        }
    }

    #[test]
    fn two_of_three_majority_has_support_two_thirds() {
        let a = lab(
            vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[V], 1)],
            &[0, 1],
            &[0, 1],
        );
        let b = lab(
            vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[V], 1)],
            &[1, 0],
            &[0, 1],
        );
        let c = lab(
            vec![
                ResponseLabel::unsafe_with(&[D], 1),
                ResponseLabel::unsafe_with(&[V], 1),
            ],
            &[0, 1],
            &[1, 0],
        );
        let votes = vec![a.clone(), b, c];
        let out = run(&[item(0, &votes)], 2, Method::Majority, TieRule::Review);
        let r = &out[0];
        assert_eq!(r.labels.as_ref(), Some(&a));
        let s = &r.support;
        assert!((s.responses[0].safe - 2.0 / 3.0).abs() < EPS);
        assert!((s.responses[0].severity - 2.0 / 3.0).abs() < EPS);
        assert!((s.responses[0].categories[D] - 2.0 / 3.0).abs() < EPS);
        assert!((s.responses[1].safe - 1.0).abs() < EPS);
        assert!((s.helpfulness.unwrap() - 2.0 / 3.0).abs() < EPS);
        assert!((s.harmlessness.unwrap() - 2.0 / 3.0).abs() < EPS);
        assert!(r.review.is_empty());

        // With a minimum support of 0.7 the item is flagged but keeps labels.
        let out = consolidate(
            &[item(0, &votes)],
            2,
            &Taxonomy::pku19(),
            &Questions::default(),
            Method::Majority,
            TieRule::Review,
            0.7,
            &HashMap::new(),
        );
        assert_eq!(out[0].labels.as_ref(), Some(&a));
        let low: Vec<&str> = out[0]
            .review
            .iter()
            .map(|r| match r {
                ReviewReason::LowSupport { field, support } => {
                    assert!((support - 2.0 / 3.0).abs() < EPS);
                    field.as_str()
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            low,
            vec![
                "responses[0].safe",
                "responses[0].severity",
                "responses[0].categories[Drugs]",
                "helpfulness",
                "harmlessness"
            ]
        );
    }

    #[test]
    fn a_tie_goes_to_review_unless_a_tie_rule_is_set() {
        let a = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[0, 1],
            &[0, 1],
        );
        let b = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[1, 0],
            &[0, 1],
        );
        let votes = vec![a.clone(), b.clone()];
        let out = run(&[item(3, &votes)], 2, Method::Majority, TieRule::Review);
        assert_eq!(out[0].labels, None);
        assert_eq!(
            out[0].review,
            vec![ReviewReason::Tie {
                field: "helpfulness".into()
            }]
        );
        assert!((out[0].support.helpfulness.unwrap() - 0.5).abs() < EPS);

        let out = run(&[item(3, &votes)], 2, Method::Majority, TieRule::Lowest);
        assert_eq!(out[0].labels.as_ref(), Some(&a));
        assert!(out[0].review.is_empty());
        let out = run(&[item(3, &votes)], 2, Method::Majority, TieRule::Highest);
        assert_eq!(out[0].labels.as_ref(), Some(&b));
    }

    #[test]
    fn unsafe_majority_with_severity_zero_plurality_is_a_rule_conflict() {
        // Response 1: 3 of 5 say unsafe (severities 1, 2, 3), 2 say safe, so
        // severity 0 is the plurality (2 of 5).
        let sev = |s: u8| {
            lab(
                vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[V], s)],
                &[0, 1],
                &[0, 1],
            )
        };
        let votes = vec![
            lab(
                vec![ResponseLabel::safe(), ResponseLabel::safe()],
                &[0, 1],
                &[0, 1],
            ),
            lab(
                vec![ResponseLabel::safe(), ResponseLabel::safe()],
                &[0, 1],
                &[0, 1],
            ),
            sev(1),
            sev(2),
            sev(3),
        ];
        let out = run(&[item(0, &votes)], 2, Method::Majority, TieRule::Review);
        let r = &out[0];
        assert_eq!(r.labels, None);
        assert!((r.support.responses[1].safe - 0.6).abs() < EPS);
        assert!((r.support.responses[1].severity - 0.4).abs() < EPS);
        assert_eq!(r.review.len(), 1, "{:?}", r.review);
        match &r.review[0] {
            ReviewReason::RuleConflict { rule } => {
                assert!(rule.starts_with("responses[1].severity:"), "{rule}");
                assert!(rule.contains("unsafe response has severity"), "{rule}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unsafe_without_a_majority_category_is_a_rule_conflict() {
        let votes = vec![
            lab(
                vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[V], 1)],
                &[0, 1],
                &[0, 1],
            ),
            lab(
                vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[D], 1)],
                &[0, 1],
                &[0, 1],
            ),
            lab(
                vec![
                    ResponseLabel::safe(),
                    ResponseLabel::unsafe_with(&["Cybercrime"], 1),
                ],
                &[0, 1],
                &[0, 1],
            ),
        ];
        let out = run(&[item(0, &votes)], 2, Method::Majority, TieRule::Review);
        assert_eq!(out[0].labels, None);
        assert!(matches!(
            &out[0].review[..],
            [ReviewReason::RuleConflict { rule }] if rule.starts_with("responses[1].categories:")
        ));
    }

    #[test]
    fn exactly_one_safe_must_be_the_more_harmless() {
        // Each vote obeys the rules; the field-wise majority does not:
        // response 0 safe (A, B), response 1 unsafe (A, C), but 1 is the
        // more harmless (B, C).
        let a = lab(
            vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[V], 1)],
            &[0, 1],
            &[0, 1],
        );
        let b = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[0, 1],
            &[1, 0],
        );
        let c = lab(
            vec![
                ResponseLabel::unsafe_with(&[D], 2),
                ResponseLabel::unsafe_with(&[V], 1),
            ],
            &[0, 1],
            &[1, 0],
        );
        for l in [&a, &b, &c] {
            valid(l, 2);
        }
        let votes = vec![a, b, c];
        let out = run(&[item(0, &votes)], 2, Method::Majority, TieRule::Review);
        assert_eq!(out[0].labels, None);
        assert!(
            matches!(
                &out[0].review[..],
                [ReviewReason::RuleConflict { rule }] if rule.starts_with("harmlessness:")
                    && rule.contains("only safe response")
            ),
            "{:?}",
            out[0].review
        );
    }

    #[test]
    fn an_adjudication_always_wins() {
        let a = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[0, 1],
            &[0, 1],
        );
        let b = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[1, 0],
            &[0, 1],
        );
        let votes = vec![a, b];
        let lead = lab(
            vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[V], 3)],
            &[1, 0],
            &[0, 1],
        );
        let adjudicated = HashMap::from([(3usize, lead.clone())]);
        for method in [Method::Majority, Method::DawidSkene] {
            let out = consolidate(
                &[item(3, &votes), item(4, &votes)],
                2,
                &Taxonomy::pku19(),
                &Questions::default(),
                method,
                TieRule::Review,
                0.9,
                &adjudicated,
            );
            assert_eq!(out[0].labels.as_ref(), Some(&lead));
            assert!(out[0].adjudicated);
            assert!(out[0].review.is_empty());
            // The other item is still tied.
            assert!(!out[1].adjudicated);
            assert_eq!(out[1].labels, None);
            assert!(out[1].review.contains(&ReviewReason::Tie {
                field: "helpfulness".into()
            }));
        }
    }

    #[test]
    fn k3_rankings_use_ranked_pairs() {
        let s3 = || {
            vec![
                ResponseLabel::safe(),
                ResponseLabel::safe(),
                ResponseLabel::safe(),
            ]
        };
        // Helpfulness: 2 voters 0>1>2, 1 voter 1>2>0 -> 0>1 (2:1), 1>2 (3:0).
        let votes = vec![
            lab(s3(), &[0, 1, 2], &[2, 1, 0]),
            lab(s3(), &[0, 1, 2], &[2, 0, 1]),
            lab(s3(), &[1, 2, 0], &[2, 1, 0]),
        ];
        let out = run(&[item(0, &votes)], 3, Method::Majority, TieRule::Review);
        let l = out[0].labels.as_ref().unwrap();
        assert_eq!(l.helpfulness, vec![0, 1, 2]);
        assert_eq!(l.harmlessness, vec![2, 1, 0]);
        // Weakest adjacent pair: 0 over 1 on 2 of 3 ballots.
        assert!((out[0].support.helpfulness.unwrap() - 2.0 / 3.0).abs() < EPS);
        assert!((out[0].support.harmlessness.unwrap() - 2.0 / 3.0).abs() < EPS);

        // Two opposite ballots: every pair tied.
        let votes = vec![
            lab(s3(), &[0, 1, 2], &[0, 1, 2]),
            lab(s3(), &[2, 1, 0], &[0, 1, 2]),
        ];
        let out = run(&[item(0, &votes)], 3, Method::Majority, TieRule::Review);
        assert_eq!(out[0].labels, None);
        assert_eq!(
            out[0].review,
            vec![ReviewReason::Tie {
                field: "helpfulness".into()
            }]
        );
        let out = run(&[item(0, &votes)], 3, Method::DawidSkene, TieRule::Lowest);
        assert_eq!(out[0].labels.as_ref().unwrap().helpfulness, vec![0, 1, 2]);
    }

    #[test]
    fn dawid_skene_on_a_seeded_set_obeys_the_rules_and_is_deterministic() {
        let mut rng = Rng(42);
        // 40 items, 5 annotators (ids 1, 11, .., 41), 3 per item; the first
        // three copy the item's truth, the last two give random (valid)
        // labels a quarter of the time.
        let truths: Vec<Labels> = (0..40).map(|_| random_labels(&mut rng)).collect();
        let mut all: Vec<Vec<(usize, Labels)>> = Vec::new();
        for t in &truths {
            let mut v = Vec::new();
            let start = rng.below(5);
            for j in 0..3 {
                let a = (start + j) % 5;
                let l = if a < 3 || rng.below(4) != 0 {
                    t.clone()
                } else {
                    random_labels(&mut rng)
                };
                v.push((a * 10 + 1, l));
            }
            all.push(v);
        }
        let items: Vec<ItemAnnotations> = all
            .iter()
            .enumerate()
            .map(|(i, v)| ItemAnnotations {
                item: 100 + i,
                votes: v.iter().map(|(a, l)| (*a, l)).collect(),
            })
            .collect();
        let out = run(&items, 2, Method::DawidSkene, TieRule::Review);
        assert_eq!(out.len(), 40);
        let mut with_labels = 0;
        let mut matches_truth = 0;
        for (c, t) in out.iter().zip(&truths) {
            for s in c.support.responses.iter() {
                assert!((0.0..=1.0 + EPS).contains(&s.safe));
            }
            if let Some(l) = &c.labels {
                valid(l, 2);
                with_labels += 1;
                matches_truth += usize::from(l == t);
            } else {
                assert!(!c.review.is_empty());
            }
        }
        assert!(with_labels >= 30, "only {with_labels} of 40 consolidated");
        assert!(matches_truth >= 30, "only {matches_truth} of 40 recovered");
        // Same input, same output.
        assert_eq!(out, run(&items, 2, Method::DawidSkene, TieRule::Review));
        // Majority also obeys the rules on the same set.
        for c in run(&items, 2, Method::Majority, TieRule::Highest) {
            if let Some(l) = &c.labels {
                valid(l, 2);
            }
        }
    }

    #[test]
    fn overall_and_confidence_when_asked() {
        let q = Questions {
            overall: true,
            confidence: true,
            ..Questions::default()
        };
        let mut a = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[0, 1],
            &[0, 1],
        );
        a.overall = Some(1);
        a.confidence = Some(2);
        let mut b = a.clone();
        b.confidence = Some(5);
        let mut c = a.clone();
        c.overall = Some(0);
        c.confidence = Some(4);
        let votes = vec![a, b, c];
        let out = consolidate(
            &[item(0, &votes)],
            2,
            &Taxonomy::pku19(),
            &q,
            Method::Majority,
            TieRule::Review,
            0.0,
            &HashMap::new(),
        );
        let l = out[0].labels.as_ref().unwrap();
        assert_eq!(l.overall, Some(1));
        assert_eq!(l.confidence, Some(4));
        assert!((out[0].support.overall.unwrap() - 2.0 / 3.0).abs() < EPS);
    }

    #[test]
    fn empty_and_degenerate_inputs_do_not_panic() {
        for method in [Method::Majority, Method::DawidSkene] {
            assert!(run(&[], 2, method, TieRule::Review).is_empty());
            // An item nobody labelled goes to review for missing votes.
            let out = run(&[item(1, &[])], 2, method, TieRule::Review);
            assert_eq!(out[0].labels, None);
            assert!(out[0].review.contains(&ReviewReason::NoVotes {
                field: "responses[0].safe".into()
            }));
            // Malformed votes count for nothing; k = 0 and k = 1 run.
            let bad = vec![lab(
                vec![ResponseLabel::unsafe_with(&["Nope"], 9)],
                &[5],
                &[],
            )];
            for k in [0, 1, 2, 3] {
                let out = run(&[item(2, &bad)], k, method, TieRule::Review);
                assert_eq!(out.len(), 1);
            }
        }
    }

    /// Two people who agree on most items and split evenly on a few, one
    /// way and the other, and a source that always sides with the first.
    fn split_set(with_source: bool) -> Vec<Vec<(usize, Labels)>> {
        let unsafe_ = lab(
            vec![ResponseLabel::unsafe_with(&[V], 2), ResponseLabel::safe()],
            &[0, 1],
            &[1, 0],
        );
        let safe = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[0, 1],
            &[1, 0],
        );
        let mut set = Vec::new();
        let mut add = |first: &Labels, second: &Labels| {
            let mut votes = vec![(0, first.clone()), (1, second.clone())];
            add_source_vote(&mut votes, with_source.then(|| first.clone()));
            set.push(votes);
        };
        for _ in 0..10 {
            add(&unsafe_, &unsafe_);
            add(&safe, &safe);
        }
        for _ in 0..3 {
            add(&safe, &unsafe_);
            add(&unsafe_, &safe);
        }
        set
    }

    fn first_safe(records: &[Consolidated]) -> Vec<Option<bool>> {
        records
            .iter()
            .map(|r| r.labels.as_ref().map(|l| l.responses[0].safe))
            .collect()
    }

    #[test]
    fn a_source_counted_as_an_annotator_breaks_the_peoples_splits() {
        let without = run(
            &as_items(&split_set(false)),
            2,
            Method::DawidSkene,
            TieRule::Review,
        );
        let with = run(
            &as_items(&split_set(true)),
            2,
            Method::DawidSkene,
            TieRule::Review,
        );
        let (before, after) = (first_safe(&without), first_safe(&with));
        // Agreed items keep their labels either way.
        for n in 0..20 {
            assert_eq!(before[n], Some(n % 2 == 1), "item {n}");
            assert_eq!(after[n], before[n], "item {n}");
        }
        // Without the source the two kinds of split look alike to the model
        // (the people are symmetric), so they cannot come out differently.
        for n in (20..26).step_by(2) {
            assert_eq!(before[n], before[n + 1], "split items {n} and {}", n + 1);
        }
        // With it, each split goes the source's way (the first person's).
        for n in (20..26).step_by(2) {
            assert_eq!(after[n], Some(true), "item {n}");
            assert_eq!(after[n + 1], Some(false), "item {}", n + 1);
        }
        for record in &with {
            valid(record.labels.as_ref().unwrap(), 2);
        }
    }

    #[test]
    fn a_source_never_votes_alone() {
        let labels = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[0, 1],
            &[1, 0],
        );
        let mut votes: Vec<(usize, &Labels)> = Vec::new();
        add_source_vote(&mut votes, Some(&labels));
        assert!(votes.is_empty());
        votes.push((3, &labels));
        add_source_vote(&mut votes, None);
        assert_eq!(votes.len(), 1);
        add_source_vote(&mut votes, Some(&labels));
        assert_eq!(votes, [(3, &labels), (SOURCE_ANNOTATOR, &labels)]);
    }

    #[test]
    fn property_order_and_names_of_annotators_and_items_do_not_matter() {
        let mut rng = Rng(8);
        for round in 0..40 {
            let n = 1 + rng.below(30);
            let set = random_set(&mut rng, n);
            let method = if round % 2 == 0 {
                Method::Majority
            } else {
                Method::DawidSkene
            };
            let tie = [TieRule::Review, TieRule::Lowest, TieRule::Highest][rng.below(3)];
            let base = run(&as_items(&set), 2, method, tie);
            for c in &base {
                if let Some(l) = &c.labels {
                    valid(l, 2);
                }
            }
            // Annotators reordered within items, items reordered.
            let mut shuffled: Vec<(usize, Vec<(usize, Labels)>)> =
                set.iter().cloned().enumerate().collect();
            for (_, votes) in shuffled.iter_mut() {
                for i in (1..votes.len()).rev() {
                    votes.swap(i, rng.below(i + 1));
                }
            }
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, rng.below(i + 1));
            }
            let items: Vec<ItemAnnotations> = shuffled
                .iter()
                .map(|(i, v)| ItemAnnotations {
                    item: *i,
                    votes: v.iter().map(|(a, l)| (*a, l)).collect(),
                })
                .collect();
            let mut again = run(&items, 2, method, tie);
            again.sort_by_key(|c| c.item);
            assert_eq!(base, again, "reordered, round {round}");
            // Annotators renamed by an order-keeping map (Dawid–Skene numbers
            // annotators by id order, so that order is kept to compare bit
            // for bit).
            let renamed: Vec<Vec<(usize, Labels)>> = set
                .iter()
                .map(|v| v.iter().map(|(a, l)| (1000 + 17 * a, l.clone())).collect())
                .collect();
            assert_eq!(
                base,
                run(&as_items(&renamed), 2, method, tie),
                "renamed, round {round}"
            );
        }
    }

    #[test]
    fn property_no_panic_and_valid_labels_on_odd_inputs() {
        let mut rng = Rng(9);
        for round in 0..60 {
            let k = rng.below(4);
            let n = rng.below(8);
            let set = random_set(&mut rng, n);
            for method in [Method::Majority, Method::DawidSkene] {
                let out = run(&as_items(&set), k, method, TieRule::Lowest);
                assert_eq!(out.len(), set.len(), "round {round}");
                for c in &out {
                    if let Some(l) = &c.labels {
                        valid(l, k);
                    }
                }
            }
        }
    }
}
