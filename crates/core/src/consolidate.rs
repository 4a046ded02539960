//! Consolidation: from several annotators' labels to one label per item.
//!
//! Three building blocks, all pure and deterministic:
//!
//! - [`majority_vote`] / [`majority_of`]: plurality vote per item with its
//!   support (share of votes). A tie is reported as a tie (the caller sends
//!   the item to review) unless a [`TieRule`] says otherwise.
//! - [`dawid_skene`]: Dawid & Skene (1979) EM with per-annotator confusion
//!   matrices and class priors, initialised from the (soft) majority vote.
//! - [`ranked_pairs`]: Tideman's ranked pairs for full rankings of K
//!   positions.
//!
//! Categorical labels come in as a [`VoteTable`]: a flat list of
//! [`Vote`]s `(item, annotator, class)`, all zero-based indices, with the
//! number of items, annotators and classes given explicitly (so items nobody
//! labelled and annotators who labelled nothing are representable). The
//! caller maps its own values (safe/unsafe, severity 0..3, a category yes/no,
//! a preferred response) to class indices. The table sorts its votes by
//! `(item, annotator, class)`, so results do not depend on the order the
//! votes were given in. An annotator may vote more than once on an item;
//! every vote counts as one observation (the caller normally sends one).
//!
//! What this module does *not* do: apply the label rules of the design
//! (safe ⇔ severity 0 ⇔ no category…) to whole consolidated labels, nor
//! adjudication precedence — both belong to the caller that assembles one
//! record per item from the per-field results here.

use std::cmp::Reverse;
use std::fmt;

/// One categorical vote: `annotator` put `item` in `class`. Zero-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vote {
    pub item: usize,
    pub annotator: usize,
    pub class: usize,
}

/// Why a consolidation input was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsolidateError {
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
    /// Ballot number `ballot` (zero-based) is not a full ranking.
    InvalidBallot {
        ballot: usize,
        reason: String,
    },
}

impl fmt::Display for ConsolidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ItemOutOfRange { item, n_items } => {
                write!(f, "item {item} out of range (there are {n_items} items)")
            }
            Self::AnnotatorOutOfRange {
                annotator,
                n_annotators,
            } => write!(
                f,
                "annotator {annotator} out of range (there are {n_annotators} annotators)"
            ),
            Self::ClassOutOfRange { class, n_classes } => {
                write!(
                    f,
                    "class {class} out of range (there are {n_classes} classes)"
                )
            }
            Self::InvalidConfig(msg) => write!(f, "invalid configuration: {msg}"),
            Self::InvalidBallot { ballot, reason } => write!(f, "ballot {ballot}: {reason}"),
        }
    }
}

impl std::error::Error for ConsolidateError {}

/// Categorical votes with their dimensions, checked and sorted by
/// `(item, annotator, class)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteTable {
    n_items: usize,
    n_annotators: usize,
    n_classes: usize,
    votes: Vec<Vote>,
    /// `votes[item_start[i]..item_start[i + 1]]` are item `i`'s votes.
    item_start: Vec<usize>,
}

impl VoteTable {
    /// Checks every index against the dimensions and sorts the votes.
    pub fn new(
        n_items: usize,
        n_annotators: usize,
        n_classes: usize,
        mut votes: Vec<Vote>,
    ) -> Result<Self, ConsolidateError> {
        for v in &votes {
            if v.item >= n_items {
                return Err(ConsolidateError::ItemOutOfRange {
                    item: v.item,
                    n_items,
                });
            }
            if v.annotator >= n_annotators {
                return Err(ConsolidateError::AnnotatorOutOfRange {
                    annotator: v.annotator,
                    n_annotators,
                });
            }
            if v.class >= n_classes {
                return Err(ConsolidateError::ClassOutOfRange {
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
    pub fn votes(&self) -> &[Vote] {
        &self.votes
    }

    /// The votes on one item, sorted by `(annotator, class)`.
    ///
    /// # Panics
    /// If `item >= n_items()`.
    pub fn item_votes(&self, item: usize) -> &[Vote] {
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

// ---------------------------------------------------------------------------
// Majority vote
// ---------------------------------------------------------------------------

/// What to do when two or more classes share the highest vote count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TieRule {
    /// Report the tie ([`MajorityOutcome::Tie`]): the item goes to review.
    #[default]
    Review,
    /// The lowest tied class index wins.
    Lowest,
    /// The highest tied class index wins — for severity (0..3) this prefers
    /// the more severe reading.
    Highest,
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

fn majority_from_counts(counts: Vec<usize>, rule: TieRule) -> MajorityItem {
    let n_votes: usize = counts.iter().sum();
    let top = counts.iter().copied().max().unwrap_or(0);
    if n_votes == 0 {
        return MajorityItem {
            counts,
            n_votes,
            outcome: MajorityOutcome::NoVotes,
        };
    }
    let tied: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] == top).collect();
    let support = top as f64 / n_votes as f64;
    let outcome = if tied.len() == 1 {
        MajorityOutcome::Winner {
            class: tied[0],
            support,
            tie_broken: false,
        }
    } else {
        match rule {
            TieRule::Review => MajorityOutcome::Tie {
                classes: tied,
                support,
            },
            TieRule::Lowest => MajorityOutcome::Winner {
                class: tied[0],
                support,
                tie_broken: true,
            },
            TieRule::Highest => MajorityOutcome::Winner {
                class: tied[tied.len() - 1],
                support,
                tie_broken: true,
            },
        }
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
) -> Result<MajorityItem, ConsolidateError> {
    let mut counts = vec![0usize; n_classes];
    for &c in classes {
        if c >= n_classes {
            return Err(ConsolidateError::ClassOutOfRange {
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

// ---------------------------------------------------------------------------
// Dawid & Skene
// ---------------------------------------------------------------------------

/// Settings of [`dawid_skene`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DawidSkeneConfig {
    /// Cap on EM rounds (one round = M-step then E-step). 0 returns the
    /// majority-vote initialisation with the parameters estimated from it.
    pub max_iterations: usize,
    /// Stop when no posterior moved by `tolerance` or more in a round.
    pub tolerance: f64,
    /// Additive (Dirichlet) pseudo-count added to every confusion-matrix cell
    /// and every class-prior count before normalising, so no probability is
    /// ever 0 and a class nobody used cannot veto an item. Must be > 0.
    pub smoothing: f64,
}

impl Default for DawidSkeneConfig {
    fn default() -> Self {
        Self {
            max_iterations: 100,
            tolerance: 1e-6,
            smoothing: 0.01,
        }
    }
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

/// Items reduced to their distinct vote patterns. Dawid–Skene's posterior
/// for an item depends only on its `(annotator, class)` votes, so items with
/// the same votes share a posterior: EM runs once per pattern, weighted by
/// the number of items showing it. With a handful of annotators per item
/// this turns hundreds of thousands of items into a few dozen patterns.
#[derive(Debug, Clone, Default)]
pub(crate) struct Patterns {
    /// Items showing each pattern.
    pub(crate) weight: Vec<f64>,
    /// `votes[start[p]..start[p + 1]]`: pattern `p`'s `(annotator, class)`
    /// votes, sorted.
    pub(crate) votes: Vec<(u32, u32)>,
    pub(crate) start: Vec<usize>,
}

impl Patterns {
    /// From `(votes, items showing them)`, each vote list sorted. The
    /// patterns are put in the order of their votes, so the result (and every
    /// floating-point sum over it) does not depend on the order items came in.
    pub(crate) fn from_counts(mut counts: Vec<(Vec<(u32, u32)>, f64)>) -> Self {
        counts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut p = Patterns {
            start: vec![0],
            ..Patterns::default()
        };
        for (votes, weight) in counts {
            p.votes.extend_from_slice(&votes);
            p.start.push(p.votes.len());
            p.weight.push(weight);
        }
        p
    }

    fn len(&self) -> usize {
        self.weight.len()
    }

    fn votes_of(&self, p: usize) -> &[(u32, u32)] {
        &self.votes[self.start[p]..self.start[p + 1]]
    }
}

/// Fitted Dawid–Skene parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DsParams {
    pub(crate) priors: Vec<f64>,
    /// Flat `[annotator][true][given]`.
    pub(crate) confusion: Vec<f64>,
}

impl DsParams {
    /// The parameters in log space, as [`posterior`] reads them.
    pub(crate) fn logs(&self) -> (Vec<f64>, Vec<f64>) {
        (
            self.priors.iter().map(|p| p.ln()).collect(),
            self.confusion.iter().map(|p| p.ln()).collect(),
        )
    }
}

/// The posterior of one item (or pattern) from log priors, log confusion
/// matrices (flat `[annotator][true][given]`, `k` classes) and its votes,
/// written into `out`. The one place the E-step's arithmetic lives, so a
/// fitted model gives new items exactly what the fit gave its own.
pub(crate) fn posterior(
    log_prior: &[f64],
    log_conf: &[f64],
    votes: impl Iterator<Item = (u32, u32)>,
    out: &mut [f64],
) {
    let k = log_prior.len();
    out.copy_from_slice(log_prior);
    for (a, class) in votes {
        let base = a as usize * k * k + class as usize;
        for (c, lp) in out.iter_mut().enumerate() {
            *lp += log_conf[base + c * k];
        }
    }
    let max = out.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for lp in out.iter_mut() {
        *lp = (*lp - max).exp();
        sum += *lp;
    }
    for p in out.iter_mut() {
        *p /= sum;
    }
}

fn ds_m_step(p: &Patterns, n_annotators: usize, k: usize, t: &[f64], s: f64) -> DsParams {
    let mut prior_counts = vec![s; k];
    let mut n_voted = 0.0;
    let mut cells = vec![s; n_annotators * k * k];
    for q in 0..p.len() {
        let votes = p.votes_of(q);
        if votes.is_empty() {
            continue;
        }
        let w = p.weight[q];
        n_voted += w;
        let tq = &t[q * k..(q + 1) * k];
        for (c, x) in prior_counts.iter_mut().zip(tq) {
            *c += w * x;
        }
        for &(a, class) in votes {
            let base = a as usize * k * k + class as usize;
            for (true_class, &x) in tq.iter().enumerate() {
                cells[base + true_class * k] += w * x;
            }
        }
    }
    let prior_total = n_voted + k as f64 * s;
    let priors = prior_counts.iter().map(|c| c / prior_total).collect();
    for row in cells.chunks_mut(k.max(1)) {
        let sum: f64 = row.iter().sum();
        for x in row.iter_mut() {
            *x /= sum;
        }
    }
    DsParams {
        priors,
        confusion: cells,
    }
}

/// E-step: writes the new posteriors into `t` and returns the largest
/// absolute change.
fn ds_e_step(p: &Patterns, params: &DsParams, k: usize, t: &mut [f64]) -> f64 {
    let (log_prior, log_conf) = params.logs();
    let mut new = vec![0.0f64; k];
    let mut delta = 0.0f64;
    for q in 0..p.len() {
        posterior(
            &log_prior,
            &log_conf,
            p.votes_of(q).iter().copied(),
            &mut new,
        );
        for (old, &new) in t[q * k..(q + 1) * k].iter_mut().zip(&new) {
            delta = delta.max((new - *old).abs());
            *old = new;
        }
    }
    delta
}

/// The EM of [`dawid_skene`] over patterns: parameters, per-pattern
/// posteriors (flat, `k` per pattern), rounds run and whether it converged.
pub(crate) struct DsFit {
    pub(crate) params: DsParams,
    pub(crate) posteriors: Vec<f64>,
    pub(crate) iterations: usize,
    pub(crate) converged: bool,
}

/// Checks the configuration [`dawid_skene`] documents.
pub(crate) fn check_config(config: &DawidSkeneConfig) -> Result<(), ConsolidateError> {
    if !(config.smoothing > 0.0 && config.smoothing.is_finite()) {
        return Err(ConsolidateError::InvalidConfig(
            "smoothing must be a finite number > 0",
        ));
    }
    if !(config.tolerance >= 0.0 && config.tolerance.is_finite()) {
        return Err(ConsolidateError::InvalidConfig(
            "tolerance must be a finite number >= 0",
        ));
    }
    Ok(())
}

/// Runs EM on patterns (see [`dawid_skene`] for the algorithm). The
/// configuration must have passed [`check_config`].
pub(crate) fn fit_patterns(
    p: &Patterns,
    n_annotators: usize,
    k: usize,
    config: &DawidSkeneConfig,
) -> DsFit {
    let n = p.len();
    let mut t = vec![0.0f64; n * k];
    for q in 0..n {
        let votes = p.votes_of(q);
        let row = &mut t[q * k..(q + 1) * k];
        if votes.is_empty() {
            row.fill(1.0 / k as f64);
        } else {
            for &(_, class) in votes {
                row[class as usize] += 1.0;
            }
            let total = votes.len() as f64;
            for x in row.iter_mut() {
                *x /= total;
            }
        }
    }
    let mut iterations = 0;
    let mut converged = false;
    let mut params = ds_m_step(p, n_annotators, k, &t, config.smoothing);
    while iterations < config.max_iterations {
        if iterations > 0 {
            params = ds_m_step(p, n_annotators, k, &t, config.smoothing);
        }
        let delta = ds_e_step(p, &params, k, &mut t);
        iterations += 1;
        if delta < config.tolerance {
            converged = true;
            break;
        }
    }
    if iterations == 0 {
        // Items without votes take the prior, as the E-step would give them.
        for q in 0..n {
            if p.votes_of(q).is_empty() {
                t[q * k..(q + 1) * k].copy_from_slice(&params.priors);
            }
        }
    }
    DsFit {
        params,
        posteriors: t,
        iterations,
        converged,
    }
}

/// Dawid & Skene (1979) EM over categorical votes.
///
/// Initialisation: each item's posterior is its soft majority vote (the share
/// of its votes per class; uniform for an item without votes). Each round
/// estimates priors and confusion matrices from the posteriors (M-step, with
/// `config.smoothing` added to every count; items without votes do not count)
/// and then recomputes the posteriors (E-step, in log space). It stops when
/// the largest change of any posterior is below `config.tolerance`, or after
/// `config.max_iterations` rounds. Items with the same votes share a
/// posterior, so the rounds run over distinct vote patterns (in a fixed
/// order) weighted by their number of items: the same input gives the same
/// output bit for bit, whatever the order of the votes.
pub fn dawid_skene(
    table: &VoteTable,
    config: &DawidSkeneConfig,
) -> Result<DawidSkeneResult, ConsolidateError> {
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
    let mut counts: std::collections::HashMap<Vec<(u32, u32)>, f64> = Default::default();
    for i in 0..n {
        *counts.entry(key(i)).or_default() += 1.0;
    }
    let patterns = Patterns::from_counts(counts.into_iter().collect());
    let index: std::collections::HashMap<&[(u32, u32)], usize> = (0..patterns.len())
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

// ---------------------------------------------------------------------------
// Ranked pairs (Tideman)
// ---------------------------------------------------------------------------

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
) -> Result<RankedPairsResult, ConsolidateError> {
    let k = n_positions;
    let mut wins = vec![vec![0usize; k]; k];
    for (b, ballot) in ballots.iter().enumerate() {
        let ballot = ballot.as_ref();
        if ballot.len() != k {
            return Err(ConsolidateError::InvalidBallot {
                ballot: b,
                reason: format!("ranks {} positions, expected {k}", ballot.len()),
            });
        }
        let mut seen = vec![false; k];
        for &p in ballot {
            if p >= k {
                return Err(ConsolidateError::InvalidBallot {
                    ballot: b,
                    reason: format!("position {p} out of range (there are {k})"),
                });
            }
            if seen[p] {
                return Err(ConsolidateError::InvalidBallot {
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

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-9;

    use crate::rng::SplitMix64;

    /// A class drawn from `probs`.
    trait Sample {
        fn sample(&mut self, probs: &[f64]) -> usize;
    }

    impl Sample for SplitMix64 {
        fn sample(&mut self, probs: &[f64]) -> usize {
            let u = self.next_f64();
            let mut acc = 0.0;
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if u < acc {
                    return i;
                }
            }
            probs.len() - 1
        }
    }

    fn v(item: usize, annotator: usize, class: usize) -> Vote {
        Vote {
            item,
            annotator,
            class,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < EPS
    }

    // ---- VoteTable ----

    #[test]
    fn table_rejects_out_of_range_indices() {
        assert_eq!(
            VoteTable::new(1, 1, 2, vec![v(1, 0, 0)]),
            Err(ConsolidateError::ItemOutOfRange {
                item: 1,
                n_items: 1
            })
        );
        assert_eq!(
            VoteTable::new(1, 1, 2, vec![v(0, 1, 0)]),
            Err(ConsolidateError::AnnotatorOutOfRange {
                annotator: 1,
                n_annotators: 1
            })
        );
        assert_eq!(
            VoteTable::new(1, 1, 2, vec![v(0, 0, 2)]),
            Err(ConsolidateError::ClassOutOfRange {
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

    // ---- Majority vote ----

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

    // ---- Dawid & Skene ----

    #[test]
    fn dawid_skene_one_round_by_hand() {
        // Item 0: both annotators say 0. Item 1: annotator 0 says 1,
        // annotator 1 says 0. Laplace smoothing (1), one round.
        let t = VoteTable::new(
            2,
            2,
            2,
            vec![v(0, 0, 0), v(0, 1, 0), v(1, 0, 1), v(1, 1, 0)],
        )
        .unwrap();
        let cfg = DawidSkeneConfig {
            max_iterations: 1,
            tolerance: 0.0,
            smoothing: 1.0,
        };
        let r = dawid_skene(&t, &cfg).unwrap();
        assert_eq!(r.iterations, 1);
        assert!(!r.converged);
        // Soft MV: T0 = [1, 0], T1 = [1/2, 1/2].
        // Priors: ((1 + 1/2 + 1) / 4, (0 + 1/2 + 1) / 4).
        assert!(close(r.priors[0], 0.625));
        assert!(close(r.priors[1], 0.375));
        // Annotator 0, true 0: given 0 weight 1, given 1 weight 1/2
        // -> (2, 1.5) / 3.5. True 1: given 1 weight 1/2 -> (1, 1.5) / 2.5.
        assert!(close(r.confusion[0][0][0], 4.0 / 7.0));
        assert!(close(r.confusion[0][0][1], 3.0 / 7.0));
        assert!(close(r.confusion[0][1][0], 0.4));
        assert!(close(r.confusion[0][1][1], 0.6));
        // Annotator 1, true 0: given 0 weight 3/2 -> (2.5, 1) / 3.5.
        // True 1: given 0 weight 1/2 -> (1.5, 1) / 2.5.
        assert!(close(r.confusion[1][0][0], 5.0 / 7.0));
        assert!(close(r.confusion[1][1][0], 0.6));
        // E-step, item 1: 0.625 * 3/7 * 5/7 against 0.375 * 0.6 * 0.6.
        let a = 0.625 * (3.0 / 7.0) * (5.0 / 7.0);
        let b = 0.375 * 0.6 * 0.6;
        assert!(close(r.items[1].posterior[0], a / (a + b)));
        assert!(close(r.items[1].posterior[1], b / (a + b)));
        assert_eq!(r.items[1].class, Some(0));
        assert!(close(r.items[1].support, a / (a + b)));
        // Item 0: 0.625 * 4/7 * 5/7 against 0.375 * 0.4 * 0.6.
        let a = 0.625 * (4.0 / 7.0) * (5.0 / 7.0);
        let b = 0.375 * 0.4 * 0.6;
        assert!(close(r.items[0].posterior[0], a / (a + b)));
        assert_eq!(r.items[0].n_votes, 2);
    }

    #[test]
    fn dawid_skene_zero_rounds_is_soft_majority() {
        let t = VoteTable::new(2, 3, 2, vec![v(0, 0, 0), v(0, 1, 1), v(0, 2, 1)]).unwrap();
        let cfg = DawidSkeneConfig {
            max_iterations: 0,
            ..DawidSkeneConfig::default()
        };
        let r = dawid_skene(&t, &cfg).unwrap();
        assert_eq!(r.iterations, 0);
        assert!(close(r.items[0].posterior[1], 2.0 / 3.0));
        assert_eq!(r.items[0].class, Some(1));
        // The unlabelled item carries the prior.
        assert_eq!(r.items[1].posterior, r.priors);
        assert_eq!(r.items[1].n_votes, 0);
    }

    #[test]
    fn dawid_skene_learns_an_adversary_flips() {
        // Annotators 0 and 1 agree on 40 items; annotator 2 always says the
        // opposite. On item 40 only annotator 2 voted (class 0): Dawid–Skene
        // reads it as class 1, majority vote as class 0.
        let mut votes = Vec::new();
        for i in 0..40 {
            let truth = i % 2;
            votes.push(v(i, 0, truth));
            votes.push(v(i, 1, truth));
            votes.push(v(i, 2, 1 - truth));
        }
        votes.push(v(40, 2, 0));
        let t = VoteTable::new(41, 3, 2, votes).unwrap();
        let r = dawid_skene(&t, &DawidSkeneConfig::default()).unwrap();
        assert!(r.converged);
        assert!(r.iterations >= 1);
        for i in 0..40 {
            assert_eq!(r.items[i].class, Some(i % 2));
            assert!(r.items[i].support > 0.99);
        }
        assert_eq!(r.items[40].class, Some(1));
        assert!(r.items[40].support > 0.9);
        assert!(r.confusion[2][0][1] > 0.9);
        assert!(r.confusion[2][1][0] > 0.9);
        assert!(r.confusion[0][0][0] > 0.9);
        assert_eq!(
            majority_vote(&t, TieRule::Review)[40].class(),
            Some(0),
            "majority vote takes the adversary at its word"
        );
        for row in r.confusion.iter().flatten() {
            assert!(close(row.iter().sum::<f64>(), 1.0));
        }
        assert!(close(r.priors.iter().sum::<f64>(), 1.0));
    }

    #[test]
    fn dawid_skene_unanimous_items_stay_put() {
        let votes = (0..6)
            .flat_map(|i| (0..3).map(move |a| v(i, a, i % 3)))
            .collect();
        let t = VoteTable::new(6, 3, 3, votes).unwrap();
        let r = dawid_skene(&t, &DawidSkeneConfig::default()).unwrap();
        for (i, item) in r.items.iter().enumerate() {
            assert_eq!(item.class, Some(i % 3));
            assert!(item.support > 0.99);
        }
    }

    #[test]
    fn dawid_skene_rejects_bad_config() {
        let t = VoteTable::new(1, 1, 2, vec![v(0, 0, 0)]).unwrap();
        for cfg in [
            DawidSkeneConfig {
                smoothing: 0.0,
                ..DawidSkeneConfig::default()
            },
            DawidSkeneConfig {
                smoothing: f64::NAN,
                ..DawidSkeneConfig::default()
            },
            DawidSkeneConfig {
                tolerance: -1.0,
                ..DawidSkeneConfig::default()
            },
        ] {
            assert!(matches!(
                dawid_skene(&t, &cfg),
                Err(ConsolidateError::InvalidConfig(_))
            ));
        }
    }

    #[test]
    fn dawid_skene_degenerate_inputs_do_not_panic() {
        let cfg = DawidSkeneConfig::default();
        // Empty.
        let r = dawid_skene(&VoteTable::new(0, 0, 0, vec![]).unwrap(), &cfg).unwrap();
        assert!(r.items.is_empty() && r.priors.is_empty() && r.confusion.is_empty());
        // Items and annotators but no classes and no votes.
        let r = dawid_skene(&VoteTable::new(2, 2, 0, vec![]).unwrap(), &cfg).unwrap();
        assert_eq!(r.items[0].class, None);
        assert_eq!(r.items[0].support, 0.0);
        // Items but no votes: posterior is the (uniform) prior.
        let r = dawid_skene(&VoteTable::new(2, 1, 2, vec![]).unwrap(), &cfg).unwrap();
        assert!(close(r.items[1].posterior[0], 0.5));
        assert_eq!(r.items[1].class, Some(0));
        // One class.
        let t = VoteTable::new(3, 2, 1, vec![v(0, 0, 0), v(1, 1, 0), v(2, 0, 0)]).unwrap();
        let r = dawid_skene(&t, &cfg).unwrap();
        assert!(r.converged);
        for item in &r.items {
            assert_eq!(item.class, Some(0));
            assert!(close(item.support, 1.0));
        }
        // One annotator: Dawid–Skene follows it.
        let t = VoteTable::new(3, 1, 2, vec![v(0, 0, 0), v(1, 0, 1), v(2, 0, 1)]).unwrap();
        let r = dawid_skene(&t, &cfg).unwrap();
        let classes: Vec<_> = r.items.iter().map(|i| i.class).collect();
        assert_eq!(classes, vec![Some(0), Some(1), Some(1)]);
        for item in &r.items {
            assert!(item.posterior.iter().all(|p| p.is_finite()));
        }
    }

    struct Simulation {
        table: VoteTable,
        truth: Vec<usize>,
    }

    /// 2,000 items, 3 classes, 5 annotators with known confusion matrices,
    /// 3 distinct annotators per item.
    fn simulate(seed: u64) -> Simulation {
        let n_items = 2000;
        let k = 3;
        let priors = [0.5, 0.3, 0.2];
        let good = |acc: f64| -> Vec<Vec<f64>> {
            (0..k)
                .map(|t| {
                    (0..k)
                        .map(|g| if g == t { acc } else { (1.0 - acc) / 2.0 })
                        .collect()
                })
                .collect()
        };
        let adversarial: Vec<Vec<f64>> = (0..k)
            .map(|t| {
                (0..k)
                    .map(|g| if g == (t + 1) % k { 0.7 } else { 0.15 })
                    .collect()
            })
            .collect();
        let annotators = [
            good(0.9),   // good
            good(0.8),   // good
            good(0.4),   // near-random
            good(0.36),  // near-random
            adversarial, // shifts every class by one
        ];
        let mut rng = SplitMix64(seed);
        let mut truth = Vec::with_capacity(n_items);
        let mut votes = Vec::new();
        for i in 0..n_items {
            let t = rng.sample(&priors);
            truth.push(t);
            let mut chosen: Vec<usize> = Vec::new();
            while chosen.len() < 3 {
                let a = rng.below(annotators.len());
                if !chosen.contains(&a) {
                    chosen.push(a);
                }
            }
            for a in chosen {
                votes.push(v(i, a, rng.sample(&annotators[a][t])));
            }
        }
        Simulation {
            table: VoteTable::new(n_items, annotators.len(), k, votes).unwrap(),
            truth,
        }
    }

    #[test]
    fn dawid_skene_beats_majority_vote_on_simulated_annotators() {
        for seed in [1u64, 2, 3] {
            let sim = simulate(seed);
            let mv = majority_vote(&sim.table, TieRule::Lowest);
            let ds = dawid_skene(&sim.table, &DawidSkeneConfig::default()).unwrap();
            let n = sim.truth.len() as f64;
            let mv_acc = mv
                .iter()
                .zip(&sim.truth)
                .filter(|(m, t)| m.class() == Some(**t))
                .count() as f64
                / n;
            let ds_acc = ds
                .items
                .iter()
                .zip(&sim.truth)
                .filter(|(d, t)| d.class == Some(**t))
                .count() as f64
                / n;
            assert!(
                ds_acc > mv_acc,
                "seed {seed}: Dawid–Skene {ds_acc} vs majority {mv_acc}"
            );
            // It should also find the adversary's shift.
            for t in 0..3 {
                assert!(ds.confusion[4][t][(t + 1) % 3] > 0.5, "seed {seed}");
                assert!(ds.confusion[0][t][t] > 0.75, "seed {seed}");
            }
        }
    }

    #[test]
    fn dawid_skene_is_deterministic_and_order_independent() {
        let sim = simulate(7);
        let cfg = DawidSkeneConfig::default();
        let a = dawid_skene(&sim.table, &cfg).unwrap();
        let b = dawid_skene(&sim.table, &cfg).unwrap();
        // Shuffle the votes: the table sorts them, so the output is the same.
        let mut votes = sim.table.votes().to_vec();
        let mut rng = SplitMix64(99);
        for i in (1..votes.len()).rev() {
            votes.swap(i, rng.below(i + 1));
        }
        let shuffled = VoteTable::new(
            sim.table.n_items(),
            sim.table.n_annotators(),
            sim.table.n_classes(),
            votes,
        )
        .unwrap();
        let c = dawid_skene(&shuffled, &cfg).unwrap();
        let bits = |r: &DawidSkeneResult| -> Vec<u64> {
            r.items
                .iter()
                .flat_map(|i| i.posterior.iter().chain([&i.support]))
                .chain(&r.priors)
                .chain(r.confusion.iter().flatten().flatten())
                .map(|x| x.to_bits())
                .collect()
        };
        assert_eq!(bits(&a), bits(&b));
        assert_eq!(bits(&a), bits(&c));
        assert_eq!(a, c);
        assert_eq!(a.iterations, c.iterations);
    }

    // ---- Ranked pairs ----

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
        assert!(matches!(
            bad(vec![0, 1]),
            ConsolidateError::InvalidBallot { ballot: 1, .. }
        ));
        assert!(matches!(
            bad(vec![0, 1, 1]),
            ConsolidateError::InvalidBallot { ballot: 1, .. }
        ));
        assert!(matches!(
            bad(vec![0, 1, 3]),
            ConsolidateError::InvalidBallot { ballot: 1, .. }
        ));
    }
}
