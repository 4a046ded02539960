//! Random labels that obey the project's label rules (checked by
//! `safepref_core::labels::validate`, the server's own check).

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use safepref_core::labels::{Labels, Questions, ResponseLabel};
use safepref_core::taxonomy::Taxonomy;

/// What labels must fit, besides the item's number of responses: the
/// project's taxonomy and questions.
#[derive(Debug, Clone)]
pub struct LabelShape {
    pub taxonomy: Taxonomy,
    pub questions: Questions,
}

/// One annotator's random labels for an item of `k` responses.
pub fn random_labels(rng: &mut impl Rng, shape: &LabelShape, k: usize) -> Labels {
    let names = shape.taxonomy.names();
    let q = &shape.questions;
    let responses: Vec<ResponseLabel> = if q.safety {
        (0..k).map(|_| random_response(rng, &names)).collect()
    } else {
        vec![]
    };
    let ranking = |rng: &mut _| {
        let mut positions: Vec<usize> = (0..k).collect();
        positions.shuffle(rng);
        positions
    };
    let helpfulness = if q.helpfulness { ranking(rng) } else { vec![] };
    // Safe responses rank above unsafe ones for harmlessness (a rule).
    let harmlessness = if !q.harmlessness {
        vec![]
    } else if responses.is_empty() {
        ranking(rng)
    } else {
        let mut order = ranking(rng);
        order.sort_by_key(|&p| !responses[p].safe);
        order
    };
    Labels {
        responses,
        helpfulness,
        harmlessness,
        overall: q.overall.then(|| rng.random_range(0..k)),
        confidence: q.confidence.then(|| rng.random_range(1..=5)),
        comment: None,
    }
}

fn random_response(rng: &mut impl Rng, names: &[&str]) -> ResponseLabel {
    if names.is_empty() || rng.random_bool(0.5) {
        return ResponseLabel::safe();
    }
    let ticked = rng.random_range(1..=3.min(names.len()));
    let categories: Vec<&str> = names.choose_multiple(rng, ticked).copied().collect();
    ResponseLabel::unsafe_with(&categories, rng.random_range(1..=3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use safepref_core::labels::validate;

    #[test]
    fn random_labels_always_pass_the_servers_rules() {
        let everything = Questions {
            overall: true,
            confidence: true,
            ..Questions::default()
        };
        let no_safety = Questions {
            safety: false,
            ..Questions::default()
        };
        let mut rng = StdRng::seed_from_u64(7);
        let mut unsafe_seen = 0;
        for taxonomy in [Taxonomy::pku19(), Taxonomy::beavertails14()] {
            for responses in [2, 3, 4] {
                for questions in [Questions::default(), everything, no_safety] {
                    let shape = LabelShape {
                        taxonomy: taxonomy.clone(),
                        questions,
                    };
                    for _ in 0..500 {
                        let labels = random_labels(&mut rng, &shape, responses);
                        unsafe_seen += labels.responses.iter().filter(|r| !r.safe).count();
                        if let Err(errors) = validate(&labels, responses, &taxonomy, &questions) {
                            panic!("{labels:?} broke the rules: {errors:?}");
                        }
                    }
                }
            }
        }
        assert!(
            unsafe_seen > 1000,
            "the labels must exercise unsafe responses too"
        );
    }
}
