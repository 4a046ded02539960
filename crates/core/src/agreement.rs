//! Inter-annotator agreement statistics, pure functions over reliability data.
//!
//! Definitions follow `DESIGN.md` ("Agreement and consolidation — definitions
//! to match"):
//!
//! * Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's
//!   Alpha-Reliability") through the coincidence matrix, with the nominal,
//!   ordinal and interval metrics and any distance function δ(a, b) — e.g.
//!   [`masi_distance`] (Passonneau 2006) on category sets.
//! * Fleiss' kappa (Fleiss 1971), Cohen's kappa per pair of coders, raw
//!   percent agreement and positive / negative specific agreement.
//! * A seeded, reproducible percentile bootstrap CI for any of these.
//!
//! Every statistic returns `None` when it is undefined (no pairable values,
//! one category only, too few shared units …); no number is ever made up.
//!
//! # Reliability data
//!
//! [`Ratings<V>`] holds one row per *unit* (an item, or a response of an
//! item); row `u` is indexed by coder: `units[u][c]` is coder `c`'s value for
//! unit `u`, `None` when missing. Rows may have different lengths: a coder
//! index past the end of a row is simply missing. Coders are identified only
//! by their index, so callers map annotator ids to `0..coders` themselves.

use std::collections::{BTreeMap, BTreeSet, HashMap};

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

// ---------------------------------------------------------------------------
// Krippendorff's alpha
// ---------------------------------------------------------------------------

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

/// Build the coincidence matrix: o_ck = Σ_u (number of c–k pairs of values in
/// u, ordered, from different coders) / (m_u − 1).
pub fn coincidence<V: Ord + Clone>(ratings: &Ratings<V>) -> Coincidence<V> {
    coincidence_of(&Profiles::from_ratings(ratings))
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
fn alpha_from_sums(n: f64, observed: f64, expected: f64) -> Option<f64> {
    if n < 2.0 {
        return None;
    }
    // Guard against rounding noise and non-finite distances.
    if !expected.is_finite() || !observed.is_finite() || expected <= 1e-12 * n * n {
        return None;
    }
    Some(1.0 - (n - 1.0) * observed / expected)
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

/// Ordinal δ matrix from the marginals n_c of values in ascending order.
fn ordinal_deltas(m: &[f64]) -> Vec<Vec<f64>> {
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

fn fixed_deltas<V>(values: &[V], delta: impl Fn(&V, &V) -> f64) -> Vec<Vec<f64>> {
    values
        .iter()
        .map(|a| values.iter().map(|b| delta(a, b)).collect())
        .collect()
}

/// Interval alpha: δ = (a − b)².
pub fn alpha_interval<V: Ord + Copy + Into<f64>>(ratings: &Ratings<V>) -> Option<f64> {
    alpha_with(ratings, |&a, &b| {
        let x = a.into() - b.into();
        x * x
    })
}

/// A level of measurement for [`alpha`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Nominal,
    Ordinal,
    Interval,
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

// ---------------------------------------------------------------------------
// Profiles: reliability data reduced to multisets
// ---------------------------------------------------------------------------

/// Reliability data reduced to what alpha, Fleiss' kappa, percent and
/// specific agreement depend on: how many units show each multiset of values.
/// Neither the coders' identities nor the units' order matter to those
/// statistics, and a few hundred thousand units typically show a few dozen
/// multisets, so the statistics cost next to nothing once the units are
/// counted.
#[derive(Debug, Clone)]
pub struct Profiles<V> {
    /// Distinct multisets (values sorted) and how many units show each.
    profiles: Vec<(Vec<V>, usize)>,
    index: BTreeMap<Vec<V>, usize>,
}

impl<V> Default for Profiles<V> {
    fn default() -> Self {
        Self {
            profiles: Vec::new(),
            index: BTreeMap::new(),
        }
    }
}

impl<V: Ord + Clone> Profiles<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a unit with these values (sorted in place); returns the id of
    /// its multiset.
    pub fn add(&mut self, values: &mut [V]) -> usize {
        self.add_times(values, 1)
    }

    fn add_times(&mut self, values: &mut [V], times: usize) -> usize {
        values.sort_unstable();
        let id = match self.index.get(&*values) {
            Some(&id) => id,
            None => {
                let id = self.profiles.len();
                self.index.insert(values.to_vec(), id);
                self.profiles.push((values.to_vec(), 0));
                id
            }
        };
        self.profiles[id].1 += times;
        id
    }

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

    /// The same units with every value mapped (multisets that become equal
    /// merge).
    pub fn map<W: Ord + Clone>(&self, mut f: impl FnMut(&V) -> W) -> Profiles<W> {
        let mut out = Profiles::new();
        for (values, n) in &self.profiles {
            let mut mapped: Vec<W> = values.iter().map(&mut f).collect();
            out.add_times(&mut mapped, *n);
        }
        out
    }

    /// The distinct multisets and their unit counts.
    pub fn profiles(&self) -> &[(Vec<V>, usize)] {
        &self.profiles
    }

    /// Units with at least two values.
    pub fn pairable_units(&self) -> usize {
        self.pairable().map(|(_, n)| n).sum()
    }

    /// Values in units with at least two.
    pub fn pairable_values(&self) -> usize {
        self.pairable().map(|(v, n)| v.len() * n).sum()
    }

    fn pairable(&self) -> impl Iterator<Item = (&[V], usize)> {
        self.profiles
            .iter()
            .filter(|(v, _)| v.len() >= 2)
            .map(|(v, n)| (v.as_slice(), *n))
    }

    /// The pairable values, distinct, ascending.
    fn values(&self) -> Vec<V> {
        let set: BTreeSet<&V> = self.pairable().flat_map(|(v, _)| v).collect();
        set.into_iter().cloned().collect()
    }
}

/// One unit's coincidence entries `(c, d, o_cd)` over value indices, from its
/// sorted values: pairs of values from different coders, / (m − 1).
fn unit_coincidences<V: Ord>(
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

/// The coincidence matrix of profiled reliability data.
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

/// Fleiss' kappa of profiled data (see [`fleiss_kappa`]).
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

/// Percent agreement of profiled data (see [`percent_agreement`]).
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

/// Specific agreement of profiled yes/no data (see [`specific_agreement`]).
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

/// Krippendorff's alpha of profiled data with any distance δ.
pub fn alpha_with_of<V: Ord + Clone>(
    profiles: &Profiles<V>,
    delta: impl Fn(&V, &V) -> f64,
) -> Option<f64> {
    let c = coincidence_of(profiles);
    alpha_from_coincidence(&c, &fixed_deltas(&c.values, delta))
}

/// Krippendorff's alpha of profiled numeric data under a metric.
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

/// [`masi_distance`] on category sets held as bit masks.
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

// ---------------------------------------------------------------------------
// Items: the bootstrap's sampling units
// ---------------------------------------------------------------------------

/// Profiled reliability data grouped by *item*, the bootstrap's sampling
/// unit: an item holds one or more units (say the K responses of a prompt,
/// or just the prompt). Items whose units show the same multisets are of one
/// *kind* and contribute the same to the coincidence matrix.
#[derive(Debug, Clone)]
pub struct ItemRatings<V> {
    profiles: Profiles<V>,
    kind_of_item: Vec<u32>,
    /// The profile ids of each kind's units.
    kinds: Vec<Vec<u32>>,
    kind_index: HashMap<Vec<u32>, u32>,
    scratch: Vec<u32>,
}

impl<V> Default for ItemRatings<V> {
    fn default() -> Self {
        Self {
            profiles: Profiles::default(),
            kind_of_item: Vec::new(),
            kinds: Vec::new(),
            kind_index: HashMap::new(),
            scratch: Vec::new(),
        }
    }
}

impl<V: Ord + Clone> ItemRatings<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next item: the values of each of its units (each sorted in
    /// place). An item may have no units.
    pub fn push_item<'a>(&mut self, units: impl IntoIterator<Item = &'a mut [V]>)
    where
        V: 'a,
    {
        self.scratch.clear();
        for unit in units {
            let id = self.profiles.add(unit) as u32;
            self.scratch.push(id);
        }
        let kind = match self.kind_index.get(&self.scratch) {
            Some(&kind) => kind,
            None => {
                let kind = self.kinds.len() as u32;
                self.kinds.push(self.scratch.clone());
                self.kind_index.insert(self.scratch.clone(), kind);
                kind
            }
        };
        self.kind_of_item.push(kind);
    }

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

    pub fn profiles(&self) -> &Profiles<V> {
        &self.profiles
    }

    pub fn items(&self) -> usize {
        self.kind_of_item.len()
    }

    /// Prepares alpha's bootstrap with a δ that depends only on the values.
    pub fn bootstrap_fixed(&self, delta: impl Fn(&V, &V) -> f64) -> Bootstrap {
        let values = self.profiles.values();
        self.bootstrap(Deltas::Fixed(fixed_deltas(&values, delta)), &values)
    }

    /// Prepares alpha's bootstrap with the ordinal δ (over the values in
    /// ascending order, recomputed from each resample's marginals).
    pub fn bootstrap_ordinal(&self) -> Bootstrap {
        self.bootstrap(Deltas::Ordinal, &self.profiles.values())
    }

    fn bootstrap(&self, deltas: Deltas, values: &[V]) -> Bootstrap {
        let index: BTreeMap<&V, usize> = values.iter().enumerate().map(|(i, v)| (v, i)).collect();
        let per_profile: Vec<Vec<(usize, usize, f64)>> = self
            .profiles
            .profiles()
            .iter()
            .map(|(unit, _)| unit_coincidences(unit, &index))
            .collect();
        let mut sizes = vec![0u64; self.kinds.len()];
        for &kind in &self.kind_of_item {
            sizes[kind as usize] += 1;
        }
        let order = largest_first(&sizes);
        let kinds: Vec<Vec<(usize, usize, f64)>> = order
            .iter()
            .map(|&k| {
                let mut entries: Vec<(usize, usize, f64)> = Vec::new();
                for &u in &self.kinds[k] {
                    for &(c, d, o) in &per_profile[u as usize] {
                        match entries.iter_mut().find(|(x, y, _)| (*x, *y) == (c, d)) {
                            Some(e) => e.2 += o,
                            None => entries.push((c, d, o)),
                        }
                    }
                }
                entries
            })
            .collect();
        let full = coincidence_of(&self.profiles);
        let ordinal = matches!(deltas, Deltas::Ordinal);
        let (full_deltas, kind_observed, paired_deltas) = match deltas {
            Deltas::Fixed(d) => {
                let observed = kinds
                    .iter()
                    .map(|entries| entries.iter().map(|&(c, e, o)| o * d[c][e]).sum())
                    .collect();
                let paired = (0..d.len())
                    .flat_map(|c| {
                        let d = &d;
                        (0..=c).map(move |e| if c == e { d[c][c] } else { d[c][e] + d[e][c] })
                    })
                    .collect();
                (d, observed, paired)
            }
            Deltas::Ordinal => (ordinal_deltas(&full.marginals), Vec::new(), Vec::new()),
        };
        let large = order
            .iter()
            .take_while(|&&k| sizes[k] >= LARGE_KIND)
            .count();
        let mut rank = vec![0u32; order.len()];
        for (r, &k) in order.iter().enumerate() {
            rank[k] = r as u32;
        }
        Bootstrap {
            kind_observed,
            paired_deltas,
            items: self.kind_of_item.len(),
            large_ends: order[..large]
                .iter()
                .scan(0, |end, &k| {
                    *end += sizes[k];
                    Some(*end)
                })
                .collect(),
            small_kind_of: self
                .kind_of_item
                .iter()
                .map(|&k| rank[k as usize])
                .filter(|&r| r as usize >= large)
                .collect(),
            kinds,
            n_values: values.len(),
            defined: alpha_from_coincidence(&full, &full_deltas).is_some(),
            ordinal,
        }
    }
}

/// How alpha's δ is found.
enum Deltas {
    /// The same matrix for every resample (nominal, interval, MASI …).
    Fixed(Vec<Vec<f64>>),
    /// From the marginals (of the data, of each resample).
    Ordinal,
}

/// Kinds of items, largest first (then in order), for [`draw_counts`].
fn largest_first(sizes: &[u64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(sizes[k]));
    order
}

/// A kind of at least this many items gets one binomial per resample;
/// smaller kinds have their items drawn one by one (a binomial costs about
/// what a hundred single draws cost).
const LARGE_KIND: u64 = 64;

/// One question's alpha prepared for [`alpha_intervals`]: its kinds of
/// items, largest first, as each kind's coincidence entries `(c, d, o)`;
/// where each large kind's items end when they are counted in that order;
/// and the kind of each item of the small kinds.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    items: usize,
    large_ends: Vec<u64>,
    small_kind_of: Vec<u32>,
    kinds: Vec<Vec<(usize, usize, f64)>>,
    /// Each kind's Σ o·δ (fixed δ only).
    kind_observed: Vec<f64>,
    /// δ(c, d) + δ(d, c) for d < c and δ(c, c), row by row (the lower
    /// triangle; fixed δ only): the expected disagreement in half the work.
    paired_deltas: Vec<f64>,
    n_values: usize,
    /// The ordinal δ, from each resample's marginals (else the fixed δ of
    /// `kind_observed` and `paired_deltas`).
    ordinal: bool,
    /// Whether alpha is defined on the full data.
    defined: bool,
}

impl Bootstrap {
    /// The items resampled.
    pub fn items(&self) -> usize {
        self.items
    }
}

/// Percentile bootstrap 95% CIs of alpha for several questions over the
/// same items (every [`Bootstrap`] built from [`ItemRatings`] with the same
/// items in the same order). Each question's interval is an ordinary item
/// bootstrap: a resample draws `n` of the `n` items with replacement. Only
/// how many times each *kind* of item is drawn matters (a resample's
/// coincidence matrix is the sum of its items' precomputed contributions),
/// and those counts are multinomial, so they are drawn as such — a few
/// binomials per kind instead of `n` draws — and the cost does not grow
/// with the number of items. Seeded SplitMix64: every question starts from
/// `seed`, so a question gets the same interval alone or with others.
/// Resamples where alpha is undefined are dropped (counted in `defined`).
/// `None` for a question whose alpha is undefined on the full data, whose
/// item count differs from the first question's, or when there are no items
/// or no resamples.
pub fn alpha_intervals(
    questions: &[Bootstrap],
    resamples: usize,
    seed: u64,
) -> Vec<Option<Interval>> {
    let n = questions.first().map_or(0, |q| q.items);
    questions
        .iter()
        .map(|q| {
            let alphas = resample_alphas(q, n, resamples, seed, 1)?;
            percentile_interval(alphas)
        })
        .collect()
}

/// The defined alphas of the `resamples` resamples of one question of
/// [`alpha_intervals`] (whose first question has `n` items), in resample
/// order, computed on `threads` threads. A resample's draws follow from the
/// generator's state after the one before, so one thread draws them all in
/// turn; the alphas, most of the work, go to whichever thread is free: the
/// drawer hands each resample's counts to the others through a small
/// channel and computes one itself when they are all busy. (Threads that
/// each redrew the resamples before their share, as before, drew half the
/// resamples twice on two cores.) `None` where [`alpha_intervals`] gives no
/// interval.
pub fn resample_alphas(
    q: &Bootstrap,
    n: usize,
    resamples: usize,
    seed: u64,
    threads: usize,
) -> Option<Vec<f64>> {
    if n == 0 || resamples == 0 || !q.defined || q.items != n {
        return None;
    }
    // A resample waits in the channel for a helper only when there are
    // helpers (with none, every send finds it full).
    let waiting = threads.saturating_sub(1);
    let (to_helpers, received) = std::sync::mpsc::sync_channel::<(usize, Vec<u64>)>(waiting);
    let received = std::sync::Mutex::new(received);
    let mut found: Vec<(usize, Option<f64>)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let next = received.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok((i, counts)) = next else { break mine };
                        mine.push((i, resample_alpha(q, &counts)));
                    }
                })
            })
            .collect();
        let mut mine = Vec::new();
        let mut rng = SplitMix64(seed);
        for i in 0..resamples {
            let mut counts = Vec::with_capacity(q.kinds.len());
            draw_counts(q, &mut rng, &mut counts);
            let busy = match to_helpers.try_send((i, counts)) {
                Ok(()) => continue,
                Err(std::sync::mpsc::TrySendError::Full(busy)) => busy,
                Err(std::sync::mpsc::TrySendError::Disconnected(busy)) => busy,
            };
            mine.push((busy.0, resample_alpha(q, &busy.1)));
        }
        drop(to_helpers);
        for helper in helpers {
            mine.extend(helper.join().expect("a bootstrap thread panicked"));
        }
        mine
    });
    found.sort_unstable_by_key(|&(i, _)| i);
    Some(found.into_iter().filter_map(|(_, alpha)| alpha).collect())
}

/// The percentile interval of a question's alphas gathered in parts (see
/// [`resample_alphas`]; `None` when it has none).
pub fn interval_of(alphas: Vec<f64>) -> Option<Interval> {
    percentile_interval(alphas)
}

/// How many times each kind of item is drawn when a resample draws `n` of
/// the `n` items with replacement: a multinomial, drawn as one binomial per
/// large kind in turn; the draws left fall on the small kinds' items, drawn
/// one at a time.
fn draw_counts(q: &Bootstrap, rng: &mut SplitMix64, counts: &mut Vec<u64>) {
    counts.clear();
    counts.resize(q.kinds.len(), 0);
    let n = q.items as u64;
    let (mut draws, mut start) = (n, 0);
    for (kind, &end) in q.large_ends.iter().enumerate() {
        let c = rng.binomial(draws, (end - start) as f64 / (n - start) as f64);
        counts[kind] = c;
        draws -= c;
        start = end;
    }
    let small = &q.small_kind_of;
    if !small.is_empty() {
        for _ in 0..draws {
            counts[small[rng.below(small.len())] as usize] += 1;
        }
    }
}

/// Alpha of one resample that drew each kind of item `counts[kind]` times.
/// With a fixed δ the observed disagreement is a sum of each kind's own
/// (precomputed), so only the marginals are built: no V × V matrix per
/// resample, which matters for categories, whose sets make hundreds of
/// values.
fn resample_alpha(q: &Bootstrap, counts: &[u64]) -> Option<f64> {
    if q.ordinal {
        return ordinal_resample_alpha(q, counts);
    }
    let mut marginals = vec![0.0; q.n_values];
    let mut observed = 0.0;
    for ((entries, &times), &own) in q.kinds.iter().zip(counts).zip(&q.kind_observed) {
        if times > 0 {
            let times = times as f64;
            observed += own * times;
            for &(c, _, o) in entries {
                marginals[c] += o * times;
            }
        }
    }
    let n = marginals.iter().sum::<f64>().round();
    let present: Vec<(usize, f64)> = marginals
        .iter()
        .enumerate()
        .filter(|(_, m)| **m != 0.0)
        .map(|(c, m)| (c, *m))
        .collect();
    alpha_from_sums(n, observed, expected_paired(&q.paired_deltas, &present))
}

/// Σ over the present values `c` (ascending) of n_c · Σ_{d ≤ c} n_d ·
/// (δ(c, d) + δ(d, c)) (δ(c, c) once): the expected disagreement from the
/// lower triangle. Each row's sum is one chain of additions, which the CPU
/// adds one at a time; so rows go four at a time, their chains side by
/// side. Every row still sums its terms in the same order, so the result
/// is exactly that of one row after another.
fn expected_paired(paired: &[f64], present: &[(usize, f64)]) -> f64 {
    let row = |c: usize| &paired[c * (c + 1) / 2..];
    let mut expected = 0.0;
    let mut blocks = present.chunks_exact(4);
    let mut first = 0;
    for block in &mut blocks {
        let rows = [
            row(block[0].0),
            row(block[1].0),
            row(block[2].0),
            row(block[3].0),
        ];
        let mut sums = [0.0; 4];
        // The terms every row of the block has, then each row's own tail.
        for &(d, nd) in &present[..=first] {
            for (sum, row) in sums.iter_mut().zip(&rows) {
                *sum += nd * row[d];
            }
        }
        for (r, (sum, row)) in sums.iter_mut().zip(&rows).enumerate().skip(1) {
            for &(d, nd) in &present[first + 1..=first + r] {
                *sum += nd * row[d];
            }
        }
        for (&(_, nc), sum) in block.iter().zip(sums) {
            expected += nc * sum;
        }
        first += 4;
    }
    for (i, &(c, nc)) in blocks.remainder().iter().enumerate() {
        let row = row(c);
        let below: f64 = present[..=first + i]
            .iter()
            .map(|&(d, nd)| nd * row[d])
            .sum();
        expected += nc * below;
    }
    expected
}

/// The ordinal δ depends on the resample's marginals: the whole matrix.
fn ordinal_resample_alpha(q: &Bootstrap, counts: &[u64]) -> Option<f64> {
    let k = q.n_values;
    let mut sample = Coincidence {
        values: vec![(); k],
        matrix: vec![vec![0.0; k]; k],
        marginals: vec![0.0; k],
        n: 0.0,
    };
    for (entries, &times) in q.kinds.iter().zip(counts) {
        if times > 0 {
            for &(c, d, o) in entries {
                sample.matrix[c][d] += o * times as f64;
            }
        }
    }
    for (m, row) in sample.marginals.iter_mut().zip(&sample.matrix) {
        *m = row.iter().sum();
    }
    sample.n = sample.marginals.iter().sum::<f64>().round();
    alpha_from_coincidence(&sample, &ordinal_deltas(&sample.marginals))
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

    /// Cohen's kappa for every pair `a < b` sharing a unit (see
    /// [`cohen_kappa`]), in pair order.
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
fn kappa_of_table<V: Ord>(table: &BTreeMap<(V, V), usize>, n: usize) -> Option<f64> {
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

// ---------------------------------------------------------------------------
// Kappas and raw agreement
// ---------------------------------------------------------------------------

/// Fleiss' kappa from a count table: `table[i][j]` is the number of raters
/// who put subject `i` in category `j`. Every row must sum to the same
/// n ≥ 2; `None` otherwise, for no subjects, or when P_e = 1.
pub fn fleiss_kappa_counts(table: &[Vec<usize>]) -> Option<f64> {
    let rows: Vec<(Vec<usize>, usize)> = table.iter().map(|r| (r.clone(), 1)).collect();
    fleiss_weighted(&rows)
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
    let n = pairs.len() as f64;
    let mut marg_a: BTreeMap<&V, f64> = BTreeMap::new();
    let mut marg_b: BTreeMap<&V, f64> = BTreeMap::new();
    let mut agree = 0.0;
    for &(x, y) in &pairs {
        *marg_a.entry(x).or_default() += 1.0;
        *marg_b.entry(y).or_default() += 1.0;
        if x == y {
            agree += 1.0;
        }
    }
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

/// Positive and negative specific agreement on a yes/no question.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpecificAgreement {
    /// p_pos = 2a / (2a + b + c) for two raters.
    pub positive: Option<f64>,
    /// p_neg = 2d / (2d + b + c) for two raters.
    pub negative: Option<f64>,
}

/// Specific agreement generalised to any number of raters through pairs
/// (Fleiss' generalisation): with m_u values in unit u, p_u of them yes,
/// p_pos = Σ p_u (p_u − 1) / Σ p_u (m_u − 1) and likewise for no. Units with
/// fewer than two values are left out; `None` where a denominator is 0.
/// For two raters this is exactly 2a/(2a+b+c) and 2d/(2d+b+c).
pub fn specific_agreement(ratings: &Ratings<bool>) -> SpecificAgreement {
    specific_agreement_of(&Profiles::from_ratings(ratings))
}

// ---------------------------------------------------------------------------
// Bootstrap
// ---------------------------------------------------------------------------

/// A 95% bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
    /// Resamples on which the statistic was defined (out of those drawn).
    pub defined: usize,
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

/// Quantile of sorted data, linear interpolation (Hyndman & Fan type 7).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
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

fn metric_bootstrap<V: Ord + Copy + Into<f64>>(
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

/// Bootstrap 95% CI for alpha with any distance δ (e.g. [`masi_distance`]).
pub fn alpha_with_ci<V: Ord + Clone>(
    ratings: &Ratings<V>,
    delta: impl Fn(&V, &V) -> f64,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    let b = ItemRatings::from_ratings(ratings).bootstrap_fixed(delta);
    alpha_intervals(&[b], resamples, seed)[0]
}

/// Bootstrap 95% CI for MASI alpha on category sets.
pub fn alpha_masi_ci(
    ratings: &Ratings<BTreeSet<String>>,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    alpha_with_ci(ratings, masi_distance, resamples, seed)
}

fn percentile_interval(mut results: Vec<f64>) -> Option<Interval> {
    if results.is_empty() {
        return None;
    }
    results.sort_by(f64::total_cmp);
    Some(Interval {
        low: quantile(&results, 0.025),
        high: quantile(&results, 0.975),
        defined: results.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-9;

    fn close(a: Option<f64>, b: f64, eps: f64) {
        let a = a.expect("statistic should be defined");
        assert!((a - b).abs() < eps, "{a} != {b} (eps {eps})");
    }

    fn parse_row(s: &str) -> Vec<Option<u8>> {
        s.split_whitespace().map(|x| x.parse().ok()).collect()
    }

    /// Krippendorff (2011), section C: 4 observers, 12 units, values 1–5.
    fn krippendorff_example() -> Ratings<u8> {
        Ratings::from_coder_rows(vec![
            parse_row("1 2 3 3 2 1 4 1 2 . . ."),
            parse_row("1 2 3 3 2 2 4 1 2 5 . 3"),
            parse_row(". 3 3 3 2 3 4 2 2 5 1 ."),
            parse_row("1 2 3 3 2 4 4 1 2 5 1 ."),
        ])
    }

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

    #[test]
    fn bootstrap_is_reproducible_and_brackets_estimate() {
        let r = krippendorff_example();
        let a = alpha_ci(&r, Metric::Nominal, 1000, 42).unwrap();
        let b = alpha_ci(&r, Metric::Nominal, 1000, 42).unwrap();
        assert_eq!(a, b);
        let c = alpha_ci(&r, Metric::Nominal, 1000, 43).unwrap();
        assert_ne!(a, c);
        let est = alpha_nominal(&r).unwrap();
        assert!(a.low <= est && est <= a.high, "{a:?} vs {est}");
        assert!(a.low < a.high);
        assert!(a.defined > 900);
        let m = bootstrap_ci(
            &r.map(|&v| Some(v.to_string()).into_iter().collect::<BTreeSet<_>>()),
            alpha_masi,
            200,
            7,
        );
        assert!(m.is_some());
    }

    type AlphaFn = fn(&Ratings<u8>) -> Option<f64>;

    /// Questions bootstrapped together (the report's way) get exactly the
    /// intervals each gets alone.
    #[test]
    fn questions_together_get_each_its_own_interval() {
        let mut rng = SplitMix64(11);
        for _ in 0..20 {
            let cats = 2 + rng.below(4);
            let r = random_ratings(&mut rng, cats, true);
            // Kinds that differ per question, and one question over other
            // items (left out: None either way).
            let rs = [
                r.clone(),
                r.map(|&v| v % 2),
                r.map(|&v| (v * 7 + 3) % 5),
                random_ratings(&mut rng, cats, true),
            ];
            let boots: Vec<Bootstrap> = rs
                .iter()
                .map(|r| ItemRatings::from_ratings(r).bootstrap_fixed(|a, b| f64::from(a != b)))
                .collect();
            let seed = rng.next_u64();
            let together = alpha_intervals(&boots, 40, seed);
            for ((b, r), shared) in boots.iter().zip(&rs).zip(together) {
                let alone = if r.unit_count() == rs[0].unit_count() {
                    alpha_intervals(std::slice::from_ref(b), 40, seed)[0]
                } else {
                    None
                };
                assert_eq!(format!("{shared:?}"), format!("{alone:?}"));
            }
        }
    }

    /// Rows four at a time give exactly (to the bit) the sum of one row
    /// after another, for every count of present values.
    #[test]
    fn expected_disagreement_in_blocks_is_the_row_by_row_sum() {
        let mut rng = SplitMix64(3);
        let v = 40;
        let paired: Vec<f64> = (0..v * (v + 1) / 2)
            .map(|_| rng.below(1000) as f64 / 997.0)
            .collect();
        for len in 0..=13 {
            let mut present: Vec<(usize, f64)> = Vec::new();
            for c in 0..v {
                if present.len() < len && rng.below(3) > 0 {
                    present.push((c, 1.0 + rng.below(50) as f64 / 3.0));
                }
            }
            let mut plain = 0.0;
            for (i, &(c, nc)) in present.iter().enumerate() {
                let row = &paired[c * (c + 1) / 2..];
                let below: f64 = present[..=i].iter().map(|&(d, nd)| nd * row[d]).sum();
                plain += nc * below;
            }
            let blocked = expected_paired(&paired, &present);
            assert_eq!(blocked.to_bits(), plain.to_bits(), "{len} values");
        }
    }

    /// A resample given as counts per kind of item has the alpha that the
    /// generic formulas give on the same units written out one by one.
    #[test]
    fn a_resample_counted_by_kind_has_the_alpha_of_its_units() {
        let mut rng = SplitMix64(9);
        for _ in 0..30 {
            let cats = 2 + rng.below(4);
            let r = random_ratings(&mut rng, cats, true);
            let items = ItemRatings::from_ratings(&r);
            let mut first_of_kind = vec![None; items.kinds.len()];
            let mut sizes = vec![0; items.kinds.len()];
            for (unit, &kind) in items.kind_of_item.iter().enumerate() {
                first_of_kind[kind as usize].get_or_insert(unit);
                sizes[kind as usize] += 1;
            }
            // In the bootstrap's order of kinds.
            let first_of_kind: Vec<Option<usize>> = largest_first(&sizes)
                .into_iter()
                .map(|k| first_of_kind[k])
                .collect();
            let written_out = |counts: &[u64]| Ratings {
                units: counts
                    .iter()
                    .zip(&first_of_kind)
                    .flat_map(|(&c, unit)| {
                        std::iter::repeat_n(r.units[unit.unwrap()].clone(), c as usize)
                    })
                    .collect(),
            };
            let pairs: [(Metric, AlphaFn); 3] = [
                (Metric::Nominal, alpha_nominal),
                (Metric::Ordinal, alpha_ordinal),
                (Metric::Interval, alpha_interval),
            ];
            for (metric, f) in pairs {
                let b = metric_bootstrap(&items, metric);
                let mut counts = Vec::new();
                for _ in 0..5 {
                    draw_counts(&b, &mut rng, &mut counts);
                    let (got, want) = (resample_alpha(&b, &counts), f(&written_out(&counts)));
                    match (got, want) {
                        (None, None) => {}
                        (Some(a), Some(w)) => assert!((a - w).abs() < 1e-9, "{a} vs {w}"),
                        _ => panic!("{got:?} vs {want:?}"),
                    }
                }
            }
        }
    }

    /// Kind counts add up to the items, large kinds (binomials) and small
    /// ones (drawn one by one) alike, and each kind is drawn as often as
    /// its size on average.
    #[test]
    fn kind_counts_follow_the_kind_sizes() {
        let mut rng = SplitMix64(8);
        let units: Vec<Vec<Option<u8>>> = (0..20_000)
            .map(|i| match i % 10 {
                0..=6 => vec![Some(0); 3],
                7 | 8 => vec![Some(1); 3],
                _ => (0..3).map(|_| Some(rng.below(20) as u8)).collect(),
            })
            .collect();
        let b = ItemRatings::from_ratings(&Ratings::from_units(units))
            .bootstrap_fixed(|a, b| f64::from(a != b));
        assert!(b.large_ends.len() >= 2 && !b.small_kind_of.is_empty());
        let mut sizes = vec![0u64; b.kinds.len()];
        let mut start = 0;
        for (kind, &end) in b.large_ends.iter().enumerate() {
            sizes[kind] = end - start;
            start = end;
        }
        for &kind in &b.small_kind_of {
            sizes[kind as usize] += 1;
        }
        let (mut counts, mut totals) = (Vec::new(), vec![0u64; sizes.len()]);
        let resamples = 300;
        for _ in 0..resamples {
            draw_counts(&b, &mut rng, &mut counts);
            assert_eq!(counts.iter().sum::<u64>(), 20_000);
            for (t, c) in totals.iter_mut().zip(&counts) {
                *t += c;
            }
        }
        let close = |drawn: u64, size: u64| {
            let (mean, s) = (drawn as f64 / f64::from(resamples), size as f64);
            let sd = (s * (1.0 - s / 20_000.0) / f64::from(resamples)).sqrt();
            assert!((mean - s).abs() < 4.0 * sd, "{mean} vs {s}");
        };
        let large = b.large_ends.len();
        for (&t, &size) in totals.iter().zip(&sizes).take(large) {
            close(t, size);
        }
        close(totals[large..].iter().sum(), sizes[large..].iter().sum());
    }

    /// The multinomial draws give the interval that drawing the units one
    /// by one gives, up to the bootstrap's own randomness (2,000 resamples
    /// each way on 400 units).
    #[test]
    fn counted_draws_agree_with_drawing_units_one_by_one() {
        let mut rng = SplitMix64(3);
        let units = (0..400)
            .map(|_| {
                let truth = rng.below(3) as u8;
                (0..3)
                    .map(|_| {
                        Some(if rng.below(4) == 0 {
                            rng.below(3) as u8
                        } else {
                            truth
                        })
                    })
                    .collect()
            })
            .collect();
        let r = Ratings::from_units(units);
        let counted = alpha_ci(&r, Metric::Nominal, 2_000, 1).unwrap();
        let one_by_one = bootstrap_ci(&r, alpha_nominal, 2_000, 2).unwrap();
        assert!(
            (counted.low - one_by_one.low).abs() < 0.02,
            "{counted:?} {one_by_one:?}"
        );
        assert!(
            (counted.high - one_by_one.high).abs() < 0.02,
            "{counted:?} {one_by_one:?}"
        );
    }

    /// Not a timed test: `cargo test --release -p safepref-core
    /// agreement_speed -- --ignored --nocapture` prints the timings for
    /// 100,000 units × 3 coders.
    #[test]
    #[ignore]
    fn agreement_speed_100k_by_3() {
        let mut rng = SplitMix64(11);
        let r = Ratings::from_units(
            (0..100_000)
                .map(|_| (0..3).map(|_| Some(rng.below(4) as u8)).collect())
                .collect(),
        );
        let t = std::time::Instant::now();
        let a = alpha_nominal(&r);
        let o = alpha_ordinal(&r);
        let f = fleiss_kappa(&r);
        let p = percent_agreement(&r);
        let k = cohen_kappa_pairs(&r, 20);
        eprintln!(
            "point statistics: {:?} {a:?} {o:?} {f:?} {p:?} {}",
            t.elapsed(),
            k.len()
        );
        let t = std::time::Instant::now();
        let ci = alpha_ci(&r, Metric::Nominal, 1000, 1);
        eprintln!("bootstrap B=1000: {:?} {ci:?}", t.elapsed());
    }

    // ---- property tests: plain loops over seeded random inputs ----

    fn random_ratings(rng: &mut SplitMix64, cats: usize, missing: bool) -> Ratings<u8> {
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
