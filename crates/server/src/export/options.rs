//! What an export is asked for: format, encoding, filters, method. The same
//! options come from the command line, the admin page's form and the API's
//! query string ([`Options::from_pairs`] reads the last two), and go into the
//! manifest as they were used.

use safepref_core::consolidation::Method;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Encoding, ExportError};
use crate::db::export::Scope;
use crate::db::projects::Project;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Format {
    #[serde(rename = "pku")]
    Pku,
    #[serde(rename = "dpo-helpful")]
    DpoHelpful,
    #[serde(rename = "dpo-harmless")]
    DpoHarmless,
    #[serde(rename = "raw")]
    Raw,
    #[serde(rename = "safe-rlhf")]
    SafeRlhf,
    #[serde(rename = "raw-suggestions")]
    RawSuggestions,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Pku,
        Format::DpoHelpful,
        Format::DpoHarmless,
        Format::Raw,
        Format::SafeRlhf,
        Format::RawSuggestions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Pku => "pku",
            Format::DpoHelpful => "dpo-helpful",
            Format::DpoHarmless => "dpo-harmless",
            Format::Raw => "raw",
            Format::SafeRlhf => "safe-rlhf",
            Format::RawSuggestions => "raw-suggestions",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The output files' names without extension: one file, or safe-rlhf's
    /// train and test splits (a directory).
    pub fn outputs(self) -> &'static [&'static str] {
        match self {
            Format::SafeRlhf => &["train", "test"],
            Format::Pku => &["pku"],
            Format::DpoHelpful => &["dpo-helpful"],
            Format::DpoHarmless => &["dpo-harmless"],
            Format::Raw => &["raw"],
            Format::RawSuggestions => &["raw-suggestions"],
        }
    }

    /// Whether the format holds consolidated labels (the others list what
    /// was given: annotations, suggestions).
    pub fn is_consolidated(self) -> bool {
        !matches!(self, Format::Raw | Format::RawSuggestions)
    }

    /// Whether the export is a directory (several files and a dataset card).
    pub fn is_directory(self) -> bool {
        self.outputs().len() > 1
    }
}

pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::Majority => "majority",
        Method::DawidSkene => "dawid-skene",
    }
}

pub fn parse_method(s: &str) -> Option<Method> {
    match s {
        "majority" => Some(Method::Majority),
        "dawid-skene" => Some(Method::DawidSkene),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub format: Format,
    pub encoding: Encoding,
    /// Batch numbers; empty = every batch.
    pub batches: Vec<i32>,
    /// Only items that reached k annotations (or were adjudicated).
    pub complete_only: bool,
    /// Leave out items whose weakest consolidated field has less support.
    pub min_support: Option<f64>,
    pub adjudicated_only: bool,
    pub exclude_gold: bool,
    pub method: Method,
    /// `raw` only: usernames instead of pseudonyms.
    pub with_usernames: bool,
    /// `safe-rlhf` only: the share of prompts in test.jsonl.
    pub test_ratio: f64,
    /// Dawid–Skene only: a suggestion source counted as one more annotator
    /// (`None`: people only, the default).
    pub ds_source: Option<String>,
    /// Consolidated formats: a `suggestions` column after the format's own.
    pub with_suggestions: bool,
    /// CSV only: text cells a spreadsheet would take for a formula get a
    /// leading `'` (off by default, so the data round-trips).
    pub csv_safe: bool,
}

impl Options {
    pub fn new(format: Format) -> Self {
        Options {
            format,
            encoding: Encoding::Jsonl,
            batches: Vec::new(),
            complete_only: false,
            min_support: None,
            adjudicated_only: false,
            exclude_gold: false,
            method: Method::Majority,
            with_usernames: false,
            test_ratio: 0.1,
            ds_source: None,
            with_suggestions: false,
            csv_safe: false,
        }
    }

    /// Reads options from `name=value` pairs (a query string or a form):
    /// `format` (required), `encoding`, `batch` (repeatable), `complete_only`,
    /// `min_support`, `adjudicated_only`, `exclude_gold`, `method`,
    /// `with_usernames`, `test_ratio`, `ds_source`, `with_suggestions`,
    /// `csv_safe`;
    /// `split` is left to the caller. An
    /// unknown name or a bad value is an error that says which.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, ExportError> {
        let bad = |name: &str, value: &str, want: &str| {
            ExportError::BadOptions(format!("{name}: {value:?} is not {want}"))
        };
        let format = pairs.iter().find(|(k, _)| k == "format").ok_or_else(|| {
            ExportError::BadOptions(format!(
                "format is required: one of {}",
                names(Format::ALL.map(Format::name))
            ))
        })?;
        let mut options = Options::new(Format::parse(&format.1).ok_or_else(|| {
            bad(
                "format",
                &format.1,
                &format!("one of {}", names(Format::ALL.map(Format::name))),
            )
        })?);
        for (name, value) in pairs {
            let flag = || parse_bool(value).ok_or_else(|| bad(name, value, "true or false"));
            match name.as_str() {
                "format" | "split" | "csrf_token" => {}
                "encoding" if value.is_empty() => {}
                "encoding" => {
                    options.encoding = Encoding::parse(value).ok_or_else(|| {
                        bad(
                            name,
                            value,
                            &format!("one of {}", names(Encoding::ALL.map(Encoding::name))),
                        )
                    })?
                }
                "batch" if value.is_empty() => {}
                "batch" => options.batches.push(
                    value
                        .parse()
                        .map_err(|_| bad(name, value, "a batch number"))?,
                ),
                "complete_only" => options.complete_only = flag()?,
                "adjudicated_only" => options.adjudicated_only = flag()?,
                "exclude_gold" => options.exclude_gold = flag()?,
                "with_usernames" => options.with_usernames = flag()?,
                "with_suggestions" => options.with_suggestions = flag()?,
                "csv_safe" => options.csv_safe = flag()?,
                "ds_source" if value.is_empty() => options.ds_source = None,
                "ds_source" => options.ds_source = Some(value.clone()),
                "min_support" if value.is_empty() => {}
                "min_support" => {
                    options.min_support =
                        Some(value.parse().map_err(|_| bad(name, value, "a number"))?)
                }
                "method" => {
                    options.method = parse_method(value)
                        .ok_or_else(|| bad(name, value, "majority or dawid-skene"))?
                }
                "test_ratio" if value.is_empty() => {}
                "test_ratio" => {
                    options.test_ratio = value.parse().map_err(|_| bad(name, value, "a number"))?
                }
                other => {
                    return Err(ExportError::BadOptions(format!(
                        "{other} is not an export option"
                    )));
                }
            }
        }
        options.batches.sort_unstable();
        options.batches.dedup();
        Ok(options)
    }

    /// Refuses options that make no sense for this project.
    pub fn check(&self, project: &Project) -> Result<(), ExportError> {
        let bad = |m: String| Err(ExportError::BadOptions(m));
        let q = project.questions;
        let k = project.responses_per_item;
        if matches!(self.format, Format::Pku | Format::SafeRlhf) {
            if k != 2 {
                return bad(format!(
                    "format {}: the PKU-SafeRLHF record has two responses, but project {:?} has {k} per item",
                    self.format.name(),
                    project.name
                ));
            }
            if !(q.safety && q.helpfulness && q.harmlessness) {
                return bad(format!(
                    "format {}: the PKU-SafeRLHF record needs the safety, helpfulness and harmlessness questions, and project {:?} does not ask them all",
                    self.format.name(),
                    project.name
                ));
            }
        }
        if (self.format == Format::DpoHelpful && !q.helpfulness)
            || (self.format == Format::DpoHarmless && !q.harmlessness)
        {
            return bad(format!(
                "format {}: project {:?} does not ask that ranking",
                self.format.name(),
                project.name
            ));
        }
        if self.min_support.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
            return bad("min_support must be between 0 and 1".into());
        }
        if !(0.0..=1.0).contains(&self.test_ratio) {
            return bad("test_ratio must be between 0 and 1".into());
        }
        if self.with_usernames && self.format != Format::Raw {
            return bad("with_usernames applies to the raw format only".into());
        }
        if self.csv_safe && self.encoding != Encoding::Csv {
            return bad(format!(
                "csv_safe applies to the csv encoding only, not {}",
                self.encoding.name()
            ));
        }
        self.check_suggestions()
    }

    /// The suggestion options: a source for Dawid–Skene only, suggestions
    /// beside consolidated labels only.
    fn check_suggestions(&self) -> Result<(), ExportError> {
        let bad = |m: String| Err(ExportError::BadOptions(m));
        if self.with_suggestions && !self.format.is_consolidated() {
            return bad(format!(
                "with_suggestions adds a column to consolidated records (pku, dpo-helpful, dpo-harmless, safe-rlhf), not to format {}{}",
                self.format.name(),
                if self.format == Format::Raw {
                    ": format raw-suggestions lists the suggestions"
                } else {
                    ""
                }
            ));
        }
        let Some(source) = &self.ds_source else {
            return Ok(());
        };
        if let Err(message) = safepref_core::suggestions::check_source(source) {
            return bad(format!("ds_source: {message}"));
        }
        if !self.format.is_consolidated() {
            return bad(format!(
                "ds_source: format {} is not consolidated, so no source can be counted in it",
                self.format.name()
            ));
        }
        if self.method != Method::DawidSkene {
            return bad(format!(
                "ds_source {source:?} needs method dawid-skene: it counts the source as one more annotator whose reliability Dawid–Skene estimates; majority vote counts people only"
            ));
        }
        Ok(())
    }

    pub fn scope(&self, project_id: Uuid) -> Scope {
        Scope {
            project_id,
            batches: self.batches.clone(),
            complete_only: self.complete_only,
            adjudicated_only: self.adjudicated_only,
            exclude_gold: self.exclude_gold,
        }
    }

    /// File names of the outputs, with extension.
    pub fn file_names(&self) -> Vec<String> {
        self.format
            .outputs()
            .iter()
            .map(|stem| format!("{stem}.{}", self.encoding.extension()))
            .collect()
    }

    /// The options as the manifest records them.
    pub fn to_json(&self) -> Value {
        json!({
            "format": self.format.name(),
            "encoding": self.encoding.name(),
            "method": method_name(self.method),
            "batches": self.batches,
            "complete_only": self.complete_only,
            "min_support": self.min_support,
            "adjudicated_only": self.adjudicated_only,
            "exclude_gold": self.exclude_gold,
            "with_usernames": self.with_usernames,
            "test_ratio": (self.format == Format::SafeRlhf).then_some(self.test_ratio),
            "ds_source": self.ds_source,
            "with_suggestions": self.with_suggestions,
            "csv_safe": self.csv_safe,
        })
    }

    /// The options as name=value pairs again (for a job, or a link).
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = vec![
            ("format".to_string(), self.format.name().to_string()),
            ("encoding".into(), self.encoding.name().into()),
            ("method".into(), method_name(self.method).into()),
            ("complete_only".into(), self.complete_only.to_string()),
            ("adjudicated_only".into(), self.adjudicated_only.to_string()),
            ("exclude_gold".into(), self.exclude_gold.to_string()),
            ("with_usernames".into(), self.with_usernames.to_string()),
            ("test_ratio".into(), self.test_ratio.to_string()),
        ];
        pairs.extend(self.batches.iter().map(|b| ("batch".into(), b.to_string())));
        pairs.extend(
            self.min_support
                .map(|s| ("min_support".into(), s.to_string())),
        );
        pairs.extend(self.ds_source.clone().map(|s| ("ds_source".into(), s)));
        if self.with_suggestions {
            pairs.push(("with_suggestions".into(), "true".into()));
        }
        if self.csv_safe {
            pairs.push(("csv_safe".into(), "true".into()));
        }
        pairs
    }

    /// The output's columns: the format's, then `suggestions` when asked.
    pub fn columns(&self) -> Vec<safepref_core::export::Column> {
        let mut columns = self.format.columns();
        if self.with_suggestions {
            columns.push(safepref_core::export::suggestions_column());
        }
        columns
    }
}

/// Form checkboxes send "on"; query strings "true"/"1".
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" | "1" | "on" | "yes" => Some(true),
        "false" | "0" | "off" | "no" | "" => Some(false),
        _ => None,
    }
}

fn names<const N: usize>(names: [&str; N]) -> String {
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &[(&str, &str)]) -> Vec<(String, String)> {
        s.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_round_trip_through_pairs() {
        let o = Options::from_pairs(&pairs(&[
            ("format", "safe-rlhf"),
            ("encoding", "parquet"),
            ("batch", "2"),
            ("batch", "1"),
            ("complete_only", "on"),
            ("min_support", "0.6"),
            ("method", "dawid-skene"),
            ("test_ratio", "0.2"),
        ]))
        .unwrap();
        assert_eq!(o.batches, vec![1, 2]);
        assert!(o.complete_only && !o.exclude_gold);
        assert_eq!(o.min_support, Some(0.6));
        assert_eq!(o.method, Method::DawidSkene);
        assert_eq!(o.file_names(), vec!["train.parquet", "test.parquet"]);
        assert_eq!(Options::from_pairs(&o.to_pairs()).unwrap(), o);
    }

    #[test]
    fn bad_options_say_which() {
        let err = |s: &[(&str, &str)]| Options::from_pairs(&pairs(s)).unwrap_err().to_string();
        assert!(err(&[]).contains("format is required"));
        assert!(err(&[("format", "xml")]).contains("format: \"xml\" is not one of pku"));
        assert!(err(&[("format", "pku"), ("batch", "x")]).contains("batch: \"x\""));
        assert!(err(&[("format", "pku"), ("method", "vote")]).contains("majority or dawid-skene"));
        assert!(
            err(&[("format", "pku"), ("colour", "red")]).contains("colour is not an export option")
        );
    }

    #[test]
    fn suggestion_options_round_trip_and_are_checked() {
        let o = Options::from_pairs(&pairs(&[
            ("format", "pku"),
            ("method", "dawid-skene"),
            ("ds_source", "beaver-dam-7b"),
            ("with_suggestions", "on"),
        ]))
        .unwrap();
        assert_eq!(o.ds_source.as_deref(), Some("beaver-dam-7b"));
        assert!(o.with_suggestions);
        assert_eq!(Options::from_pairs(&o.to_pairs()).unwrap(), o);
        assert_eq!(o.to_json()["ds_source"], "beaver-dam-7b");
        assert_eq!(o.columns().last().unwrap().name, "suggestions");
        assert_eq!(o.columns().len(), o.format.columns().len() + 1);
        // Empty from a form: no source.
        let none = Options::from_pairs(&pairs(&[("format", "pku"), ("ds_source", "")])).unwrap();
        assert_eq!(none.ds_source, None);
        assert_eq!(none.to_json()["ds_source"], Value::Null);
        assert_eq!(none.columns(), none.format.columns());

        let refused = |s: &[(&str, &str)]| {
            Options::from_pairs(&pairs(s))
                .unwrap()
                .check_suggestions()
                .unwrap_err()
                .to_string()
        };
        assert!(
            refused(&[("format", "pku"), ("ds_source", "m")]).contains("needs method dawid-skene")
        );
        assert!(
            refused(&[
                ("format", "raw"),
                ("method", "dawid-skene"),
                ("ds_source", "m")
            ])
            .contains("not consolidated")
        );
        assert!(
            refused(&[
                ("format", "pku"),
                ("method", "dawid-skene"),
                ("ds_source", "a b")
            ])
            .contains("ds_source: the source name")
        );
        assert!(
            refused(&[("format", "raw"), ("with_suggestions", "true")])
                .contains("raw-suggestions lists")
        );
        assert!(
            refused(&[("format", "raw-suggestions"), ("with_suggestions", "true")])
                .contains("not to format raw-suggestions")
        );
    }
}
