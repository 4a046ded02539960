//! Fleiss' kappa, Cohen's kappa per pair of coders, and the raw agreement
//! they correct for chance: percent agreement and positive / negative
//! specific agreement.

use std::collections::BTreeMap;

use super::profiles::Profiles;

/// Fleiss' kappa of profiled data. Units with no values are ignored; every
/// other unit must have the same number (≥ 2) of values, else `None`; also
/// `None` when chance agreement P_e = 1.
pub fn fleiss_kappa_of<V: Ord + Clone>(profiles: &Profiles<V>) -> Option<f64> {
    let values = profiles.values();
    let rows: Vec<(Vec<usize>, usize)> = profiles
        .profiles()
        .iter()
        .filter(|(v, n)| !v.is_empty() && *n > 0)
        .map(|(unit, n)| {
            let mut counts = vec![0; values.len().max(1)];
            for v in unit {
                // A unit of one value is not pairable, so its value may be
                // missing from `values`: any column will do, as the row is
                // refused below unless every unit has one value.
                counts[values.binary_search(v).unwrap_or(0)] += 1;
            }
            (counts, *n)
        })
        .collect();
    fleiss_weighted(&rows)
}

/// Fleiss' kappa from rows of category counts, each standing for `weight`
/// subjects.
fn fleiss_weighted(table: &[(Vec<usize>, usize)]) -> Option<f64> {
    let (first, _) = table.first()?;
    let n: usize = first.iter().sum();
    if n < 2 || table.iter().any(|(r, _)| r.iter().sum::<usize>() != n) {
        return None;
    }
    let k = table.iter().map(|(r, _)| r.len()).max().unwrap_or(0);
    let subjects: f64 = table.iter().map(|(_, w)| *w as f64).sum();
    let nf = n as f64;
    let mut col = vec![0.0; k];
    let mut p_bar = 0.0;
    for (row, w) in table {
        let w = *w as f64;
        let mut sq = 0.0;
        for (j, &x) in row.iter().enumerate() {
            col[j] += w * x as f64;
            sq += (x * x) as f64;
        }
        p_bar += w * (sq - nf) / (nf * (nf - 1.0));
    }
    p_bar /= subjects;
    let p_e: f64 = col
        .iter()
        .map(|c| {
            let p = c / (subjects * nf);
            p * p
        })
        .sum();
    if 1.0 - p_e <= 1e-12 {
        return None;
    }
    Some((p_bar - p_e) / (1.0 - p_e))
}

/// Contingency tables for every pair of coders, filled one unit at a time,
/// for Cohen's kappa: the cost grows with the pairs that actually share
/// units, not with the square of the number of coders.
#[derive(Debug, Clone)]
pub struct PairTables<V> {
    pairs: BTreeMap<(usize, usize), BTreeMap<(V, V), usize>>,
}

impl<V> Default for PairTables<V> {
    fn default() -> Self {
        Self {
            pairs: BTreeMap::new(),
        }
    }
}

impl<V: Ord + Clone> PairTables<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one unit: its values as `(coder, value)`.
    pub fn add_unit(&mut self, values: &[(usize, V)]) {
        for (i, (a, x)) in values.iter().enumerate() {
            for (b, y) in &values[i + 1..] {
                let (key, cell) = match a.cmp(b) {
                    std::cmp::Ordering::Less => ((*a, *b), (x.clone(), y.clone())),
                    std::cmp::Ordering::Greater => ((*b, *a), (y.clone(), x.clone())),
                    std::cmp::Ordering::Equal => continue,
                };
                *self.pairs.entry(key).or_default().entry(cell).or_default() += 1;
            }
        }
    }

    /// Cohen's kappa for every pair `a < b` sharing a unit, in pair order:
    /// `None` below `min_shared` shared units, or when chance agreement
    /// P_e = 1 (one category only).
    pub fn kappas(&self, min_shared: usize) -> Vec<PairKappa> {
        self.pairs
            .iter()
            .map(|(&(a, b), table)| {
                let shared: usize = table.values().sum();
                PairKappa {
                    a,
                    b,
                    shared,
                    kappa: (shared >= min_shared)
                        .then(|| kappa_of_table(table, shared))
                        .flatten(),
                }
            })
            .collect()
    }
}

/// Cohen's kappa from a contingency table of `n` > 0 pairs.
pub(super) fn kappa_of_table<V: Ord>(table: &BTreeMap<(V, V), usize>, n: usize) -> Option<f64> {
    let mut marg_a: BTreeMap<&V, f64> = BTreeMap::new();
    let mut marg_b: BTreeMap<&V, f64> = BTreeMap::new();
    let mut agree = 0.0;
    for ((x, y), &c) in table {
        *marg_a.entry(x).or_default() += c as f64;
        *marg_b.entry(y).or_default() += c as f64;
        if x == y {
            agree += c as f64;
        }
    }
    let n = n as f64;
    let p_o = agree / n;
    let p_e: f64 = marg_a
        .iter()
        .map(|(v, ca)| ca * marg_b.get(v).copied().unwrap_or(0.0))
        .sum::<f64>()
        / (n * n);
    if 1.0 - p_e <= 1e-12 {
        return None;
    }
    Some((p_o - p_e) / (1.0 - p_e))
}

/// Cohen's kappa for one pair of coders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairKappa {
    pub a: usize,
    pub b: usize,
    /// Units both coders rated.
    pub shared: usize,
    /// `None` below `min_shared` shared units or when undefined.
    pub kappa: Option<f64>,
}

/// Raw percent agreement of profiled data: over all units with at least two
/// values, the share of (unordered) pairs of values from different coders
/// that are equal, pooled across units. `None` when there is no such pair.
pub fn percent_agreement_of<V: Ord + Clone>(profiles: &Profiles<V>) -> Option<f64> {
    let (mut agree, mut total) = (0usize, 0usize);
    for (unit, n) in profiles.pairable() {
        let m = unit.len();
        total += n * m * (m - 1) / 2;
        for run in unit.chunk_by(|a, b| a == b) {
            agree += n * run.len() * (run.len() - 1) / 2;
        }
    }
    (total > 0).then(|| agree as f64 / total as f64)
}

/// Positive and negative specific agreement on a yes/no question.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpecificAgreement {
    /// p_pos = 2a / (2a + b + c) for two raters.
    pub positive: Option<f64>,
    /// p_neg = 2d / (2d + b + c) for two raters.
    pub negative: Option<f64>,
}

/// Specific agreement of profiled yes/no data, generalised to any number of
/// raters through pairs (Fleiss' generalisation): with m_u values in unit u,
/// p_u of them yes, p_pos = Σ p_u (p_u − 1) / Σ p_u (m_u − 1) and likewise
/// for no. Units with fewer than two values are left out; `None` where a
/// denominator is 0. For two raters this is exactly 2a/(2a+b+c) and
/// 2d/(2d+b+c).
pub fn specific_agreement_of(profiles: &Profiles<bool>) -> SpecificAgreement {
    let (mut pos_agree, mut pos_total, mut neg_agree, mut neg_total) = (0usize, 0, 0, 0);
    for (unit, n) in profiles.pairable() {
        let m = unit.len();
        let p = unit.iter().filter(|&&v| v).count();
        let q = m - p;
        pos_agree += n * p * p.saturating_sub(1);
        pos_total += n * p * (m - 1);
        neg_agree += n * q * q.saturating_sub(1);
        neg_total += n * q * (m - 1);
    }
    let ratio = |a: usize, t: usize| (t > 0).then(|| a as f64 / t as f64);
    SpecificAgreement {
        positive: ratio(pos_agree, pos_total),
        negative: ratio(neg_agree, neg_total),
    }
}

#[cfg(test)]
mod tests {
    use crate::agreement::ratings::{
        EPS, Ratings, close, cohen_kappa, cohen_kappa_pairs, fleiss_kappa, specific_agreement,
    };

    use super::*;

    /// Fleiss' kappa from a count table: `table[i][j]` is the number of
    /// raters who put subject `i` in category `j`. Every row must sum to
    /// the same n ≥ 2; `None` otherwise, for no subjects, or when P_e = 1.
    fn fleiss_kappa_counts(table: &[Vec<usize>]) -> Option<f64> {
        let rows: Vec<(Vec<usize>, usize)> = table.iter().map(|r| (r.clone(), 1)).collect();
        fleiss_weighted(&rows)
    }

    #[test]
    fn fleiss_1971_wikipedia_example() {
        let t: Vec<Vec<usize>> = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        close(fleiss_kappa_counts(&t), 0.210, 5e-4);
        close(fleiss_kappa_counts(&t), 4211.0 / 20059.0, EPS);
        // The same through Ratings: expand counts into 14 raters per subject.
        let mut r = Ratings::new();
        for (u, row) in t.iter().enumerate() {
            let mut coder = 0;
            for (cat, &k) in row.iter().enumerate() {
                for _ in 0..k {
                    r.set(u, coder, cat as u8);
                    coder += 1;
                }
            }
        }
        close(fleiss_kappa(&r), 4211.0 / 20059.0, EPS);
    }

    #[test]
    fn fleiss_unequal_counts_is_none() {
        let r = Ratings::from_units(vec![
            vec![Some(1), Some(1)],
            vec![Some(1), Some(2), Some(2)],
        ]);
        assert_eq!(fleiss_kappa(&r), None);
        assert_eq!(fleiss_kappa_counts(&[]), None);
        assert_eq!(fleiss_kappa_counts(&[vec![3], vec![3]]), None); // one category
    }

    #[test]
    fn cohen_kappa_two_by_two_by_hand() {
        // 2×2 table: yes/yes 20, yes/no 5, no/yes 10, no/no 15 (n = 50).
        // p_o = 35/50 = 0.7; A yes 25, B yes 30; p_e = (25·30 + 25·20)/2500
        // = 0.5; κ = 0.2/0.5 = 0.4.
        let mut rows = Vec::new();
        for (a, b, k) in [
            (true, true, 20),
            (true, false, 5),
            (false, true, 10),
            (false, false, 15),
        ] {
            for _ in 0..k {
                rows.push(vec![Some(a), Some(b)]);
            }
        }
        let r = Ratings::from_units(rows);
        close(cohen_kappa(&r, 0, 1, 20), 0.4, EPS);
        assert_eq!(cohen_kappa(&r, 0, 1, 51), None);
        let pairs = cohen_kappa_pairs(&r, 20);
        assert_eq!(pairs.len(), 1);
        assert_eq!((pairs[0].a, pairs[0].b, pairs[0].shared), (0, 1, 50));
        close(pairs[0].kappa, 0.4, EPS);
        // Specific agreement: a = 20, b = 5, c = 10, d = 15.
        let s = specific_agreement(&r);
        close(s.positive, 40.0 / 55.0, EPS);
        close(s.negative, 30.0 / 45.0, EPS);
    }

    #[test]
    fn specific_agreement_three_raters_by_pairs() {
        // Unit 1: yes yes no (p=2, m=3): pos agree 2, pos total 4; neg 0 / 2.
        // Unit 2: no no no: neg agree 6 / 6.
        let r = Ratings::from_units(vec![
            vec![Some(true), Some(true), Some(false)],
            vec![Some(false), Some(false), Some(false)],
            vec![Some(true), None, None], // left out
        ]);
        let s = specific_agreement(&r);
        close(s.positive, 0.5, EPS);
        close(s.negative, 0.75, EPS);
        let none = specific_agreement(&Ratings::new());
        assert_eq!(
            none,
            SpecificAgreement {
                positive: None,
                negative: None
            }
        );
    }
}
