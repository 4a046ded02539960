//! Tideman's ranked pairs, which consolidates the full rankings of K > 2
//! positions (Dawid–Skene does not model rankings).

use std::cmp::Reverse;
use std::fmt;

use super::majority::TieRule;
use super::votes::{Ranking, Vote, is_full_ranking};

/// Why [`ranked_pairs`] refused its input: ballot number `ballot`
/// (zero-based) is not a full ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidBallot {
    pub ballot: usize,
    pub reason: String,
}

impl fmt::Display for InvalidBallot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ballot {}: {}", self.ballot, self.reason)
    }
}

impl std::error::Error for InvalidBallot {}

/// The output of [`ranked_pairs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankedPairsResult {
    /// Positions, best first.
    pub order: Vec<usize>,
    /// `wins[a][b]`: how many ballots rank position `a` above position `b`.
    pub wins: Vec<Vec<usize>>,
    /// Pairs `(winner, loser)` locked in, in locking order.
    pub locked: Vec<(usize, usize)>,
    /// Pairs `(winner, loser)` skipped because they would close a cycle.
    pub skipped: Vec<(usize, usize)>,
}

/// Tideman's ranked pairs over full rankings of `n_positions` positions.
///
/// Each ballot lists every position `0..n_positions` exactly once, best
/// first. For every pair with a strict majority (`wins[a][b] > wins[b][a]`)
/// the pair `(a, b)` has strength `wins[a][b] - wins[b][a]` (the margin).
/// Pairs are locked strongest first; among equal margins the pair with the
/// lower winner position goes first, then the lower loser position. A pair
/// that would close a cycle among the locked pairs is skipped. Pairs with
/// equal support (margin 0) are never locked. The order is then read off the
/// locked graph: repeatedly take the position nobody remaining is locked
/// above, the lowest such position first (this only matters when margin-0
/// pairs leave positions unordered, e.g. with no ballots).
pub fn ranked_pairs<B: AsRef<[usize]>>(
    n_positions: usize,
    ballots: &[B],
) -> Result<RankedPairsResult, InvalidBallot> {
    let k = n_positions;
    let mut wins = vec![vec![0usize; k]; k];
    for (b, ballot) in ballots.iter().enumerate() {
        let ballot = ballot.as_ref();
        if ballot.len() != k {
            return Err(InvalidBallot {
                ballot: b,
                reason: format!("ranks {} positions, expected {k}", ballot.len()),
            });
        }
        let mut seen = vec![false; k];
        for &p in ballot {
            if p >= k {
                return Err(InvalidBallot {
                    ballot: b,
                    reason: format!("position {p} out of range (there are {k})"),
                });
            }
            if seen[p] {
                return Err(InvalidBallot {
                    ballot: b,
                    reason: format!("position {p} ranked twice"),
                });
            }
            seen[p] = true;
        }
        for (r, &a) in ballot.iter().enumerate() {
            for &c in &ballot[r + 1..] {
                wins[a][c] += 1;
            }
        }
    }

    let mut pairs: Vec<(usize, usize, usize)> = (0..k)
        .flat_map(|a| (0..k).map(move |c| (a, c)))
        .filter(|&(a, c)| wins[a][c] > wins[c][a])
        .map(|(a, c)| (wins[a][c] - wins[c][a], a, c))
        .collect();
    pairs.sort_unstable_by_key(|&(margin, a, c)| (Reverse(margin), a, c));

    let mut above = vec![vec![false; k]; k]; // above[a][c]: a locked over c
    let mut locked = Vec::new();
    let mut skipped = Vec::new();
    for (_, a, c) in pairs {
        if reaches(&above, c, a) {
            skipped.push((a, c));
        } else {
            above[a][c] = true;
            locked.push((a, c));
        }
    }

    let mut order = Vec::with_capacity(k);
    let mut done = vec![false; k];
    for _ in 0..k {
        let next = (0..k)
            .find(|&p| !done[p] && !(0..k).any(|q| !done[q] && above[q][p]))
            .expect("the locked graph is acyclic");
        done[next] = true;
        order.push(next);
    }
    Ok(RankedPairsResult {
        order,
        wins,
        locked,
        skipped,
    })
}

/// Whether `to` can be reached from `from` along locked edges.
fn reaches(above: &[Vec<bool>], from: usize, to: usize) -> bool {
    let k = above.len();
    let mut seen = vec![false; k];
    let mut stack = vec![from];
    while let Some(p) = stack.pop() {
        if p == to {
            return true;
        }
        if seen[p] {
            continue;
        }
        seen[p] = true;
        stack.extend((0..k).filter(|&q| above[p][q] && !seen[q]));
    }
    false
}

/// A consolidated ranking of one item.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RankDecision {
    pub(super) order: Option<Vec<usize>>,
    pub(super) support: f64,
    pub(super) tie: bool,
    pub(super) no_votes: bool,
}

/// Ranked pairs over the item's full rankings (K > 2).
pub(super) fn rank_by_ranked_pairs<V: Vote>(
    votes: &[(usize, V)],
    r: Ranking,
    k: usize,
    tie: TieRule,
) -> RankDecision {
    let ballots: Vec<&[usize]> = votes
        .iter()
        .map(|(_, l)| l.ranking(r))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn repeat(ballot: &[usize], n: usize) -> impl Iterator<Item = Vec<usize>> + '_ {
        std::iter::repeat_n(ballot.to_vec(), n)
    }

    #[test]
    fn ranked_pairs_tennessee() {
        // Wikipedia's Tennessee capital example, 100 voters:
        // 42 Memphis > Nashville > Chattanooga > Knoxville
        // 26 Nashville > Chattanooga > Knoxville > Memphis
        // 15 Chattanooga > Knoxville > Nashville > Memphis
        // 17 Knoxville > Chattanooga > Nashville > Memphis
        const MEM: usize = 0;
        const NAS: usize = 1;
        const CHA: usize = 2;
        const KNO: usize = 3;
        let ballots: Vec<Vec<usize>> = repeat(&[MEM, NAS, CHA, KNO], 42)
            .chain(repeat(&[NAS, CHA, KNO, MEM], 26))
            .chain(repeat(&[CHA, KNO, NAS, MEM], 15))
            .chain(repeat(&[KNO, CHA, NAS, MEM], 17))
            .collect();
        let r = ranked_pairs(4, &ballots).unwrap();
        assert_eq!(r.order, vec![NAS, CHA, KNO, MEM]);
        assert_eq!(r.wins[NAS][MEM], 58);
        assert_eq!(r.wins[CHA][KNO], 83);
        // Locking order by margin: C>K 66, N>K 36, N>C 36, then the 16s
        // (by winner position: N>M before C>M before K>M).
        assert_eq!(
            r.locked,
            vec![
                (CHA, KNO),
                (NAS, CHA),
                (NAS, KNO),
                (NAS, MEM),
                (CHA, MEM),
                (KNO, MEM)
            ]
        );
        assert!(r.skipped.is_empty());
    }

    #[test]
    fn ranked_pairs_cycle_decided_by_tie_break() {
        // A Condorcet cycle with equal margins: 0>1, 1>2, 2>0, each 2 to 1.
        // Equal margins lock by lower winner position: (0,1), (1,2); (2,0)
        // would close the cycle and is skipped.
        let ballots = [vec![0, 1, 2], vec![1, 2, 0], vec![2, 0, 1]];
        let r = ranked_pairs(3, &ballots).unwrap();
        assert_eq!(r.locked, vec![(0, 1), (1, 2)]);
        assert_eq!(r.skipped, vec![(2, 0)]);
        assert_eq!(r.order, vec![0, 1, 2]);
    }

    #[test]
    fn ranked_pairs_cycle_decided_by_margin() {
        // 0>1 and 1>2 by 5 to 2, 2>0 by 4 to 3: the weakest link (2,0) is
        // skipped.
        let ballots: Vec<Vec<usize>> = repeat(&[0, 1, 2], 3)
            .chain(repeat(&[1, 2, 0], 2))
            .chain(repeat(&[2, 0, 1], 2))
            .collect();
        let r = ranked_pairs(3, &ballots).unwrap();
        assert_eq!(r.wins[0][1], 5);
        assert_eq!(r.wins[1][2], 5);
        assert_eq!(r.wins[2][0], 4);
        assert_eq!(r.skipped, vec![(2, 0)]);
        assert_eq!(r.order, vec![0, 1, 2]);
    }

    #[test]
    fn ranked_pairs_degenerate_inputs() {
        let empty: [Vec<usize>; 0] = [];
        assert_eq!(ranked_pairs(0, &empty).unwrap().order, Vec::<usize>::new());
        // No ballots: nothing locked, positions in index order.
        assert_eq!(ranked_pairs(3, &empty).unwrap().order, vec![0, 1, 2]);
        // One ballot is followed exactly.
        assert_eq!(
            ranked_pairs(4, &[vec![2, 0, 3, 1]]).unwrap().order,
            vec![2, 0, 3, 1]
        );
        // Two opposite ballots: all margins 0, index order.
        let r = ranked_pairs(3, &[vec![2, 1, 0], vec![0, 1, 2]]).unwrap();
        assert!(r.locked.is_empty());
        assert_eq!(r.order, vec![0, 1, 2]);
        assert_eq!(ranked_pairs(1, &[vec![0]]).unwrap().order, vec![0]);
    }

    #[test]
    fn ranked_pairs_rejects_partial_ballots() {
        let bad = |b: Vec<usize>| ranked_pairs(3, &[vec![0, 1, 2], b]).unwrap_err();
        assert!(matches!(bad(vec![0, 1]), InvalidBallot { ballot: 1, .. }));
        assert!(matches!(
            bad(vec![0, 1, 1]),
            InvalidBallot { ballot: 1, .. }
        ));
        assert!(matches!(
            bad(vec![0, 1, 3]),
            InvalidBallot { ballot: 1, .. }
        ));
    }
}
