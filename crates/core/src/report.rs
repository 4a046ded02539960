//! The agreement report's figures, computed from annotations: reliability
//! data per question (a unit is one response of one item for the
//! per-response questions — safe, severity, categories, each category — and
//! one item for the preference questions), the statistics of `agreement`
//! over them, and per-annotator figures. A figure that cannot be computed is
//! `null`, never a made-up number. The server reads the annotations; this
//! module only counts.
//!
//! Annotations go into a [`Builder`] one at a time (the server streams them
//! from the database) and are kept compactly: a few bytes per response,
//! harm categories as a bit mask. Confidence intervals resample *items*
//! (with all their units: an item's two responses travel together), and
//! every question reads the same draws of items (see
//! [`agreement::alpha_intervals`]); `RESAMPLES` draws from a fixed seed, so
//! the report is reproducible.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::agreement::{self, Bootstrap, Interval, ItemRatings, Metric, PairTables, Profiles};
use crate::labels::{Decoded, Labels};

/// Bootstrap resamples for each confidence interval, and their fixed seed.
pub(crate) const RESAMPLES: usize = 200;
pub(crate) const SEED: u64 = 20_240_601;

/// One annotation as the report needs it: item and annotator as dense indices.
pub struct Annotated<'a> {
    pub item: usize,
    pub annotator: usize,
    pub labels: &'a Labels,
}

/// What one annotator did in the scope, beside their labels.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    pub submitted: i64,
    pub skipped: i64,
    pub median_seconds: Option<f64>,
    /// Annotations on gold items, and how many matched the expected labels
    /// (`labels::matches_gold`).
    pub gold_answered: i64,
    pub gold_correct: i64,
}

/// One response of one annotation.
#[derive(Debug, Clone, Copy, Default)]
struct Response {
    present: bool,
    safe: bool,
    severity: u8,
    /// Harm categories as bits (see `Builder::categories`).
    categories: u64,
}

/// One annotation, compactly; its responses are in `Builder::responses`.
#[derive(Debug, Clone, Copy)]
struct Record {
    item: usize,
    annotator: usize,
    helpfulness: Option<u8>,
    harmlessness: Option<u8>,
    overall: Option<u8>,
    confidence: Option<u8>,
}

/// Collects annotations for the report, one at a time, compactly.
#[derive(Debug, Clone)]
pub struct Builder {
    k: usize,
    /// Category names by bit: the taxonomy's, then any other name met (up to
    /// 64 in all; names past that are not counted — validated labels only
    /// hold the taxonomy's names).
    categories: Vec<String>,
    n_taxonomy: usize,
    records: Vec<Record>,
    /// `k` per record.
    responses: Vec<Response>,
}

impl Builder {
    /// For items of `k` responses and a taxonomy with these category names.
    pub fn new(k: usize, categories: &[String]) -> Builder {
        Builder {
            k,
            categories: categories.iter().take(64).cloned().collect(),
            n_taxonomy: categories.len().min(64),
            records: Vec::new(),
            responses: Vec::new(),
        }
    }

    /// Adds one annotation. Responses past the k-th are not counted.
    pub fn add(&mut self, item: usize, annotator: usize, labels: &Labels) {
        let top = |order: &[usize]| order.first().and_then(|&p| u8::try_from(p).ok());
        self.records.push(Record {
            item,
            annotator,
            helpfulness: top(&labels.helpfulness),
            harmlessness: top(&labels.harmlessness),
            overall: labels.overall.and_then(|p| u8::try_from(p).ok()),
            confidence: labels.confidence,
        });
        for p in 0..self.k {
            let response = labels.responses.get(p).map(|r| Response {
                present: true,
                safe: r.safe,
                severity: r.severity,
                categories: r.categories.iter().fold(0, |m, name| m | self.bit(name)),
            });
            self.responses.push(response.unwrap_or_default());
        }
    }

    /// [`Builder::add`] of decoded labels; compact ones must have been
    /// decoded against this builder's taxonomy names (their bits are then
    /// this builder's).
    pub fn add_decoded(&mut self, item: usize, annotator: usize, labels: &Decoded) {
        let c = match labels {
            Decoded::Full(labels) => return self.add(item, annotator, labels),
            Decoded::Compact(c) => c,
        };
        let top = |order: &[usize]| order.first().and_then(|&p| u8::try_from(p).ok());
        self.records.push(Record {
            item,
            annotator,
            helpfulness: top(c.helpfulness.as_slice()),
            harmlessness: top(c.harmlessness.as_slice()),
            overall: c.overall.and_then(|p| u8::try_from(p).ok()),
            confidence: c.confidence,
        });
        for p in 0..self.k {
            let response = c.responses().get(p).map(|r| Response {
                present: true,
                safe: r.safe,
                severity: r.severity,
                categories: r.categories,
            });
            self.responses.push(response.unwrap_or_default());
        }
    }

    /// Renumbers the annotators: index `i` becomes `new_index[i]` (a
    /// reader may number annotators as it meets them, then order them by
    /// name before [`Builder::finish`]).
    pub fn renumber_annotators(&mut self, new_index: &[usize]) {
        for record in &mut self.records {
            record.annotator = new_index[record.annotator];
        }
    }

    /// Appends the annotations of `other` (a builder of the same `k` and
    /// taxonomy, fed the next items), as if they had been added here: its
    /// item `i` becomes `i + item_offset`, its annotator `a` becomes
    /// `annotators[a]`, and category names it met outside the taxonomy are
    /// interned here in the order it met them. Readers of disjoint item
    /// ranges so build one report.
    pub fn append(&mut self, other: Builder, annotators: &[usize], item_offset: usize) {
        let bits: Vec<u64> = other.categories.iter().map(|c| self.bit(c)).collect();
        let same_bits = bits.iter().enumerate().all(|(i, &b)| b == 1 << i);
        self.records
            .extend(other.records.into_iter().map(|record| Record {
                item: record.item + item_offset,
                annotator: annotators[record.annotator],
                ..record
            }));
        self.responses
            .extend(other.responses.into_iter().map(|mut response| {
                if !same_bits {
                    response.categories = bits
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| response.categories >> i & 1 == 1)
                        .fold(0, |mask, (_, bit)| mask | bit);
                }
                response
            }));
    }

    /// The bit of a category name, interning names outside the taxonomy.
    fn bit(&mut self, name: &str) -> u64 {
        let found = self.categories.iter().position(|c| c == name);
        let index = match found {
            Some(i) => i,
            None if self.categories.len() < 64 => {
                self.categories.push(name.to_string());
                self.categories.len() - 1
            }
            None => return 0,
        };
        1 << index
    }
}

/// The report from annotations already indexed by item and annotator.
pub fn compute(
    scope: Value,
    items: i64,
    annotated: &[Annotated],
    annotators: &[String],
    categories: &[String],
    activity: &HashMap<String, Activity>,
    k: usize,
) -> Value {
    let mut builder = Builder::new(k, categories);
    for a in annotated {
        builder.add(a.item, a.annotator, a.labels);
    }
    builder.finish(scope, items, annotators, activity)
}

/// Reliability data of every question, grouped by item.
#[derive(Default)]
struct Questions {
    safe: ItemRatings<u8>,
    severity: ItemRatings<u8>,
    categories: ItemRatings<u64>,
    helpfulness: ItemRatings<u8>,
    harmlessness: ItemRatings<u8>,
    overall: ItemRatings<u8>,
    confidence: ItemRatings<u8>,
    /// Whether anyone answered the per-item questions, in the order above.
    asked: [bool; 4],
    /// Cohen's kappa tables: safe, helpfulness, harmlessness.
    pairs: [PairTables<u8>; 3],
    /// Leave-one-out agreement per annotator: (agreeing, counted).
    consensus: Vec<(usize, usize)>,
}

impl Builder {
    /// The report. `annotators[i]` names annotator index `i`.
    pub fn finish(
        mut self,
        scope: Value,
        items: i64,
        annotators: &[String],
        activity: &HashMap<String, Activity>,
    ) -> Value {
        let q = self.questions(annotators.len());
        let n_annotations = self.records.len();
        // Every alpha's interval from one shared set of item draws.
        let mut boots = vec![
            q.safe.bootstrap_fixed(nominal),
            q.severity.bootstrap_ordinal(),
            q.categories
                .bootstrap_fixed(|&a, &b| agreement::masi_distance_bits(a, b)),
        ];
        boots.extend(
            [&q.helpfulness, &q.harmlessness, &q.overall]
                .iter()
                .map(|r| r.bootstrap_fixed(nominal)),
        );
        boots.push(q.confidence.bootstrap_fixed(|&a, &b| {
            let x = f64::from(a) - f64::from(b);
            x * x
        }));
        let ci = intervals(&boots);

        let mut questions = serde_json::Map::new();
        questions.insert("safe".into(), question(&q.safe, Metric::Nominal, ci[0]));
        questions.insert(
            "severity".into(),
            question(&q.severity, Metric::Ordinal, ci[1]),
        );
        questions.insert("categories".into(), masi_question(&q.categories, ci[2]));
        for (n, (name, ratings, metric)) in [
            ("helpfulness", &q.helpfulness, Metric::Nominal),
            ("harmlessness", &q.harmlessness, Metric::Nominal),
            ("overall", &q.overall, Metric::Nominal),
            ("confidence", &q.confidence, Metric::Interval),
        ]
        .into_iter()
        .enumerate()
        {
            if q.asked[n] {
                questions.insert(name.into(), question(ratings, metric, ci[3 + n]));
            }
        }
        // Cohen's kappa for every pair of annotators sharing enough units, on
        // the nominal questions.
        for (name, tables) in ["safe", "helpfulness", "harmlessness"].iter().zip(&q.pairs) {
            if let Some(Value::Object(figures)) = questions.get_mut(*name) {
                figures.insert("cohen_kappa".into(), cohen_pairs(tables, annotators));
            }
        }

        self.categories.truncate(self.n_taxonomy);
        let per_category: serde_json::Map<String, Value> = self
            .categories
            .iter()
            .enumerate()
            .map(|(bit, name)| {
                let ticked = q.categories.profiles().map(|&m| m >> bit & 1 == 1);
                (name.clone(), category_figures(&ticked))
            })
            .collect();

        let consensus: Vec<Option<f64>> = q
            .consensus
            .iter()
            .map(|&(a, t)| (t > 0).then(|| a as f64 / t as f64))
            .collect();
        json!({
            "scope": scope,
            "items": items,
            "annotations": n_annotations,
            "questions": questions,
            "per_category": per_category,
            "annotators": people(annotators, &consensus, activity),
        })
    }

    /// Groups the records by item and fills every question's data: the
    /// per-response questions on one thread, the per-item ones on another
    /// (each question's data is filled item by item in item order either
    /// way, and the consensus counts add up).
    fn questions(&self, n_annotators: usize) -> Questions {
        let order = self.in_item_order();
        let groups = self.by_item(&order);
        let coders = self.coders(n_annotators);
        let (mut q, per_item) = std::thread::scope(|scope| {
            let per_item = scope.spawn(|| self.per_item_questions(&groups, coders));
            let q = self.per_response_questions(&groups, coders);
            (q, per_item.join().expect("the per-item questions panicked"))
        });
        let (ratings, asked, pairs, consensus) = per_item;
        [q.helpfulness, q.harmlessness, q.overall, q.confidence] = ratings;
        q.asked = asked;
        [q.pairs[1], q.pairs[2]] = pairs;
        for (mine, theirs) in q.consensus.iter_mut().zip(consensus) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
        q
    }

    /// `safe`'s figures alone, exactly as [`Builder::finish`] reports them
    /// under `questions.safe` but for its Cohen kappas (an interval does
    /// not depend on the other questions'): the dashboard's trend needs
    /// only these, for each batch, and the other questions' bootstraps
    /// would cost most of a report.
    pub fn safe_figures(&self) -> Value {
        let order = self.in_item_order();
        let q = self.per_response_questions(&self.by_item(&order), self.coders(0));
        let ci = intervals(&[q.safe.bootstrap_fixed(nominal)]);
        question(&q.safe, Metric::Nominal, ci[0])
    }

    /// The records' indices by item, then annotator.
    fn in_item_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.records.len()).collect();
        order.sort_by_key(|&r| (self.records[r].item, self.records[r].annotator));
        order
    }

    /// Records in item order (`in_item_order`) grouped by item.
    fn by_item<'a>(&self, order: &'a [usize]) -> Vec<&'a [usize]> {
        order
            .chunk_by(|&a, &b| self.records[a].item == self.records[b].item)
            .collect()
    }

    /// How many annotators the consensus counts: the names given, or more
    /// if records number more.
    fn coders(&self, named: usize) -> usize {
        named.max(
            self.records
                .iter()
                .map(|r| r.annotator + 1)
                .max()
                .unwrap_or(0),
        )
    }

    /// Safe, severity and categories (a unit per response), `safe`'s
    /// Cohen tables and its share of the consensus.
    fn per_response_questions(&self, groups: &[&[usize]], coders: usize) -> Questions {
        let k = self.k;
        let mut q = Questions {
            consensus: vec![(0, 0); coders],
            ..Questions::default()
        };
        // Per response position: values (safe, severity, categories) and
        // (annotator, safe) for the kappas and the consensus.
        let mut safe: Vec<Vec<u8>> = vec![Vec::new(); k];
        let mut severity: Vec<Vec<u8>> = vec![Vec::new(); k];
        let mut sets: Vec<Vec<u64>> = vec![Vec::new(); k];
        let mut coded: Vec<Vec<(usize, u8)>> = vec![Vec::new(); k];
        for group in groups {
            for v in [&mut safe, &mut severity].into_iter().flatten() {
                v.clear();
            }
            sets.iter_mut().for_each(Vec::clear);
            coded.iter_mut().for_each(Vec::clear);
            for &r in *group {
                for p in 0..k {
                    let response = self.responses[r * k + p];
                    if response.present {
                        safe[p].push(u8::from(response.safe));
                        severity[p].push(response.severity);
                        sets[p].push(response.categories);
                        coded[p].push((self.records[r].annotator, u8::from(response.safe)));
                    }
                }
            }
            q.safe.push_item(safe.iter_mut().map(Vec::as_mut_slice));
            q.severity
                .push_item(severity.iter_mut().map(Vec::as_mut_slice));
            q.categories
                .push_item(sets.iter_mut().map(Vec::as_mut_slice));
            for unit in &coded {
                q.pairs[0].add_unit(unit);
                leave_one_out(unit, &mut q.consensus);
            }
        }
        q
    }

    /// Helpfulness, harmlessness, overall and confidence (a unit per
    /// item): their data, whether anyone answered each, the Cohen tables of
    /// the first two and their share of the consensus.
    fn per_item_questions(&self, groups: &[&[usize]], coders: usize) -> PerItem {
        let mut ratings: [ItemRatings<u8>; 4] = Default::default();
        let mut asked = [false; 4];
        let mut pairs: [PairTables<u8>; 2] = Default::default();
        let mut consensus = vec![(0, 0); coders];
        let mut per_item: [Vec<(usize, u8)>; 4] = Default::default();
        let mut values: Vec<u8> = Vec::new();
        for group in groups {
            per_item.iter_mut().for_each(Vec::clear);
            for &r in *group {
                let record = self.records[r];
                let answers = [
                    record.helpfulness,
                    record.harmlessness,
                    record.overall,
                    record.confidence,
                ];
                for (list, answer) in per_item.iter_mut().zip(answers) {
                    list.extend(answer.map(|v| (record.annotator, v)));
                }
            }
            for (n, (ratings, unit)) in ratings.iter_mut().zip(&per_item).enumerate() {
                asked[n] |= !unit.is_empty();
                values.clear();
                values.extend(unit.iter().map(|&(_, v)| v));
                ratings.push_item([values.as_mut_slice()]);
            }
            for (tables, unit) in pairs.iter_mut().zip(&per_item) {
                tables.add_unit(unit);
                leave_one_out(unit, &mut consensus);
            }
        }
        (ratings, asked, pairs, consensus)
    }
}

/// The per-item questions' data (see `Builder::per_item_questions`).
type PerItem = (
    [ItemRatings<u8>; 4],
    [bool; 4],
    [PairTables<u8>; 2],
    Vec<(usize, usize)>,
);

/// [`agreement::alpha_intervals`] of every question, each question's
/// resamples shared out over the machine's cores (the bootstrap is most of
/// a big report's finish, and one question, the category sets, is most of
/// the bootstrap; see [`agreement::resample_alphas`]): exactly the
/// intervals of one call over all the questions.
pub(crate) fn intervals(boots: &[Bootstrap]) -> Vec<Option<Interval>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    intervals_on(boots, threads)
}

fn intervals_on(boots: &[Bootstrap], threads: usize) -> Vec<Option<Interval>> {
    let n = boots.first().map_or(0, |q| q.items());
    boots
        .iter()
        .map(|q| {
            let alphas = agreement::resample_alphas(q, n, RESAMPLES, SEED, threads)?;
            agreement::interval_of(alphas)
        })
        .collect()
}

pub(crate) fn nominal(a: &u8, b: &u8) -> f64 {
    if a == b { 0.0 } else { 1.0 }
}

/// Per annotator figures.
fn people(
    annotators: &[String],
    consensus: &[Option<f64>],
    activity: &HashMap<String, Activity>,
) -> Vec<Value> {
    let consensus_of = |i: usize| consensus.get(i).copied().flatten();
    let seconds: Vec<Option<f64>> = annotators
        .iter()
        .map(|name| activity.get(name).and_then(|a| a.median_seconds))
        .collect();
    let typical = Typical {
        seconds: median(seconds.iter().flatten().copied()),
        agreement: median((0..annotators.len()).filter_map(consensus_of)),
    };
    annotators
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let act = activity.get(name);
            let (submitted, skipped) = act.map_or((0, 0), |a| (a.submitted, a.skipped));
            let attempted = submitted + skipped;
            json!({
                "annotator": name,
                "done": submitted,
                "agreement_with_consensus": consensus_of(index),
                "gold_accuracy": act
                    .filter(|a| a.gold_answered > 0)
                    .map(|a| a.gold_correct as f64 / a.gold_answered as f64),
                "gold_items": act.map_or(0, |a| a.gold_answered),
                "median_seconds": act.and_then(|a| a.median_seconds),
                "skip_rate": (attempted > 0).then(|| skipped as f64 / attempted as f64),
                "flags": low_effort(seconds[index], consensus_of(index), &typical).into_iter().collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// The middle of the annotators' medians and agreements, to compare each with.
struct Typical {
    seconds: Option<f64>,
    agreement: Option<f64>,
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut sorted: Vec<f64> = values.collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// Likely low-effort work: less than half the typical time per item AND
/// agreement with the others at least 0.15 below the typical annotator's.
/// Either alone is no evidence (fast experts, honest disagreement); the flag
/// carries the numbers it rests on.
fn low_effort(seconds: Option<f64>, agreement: Option<f64>, typical: &Typical) -> Option<Value> {
    let (s, a, ts, ta) = (seconds?, agreement?, typical.seconds?, typical.agreement?);
    (s < 0.5 * ts && a < ta - 0.15).then(|| {
        json!({
            "flag": "low_effort",
            "evidence": format!(
                "median {s:.1} s per item against {ts:.1} s for the annotators' median; agreement with the others {a:.2} against {ta:.2}"
            ),
        })
    })
}

/// Alpha with its bootstrap interval, Fleiss' kappa and percent agreement.
pub(crate) fn question(ratings: &ItemRatings<u8>, metric: Metric, ci: Option<Interval>) -> Value {
    let profiles = ratings.profiles();
    let metric_name = match metric {
        Metric::Nominal => "nominal",
        Metric::Ordinal => "ordinal",
        Metric::Interval => "interval",
    };
    json!({
        "metric": metric_name,
        "alpha": agreement::alpha_of(profiles, metric),
        "ci95": ci.map(|i| json!([i.low, i.high])),
        "fleiss_kappa": agreement::fleiss_kappa_of(profiles),
        "percent_agreement": agreement::percent_agreement_of(profiles),
        "units": profiles.pairable_units(),
    })
}

/// One harm category's figures: alpha of ticked / not ticked, specific
/// agreement, units.
pub(crate) fn category_figures(ticked: &Profiles<bool>) -> Value {
    let specific = agreement::specific_agreement_of(ticked);
    json!({
        "alpha": agreement::alpha_of(&ticked.map(|&t| u8::from(t)), Metric::Nominal),
        "positive_agreement": specific.positive,
        "negative_agreement": specific.negative,
        "units": ticked.pairable_units(),
    })
}

/// Units two annotators must share before their kappa is reported.
const COHEN_MIN_SHARED: usize = 20;

fn cohen_pairs(tables: &PairTables<u8>, names: &[String]) -> Value {
    let name = |i: usize| names.get(i).map_or("", String::as_str);
    let pairs: Vec<Value> = tables
        .kappas(COHEN_MIN_SHARED)
        .into_iter()
        .filter(|p| p.shared >= COHEN_MIN_SHARED)
        .map(|p| json!({"a": name(p.a), "b": name(p.b), "shared": p.shared, "kappa": p.kappa}))
        .collect();
    Value::Array(pairs)
}

pub(crate) fn masi_question(ratings: &ItemRatings<u64>, ci: Option<Interval>) -> Value {
    let profiles = ratings.profiles();
    json!({
        "metric": "masi",
        "alpha": agreement::alpha_with_of(profiles, |&a, &b| agreement::masi_distance_bits(a, b)),
        "ci95": ci.map(|i| json!([i.low, i.high])),
        "fleiss_kappa": null,
        "percent_agreement": agreement::percent_agreement_of(profiles),
        "units": profiles.pairable_units(),
    })
}

/// Leave-one-out agreement on one unit of a nominal question: for each
/// annotator, whether their value equals the strict majority of the other
/// annotators' values (a tie or nobody else: not counted). Adds to
/// `(agreeing, counted)` per annotator.
fn leave_one_out(unit: &[(usize, u8)], counts: &mut [(usize, usize)]) {
    // Units hold a few values: counting by scanning beats building a
    // table (this runs for every unit of a big report).
    let said = |v: u8| unit.iter().filter(|&&(_, w)| w == v).count();
    for &(coder, value) in unit {
        let others = |v: u8| said(v) - usize::from(v == value);
        // The others' majority: the value they gave more often than any
        // other (none on a tie, or when nobody else answered).
        let mut best: Option<(usize, u8)> = None;
        let mut tied = false;
        for &(_, v) in unit {
            let n = others(v);
            match best {
                _ if n == 0 => {}
                None => best = Some((n, v)),
                Some((top, seen)) if v != seen && n > top => {
                    best = Some((n, v));
                    tied = false;
                }
                Some((top, seen)) if v != seen && n == top => tied = true,
                Some(_) => {}
            }
        }
        let majority = best.filter(|_| !tied).map(|(_, v)| v);
        if let (Some(majority), Some(slot)) = (majority, counts.get_mut(coder)) {
            slot.1 += 1;
            slot.0 += usize::from(majority == value);
        }
    }
}

/// The report as a readable table.
pub fn text(report: &Value) -> String {
    let mut out = String::new();
    let number = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "—".to_string(), |x| format!("{x:.3}"))
    };
    out.push_str(&format!(
        "{}: {} items, {} annotations\n\n",
        report["scope"]["project"].as_str().unwrap_or_default(),
        report["items"],
        report["annotations"]
    ));
    question_table(
        &mut out,
        &report["questions"],
        ("fleiss", "fleiss_kappa"),
        &number,
    );
    out.push_str(&format!(
        "\n{:<32} {:>7} {:>9} {:>9} {:>6}\n",
        "harm category", "alpha", "pos.agr.", "neg.agr.", "units"
    ));
    if let Some(categories) = report["per_category"].as_object() {
        for (name, c) in categories {
            out.push_str(&format!(
                "{:<32} {:>7} {:>9} {:>9} {:>6}\n",
                name,
                number(&c["alpha"]),
                number(&c["positive_agreement"]),
                number(&c["negative_agreement"]),
                c["units"]
            ));
        }
    }
    out.push_str(&format!(
        "\n{:<24} {:>6} {:>10} {:>10} {:>9}\n",
        "annotator", "done", "consensus", "median s", "skips"
    ));
    for a in report["annotators"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<24} {:>6} {:>10} {:>10} {:>9}\n",
            a["annotator"].as_str().unwrap_or_default(),
            a["done"],
            number(&a["agreement_with_consensus"]),
            number(&a["median_seconds"]),
            number(&a["skip_rate"])
        ));
    }
    if let Some(modes) = report["suggestion_modes"].as_object() {
        let counts: Vec<String> = modes.iter().map(|(m, n)| format!("{m} {n}")).collect();
        out.push_str(&format!(
            "\nannotations by what annotators saw of suggestions: {}\n",
            counts.join(", ")
        ));
    }
    for (source, figures) in report["machine"].as_object().into_iter().flatten() {
        machine_text(&mut out, source, figures, &number);
    }
    out
}

/// A `questions` object as a table; `kappa` is (heading, key) of the kappa
/// shown.
fn question_table(
    out: &mut String,
    questions: &Value,
    kappa: (&str, &str),
    number: &dyn Fn(&Value) -> String,
) {
    out.push_str(&format!(
        "{:<14} {:<9} {:>7} {:>17} {:>7} {:>7} {:>6}\n",
        "question", "metric", "alpha", "95% CI", kappa.0, "agree", "units"
    ));
    for (name, q) in questions.as_object().into_iter().flatten() {
        let ci = match q["ci95"].as_array() {
            Some(pair) => format!("[{}, {}]", number(&pair[0]), number(&pair[1])),
            None => "—".into(),
        };
        out.push_str(&format!(
            "{:<14} {:<9} {:>7} {:>17} {:>7} {:>7} {:>6}\n",
            name,
            q["metric"].as_str().unwrap_or_default(),
            number(&q["alpha"]),
            ci,
            number(&q[kappa.1]),
            number(&q["percent_agreement"]),
            q["units"].to_string()
        ));
    }
}

/// One source's model-vs-people figures as text.
fn machine_text(out: &mut String, source: &str, m: &Value, number: &dyn Fn(&Value) -> String) {
    out.push_str(&format!(
        "\nmodel vs. people: {source}: {} items compared; {} disagreements with a confident majority, on {} items\n",
        m["items"], m["disagreements"], m["disagreeing_items"]
    ));
    question_table(out, &m["questions"], ("cohen", "cohen_kappa"), number);
    for field in ["safe", "severity"] {
        let confusion = &m["confusion"][field];
        let values: Vec<String> = confusion["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
            .collect();
        out.push_str(&format!(
            "{field}: people (rows) against {source} (columns)\n"
        ));
        out.push_str(&format!("{:>8}", ""));
        for v in &values {
            out.push_str(&format!(" {v:>7}"));
        }
        out.push('\n');
        for (v, row) in values
            .iter()
            .zip(confusion["counts"].as_array().into_iter().flatten())
        {
            out.push_str(&format!("{v:>8}"));
            for n in row.as_array().into_iter().flatten() {
                out.push_str(&format!(" {:>7}", n.to_string()));
            }
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::Ratings;
    use crate::labels::ResponseLabel;
    use crate::rng::SplitMix64;
    use std::collections::{BTreeMap, BTreeSet};

    /// Annotators numbered as met and renumbered before `finish` give the
    /// report of annotators numbered in name order from the start.
    #[test]
    fn renumbered_annotators_give_the_same_report() {
        let names: Vec<String> = ["ann", "bob", "cy"].map(String::from).to_vec();
        let cats: Vec<String> = vec!["Violence".into()];
        let mut rng = SplitMix64(9);
        let mut in_order = Builder::new(2, &cats);
        let mut as_met = Builder::new(2, &cats);
        // Met in the order cy, ann, bob: as-met index → name-order index.
        let met_order = [2, 0, 1];
        for item in 0..60 {
            for (met, &annotator) in met_order.iter().enumerate() {
                let safe = rng.below(3) > 0;
                let response = if safe {
                    ResponseLabel::safe()
                } else {
                    ResponseLabel::unsafe_with(&["Violence"], 2)
                };
                let helpful = rng.below(2);
                let labels = Labels {
                    responses: vec![response, ResponseLabel::safe()],
                    helpfulness: vec![helpful, 1 - helpful],
                    harmlessness: vec![0, 1],
                    overall: None,
                    confidence: None,
                    comment: None,
                };
                in_order.add(item, annotator, &labels);
                as_met.add(item, met, &labels);
            }
        }
        as_met.renumber_annotators(&met_order);
        let finish = |b: Builder| b.finish(json!({}), 60, &names, &HashMap::new());
        let (expected, got) = (finish(in_order), finish(as_met));
        assert_eq!(got, expected);
        assert!(
            got["questions"]["helpfulness"]["cohen_kappa"]
                .as_array()
                .is_some_and(|pairs| !pairs.is_empty()),
            "the pairs are named: {got}"
        );
    }

    /// Labels decoded for counting give the report of the same labels in
    /// full: compact ones (taxonomy names, no categories, odd severities,
    /// a response too many or too few, overall and confidence) and those
    /// decoded in full (a name outside the taxonomy, interned as met).
    #[test]
    fn decoded_labels_give_the_report_of_full_labels() {
        let names: Vec<String> = ["ann", "bob", "cy"].map(String::from).to_vec();
        let cats: Vec<String> = vec!["Violence".into(), "Drugs".into()];
        let mut rng = SplitMix64(23);
        let (mut full, mut decoded) = (Builder::new(2, &cats), Builder::new(2, &cats));
        let mut fallbacks = 0;
        for item in 0..120 {
            for annotator in 0..3 {
                let response = |rng: &mut SplitMix64| match rng.below(5) {
                    0 | 1 => ResponseLabel::safe(),
                    2 => ResponseLabel::unsafe_with(&["Drugs", "Violence"], 1 + rng.below(3) as u8),
                    3 => ResponseLabel {
                        safe: false,
                        categories: vec![],
                        severity: rng.below(6) as u8,
                    },
                    _ => ResponseLabel::unsafe_with(&[["Odd", "Other"][rng.below(2)]], 2),
                };
                let labels = Labels {
                    responses: (0..1 + rng.below(3)).map(|_| response(&mut rng)).collect(),
                    helpfulness: [vec![], vec![0, 1], vec![1, 0]][rng.below(3)].clone(),
                    harmlessness: vec![rng.below(3), 0],
                    overall: (rng.below(2) == 0).then(|| rng.below(3)),
                    confidence: (rng.below(2) == 0).then(|| rng.below(6) as u8),
                    comment: None,
                };
                let json = serde_json::to_vec(&labels).unwrap();
                let d = Decoded::from_json(&json, &cats).unwrap();
                fallbacks += usize::from(matches!(d, Decoded::Full(_)));
                full.add(item, annotator, &labels);
                decoded.add_decoded(item, annotator, &d);
            }
        }
        assert!(
            (20..300).contains(&fallbacks),
            "{fallbacks} decoded in full"
        );
        assert_eq!(decoded.safe_figures(), full.safe_figures());
        let finish = |b: Builder| b.finish(json!({}), 120, &names, &HashMap::new());
        let expected = finish(full);
        assert!(expected["per_category"]["Drugs"].is_object(), "{expected}");
        assert_eq!(finish(decoded), expected);
    }

    /// Two builders fed consecutive item ranges (each numbering items and
    /// annotators from 0, each meeting names outside the taxonomy in its
    /// own order), appended, give the report of one builder fed everything.
    #[test]
    fn appended_halves_give_the_report_of_one_pass() {
        let names: Vec<String> = ["ann", "bob", "cy"].map(String::from).to_vec();
        let cats: Vec<String> = vec!["Violence".into()];
        let mut rng = SplitMix64(17);
        let mut whole = Builder::new(2, &cats);
        let mut halves = [Builder::new(2, &cats), Builder::new(2, &cats)];
        // The second half meets annotator 2 first: its index 0.
        let local = [[0, 1, 2], [1, 2, 0]];
        for item in 0..80 {
            let half = usize::from(item >= 50);
            for (annotator, &in_half) in local[half].iter().enumerate() {
                let category = ["Violence", "Other", "Odd"][rng.below(3)];
                let second = if half == 1 && rng.below(2) == 0 {
                    ResponseLabel::unsafe_with(&["Odd", "Violence"], 3)
                } else {
                    ResponseLabel::safe()
                };
                let labels = Labels {
                    responses: vec![ResponseLabel::unsafe_with(&[category], 2), second],
                    helpfulness: vec![rng.below(2), 0],
                    harmlessness: vec![0, 1],
                    overall: None,
                    confidence: Some(1 + rng.below(5) as u8),
                    comment: None,
                };
                whole.add(item, annotator, &labels);
                let first_item = if half == 1 { 50 } else { 0 };
                halves[half].add(item - first_item, in_half, &labels);
            }
        }
        let [mut first, second] = halves;
        first.append(second, &[2, 0, 1], 50);
        let finish = |b: Builder| b.finish(json!({}), 80, &names, &HashMap::new());
        let (expected, got) = (finish(whole), finish(first));
        assert_eq!(got, expected);
        assert!(got["questions"]["categories"]["alpha"].is_number(), "{got}");
    }

    /// Resamples shared out over threads give exactly the intervals of one
    /// call over every question.
    #[test]
    fn shared_resamples_give_the_intervals_of_one_call() {
        let mut rng = SplitMix64(23);
        let mut questions: [ItemRatings<u8>; 3] = Default::default();
        for item in 0..300 {
            for (q, ratings) in questions.iter_mut().enumerate() {
                let mut units: Vec<Vec<u8>> = (0..2)
                    .map(|_| (0..3).map(|_| rng.below(2 + q * item % 5) as u8).collect())
                    .collect();
                ratings.push_item(units.iter_mut().map(Vec::as_mut_slice));
            }
        }
        let boots: Vec<Bootstrap> = questions
            .iter()
            .map(|r| r.bootstrap_fixed(nominal))
            .chain([questions[1].bootstrap_ordinal()])
            .collect();
        let one_call = agreement::alpha_intervals(&boots, RESAMPLES, SEED);
        let bits = |found: &[Option<Interval>]| -> Vec<Option<(u64, u64, usize)>> {
            found
                .iter()
                .map(|i| i.map(|i| (i.low.to_bits(), i.high.to_bits(), i.defined)))
                .collect()
        };
        for threads in [2, 3, 5] {
            let shared = intervals_on(&boots, threads);
            assert_eq!(bits(&shared), bits(&one_call), "{threads} threads");
            assert!(shared.iter().all(Option::is_some), "{shared:?}");
        }
        assert_eq!(bits(&intervals(&boots)), bits(&one_call));
    }

    /// `safe`'s figures alone are the report's, Cohen kappas aside.
    #[test]
    fn safe_figures_alone_are_the_reports() {
        let cats: Vec<String> = vec!["Violence".into()];
        let names: Vec<String> = (0..4).map(|a| format!("a{a}")).collect();
        let mut rng = SplitMix64(29);
        let mut builder = Builder::new(2, &cats);
        for item in 0..150 {
            for annotator in 0..4 {
                if rng.below(5) == 0 {
                    continue;
                }
                let response = |rng: &mut SplitMix64| {
                    if rng.below(3) == 0 {
                        ResponseLabel::unsafe_with(&["Violence"], 1 + rng.below(3) as u8)
                    } else {
                        ResponseLabel::safe()
                    }
                };
                let labels = Labels {
                    responses: vec![response(&mut rng), response(&mut rng)],
                    helpfulness: vec![0, 1],
                    harmlessness: vec![1, 0],
                    overall: None,
                    confidence: None,
                    comment: None,
                };
                builder.add(item, annotator, &labels);
            }
        }
        let alone = builder.safe_figures();
        let mut expected =
            builder.finish(json!({}), 150, &names, &HashMap::new())["questions"]["safe"].clone();
        expected.as_object_mut().unwrap().remove("cohen_kappa");
        assert_eq!(alone, expected);
        assert!(alone["ci95"].is_array(), "{alone}");
    }

    /// The compact, profiled report equals the statistics of `agreement`
    /// over plain reliability data, on random annotations.
    #[test]
    fn figures_match_the_plain_statistics() {
        let names = ["Violence", "Drugs", "Cybercrime"];
        let mut rng = SplitMix64(5);
        for _ in 0..20 {
            let mut all = Vec::new();
            for item in 0..1 + rng.below(40) {
                for annotator in 0..4 {
                    if rng.below(4) == 0 {
                        continue;
                    }
                    let response = |rng: &mut SplitMix64| {
                        if rng.below(2) == 0 {
                            ResponseLabel::safe()
                        } else {
                            let n = 1 + rng.below(2);
                            let cats: Vec<&str> = (0..n).map(|_| names[rng.below(3)]).collect();
                            ResponseLabel::unsafe_with(&cats, 1 + rng.below(3) as u8)
                        }
                    };
                    let helpful = rng.below(2);
                    let labels = Labels {
                        responses: vec![response(&mut rng), response(&mut rng)],
                        helpfulness: vec![helpful, 1 - helpful],
                        harmlessness: vec![0, 1],
                        overall: None,
                        confidence: Some(1 + rng.below(5) as u8),
                        comment: None,
                    };
                    all.push((item, annotator, labels));
                }
            }
            let annotated: Vec<Annotated> = all
                .iter()
                .map(|(item, annotator, labels)| Annotated {
                    item: *item,
                    annotator: *annotator,
                    labels,
                })
                .collect();
            let people: Vec<String> = (0..4).map(|a| format!("a{a}")).collect();
            let cats: Vec<String> = names.iter().map(|c| c.to_string()).collect();
            let report = compute(json!({}), 0, &annotated, &people, &cats, &HashMap::new(), 2);

            let per_response = |f: &dyn Fn(&ResponseLabel) -> u8| {
                Ratings::from_triples(all.iter().flat_map(|(i, a, l)| {
                    l.responses
                        .iter()
                        .enumerate()
                        .map(move |(p, r)| (i * 2 + p, *a, f(r)))
                }))
            };
            let close = |v: &Value, x: Option<f64>| match (v.as_f64(), x) {
                (None, None) => {}
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{a} vs {b}"),
                other => panic!("{other:?}"),
            };
            let safe = per_response(&|r| u8::from(r.safe));
            let q = &report["questions"]["safe"];
            close(&q["alpha"], agreement::alpha_nominal(&safe));
            close(&q["fleiss_kappa"], agreement::fleiss_kappa(&safe));
            close(&q["percent_agreement"], agreement::percent_agreement(&safe));
            assert_eq!(q["units"], safe.pairable_units());
            let severity = per_response(&|r| r.severity);
            close(
                &report["questions"]["severity"]["alpha"],
                agreement::alpha_ordinal(&severity),
            );
            let sets: Ratings<BTreeSet<String>> =
                Ratings::from_triples(all.iter().flat_map(|(i, a, l)| {
                    l.responses
                        .iter()
                        .enumerate()
                        .map(move |(p, r)| (i * 2 + p, *a, r.categories.iter().cloned().collect()))
                }));
            close(
                &report["questions"]["categories"]["alpha"],
                agreement::alpha_masi(&sets),
            );
            for name in names {
                let ticked = sets.map(|s| s.contains(name));
                let figures = &report["per_category"][name];
                close(
                    &figures["alpha"],
                    agreement::alpha_nominal(&ticked.map(|&t| u8::from(t))),
                );
                close(
                    &figures["positive_agreement"],
                    agreement::specific_agreement(&ticked).positive,
                );
            }
            let kappas = agreement::cohen_kappa_pairs(&safe, 20);
            let listed = report["questions"]["safe"]["cohen_kappa"]
                .as_array()
                .unwrap();
            assert_eq!(
                listed.len(),
                kappas.iter().filter(|p| p.shared >= 20).count()
            );
            let confidence =
                Ratings::from_triples(all.iter().map(|(i, a, l)| (*i, *a, l.confidence.unwrap())));
            close(
                &report["questions"]["confidence"]["alpha"],
                agreement::alpha_interval(&confidence),
            );
        }
    }

    fn labels(safe: [bool; 2], helpful: usize) -> Labels {
        let response = |s: bool| {
            if s {
                ResponseLabel::safe()
            } else {
                ResponseLabel::unsafe_with(&["Violence"], 2)
            }
        };
        let safer = usize::from(!safe[0] && safe[1]);
        Labels {
            responses: vec![response(safe[0]), response(safe[1])],
            helpfulness: vec![helpful, 1 - helpful],
            harmlessness: vec![safer, 1 - safer],
            overall: None,
            confidence: None,
            comment: None,
        }
    }

    #[test]
    fn perfect_agreement_gives_one_and_the_consensus_is_everyone() {
        let all = [
            labels([true, false], 0),
            labels([false, true], 1),
            labels([true, true], 0),
        ];
        let annotated: Vec<Annotated> = (0..3)
            .flat_map(|item| (0..2).map(move |annotator| (item, annotator)))
            .map(|(item, annotator)| Annotated {
                item,
                annotator,
                labels: &all[item],
            })
            .collect();
        let names = vec!["a".to_string(), "b".to_string()];
        let report = compute(
            json!({}),
            3,
            &annotated,
            &names,
            &["Violence".into()],
            &HashMap::new(),
            2,
        );
        assert_eq!(report["questions"]["safe"]["alpha"], 1.0);
        assert_eq!(report["questions"]["safe"]["units"], 6);
        assert_eq!(report["questions"]["helpfulness"]["alpha"], 1.0);
        assert_eq!(
            report["per_category"]["Violence"]["positive_agreement"],
            1.0
        );
        assert_eq!(report["annotators"][0]["agreement_with_consensus"], 1.0);
        assert_eq!(report["annotations"], 6);
    }

    #[test]
    fn a_single_annotator_gives_nulls_not_numbers() {
        let one = labels([true, false], 0);
        let annotated = [Annotated {
            item: 0,
            annotator: 0,
            labels: &one,
        }];
        let report = compute(
            json!({}),
            1,
            &annotated,
            &["a".into()],
            &["Violence".into()],
            &HashMap::new(),
            2,
        );
        assert!(report["questions"]["safe"]["alpha"].is_null());
        assert!(report["questions"]["safe"]["ci95"].is_null());
        assert!(report["annotators"][0]["agreement_with_consensus"].is_null());
        assert!(text(&report).contains("—"));
    }

    #[test]
    fn fast_and_disagreeing_work_is_flagged_with_its_evidence() {
        let typical = Typical {
            seconds: Some(30.0),
            agreement: Some(0.9),
        };
        let flag = low_effort(Some(8.0), Some(0.6), &typical).unwrap();
        assert_eq!(flag["flag"], "low_effort");
        assert!(
            flag["evidence"]
                .as_str()
                .unwrap()
                .contains("median 8.0 s per item against 30.0 s")
        );
        assert!(
            low_effort(Some(8.0), Some(0.85), &typical).is_none(),
            "fast but agreeing"
        );
        assert!(
            low_effort(Some(25.0), Some(0.5), &typical).is_none(),
            "disagreeing but careful"
        );
        assert!(low_effort(None, Some(0.5), &typical).is_none());
        assert_eq!(median([3.0, 1.0, 2.0, 10.0].into_iter()), Some(2.5));
        assert_eq!(median(std::iter::empty()), None);
    }

    /// The scanning leave-one-out gives what ranking a table of the
    /// others' values gives, on random units.
    #[test]
    fn leave_one_out_matches_a_ranked_table() {
        fn ranked(unit: &[(usize, u8)], counts: &mut [(usize, usize)]) {
            for &(coder, value) in unit {
                let mut tally: BTreeMap<u8, usize> = BTreeMap::new();
                for &(c, v) in unit {
                    if c != coder {
                        *tally.entry(v).or_default() += 1;
                    }
                }
                let mut ranked: Vec<(usize, u8)> = tally.iter().map(|(&v, &n)| (n, v)).collect();
                ranked.sort_unstable_by(|a, b| b.cmp(a));
                let majority = match ranked.as_slice() {
                    [(_, v)] => Some(*v),
                    [(n1, v), (n2, _), ..] if n1 > n2 => Some(*v),
                    _ => None,
                };
                if let Some(majority) = majority {
                    counts[coder].1 += 1;
                    counts[coder].0 += usize::from(majority == value);
                }
            }
        }
        let mut rng = SplitMix64(11);
        let (mut got, mut expected) = (vec![(0, 0); 7], vec![(0, 0); 7]);
        for _ in 0..3000 {
            let unit: Vec<(usize, u8)> = (0..rng.below(8))
                .map(|coder| (coder, rng.below(4) as u8))
                .collect();
            leave_one_out(&unit, &mut got);
            ranked(&unit, &mut expected);
        }
        assert_eq!(got, expected);
        assert!(expected.iter().all(|&(_, counted)| counted > 0));
    }

    #[test]
    fn leave_one_out_consensus_counts_strict_majorities_of_the_others() {
        // Unit 0: a=1, b=1, c=0 → a and b agree with the others' majority? For a:
        // others b=1, c=0 tie → left out. For c: others 1,1 → majority 1 ≠ 0.
        let mut counts = vec![(0, 0); 3];
        leave_one_out(&[(0, 1), (1, 1), (2, 0)], &mut counts);
        leave_one_out(&[(0, 0), (1, 0), (2, 0)], &mut counts);
        assert_eq!(counts, vec![(1, 1), (1, 1), (1, 2)]);
    }
}
