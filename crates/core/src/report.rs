//! The agreement report's figures, computed from annotations: reliability
//! data per question (a unit is one response of one item for the
//! per-response questions — safe, severity, categories, each category — and
//! one item for the preference questions), the statistics of `agreement`
//! over them, and per-annotator figures. A figure that cannot be computed is
//! `null`, never a made-up number. The server reads the annotations; this
//! module only counts.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value, json};

use crate::agreement::{self, Metric, Ratings};
use crate::labels::{Labels, ResponseLabel};

/// Bootstrap resamples for each confidence interval, and their fixed seed.
const RESAMPLES: usize = 200;
const SEED: u64 = 20_240_601;

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
    let unit = |a: &Annotated, position: usize| a.item * k + position;
    let per_response = |f: &dyn Fn(&ResponseLabel) -> u8| {
        Ratings::from_triples(annotated.iter().flat_map(|a| {
            a.labels
                .responses
                .iter()
                .enumerate()
                .map(move |(p, r)| (unit(a, p), a.annotator, f(r)))
        }))
    };
    let safe = per_response(&|r| u8::from(r.safe));
    let severity = per_response(&|r| r.severity);
    let category_sets: Ratings<BTreeSet<String>> =
        Ratings::from_triples(annotated.iter().flat_map(|a| {
            a.labels.responses.iter().enumerate().map(move |(p, r)| {
                (
                    unit(a, p),
                    a.annotator,
                    r.categories.iter().cloned().collect(),
                )
            })
        }));
    let top = |order: &Vec<usize>| order.first().map(|&p| p as u8);
    let per_item = |f: &dyn Fn(&Labels) -> Option<u8>| {
        Ratings::from_triples(
            annotated
                .iter()
                .filter_map(|a| f(a.labels).map(|v| (a.item, a.annotator, v))),
        )
    };
    let helpfulness = per_item(&|l| top(&l.helpfulness));
    let harmlessness = per_item(&|l| top(&l.harmlessness));
    let overall = per_item(&|l| l.overall.map(|o| o as u8));
    let confidence = per_item(&|l| l.confidence);

    let mut questions = serde_json::Map::new();
    questions.insert("safe".into(), question(&safe, Metric::Nominal));
    questions.insert("severity".into(), question(&severity, Metric::Ordinal));
    questions.insert("categories".into(), masi_question(&category_sets));
    for (name, ratings) in [
        ("helpfulness", &helpfulness),
        ("harmlessness", &harmlessness),
        ("overall", &overall),
    ] {
        if ratings.unit_count() > 0 {
            questions.insert(name.into(), question(ratings, Metric::Nominal));
        }
    }
    if confidence.unit_count() > 0 {
        questions.insert("confidence".into(), question(&confidence, Metric::Interval));
    }
    // Cohen's kappa for every pair of annotators sharing enough units, on the
    // nominal questions.
    for (name, ratings) in [
        ("safe", &safe),
        ("helpfulness", &helpfulness),
        ("harmlessness", &harmlessness),
    ] {
        if let Some(Value::Object(q)) = questions.get_mut(name) {
            q.insert("cohen_kappa".into(), cohen_pairs(ratings, annotators));
        }
    }

    let per_category: serde_json::Map<String, Value> = categories
        .iter()
        .map(|name| {
            let ticked: Ratings<bool> = category_sets.map(|set| set.contains(name));
            let as_number: Ratings<u8> = ticked.map(|&t| u8::from(t));
            let specific = agreement::specific_agreement(&ticked);
            let figures = json!({
                "alpha": agreement::alpha(&as_number, Metric::Nominal),
                "positive_agreement": specific.positive,
                "negative_agreement": specific.negative,
                "units": as_number.pairable_units(),
            });
            (name.clone(), figures)
        })
        .collect();

    let consensus =
        leave_one_out_agreement(&[&safe, &helpfulness, &harmlessness], annotators.len());
    let seconds: Vec<Option<f64>> = annotators
        .iter()
        .map(|name| activity.get(name).and_then(|a| a.median_seconds))
        .collect();
    let typical = Typical {
        seconds: median(seconds.iter().flatten().copied()),
        agreement: median(consensus.iter().flatten().copied()),
    };
    let people: Vec<Value> = annotators
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let act = activity.get(name);
            let (submitted, skipped) = act.map_or((0, 0), |a| (a.submitted, a.skipped));
            let attempted = submitted + skipped;
            json!({
                "annotator": name,
                "done": submitted,
                "agreement_with_consensus": consensus[index],
                "gold_accuracy": null,
                "median_seconds": act.and_then(|a| a.median_seconds),
                "skip_rate": (attempted > 0).then(|| skipped as f64 / attempted as f64),
                "flags": low_effort(seconds[index], consensus[index], &typical).into_iter().collect::<Vec<_>>(),
            })
        })
        .collect();

    json!({
        "scope": scope,
        "items": items,
        "annotations": annotated.len(),
        "questions": questions,
        "per_category": per_category,
        "annotators": people,
    })
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
fn question<V: Ord + Copy + Into<f64>>(ratings: &Ratings<V>, metric: Metric) -> Value {
    let ci = agreement::alpha_ci(ratings, metric, RESAMPLES, SEED).map(|i| json!([i.low, i.high]));
    let metric_name = match metric {
        Metric::Nominal => "nominal",
        Metric::Ordinal => "ordinal",
        Metric::Interval => "interval",
    };
    json!({
        "metric": metric_name,
        "alpha": agreement::alpha(ratings, metric),
        "ci95": ci,
        "fleiss_kappa": agreement::fleiss_kappa(ratings),
        "percent_agreement": agreement::percent_agreement(ratings),
        "units": ratings.pairable_units(),
    })
}

/// Units two annotators must share before their kappa is reported.
const COHEN_MIN_SHARED: usize = 20;

fn cohen_pairs(ratings: &Ratings<u8>, names: &[String]) -> Value {
    let pairs: Vec<Value> = agreement::cohen_kappa_pairs(ratings, COHEN_MIN_SHARED)
        .into_iter()
        .filter(|p| p.shared >= COHEN_MIN_SHARED)
        .map(|p| json!({"a": names[p.a], "b": names[p.b], "shared": p.shared, "kappa": p.kappa}))
        .collect();
    Value::Array(pairs)
}

fn masi_question(ratings: &Ratings<BTreeSet<String>>) -> Value {
    let ci = agreement::alpha_masi_ci(ratings, RESAMPLES, SEED).map(|i| json!([i.low, i.high]));
    json!({
        "metric": "masi",
        "alpha": agreement::alpha_masi(ratings),
        "ci95": ci,
        "fleiss_kappa": null,
        "percent_agreement": agreement::percent_agreement(ratings),
        "units": ratings.pairable_units(),
    })
}

/// For each annotator: the share of their values, over the given nominal
/// questions, that equal the strict majority of the other annotators on the
/// same unit (units where the others tie or are absent are left out).
fn leave_one_out_agreement(questions: &[&Ratings<u8>], annotators: usize) -> Vec<Option<f64>> {
    let mut agree = vec![0usize; annotators];
    let mut total = vec![0usize; annotators];
    for ratings in questions {
        for row in ratings.units() {
            for (coder, value) in row.iter().enumerate() {
                let Some(value) = value else { continue };
                let mut counts: BTreeMap<u8, usize> = BTreeMap::new();
                for (other, v) in row.iter().enumerate() {
                    if other != coder
                        && let Some(v) = v
                    {
                        *counts.entry(*v).or_default() += 1;
                    }
                }
                let mut ranked: Vec<(usize, u8)> =
                    counts.into_iter().map(|(v, n)| (n, v)).collect();
                ranked.sort_unstable_by(|a, b| b.cmp(a));
                let majority = match ranked.as_slice() {
                    [(n, v)] if *n > 0 => Some(*v),
                    [(n1, v), (n2, _), ..] if n1 > n2 => Some(*v),
                    _ => None,
                };
                if let Some(majority) = majority {
                    total[coder] += 1;
                    agree[coder] += usize::from(majority == *value);
                }
            }
        }
    }
    agree
        .iter()
        .zip(&total)
        .map(|(a, t)| (*t > 0).then(|| *a as f64 / *t as f64))
        .collect()
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
    out.push_str(&format!(
        "{:<14} {:<9} {:>7} {:>17} {:>7} {:>7} {:>6}\n",
        "question", "metric", "alpha", "95% CI", "fleiss", "agree", "units"
    ));
    if let Some(questions) = report["questions"].as_object() {
        for (name, q) in questions {
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
                number(&q["fleiss_kappa"]),
                number(&q["percent_agreement"]),
                q["units"]
            ));
        }
    }
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn leave_one_out_consensus_counts_strict_majorities_of_the_others() {
        // Unit 0: a=1, b=1, c=0 → a and b agree with the others' majority? For a:
        // others b=1, c=0 tie → left out. For c: others 1,1 → majority 1 ≠ 0.
        let ratings = Ratings::from_units(vec![
            vec![Some(1u8), Some(1), Some(0)],
            vec![Some(0), Some(0), Some(0)],
        ]);
        let agreement = leave_one_out_agreement(&[&ratings], 3);
        assert_eq!(agreement, vec![Some(1.0), Some(1.0), Some(0.5)]);
    }
}
