//! The bootstrap of alpha: reliability data grouped by item (the sampling
//! unit), and percentile 95% intervals from seeded resamples of the items.

use std::collections::{BTreeMap, HashMap};

use super::alpha::{
    Coincidence, alpha_from_coincidence, alpha_from_sums, coincidence_of, fixed_deltas,
    ordinal_deltas, unit_coincidences,
};
use super::profiles::Profiles;
use crate::rng::SplitMix64;

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
/// each redrew the resamples before their share would draw half the
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

/// A 95% bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
    /// Resamples on which the statistic was defined (out of those drawn).
    pub defined: usize,
}

/// Quantile of sorted data, linear interpolation (Hyndman & Fan type 7).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The percentile 95% interval of a statistic's defined resamples.
pub(super) fn percentile_interval(mut results: Vec<f64>) -> Option<Interval> {
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
    use std::collections::BTreeSet;

    use crate::agreement::alpha::Metric;
    use crate::agreement::ratings::{
        Ratings, alpha_ci, alpha_interval, alpha_masi, alpha_nominal, alpha_ordinal, bootstrap_ci,
        krippendorff_example, metric_bootstrap, random_ratings,
    };

    use super::*;

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
            let written_out = |counts: &[u64]| {
                Ratings::from_units(
                    counts
                        .iter()
                        .zip(&first_of_kind)
                        .flat_map(|(&c, unit)| {
                            std::iter::repeat_n(r.units()[unit.unwrap()].clone(), c as usize)
                        })
                        .collect(),
                )
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
}
