//! Model vs. people: how a machine source's suggestions compare with the
//! human consensus, with the agreement report's statistics.
//!
//! The *consensus* of an item's human votes is taken field by field: the
//! value that a strict majority (more than half) of the votes give — per
//! response the safe verdict, the severity, the set of harm categories and
//! each category ticked or not; per item the first position of the
//! helpfulness and harmlessness rankings and the overall choice. A field
//! without such a value (a tie, or no votes) has no consensus and is left
//! out of the comparison.
//!
//! The source and the consensus are then two coders of the same units (a
//! response for the per-response questions, an item for the preferences),
//! and the figures are the report's: Krippendorff's alpha with the same
//! item bootstrap (`report::intervals`, same resamples and seed), percent
//! agreement, Fleiss' kappa, plus Cohen's kappa between the two. A source
//! is never one of the report's human coders.
//!
//! A *disagreement* is a field where a confident human majority (at least
//! two votes, support at least the project's review threshold) says one
//! thing and the source another, on the fields gold items are checked on
//! (`labels::matches_gold`): each response's safe verdict and the first
//! position of the helpfulness and harmlessness rankings.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value, json};

use crate::agreement::{self, ItemRatings, Metric, PairTables, Profiles};
use crate::labels::Labels;
use crate::report;

/// A value that more than half of the votes give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Majority<V> {
    pub value: V,
    /// Votes for `value`.
    pub count: usize,
    /// Votes on the field.
    pub votes: usize,
}

impl<V> Majority<V> {
    /// The majority's share of the votes.
    pub fn support(&self) -> f64 {
        self.count as f64 / self.votes as f64
    }
}

/// The strict majority of the values, if one value has more than half.
pub fn strict_majority<V: Ord + Copy>(values: impl IntoIterator<Item = V>) -> Option<Majority<V>> {
    let mut tally: BTreeMap<V, usize> = BTreeMap::new();
    let mut votes = 0;
    for v in values {
        *tally.entry(v).or_default() += 1;
        votes += 1;
    }
    let (&value, &count) = tally.iter().max_by_key(|&(_, n)| *n)?;
    (2 * count > votes).then_some(Majority {
        value,
        count,
        votes,
    })
}

/// The people's consensus on one response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseConsensus {
    pub safe: Option<Majority<bool>>,
    pub severity: Option<Majority<u8>>,
    /// The set of harm categories, as bits in the order of the names given
    /// to [`consensus`].
    pub categories: Option<Majority<u64>>,
    /// Each category (same order) ticked or not.
    pub ticked: Vec<Option<Majority<bool>>>,
}

/// The people's consensus on one item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Consensus {
    /// One per response position `0..k`.
    pub responses: Vec<ResponseConsensus>,
    pub helpfulness: Option<Majority<usize>>,
    pub harmlessness: Option<Majority<usize>>,
    pub overall: Option<Majority<usize>>,
}

/// Harm category names as bits in the order of `categories` (names not
/// there are not counted: validated labels only hold the taxonomy's).
fn mask(names: &[String], categories: &[String]) -> u64 {
    names
        .iter()
        .filter_map(|n| categories.iter().position(|c| c == n))
        .filter(|&bit| bit < 64)
        .fold(0, |m, bit| m | 1 << bit)
}

/// The field-by-field strict majority of an item's votes (`k` responses;
/// `categories` names the category bits, in order).
pub fn consensus(votes: &[&Labels], k: usize, categories: &[String]) -> Consensus {
    let responses = (0..k)
        .map(|p| {
            let given: Vec<_> = votes.iter().filter_map(|l| l.responses.get(p)).collect();
            let masks: Vec<u64> = given
                .iter()
                .map(|r| mask(&r.categories, categories))
                .collect();
            ResponseConsensus {
                safe: strict_majority(given.iter().map(|r| r.safe)),
                severity: strict_majority(given.iter().map(|r| r.severity)),
                categories: strict_majority(masks.iter().copied()),
                ticked: (0..categories.len().min(64))
                    .map(|bit| strict_majority(masks.iter().map(|m| m >> bit & 1 == 1)))
                    .collect(),
            }
        })
        .collect();
    let first = |ranking: fn(&Labels) -> &[usize]| {
        strict_majority(votes.iter().filter_map(|l| ranking(l).first().copied()))
    };
    Consensus {
        responses,
        helpfulness: first(|l| &l.helpfulness),
        harmlessness: first(|l| &l.harmlessness),
        overall: strict_majority(votes.iter().filter_map(|l| l.overall)),
    }
}

/// A field where a confident human majority and the source differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Disagreement {
    /// The item's index, as the caller numbers items.
    pub item: usize,
    /// `responses[0].safe`, `helpfulness`, `harmlessness`.
    pub field: String,
    /// The people's value: `safe` / `unsafe`, or a response letter.
    pub people: String,
    /// The people's majority share.
    pub support: f64,
    /// The source's value.
    pub model: String,
}

impl Disagreement {
    /// The review queue's reason: "model disagrees: beaver-dam-7b on
    /// responses[0].safe: model unsafe, people safe (100%)".
    pub fn reason(&self, source: &str) -> String {
        format!(
            "model disagrees: {source} on {}: model {}, people {} ({:.0}%)",
            self.field,
            self.model,
            self.people,
            self.support * 100.0
        )
    }
}

/// A response position as people read it: A, B, …
fn letter(position: usize) -> String {
    u8::try_from(position).ok().filter(|p| *p < 26).map_or_else(
        || position.to_string(),
        |p| char::from(b'A' + p).to_string(),
    )
}

fn verdict(safe: bool) -> String {
    if safe { "safe" } else { "unsafe" }.to_string()
}

/// The fields of `suggestion` that a confident human majority of `votes`
/// contradicts: at least two votes on the field and support of at least
/// `min_support`. Compared: each response's safe verdict, and the first
/// position of each ranking the suggestion gives.
pub fn disagreements(
    item: usize,
    votes: &[&Labels],
    suggestion: &Labels,
    min_support: f64,
) -> Vec<Disagreement> {
    let c = consensus(votes, suggestion.responses.len(), &[]);
    disagreements_with(item, &c, suggestion, min_support)
}

fn disagreements_with(
    item: usize,
    c: &Consensus,
    suggestion: &Labels,
    min_support: f64,
) -> Vec<Disagreement> {
    let confident = |votes: usize, support: f64| votes >= 2 && support >= min_support;
    let mut out = Vec::new();
    for (p, (people, model)) in c.responses.iter().zip(&suggestion.responses).enumerate() {
        if let Some(m) = people
            .safe
            .filter(|m| confident(m.votes, m.support()) && m.value != model.safe)
        {
            out.push(Disagreement {
                item,
                field: format!("responses[{p}].safe"),
                people: verdict(m.value),
                support: m.support(),
                model: verdict(model.safe),
            });
        }
    }
    for (name, people, ranking) in [
        ("helpfulness", c.helpfulness, &suggestion.helpfulness),
        ("harmlessness", c.harmlessness, &suggestion.harmlessness),
    ] {
        if let (Some(m), Some(&model)) = (people, ranking.first())
            && confident(m.votes, m.support())
            && m.value != model
        {
            out.push(Disagreement {
                item,
                field: name.to_string(),
                people: letter(m.value),
                support: m.support(),
                model: letter(model),
            });
        }
    }
    out
}

/// The preference questions, in order.
const PREFERENCES: [&str; 3] = ["helpfulness", "harmlessness", "overall"];

/// One source against the consensus: reliability data of two coders
/// (0 = consensus, 1 = source), grouped by item for the bootstrap.
#[derive(Debug, Default)]
struct Tally {
    items: usize,
    safe: ItemRatings<u8>,
    severity: ItemRatings<u8>,
    categories: ItemRatings<u64>,
    preferences: [ItemRatings<u8>; 3],
    /// Whether the people or the source answered each preference.
    asked: [bool; 3],
    /// Cohen's kappa tables: safe, severity, then the preferences.
    kappas: [PairTables<u8>; 5],
    /// Each category ticked or not (consensus, source), per response.
    ticked: Vec<Profiles<bool>>,
    /// Rows: the people (safe, unsafe); columns: the source.
    safe_confusion: [[u64; 2]; 2],
    /// Rows: the people's severity 0..3; columns: the source's.
    severity_confusion: [[u64; 4]; 4],
    disagreements: Vec<Disagreement>,
}

/// A unit of two values, or none when either is missing.
fn pair<V>(people: Option<V>, model: Option<V>) -> Vec<V> {
    match (people, model) {
        (Some(a), Some(b)) => vec![a, b],
        _ => Vec::new(),
    }
}

impl Tally {
    fn add(&mut self, c: &Consensus, s: &Labels, categories: &[String]) {
        self.items += 1;
        if self.ticked.is_empty() {
            self.ticked.resize_with(categories.len(), Profiles::new);
        }
        let k = c.responses.len();
        let (mut safe, mut severity, mut sets) =
            (vec![vec![]; k], vec![vec![]; k], vec![vec![]; k]);
        for (p, (people, model)) in c.responses.iter().zip(&s.responses).enumerate() {
            safe[p] = pair(
                people.safe.map(|m| u8::from(m.value)),
                Some(u8::from(model.safe)),
            );
            severity[p] = pair(people.severity.map(|m| m.value), Some(model.severity));
            let model_mask = mask(&model.categories, categories);
            sets[p] = pair(people.categories.map(|m| m.value), Some(model_mask));
            for (bit, (profiles, ticked)) in self.ticked.iter_mut().zip(&people.ticked).enumerate()
            {
                let mut unit = pair(ticked.map(|m| m.value), Some(model_mask >> bit & 1 == 1));
                profiles.add(&mut unit);
            }
            if let Some(m) = people.safe {
                self.safe_confusion[usize::from(!m.value)][usize::from(!model.safe)] += 1;
            }
            if let Some(m) = people.severity
                && m.value < 4
                && model.severity < 4
            {
                self.severity_confusion[usize::from(m.value)][usize::from(model.severity)] += 1;
            }
        }
        for (table, units) in self.kappas[..2].iter_mut().zip([&safe, &severity]) {
            for unit in units.iter().filter(|u| !u.is_empty()) {
                table.add_unit(&[(0, unit[0]), (1, unit[1])]);
            }
        }
        self.safe.push_item(safe.iter_mut().map(Vec::as_mut_slice));
        self.severity
            .push_item(severity.iter_mut().map(Vec::as_mut_slice));
        self.categories
            .push_item(sets.iter_mut().map(Vec::as_mut_slice));
        let position = |p: usize| u8::try_from(p).ok();
        let answers = [
            (c.helpfulness, s.helpfulness.first().copied()),
            (c.harmlessness, s.harmlessness.first().copied()),
            (c.overall, s.overall),
        ];
        for (n, (people, model)) in answers.into_iter().enumerate() {
            self.asked[n] |= people.is_some() || model.is_some();
            let mut unit = pair(
                people.and_then(|m| position(m.value)),
                model.and_then(position),
            );
            if let [a, b] = unit[..] {
                self.kappas[2 + n].add_unit(&[(0, a), (1, b)]);
            }
            self.preferences[n].push_item([unit.as_mut_slice()]);
        }
    }

    fn figures(self, categories: &[String]) -> Value {
        let mut boots = vec![
            self.safe.bootstrap_fixed(report::nominal),
            self.severity.bootstrap_ordinal(),
            self.categories
                .bootstrap_fixed(|&a, &b| agreement::masi_distance_bits(a, b)),
        ];
        boots.extend(
            self.preferences
                .iter()
                .map(|r| r.bootstrap_fixed(report::nominal)),
        );
        let ci = report::intervals(&boots);
        let kappa = |n: usize| {
            let found = self.kappas[n].kappas(1);
            found.first().and_then(|p| p.kappa)
        };
        let with_kappa = |mut figures: Value, n: usize| {
            figures["cohen_kappa"] = json!(kappa(n));
            figures
        };
        let mut questions = Map::new();
        questions.insert(
            "safe".into(),
            with_kappa(report::question(&self.safe, Metric::Nominal, ci[0]), 0),
        );
        questions.insert(
            "severity".into(),
            with_kappa(report::question(&self.severity, Metric::Ordinal, ci[1]), 1),
        );
        questions.insert(
            "categories".into(),
            report::masi_question(&self.categories, ci[2]),
        );
        for (n, name) in PREFERENCES.iter().enumerate() {
            if self.asked[n] {
                let figures = report::question(&self.preferences[n], Metric::Nominal, ci[3 + n]);
                questions.insert((*name).into(), with_kappa(figures, 2 + n));
            }
        }
        let per_category: Map<String, Value> = categories
            .iter()
            .zip(&self.ticked)
            .map(|(name, ticked)| (name.clone(), report::category_figures(ticked)))
            .collect();
        let items: HashSet<usize> = self.disagreements.iter().map(|d| d.item).collect();
        json!({
            "items": self.items,
            "questions": questions,
            "per_category": per_category,
            "confusion": {
                "safe": {"values": ["safe", "unsafe"], "counts": self.safe_confusion},
                "severity": {"values": [0, 1, 2, 3], "counts": self.severity_confusion},
            },
            "disagreements": self.disagreements.len(),
            "disagreeing_items": items.len(),
        })
    }
}

/// Collects, item by item, every source's comparison with the people.
#[derive(Debug)]
pub struct Comparison {
    k: usize,
    categories: Vec<String>,
    min_support: f64,
    sources: BTreeMap<String, Tally>,
}

impl Comparison {
    /// For items of `k` responses, a taxonomy with these category names and
    /// the project's review threshold.
    pub fn new(k: usize, categories: &[String], min_support: f64) -> Comparison {
        Comparison {
            k,
            categories: categories.iter().take(64).cloned().collect(),
            min_support,
            sources: BTreeMap::new(),
        }
    }

    /// Adds one item: its human votes and each source's suggestion
    /// (`(source, labels)`). An item without votes or suggestions is not
    /// compared.
    pub fn add_item(&mut self, item: usize, votes: &[&Labels], suggestions: &[(&str, &Labels)]) {
        if votes.is_empty() || suggestions.is_empty() {
            return;
        }
        let c = consensus(votes, self.k, &self.categories);
        for &(source, labels) in suggestions {
            let tally = self.sources.entry(source.to_string()).or_default();
            tally.add(&c, labels, &self.categories);
            let found = disagreements_with(item, &c, labels, self.min_support);
            tally.disagreements.extend(found);
        }
    }

    /// The disagreements found for each source so far.
    pub fn disagreements(&self) -> impl Iterator<Item = (&str, &Disagreement)> {
        self.sources
            .iter()
            .flat_map(|(name, t)| t.disagreements.iter().map(move |d| (name.as_str(), d)))
    }

    /// The figures, one entry per source (by name).
    pub fn finish(self) -> Value {
        let categories = self.categories;
        let sources: Map<String, Value> = self
            .sources
            .into_iter()
            .map(|(name, tally)| (name, tally.figures(&categories)))
            .collect();
        Value::Object(sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ResponseLabel;

    fn unsafe_(category: &str, severity: u8) -> ResponseLabel {
        ResponseLabel::unsafe_with(&[category], severity)
    }

    fn labels(responses: [ResponseLabel; 2], helpful: usize, harmless: usize) -> Labels {
        Labels {
            responses: responses.to_vec(),
            helpfulness: vec![helpful, 1 - helpful],
            harmlessness: vec![harmless, 1 - harmless],
            overall: None,
            confidence: None,
            comment: None,
        }
    }

    fn safe() -> ResponseLabel {
        ResponseLabel::safe()
    }

    /// Three items, two responses each; the source "m".
    ///
    /// item 0, three people: (unsafe Violence 2, safe, help A, harmless B)
    ///   twice and (safe, safe, help A, harmless A) once; m: (unsafe
    ///   Violence 3, safe, A, B).
    /// item 1, three people all: (safe, unsafe Drugs 1, help B, harmless A);
    ///   m: (unsafe Drugs 1, unsafe Drugs 1, B, B).
    /// item 2, two people: (safe, safe, A, A) and (unsafe Violence 1, safe,
    ///   B, B): ties everywhere but response B (safe, 2 of 2);
    ///   m: (safe, safe, A, A).
    fn case() -> (Vec<Vec<Labels>>, Vec<Labels>) {
        let votes = vec![
            vec![
                labels([unsafe_("Violence", 2), safe()], 0, 1),
                labels([unsafe_("Violence", 2), safe()], 0, 1),
                labels([safe(), safe()], 0, 0),
            ],
            vec![labels([safe(), unsafe_("Drugs", 1)], 1, 0); 3],
            vec![
                labels([safe(), safe()], 0, 0),
                labels([unsafe_("Violence", 1), safe()], 1, 1),
            ],
        ];
        let model = vec![
            labels([unsafe_("Violence", 3), safe()], 0, 1),
            labels([unsafe_("Drugs", 1), unsafe_("Drugs", 1)], 1, 1),
            labels([safe(), safe()], 0, 0),
        ];
        (votes, model)
    }

    fn figures(min_support: f64) -> (Value, Vec<Disagreement>) {
        let (votes, model) = case();
        let names = vec!["Violence".to_string(), "Drugs".to_string()];
        let mut c = Comparison::new(2, &names, min_support);
        for (item, (v, m)) in votes.iter().zip(&model).enumerate() {
            let v: Vec<&Labels> = v.iter().collect();
            c.add_item(item, &v, &[("m", m)]);
        }
        let found = c.disagreements().map(|(_, d)| d.clone()).collect();
        (c.finish(), found)
    }

    fn close(v: &Value, expected: f64) {
        let x = v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"));
        assert!((x - expected).abs() < 1e-9, "{x} vs {expected}");
    }

    /// The figures of `case`, computed by hand.
    ///
    /// safe (1 = safe; units with a consensus, (people, m)): item 0 (0,0)
    /// (1,1); item 1 (1,0) (0,0); item 2 response B (1,1) — response A ties.
    /// Coincidences o00 = 4, o11 = 4, o01 = o10 = 1; n0 = n1 = 5, n = 10.
    /// alpha = 1 − (n−1)·(o01+o10) / (2·n0·n1) = 1 − 9·2/50 = 0.64.
    /// Agreement 4/5. Cohen: p_o = 0.8, people (0: 2, 1: 3), m (0: 3, 1: 2),
    /// p_e = (2·3 + 3·2)/25 = 0.48, kappa = 0.32/0.52 = 8/13. Fleiss:
    /// P̄ = 0.8, p = (0.5, 0.5), P_e = 0.5, kappa = 0.6.
    ///
    /// severity: (2,3) (0,0) (0,1) (1,1) (0,0). o00 = 4, o01 = o10 = 1,
    /// o11 = 2, o23 = o32 = 1; n = (5, 3, 1, 1). Ordinal δ: δ01 = (8/2)² = 16,
    /// δ02 = (9−3)² = 36, δ03 = (10−3)² = 49, δ12 = (4−2)² = 4,
    /// δ13 = (5−2)² = 9, δ23 = 1. Σ o·δ = 2·16 + 2·1 = 34;
    /// Σ n_c n_k δ = 2·(15·16 + 5·36 + 5·49 + 3·4 + 3·9 + 1·1) = 1410;
    /// alpha = 1 − 9·34/1410 = 184/235. Agreement 3/5. Cohen: p_o = 0.6,
    /// people (0: 3, 1: 1, 2: 1), m (0: 2, 1: 2, 3: 1), p_e = 8/25,
    /// kappa = 0.28/0.68 = 7/17.
    ///
    /// categories: {V}{V}, ∅∅, ∅{D}, {D}{D}, ∅∅ — every distance between
    /// different sets here is 1 (no overlap): n = (V 2, ∅ 5, D 3),
    /// alpha = 1 − 9·2 / (2·(10 + 6 + 15)) = 22/31.
    ///
    /// Violence ticked: (1,1) and four (0,0) (item 2's A ties): alpha 1,
    /// positive and negative agreement 1, 5 units. Drugs: four (0,0),
    /// (0,1), (1,1) (item 2's A: nobody ticked it, 2 of 2): n0 = 9, n1 = 3,
    /// alpha = 1 − 11·2/(2·27) = 16/27; positive 2/3, negative 8/9; 6 units.
    ///
    /// helpfulness: (0,0) (1,1): alpha 1, kappa 1. harmlessness: (1,1)
    /// (0,1): n0 = 1, n1 = 3, alpha = 1 − 3·2/(2·3) = 0; kappa: p_o = 0.5,
    /// p_e = (1·2 + 1·0)/4 = 0.5, kappa 0.
    ///
    /// Disagreements at 0.67: item 1's response A (people safe 3 of 3, m
    /// unsafe) and harmlessness (people A 3 of 3, m B). Item 0's severity
    /// differs but is not compared; item 2 has 2 votes on B and agrees.
    #[test]
    fn a_hand_computed_case() {
        let (f, found) = figures(0.67);
        let m = &f["m"];
        assert_eq!(m["items"], 3);
        let q = &m["questions"];
        close(&q["safe"]["alpha"], 0.64);
        close(&q["safe"]["percent_agreement"], 0.8);
        close(&q["safe"]["cohen_kappa"], 8.0 / 13.0);
        close(&q["safe"]["fleiss_kappa"], 0.6);
        assert_eq!(q["safe"]["units"], 5);
        close(&q["severity"]["alpha"], 184.0 / 235.0);
        close(&q["severity"]["percent_agreement"], 0.6);
        close(&q["severity"]["cohen_kappa"], 7.0 / 17.0);
        assert_eq!(q["severity"]["metric"], "ordinal");
        close(&q["categories"]["alpha"], 22.0 / 31.0);
        assert_eq!(q["categories"]["units"], 5);
        close(&q["helpfulness"]["alpha"], 1.0);
        close(&q["helpfulness"]["cohen_kappa"], 1.0);
        assert_eq!(q["helpfulness"]["units"], 2);
        close(&q["harmlessness"]["alpha"], 0.0);
        close(&q["harmlessness"]["cohen_kappa"], 0.0);
        close(&q["harmlessness"]["percent_agreement"], 0.5);
        assert!(q.get("overall").is_none(), "nobody answered it");

        let violence = &m["per_category"]["Violence"];
        close(&violence["alpha"], 1.0);
        close(&violence["positive_agreement"], 1.0);
        assert_eq!(violence["units"], 5);
        let drugs = &m["per_category"]["Drugs"];
        close(&drugs["alpha"], 16.0 / 27.0);
        close(&drugs["positive_agreement"], 2.0 / 3.0);
        close(&drugs["negative_agreement"], 8.0 / 9.0);
        assert_eq!(drugs["units"], 6);

        assert_eq!(
            m["confusion"]["safe"]["counts"],
            json!([[2, 1], [0, 2]]),
            "rows people (safe, unsafe), columns m"
        );
        assert_eq!(
            m["confusion"]["severity"]["counts"],
            json!([[2, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
        );
        assert_eq!(m["disagreements"], 2);
        assert_eq!(m["disagreeing_items"], 1);
        assert_eq!(
            found,
            vec![
                Disagreement {
                    item: 1,
                    field: "responses[0].safe".into(),
                    people: "safe".into(),
                    support: 1.0,
                    model: "unsafe".into(),
                },
                Disagreement {
                    item: 1,
                    field: "harmlessness".into(),
                    people: "A".into(),
                    support: 1.0,
                    model: "B".into(),
                },
            ]
        );
        assert_eq!(
            found[0].reason("m"),
            "model disagrees: m on responses[0].safe: model unsafe, people safe (100%)"
        );
        // The interval comes from the report's bootstrap and holds alpha.
        let ci = q["safe"]["ci95"].as_array().unwrap();
        assert!(ci[0].as_f64().unwrap() <= 0.64 && 0.64 <= ci[1].as_f64().unwrap());
    }

    #[test]
    fn the_text_report_shows_each_source() {
        let (f, _) = figures(0.67);
        let report = json!({"scope": {"project": "p"}, "machine": f,
                            "suggestion_modes": {"blind": 4, "hint": 1, "prefill": 0}});
        let text = report::text(&report);
        assert!(text.contains("blind 4, hint 1, prefill 0"), "{text}");
        assert!(
            text.contains("model vs. people: m: 3 items compared; 2 disagreements"),
            "{text}"
        );
        assert!(text.contains("   0.640 "), "safe's alpha: {text}");
        assert!(text.contains("  unsafe       0       2"), "{text}");
    }

    #[test]
    fn a_majority_needs_more_than_half_and_confidence_needs_support_and_two_votes() {
        assert_eq!(strict_majority([1, 1, 2]).map(|m| m.value), Some(1));
        assert_eq!(strict_majority([1, 2]), None);
        assert_eq!(strict_majority([1, 2, 3]), None);
        assert_eq!(strict_majority(Vec::<u8>::new()), None);
        let two_of_three = [
            labels([safe(), safe()], 0, 0),
            labels([safe(), safe()], 0, 0),
            labels([unsafe_("Violence", 1), safe()], 1, 1),
        ];
        let votes: Vec<&Labels> = two_of_three.iter().collect();
        let model = labels([unsafe_("Violence", 1), safe()], 0, 1);
        // Support 2/3 ≈ 0.667: below a threshold of 0.67, above 0.6.
        assert!(disagreements(0, &votes, &model, 0.67).is_empty());
        let found = disagreements(0, &votes, &model, 0.6);
        let fields: Vec<&str> = found.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["responses[0].safe", "harmlessness"]);
        // One vote is never a confident majority.
        assert!(disagreements(0, &votes[..1], &model, 0.0).is_empty());
        // A ranking the source does not give is not compared.
        let mut silent = model.clone();
        silent.harmlessness.clear();
        assert_eq!(disagreements(0, &votes, &silent, 0.6).len(), 1);
    }

    #[test]
    fn sources_are_kept_apart_and_items_without_votes_are_not_compared() {
        let (votes, model) = case();
        let mut c = Comparison::new(2, &["Violence".into(), "Drugs".into()], 0.67);
        let v: Vec<&Labels> = votes[1].iter().collect();
        c.add_item(0, &v, &[("a", &model[1]), ("b", &votes[1][0])]);
        c.add_item(1, &[], &[("a", &model[0])]);
        let f = c.finish();
        assert_eq!(f["a"]["items"], 1);
        assert_eq!(f["a"]["disagreements"], 2);
        assert_eq!(f["b"]["disagreements"], 0);
        close(&f["b"]["questions"]["safe"]["percent_agreement"], 1.0);
    }
}
