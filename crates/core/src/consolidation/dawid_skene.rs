//! Dawid & Skene (1979): EM over categorical votes with a confusion matrix
//! per annotator and class priors, and the decision an item's posterior
//! gives.
//!
//! Initialisation: each item's posterior is its soft majority vote (the share
//! of its votes per class; uniform for an item without votes). Each round
//! estimates priors and confusion matrices from the posteriors (M-step, with
//! `smoothing` added to every count; items without votes do not count) and
//! then recomputes the posteriors (E-step, in log space). It stops when the
//! largest change of any posterior is below `tolerance`, or after
//! `max_iterations` rounds. Items with the same votes share a posterior, so
//! the rounds run over distinct vote patterns (in a fixed order) weighted by
//! their number of items: the same input gives the same output bit for bit,
//! whatever the order of the votes.

use super::majority::{Decision, TieRule};

/// Posteriors this close to the maximum are tied.
const DS_TIE_EPS: f64 = 1e-12;

/// Settings of the EM.
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

/// Items reduced to their distinct vote patterns. Dawid–Skene's posterior
/// for an item depends only on its `(annotator, class)` votes, so items with
/// the same votes share a posterior: EM runs once per pattern, weighted by
/// the number of items showing it. With a handful of annotators per item
/// this turns hundreds of thousands of items into a few dozen patterns.
#[derive(Debug, Clone, Default)]
pub(super) struct Patterns {
    /// Items showing each pattern.
    weight: Vec<f64>,
    /// `votes[start[p]..start[p + 1]]`: pattern `p`'s `(annotator, class)`
    /// votes, sorted.
    votes: Vec<(u32, u32)>,
    start: Vec<usize>,
}

impl Patterns {
    /// From `(votes, items showing them)`, each vote list sorted. The
    /// patterns are put in the order of their votes, so the result (and every
    /// floating-point sum over it) does not depend on the order items came in.
    pub(super) fn from_counts(mut counts: Vec<(Vec<(u32, u32)>, f64)>) -> Self {
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

    pub(super) fn len(&self) -> usize {
        self.weight.len()
    }

    pub(super) fn votes_of(&self, p: usize) -> &[(u32, u32)] {
        &self.votes[self.start[p]..self.start[p + 1]]
    }
}

/// Fitted Dawid–Skene parameters.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct DsParams {
    pub(super) priors: Vec<f64>,
    /// Flat `[annotator][true][given]`.
    pub(super) confusion: Vec<f64>,
}

impl DsParams {
    /// The parameters in log space, as [`posterior`] reads them.
    pub(super) fn logs(&self) -> (Vec<f64>, Vec<f64>) {
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
pub(super) fn posterior(
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

/// The EM over patterns: parameters, per-pattern posteriors (flat, `k` per
/// pattern), rounds run and whether it converged.
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "the fitter keeps only the parameters; the tests read the rest"
    )
)]
pub(super) struct DsFit {
    pub(super) params: DsParams,
    pub(super) posteriors: Vec<f64>,
    pub(super) iterations: usize,
    pub(super) converged: bool,
}

/// Runs EM on patterns (see the module documentation). `config.smoothing`
/// must be finite and > 0, `config.tolerance` finite and ≥ 0 (as the
/// default's are).
pub(super) fn fit_patterns(
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
/// Dawid–Skene's decision from a posterior: the MAP class, with posteriors
/// within [`DS_TIE_EPS`] of the maximum tied.
pub(super) fn map_decision(posterior: &[f64], tie: TieRule) -> Decision {
    let top = posterior.iter().copied().fold(f64::MIN, f64::max);
    let tied = |c: &usize| posterior[*c] >= top - DS_TIE_EPS;
    let first = (0..posterior.len()).find(tied);
    let last = (0..posterior.len()).rev().find(tied);
    let class = tie.choose(first, last);
    Decision {
        class,
        support: top,
        tie: class.is_none(),
        no_votes: false,
    }
}

#[cfg(test)]
mod tests {
    use crate::consolidation::vote_table::{
        DawidSkeneResult, TableError, VoteTable, dawid_skene, majority_vote, v,
    };
    use crate::rng::SplitMix64;

    use super::*;

    const EPS: f64 = 1e-9;

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

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < EPS
    }

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
                Err(TableError::InvalidConfig(_))
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
}
