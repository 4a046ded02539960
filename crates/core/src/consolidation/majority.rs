//! Majority vote on one field: the plurality class with its support (its
//! share of the votes), and what a tie does.

/// What to do when two or more classes share the highest vote count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TieRule {
    /// Report the tie: the item goes to review.
    #[default]
    Review,
    /// The lowest tied class index wins.
    Lowest,
    /// The highest tied class index wins — for severity (0..3) this prefers
    /// the more severe reading.
    Highest,
}

impl TieRule {
    /// The winning class, given the first and the last of the classes tied
    /// for the top: None only when they differ and the rule is `Review`.
    pub(super) fn choose(self, first: Option<usize>, last: Option<usize>) -> Option<usize> {
        match self {
            _ if first == last => first,
            TieRule::Review => None,
            TieRule::Lowest => first,
            TieRule::Highest => last,
        }
    }
}

/// The decision on one field of one item, by either method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Decision {
    pub(super) class: Option<usize>,
    pub(super) support: f64,
    pub(super) tie: bool,
    pub(super) no_votes: bool,
}

impl Decision {
    pub(super) const NONE: Decision = Decision {
        class: None,
        support: 0.0,
        tie: false,
        no_votes: true,
    };
}

/// Plurality vote from class counts: the class with the most votes, its
/// support the share of the votes it holds. Under [`TieRule::Review`] a tie
/// has no class (and `tie` is set); the other rules pick the lowest or the
/// highest tied class.
pub(super) fn majority(counts: &[u32], tie: TieRule) -> Decision {
    let n: u32 = counts.iter().sum();
    if n == 0 {
        return Decision::NONE;
    }
    let top = counts.iter().copied().max().unwrap_or(0);
    let first = counts.iter().position(|&c| c == top);
    let last = counts.iter().rposition(|&c| c == top);
    let class = tie.choose(first, last);
    Decision {
        class,
        support: f64::from(top) / f64::from(n),
        tie: class.is_none(),
        no_votes: false,
    }
}

#[cfg(test)]
mod tests {
    use crate::consolidation::vote_table::{
        MajorityOutcome, VoteTable, majority_of, majority_vote, v,
    };

    use super::*;

    const EPS: f64 = 1e-9;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < EPS
    }

    #[test]
    fn majority_two_of_three() {
        let m = majority_of(&[0, 1, 0], 2, TieRule::Review).unwrap();
        assert_eq!(m.counts, vec![2, 1]);
        assert_eq!(m.n_votes, 3);
        assert_eq!(m.class(), Some(0));
        assert!(close(m.support(), 2.0 / 3.0));
        assert!(matches!(
            m.outcome,
            MajorityOutcome::Winner {
                tie_broken: false,
                ..
            }
        ));
    }

    #[test]
    fn majority_plurality_of_four_classes() {
        // Severity votes 1, 3, 3, 2, 0 -> 3 with 2/5.
        let m = majority_of(&[1, 3, 3, 2, 0], 4, TieRule::Review).unwrap();
        assert_eq!(m.class(), Some(3));
        assert!(close(m.support(), 0.4));
    }

    #[test]
    fn majority_tie_goes_to_review_by_default() {
        let m = majority_of(&[2, 1, 1, 2, 0], 4, TieRule::default()).unwrap();
        assert_eq!(
            m.outcome,
            MajorityOutcome::Tie {
                classes: vec![1, 2],
                support: 0.4
            }
        );
        assert_eq!(m.class(), None);
    }

    #[test]
    fn majority_tie_rules() {
        let low = majority_of(&[2, 1, 1, 2, 0], 4, TieRule::Lowest).unwrap();
        assert_eq!(
            low.outcome,
            MajorityOutcome::Winner {
                class: 1,
                support: 0.4,
                tie_broken: true
            }
        );
        let high = majority_of(&[2, 1, 1, 2, 0], 4, TieRule::Highest).unwrap();
        assert_eq!(
            high.outcome,
            MajorityOutcome::Winner {
                class: 2,
                support: 0.4,
                tie_broken: true
            }
        );
    }

    #[test]
    fn majority_degenerate_inputs() {
        let none = majority_of(&[], 3, TieRule::Lowest).unwrap();
        assert_eq!(none.outcome, MajorityOutcome::NoVotes);
        assert_eq!(none.support(), 0.0);
        let zero_classes = majority_of(&[], 0, TieRule::Review).unwrap();
        assert_eq!(zero_classes.outcome, MajorityOutcome::NoVotes);
        let one = majority_of(&[0, 0], 1, TieRule::Review).unwrap();
        assert_eq!(one.class(), Some(0));
        assert!(close(one.support(), 1.0));
        assert!(majority_of(&[3], 3, TieRule::Review).is_err());
    }

    #[test]
    fn majority_vote_over_a_table() {
        let t = VoteTable::new(
            3,
            3,
            2,
            vec![v(0, 0, 1), v(0, 1, 1), v(0, 2, 0), v(1, 0, 0), v(1, 1, 1)],
        )
        .unwrap();
        let m = majority_vote(&t, TieRule::Review);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].class(), Some(1));
        assert!(matches!(m[1].outcome, MajorityOutcome::Tie { .. }));
        assert_eq!(m[2].outcome, MajorityOutcome::NoVotes);
    }
}
