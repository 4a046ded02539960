//! Per-annotator figures: work done, leave-one-out agreement with the
//! others, gold accuracy, median time, skip rate, and the low-effort flag
//! with its evidence.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Activity;

/// Per annotator figures.
pub(super) fn people(
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

/// Leave-one-out agreement on one unit of a nominal question: for each
/// annotator, whether their value equals the strict majority of the other
/// annotators' values (a tie or nobody else: not counted). Adds to
/// `(agreeing, counted)` per annotator.
pub(super) fn leave_one_out(unit: &[(usize, u8)], counts: &mut [(usize, usize)]) {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::rng::SplitMix64;

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
