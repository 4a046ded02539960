//! Fitting a consolidation [`Model`]: the votes of every item, kept
//! compactly, and for Dawid–Skene the EM per field over all of them.

use std::collections::HashMap;

use super::ItemAnnotations;
use super::Method;
use super::dawid_skene::{DawidSkeneConfig, Patterns, fit_patterns};
use super::model::Model;
use super::votes::{Layout, NO_CLASS};
use crate::labels::Questions;
use crate::taxonomy::Taxonomy;

/// A tiny fast hash (FxHash's multiply-rotate) for the pattern tables, whose
/// keys are a few small integers: SipHash would dominate the fit.
#[derive(Default)]
pub(super) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(super) type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// Accumulates annotators' votes, compactly, to fit a consolidation
/// [`Model`]: call [`Fitter::add`] once per item (any order, items in
/// chunks as they stream in), then [`Fitter::finish`].
///
/// For Dawid–Skene it keeps, per vote, the annotator (4 bytes) and one class
/// byte per field — no labels — and per item a vote count (4 bytes): about
/// 50 bytes per annotation for K = 2 and the 19 PKU categories. For majority
/// vote it keeps nothing.
#[derive(Debug, Clone)]
pub struct Fitter {
    layout: Layout,
    method: Method,
    /// Annotator ids in order of first appearance, and the reverse map.
    ids: Vec<usize>,
    seen: HashMap<usize, u32>,
    /// Per vote: the annotator's index in `ids`.
    voters: Vec<u32>,
    /// Per vote: one class per field (`layout.fields.len()` bytes).
    classes: Vec<u8>,
    votes_per_item: Vec<u32>,
}

impl Fitter {
    /// An empty fitter for items of `k` responses.
    pub fn new(k: usize, taxonomy: &Taxonomy, questions: &Questions, method: Method) -> Fitter {
        Fitter {
            layout: Layout::new(k, taxonomy, questions),
            method,
            ids: Vec::new(),
            seen: HashMap::new(),
            voters: Vec::new(),
            classes: Vec::new(),
            votes_per_item: Vec::new(),
        }
    }

    /// Adds one item's votes (only Dawid–Skene needs them).
    pub fn add(&mut self, item: &ItemAnnotations) {
        if self.method == Method::Majority {
            return;
        }
        let width = self.layout.fields.len();
        // In ascending annotator id: the order the model reads votes in.
        for (annotator, labels) in by_annotator(&item.votes) {
            let next = self.ids.len() as u32;
            let index = *self.seen.entry(annotator).or_insert(next);
            if index == next {
                self.ids.push(annotator);
            }
            self.voters.push(index);
            let start = self.classes.len();
            self.classes.resize(start + width, NO_CLASS);
            self.layout.encode(labels, &mut self.classes[start..]);
        }
        self.votes_per_item.push(item.votes.len() as u32);
    }

    /// The fitted model: for Dawid–Skene, EM per field over every item
    /// added; for majority vote, nothing to fit.
    pub fn finish(self) -> Model {
        let ds = (self.method == Method::DawidSkene).then(|| self.fit_dawid_skene());
        Model {
            layout: self.layout,
            ds,
        }
    }

    fn fit_dawid_skene(&self) -> DsModel {
        // Dense annotator indices in ascending id order.
        let mut order: Vec<usize> = (0..self.ids.len()).collect();
        order.sort_unstable_by_key(|&i| self.ids[i]);
        let mut dense = vec![0u32; self.ids.len()];
        for (d, &i) in order.iter().enumerate() {
            dense[i] = d as u32;
        }
        // Items sharing their votes on a field share a pattern (see
        // `dawid_skene::Patterns`): count the patterns of every field in
        // one pass over the votes.
        let width = self.layout.fields.len();
        let mut tables: Vec<FxMap<Vec<(u32, u32)>, f64>> = vec![FxMap::default(); width];
        let mut key: Vec<(u32, u32)> = Vec::new();
        let mut first = 0usize;
        for &m in &self.votes_per_item {
            let votes = first..first + m as usize;
            first += m as usize;
            for (f, table) in tables.iter_mut().enumerate() {
                key.clear();
                for v in votes.clone() {
                    let class = self.classes[v * width + f];
                    if class != NO_CLASS {
                        key.push((dense[self.voters[v] as usize], u32::from(class)));
                    }
                }
                match table.get_mut(key.as_slice()) {
                    Some(n) => *n += 1.0,
                    None => {
                        table.insert(key.clone(), 1.0);
                    }
                }
            }
        }
        let config = DawidSkeneConfig::default();
        let fields = tables
            .into_iter()
            .zip(&self.layout.fields)
            .map(|(table, &field)| {
                let patterns = Patterns::from_counts(table.into_iter().collect());
                let k = self.layout.n_classes(field);
                fit_patterns(&patterns, self.ids.len(), k, &config)
                    .params
                    .logs()
            })
            .collect();
        DsModel {
            annotators: self
                .ids
                .iter()
                .enumerate()
                .map(|(i, &id)| (id, dense[i]))
                .collect(),
            fields,
        }
    }
}

/// An item's votes in ascending annotator id (stable for repeated ids).
pub(super) fn by_annotator<V>(votes: &[(usize, V)]) -> Vec<(usize, &V)> {
    let mut sorted: Vec<(usize, &V)> = votes.iter().map(|(a, v)| (*a, v)).collect();
    sorted.sort_by_key(|&(a, _)| a);
    sorted
}

/// Fitted Dawid–Skene parameters: per field the log priors and log
/// confusion matrices (flat `[annotator][true][given]`), annotators by
/// dense index.
#[derive(Debug, Clone)]
pub(super) struct DsModel {
    pub(super) annotators: HashMap<usize, u32>,
    pub(super) fields: Vec<(Vec<f64>, Vec<f64>)>,
}
