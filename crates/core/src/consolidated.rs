//! One consolidated record per item, from the labels of several annotators.
//!
//! Pure and deterministic: [`consolidate`] assembles the per-field results of
//! [`crate::consolidate`] (majority vote, Dawid–Skene, ranked pairs) into one
//! [`Consolidated`] record per item, checks the result against the label
//! rules with [`labels::validate`], and applies adjudications.
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
//!   [`labels::validate`] words it) and `labels = None`. A label is never
//!   bent to fit.
//! - [`ReviewReason::LowSupport`]: a decided field's support is below
//!   `min_support`. The item is flagged but **keeps** its labels (when no
//!   other reason removes them): the labels are valid and the majority /
//!   MAP reading, only weakly supported. Tied fields are reported as ties,
//!   not also as low support.
//!
//! An adjudication always wins: the item's labels are the adjudicated ones,
//! `adjudicated = true` and no review reasons (the support from the votes is
//! still reported).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::consolidate::{
    DawidSkeneConfig, MajorityOutcome, TieRule, Vote, VoteTable, dawid_skene, majority_of,
    ranked_pairs,
};
use crate::labels::{self, Labels, Questions, ResponseLabel};
use crate::taxonomy::Taxonomy;

/// Posteriors this close to the maximum are tied (Dawid–Skene).
const DS_TIE_EPS: f64 = 1e-12;

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

/// The decision on one field of one item.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Decision {
    class: Option<usize>,
    support: f64,
    tie: bool,
    no_votes: bool,
}

impl Decision {
    const NONE: Decision = Decision {
        class: None,
        support: 0.0,
        tie: false,
        no_votes: true,
    };
}

/// A categorical field.
#[derive(Debug, Clone, Copy)]
enum Field {
    Safe(usize),
    Severity(usize),
    /// Response, category index in the taxonomy.
    Category(usize, usize),
    /// The first position of a ranking (K ≤ 2).
    First(Ranking),
    Overall,
}

#[derive(Debug, Clone, Copy)]
enum Ranking {
    Helpfulness,
    Harmlessness,
}

fn ranking_of(labels: &Labels, r: Ranking) -> &[usize] {
    match r {
        Ranking::Helpfulness => &labels.helpfulness,
        Ranking::Harmlessness => &labels.harmlessness,
    }
}

fn ranking_name(r: Ranking) -> &'static str {
    match r {
        Ranking::Helpfulness => "helpfulness",
        Ranking::Harmlessness => "harmlessness",
    }
}

/// Whether `ranking` is a permutation of `0..k`.
fn is_full_ranking(ranking: &[usize], k: usize) -> bool {
    if ranking.len() != k {
        return false;
    }
    let mut seen = vec![false; k];
    for &p in ranking {
        if p >= k || seen[p] {
            return false;
        }
        seen[p] = true;
    }
    true
}

struct Ctx<'t> {
    k: usize,
    categories: Vec<&'t str>,
    method: Method,
    tie: TieRule,
}

impl Ctx<'_> {
    fn n_classes(&self, field: Field) -> usize {
        match field {
            Field::Safe(_) | Field::Category(..) => 2,
            Field::Severity(_) => 4,
            Field::First(_) | Field::Overall => self.k,
        }
    }

    /// The class one annotator's labels give `field`, if well-formed.
    fn class_of(&self, labels: &Labels, field: Field) -> Option<usize> {
        let response = |i: usize| {
            if labels.responses.len() == self.k {
                labels.responses.get(i)
            } else {
                None
            }
        };
        match field {
            Field::Safe(i) => response(i).map(|r| usize::from(!r.safe)),
            Field::Severity(i) => response(i).and_then(|r| {
                if r.safe {
                    Some(0)
                } else if r.severity <= 3 {
                    Some(usize::from(r.severity))
                } else {
                    None
                }
            }),
            Field::Category(i, c) => response(i).and_then(|r| {
                if r.safe {
                    return Some(0);
                }
                if r.categories
                    .iter()
                    .any(|n| !self.categories.contains(&n.as_str()))
                {
                    return None;
                }
                Some(usize::from(
                    r.categories.iter().any(|n| n == self.categories[c]),
                ))
            }),
            Field::First(r) => {
                let ranking = ranking_of(labels, r);
                if is_full_ranking(ranking, self.k) {
                    ranking.first().copied()
                } else {
                    None
                }
            }
            Field::Overall => labels.overall.filter(|&p| p < self.k),
        }
    }

    fn field_name(&self, field: Field) -> String {
        match field {
            Field::Safe(i) => format!("responses[{i}].safe"),
            Field::Severity(i) => format!("responses[{i}].severity"),
            Field::Category(i, c) => format!("responses[{i}].categories[{}]", self.categories[c]),
            Field::First(r) => ranking_name(r).to_string(),
            Field::Overall => "overall".to_string(),
        }
    }

    /// The decision on `field` for every item, in item order.
    fn decide(&self, items: &[ItemAnnotations], field: Field) -> Vec<Decision> {
        let n_classes = self.n_classes(field);
        match self.method {
            Method::Majority => items
                .iter()
                .map(|it| {
                    let classes: Vec<usize> = it
                        .votes
                        .iter()
                        .filter_map(|(_, l)| self.class_of(l, field))
                        .collect();
                    match majority_of(&classes, n_classes, self.tie) {
                        Ok(m) => match m.outcome {
                            MajorityOutcome::NoVotes => Decision::NONE,
                            MajorityOutcome::Winner { class, support, .. } => Decision {
                                class: Some(class),
                                support,
                                tie: false,
                                no_votes: false,
                            },
                            MajorityOutcome::Tie { support, .. } => Decision {
                                class: None,
                                support,
                                tie: true,
                                no_votes: false,
                            },
                        },
                        // Cannot happen: class_of keeps classes in range.
                        Err(_) => Decision::NONE,
                    }
                })
                .collect(),
            Method::DawidSkene => self.decide_dawid_skene(items, field, n_classes),
        }
    }

    fn decide_dawid_skene(
        &self,
        items: &[ItemAnnotations],
        field: Field,
        n_classes: usize,
    ) -> Vec<Decision> {
        let annotators: BTreeSet<usize> = items
            .iter()
            .flat_map(|it| it.votes.iter().map(|(a, _)| *a))
            .collect();
        let index: HashMap<usize, usize> = annotators
            .iter()
            .enumerate()
            .map(|(j, &a)| (a, j))
            .collect();
        let mut votes = Vec::new();
        for (i, it) in items.iter().enumerate() {
            for (a, l) in &it.votes {
                if let Some(class) = self.class_of(l, field) {
                    votes.push(Vote {
                        item: i,
                        annotator: index[a],
                        class,
                    });
                }
            }
        }
        let result = VoteTable::new(items.len(), annotators.len(), n_classes, votes)
            .and_then(|table| dawid_skene(&table, &DawidSkeneConfig::default()));
        let Ok(result) = result else {
            // Cannot happen: indices are in range and the config is valid.
            return vec![Decision::NONE; items.len()];
        };
        result
            .items
            .iter()
            .map(|d| {
                if d.n_votes == 0 || d.posterior.is_empty() {
                    return Decision::NONE;
                }
                let top = d.posterior.iter().copied().fold(f64::MIN, f64::max);
                let tied: Vec<usize> = (0..d.posterior.len())
                    .filter(|&c| d.posterior[c] >= top - DS_TIE_EPS)
                    .collect();
                let class = match (tied.len(), self.tie) {
                    (1, _) => Some(tied[0]),
                    (_, TieRule::Review) => None,
                    (_, TieRule::Lowest) => Some(tied[0]),
                    (_, TieRule::Highest) => Some(tied[tied.len() - 1]),
                };
                Decision {
                    class,
                    support: top,
                    tie: class.is_none(),
                    no_votes: false,
                }
            })
            .collect()
    }
}

/// A consolidated ranking of one item.
#[derive(Debug, Clone, PartialEq)]
struct RankDecision {
    order: Option<Vec<usize>>,
    support: f64,
    tie: bool,
    no_votes: bool,
}

/// Ranked pairs over the item's full rankings (K > 2).
fn rank_by_ranked_pairs(it: &ItemAnnotations, r: Ranking, k: usize, tie: TieRule) -> RankDecision {
    let ballots: Vec<&[usize]> = it
        .votes
        .iter()
        .map(|(_, l)| ranking_of(l, r))
        .filter(|b| is_full_ranking(b, k))
        .collect();
    let none = RankDecision {
        order: None,
        support: 0.0,
        tie: false,
        no_votes: true,
    };
    if ballots.is_empty() {
        return none;
    }
    let Ok(result) = ranked_pairs(k, &ballots) else {
        return none;
    };
    let n = ballots.len() as f64;
    let mut support = 1.0f64;
    let mut tied = false;
    for pair in result.order.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        support = support.min(result.wins[a][b] as f64 / n);
        if result.wins[a][b] == result.wins[b][a] {
            tied = true;
        }
    }
    let tie = tied && tie == TieRule::Review;
    RankDecision {
        order: (!tie).then_some(result.order),
        support,
        tie,
        no_votes: false,
    }
}

/// The lower median of the valid confidences (1..=5) given.
fn median_confidence(it: &ItemAnnotations) -> Option<u8> {
    let mut c: Vec<u8> = it
        .votes
        .iter()
        .filter_map(|(_, l)| l.confidence)
        .filter(|c| (1..=5).contains(c))
        .collect();
    c.sort_unstable();
    if c.is_empty() {
        None
    } else {
        Some(c[(c.len() - 1) / 2])
    }
}

/// Consolidates every item into one record, in input order. See the module
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
    if items.is_empty() {
        return Vec::new();
    }
    let ctx = Ctx {
        k,
        categories: taxonomy.names(),
        method,
        tie,
    };
    let n_cat = ctx.categories.len();

    // Per-field decisions over all items.
    let (safe, severity, cats) = if questions.safety {
        let safe: Vec<Vec<Decision>> = (0..k).map(|i| ctx.decide(items, Field::Safe(i))).collect();
        let severity: Vec<Vec<Decision>> = (0..k)
            .map(|i| ctx.decide(items, Field::Severity(i)))
            .collect();
        let cats: Vec<Vec<Vec<Decision>>> = (0..k)
            .map(|i| {
                (0..n_cat)
                    .map(|c| ctx.decide(items, Field::Category(i, c)))
                    .collect()
            })
            .collect();
        (safe, severity, cats)
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    let rankings: Vec<(Ranking, Option<Vec<RankDecision>>)> = [
        (Ranking::Helpfulness, questions.helpfulness),
        (Ranking::Harmlessness, questions.harmlessness),
    ]
    .into_iter()
    .map(|(r, asked)| {
        let decisions = asked.then(|| {
            if k <= 2 {
                ctx.decide(items, Field::First(r))
                    .into_iter()
                    .map(|d| RankDecision {
                        order: d.class.map(|first| {
                            std::iter::once(first)
                                .chain((0..k).filter(|&p| p != first))
                                .collect()
                        }),
                        support: d.support,
                        tie: d.tie,
                        no_votes: d.no_votes,
                    })
                    .collect()
            } else {
                items
                    .iter()
                    .map(|it| rank_by_ranked_pairs(it, r, k, tie))
                    .collect()
            }
        });
        (r, decisions)
    })
    .collect();
    let overall = questions.overall.then(|| ctx.decide(items, Field::Overall));

    items
        .iter()
        .enumerate()
        .map(|(n, it)| {
            let mut review = Vec::new();
            let mut complete = true;
            let mut check = |field: String, support: f64, tie: bool, no_votes: bool| {
                if no_votes {
                    complete = false;
                    review.push(ReviewReason::NoVotes { field });
                } else if tie {
                    complete = false;
                    review.push(ReviewReason::Tie { field });
                } else if support < min_support {
                    review.push(ReviewReason::LowSupport { field, support });
                }
            };

            // Responses.
            let mut responses = Vec::new();
            let mut response_support = Vec::new();
            if questions.safety {
                for i in 0..k {
                    let s = safe[i][n];
                    check(ctx.field_name(Field::Safe(i)), s.support, s.tie, s.no_votes);
                    let sev = severity[i][n];
                    check(
                        ctx.field_name(Field::Severity(i)),
                        sev.support,
                        sev.tie,
                        sev.no_votes,
                    );
                    let mut categories = Vec::new();
                    let mut cat_support = BTreeMap::new();
                    for (c, d) in cats[i].iter().map(|per_item| per_item[n]).enumerate() {
                        check(
                            ctx.field_name(Field::Category(i, c)),
                            d.support,
                            d.tie,
                            d.no_votes,
                        );
                        cat_support.insert(ctx.categories[c].to_string(), d.support);
                        if d.class == Some(1) {
                            categories.push(ctx.categories[c].to_string());
                        }
                    }
                    response_support.push(ResponseSupport {
                        safe: s.support,
                        severity: sev.support,
                        categories: cat_support,
                    });
                    if let (Some(s), Some(sev)) = (s.class, sev.class) {
                        responses.push(ResponseLabel {
                            safe: s == 0,
                            categories,
                            // sev < 4 (four classes).
                            severity: sev as u8,
                        });
                    }
                }
            }

            // Rankings.
            let mut orders: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
            let mut rank_support: [Option<f64>; 2] = [None, None];
            for (slot, (r, decisions)) in rankings.iter().enumerate() {
                if let Some(decisions) = decisions {
                    let d = &decisions[n];
                    check(ranking_name(*r).to_string(), d.support, d.tie, d.no_votes);
                    rank_support[slot] = Some(d.support);
                    if let Some(order) = &d.order {
                        orders[slot] = order.clone();
                    }
                }
            }

            // Overall.
            let overall_decision = overall.as_ref().map(|o| o[n]);
            if let Some(d) = overall_decision {
                check("overall".to_string(), d.support, d.tie, d.no_votes);
            }

            let support = Support {
                responses: response_support,
                helpfulness: rank_support[0],
                harmlessness: rank_support[1],
                overall: overall_decision.map(|d| d.support),
            };

            if let Some(labels) = adjudicated.get(&it.item) {
                return Consolidated {
                    item: it.item,
                    labels: Some(labels.clone()),
                    support,
                    review: Vec::new(),
                    adjudicated: true,
                };
            }

            let labels = if complete {
                let [helpfulness, harmlessness] = orders;
                let labels = Labels {
                    responses,
                    helpfulness,
                    harmlessness,
                    overall: overall_decision.and_then(|d| d.class),
                    confidence: if questions.confidence {
                        median_confidence(it)
                    } else {
                        None
                    },
                    comment: None,
                };
                match labels::validate(&labels, k, taxonomy, questions) {
                    Ok(()) => Some(labels),
                    Err(errors) => {
                        review.extend(errors.into_iter().map(|e| ReviewReason::RuleConflict {
                            rule: e.to_string(),
                        }));
                        None
                    }
                }
            } else {
                None
            };

            Consolidated {
                item: it.item,
                labels,
                support,
                review,
                adjudicated: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-9;
    const V: &str = "Violence";
    const D: &str = "Drugs";

    fn lab(responses: Vec<ResponseLabel>, helpful: &[usize], harmless: &[usize]) -> Labels {
        Labels {
            responses,
            helpfulness: helpful.to_vec(),
            harmlessness: harmless.to_vec(),
            overall: None,
            confidence: None,
            comment: None,
        }
    }

    fn item(item: usize, labels: &[Labels]) -> ItemAnnotations<'_> {
        ItemAnnotations {
            item,
            votes: labels.iter().enumerate().collect(),
        }
    }

    fn run(items: &[ItemAnnotations], k: usize, method: Method, tie: TieRule) -> Vec<Consolidated> {
        consolidate(
            items,
            k,
            &Taxonomy::pku19(),
            &Questions::default(),
            method,
            tie,
            0.0,
            &HashMap::new(),
        )
    }

    fn valid(l: &Labels, k: usize) {
        labels::validate(l, k, &Taxonomy::pku19(), &Questions::default()).unwrap();
    }

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

    use crate::rng::SplitMix64 as Rng;

    /// A valid random label for K = 2.
    fn random_labels(rng: &mut Rng) -> Labels {
        let cats = Taxonomy::pku19();
        let names = cats.names();
        let response = |rng: &mut Rng| {
            if rng.below(2) == 0 {
                ResponseLabel::safe()
            } else {
                let c = names[rng.below(3)];
                ResponseLabel::unsafe_with(&[c], 1 + rng.below(3) as u8)
            }
        };
        let r0 = response(rng);
        let r1 = response(rng);
        let helpful = if rng.below(2) == 0 { [0, 1] } else { [1, 0] };
        let harmless = match (r0.safe, r1.safe) {
            (true, false) => [0, 1],
            (false, true) => [1, 0],
            _ if rng.below(2) == 0 => [0, 1],
            _ => [1, 0],
        };
        lab(vec![r0, r1], &helpful, &harmless)
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
}
