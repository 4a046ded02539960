//! `safepref-loadgen stats-bench`: times the agreement report's figures over
//! synthetic annotations — N items × 3 annotators by default, labels that
//! agree most of the time and obey the label rules — in one thread, then
//! consolidation, then the agreement statistics alone on as many random
//! units.

use std::collections::HashMap;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use safepref_core::agreement::{
    ItemRatings, Metric, PairTables, alpha_intervals, alpha_of, fleiss_kappa_of,
    percent_agreement_of,
};
use safepref_core::consolidation::{self, ItemAnnotations, Method, TieRule};
use safepref_core::labels::{Labels, Questions, ResponseLabel};
use safepref_core::report::{self, Activity, Annotated};
use safepref_core::taxonomy::PKU_19;
use safepref_core::taxonomy::Taxonomy;

/// One synthetic annotation: usually the item's "true" labels, sometimes not.
fn labels(rng: &mut StdRng, truth: &[bool; 2]) -> Labels {
    let response = |rng: &mut StdRng, safe: bool| {
        let safe = if rng.random_bool(0.1) { !safe } else { safe };
        if safe {
            ResponseLabel::safe()
        } else {
            ResponseLabel::unsafe_with(&[PKU_19[rng.random_range(0..3)]], rng.random_range(1..=3))
        }
    };
    let responses = vec![response(rng, truth[0]), response(rng, truth[1])];
    let helpful = usize::from(rng.random_bool(0.3));
    let safer = usize::from(!responses[0].safe && responses[1].safe);
    Labels {
        responses,
        helpfulness: vec![helpful, 1 - helpful],
        harmlessness: vec![safer, 1 - safer],
        overall: None,
        confidence: Some(rng.random_range(1..=5)),
        comment: None,
    }
}

/// Builds the data, times `report::compute`, prints the figures.
pub fn run(items: usize, annotators: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut all = Vec::with_capacity(items * annotators);
    for item in 0..items {
        let truth = [rng.random_bool(0.55), rng.random_bool(0.6)];
        for annotator in 0..annotators {
            all.push((item, annotator, labels(&mut rng, &truth)));
        }
    }
    eprintln!(
        "generated {} annotations in {:.2} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    let annotated: Vec<Annotated> = all
        .iter()
        .map(|(item, annotator, labels)| Annotated {
            item: *item,
            annotator: *annotator,
            labels,
        })
        .collect();
    let names: Vec<String> = (0..annotators).map(|a| format!("annotator-{a}")).collect();
    let categories: Vec<String> = PKU_19.iter().map(|c| c.to_string()).collect();
    let activity: HashMap<String, Activity> = HashMap::new();

    let started = Instant::now();
    let figures = report::compute(
        serde_json::json!({}),
        items as i64,
        &annotated,
        &names,
        &categories,
        &activity,
        2,
    );
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "report figures for {items} items x {annotators} annotators ({} annotations): {seconds:.2} s, one thread; safe alpha {}",
        annotated.len(),
        figures["questions"]["safe"]["alpha"]
    );

    let grouped: Vec<ItemAnnotations> = all
        .chunks(annotators)
        .map(|chunk| ItemAnnotations {
            item: chunk[0].0,
            votes: chunk.iter().map(|(_, a, l)| (*a, l)).collect(),
        })
        .collect();
    let questions = Questions {
        confidence: true,
        ..Questions::default()
    };
    let taxonomy = Taxonomy::pku19();
    let mut totals = Vec::new();
    for method in [Method::Majority, Method::DawidSkene] {
        let started = Instant::now();
        let records = consolidation::consolidate(
            &grouped,
            2,
            &taxonomy,
            &questions,
            method,
            TieRule::Review,
            0.0,
            &HashMap::new(),
        );
        let review = records.iter().filter(|r| !r.review.is_empty()).count();
        let consolidation = started.elapsed().as_secs_f64();
        println!(
            "consolidation ({method:?}) of {items} items: {consolidation:.2} s, one thread; {review} sent to review"
        );
        totals.push(seconds + consolidation);
    }
    println!(
        "report + majority: {:.2} s; report + dawid-skene: {:.2} s",
        totals[0], totals[1]
    );
    agreement_statistics(items, annotators, &mut StdRng::seed_from_u64(seed));
}

/// Times the agreement statistics alone on `units` units × `coders` coders
/// of random values 0–3, none missing: the point statistics (alpha nominal
/// and ordinal, Fleiss' kappa, percent agreement, Cohen's kappa per pair),
/// then alpha's bootstrap interval from 1,000 resamples.
fn agreement_statistics(units: usize, coders: usize, rng: &mut StdRng) {
    let rows: Vec<Vec<u8>> = (0..units)
        .map(|_| (0..coders).map(|_| rng.random_range(0..4u8)).collect())
        .collect();
    let started = Instant::now();
    let (mut items, mut pairs) = (ItemRatings::new(), PairTables::new());
    let (mut values, mut coded) = (Vec::with_capacity(coders), Vec::with_capacity(coders));
    for row in &rows {
        coded.clear();
        coded.extend(row.iter().copied().enumerate());
        pairs.add_unit(&coded);
        values.clear();
        values.extend_from_slice(row);
        items.push_item([values.as_mut_slice()]);
    }
    let profiles = items.profiles();
    let nominal = alpha_of(profiles, Metric::Nominal);
    let ordinal = alpha_of(profiles, Metric::Ordinal);
    let fleiss = fleiss_kappa_of(profiles);
    let percent = percent_agreement_of(profiles);
    let kappas = pairs.kappas(20);
    let point = started.elapsed().as_secs_f64();
    println!(
        "agreement statistics on {units} units x {coders} coders: {point:.3} s, one thread \
         (alpha nominal {nominal:?}, ordinal {ordinal:?}, Fleiss {fleiss:?}, \
         percent {percent:?}, {} Cohen pairs)",
        kappas.len()
    );
    let started = Instant::now();
    let bootstrap = items.bootstrap_fixed(|a, b| f64::from(a != b));
    let interval = alpha_intervals(&[bootstrap], 1000, 1)[0];
    println!(
        "alpha's bootstrap, 1,000 resamples: {:.3} s, one thread ({interval:?})",
        started.elapsed().as_secs_f64()
    );
}
