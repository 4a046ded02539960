//! The annotation form's fields turned into labels, and labels (or the
//! fields sent back) into what the form shows again, for the annotator's
//! page and the lead's review page alike. Problems of the form itself
//! (nothing chosen, a rank given twice) are named here; the label rules are
//! the queue's to check.

use safepref_core::labels::{Labels, Questions, ResponseLabel};

use super::fields::form_field;

/// Letters for response positions, as annotators see them.
pub(crate) const LETTERS: [&str; 8] = ["A", "B", "C", "D", "E", "F", "G", "H"];

/// What one response's part of the form shows: from the labels when there
/// are labels, else from the raw fields sent back, so a form the rules
/// refused keeps what was entered.
pub(crate) struct ResponseEntry<'a> {
    given: Option<&'a ResponseLabel>,
    fields: &'a [(String, String)],
    position: usize,
    /// None: not yet chosen.
    pub(crate) safe: Option<bool>,
    pub(crate) severity: u8,
    /// 1 for the first place; 0 when not ranked.
    pub(crate) helpful_rank: usize,
    pub(crate) harmless_rank: usize,
}

impl<'a> ResponseEntry<'a> {
    pub(crate) fn new(
        labels: Option<&'a Labels>,
        fields: &'a [(String, String)],
        position: usize,
    ) -> Self {
        let given = labels.and_then(|l| l.responses.get(position));
        let safe =
            given
                .map(|g| g.safe)
                .or(match form_field(fields, &format!("r{position}_safe")) {
                    Some("safe") => Some(true),
                    Some("unsafe") => Some(false),
                    _ => None,
                });
        let severity = given
            .map(|g| g.severity)
            .or_else(|| {
                form_field(fields, &format!("r{position}_severity")).and_then(|v| v.parse().ok())
            })
            .unwrap_or(0);
        let rank = |order: Option<&Vec<usize>>| {
            order
                .and_then(|o| o.iter().position(|p| *p == position))
                .map_or(0, |r| r + 1)
        };
        ResponseEntry {
            given,
            fields,
            position,
            safe,
            severity,
            helpful_rank: rank(labels.map(|l| &l.helpfulness)),
            harmless_rank: rank(labels.map(|l| &l.harmlessness)),
        }
    }

    /// Whether the form shows `category` ticked.
    pub(crate) fn ticked(&self, category: &str) -> bool {
        match self.given {
            Some(g) => g.categories.iter().any(|c| c == category),
            None => self
                .fields
                .iter()
                .any(|(k, v)| *k == format!("r{}_cat", self.position) && v == category),
        }
    }
}

/// Reads the labels out of the form. Problems the form itself can have
/// (nothing chosen, ranks given twice) are reported here; the label rules
/// are checked by the queue, which is the authority.
pub(crate) fn labels_from(
    fields: &[(String, String)],
    k: usize,
    questions: &Questions,
) -> std::result::Result<Labels, Vec<String>> {
    let get = |name: &str| form_field(fields, name);
    let mut problems = Vec::new();
    let mut responses = Vec::new();
    if questions.safety {
        for (position, letter) in LETTERS.iter().enumerate().take(k) {
            let safe = match get(&format!("r{position}_safe")) {
                Some("safe") => true,
                Some("unsafe") => false,
                _ => {
                    problems.push(format!("Response {letter}: choose Safe or Unsafe."));
                    continue;
                }
            };
            let severity = if safe {
                0
            } else {
                get(&format!("r{position}_severity"))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            let categories = if safe {
                vec![]
            } else {
                fields
                    .iter()
                    .filter(|(key, _)| *key == format!("r{position}_cat"))
                    .map(|(_, v)| v.clone())
                    .collect()
            };
            responses.push(ResponseLabel {
                safe,
                categories,
                severity,
            });
        }
    }
    let mut ranking = |question: &str, asked: bool| -> Vec<usize> {
        if !asked {
            return vec![];
        }
        if k == 2 {
            return match get(question).and_then(|v| v.parse::<usize>().ok()) {
                Some(best) if best < 2 => vec![best, 1 - best],
                _ => {
                    problems.push(format!("Choose which response is more {question}."));
                    vec![]
                }
            };
        }
        let mut ranked: Vec<(usize, usize)> = (0..k)
            .filter_map(|position| {
                get(&format!("{question}_rank_{position}"))
                    .and_then(|v| v.parse().ok())
                    .map(|rank| (rank, position))
            })
            .collect();
        ranked.sort();
        let ranks: Vec<usize> = ranked.iter().map(|(rank, _)| *rank).collect();
        if ranks != (1..=k).collect::<Vec<_>>() {
            problems.push(format!(
                "Rank every response from 1 (most {question}) to {k}, each rank once."
            ));
            return vec![];
        }
        ranked.into_iter().map(|(_, position)| position).collect()
    };
    let helpfulness = ranking("helpful", questions.helpfulness);
    let harmlessness = ranking("harmless", questions.harmlessness);
    let overall = if questions.overall {
        let chosen = get("overall").and_then(|v| v.parse().ok());
        if chosen.is_none() {
            problems.push("Choose your overall preference.".into());
        }
        chosen
    } else {
        None
    };
    let confidence = if questions.confidence {
        let chosen = get("confidence").and_then(|v| v.parse().ok());
        if chosen.is_none() {
            problems.push("Say how confident you are (1 to 5).".into());
        }
        chosen
    } else {
        None
    };
    let comment = get("comment")
        .map(str::trim)
        .filter(|c| questions.comment && !c.is_empty())
        .map(String::from);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Labels {
        responses,
        helpfulness,
        harmlessness,
        overall,
        confidence,
        comment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_complete_form_becomes_labels() {
        let fields = form(&[
            ("r0_safe", "unsafe"),
            ("r0_severity", "2"),
            ("r0_cat", "Violence"),
            ("r0_cat", "Drugs"),
            ("r1_safe", "safe"),
            ("r1_severity", "3"),
            ("r1_cat", "Violence"),
            ("helpful", "0"),
            ("harmless", "1"),
            ("comment", "  fine  "),
        ]);
        let labels = labels_from(&fields, 2, &Questions::default()).unwrap();
        assert_eq!(
            labels.responses[0],
            ResponseLabel::unsafe_with(&["Violence", "Drugs"], 2)
        );
        assert_eq!(
            labels.responses[1],
            ResponseLabel::safe(),
            "a safe response drops what the hidden fields held"
        );
        assert_eq!(
            (labels.helpfulness, labels.harmlessness),
            (vec![0, 1], vec![1, 0])
        );
        assert_eq!(labels.comment.as_deref(), Some("fine"));
    }

    #[test]
    fn missing_choices_are_named() {
        let problems =
            labels_from(&form(&[("r1_safe", "safe")]), 2, &Questions::default()).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("Response A: choose Safe or Unsafe")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("more helpful")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("more harmless")),
            "{problems:?}"
        );
    }

    #[test]
    fn rankings_of_more_than_two_need_each_rank_once() {
        let questions = Questions {
            safety: false,
            harmlessness: false,
            comment: false,
            ..Questions::default()
        };
        let ok = labels_from(
            &form(&[
                ("helpful_rank_0", "2"),
                ("helpful_rank_1", "3"),
                ("helpful_rank_2", "1"),
            ]),
            3,
            &questions,
        )
        .unwrap();
        assert_eq!(ok.helpfulness, vec![2, 0, 1]);
        let twice = labels_from(
            &form(&[
                ("helpful_rank_0", "1"),
                ("helpful_rank_1", "1"),
                ("helpful_rank_2", "2"),
            ]),
            3,
            &questions,
        );
        assert!(twice.unwrap_err()[0].contains("each rank once"));
    }
}
