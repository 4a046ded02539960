//! `safepref-loadgen stats-bench`: times the agreement report's figures over
//! synthetic annotations — N items × 3 annotators by default, labels that
//! agree most of the time and obey the label rules — in one thread.

use std::collections::HashMap;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use safepref_core::consolidate::TieRule;
use safepref_core::consolidated::{self, ItemAnnotations, Method};
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
        let records = consolidated::consolidate(
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
}
