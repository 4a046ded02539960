//! The report's [`Builder`]: annotations kept compactly as they come (a few
//! bytes per response, harm categories as a bit mask), then grouped by item
//! into every question's reliability data, and the report put together.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Activity;
use super::annotators::{leave_one_out, people};
use super::figures::{category_figures, cohen_pairs, intervals, masi_question, nominal, question};
use crate::agreement::{ItemRatings, Metric, PairTables, masi_distance_bits};
use crate::labels::{Decoded, Labels};

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
                .bootstrap_fixed(|&a, &b| masi_distance_bits(a, b)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ResponseLabel;
    use crate::rng::SplitMix64;

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
}
