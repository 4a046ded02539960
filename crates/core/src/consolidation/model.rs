//! A fitted consolidation model: one record per item from its votes — each
//! field decided by majority vote or by the fitted Dawid–Skene parameters,
//! rankings of K > 2 by ranked pairs — checked against the label rules, an
//! adjudication winning.

use std::collections::{BTreeMap, HashMap};

use super::dawid_skene::{map_decision, posterior};
use super::fitter::{DsModel, FxMap, by_annotator};
use super::majority::{Decision, TieRule, majority};
use super::ranked_pairs::{RankDecision, rank_by_ranked_pairs};
use super::votes::{Field, Layout, NO_CLASS, Ranking, Vote};
use super::{Consolidated, DecodedItem, ItemAnnotations, ResponseSupport, ReviewReason, Support};
use crate::labels::{self, Labels, ResponseLabel};

/// A fitted consolidation model (see [`Fitter`](super::Fitter)): consolidates items, in
/// chunks or all at once, with the same result.
#[derive(Debug, Clone)]
pub struct Model {
    pub(super) layout: Layout,
    /// `None` for majority vote.
    pub(super) ds: Option<DsModel>,
}

/// Whether a consolidation names the support of every category of every
/// response ([`ResponseSupport::categories`]). Naming them costs more than
/// the rest of an item's consolidation, so callers that never look at them
/// skip it; everything else, low-support review reasons included, is the
/// same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CategorySupport {
    Named,
    Skipped,
}

impl Model {
    /// Consolidates a chunk of items with the fitted model, in input order;
    /// the same rules and output as [`consolidate`](super::consolidate).
    /// For Dawid–Skene the posteriors come from the fitted confusion
    /// matrices and priors, so items the fitter never saw work too; an
    /// annotator the model has not seen carries no information (as
    /// Dawid–Skene treats an annotator without votes), though their vote
    /// still counts as a vote.
    pub fn consolidate(
        &self,
        items: &[ItemAnnotations],
        tie: TieRule,
        min_support: f64,
        adjudicated: &HashMap<usize, Labels>,
        support: CategorySupport,
    ) -> Vec<Consolidated> {
        let items = items.iter().map(|it| (it.item, it.votes.as_slice()));
        let named = support == CategorySupport::Named;
        self.records(items, named, tie, min_support, adjudicated)
    }

    /// The severities of each item's consolidated labels (`None`: the
    /// item has none), for callers that need no more (the dashboard's
    /// severity confusion): exactly those of [`Model::consolidate`]'s
    /// records of the same labels in full. Under majority vote with K ≤ 2
    /// an item's labels depend only on the classes its votes give each
    /// field and on their confidences, so items whose votes encode alike
    /// share one consolidation, remembered in `memo` (a scope's items
    /// repeat a few patterns again and again).
    pub fn consensus_severities(
        &self,
        items: &[DecodedItem],
        tie: TieRule,
        adjudicated: &HashMap<usize, Labels>,
        memo: &mut Memo,
    ) -> Vec<Option<Vec<u8>>> {
        let severities = |l: &Labels| l.responses.iter().map(|r| r.severity).collect();
        let not_adjudicated = HashMap::new();
        let memoable = self.ds.is_none() && self.layout.k <= 2;
        items
            .iter()
            .map(|it| {
                if let Some(labels) = adjudicated.get(&it.item) {
                    return Some(severities(labels));
                }
                if memoable {
                    self.memo_key(it.votes, tie, &mut memo.key);
                    if let Some(known) = memo.known.get(memo.key.as_slice()) {
                        return known.clone();
                    }
                }
                // Labels do not depend on the minimum support (a weakly
                // supported field keeps its labels).
                let record = self.one(
                    it.item,
                    it.votes,
                    tie,
                    0.0,
                    &not_adjudicated,
                    &mut memo.scratch,
                );
                let found = record.labels.as_ref().map(severities);
                if memoable && memo.known.len() < MEMO_PATTERNS {
                    memo.known.insert(memo.key.clone(), found.clone());
                }
                found
            })
            .collect()
    }

    /// What an item's majority-vote labels depend on: the tie rule, each
    /// vote's classes and, when asked, its confidence. (A memo serves one
    /// model.)
    fn memo_key<V: Vote>(&self, votes: &[(usize, V)], tie: TieRule, key: &mut Vec<u8>) {
        let width = self.layout.fields.len();
        key.clear();
        key.push(tie as u8);
        for (_, vote) in votes {
            let start = key.len();
            key.resize(start + width, NO_CLASS);
            self.layout.encode(vote, &mut key[start..]);
            if self.layout.questions.confidence {
                let c = vote.confidence();
                key.extend([u8::from(c.is_some()), c.unwrap_or(0)]);
            }
        }
    }

    /// Each item's record, in order, with or without each category's
    /// support.
    fn records<'v, V: Vote + 'v>(
        &self,
        items: impl Iterator<Item = (usize, &'v [(usize, V)])>,
        category_support: bool,
        tie: TieRule,
        min_support: f64,
        adjudicated: &HashMap<usize, Labels>,
    ) -> Vec<Consolidated> {
        let mut scratch = Scratch {
            category_support,
            ..Scratch::default()
        };
        items
            .map(|(item, votes)| self.one(item, votes, tie, min_support, adjudicated, &mut scratch))
            .collect()
    }

    /// The decision on every field of one item, into `scratch.decisions`.
    fn decide<V: Vote>(&self, votes: &[(usize, V)], tie: TieRule, s: &mut Scratch) {
        // Dawid–Skene reads votes in annotator order (its sums' rounding
        // follows it); a majority's counts do not depend on the order, so
        // the votes are not copied to be sorted.
        if self.ds.is_some() {
            self.decide_in_order(&by_annotator(votes), tie, s)
        } else {
            self.decide_in_order(votes, tie, s)
        }
    }

    fn decide_in_order<V: Vote>(&self, votes: &[(usize, V)], tie: TieRule, s: &mut Scratch) {
        let layout = &self.layout;
        let width = layout.fields.len();
        s.classes.clear();
        s.classes.resize(votes.len() * width, NO_CLASS);
        for (v, (_, labels)) in votes.iter().enumerate() {
            layout.encode(labels, &mut s.classes[v * width..(v + 1) * width]);
        }
        s.decisions.clear();
        for (f, &field) in layout.fields.iter().enumerate() {
            let n_classes = layout.n_classes(field);
            let classes = (0..votes.len()).map(|v| s.classes[v * width + f]);
            let decision = match &self.ds {
                None => {
                    s.counts.clear();
                    s.counts.resize(n_classes, 0);
                    for class in classes.filter(|&c| c != NO_CLASS) {
                        s.counts[usize::from(class)] += 1;
                    }
                    majority(&s.counts, tie)
                }
                Some(ds) => {
                    if classes.clone().all(|c| c == NO_CLASS) {
                        Decision::NONE
                    } else {
                        let known = votes.iter().zip(classes).filter_map(|((a, _), class)| {
                            let dense = ds.annotators.get(a)?;
                            (class != NO_CLASS).then_some((*dense, u32::from(class)))
                        });
                        let (log_prior, log_conf) = &ds.fields[f];
                        s.posterior.resize(n_classes, 0.0);
                        posterior(log_prior, log_conf, known, &mut s.posterior);
                        map_decision(&s.posterior, tie)
                    }
                }
            };
            s.decisions.push(decision);
        }
    }

    /// One item's record.
    fn one<V: Vote>(
        &self,
        item: usize,
        votes: &[(usize, V)],
        tie: TieRule,
        min_support: f64,
        adjudicated: &HashMap<usize, Labels>,
        s: &mut Scratch,
    ) -> Consolidated {
        self.decide(votes, tie, s);
        let layout = &self.layout;
        let (k, questions) = (layout.k, &layout.questions);
        let mut review = Vec::new();
        let mut complete = true;
        let mut check = |field: Field, support: f64, tie: bool, no_votes: bool| {
            if no_votes {
                complete = false;
                review.push(ReviewReason::NoVotes {
                    field: layout.field_name(field),
                });
            } else if tie {
                complete = false;
                review.push(ReviewReason::Tie {
                    field: layout.field_name(field),
                });
            } else if support < min_support {
                review.push(ReviewReason::LowSupport {
                    field: layout.field_name(field),
                    support,
                });
            }
        };

        // Responses.
        let mut responses = Vec::new();
        let mut response_support = Vec::new();
        if questions.safety {
            for i in 0..k {
                let base = layout.response_field(i);
                let (safe, severity) = (s.decisions[base], s.decisions[base + 1]);
                check(Field::Safe(i), safe.support, safe.tie, safe.no_votes);
                check(
                    Field::Severity(i),
                    severity.support,
                    severity.tie,
                    severity.no_votes,
                );
                let mut categories = Vec::new();
                let mut cat_support = Vec::with_capacity(if s.category_support {
                    layout.n_cat()
                } else {
                    0
                });
                for c in 0..layout.n_cat() {
                    let d = s.decisions[base + 2 + c];
                    check(Field::Category(i, c), d.support, d.tie, d.no_votes);
                    if s.category_support {
                        cat_support.push((layout.category(c).to_string(), d.support));
                    }
                    if d.class == Some(1) {
                        categories.push(layout.category(c).to_string());
                    }
                }
                // Built in one go from a list: much cheaper than one insert
                // per category.
                let cat_support = BTreeMap::from_iter(cat_support);
                response_support.push(ResponseSupport {
                    safe: safe.support,
                    severity: severity.support,
                    categories: cat_support,
                });
                if let (Some(safe), Some(severity)) = (safe.class, severity.class) {
                    responses.push(ResponseLabel {
                        safe: safe == 0,
                        categories,
                        // severity < 4 (four classes).
                        severity: severity as u8,
                    });
                }
            }
        }

        // Rankings: the first position decided as a field (K ≤ 2), or
        // ranked pairs (K > 2).
        let mut orders: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        let mut rank_support: [Option<f64>; 2] = [None, None];
        for (slot, (r, asked)) in [
            (Ranking::Helpfulness, questions.helpfulness),
            (Ranking::Harmlessness, questions.harmlessness),
        ]
        .into_iter()
        .enumerate()
        {
            if !asked {
                continue;
            }
            let d = if k <= 2 {
                let f = layout.first[slot].expect("asked rankings have a field when K <= 2");
                let d = s.decisions[f];
                RankDecision {
                    order: d.class.map(|first| {
                        std::iter::once(first)
                            .chain((0..k).filter(|&p| p != first))
                            .collect()
                    }),
                    support: d.support,
                    tie: d.tie,
                    no_votes: d.no_votes,
                }
            } else {
                rank_by_ranked_pairs(votes, r, k, tie)
            };
            check(Field::First(r), d.support, d.tie, d.no_votes);
            rank_support[slot] = Some(d.support);
            if let Some(order) = d.order {
                orders[slot] = order;
            }
        }

        // Overall.
        let overall = layout.overall.map(|f| s.decisions[f]);
        if let Some(d) = overall {
            check(Field::Overall, d.support, d.tie, d.no_votes);
        }

        let support = Support {
            responses: response_support,
            helpfulness: rank_support[0],
            harmlessness: rank_support[1],
            overall: overall.map(|d| d.support),
        };

        if let Some(labels) = adjudicated.get(&item) {
            return Consolidated {
                item,
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
                overall: overall.and_then(|d| d.class),
                confidence: if questions.confidence {
                    median_confidence(votes)
                } else {
                    None
                },
                comment: None,
            };
            match labels::validate(&labels, k, &layout.taxonomy, questions) {
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
            item,
            labels,
            support,
            review,
            adjudicated: false,
        }
    }
}

/// The most vote patterns a [`Memo`] remembers (a few megabytes).
const MEMO_PATTERNS: usize = 20_000;

/// Consolidated severities by the votes that gave them, and buffers, kept
/// from chunk to chunk by [`Model::consensus_severities`].
#[derive(Default)]
pub struct Memo {
    known: FxMap<Vec<u8>, Option<Vec<u8>>>,
    key: Vec<u8>,
    scratch: Scratch,
}

/// Buffers reused from item to item, and whether records name each
/// category's support.
#[derive(Default)]
struct Scratch {
    category_support: bool,
    classes: Vec<u8>,
    counts: Vec<u32>,
    posterior: Vec<f64>,
    decisions: Vec<Decision>,
}

/// The lower median of the valid confidences (1..=5) given.
fn median_confidence<V: Vote>(votes: &[(usize, V)]) -> Option<u8> {
    let mut c: Vec<u8> = votes
        .iter()
        .filter_map(|(_, l)| l.confidence())
        .filter(|c| (1..=5).contains(c))
        .collect();
    c.sort_unstable();
    if c.is_empty() {
        None
    } else {
        Some(c[(c.len() - 1) / 2])
    }
}

#[cfg(test)]
mod tests {
    use crate::consolidation::Method;
    use crate::consolidation::fitter::Fitter;
    use crate::consolidation::test_labels::{as_items, random_labels, random_set, run};
    use crate::labels::{Decoded, Questions};
    use crate::rng::SplitMix64 as Rng;
    use crate::taxonomy::Taxonomy;

    use super::CategorySupport::{Named, Skipped};
    use super::*;

    #[test]
    fn chunked_consolidation_equals_one_shot() {
        let mut rng = Rng(7);
        let set = random_set(&mut rng, 60);
        let items = as_items(&set);
        for method in [Method::Majority, Method::DawidSkene] {
            let whole = run(&items, 2, method, TieRule::Review);
            let mut fitter = Fitter::new(2, &Taxonomy::pku19(), &Questions::default(), method);
            // Fitted in another order and in pieces; consolidated in chunks.
            for item in items.iter().rev() {
                fitter.add(item);
            }
            let model = fitter.finish();
            let chunked: Vec<Consolidated> = items
                .chunks(7)
                .flat_map(|chunk| {
                    model.consolidate(chunk, TieRule::Review, 0.0, &HashMap::new(), Named)
                })
                .collect();
            assert_eq!(whole, chunked, "{method:?}");
        }
    }

    #[test]
    fn leaving_out_category_support_changes_nothing_else() {
        let mut rng = Rng(9);
        let set = random_set(&mut rng, 80);
        let items = as_items(&set);
        for method in [Method::Majority, Method::DawidSkene] {
            let mut fitter = Fitter::new(2, &Taxonomy::pku19(), &Questions::default(), method);
            for item in &items {
                fitter.add(item);
            }
            let model = fitter.finish();
            // A high minimum support, so low-support reasons are compared too.
            let full = model.consolidate(&items, TieRule::Review, 0.9, &HashMap::new(), Named);
            let lean = model.consolidate(&items, TieRule::Review, 0.9, &HashMap::new(), Skipped);
            assert!(full.iter().any(|c| c.labels.is_some()), "{method:?}");
            assert!(full.iter().any(|c| !c.review.is_empty()), "{method:?}");
            let mut stripped = full.clone();
            for record in &mut stripped {
                for response in &mut record.support.responses {
                    assert_eq!(response.categories.len(), 19);
                    response.categories.clear();
                }
            }
            assert_eq!(lean, stripped, "{method:?}");
        }
    }

    /// Labels of every shape consolidation meets for `k` responses: safe,
    /// unsafe with taxonomy names, without categories or with an odd
    /// severity, with a name outside the taxonomy, a response too many,
    /// short rankings, overall and confidence in and out of range.
    fn odd_labels(rng: &mut Rng, k: usize) -> Labels {
        let taxonomy = Taxonomy::pku19();
        let names = taxonomy.names();
        let responses = (0..k + usize::from(rng.below(12) == 0))
            .map(|_| match rng.below(7) {
                0..=2 => ResponseLabel::safe(),
                3 | 4 => ResponseLabel::unsafe_with(&[names[rng.below(3)]], 1 + rng.below(3) as u8),
                5 => ResponseLabel {
                    safe: false,
                    categories: vec![],
                    severity: rng.below(5) as u8,
                },
                _ => ResponseLabel::unsafe_with(&["Fraud", names[0]], 2),
            })
            .collect();
        let ranking = |rng: &mut Rng| {
            let mut r: Vec<usize> = (0..k).collect();
            for i in (1..k).rev() {
                r.swap(i, rng.below(i + 1));
            }
            if rng.below(15) == 0 {
                r.pop();
            }
            r
        };
        Labels {
            responses,
            helpfulness: ranking(rng),
            harmlessness: ranking(rng),
            overall: (rng.below(3) > 0).then(|| rng.below(k + 1)),
            confidence: (rng.below(3) > 0).then(|| rng.below(7) as u8),
            comment: None,
        }
    }

    #[test]
    fn decoded_votes_consolidate_as_the_full_labels() {
        let taxonomy = Taxonomy::pku19();
        let names: Vec<String> = taxonomy.names().into_iter().map(String::from).collect();
        let every = Questions {
            overall: true,
            confidence: true,
            ..Questions::default()
        };
        let mut rng = Rng(31);
        let (mut compact, mut full, mut labelled, mut reviewed) = (0, 0, 0, 0);
        for (k, questions) in [(2, Questions::default()), (2, every), (3, every)] {
            let set: Vec<Vec<(usize, Labels)>> = (0..300)
                .map(|_| {
                    (0..rng.below(5))
                        .map(|a| (a * 3 % 7, odd_labels(&mut rng, k)))
                        .collect()
                })
                .collect();
            let decoded: Vec<Vec<(usize, Decoded)>> = set
                .iter()
                .map(|votes| {
                    votes
                        .iter()
                        .map(|(a, l)| {
                            let json = serde_json::to_vec(l).unwrap();
                            (*a, Decoded::from_json(&json, &names).unwrap())
                        })
                        .collect()
                })
                .collect();
            for (_, d) in decoded.iter().flatten() {
                match d {
                    Decoded::Compact(_) => compact += 1,
                    Decoded::Full(_) => full += 1,
                }
            }
            let items = as_items(&set);
            let decoded_items: Vec<DecodedItem> = decoded
                .iter()
                .enumerate()
                .map(|(item, votes)| DecodedItem { item, votes })
                .collect();
            let adjudicated = HashMap::from([(5, random_labels(&mut rng))]);
            for method in [Method::Majority, Method::DawidSkene] {
                let mut fitter = Fitter::new(k, &taxonomy, &questions, method);
                for item in &items {
                    fitter.add(item);
                }
                let model = fitter.finish();
                // One memo for both tie rules: its patterns must tell them apart.
                let mut memo = Memo::default();
                for tie in [TieRule::Review, TieRule::Highest] {
                    let expected = model.consolidate(&items, tie, 0.6, &adjudicated, Skipped);
                    let got = model.records(
                        decoded_items.iter().map(|it| (it.item, it.votes)),
                        false,
                        tie,
                        0.6,
                        &adjudicated,
                    );
                    assert_eq!(got, expected, "k {k}, {method:?}, {tie:?}");
                    // The severities alone, remembered by pattern: each
                    // item met twice (the second time from the memo).
                    let severities: Vec<Option<Vec<u8>>> = expected
                        .iter()
                        .map(|c| {
                            let l = c.labels.as_ref()?;
                            Some(l.responses.iter().map(|r| r.severity).collect())
                        })
                        .collect();
                    for _ in 0..2 {
                        let got = model.consensus_severities(
                            &decoded_items,
                            tie,
                            &adjudicated,
                            &mut memo,
                        );
                        assert_eq!(got, severities, "k {k}, {method:?}, {tie:?}");
                    }
                    let memoable = method == Method::Majority && k <= 2;
                    assert_eq!(!memo.known.is_empty(), memoable);
                    labelled += expected.iter().filter(|c| c.labels.is_some()).count();
                    reviewed += expected.iter().filter(|c| !c.review.is_empty()).count();
                }
            }
        }
        assert!(
            compact > 1000 && full > 100,
            "{compact} compact, {full} full"
        );
        assert!(
            labelled > 100 && reviewed > 100,
            "{labelled} labelled, {reviewed} reviewed"
        );
    }
}
