//! Votes as a table of `(item, annotator, class)`, and majority vote and
//! Dawid–Skene over a whole table: the plain interface the tests drive the
//! algorithms through (consolidation itself goes through `Fitter` and
//! `Model`).
//!
//! The table sorts its votes by `(item, annotator, class)`, so results do
//! not depend on the order the votes were given in. An annotator may vote
//! more than once on an item; every vote counts as one observation.

use std::collections::HashMap;

use super::dawid_skene::{DawidSkeneConfig, Patterns, fit_patterns};
use super::majority::{TieRule, majority};

/// One categorical vote: `annotator` put `item` in `class`. Zero-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClassVote {
    pub item: usize,
    pub annotator: usize,
    pub class: usize,
}

/// A vote, in few characters.
pub fn v(item: usize, annotator: usize, class: usize) -> ClassVote {
    ClassVote {
        item,
        annotator,
        class,
    }
}

/// Why a table or a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    ItemOutOfRange {
        item: usize,
        n_items: usize,
    },
    AnnotatorOutOfRange {
        annotator: usize,
        n_annotators: usize,
    },
    ClassOutOfRange {
        class: usize,
        n_classes: usize,
    },
    /// A configuration value is out of range; the message names it.
    InvalidConfig(&'static str),
}

/// Categorical votes with their dimensions, checked and sorted by
/// `(item, annotator, class)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteTable {
    n_items: usize,
    n_annotators: usize,
    n_classes: usize,
    votes: Vec<ClassVote>,
    /// `votes[item_start[i]..item_start[i + 1]]` are item `i`'s votes.
    item_start: Vec<usize>,
}

impl VoteTable {
    /// Checks every index against the dimensions and sorts the votes.
    pub fn new(
        n_items: usize,
        n_annotators: usize,
        n_classes: usize,
        mut votes: Vec<ClassVote>,
    ) -> Result<Self, TableError> {
        for v in &votes {
            if v.item >= n_items {
                return Err(TableError::ItemOutOfRange {
                    item: v.item,
                    n_items,
                });
            }
            if v.annotator >= n_annotators {
                return Err(TableError::AnnotatorOutOfRange {
                    annotator: v.annotator,
                    n_annotators,
                });
            }
            if v.class >= n_classes {
                return Err(TableError::ClassOutOfRange {
                    class: v.class,
                    n_classes,
                });
            }
        }
        votes.sort_unstable();
        let mut item_start = vec![0usize; n_items + 1];
        for v in &votes {
            item_start[v.item + 1] += 1;
        }
        for i in 0..n_items {
            item_start[i + 1] += item_start[i];
        }
        Ok(Self {
            n_items,
            n_annotators,
            n_classes,
            votes,
            item_start,
        })
    }

    pub fn n_items(&self) -> usize {
        self.n_items
    }

    pub fn n_annotators(&self) -> usize {
        self.n_annotators
    }

    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// All votes, sorted by `(item, annotator, class)`.
    pub fn votes(&self) -> &[ClassVote] {
        &self.votes
    }

    /// The votes on one item, sorted by `(annotator, class)`.
    ///
    /// # Panics
    /// If `item >= n_items()`.
    pub fn item_votes(&self, item: usize) -> &[ClassVote] {
        &self.votes[self.item_start[item]..self.item_start[item + 1]]
    }

    /// Votes per class on one item.
    pub fn class_counts(&self, item: usize) -> Vec<usize> {
        let mut counts = vec![0usize; self.n_classes];
        for v in self.item_votes(item) {
            counts[v.class] += 1;
        }
        counts
    }
}

/// The result of a majority vote on one item.
#[derive(Debug, Clone, PartialEq)]
pub enum MajorityOutcome {
    /// Nobody voted on the item.
    NoVotes,
    /// `class` won; `support` is its share of the votes (0..=1);
    /// `tie_broken` is true when the tie rule chose it among tied classes.
    Winner {
        class: usize,
        support: f64,
        tie_broken: bool,
    },
    /// The tied classes (ascending) and the share of votes each holds.
    Tie { classes: Vec<usize>, support: f64 },
}

/// Majority vote on one item: the counts per class and the outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct MajorityItem {
    /// Votes per class.
    pub counts: Vec<usize>,
    pub n_votes: usize,
    pub outcome: MajorityOutcome,
}

impl MajorityItem {
    /// The winning class, if there is one (not on a tie or no votes).
    pub fn class(&self) -> Option<usize> {
        match self.outcome {
            MajorityOutcome::Winner { class, .. } => Some(class),
            _ => None,
        }
    }

    /// The winner's share of the votes (for a tie, each tied class's share;
    /// 0 with no votes).
    pub fn support(&self) -> f64 {
        match self.outcome {
            MajorityOutcome::NoVotes => 0.0,
            MajorityOutcome::Winner { support, .. } | MajorityOutcome::Tie { support, .. } => {
                support
            }
        }
    }
}

/// The majority vote of [`majority`] told in full: the tied classes on a
/// tie, and whether the tie rule chose the winner.
fn majority_from_counts(counts: Vec<usize>, rule: TieRule) -> MajorityItem {
    let n_votes: usize = counts.iter().sum();
    let as_u32: Vec<u32> = counts.iter().map(|&c| c as u32).collect();
    let decision = majority(&as_u32, rule);
    let top = counts.iter().copied().max().unwrap_or(0);
    let tied: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] == top).collect();
    let outcome = match decision.class {
        _ if decision.no_votes => MajorityOutcome::NoVotes,
        Some(class) => MajorityOutcome::Winner {
            class,
            support: decision.support,
            tie_broken: tied.len() > 1,
        },
        None => MajorityOutcome::Tie {
            classes: tied,
            support: decision.support,
        },
    };
    MajorityItem {
        counts,
        n_votes,
        outcome,
    }
}

/// Majority vote over one item's votes, given as class indices.
pub fn majority_of(
    classes: &[usize],
    n_classes: usize,
    rule: TieRule,
) -> Result<MajorityItem, TableError> {
    let mut counts = vec![0usize; n_classes];
    for &c in classes {
        if c >= n_classes {
            return Err(TableError::ClassOutOfRange {
                class: c,
                n_classes,
            });
        }
        counts[c] += 1;
    }
    Ok(majority_from_counts(counts, rule))
}

/// Majority vote for every item of the table, in item order.
pub fn majority_vote(table: &VoteTable, rule: TieRule) -> Vec<MajorityItem> {
    (0..table.n_items())
        .map(|i| majority_from_counts(table.class_counts(i), rule))
        .collect()
}

/// Dawid–Skene's verdict on one item.
#[derive(Debug, Clone, PartialEq)]
pub struct DawidSkeneItem {
    /// Posterior probability of each true class; sums to 1. For an item
    /// without votes it is the class prior.
    pub posterior: Vec<f64>,
    /// The MAP class (ties between exactly equal posteriors go to the lowest
    /// index); `None` only when there are no classes.
    pub class: Option<usize>,
    /// The MAP class's posterior (0 when there are no classes).
    pub support: f64,
    /// How many votes the item had (0: the posterior is only the prior).
    pub n_votes: usize,
}

/// The output of [`dawid_skene`].
#[derive(Debug, Clone, PartialEq)]
pub struct DawidSkeneResult {
    /// One entry per item, in item order.
    pub items: Vec<DawidSkeneItem>,
    /// Estimated class priors.
    pub priors: Vec<f64>,
    /// `confusion[annotator][true_class][given_class]`: the estimated
    /// probability that the annotator gives `given_class` when the truth is
    /// `true_class`; each row sums to 1. Annotators without votes get uniform
    /// rows.
    pub confusion: Vec<Vec<Vec<f64>>>,
    /// EM rounds run.
    pub iterations: usize,
    /// Whether the posteriors converged before the cap.
    pub converged: bool,
}

/// Checks the configuration [`dawid_skene`] documents.
fn check_config(config: &DawidSkeneConfig) -> Result<(), TableError> {
    if !(config.smoothing > 0.0 && config.smoothing.is_finite()) {
        return Err(TableError::InvalidConfig(
            "smoothing must be a finite number > 0",
        ));
    }
    if !(config.tolerance >= 0.0 && config.tolerance.is_finite()) {
        return Err(TableError::InvalidConfig(
            "tolerance must be a finite number >= 0",
        ));
    }
    Ok(())
}

/// Dawid–Skene over every item of the table at once (see the
/// `dawid_skene` module for the EM): each item's posterior and MAP class,
/// the fitted priors and confusion matrices, the rounds run.
pub fn dawid_skene(
    table: &VoteTable,
    config: &DawidSkeneConfig,
) -> Result<DawidSkeneResult, TableError> {
    check_config(config)?;
    let k = table.n_classes();
    let n = table.n_items();
    let key = |i: usize| -> Vec<(u32, u32)> {
        table
            .item_votes(i)
            .iter()
            .map(|v| (v.annotator as u32, v.class as u32))
            .collect()
    };
    let mut counts: HashMap<Vec<(u32, u32)>, f64> = Default::default();
    for i in 0..n {
        *counts.entry(key(i)).or_default() += 1.0;
    }
    let patterns = Patterns::from_counts(counts.into_iter().collect());
    let index: HashMap<&[(u32, u32)], usize> = (0..patterns.len())
        .map(|q| (patterns.votes_of(q), q))
        .collect();
    let fit = fit_patterns(&patterns, table.n_annotators(), k, config);

    let items = (0..n)
        .map(|i| {
            let q = index[key(i).as_slice()];
            let posterior = fit.posteriors[q * k..(q + 1) * k].to_vec();
            let mut best: Option<usize> = None;
            for (c, &p) in posterior.iter().enumerate() {
                if best.is_none_or(|b| p > posterior[b]) {
                    best = Some(c);
                }
            }
            DawidSkeneItem {
                support: best.map_or(0.0, |b| posterior[b]),
                class: best,
                posterior,
                n_votes: table.item_votes(i).len(),
            }
        })
        .collect();
    let confusion = (0..table.n_annotators())
        .map(|a| {
            (0..k)
                .map(|c| fit.params.confusion[a * k * k + c * k..a * k * k + (c + 1) * k].to_vec())
                .collect()
        })
        .collect();
    Ok(DawidSkeneResult {
        items,
        priors: fit.params.priors,
        confusion,
        iterations: fit.iterations,
        converged: fit.converged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rejects_out_of_range_indices() {
        assert_eq!(
            VoteTable::new(1, 1, 2, vec![v(1, 0, 0)]),
            Err(TableError::ItemOutOfRange {
                item: 1,
                n_items: 1
            })
        );
        assert_eq!(
            VoteTable::new(1, 1, 2, vec![v(0, 1, 0)]),
            Err(TableError::AnnotatorOutOfRange {
                annotator: 1,
                n_annotators: 1
            })
        );
        assert_eq!(
            VoteTable::new(1, 1, 2, vec![v(0, 0, 2)]),
            Err(TableError::ClassOutOfRange {
                class: 2,
                n_classes: 2
            })
        );
    }

    #[test]
    fn table_groups_votes_by_item() {
        let t = VoteTable::new(3, 2, 2, vec![v(2, 1, 1), v(0, 1, 0), v(2, 0, 0)]).unwrap();
        assert_eq!(t.item_votes(0), &[v(0, 1, 0)]);
        assert!(t.item_votes(1).is_empty());
        assert_eq!(t.item_votes(2), &[v(2, 0, 0), v(2, 1, 1)]);
        assert_eq!(t.class_counts(2), vec![1, 1]);
    }
}
