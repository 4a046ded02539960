//! Labels and items for the consolidation tests, made by hand and at
//! random.

use std::collections::HashMap;

use super::majority::TieRule;
use super::{Consolidated, ItemAnnotations, Method, consolidate};
use crate::labels::{self, Labels, Questions, ResponseLabel};
use crate::rng::SplitMix64 as Rng;
use crate::taxonomy::Taxonomy;

/// Labels with these responses and rankings; no overall, confidence or
/// comment.
pub fn lab(responses: Vec<ResponseLabel>, helpful: &[usize], harmless: &[usize]) -> Labels {
    Labels {
        responses,
        helpfulness: helpful.to_vec(),
        harmlessness: harmless.to_vec(),
        overall: None,
        confidence: None,
        comment: None,
    }
}

/// An item voted on by annotators 0, 1, … in the order of `labels`.
pub fn item(item: usize, labels: &[Labels]) -> ItemAnnotations<'_> {
    ItemAnnotations {
        item,
        votes: labels.iter().enumerate().collect(),
    }
}

/// [`consolidate`] with the PKU-SafeRLHF taxonomy, the default questions,
/// no minimum support and no adjudication.
pub fn run(items: &[ItemAnnotations], k: usize, method: Method, tie: TieRule) -> Vec<Consolidated> {
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

/// Asserts that labels obey the label rules.
pub fn valid(l: &Labels, k: usize) {
    labels::validate(l, k, &Taxonomy::pku19(), &Questions::default()).unwrap();
}

/// A valid random label for K = 2.
pub fn random_labels(rng: &mut Rng) -> Labels {
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

/// Random annotations for the property tests: `n` items, 2–4 of the
/// annotators 0..6 each, mostly valid labels, now and then a malformed
/// vote.
pub fn random_set(rng: &mut Rng, n: usize) -> Vec<Vec<(usize, Labels)>> {
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

/// Items numbered by their place in `set`.
pub fn as_items(set: &[Vec<(usize, Labels)>]) -> Vec<ItemAnnotations<'_>> {
    set.iter()
        .enumerate()
        .map(|(i, v)| ItemAnnotations {
            item: i,
            votes: v.iter().map(|(a, l)| (*a, l)).collect(),
        })
        .collect()
}
