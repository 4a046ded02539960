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
//! [`agreement::alpha_intervals`](crate::agreement::alpha_intervals));
//! `RESAMPLES` draws from a fixed seed, so the report is reproducible.
//!
//! The files: `builder` (the annotations, compactly, and the questions'
//! data), `figures` (the statistics of one question and the bootstrap's
//! intervals), `annotators` (per-annotator figures, leave-one-out agreement
//! and the low-effort flag), `text` (the report as a table).

mod annotators;
mod builder;
mod figures;
mod text;

use std::collections::HashMap;

use serde_json::Value;

pub use builder::Builder;
pub(crate) use figures::{category_figures, intervals, masi_question, nominal, question};
pub use text::text;

use crate::labels::Labels;

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;
    use crate::agreement::{self, Ratings};
    use crate::labels::ResponseLabel;
    use crate::rng::SplitMix64;

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
}
