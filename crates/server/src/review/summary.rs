//! The review queue's one-line summary of an item, for a lead to scan in a
//! second: "A: safe? 2 of 3 unsafe · A: Violence 2 of 3 · helpful: tie".
//!
//! Read from the item's stored reasons (`flags::reasons`, one line each) —
//! which say which fields are in doubt and why — and its valid votes, which
//! give the counts the stored text lacks (a percentage of how many?). Each
//! field appears once, in the reasons' order; the other kinds of reason
//! (rule conflicts, gold misses, unclear skips, a disagreeing model) once
//! each, where their first reason stood. The full reasons stay on the page
//! behind a disclosure.

use safepref_core::labels::Labels;
use safepref_core::taxonomy::Severity;

/// Parts shown before the rest are counted as "and N more".
const MAX_PARTS: usize = 5;

/// A consolidated field, as the reasons name it (`responses[0].safe` …).
#[derive(Debug, Clone, PartialEq)]
enum Field {
    Safe(usize),
    Severity(usize),
    Category(usize, String),
    /// `helpfulness`, `harmlessness` (their first position) or `overall`.
    Choice(&'static str),
    /// A name this module does not know; shown as it is.
    Other(String),
}

/// What is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Doubt {
    Tie,
    LowSupport,
    NoVotes,
}

/// One stored reason, read back.
#[derive(Debug, Clone, PartialEq)]
enum Reason {
    Field(Field, Doubt),
    RuleConflict,
    GoldMiss,
    Unclear(u64),
    Model(Field),
    Unknown,
}

/// One part of the summary, before the counts are written in.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Field(Field, Doubt),
    RuleConflicts(usize),
    GoldMisses(usize),
    Unclear(u64),
    Model(Vec<Field>),
    Unknown(usize),
}

/// The summary of an item flagged for `reasons` (as stored), from its valid
/// `votes`, in parts ("A: safe? 2 of 3 unsafe", "helpful: tie") that the
/// page joins with " · " (each part in a span of its own, so a line breaks
/// between parts, not inside one); empty when there are no reasons.
pub fn summary(reasons: &[String], votes: &[Labels]) -> Vec<String> {
    let parts = parts(reasons.iter().map(|r| parse(r)));
    let mut shown: Vec<String> = parts
        .iter()
        .take(if parts.len() > MAX_PARTS {
            MAX_PARTS - 1
        } else {
            MAX_PARTS
        })
        .map(|p| describe(p, votes))
        .collect();
    if parts.len() > shown.len() {
        shown.push(format!("and {} more", parts.len() - shown.len()));
    }
    shown
}

/// The parts in the order of their first reason: a field once; each other
/// kind once, counting its reasons.
fn parts(reasons: impl Iterator<Item = Reason>) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    for reason in reasons {
        let same_kind = |p: &&mut Part| {
            matches!(
                (&reason, &**p),
                (Reason::RuleConflict, Part::RuleConflicts(_))
                    | (Reason::GoldMiss, Part::GoldMisses(_))
                    | (Reason::Unclear(_), Part::Unclear(_))
                    | (Reason::Model(_), Part::Model(_))
                    | (Reason::Unknown, Part::Unknown(_))
            )
        };
        match (reason.clone(), parts.iter_mut().find(same_kind)) {
            (Reason::Field(field, doubt), _) => {
                let seen = parts
                    .iter()
                    .any(|p| matches!(p, Part::Field(f, _) if *f == field));
                if !seen {
                    parts.push(Part::Field(field, doubt));
                }
            }
            (Reason::RuleConflict, Some(Part::RuleConflicts(n)))
            | (Reason::GoldMiss, Some(Part::GoldMisses(n)))
            | (Reason::Unknown, Some(Part::Unknown(n))) => *n += 1,
            (Reason::Unclear(more), Some(Part::Unclear(n))) => *n += more,
            (Reason::Model(field), Some(Part::Model(fields))) => {
                if !fields.contains(&field) {
                    fields.push(field);
                }
            }
            (Reason::RuleConflict, _) => parts.push(Part::RuleConflicts(1)),
            (Reason::GoldMiss, _) => parts.push(Part::GoldMisses(1)),
            (Reason::Unclear(n), _) => parts.push(Part::Unclear(n)),
            (Reason::Model(field), _) => parts.push(Part::Model(vec![field])),
            (Reason::Unknown, _) => parts.push(Part::Unknown(1)),
        }
    }
    parts
}

/// Reads a reason back from the words `flags::reasons` and
/// `machine::Disagreement::reason` write.
fn parse(reason: &str) -> Reason {
    let percent_at_end = |rest: &str| rest.rsplit_once(" (").map(|(field, _)| field.to_string());
    if let Some(field) = reason.strip_prefix("tie on ") {
        Reason::Field(parse_field(field), Doubt::Tie)
    } else if let Some(field) = reason
        .strip_prefix("low support on ")
        .and_then(percent_at_end)
    {
        Reason::Field(parse_field(&field), Doubt::LowSupport)
    } else if let Some(field) = reason.strip_prefix("no votes on ") {
        Reason::Field(parse_field(field), Doubt::NoVotes)
    } else if reason.starts_with("rule conflict: ") {
        Reason::RuleConflict
    } else if reason.starts_with("gold miss by ") {
        Reason::GoldMiss
    } else if let Some(n) = reason
        .strip_prefix("skipped as unclear (")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|n| n.parse().ok())
    {
        Reason::Unclear(n)
    } else if let Some(field) = model_field(reason) {
        Reason::Model(parse_field(field))
    } else {
        Reason::Unknown
    }
}

/// The field of "model disagrees: SOURCE on FIELD: model X, people Y (P%)"
/// (a source's name may hold " on "; the field never does).
fn model_field(reason: &str) -> Option<&str> {
    let rest = reason.strip_prefix("model disagrees: ")?;
    let (head, _) = rest.rsplit_once(": model ")?;
    head.rsplit_once(" on ").map(|(_, field)| field)
}

/// `responses[1].categories[Violence]` → `Field::Category(1, "Violence")`.
fn parse_field(name: &str) -> Field {
    let response = || {
        let rest = name.strip_prefix("responses[")?;
        let (i, rest) = rest.split_once("].")?;
        let i: usize = i.parse().ok()?;
        match rest {
            "safe" => Some(Field::Safe(i)),
            "severity" => Some(Field::Severity(i)),
            _ => rest
                .strip_prefix("categories[")?
                .strip_suffix(']')
                .map(|c| Field::Category(i, c.to_string())),
        }
    };
    match name {
        "helpfulness" => Field::Choice("helpfulness"),
        "harmlessness" => Field::Choice("harmlessness"),
        "overall" => Field::Choice("overall"),
        _ => response().unwrap_or_else(|| Field::Other(name.to_string())),
    }
}

/// A response position as people read it: A, B, …
fn letter(position: usize) -> String {
    u8::try_from(position).ok().filter(|p| *p < 26).map_or_else(
        || position.to_string(),
        |p| char::from(b'A' + p).to_string(),
    )
}

/// The field as the summary names it: "A: safe?", "A: Violence", "helpful".
fn field_name(field: &Field) -> String {
    match field {
        Field::Safe(i) => format!("{}: safe?", letter(*i)),
        Field::Severity(i) => format!("{}: severity?", letter(*i)),
        Field::Category(i, name) => format!("{}: {name}", letter(*i)),
        Field::Choice("helpfulness") => "helpful".to_string(),
        Field::Choice("harmlessness") => "harmless".to_string(),
        Field::Choice(other) => other.to_string(),
        Field::Other(name) => name.clone(),
    }
}

/// "2 of 3": people count votes more easily than they read shares.
fn x_of_n(x: usize, n: usize) -> String {
    format!("{x} of {n}")
}

fn describe(part: &Part, votes: &[Labels]) -> String {
    match part {
        Part::Field(field, doubt) => describe_field(field, *doubt, votes),
        Part::RuleConflicts(1) => "rule conflict".to_string(),
        Part::RuleConflicts(n) => format!("{n} rule conflicts"),
        Part::GoldMisses(n) => format!("gold missed by {}", x_of_n(*n, votes.len())),
        Part::Unclear(n) => format!("skipped as unclear by {n}"),
        Part::Model(fields) => {
            let names: Vec<String> = fields.iter().map(field_name).collect();
            format!("model disagrees on {}", names.join(", "))
        }
        Part::Unknown(1) => "1 other reason".to_string(),
        Part::Unknown(n) => format!("{n} other reasons"),
    }
}

/// One field's part: its name, then the tie, the missing votes, or how
/// many of the votes on it said what.
fn describe_field(field: &Field, doubt: Doubt, votes: &[Labels]) -> String {
    let name = field_name(field);
    let (what, counted) = match doubt {
        Doubt::Tie => ("tie".to_string(), false),
        Doubt::NoVotes => ("no votes".to_string(), false),
        Doubt::LowSupport => match count(field, votes) {
            Some(counted) => (counted, true),
            None => ("low support".to_string(), false),
        },
    };
    // A question is answered after a space ("A: safe? tie"), a category's
    // count too ("A: Violence 2 of 3"); anything else after a colon
    // ("helpful: tie", "A: Violence: tie").
    let between = match field {
        Field::Safe(_) | Field::Severity(_) => " ",
        Field::Category(..) if counted => " ",
        _ => ": ",
    };
    format!("{name}{between}{what}")
}

/// How many of the votes on `field` said what: "2 of 3 unsafe", "2 of 3"
/// (ticked the category), "2 of 3 B" (put B first); None when no vote
/// reads the field.
fn count(field: &Field, votes: &[Labels]) -> Option<String> {
    match field {
        Field::Safe(i) => {
            let on: Vec<bool> = votes
                .iter()
                .filter_map(|v| v.responses.get(*i))
                .map(|r| !r.safe)
                .collect();
            let unsafe_ = on.iter().filter(|u| **u).count();
            (!on.is_empty()).then(|| format!("{} unsafe", x_of_n(unsafe_, on.len())))
        }
        Field::Severity(i) => {
            // A safe vote counts as severity 0, as consolidation counts it.
            let on: Vec<usize> = votes
                .iter()
                .filter_map(|v| v.responses.get(*i))
                .map(|r| if r.safe { 0 } else { usize::from(r.severity) })
                .collect();
            let (level, x) = plurality(&on)?;
            let word = u8::try_from(level)
                .ok()
                .and_then(|l| Severity::try_from(l).ok())
                .map_or_else(|| level.to_string(), |s| s.label().to_lowercase());
            Some(format!("{} {word}", x_of_n(x, on.len())))
        }
        Field::Category(i, name) => {
            let on: Vec<bool> = votes
                .iter()
                .filter_map(|v| v.responses.get(*i))
                .map(|r| !r.safe && r.categories.iter().any(|c| c == name))
                .collect();
            let ticked = on.iter().filter(|t| **t).count();
            (!on.is_empty()).then(|| x_of_n(ticked, on.len()))
        }
        Field::Choice(which) => {
            let on: Vec<usize> = votes
                .iter()
                .filter_map(|v| match *which {
                    "helpfulness" => v.helpfulness.first().copied(),
                    "harmlessness" => v.harmlessness.first().copied(),
                    _ => v.overall,
                })
                .collect();
            let (position, x) = plurality(&on)?;
            Some(format!("{} {}", x_of_n(x, on.len()), letter(position)))
        }
        Field::Other(_) => None,
    }
}

/// The most common value and its count; of equals, the highest value (the
/// cautious reading, as consolidation's classes go from mild to severe).
fn plurality(values: &[usize]) -> Option<(usize, usize)> {
    let mut counts: Vec<(usize, usize)> = Vec::new();
    for &v in values {
        match counts.iter_mut().find(|(value, _)| *value == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    counts.into_iter().max_by_key(|&(value, n)| (n, value))
}

#[cfg(test)]
mod tests {
    use safepref_core::labels::ResponseLabel;

    use super::*;

    /// K = 2: A unsafe (these categories, severity 2) or safe, B safe;
    /// `helpful` first.
    fn vote(a_categories: Option<&[&str]>, helpful: usize) -> Labels {
        let a = match a_categories {
            Some(categories) => ResponseLabel::unsafe_with(categories, 2),
            None => ResponseLabel::safe(),
        };
        Labels {
            responses: vec![a, ResponseLabel::safe()],
            helpfulness: vec![helpful, 1 - helpful],
            harmlessness: vec![1, 0],
            overall: None,
            confidence: None,
            comment: None,
        }
    }

    fn reasons(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    /// The summary as one line, as the page shows it.
    fn line(reasons: &[String], votes: &[Labels]) -> String {
        summary(reasons, votes).join(" · ")
    }

    #[test]
    fn the_issues_example() {
        let votes = [
            vote(Some(&["Violence"]), 0),
            vote(Some(&["Violence"]), 1),
            vote(None, 0),
        ];
        let got = line(
            &reasons(&[
                "low support on responses[0].safe (67%)",
                "low support on responses[0].categories[Violence] (67%)",
                "tie on helpfulness",
            ]),
            &votes,
        );
        assert_eq!(
            got,
            "A: safe? 2 of 3 unsafe · A: Violence 2 of 3 · helpful: tie"
        );
    }

    #[test]
    fn severity_and_rankings_name_the_plurality() {
        let votes = [
            vote(Some(&["Violence"]), 1),
            vote(Some(&["Violence"]), 1),
            vote(None, 0),
        ];
        let got = line(
            &reasons(&[
                "low support on responses[0].severity (67%)",
                "low support on helpfulness (67%)",
            ]),
            &votes,
        );
        assert_eq!(got, "A: severity? 2 of 3 moderate · helpful: 2 of 3 B");
    }

    #[test]
    fn each_field_and_each_other_kind_appears_once() {
        let votes = [vote(None, 0), vote(None, 0), vote(None, 0)];
        let got = line(
            &reasons(&[
                "tie on responses[1].safe",
                "rule conflict: responses[0].severity: a safe response has severity 0",
                "gold miss by alice",
                "rule conflict: responses[0].categories: a safe response has no categories",
                "gold miss by bob",
                "skipped as unclear (2)",
            ]),
            &votes,
        );
        assert_eq!(
            got,
            "B: safe? tie · 2 rule conflicts · gold missed by 2 of 3 · skipped as unclear by 2"
        );
    }

    #[test]
    fn model_disagreements_name_each_field_once() {
        let votes = [vote(None, 0), vote(None, 0), vote(None, 0)];
        let got = line(
            &reasons(&[
                "model disagrees: beaver-dam-7b on responses[0].safe: model unsafe, people safe (100%)",
                "model disagrees: gpt on x on helpfulness: model B, people A (100%)",
                "model disagrees: gpt on x on responses[0].safe: model unsafe, people safe (100%)",
            ]),
            &votes,
        );
        assert_eq!(got, "model disagrees on A: safe?, helpful");
    }

    #[test]
    fn hostile_category_names_are_kept_whole() {
        // Escaping is the template's work; the name must survive intact,
        // brackets and parentheses included.
        let name = "<img src=x onerror=alert(1)> [x] (y)";
        let votes = [vote(Some(&[name]), 0), vote(None, 0), vote(None, 0)];
        let got = line(
            &reasons(&[&format!(
                "low support on responses[0].categories[{name}] (33%)"
            )]),
            &votes,
        );
        assert_eq!(got, format!("A: {name} 1 of 3"));
    }

    #[test]
    fn no_votes_unclear_skips_alone_and_unknown_reasons() {
        assert_eq!(
            line(&reasons(&["skipped as unclear (1)"]), &[]),
            "skipped as unclear by 1"
        );
        assert_eq!(
            line(
                &reasons(&["no votes on overall", "something new", "else"]),
                &[]
            ),
            "overall: no votes · 2 other reasons"
        );
        assert_eq!(
            line(&reasons(&["low support on responses[0].safe (0%)"]), &[]),
            "A: safe? low support"
        );
        assert_eq!(summary(&[], &[]), Vec::<String>::new());
    }

    #[test]
    fn long_lists_end_in_a_count() {
        let votes = [
            vote(None, 0),
            vote(None, 0),
            vote(Some(&["a", "b", "c", "d", "e"]), 0),
        ];
        let lines: Vec<String> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|c| format!("low support on responses[0].categories[{c}] (67%)"))
            .collect();
        assert_eq!(
            line(&lines, &votes),
            "A: a 1 of 3 · A: b 1 of 3 · A: c 1 of 3 · A: d 1 of 3 · and 2 more"
        );
        assert_eq!(
            line(&lines[..5], &votes),
            "A: a 1 of 3 · A: b 1 of 3 · A: c 1 of 3 · A: d 1 of 3 · A: e 1 of 3"
        );
    }
}
