//! The figures of one question — alpha with its interval, Fleiss' kappa,
//! percent agreement, Cohen's kappa per pair, a harm category's specific
//! agreement — and the bootstrap's intervals for every question at once.

use serde_json::{Value, json};

use super::{RESAMPLES, SEED};
use crate::agreement::{self, Bootstrap, Interval, ItemRatings, Metric, PairTables, Profiles};

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

/// Cohen's kappa of every pair of annotators sharing enough units, named.
pub(super) fn cohen_pairs(tables: &PairTables<u8>, names: &[String]) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

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
}
