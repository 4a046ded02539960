//! An OpenAI-compatible chat model as a judge: what a command that asks a
//! model to label items needs, without the asking (no IO here).
//!
//! - [`Template`] (`template`): the prompt, plain text with placeholders,
//!   checked when it is read and rendered into a system and a user message.
//! - [`answer_schema`] (`schema`): the JSON Schema of the answer, for a
//!   server that constrains its output (`response_format`).
//! - [`parse_answer`] (`answer`): the model's text → labels and the scores it
//!   stated, checked by the project's label rules; [`retry_message`] is what
//!   goes back to the model once when the answer is refused.
//! - [`logprob_scores`] (`logprobs`, over the JSON scanner in `spans`): the
//!   probability the model gave to each value it wrote, a better score than
//!   the one it states when the server returns log-probabilities.
//! - [`source_name`]: the suggestion source, model and template version
//!   together, so suggestions of two prompts are never mixed up.
//!
//! The answer is the API's labels object (`crate::labels::Labels`) and the
//! scores of a suggestion (`crate::suggestions::Scores`): checking it is
//! deserialising into those and calling `suggestions::validate`, so the
//! judge follows exactly the rules people's labels follow.

use std::fmt;

use crate::labels::Questions;
use crate::suggestions::{MAX_SOURCE_CHARS, check_source};
use crate::taxonomy::Taxonomy;

mod answer;
mod logprobs;
mod schema;
mod spans;
mod template;

pub use answer::{Answer, AnswerError, parse_answer, retry_message};
pub use logprobs::{Token, logprob_scores};
pub use schema::answer_schema;
pub use template::{ItemText, Messages, Template, TemplateError};

/// What a rendering, the schema and the answer check need to know of the
/// project: K responses per item, its taxonomy, the questions it asks.
#[derive(Debug, Clone, Copy)]
pub struct JudgeContext<'a> {
    pub k: usize,
    pub taxonomy: &'a Taxonomy,
    pub questions: &'a Questions,
}

/// Why an answer was refused, in the few kinds a run counts separately: a
/// model that writes no JSON needs another fix (a schema, a stop sequence)
/// than one that breaks a label rule or invents categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// No JSON object could be read from the text at all.
    NotJson,
    /// A JSON object, but of the wrong shape or breaking a label rule.
    LabelRules,
    /// A harm category the project's taxonomy does not have.
    UnknownCategory,
}

impl FailureKind {
    pub const ALL: [FailureKind; 3] = [
        FailureKind::NotJson,
        FailureKind::LabelRules,
        FailureKind::UnknownCategory,
    ];

    /// The name in logs and run summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::NotJson => "not_json",
            FailureKind::LabelRules => "label_rules",
            FailureKind::UnknownCategory => "unknown_category",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The suggestion source of a model judging with a template:
/// `<model>@<version>`. The version is part of the name because a changed
/// prompt is a different labeller: its suggestions must not be compared or
/// routed as if they came from the old one.
///
/// The model name must fit a source name (`suggestions::check_source`):
/// letters, digits and `.-_:/@+`, short enough that the whole name is at
/// most [`MAX_SOURCE_CHARS`] characters.
pub fn source_name(model: &str, template_version: &str) -> Result<String, String> {
    // The model name is checked on its own first so that the message talks
    // about what the user typed, not about a name they never wrote.
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_:/@+".contains(c);
    let room = MAX_SOURCE_CHARS.saturating_sub(template_version.chars().count() + 1);
    if model.is_empty() {
        return Err("the model name is empty: name the model that labels the items".into());
    }
    if let Some(bad) = model.chars().find(|&c| !allowed(c)) {
        return Err(format!(
            "the model name {model:?} holds {bad:?}, which a suggestion source may not: \
             a source name takes only letters, digits and . - _ : / @ +"
        ));
    }
    let chars = model.chars().count();
    if chars > room {
        return Err(format!(
            "the model name is {chars} characters long; with \"@{template_version}\" after it \
             the source name would pass the {MAX_SOURCE_CHARS}-character limit, so it may be \
             at most {room} characters"
        ));
    }
    let name = format!("{model}@{template_version}");
    check_source(&name)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_the_model_and_the_template_version() {
        assert_eq!(
            source_name("org/beaver-7b", "0123456789ab").unwrap(),
            "org/beaver-7b@0123456789ab"
        );
        let version = Template::default_template().version();
        let name = source_name("gpt-4o-mini", &version).unwrap();
        assert!(check_source(&name).is_ok());
        assert!(name.ends_with(&format!("@{version}")));
    }

    #[test]
    fn a_model_name_a_source_cannot_hold_is_refused_in_words() {
        let spaced = source_name("gpt 4o", "0123456789ab").unwrap_err();
        assert!(spaced.contains("' '"), "{spaced}");
        assert!(spaced.contains("letters, digits"), "{spaced}");
        assert!(
            source_name("", "0123456789ab")
                .unwrap_err()
                .contains("empty")
        );
        // 87 characters fit beside "@" and 12 hex digits; 88 do not.
        assert!(source_name(&"m".repeat(87), "0123456789ab").is_ok());
        let long = source_name(&"m".repeat(88), "0123456789ab").unwrap_err();
        assert!(long.contains("at most 87 characters"), "{long}");
    }

    #[test]
    fn failure_kinds_have_stable_names() {
        let names: Vec<&str> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ["not_json", "label_rules", "unknown_category"]);
    }
}
