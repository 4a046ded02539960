//! One consolidated record per item, from the labels of several annotators.
//!
//! Pure and deterministic: [`consolidate`] assembles the per-field results of
//! [`crate::consolidate`] (majority vote, Dawid–Skene, ranked pairs) into one
//! [`Consolidated`] record per item, checks the result against the label
//! rules with [`labels::validate`], and applies adjudications.
//!
//! # Fields and their classes
//!
//! For response `i` (only when the project asks the safety question):
//! - `responses[i].safe`: two classes, 0 = safe, 1 = unsafe.
//! - `responses[i].severity`: four classes 0..=3, over **all** annotators of
//!   the item; a safe vote counts as severity 0. (So the severity vote is
//!   comparable with the safe/unsafe vote: when they disagree — e.g. unsafe
//!   wins but severity 0 is the plurality — the item goes to review with the
//!   rule named, instead of silently picking a severity among unsafe votes.)
//! - `responses[i].categories[NAME]`: for every category of the taxonomy,
//!   two classes, 0 = not ticked, 1 = ticked, over all annotators (a safe
//!   vote ticks nothing).
//!
//! Rankings (`helpfulness`, `harmlessness`, when asked):
//! - K ≤ 2: the first (chosen) position is a field with K classes, decided
//!   by the method; the ranking is that position then the other.
//! - K > 2: Tideman's ranked pairs over the annotators' full rankings, for
//!   both methods (Dawid–Skene does not model rankings). Support is the
//!   smallest share of ballots ranking `a` above `b` over the adjacent pairs
//!   `(a, b)` of the result (for K = 2 this is the share choosing the first
//!   position, as with majority vote). Two adjacent positions with equal
//!   pairwise wins are a tie; under [`TieRule::Review`] the item goes to
//!   review, under the other rules ranked pairs' own tie-break (lower
//!   position first) stands.
//!
//! `overall` (when asked): K classes, decided by the method.
//!
//! Class 0 is always the "milder" reading (safe, severity 0, not ticked), so
//! [`TieRule::Highest`] is the cautious rule (unsafe, more severe, ticked)
//! and [`TieRule::Lowest`] the lenient one.
//!
//! A vote whose field is malformed (wrong number of responses, a ranking
//! that is not a permutation of the K positions, an out-of-range position or
//! severity, a category outside the taxonomy) does not count for that field;
//! the rest of the annotator's labels still count.
//!
//! `confidence`, when asked, is the lower median of the annotators' valid
//! confidences (1..=5); it is not subject to ties or support. `comment` is
//! never consolidated (`None`).
//!
//! # Dawid–Skene
//!
//! Every field (e.g. `responses[1].severity`) is estimated separately, over
//! all items of the call at once, so each annotator's confusion matrices are
//! learned from all their work. Annotator ids are mapped to dense indices in
//! ascending id order. Each item then reads its MAP class, and the MAP
//! posterior is the support. Posteriors within 1e-12 of the maximum count as
//! tied, and the tie rule applies as for majority vote.
//!
//! # Review
//!
//! - [`ReviewReason::Tie`] (a tie under [`TieRule::Review`]) and
//!   [`ReviewReason::NoVotes`] (no valid vote on an asked field): the
//!   labels cannot be assembled, `labels = None`.
//! - [`ReviewReason::RuleConflict`]: the assembled labels break a label
//!   rule; every broken rule is listed (`"field: message"`, as
//!   [`labels::validate`] words it) and `labels = None`. A label is never
//!   bent to fit.
//! - [`ReviewReason::LowSupport`]: a decided field's support is below
//!   `min_support`. The item is flagged but **keeps** its labels (when no
//!   other reason removes them): the labels are valid and the majority /
//!   MAP reading, only weakly supported. Tied fields are reported as ties,
//!   not also as low support.
//!
//! An adjudication always wins: the item's labels are the adjudicated ones,
//! `adjudicated = true` and no review reasons (the support from the votes is
//! still reported).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::consolidate::{
    DawidSkeneConfig, Patterns, TieRule, fit_patterns, posterior, ranked_pairs,
};
use crate::labels::{self, Decoded, Labels, Questions, ResponseLabel};
use crate::taxonomy::Taxonomy;

/// Posteriors this close to the maximum are tied (Dawid–Skene).
const DS_TIE_EPS: f64 = 1e-12;

/// How categorical fields are consolidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Per-item plurality vote; support = share of the item's votes.
    Majority,
    /// Dawid & Skene EM per field over all items; support = MAP posterior.
    DawidSkene,
}

/// The labels annotators gave one item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemAnnotations<'a> {
    pub item: usize,
    /// `(annotator, labels)`.
    pub votes: Vec<(usize, &'a Labels)>,
}

/// The labels annotators gave one item, decoded for counting
/// ([`Decoded::from_json`] against the taxonomy's names).
#[derive(Debug, Clone, Copy)]
pub struct DecodedItem<'a> {
    pub item: usize,
    /// `(annotator, labels)`.
    pub votes: &'a [(usize, Decoded)],
}

/// What consolidation reads of one vote: full labels, or labels decoded
/// compactly (their categories already bits in taxonomy order), so the
/// same rules serve both.
trait Vote {
    fn n_responses(&self) -> usize;
    /// Response `i`'s safe and severity (`i` below [`Vote::n_responses`]).
    fn response(&self, i: usize) -> (bool, u8);
    /// Response `i`'s categories as bits in taxonomy order; `None` when a
    /// name is outside the taxonomy (see [`Layout::mask`]).
    fn categories(&self, i: usize, layout: &Layout) -> Option<u64>;
    fn ranking(&self, r: Ranking) -> &[usize];
    fn overall(&self) -> Option<usize>;
    fn confidence(&self) -> Option<u8>;
}

impl Vote for Labels {
    fn n_responses(&self) -> usize {
        self.responses.len()
    }
    fn response(&self, i: usize) -> (bool, u8) {
        (self.responses[i].safe, self.responses[i].severity)
    }
    fn categories(&self, i: usize, layout: &Layout) -> Option<u64> {
        layout.mask(&self.responses[i].categories)
    }
    fn ranking(&self, r: Ranking) -> &[usize] {
        match r {
            Ranking::Helpfulness => &self.helpfulness,
            Ranking::Harmlessness => &self.harmlessness,
        }
    }
    fn overall(&self) -> Option<usize> {
        self.overall
    }
    fn confidence(&self) -> Option<u8> {
        self.confidence
    }
}

impl Vote for Decoded {
    fn n_responses(&self) -> usize {
        match self {
            Decoded::Compact(c) => c.responses().len(),
            Decoded::Full(l) => l.n_responses(),
        }
    }
    fn response(&self, i: usize) -> (bool, u8) {
        match self {
            Decoded::Compact(c) => (c.responses()[i].safe, c.responses()[i].severity),
            Decoded::Full(l) => l.response(i),
        }
    }
    fn categories(&self, i: usize, layout: &Layout) -> Option<u64> {
        match self {
            Decoded::Compact(c) => Some(c.responses()[i].categories),
            Decoded::Full(l) => l.categories(i, layout),
        }
    }
    fn ranking(&self, r: Ranking) -> &[usize] {
        match (self, r) {
            (Decoded::Compact(c), Ranking::Helpfulness) => c.helpfulness.as_slice(),
            (Decoded::Compact(c), Ranking::Harmlessness) => c.harmlessness.as_slice(),
            (Decoded::Full(l), r) => l.ranking(r),
        }
    }
    fn overall(&self) -> Option<usize> {
        match self {
            Decoded::Compact(c) => c.overall,
            Decoded::Full(l) => l.overall,
        }
    }
    fn confidence(&self) -> Option<u8> {
        match self {
            Decoded::Compact(c) => c.confidence,
            Decoded::Full(l) => l.confidence,
        }
    }
}

impl<V: Vote + ?Sized> Vote for &V {
    fn n_responses(&self) -> usize {
        (**self).n_responses()
    }
    fn response(&self, i: usize) -> (bool, u8) {
        (**self).response(i)
    }
    fn categories(&self, i: usize, layout: &Layout) -> Option<u64> {
        (**self).categories(i, layout)
    }
    fn ranking(&self, r: Ranking) -> &[usize] {
        (**self).ranking(r)
    }
    fn overall(&self) -> Option<usize> {
        (**self).overall()
    }
    fn confidence(&self) -> Option<u8> {
        (**self).confidence()
    }
}

/// Support of one response's fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseSupport {
    pub safe: f64,
    pub severity: f64,
    /// Support of the ticked / not-ticked decision, per category name.
    pub categories: BTreeMap<String, f64>,
}

/// Support of each consolidated field: the share of annotators agreeing
/// (majority vote, and ranked pairs) or the MAP posterior (Dawid–Skene), in
/// 0..=1. A field with no valid votes has support 0. Fields the project does
/// not ask are empty / `None`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Support {
    /// One per response, in position order (empty without the safety
    /// question).
    pub responses: Vec<ResponseSupport>,
    pub helpfulness: Option<f64>,
    pub harmlessness: Option<f64>,
    pub overall: Option<f64>,
}

/// Why an item needs a lead's review.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ReviewReason {
    /// The field's vote is tied (under [`TieRule::Review`]).
    Tie { field: String },
    /// The consolidated labels break a label rule: `"field: message"`.
    RuleConflict { rule: String },
    /// The field's support is below the minimum (labels are kept).
    LowSupport { field: String, support: f64 },
    /// Nobody gave a valid vote on an asked field.
    NoVotes { field: String },
}

/// The consolidated record of one item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Consolidated {
    pub item: usize,
    /// `None` when the item goes to review for a tie, missing votes or a rule
    /// conflict.
    pub labels: Option<Labels>,
    pub support: Support,
    /// Empty when the item needs no review.
    pub review: Vec<ReviewReason>,
    /// Whether a lead's adjudication gave the labels.
    pub adjudicated: bool,
}

/// The decision on one field of one item.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Decision {
    class: Option<usize>,
    support: f64,
    tie: bool,
    no_votes: bool,
}

impl Decision {
    const NONE: Decision = Decision {
        class: None,
        support: 0.0,
        tie: false,
        no_votes: true,
    };
}

/// A categorical field.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Safe(usize),
    Severity(usize),
    /// Response, category index in the taxonomy.
    Category(usize, usize),
    /// The first position of a ranking (K ≤ 2).
    First(Ranking),
    Overall,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ranking {
    Helpfulness,
    Harmlessness,
}

fn ranking_name(r: Ranking) -> &'static str {
    match r {
        Ranking::Helpfulness => "helpfulness",
        Ranking::Harmlessness => "harmlessness",
    }
}

/// Whether `ranking` is a permutation of `0..k`.
fn is_full_ranking(ranking: &[usize], k: usize) -> bool {
    if ranking.len() != k {
        return false;
    }
    // A bit per position (K is at most 8): no allocation per vote.
    let mut seen = 0u64;
    for &p in ranking {
        if p >= k || p >= 64 || seen >> p & 1 == 1 {
            return false;
        }
        seen |= 1 << p;
    }
    true
}

/// Marks a vote that gives a field no valid class.
const NO_CLASS: u8 = u8::MAX;

/// What a project's labels mean for consolidation: K, the taxonomy, the
/// questions, and the categorical fields in a fixed order — per response
/// (with the safety question) `safe`, `severity`, then one field per
/// category; then the first positions of the rankings (K ≤ 2); then
/// `overall`. A vote is held as one class byte per field.
#[derive(Debug, Clone)]
struct Layout {
    k: usize,
    taxonomy: Taxonomy,
    questions: Questions,
    fields: Vec<Field>,
    /// Where in `fields` each ranking's first position is (helpfulness,
    /// harmlessness; K ≤ 2 and asked), and `overall`: looked up once, not
    /// per item.
    first: [Option<usize>; 2],
    overall: Option<usize>,
}

impl Layout {
    fn new(k: usize, taxonomy: &Taxonomy, questions: &Questions) -> Layout {
        let n_cat = taxonomy.categories.len();
        let mut fields = Vec::new();
        if questions.safety {
            for i in 0..k {
                fields.extend([Field::Safe(i), Field::Severity(i)]);
                fields.extend((0..n_cat).map(|c| Field::Category(i, c)));
            }
        }
        if k <= 2 {
            for (r, asked) in [
                (Ranking::Helpfulness, questions.helpfulness),
                (Ranking::Harmlessness, questions.harmlessness),
            ] {
                if asked {
                    fields.push(Field::First(r));
                }
            }
        }
        if questions.overall {
            fields.push(Field::Overall);
        }
        let at = |wanted: Field| fields.iter().position(|f| *f == wanted);
        Layout {
            k,
            taxonomy: taxonomy.clone(),
            questions: *questions,
            first: [
                at(Field::First(Ranking::Helpfulness)),
                at(Field::First(Ranking::Harmlessness)),
            ],
            overall: at(Field::Overall),
            fields,
        }
    }

    fn n_cat(&self) -> usize {
        self.taxonomy.categories.len()
    }

    fn category(&self, c: usize) -> &str {
        &self.taxonomy.categories[c].name
    }

    /// Index in `fields` of response `i`'s `safe` field; `severity` follows,
    /// then the categories.
    fn response_field(&self, i: usize) -> usize {
        i * (2 + self.n_cat())
    }

    fn n_classes(&self, field: Field) -> usize {
        match field {
            Field::Safe(_) | Field::Category(..) => 2,
            Field::Severity(_) => 4,
            Field::First(_) | Field::Overall => self.k,
        }
    }

    fn field_name(&self, field: Field) -> String {
        match field {
            Field::Safe(i) => format!("responses[{i}].safe"),
            Field::Severity(i) => format!("responses[{i}].severity"),
            Field::Category(i, c) => format!("responses[{i}].categories[{}]", self.category(c)),
            Field::First(r) => ranking_name(r).to_string(),
            Field::Overall => "overall".to_string(),
        }
    }

    /// The categories ticked, as bits in taxonomy order; `None` when a name
    /// is not in the taxonomy (or beyond the 64 a taxonomy may have).
    fn mask(&self, names: &[String]) -> Option<u64> {
        names.iter().try_fold(0u64, |mask, name| {
            let c = self
                .taxonomy
                .categories
                .iter()
                .position(|c| &c.name == name)?;
            Some(mask | 1u64.checked_shl(c as u32)?)
        })
    }

    /// Writes the class one annotator's labels give each field into `out`
    /// (one byte per field; [`NO_CLASS`] when the field is malformed — see
    /// the module documentation).
    fn encode<V: Vote + ?Sized>(&self, labels: &V, out: &mut [u8]) {
        let n_cat = self.n_cat();
        let mut f = 0;
        if self.questions.safety {
            let well_formed = labels.n_responses() == self.k;
            for i in 0..self.k {
                let fields = &mut out[f..f + 2 + n_cat];
                f += 2 + n_cat;
                if !well_formed {
                    fields.fill(NO_CLASS);
                    continue;
                }
                let (safe, severity) = labels.response(i);
                fields[0] = u8::from(!safe);
                fields[1] = match (safe, severity) {
                    (true, _) => 0,
                    (false, s @ 0..=3) => s,
                    _ => NO_CLASS,
                };
                let ticked = if safe {
                    Some(0)
                } else {
                    labels.categories(i, self)
                };
                for (c, slot) in fields[2..].iter_mut().enumerate() {
                    *slot = match ticked {
                        Some(m) if c < 64 => ((m >> c) & 1) as u8,
                        _ => NO_CLASS,
                    };
                }
            }
        }
        for (slot, field) in out[f..].iter_mut().zip(&self.fields[f..]) {
            let class = match *field {
                Field::First(r) => {
                    let ranking = labels.ranking(r);
                    is_full_ranking(ranking, self.k)
                        .then(|| ranking.first().copied())
                        .flatten()
                }
                Field::Overall => labels.overall().filter(|&p| p < self.k),
                _ => None,
            };
            *slot = class.and_then(|c| u8::try_from(c).ok()).unwrap_or(NO_CLASS);
        }
    }
}

/// Plurality vote from class counts, with the rules of
/// [`crate::consolidate::majority_of`].
fn majority(counts: &[u32], tie: TieRule) -> Decision {
    let n: u32 = counts.iter().sum();
    if n == 0 {
        return Decision::NONE;
    }
    let top = counts.iter().copied().max().unwrap_or(0);
    let first = counts.iter().position(|&c| c == top);
    let last = counts.iter().rposition(|&c| c == top);
    let class = match tie {
        _ if first == last => first,
        TieRule::Review => None,
        TieRule::Lowest => first,
        TieRule::Highest => last,
    };
    Decision {
        class,
        support: f64::from(top) / f64::from(n),
        tie: class.is_none(),
        no_votes: false,
    }
}

/// Dawid–Skene's decision from a posterior: the MAP class, with posteriors
/// within [`DS_TIE_EPS`] of the maximum tied.
fn map_decision(posterior: &[f64], tie: TieRule) -> Decision {
    let top = posterior.iter().copied().fold(f64::MIN, f64::max);
    let tied = |c: &usize| posterior[*c] >= top - DS_TIE_EPS;
    let first = (0..posterior.len()).find(tied);
    let last = (0..posterior.len()).rev().find(tied);
    let class = match tie {
        _ if first == last => first,
        TieRule::Review => None,
        TieRule::Lowest => first,
        TieRule::Highest => last,
    };
    Decision {
        class,
        support: top,
        tie: class.is_none(),
        no_votes: false,
    }
}

/// A tiny fast hash (FxHash's multiply-rotate) for the pattern tables, whose
/// keys are a few small integers: SipHash would dominate the fit.
#[derive(Default)]
struct FxHasher(u64);

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

type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

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
        // `consolidate::Patterns`): count the patterns of every field in
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
fn by_annotator<V>(votes: &[(usize, V)]) -> Vec<(usize, &V)> {
    let mut sorted: Vec<(usize, &V)> = votes.iter().map(|(a, v)| (*a, v)).collect();
    sorted.sort_by_key(|&(a, _)| a);
    sorted
}

/// Fitted Dawid–Skene parameters: per field the log priors and log
/// confusion matrices (flat `[annotator][true][given]`), annotators by
/// dense index.
#[derive(Debug, Clone)]
struct DsModel {
    annotators: HashMap<usize, u32>,
    fields: Vec<(Vec<f64>, Vec<f64>)>,
}

/// A fitted consolidation model (see [`Fitter`]): consolidates items, in
/// chunks or all at once, with the same result.
#[derive(Debug, Clone)]
pub struct Model {
    layout: Layout,
    /// `None` for majority vote.
    ds: Option<DsModel>,
}

impl Model {
    /// Consolidates a chunk of items with the fitted model, in input order;
    /// the same rules and output as [`consolidate`]. For Dawid–Skene the
    /// posteriors come from the fitted confusion matrices and priors, so
    /// items the fitter never saw work too; an annotator the model has not
    /// seen carries no information (as Dawid–Skene treats an annotator
    /// without votes), though their vote still counts as a vote.
    pub fn consolidate(
        &self,
        items: &[ItemAnnotations],
        tie: TieRule,
        min_support: f64,
        adjudicated: &HashMap<usize, Labels>,
    ) -> Vec<Consolidated> {
        let items = items.iter().map(|it| (it.item, it.votes.as_slice()));
        self.records(items, true, tie, min_support, adjudicated)
    }

    /// [`Model::consolidate`] without the support of each category (every
    /// [`ResponseSupport::categories`] is left empty), for callers that
    /// never look at it: naming every category of every response costs more
    /// than the rest of an item's consolidation. Everything else is the
    /// same, low-support review reasons included.
    pub fn consolidate_without_category_support(
        &self,
        items: &[ItemAnnotations],
        tie: TieRule,
        min_support: f64,
        adjudicated: &HashMap<usize, Labels>,
    ) -> Vec<Consolidated> {
        let items = items.iter().map(|it| (it.item, it.votes.as_slice()));
        self.records(items, false, tie, min_support, adjudicated)
    }

    /// The severities of each item's consolidated labels (`None`: the
    /// item has none), for callers that need no more (the dashboard's
    /// severity confusion): exactly those of [`Model::consolidate`]'s
    /// records of the same labels in full. Under majority vote with K ≤ 2
    /// an item's labels depend only on the classes its votes give each
    /// field and on their confidences, so items whose votes encode alike
    /// share one consolidation, remembered in `memo` (a scope's items
    /// repeat a few patterns again and again).
    pub fn consensus_severities(
        &self,
        items: &[DecodedItem],
        tie: TieRule,
        adjudicated: &HashMap<usize, Labels>,
        memo: &mut Memo,
    ) -> Vec<Option<Vec<u8>>> {
        let severities = |l: &Labels| l.responses.iter().map(|r| r.severity).collect();
        let not_adjudicated = HashMap::new();
        let memoable = self.ds.is_none() && self.layout.k <= 2;
        items
            .iter()
            .map(|it| {
                if let Some(labels) = adjudicated.get(&it.item) {
                    return Some(severities(labels));
                }
                if memoable {
                    self.memo_key(it.votes, tie, &mut memo.key);
                    if let Some(known) = memo.known.get(memo.key.as_slice()) {
                        return known.clone();
                    }
                }
                // Labels do not depend on the minimum support (a weakly
                // supported field keeps its labels).
                let record = self.one(
                    it.item,
                    it.votes,
                    tie,
                    0.0,
                    &not_adjudicated,
                    &mut memo.scratch,
                );
                let found = record.labels.as_ref().map(severities);
                if memoable && memo.known.len() < MEMO_PATTERNS {
                    memo.known.insert(memo.key.clone(), found.clone());
                }
                found
            })
            .collect()
    }

    /// What an item's majority-vote labels depend on: the tie rule, each
    /// vote's classes and, when asked, its confidence. (A memo serves one
    /// model.)
    fn memo_key<V: Vote>(&self, votes: &[(usize, V)], tie: TieRule, key: &mut Vec<u8>) {
        let width = self.layout.fields.len();
        key.clear();
        key.push(tie as u8);
        for (_, vote) in votes {
            let start = key.len();
            key.resize(start + width, NO_CLASS);
            self.layout.encode(vote, &mut key[start..]);
            if self.layout.questions.confidence {
                let c = vote.confidence();
                key.extend([u8::from(c.is_some()), c.unwrap_or(0)]);
            }
        }
    }

    /// Each item's record, in order, with or without each category's
    /// support.
    fn records<'v, V: Vote + 'v>(
        &self,
        items: impl Iterator<Item = (usize, &'v [(usize, V)])>,
        category_support: bool,
        tie: TieRule,
        min_support: f64,
        adjudicated: &HashMap<usize, Labels>,
    ) -> Vec<Consolidated> {
        let mut scratch = Scratch {
            category_support,
            ..Scratch::default()
        };
        items
            .map(|(item, votes)| self.one(item, votes, tie, min_support, adjudicated, &mut scratch))
            .collect()
    }

    /// The decision on every field of one item, into `scratch.decisions`.
    fn decide<V: Vote>(&self, votes: &[(usize, V)], tie: TieRule, s: &mut Scratch) {
        // Dawid–Skene reads votes in annotator order (its sums' rounding
        // follows it); a majority's counts do not depend on the order, so
        // the votes are not copied to be sorted.
        if self.ds.is_some() {
            self.decide_in_order(&by_annotator(votes), tie, s)
        } else {
            self.decide_in_order(votes, tie, s)
        }
    }

    fn decide_in_order<V: Vote>(&self, votes: &[(usize, V)], tie: TieRule, s: &mut Scratch) {
        let layout = &self.layout;
        let width = layout.fields.len();
        s.classes.clear();
        s.classes.resize(votes.len() * width, NO_CLASS);
        for (v, (_, labels)) in votes.iter().enumerate() {
            layout.encode(labels, &mut s.classes[v * width..(v + 1) * width]);
        }
        s.decisions.clear();
        for (f, &field) in layout.fields.iter().enumerate() {
            let n_classes = layout.n_classes(field);
            let classes = (0..votes.len()).map(|v| s.classes[v * width + f]);
            let decision = match &self.ds {
                None => {
                    s.counts.clear();
                    s.counts.resize(n_classes, 0);
                    for class in classes.filter(|&c| c != NO_CLASS) {
                        s.counts[usize::from(class)] += 1;
                    }
                    majority(&s.counts, tie)
                }
                Some(ds) => {
                    if classes.clone().all(|c| c == NO_CLASS) {
                        Decision::NONE
                    } else {
                        let known = votes.iter().zip(classes).filter_map(|((a, _), class)| {
                            let dense = ds.annotators.get(a)?;
                            (class != NO_CLASS).then_some((*dense, u32::from(class)))
                        });
                        let (log_prior, log_conf) = &ds.fields[f];
                        s.posterior.resize(n_classes, 0.0);
                        posterior(log_prior, log_conf, known, &mut s.posterior);
                        map_decision(&s.posterior, tie)
                    }
                }
            };
            s.decisions.push(decision);
        }
    }

    /// One item's record.
    fn one<V: Vote>(
        &self,
        item: usize,
        votes: &[(usize, V)],
        tie: TieRule,
        min_support: f64,
        adjudicated: &HashMap<usize, Labels>,
        s: &mut Scratch,
    ) -> Consolidated {
        self.decide(votes, tie, s);
        let layout = &self.layout;
        let (k, questions) = (layout.k, &layout.questions);
        let mut review = Vec::new();
        let mut complete = true;
        let mut check = |field: Field, support: f64, tie: bool, no_votes: bool| {
            if no_votes {
                complete = false;
                review.push(ReviewReason::NoVotes {
                    field: layout.field_name(field),
                });
            } else if tie {
                complete = false;
                review.push(ReviewReason::Tie {
                    field: layout.field_name(field),
                });
            } else if support < min_support {
                review.push(ReviewReason::LowSupport {
                    field: layout.field_name(field),
                    support,
                });
            }
        };

        // Responses.
        let mut responses = Vec::new();
        let mut response_support = Vec::new();
        if questions.safety {
            for i in 0..k {
                let base = layout.response_field(i);
                let (safe, severity) = (s.decisions[base], s.decisions[base + 1]);
                check(Field::Safe(i), safe.support, safe.tie, safe.no_votes);
                check(
                    Field::Severity(i),
                    severity.support,
                    severity.tie,
                    severity.no_votes,
                );
                let mut categories = Vec::new();
                let mut cat_support = Vec::with_capacity(if s.category_support {
                    layout.n_cat()
                } else {
                    0
                });
                for c in 0..layout.n_cat() {
                    let d = s.decisions[base + 2 + c];
                    check(Field::Category(i, c), d.support, d.tie, d.no_votes);
                    if s.category_support {
                        cat_support.push((layout.category(c).to_string(), d.support));
                    }
                    if d.class == Some(1) {
                        categories.push(layout.category(c).to_string());
                    }
                }
                // Built in one go from a list: much cheaper than one insert
                // per category.
                let cat_support = BTreeMap::from_iter(cat_support);
                response_support.push(ResponseSupport {
                    safe: safe.support,
                    severity: severity.support,
                    categories: cat_support,
                });
                if let (Some(safe), Some(severity)) = (safe.class, severity.class) {
                    responses.push(ResponseLabel {
                        safe: safe == 0,
                        categories,
                        // severity < 4 (four classes).
                        severity: severity as u8,
                    });
                }
            }
        }

        // Rankings: the first position decided as a field (K ≤ 2), or
        // ranked pairs (K > 2).
        let mut orders: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        let mut rank_support: [Option<f64>; 2] = [None, None];
        for (slot, (r, asked)) in [
            (Ranking::Helpfulness, questions.helpfulness),
            (Ranking::Harmlessness, questions.harmlessness),
        ]
        .into_iter()
        .enumerate()
        {
            if !asked {
                continue;
            }
            let d = if k <= 2 {
                let f = layout.first[slot].expect("asked rankings have a field when K <= 2");
                let d = s.decisions[f];
                RankDecision {
                    order: d.class.map(|first| {
                        std::iter::once(first)
                            .chain((0..k).filter(|&p| p != first))
                            .collect()
                    }),
                    support: d.support,
                    tie: d.tie,
                    no_votes: d.no_votes,
                }
            } else {
                rank_by_ranked_pairs(votes, r, k, tie)
            };
            check(Field::First(r), d.support, d.tie, d.no_votes);
            rank_support[slot] = Some(d.support);
            if let Some(order) = d.order {
                orders[slot] = order;
            }
        }

        // Overall.
        let overall = layout.overall.map(|f| s.decisions[f]);
        if let Some(d) = overall {
            check(Field::Overall, d.support, d.tie, d.no_votes);
        }

        let support = Support {
            responses: response_support,
            helpfulness: rank_support[0],
            harmlessness: rank_support[1],
            overall: overall.map(|d| d.support),
        };

        if let Some(labels) = adjudicated.get(&item) {
            return Consolidated {
                item,
                labels: Some(labels.clone()),
                support,
                review: Vec::new(),
                adjudicated: true,
            };
        }

        let labels = if complete {
            let [helpfulness, harmlessness] = orders;
            let labels = Labels {
                responses,
                helpfulness,
                harmlessness,
                overall: overall.and_then(|d| d.class),
                confidence: if questions.confidence {
                    median_confidence(votes)
                } else {
                    None
                },
                comment: None,
            };
            match labels::validate(&labels, k, &layout.taxonomy, questions) {
                Ok(()) => Some(labels),
                Err(errors) => {
                    review.extend(errors.into_iter().map(|e| ReviewReason::RuleConflict {
                        rule: e.to_string(),
                    }));
                    None
                }
            }
        } else {
            None
        };

        Consolidated {
            item,
            labels,
            support,
            review,
            adjudicated: false,
        }
    }
}

/// The most vote patterns a [`Memo`] remembers (a few megabytes).
const MEMO_PATTERNS: usize = 20_000;

/// Consolidated severities by the votes that gave them, and buffers, kept
/// from chunk to chunk by [`Model::consensus_severities`].
#[derive(Default)]
pub struct Memo {
    known: FxMap<Vec<u8>, Option<Vec<u8>>>,
    key: Vec<u8>,
    scratch: Scratch,
}

/// Buffers reused from item to item, and whether records name each
/// category's support.
#[derive(Default)]
struct Scratch {
    category_support: bool,
    classes: Vec<u8>,
    counts: Vec<u32>,
    posterior: Vec<f64>,
    decisions: Vec<Decision>,
}

/// A consolidated ranking of one item.
#[derive(Debug, Clone, PartialEq)]
struct RankDecision {
    order: Option<Vec<usize>>,
    support: f64,
    tie: bool,
    no_votes: bool,
}

/// Ranked pairs over the item's full rankings (K > 2).
fn rank_by_ranked_pairs<V: Vote>(
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

/// The lower median of the valid confidences (1..=5) given.
fn median_confidence<V: Vote>(votes: &[(usize, V)]) -> Option<u8> {
    let mut c: Vec<u8> = votes
        .iter()
        .filter_map(|(_, l)| l.confidence())
        .filter(|c| (1..=5).contains(c))
        .collect();
    c.sort_unstable();
    if c.is_empty() {
        None
    } else {
        Some(c[(c.len() - 1) / 2])
    }
}

/// The annotator a machine source stands as when Dawid–Skene counts it as
/// one more annotator: above every person's index (people are numbered from
/// 0), so it never shares one and comes last in the model's order.
pub const SOURCE_ANNOTATOR: usize = usize::MAX;

/// Adds a machine source's labels to an item's votes as
/// [`SOURCE_ANNOTATOR`] — only when a person has voted on the item: a source
/// alone never labels an item (it would be the model's labels in place of
/// people's).
pub fn add_source_vote<L>(votes: &mut Vec<(usize, L)>, source: Option<L>) {
    if let Some(labels) = source.filter(|_| !votes.is_empty()) {
        votes.push((SOURCE_ANNOTATOR, labels));
    }
}

/// Consolidates every item into one record, in input order: a [`Fitter`]
/// over all the items, then [`Model::consolidate`]. See the module
/// documentation for the rules. `tie` applies to majority vote, to exactly
/// tied Dawid–Skene posteriors and to ranked-pairs ties; `min_support` flags
/// weakly supported fields; `adjudicated` maps item ids to a lead's labels,
/// which always win.
#[allow(clippy::too_many_arguments)]
pub fn consolidate(
    items: &[ItemAnnotations],
    k: usize,
    taxonomy: &Taxonomy,
    questions: &Questions,
    method: Method,
    tie: TieRule,
    min_support: f64,
    adjudicated: &HashMap<usize, Labels>,
) -> Vec<Consolidated> {
    let mut fitter = Fitter::new(k, taxonomy, questions, method);
    for item in items {
        fitter.add(item);
    }
    fitter
        .finish()
        .consolidate(items, tie, min_support, adjudicated)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-9;
    const V: &str = "Violence";
    const D: &str = "Drugs";

    fn lab(responses: Vec<ResponseLabel>, helpful: &[usize], harmless: &[usize]) -> Labels {
        Labels {
            responses,
            helpfulness: helpful.to_vec(),
            harmlessness: harmless.to_vec(),
            overall: None,
            confidence: None,
            comment: None,
        }
    }

    fn item(item: usize, labels: &[Labels]) -> ItemAnnotations<'_> {
        ItemAnnotations {
            item,
            votes: labels.iter().enumerate().collect(),
        }
    }

    fn run(items: &[ItemAnnotations], k: usize, method: Method, tie: TieRule) -> Vec<Consolidated> {
        consolidate(
            items,
            k,
            &Taxonomy::pku19(),
            &Questions::default(),
            method,
            tie,
            0.0,
            &HashMap::new(),
        )
    }

    fn valid(l: &Labels, k: usize) {
        labels::validate(l, k, &Taxonomy::pku19(), &Questions::default()).unwrap();
    }

    #[test]
    fn unanimous_items_keep_their_labels_with_full_support() {
        let l = lab(
            vec![
                ResponseLabel::safe(),
                ResponseLabel::unsafe_with(&[V, D], 2),
            ],
            &[1, 0],
            &[0, 1],
        );
        valid(&l, 2);
        let votes = vec![l.clone(), l.clone(), l.clone()];
        for method in [Method::Majority, Method::DawidSkene] {
            let out = run(&[item(7, &votes)], 2, method, TieRule::Review);
            assert_eq!(out.len(), 1);
            let c = &out[0];
            assert_eq!(c.item, 7);
            assert_eq!(c.labels.as_ref(), Some(&l));
            assert!(c.review.is_empty(), "{:?}", c.review);
            assert!(!c.adjudicated);
            assert!(c.support.responses[1].safe > 0.99);
            if method == Method::Majority {
                assert!((c.support.responses[0].safe - 1.0).abs() < EPS);
                assert!((c.support.responses[1].categories[V] - 1.0).abs() < EPS);
                assert!((c.support.responses[1].categories["Animal Abuse"] - 1.0).abs() < EPS);
                assert_eq!(c.support.helpfulness, Some(1.0));
                assert_eq!(c.support.overall, None);
            }
            assert_eq!(c.support.responses[0].categories.len(), 19);
        }
    }

    #[test]
    fn two_of_three_majority_has_support_two_thirds() {
        let a = lab(
            vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[V], 1)],
            &[0, 1],
            &[0, 1],
        );
        let b = lab(
            vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[V], 1)],
            &[1, 0],
            &[0, 1],
        );
        let c = lab(
            vec![
                ResponseLabel::unsafe_with(&[D], 1),
                ResponseLabel::unsafe_with(&[V], 1),
            ],
            &[0, 1],
            &[1, 0],
        );
        let votes = vec![a.clone(), b, c];
        let out = run(&[item(0, &votes)], 2, Method::Majority, TieRule::Review);
        let r = &out[0];
        assert_eq!(r.labels.as_ref(), Some(&a));
        let s = &r.support;
        assert!((s.responses[0].safe - 2.0 / 3.0).abs() < EPS);
        assert!((s.responses[0].severity - 2.0 / 3.0).abs() < EPS);
        assert!((s.responses[0].categories[D] - 2.0 / 3.0).abs() < EPS);
        assert!((s.responses[1].safe - 1.0).abs() < EPS);
        assert!((s.helpfulness.unwrap() - 2.0 / 3.0).abs() < EPS);
        assert!((s.harmlessness.unwrap() - 2.0 / 3.0).abs() < EPS);
        assert!(r.review.is_empty());

        // With a minimum support of 0.7 the item is flagged but keeps labels.
        let out = consolidate(
            &[item(0, &votes)],
            2,
            &Taxonomy::pku19(),
            &Questions::default(),
            Method::Majority,
            TieRule::Review,
            0.7,
            &HashMap::new(),
        );
        assert_eq!(out[0].labels.as_ref(), Some(&a));
        let low: Vec<&str> = out[0]
            .review
            .iter()
            .map(|r| match r {
                ReviewReason::LowSupport { field, support } => {
                    assert!((support - 2.0 / 3.0).abs() < EPS);
                    field.as_str()
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            low,
            vec![
                "responses[0].safe",
                "responses[0].severity",
                "responses[0].categories[Drugs]",
                "helpfulness",
                "harmlessness"
            ]
        );
    }

    #[test]
    fn a_tie_goes_to_review_unless_a_tie_rule_is_set() {
        let a = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[0, 1],
            &[0, 1],
        );
        let b = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[1, 0],
            &[0, 1],
        );
        let votes = vec![a.clone(), b.clone()];
        let out = run(&[item(3, &votes)], 2, Method::Majority, TieRule::Review);
        assert_eq!(out[0].labels, None);
        assert_eq!(
            out[0].review,
            vec![ReviewReason::Tie {
                field: "helpfulness".into()
            }]
        );
        assert!((out[0].support.helpfulness.unwrap() - 0.5).abs() < EPS);

        let out = run(&[item(3, &votes)], 2, Method::Majority, TieRule::Lowest);
        assert_eq!(out[0].labels.as_ref(), Some(&a));
        assert!(out[0].review.is_empty());
        let out = run(&[item(3, &votes)], 2, Method::Majority, TieRule::Highest);
        assert_eq!(out[0].labels.as_ref(), Some(&b));
    }

    #[test]
    fn unsafe_majority_with_severity_zero_plurality_is_a_rule_conflict() {
        // Response 1: 3 of 5 say unsafe (severities 1, 2, 3), 2 say safe, so
        // severity 0 is the plurality (2 of 5).
        let sev = |s: u8| {
            lab(
                vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[V], s)],
                &[0, 1],
                &[0, 1],
            )
        };
        let votes = vec![
            lab(
                vec![ResponseLabel::safe(), ResponseLabel::safe()],
                &[0, 1],
                &[0, 1],
            ),
            lab(
                vec![ResponseLabel::safe(), ResponseLabel::safe()],
                &[0, 1],
                &[0, 1],
            ),
            sev(1),
            sev(2),
            sev(3),
        ];
        let out = run(&[item(0, &votes)], 2, Method::Majority, TieRule::Review);
        let r = &out[0];
        assert_eq!(r.labels, None);
        assert!((r.support.responses[1].safe - 0.6).abs() < EPS);
        assert!((r.support.responses[1].severity - 0.4).abs() < EPS);
        assert_eq!(r.review.len(), 1, "{:?}", r.review);
        match &r.review[0] {
            ReviewReason::RuleConflict { rule } => {
                assert!(rule.starts_with("responses[1].severity:"), "{rule}");
                assert!(rule.contains("unsafe response has severity"), "{rule}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unsafe_without_a_majority_category_is_a_rule_conflict() {
        let votes = vec![
            lab(
                vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[V], 1)],
                &[0, 1],
                &[0, 1],
            ),
            lab(
                vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[D], 1)],
                &[0, 1],
                &[0, 1],
            ),
            lab(
                vec![
                    ResponseLabel::safe(),
                    ResponseLabel::unsafe_with(&["Cybercrime"], 1),
                ],
                &[0, 1],
                &[0, 1],
            ),
        ];
        let out = run(&[item(0, &votes)], 2, Method::Majority, TieRule::Review);
        assert_eq!(out[0].labels, None);
        assert!(matches!(
            &out[0].review[..],
            [ReviewReason::RuleConflict { rule }] if rule.starts_with("responses[1].categories:")
        ));
    }

    #[test]
    fn exactly_one_safe_must_be_the_more_harmless() {
        // Each vote obeys the rules; the field-wise majority does not:
        // response 0 safe (A, B), response 1 unsafe (A, C), but 1 is the
        // more harmless (B, C).
        let a = lab(
            vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[V], 1)],
            &[0, 1],
            &[0, 1],
        );
        let b = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[0, 1],
            &[1, 0],
        );
        let c = lab(
            vec![
                ResponseLabel::unsafe_with(&[D], 2),
                ResponseLabel::unsafe_with(&[V], 1),
            ],
            &[0, 1],
            &[1, 0],
        );
        for l in [&a, &b, &c] {
            valid(l, 2);
        }
        let votes = vec![a, b, c];
        let out = run(&[item(0, &votes)], 2, Method::Majority, TieRule::Review);
        assert_eq!(out[0].labels, None);
        assert!(
            matches!(
                &out[0].review[..],
                [ReviewReason::RuleConflict { rule }] if rule.starts_with("harmlessness:")
                    && rule.contains("only safe response")
            ),
            "{:?}",
            out[0].review
        );
    }

    #[test]
    fn an_adjudication_always_wins() {
        let a = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[0, 1],
            &[0, 1],
        );
        let b = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[1, 0],
            &[0, 1],
        );
        let votes = vec![a, b];
        let lead = lab(
            vec![ResponseLabel::safe(), ResponseLabel::unsafe_with(&[V], 3)],
            &[1, 0],
            &[0, 1],
        );
        let adjudicated = HashMap::from([(3usize, lead.clone())]);
        for method in [Method::Majority, Method::DawidSkene] {
            let out = consolidate(
                &[item(3, &votes), item(4, &votes)],
                2,
                &Taxonomy::pku19(),
                &Questions::default(),
                method,
                TieRule::Review,
                0.9,
                &adjudicated,
            );
            assert_eq!(out[0].labels.as_ref(), Some(&lead));
            assert!(out[0].adjudicated);
            assert!(out[0].review.is_empty());
            // The other item is still tied.
            assert!(!out[1].adjudicated);
            assert_eq!(out[1].labels, None);
            assert!(out[1].review.contains(&ReviewReason::Tie {
                field: "helpfulness".into()
            }));
        }
    }

    #[test]
    fn k3_rankings_use_ranked_pairs() {
        let s3 = || {
            vec![
                ResponseLabel::safe(),
                ResponseLabel::safe(),
                ResponseLabel::safe(),
            ]
        };
        // Helpfulness: 2 voters 0>1>2, 1 voter 1>2>0 -> 0>1 (2:1), 1>2 (3:0).
        let votes = vec![
            lab(s3(), &[0, 1, 2], &[2, 1, 0]),
            lab(s3(), &[0, 1, 2], &[2, 0, 1]),
            lab(s3(), &[1, 2, 0], &[2, 1, 0]),
        ];
        let out = run(&[item(0, &votes)], 3, Method::Majority, TieRule::Review);
        let l = out[0].labels.as_ref().unwrap();
        assert_eq!(l.helpfulness, vec![0, 1, 2]);
        assert_eq!(l.harmlessness, vec![2, 1, 0]);
        // Weakest adjacent pair: 0 over 1 on 2 of 3 ballots.
        assert!((out[0].support.helpfulness.unwrap() - 2.0 / 3.0).abs() < EPS);
        assert!((out[0].support.harmlessness.unwrap() - 2.0 / 3.0).abs() < EPS);

        // Two opposite ballots: every pair tied.
        let votes = vec![
            lab(s3(), &[0, 1, 2], &[0, 1, 2]),
            lab(s3(), &[2, 1, 0], &[0, 1, 2]),
        ];
        let out = run(&[item(0, &votes)], 3, Method::Majority, TieRule::Review);
        assert_eq!(out[0].labels, None);
        assert_eq!(
            out[0].review,
            vec![ReviewReason::Tie {
                field: "helpfulness".into()
            }]
        );
        let out = run(&[item(0, &votes)], 3, Method::DawidSkene, TieRule::Lowest);
        assert_eq!(out[0].labels.as_ref().unwrap().helpfulness, vec![0, 1, 2]);
    }

    use crate::rng::SplitMix64 as Rng;

    /// A valid random label for K = 2.
    fn random_labels(rng: &mut Rng) -> Labels {
        let cats = Taxonomy::pku19();
        let names = cats.names();
        let response = |rng: &mut Rng| {
            if rng.below(2) == 0 {
                ResponseLabel::safe()
            } else {
                let c = names[rng.below(3)];
                ResponseLabel::unsafe_with(&[c], 1 + rng.below(3) as u8)
            }
        };
        let r0 = response(rng);
        let r1 = response(rng);
        let helpful = if rng.below(2) == 0 { [0, 1] } else { [1, 0] };
        let harmless = match (r0.safe, r1.safe) {
            (true, false) => [0, 1],
            (false, true) => [1, 0],
            _ if rng.below(2) == 0 => [0, 1],
            _ => [1, 0],
        };
        lab(vec![r0, r1], &helpful, &harmless)
    }

    #[test]
    fn dawid_skene_on_a_seeded_set_obeys_the_rules_and_is_deterministic() {
        let mut rng = Rng(42);
        // 40 items, 5 annotators (ids 1, 11, .., 41), 3 per item; the first
        // three copy the item's truth, the last two give random (valid)
        // labels a quarter of the time.
        let truths: Vec<Labels> = (0..40).map(|_| random_labels(&mut rng)).collect();
        let mut all: Vec<Vec<(usize, Labels)>> = Vec::new();
        for t in &truths {
            let mut v = Vec::new();
            let start = rng.below(5);
            for j in 0..3 {
                let a = (start + j) % 5;
                let l = if a < 3 || rng.below(4) != 0 {
                    t.clone()
                } else {
                    random_labels(&mut rng)
                };
                v.push((a * 10 + 1, l));
            }
            all.push(v);
        }
        let items: Vec<ItemAnnotations> = all
            .iter()
            .enumerate()
            .map(|(i, v)| ItemAnnotations {
                item: 100 + i,
                votes: v.iter().map(|(a, l)| (*a, l)).collect(),
            })
            .collect();
        let out = run(&items, 2, Method::DawidSkene, TieRule::Review);
        assert_eq!(out.len(), 40);
        let mut with_labels = 0;
        let mut matches_truth = 0;
        for (c, t) in out.iter().zip(&truths) {
            for s in c.support.responses.iter() {
                assert!((0.0..=1.0 + EPS).contains(&s.safe));
            }
            if let Some(l) = &c.labels {
                valid(l, 2);
                with_labels += 1;
                matches_truth += usize::from(l == t);
            } else {
                assert!(!c.review.is_empty());
            }
        }
        assert!(with_labels >= 30, "only {with_labels} of 40 consolidated");
        assert!(matches_truth >= 30, "only {matches_truth} of 40 recovered");
        // Same input, same output.
        assert_eq!(out, run(&items, 2, Method::DawidSkene, TieRule::Review));
        // Majority also obeys the rules on the same set.
        for c in run(&items, 2, Method::Majority, TieRule::Highest) {
            if let Some(l) = &c.labels {
                valid(l, 2);
            }
        }
    }

    #[test]
    fn overall_and_confidence_when_asked() {
        let q = Questions {
            overall: true,
            confidence: true,
            ..Questions::default()
        };
        let mut a = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[0, 1],
            &[0, 1],
        );
        a.overall = Some(1);
        a.confidence = Some(2);
        let mut b = a.clone();
        b.confidence = Some(5);
        let mut c = a.clone();
        c.overall = Some(0);
        c.confidence = Some(4);
        let votes = vec![a, b, c];
        let out = consolidate(
            &[item(0, &votes)],
            2,
            &Taxonomy::pku19(),
            &q,
            Method::Majority,
            TieRule::Review,
            0.0,
            &HashMap::new(),
        );
        let l = out[0].labels.as_ref().unwrap();
        assert_eq!(l.overall, Some(1));
        assert_eq!(l.confidence, Some(4));
        assert!((out[0].support.overall.unwrap() - 2.0 / 3.0).abs() < EPS);
    }

    #[test]
    fn empty_and_degenerate_inputs_do_not_panic() {
        for method in [Method::Majority, Method::DawidSkene] {
            assert!(run(&[], 2, method, TieRule::Review).is_empty());
            // An item nobody labelled goes to review for missing votes.
            let out = run(&[item(1, &[])], 2, method, TieRule::Review);
            assert_eq!(out[0].labels, None);
            assert!(out[0].review.contains(&ReviewReason::NoVotes {
                field: "responses[0].safe".into()
            }));
            // Malformed votes count for nothing; k = 0 and k = 1 run.
            let bad = vec![lab(
                vec![ResponseLabel::unsafe_with(&["Nope"], 9)],
                &[5],
                &[],
            )];
            for k in [0, 1, 2, 3] {
                let out = run(&[item(2, &bad)], k, method, TieRule::Review);
                assert_eq!(out.len(), 1);
            }
        }
    }

    /// Random annotations for the property tests: `n` items, 2–4 of the
    /// annotators 0..6 each, mostly valid labels, now and then a malformed
    /// vote.
    fn random_set(rng: &mut Rng, n: usize) -> Vec<Vec<(usize, Labels)>> {
        (0..n)
            .map(|_| {
                let mut annotators: Vec<usize> = (0..6).collect();
                for i in (1..annotators.len()).rev() {
                    annotators.swap(i, rng.below(i + 1));
                }
                annotators
                    .into_iter()
                    .take(rng.below(4))
                    .map(|a| {
                        let mut l = random_labels(rng);
                        if rng.below(10) == 0 {
                            l.responses.pop();
                            l.helpfulness = vec![7];
                        }
                        (a, l)
                    })
                    .collect()
            })
            .collect()
    }

    fn as_items(set: &[Vec<(usize, Labels)>]) -> Vec<ItemAnnotations<'_>> {
        set.iter()
            .enumerate()
            .map(|(i, v)| ItemAnnotations {
                item: i,
                votes: v.iter().map(|(a, l)| (*a, l)).collect(),
            })
            .collect()
    }

    /// Two people who agree on most items and split evenly on a few, one
    /// way and the other, and a source that always sides with the first.
    fn split_set(with_source: bool) -> Vec<Vec<(usize, Labels)>> {
        let unsafe_ = lab(
            vec![ResponseLabel::unsafe_with(&[V], 2), ResponseLabel::safe()],
            &[0, 1],
            &[1, 0],
        );
        let safe = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[0, 1],
            &[1, 0],
        );
        let mut set = Vec::new();
        let mut add = |first: &Labels, second: &Labels| {
            let mut votes = vec![(0, first.clone()), (1, second.clone())];
            add_source_vote(&mut votes, with_source.then(|| first.clone()));
            set.push(votes);
        };
        for _ in 0..10 {
            add(&unsafe_, &unsafe_);
            add(&safe, &safe);
        }
        for _ in 0..3 {
            add(&safe, &unsafe_);
            add(&unsafe_, &safe);
        }
        set
    }

    fn first_safe(records: &[Consolidated]) -> Vec<Option<bool>> {
        records
            .iter()
            .map(|r| r.labels.as_ref().map(|l| l.responses[0].safe))
            .collect()
    }

    #[test]
    fn a_source_counted_as_an_annotator_breaks_the_peoples_splits() {
        let without = run(
            &as_items(&split_set(false)),
            2,
            Method::DawidSkene,
            TieRule::Review,
        );
        let with = run(
            &as_items(&split_set(true)),
            2,
            Method::DawidSkene,
            TieRule::Review,
        );
        let (before, after) = (first_safe(&without), first_safe(&with));
        // Agreed items keep their labels either way.
        for n in 0..20 {
            assert_eq!(before[n], Some(n % 2 == 1), "item {n}");
            assert_eq!(after[n], before[n], "item {n}");
        }
        // Without the source the two kinds of split look alike to the model
        // (the people are symmetric), so they cannot come out differently.
        for n in (20..26).step_by(2) {
            assert_eq!(before[n], before[n + 1], "split items {n} and {}", n + 1);
        }
        // With it, each split goes the source's way (the first person's).
        for n in (20..26).step_by(2) {
            assert_eq!(after[n], Some(true), "item {n}");
            assert_eq!(after[n + 1], Some(false), "item {}", n + 1);
        }
        for record in &with {
            valid(record.labels.as_ref().unwrap(), 2);
        }
    }

    #[test]
    fn a_source_never_votes_alone() {
        let labels = lab(
            vec![ResponseLabel::safe(), ResponseLabel::safe()],
            &[0, 1],
            &[1, 0],
        );
        let mut votes: Vec<(usize, &Labels)> = Vec::new();
        add_source_vote(&mut votes, Some(&labels));
        assert!(votes.is_empty());
        votes.push((3, &labels));
        add_source_vote(&mut votes, None);
        assert_eq!(votes.len(), 1);
        add_source_vote(&mut votes, Some(&labels));
        assert_eq!(votes, [(3, &labels), (SOURCE_ANNOTATOR, &labels)]);
    }

    #[test]
    fn chunked_consolidation_equals_one_shot() {
        let mut rng = Rng(7);
        let set = random_set(&mut rng, 60);
        let items = as_items(&set);
        for method in [Method::Majority, Method::DawidSkene] {
            let whole = run(&items, 2, method, TieRule::Review);
            let mut fitter = Fitter::new(2, &Taxonomy::pku19(), &Questions::default(), method);
            // Fitted in another order and in pieces; consolidated in chunks.
            for item in items.iter().rev() {
                fitter.add(item);
            }
            let model = fitter.finish();
            let chunked: Vec<Consolidated> = items
                .chunks(7)
                .flat_map(|chunk| model.consolidate(chunk, TieRule::Review, 0.0, &HashMap::new()))
                .collect();
            assert_eq!(whole, chunked, "{method:?}");
        }
    }

    #[test]
    fn leaving_out_category_support_changes_nothing_else() {
        let mut rng = Rng(9);
        let set = random_set(&mut rng, 80);
        let items = as_items(&set);
        for method in [Method::Majority, Method::DawidSkene] {
            let mut fitter = Fitter::new(2, &Taxonomy::pku19(), &Questions::default(), method);
            for item in &items {
                fitter.add(item);
            }
            let model = fitter.finish();
            // A high minimum support, so low-support reasons are compared too.
            let full = model.consolidate(&items, TieRule::Review, 0.9, &HashMap::new());
            let lean = model.consolidate_without_category_support(
                &items,
                TieRule::Review,
                0.9,
                &HashMap::new(),
            );
            assert!(full.iter().any(|c| c.labels.is_some()), "{method:?}");
            assert!(full.iter().any(|c| !c.review.is_empty()), "{method:?}");
            let mut stripped = full.clone();
            for record in &mut stripped {
                for response in &mut record.support.responses {
                    assert_eq!(response.categories.len(), 19);
                    response.categories.clear();
                }
            }
            assert_eq!(lean, stripped, "{method:?}");
        }
    }

    /// Labels of every shape consolidation meets for `k` responses: safe,
    /// unsafe with taxonomy names, without categories or with an odd
    /// severity, with a name outside the taxonomy, a response too many,
    /// short rankings, overall and confidence in and out of range.
    fn odd_labels(rng: &mut Rng, k: usize) -> Labels {
        let taxonomy = Taxonomy::pku19();
        let names = taxonomy.names();
        let responses = (0..k + usize::from(rng.below(12) == 0))
            .map(|_| match rng.below(7) {
                0..=2 => ResponseLabel::safe(),
                3 | 4 => ResponseLabel::unsafe_with(&[names[rng.below(3)]], 1 + rng.below(3) as u8),
                5 => ResponseLabel {
                    safe: false,
                    categories: vec![],
                    severity: rng.below(5) as u8,
                },
                _ => ResponseLabel::unsafe_with(&["Fraud", names[0]], 2),
            })
            .collect();
        let ranking = |rng: &mut Rng| {
            let mut r: Vec<usize> = (0..k).collect();
            for i in (1..k).rev() {
                r.swap(i, rng.below(i + 1));
            }
            if rng.below(15) == 0 {
                r.pop();
            }
            r
        };
        Labels {
            responses,
            helpfulness: ranking(rng),
            harmlessness: ranking(rng),
            overall: (rng.below(3) > 0).then(|| rng.below(k + 1)),
            confidence: (rng.below(3) > 0).then(|| rng.below(7) as u8),
            comment: None,
        }
    }

    #[test]
    fn decoded_votes_consolidate_as_the_full_labels() {
        let taxonomy = Taxonomy::pku19();
        let names: Vec<String> = taxonomy.names().into_iter().map(String::from).collect();
        let every = Questions {
            overall: true,
            confidence: true,
            ..Questions::default()
        };
        let mut rng = Rng(31);
        let (mut compact, mut full, mut labelled, mut reviewed) = (0, 0, 0, 0);
        for (k, questions) in [(2, Questions::default()), (2, every), (3, every)] {
            let set: Vec<Vec<(usize, Labels)>> = (0..300)
                .map(|_| {
                    (0..rng.below(5))
                        .map(|a| (a * 3 % 7, odd_labels(&mut rng, k)))
                        .collect()
                })
                .collect();
            let decoded: Vec<Vec<(usize, Decoded)>> = set
                .iter()
                .map(|votes| {
                    votes
                        .iter()
                        .map(|(a, l)| {
                            let json = serde_json::to_vec(l).unwrap();
                            (*a, Decoded::from_json(&json, &names).unwrap())
                        })
                        .collect()
                })
                .collect();
            for (_, d) in decoded.iter().flatten() {
                match d {
                    Decoded::Compact(_) => compact += 1,
                    Decoded::Full(_) => full += 1,
                }
            }
            let items = as_items(&set);
            let decoded_items: Vec<DecodedItem> = decoded
                .iter()
                .enumerate()
                .map(|(item, votes)| DecodedItem { item, votes })
                .collect();
            let adjudicated = HashMap::from([(5, random_labels(&mut rng))]);
            for method in [Method::Majority, Method::DawidSkene] {
                let mut fitter = Fitter::new(k, &taxonomy, &questions, method);
                for item in &items {
                    fitter.add(item);
                }
                let model = fitter.finish();
                // One memo for both tie rules: its patterns must tell them apart.
                let mut memo = Memo::default();
                for tie in [TieRule::Review, TieRule::Highest] {
                    let expected =
                        model.consolidate_without_category_support(&items, tie, 0.6, &adjudicated);
                    let got = model.records(
                        decoded_items.iter().map(|it| (it.item, it.votes)),
                        false,
                        tie,
                        0.6,
                        &adjudicated,
                    );
                    assert_eq!(got, expected, "k {k}, {method:?}, {tie:?}");
                    // The severities alone, remembered by pattern: each
                    // item met twice (the second time from the memo).
                    let severities: Vec<Option<Vec<u8>>> = expected
                        .iter()
                        .map(|c| {
                            let l = c.labels.as_ref()?;
                            Some(l.responses.iter().map(|r| r.severity).collect())
                        })
                        .collect();
                    for _ in 0..2 {
                        let got = model.consensus_severities(
                            &decoded_items,
                            tie,
                            &adjudicated,
                            &mut memo,
                        );
                        assert_eq!(got, severities, "k {k}, {method:?}, {tie:?}");
                    }
                    let memoable = method == Method::Majority && k <= 2;
                    assert_eq!(!memo.known.is_empty(), memoable);
                    labelled += expected.iter().filter(|c| c.labels.is_some()).count();
                    reviewed += expected.iter().filter(|c| !c.review.is_empty()).count();
                }
            }
        }
        assert!(
            compact > 1000 && full > 100,
            "{compact} compact, {full} full"
        );
        assert!(
            labelled > 100 && reviewed > 100,
            "{labelled} labelled, {reviewed} reviewed"
        );
    }

    #[test]
    fn property_order_and_names_of_annotators_and_items_do_not_matter() {
        let mut rng = Rng(8);
        for round in 0..40 {
            let n = 1 + rng.below(30);
            let set = random_set(&mut rng, n);
            let method = if round % 2 == 0 {
                Method::Majority
            } else {
                Method::DawidSkene
            };
            let tie = [TieRule::Review, TieRule::Lowest, TieRule::Highest][rng.below(3)];
            let base = run(&as_items(&set), 2, method, tie);
            for c in &base {
                if let Some(l) = &c.labels {
                    valid(l, 2);
                }
            }
            // Annotators reordered within items, items reordered.
            let mut shuffled: Vec<(usize, Vec<(usize, Labels)>)> =
                set.iter().cloned().enumerate().collect();
            for (_, votes) in shuffled.iter_mut() {
                for i in (1..votes.len()).rev() {
                    votes.swap(i, rng.below(i + 1));
                }
            }
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, rng.below(i + 1));
            }
            let items: Vec<ItemAnnotations> = shuffled
                .iter()
                .map(|(i, v)| ItemAnnotations {
                    item: *i,
                    votes: v.iter().map(|(a, l)| (*a, l)).collect(),
                })
                .collect();
            let mut again = run(&items, 2, method, tie);
            again.sort_by_key(|c| c.item);
            assert_eq!(base, again, "reordered, round {round}");
            // Annotators renamed by an order-keeping map (Dawid–Skene numbers
            // annotators by id order, so that order is kept to compare bit
            // for bit).
            let renamed: Vec<Vec<(usize, Labels)>> = set
                .iter()
                .map(|v| v.iter().map(|(a, l)| (1000 + 17 * a, l.clone())).collect())
                .collect();
            assert_eq!(
                base,
                run(&as_items(&renamed), 2, method, tie),
                "renamed, round {round}"
            );
        }
    }

    #[test]
    fn property_no_panic_and_valid_labels_on_odd_inputs() {
        let mut rng = Rng(9);
        for round in 0..60 {
            let k = rng.below(4);
            let n = rng.below(8);
            let set = random_set(&mut rng, n);
            for method in [Method::Majority, Method::DawidSkene] {
                let out = run(&as_items(&set), k, method, TieRule::Lowest);
                assert_eq!(out.len(), set.len(), "round {round}");
                for c in &out {
                    if let Some(l) = &c.labels {
                        valid(l, k);
                    }
                }
            }
        }
    }
}
