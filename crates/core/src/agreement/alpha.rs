//! Krippendorff's alpha (Krippendorff 2011) through the coincidence matrix:
//! the nominal, ordinal and interval metrics, any fixed distance δ(a, b),
//! and MASI on category sets held as bit masks.

use std::collections::BTreeMap;

use super::profiles::Profiles;

/// The coincidence matrix of reliability data (Krippendorff 2011, §B).
///
/// `values` are the distinct pairable values in ascending order;
/// `matrix[c][k]` is o_ck; `marginals[c]` is n_c; `n` is the number of
/// pairable values. Units with fewer than two values contribute nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Coincidence<V> {
    pub values: Vec<V>,
    pub matrix: Vec<Vec<f64>>,
    pub marginals: Vec<f64>,
    pub n: f64,
}

/// One unit's coincidence entries `(c, d, o_cd)` over value indices, from its
/// sorted values: pairs of values from different coders, / (m − 1).
pub(super) fn unit_coincidences<V: Ord>(
    values: &[V],
    index: &BTreeMap<&V, usize>,
) -> Vec<(usize, usize, f64)> {
    let m = values.len();
    if m < 2 {
        return Vec::new();
    }
    // Runs of equal values (the values are sorted).
    let mut counts: Vec<(usize, f64)> = Vec::new();
    for v in values {
        let i = index[v];
        match counts.last_mut() {
            Some((j, n)) if *j == i => *n += 1.0,
            _ => counts.push((i, 1.0)),
        }
    }
    let w = 1.0 / (m as f64 - 1.0);
    let mut out = Vec::with_capacity(counts.len() * counts.len());
    for &(c, nc) in &counts {
        for &(d, nd) in &counts {
            let pairs = if c == d { nc * (nc - 1.0) } else { nc * nd };
            if pairs > 0.0 {
                out.push((c, d, pairs * w));
            }
        }
    }
    out
}

/// The coincidence matrix of profiled reliability data: o_ck = Σ_u (number
/// of c–k pairs of values in u, ordered, from different coders) / (m_u − 1).
pub fn coincidence_of<V: Ord + Clone>(profiles: &Profiles<V>) -> Coincidence<V> {
    let values = profiles.values();
    let index: BTreeMap<&V, usize> = values.iter().enumerate().map(|(i, v)| (v, i)).collect();
    let k = values.len();
    let mut matrix = vec![vec![0.0; k]; k];
    for (unit, n) in profiles.pairable() {
        for (c, d, o) in unit_coincidences(unit, &index) {
            matrix[c][d] += o * n as f64;
        }
    }
    let marginals: Vec<f64> = matrix.iter().map(|r| r.iter().sum()).collect();
    Coincidence {
        n: profiles.pairable_values() as f64,
        values,
        matrix,
        marginals,
    }
}

/// Alpha from a coincidence matrix and a matrix of squared distances
/// `delta[c][k]` over `coincidence.values`:
/// α = 1 − (n − 1) Σ o_ck δ_ck / Σ n_c n_k δ_ck. `None` when there are no
/// pairable values, the expected disagreement is 0, or `delta` is not
/// k × k.
pub fn alpha_from_coincidence<V>(c: &Coincidence<V>, delta: &[Vec<f64>]) -> Option<f64> {
    if c.n < 2.0 || c.values.is_empty() {
        return None;
    }
    let k = c.values.len();
    if delta.len() != k || delta.iter().any(|row| row.len() != k) {
        return None;
    }
    let mut observed = 0.0;
    let mut expected = 0.0;
    for ((row, &ni), drow) in c.matrix.iter().zip(&c.marginals).zip(delta) {
        for ((&o, &nj), &d) in row.iter().zip(&c.marginals).zip(drow) {
            observed += o * d;
            expected += ni * nj * d;
        }
    }
    alpha_from_sums(c.n, observed, expected)
}

/// Alpha from n pairable values, Σ o·δ and Σ n_c·n_d·δ.
pub(super) fn alpha_from_sums(n: f64, observed: f64, expected: f64) -> Option<f64> {
    if n < 2.0 {
        return None;
    }
    // Guard against rounding noise and non-finite distances.
    if !expected.is_finite() || !observed.is_finite() || expected <= 1e-12 * n * n {
        return None;
    }
    Some(1.0 - (n - 1.0) * observed / expected)
}

/// Ordinal δ matrix from the marginals n_c of values in ascending order:
/// δ_ck = (Σ_{g=c..k} n_g − (n_c + n_k)/2)² (only the values' order
/// matters, not their magnitudes).
pub(super) fn ordinal_deltas(m: &[f64]) -> Vec<Vec<f64>> {
    let k = m.len();
    (0..k)
        .map(|i| {
            (0..k)
                .map(|j| {
                    let (lo, hi) = (i.min(j), i.max(j));
                    let x = m[lo..=hi].iter().sum::<f64>() - (m[lo] + m[hi]) / 2.0;
                    x * x
                })
                .collect()
        })
        .collect()
}

/// The δ matrix of a distance that depends only on the values.
pub(super) fn fixed_deltas<V>(values: &[V], delta: impl Fn(&V, &V) -> f64) -> Vec<Vec<f64>> {
    values
        .iter()
        .map(|a| values.iter().map(|b| delta(a, b)).collect())
        .collect()
}

/// A level of measurement for [`alpha_of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Nominal,
    Ordinal,
    Interval,
}

/// Krippendorff's alpha of profiled data with any distance δ(a, b) (the
/// *squared* difference in Krippendorff's notation; δ(a, a) should be 0).
pub fn alpha_with_of<V: Ord + Clone>(
    profiles: &Profiles<V>,
    delta: impl Fn(&V, &V) -> f64,
) -> Option<f64> {
    let c = coincidence_of(profiles);
    alpha_from_coincidence(&c, &fixed_deltas(&c.values, delta))
}

/// Krippendorff's alpha of profiled numeric data under a metric: nominal
/// (δ = 0 if equal, 1 otherwise), ordinal (see `ordinal_deltas`) or
/// interval (δ = (a − b)²).
pub fn alpha_of<V: Ord + Copy + Into<f64>>(profiles: &Profiles<V>, metric: Metric) -> Option<f64> {
    match metric {
        Metric::Nominal => alpha_with_of(profiles, |a, b| if a == b { 0.0 } else { 1.0 }),
        Metric::Ordinal => {
            let c = coincidence_of(profiles);
            alpha_from_coincidence(&c, &ordinal_deltas(&c.marginals))
        }
        Metric::Interval => alpha_with_of(profiles, |&a, &b| {
            let x = a.into() - b.into();
            x * x
        }),
    }
}

/// MASI distance (Passonneau 2006) on category sets held as bit masks:
/// 1 − Jaccard × monotonicity, where monotonicity is 1 if the sets are
/// equal, 2/3 if one is a subset of the other, 1/3 if they overlap otherwise
/// and 0 if disjoint. Two empty sets are equal (distance 0); an empty and a
/// non-empty set are disjoint (distance 1).
pub fn masi_distance_bits(a: u64, b: u64) -> f64 {
    if a == b {
        return 0.0;
    }
    let inter = (a & b).count_ones();
    if inter == 0 {
        return 1.0;
    }
    let union = (a | b).count_ones();
    let jaccard = f64::from(inter) / f64::from(union);
    let monotonicity = if inter == a.count_ones() || inter == b.count_ones() {
        2.0 / 3.0
    } else {
        1.0 / 3.0
    };
    1.0 - jaccard * monotonicity
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::agreement::ratings::{
        EPS, Ratings, alpha, alpha_interval, alpha_masi, alpha_nominal, alpha_ordinal, close,
        coincidence, krippendorff_example, parse_row,
    };

    #[test]
    fn krippendorff_2011_coincidence_matrix() {
        let c = coincidence(&krippendorff_example());
        assert_eq!(c.values, vec![1, 2, 3, 4, 5]);
        assert_eq!(c.n, 40.0);
        // Published marginals n_c: 9, 13, 10, 5, 3.
        let expect_marg = [9.0, 13.0, 10.0, 5.0, 3.0];
        for (m, e) in c.marginals.iter().zip(expect_marg) {
            assert!((m - e).abs() < EPS, "{m} != {e}");
        }
        // Published entries: o_11 = 7, o_12 = 4/3, o_22 = 10, o_55 = 3.
        assert!((c.matrix[0][0] - 7.0).abs() < EPS);
        assert!((c.matrix[0][1] - 4.0 / 3.0).abs() < EPS);
        assert!((c.matrix[1][1] - 10.0).abs() < EPS);
        assert!((c.matrix[4][4] - 3.0).abs() < EPS);
    }

    #[test]
    fn krippendorff_2011_published_alphas() {
        let r = krippendorff_example();
        // Published, to 3 decimals.
        close(alpha_nominal(&r), 0.743, 5e-4);
        close(alpha_ordinal(&r), 0.815, 5e-4);
        close(alpha_interval(&r), 0.849, 5e-4);
        // Exact rationals, computed by hand from the coincidence matrix
        // (and independently with Python's fractions).
        close(alpha_nominal(&r), 113.0 / 152.0, EPS);
        close(alpha_ordinal(&r), 108_577.0 / 133_160.0, EPS);
        close(alpha_interval(&r), 951.0 / 1120.0, EPS);
        close(alpha(&r, Metric::Interval), 951.0 / 1120.0, EPS);
    }

    #[test]
    fn krippendorff_2011_binary_example() {
        let r = Ratings::from_coder_rows(vec![
            parse_row("0 1 0 0 0 0 0 0 1 0"),
            parse_row("1 1 1 0 0 1 0 0 0 0"),
        ]);
        // n = 20, o_01 = 4, n_0 = 14, n_1 = 6: α = 1 − 19·4/(14·6) = 8/84.
        close(alpha_nominal(&r), 0.095, 5e-4);
        close(alpha_nominal(&r), 8.0 / 84.0, EPS);
        // Binary: interval and ordinal equal nominal here.
        close(alpha_interval(&r), 8.0 / 84.0, EPS);
    }

    #[test]
    fn masi_alpha_by_hand() {
        let s = |xs: &[&str]| Some(xs.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>());
        // Two coders, three units: ({a},{a}), ({a},{a,b}), ({b},{b}).
        // Values: {a}×3, {a,b}×1, {b}×2, n = 6.
        // Observed: Σ o δ = 2·δ({a},{a,b}) = 2·2/3 = 4/3.
        // Expected: Σ n_c n_k δ = 2·[3·1·2/3 + 3·2·1 + 1·2·2/3] = 2·(2+6+4/3) = 56/3.
        // α = 1 − 5·(4/3)/(56/3) = 1 − 20/56 = 9/14.
        let r = Ratings::from_units(vec![
            vec![s(&["a"]), s(&["a"])],
            vec![s(&["a"]), s(&["a", "b"])],
            vec![s(&["b"]), s(&["b"])],
        ]);
        close(alpha_masi(&r), 9.0 / 14.0, EPS);
    }
}
