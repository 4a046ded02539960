//! Plain reliability data, units × coders with values possibly missing, and
//! every statistic computed straight from it: the reference the profiled
//! statistics are checked against, and the fixtures the tests share. Only
//! the tests use it.
//!
//! [`Ratings<V>`] holds one row per *unit* (an item, or a response of an
//! item); row `u` is indexed by coder: `units[u][c]` is coder `c`'s value for
//! unit `u`, `None` when missing. Rows may have different lengths: a coder
//! index past the end of a row is simply missing.

use std::collections::{BTreeMap, BTreeSet};

use super::alpha::{Coincidence, Metric, alpha_from_coincidence, coincidence_of, ordinal_deltas};
use super::bootstrap::{Bootstrap, Interval, ItemRatings, alpha_intervals, percentile_interval};
use super::kappa::{
    PairKappa, PairTables, SpecificAgreement, fleiss_kappa_of, kappa_of_table,
    percent_agreement_of, specific_agreement_of,
};
use super::profiles::Profiles;
use crate::rng::SplitMix64;

/// Reliability data: units × coders, values possibly missing.
///
/// `units()[u][c]` is the value coder `c` gave unit `u`, or `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ratings<V> {
    units: Vec<Vec<Option<V>>>,
}

impl<V> Default for Ratings<V> {
    fn default() -> Self {
        Self { units: Vec::new() }
    }
}

impl<V> Ratings<V> {
    /// Empty reliability data.
    pub fn new() -> Self {
        Self::default()
    }

    /// From rows indexed by unit, each row indexed by coder.
    pub fn from_units(units: Vec<Vec<Option<V>>>) -> Self {
        Self { units }
    }

    /// From rows indexed by coder, each row indexed by unit — the layout of
    /// Krippendorff's reliability-data tables. Transposed on the way in.
    pub fn from_coder_rows(rows: Vec<Vec<Option<V>>>) -> Self {
        let coders = rows.len();
        let n_units = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut units: Vec<Vec<Option<V>>> = (0..n_units)
            .map(|_| (0..coders).map(|_| None).collect())
            .collect();
        for (c, row) in rows.into_iter().enumerate() {
            for (u, v) in row.into_iter().enumerate() {
                units[u][c] = v;
            }
        }
        Self { units }
    }

    /// From `(unit, coder, value)` triples. Units and coders are dense
    /// indices; a later triple for the same `(unit, coder)` replaces an
    /// earlier one.
    pub fn from_triples(triples: impl IntoIterator<Item = (usize, usize, V)>) -> Self {
        let mut r = Self::new();
        for (u, c, v) in triples {
            r.set(u, c, v);
        }
        r
    }

    /// Set coder `coder`'s value for unit `unit`, growing as needed.
    pub fn set(&mut self, unit: usize, coder: usize, value: V) {
        if self.units.len() <= unit {
            self.units.resize_with(unit + 1, Vec::new);
        }
        let row = &mut self.units[unit];
        if row.len() <= coder {
            row.resize_with(coder + 1, || None);
        }
        row[coder] = Some(value);
    }

    /// Append a unit (a row indexed by coder).
    pub fn push_unit(&mut self, row: Vec<Option<V>>) {
        self.units.push(row);
    }

    /// The rows, indexed by unit then coder.
    pub fn units(&self) -> &[Vec<Option<V>>] {
        &self.units
    }

    /// Number of units (rows), including those with fewer than two values.
    pub fn unit_count(&self) -> usize {
        self.units.len()
    }

    /// Number of coders: one past the highest coder index seen.
    pub fn coder_count(&self) -> usize {
        self.units.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// Units with at least two values (the ones alpha and agreement use).
    pub fn pairable_units(&self) -> usize {
        self.units
            .iter()
            .filter(|u| present(u).count() >= 2)
            .count()
    }

    /// Number of pairable values `n` (values in units with at least two).
    pub fn pairable_values(&self) -> usize {
        self.units
            .iter()
            .map(|u| present(u).count())
            .filter(|&m| m >= 2)
            .sum()
    }

    /// The same data with every value mapped.
    pub fn map<W>(&self, mut f: impl FnMut(&V) -> W) -> Ratings<W> {
        Ratings {
            units: self
                .units
                .iter()
                .map(|row| row.iter().map(|v| v.as_ref().map(&mut f)).collect())
                .collect(),
        }
    }
}

fn present<V>(row: &[Option<V>]) -> impl Iterator<Item = &V> {
    row.iter().flatten()
}

impl<V: Ord + Clone> Profiles<V> {
    /// The units of `ratings`, each counted once.
    pub fn from_ratings(ratings: &Ratings<V>) -> Self {
        let mut p = Self::new();
        let mut values = Vec::new();
        for row in ratings.units() {
            values.clear();
            values.extend(present(row).cloned());
            p.add(&mut values);
        }
        p
    }
}

impl<V: Ord + Clone> ItemRatings<V> {
    /// Each unit of `ratings` as an item of its own.
    pub fn from_ratings(ratings: &Ratings<V>) -> Self {
        let mut r = Self::new();
        let mut values = Vec::new();
        for row in ratings.units() {
            values.clear();
            values.extend(present(row).cloned());
            r.push_item([values.as_mut_slice()]);
        }
        r
    }
}

/// The coincidence matrix (see [`coincidence_of`]).
pub fn coincidence<V: Ord + Clone>(ratings: &Ratings<V>) -> Coincidence<V> {
    coincidence_of(&Profiles::from_ratings(ratings))
}

/// Krippendorff's alpha with any distance function δ(a, b) (the *squared*
/// difference in Krippendorff's notation; δ(a, a) should be 0).
pub fn alpha_with<V: Ord + Clone>(
    ratings: &Ratings<V>,
    delta: impl Fn(&V, &V) -> f64,
) -> Option<f64> {
    let c = coincidence(ratings);
    let d: Vec<Vec<f64>> = c
        .values
        .iter()
        .map(|a| c.values.iter().map(|b| delta(a, b)).collect())
        .collect();
    alpha_from_coincidence(&c, &d)
}

/// Nominal alpha: δ = 0 if equal, 1 otherwise.
pub fn alpha_nominal<V: Ord + Clone>(ratings: &Ratings<V>) -> Option<f64> {
    alpha_with(ratings, |a, b| if a == b { 0.0 } else { 1.0 })
}

/// Ordinal alpha: δ_ck = (Σ_{g=c..k} n_g − (n_c + n_k)/2)² over the values
/// in their `Ord` order (only the order matters, not the magnitudes).
pub fn alpha_ordinal<V: Ord + Clone>(ratings: &Ratings<V>) -> Option<f64> {
    let c = coincidence(ratings);
    let d = ordinal_deltas(&c.marginals);
    alpha_from_coincidence(&c, &d)
}

/// Interval alpha: δ = (a − b)².
pub fn alpha_interval<V: Ord + Copy + Into<f64>>(ratings: &Ratings<V>) -> Option<f64> {
    alpha_with(ratings, |&a, &b| {
        let x = a.into() - b.into();
        x * x
    })
}

/// Krippendorff's alpha for numeric-valued data under the given metric.
pub fn alpha<V: Ord + Copy + Into<f64>>(ratings: &Ratings<V>, metric: Metric) -> Option<f64> {
    match metric {
        Metric::Nominal => alpha_nominal(ratings),
        Metric::Ordinal => alpha_ordinal(ratings),
        Metric::Interval => alpha_interval(ratings),
    }
}

/// MASI distance (Passonneau 2006): 1 − Jaccard × monotonicity, where
/// monotonicity is 1 if the sets are equal, 2/3 if one is a subset of the
/// other, 1/3 if they overlap otherwise and 0 if disjoint. Two empty sets are
/// equal (distance 0); an empty and a non-empty set are disjoint (distance 1).
pub fn masi_distance(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    if a == b {
        return 0.0;
    }
    let inter = a.intersection(b).count();
    if inter == 0 {
        return 1.0;
    }
    let union = a.len() + b.len() - inter;
    let jaccard = inter as f64 / union as f64;
    let monotonicity = if inter == a.len() || inter == b.len() {
        2.0 / 3.0
    } else {
        1.0 / 3.0
    };
    1.0 - jaccard * monotonicity
}

/// Alpha on category sets with the MASI distance.
pub fn alpha_masi(ratings: &Ratings<BTreeSet<String>>) -> Option<f64> {
    alpha_with(ratings, masi_distance)
}

/// Fleiss' kappa over reliability data. Units with no values are ignored;
/// every other unit must have the same number (≥ 2) of values, else `None`.
pub fn fleiss_kappa<V: Ord + Clone>(ratings: &Ratings<V>) -> Option<f64> {
    fleiss_kappa_of(&Profiles::from_ratings(ratings))
}

/// Cohen's kappa between coders `a` and `b` over the units both rated.
/// `None` when they share fewer than `min_shared` units (and at least one),
/// or when chance agreement P_e = 1 (one category only).
pub fn cohen_kappa<V: Ord + Clone>(
    ratings: &Ratings<V>,
    a: usize,
    b: usize,
    min_shared: usize,
) -> Option<f64> {
    let pairs: Vec<(&V, &V)> = shared(ratings, a, b).collect();
    if pairs.is_empty() || pairs.len() < min_shared {
        return None;
    }
    let mut table: BTreeMap<(V, V), usize> = BTreeMap::new();
    for &(x, y) in &pairs {
        *table.entry((x.clone(), y.clone())).or_default() += 1;
    }
    kappa_of_table(&table, pairs.len())
}

fn shared<V>(ratings: &Ratings<V>, a: usize, b: usize) -> impl Iterator<Item = (&V, &V)> {
    ratings.units().iter().filter_map(move |row| {
        match (
            row.get(a).and_then(Option::as_ref),
            row.get(b).and_then(Option::as_ref),
        ) {
            (Some(x), Some(y)) => Some((x, y)),
            _ => None,
        }
    })
}

/// Cohen's kappa for every pair of coders `a < b` that shares at least one
/// unit.
pub fn cohen_kappa_pairs<V: Ord + Clone>(
    ratings: &Ratings<V>,
    min_shared: usize,
) -> Vec<PairKappa> {
    let mut tables = PairTables::new();
    let mut unit = Vec::new();
    for row in ratings.units() {
        unit.clear();
        unit.extend(
            row.iter()
                .enumerate()
                .filter_map(|(c, v)| v.clone().map(|v| (c, v))),
        );
        tables.add_unit(&unit);
    }
    tables.kappas(min_shared)
}

/// Raw percent agreement: over all units with at least two values, the
/// share of (unordered) pairs of values from different coders that are
/// equal, pooled across units. `None` when there is no such pair.
pub fn percent_agreement<V: Ord + Clone>(ratings: &Ratings<V>) -> Option<f64> {
    percent_agreement_of(&Profiles::from_ratings(ratings))
}

/// Specific agreement generalised to any number of raters through pairs
/// (Fleiss' generalisation): with m_u values in unit u, p_u of them yes,
/// p_pos = Σ p_u (p_u − 1) / Σ p_u (m_u − 1) and likewise for no. Units with
/// fewer than two values are left out; `None` where a denominator is 0.
/// For two raters this is exactly 2a/(2a+b+c) and 2d/(2d+b+c).
pub fn specific_agreement(ratings: &Ratings<bool>) -> SpecificAgreement {
    specific_agreement_of(&Profiles::from_ratings(ratings))
}

/// Percentile bootstrap 95% CI of `stat` (e.g. [`alpha_nominal`]):
/// `resamples` times, draw `unit_count` units with replacement (seeded
/// SplitMix64, so the same input and seed give the same interval), compute
/// the statistic, and take the 2.5% and 97.5% quantiles of the defined
/// results (linear interpolation between order statistics). Resamples on
/// which the statistic is undefined are dropped and counted in `defined`.
/// `None` when the statistic is undefined on the full data, `resamples` is 0
/// or no resample is defined.
pub fn bootstrap_ci<V: Clone>(
    ratings: &Ratings<V>,
    stat: impl Fn(&Ratings<V>) -> Option<f64>,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    stat(ratings)?;
    let n = ratings.unit_count();
    if n == 0 || resamples == 0 {
        return None;
    }
    let mut rng = SplitMix64(seed);
    let mut results = Vec::with_capacity(resamples);
    let mut sample = Ratings {
        units: Vec::with_capacity(n),
    };
    for _ in 0..resamples {
        sample.units.clear();
        for _ in 0..n {
            sample.units.push(ratings.units[rng.below(n)].clone());
        }
        if let Some(x) = stat(&sample) {
            results.push(x);
        }
    }
    percentile_interval(results)
}

/// Bootstrap 95% CI for alpha under a metric, B resamples, fixed seed:
/// the units drawn with replacement, as [`bootstrap_ci`] draws them (same
/// seed, same draws), through [`alpha_intervals`].
pub fn alpha_ci<V: Ord + Copy + Into<f64>>(
    ratings: &Ratings<V>,
    metric: Metric,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    let b = metric_bootstrap(&ItemRatings::from_ratings(ratings), metric);
    alpha_intervals(&[b], resamples, seed)[0]
}

/// Alpha's bootstrap under a metric.
pub fn metric_bootstrap<V: Ord + Copy + Into<f64>>(
    items: &ItemRatings<V>,
    metric: Metric,
) -> Bootstrap {
    match metric {
        Metric::Nominal => items.bootstrap_fixed(|a, b| if a == b { 0.0 } else { 1.0 }),
        Metric::Ordinal => items.bootstrap_ordinal(),
        Metric::Interval => items.bootstrap_fixed(|&a, &b| {
            let x = a.into() - b.into();
            x * x
        }),
    }
}

// ---- fixtures the tests share ----

pub const EPS: f64 = 1e-9;

/// Asserts that a statistic is defined and within `eps` of `b`.
pub fn close(a: Option<f64>, b: f64, eps: f64) {
    let a = a.expect("statistic should be defined");
    assert!((a - b).abs() < eps, "{a} != {b} (eps {eps})");
}

/// One coder's row of values, `.` for missing.
pub fn parse_row(s: &str) -> Vec<Option<u8>> {
    s.split_whitespace().map(|x| x.parse().ok()).collect()
}

/// Krippendorff (2011), section C: 4 observers, 12 units, values 1–5.
pub fn krippendorff_example() -> Ratings<u8> {
    Ratings::from_coder_rows(vec![
        parse_row("1 2 3 3 2 1 4 1 2 . . ."),
        parse_row("1 2 3 3 2 2 4 1 2 5 . 3"),
        parse_row(". 3 3 3 2 3 4 2 2 5 1 ."),
        parse_row("1 2 3 3 2 4 4 1 2 5 1 ."),
    ])
}

/// 1–30 units of 1–6 coders, values below `cats`, a quarter missing when
/// `missing`.
pub fn random_ratings(rng: &mut SplitMix64, cats: usize, missing: bool) -> Ratings<u8> {
    let units = 1 + rng.below(30);
    let coders = 1 + rng.below(6);
    let mut rows = Vec::with_capacity(units);
    for _ in 0..units {
        let row = (0..coders)
            .map(|_| {
                if missing && rng.below(4) == 0 {
                    None
                } else {
                    Some(rng.below(cats) as u8)
                }
            })
            .collect();
        rows.push(row);
    }
    Ratings::from_units(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masi_distance_cases() {
        let s = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(masi_distance(&s(&[]), &s(&[])), 0.0);
        assert_eq!(masi_distance(&s(&["a", "b"]), &s(&["a", "b"])), 0.0);
        assert_eq!(masi_distance(&s(&["a"]), &s(&["b"])), 1.0);
        assert_eq!(masi_distance(&s(&[]), &s(&["b"])), 1.0);
        // Subset: J = 1/2, M = 2/3 → 1 − 1/3.
        assert!((masi_distance(&s(&["a"]), &s(&["a", "b"])) - 2.0 / 3.0).abs() < EPS);
        // Overlap: {a,b} vs {b,c}: J = 1/3, M = 1/3 → 1 − 1/9.
        assert!((masi_distance(&s(&["a", "b"]), &s(&["b", "c"])) - 8.0 / 9.0).abs() < EPS);
    }

    #[test]
    fn hand_computed_two_coders_four_units() {
        // A: a a b b ; B: a b b b.
        let r = Ratings::from_coder_rows(vec![
            vec![Some('a'), Some('a'), Some('b'), Some('b')],
            vec![Some('a'), Some('b'), Some('b'), Some('b')],
        ]);
        // Coincidences: o_aa = 2, o_ab = o_ba = 1, o_bb = 4; n_a = 3, n_b = 5,
        // n = 8. α = 1 − 7·2/(2·3·5) = 1 − 14/30 = 8/15.
        close(alpha_nominal(&r), 8.0 / 15.0, EPS);
        // Cohen: p_o = 3/4; p_e = (2·1 + 2·3)/16 = 1/2; κ = 1/2.
        close(cohen_kappa(&r, 0, 1, 0), 0.5, EPS);
        // Fleiss: P̄ = 3/4; p_a = 3/8, p_b = 5/8; P_e = 34/64;
        // κ = (3/4 − 34/64)/(30/64) = 14/30.
        close(fleiss_kappa(&r), 14.0 / 30.0, EPS);
        close(percent_agreement(&r), 0.75, EPS);
    }

    #[test]
    fn undefined_cases_are_none_and_do_not_panic() {
        let empty: Ratings<u8> = Ratings::new();
        assert_eq!(alpha_nominal(&empty), None);
        assert_eq!(alpha_ordinal(&empty), None);
        assert_eq!(alpha_interval(&empty), None);
        assert_eq!(fleiss_kappa(&empty), None);
        assert_eq!(cohen_kappa(&empty, 0, 1, 0), None);
        assert_eq!(percent_agreement(&empty), None);
        assert!(cohen_kappa_pairs(&empty, 20).is_empty());
        assert_eq!(alpha_ci(&empty, Metric::Nominal, 100, 1), None);
        // One coder: nothing pairable.
        let one = Ratings::from_coder_rows(vec![vec![Some(1u8), Some(2), Some(3)]]);
        assert_eq!(alpha_nominal(&one), None);
        assert_eq!(fleiss_kappa(&one), None);
        assert_eq!(percent_agreement(&one), None);
        assert_eq!(cohen_kappa(&one, 0, 1, 0), None);
        // One category: De = 0.
        let same = Ratings::from_units(vec![vec![Some(2u8), Some(2)], vec![Some(2), Some(2)]]);
        assert_eq!(alpha_nominal(&same), None);
        assert_eq!(alpha_ordinal(&same), None);
        assert_eq!(alpha_interval(&same), None);
        assert_eq!(fleiss_kappa(&same), None);
        assert_eq!(cohen_kappa(&same, 0, 1, 0), None);
        close(percent_agreement(&same), 1.0, EPS);
        assert_eq!(alpha_ci(&same, Metric::Nominal, 100, 1), None);
        // Rows of all-missing values.
        let missing: Ratings<u8> = Ratings::from_units(vec![vec![None, None], vec![]]);
        assert_eq!(alpha_nominal(&missing), None);
        assert_eq!(fleiss_kappa(&missing), None);
    }

    #[test]
    fn triples_and_coder_rows_agree() {
        let a = krippendorff_example();
        let mut triples = Vec::new();
        for (u, row) in a.units().iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if let Some(v) = v {
                    triples.push((u, c, *v));
                }
            }
        }
        let b = Ratings::from_triples(triples);
        assert_eq!(alpha_nominal(&a), alpha_nominal(&b));
        assert_eq!(a.coder_count(), 4);
        assert_eq!(a.unit_count(), 12);
        assert_eq!(a.pairable_units(), 11);
        assert_eq!(a.pairable_values(), 40);
    }

    fn shuffle<T>(rng: &mut SplitMix64, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, rng.below(i + 1));
        }
    }

    fn same(a: Option<f64>, b: Option<f64>) {
        match (a, b) {
            (None, None) => {}
            (Some(x), Some(y)) => assert!((x - y).abs() < 1e-9, "{x} != {y}"),
            _ => panic!("{a:?} vs {b:?}"),
        }
    }

    #[test]
    fn property_perfect_agreement_gives_one() {
        let mut rng = SplitMix64(1);
        for _ in 0..300 {
            let cats = 1 + rng.below(5);
            let r = random_ratings(&mut rng, cats, true);
            // Overwrite each unit with one value for all present ratings.
            let perfect = Ratings::from_units(
                r.units()
                    .iter()
                    .map(|row| {
                        let v = present(row).next().copied();
                        row.iter().map(|x| x.and(v)).collect()
                    })
                    .collect(),
            );
            for a in [
                alpha_nominal(&perfect),
                alpha_ordinal(&perfect),
                alpha_interval(&perfect),
                cohen_kappa(&perfect, 0, 1, 0),
            ]
            .into_iter()
            .flatten()
            {
                assert!((a - 1.0).abs() < 1e-9, "{a}");
            }
            if let Some(p) = percent_agreement(&perfect) {
                assert!((p - 1.0).abs() < 1e-9);
            }
            if let Some(k) = fleiss_kappa(&perfect) {
                assert!((k - 1.0).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn property_invariances() {
        let mut rng = SplitMix64(2);
        for _ in 0..300 {
            let cats = 1 + rng.below(5);
            let missing = rng.below(2) == 0;
            let r = random_ratings(&mut rng, cats, missing);
            let nom = alpha_nominal(&r);
            let ord = alpha_ordinal(&r);
            let int = alpha_interval(&r);
            let fk = fleiss_kappa(&r);
            let pa = percent_agreement(&r);
            let ck = cohen_kappa(&r, 0, 1, 0);

            // Renaming categories by a permutation: nominal statistics keep.
            let mut perm: Vec<u8> = (0..cats as u8).collect();
            shuffle(&mut rng, &mut perm);
            let renamed = r.map(|&v| perm[v as usize]);
            same(alpha_nominal(&renamed), nom);
            same(fleiss_kappa(&renamed), fk);
            same(percent_agreement(&renamed), pa);
            same(cohen_kappa(&renamed, 0, 1, 0), ck);
            // To strings: a different value type entirely.
            same(alpha_nominal(&r.map(|v| format!("c{v}"))), nom);
            // A monotone renaming keeps ordinal alpha.
            same(alpha_ordinal(&r.map(|&v| v * 3 + 7)), ord);

            // Reordering units.
            let mut units = r.units().to_vec();
            shuffle(&mut rng, &mut units);
            let by_unit = Ratings::from_units(units);
            same(alpha_nominal(&by_unit), nom);
            same(alpha_ordinal(&by_unit), ord);
            same(alpha_interval(&by_unit), int);
            same(fleiss_kappa(&by_unit), fk);
            same(percent_agreement(&by_unit), pa);
            same(cohen_kappa(&by_unit, 0, 1, 0), ck);

            // Reordering coders (the same permutation in every unit).
            let coders = r.coder_count();
            let mut cperm: Vec<usize> = (0..coders).collect();
            shuffle(&mut rng, &mut cperm);
            let mut by_coder = Ratings::new();
            for (u, row) in r.units().iter().enumerate() {
                by_coder.push_unit(vec![None; coders]);
                for (c, v) in row.iter().enumerate() {
                    if let Some(v) = v {
                        by_coder.set(u, cperm[c], *v);
                    }
                }
            }
            same(alpha_nominal(&by_coder), nom);
            same(alpha_ordinal(&by_coder), ord);
            same(alpha_interval(&by_coder), int);
            same(fleiss_kappa(&by_coder), fk);
            same(percent_agreement(&by_coder), pa);
            if coders >= 2 {
                same(cohen_kappa(&by_coder, cperm[0], cperm[1], 0), ck);
            }
        }
    }

    #[test]
    fn property_ranges_and_missing_values() {
        let mut rng = SplitMix64(3);
        for _ in 0..300 {
            let cats = 1 + rng.below(4);
            let r = random_ratings(&mut rng, cats, true);
            // Adding a unit with a single value changes nothing.
            let mut extra = r.clone();
            extra.push_unit(vec![None, Some(0), None]);
            same(alpha_nominal(&extra), alpha_nominal(&r));
            same(alpha_ordinal(&extra), alpha_ordinal(&r));
            same(alpha_interval(&extra), alpha_interval(&r));
            same(percent_agreement(&extra), percent_agreement(&r));
            // Alpha is at most 1; percent agreement and specific agreement
            // lie in [0, 1].
            for a in [alpha_nominal(&r), alpha_ordinal(&r), alpha_interval(&r)]
                .into_iter()
                .flatten()
            {
                assert!(a <= 1.0 + 1e-9 && a.is_finite());
            }
            if let Some(p) = percent_agreement(&r) {
                assert!((0.0..=1.0).contains(&p));
            }
            let s = specific_agreement(&r.map(|&v| v == 0));
            for p in [s.positive, s.negative].into_iter().flatten() {
                assert!((0.0..=1.0).contains(&p));
            }
            // Binary data: nominal, ordinal and interval alpha coincide.
            let b = r.map(|&v| u8::from(v == 0));
            same(alpha_nominal(&b), alpha_interval(&b));
            same(alpha_nominal(&b), alpha_ordinal(&b));
        }
    }
}
