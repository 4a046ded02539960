//! The form that starts a model suggestion run: what the admin typed, kept
//! as typed to show again, turned into a `judge::Plan` with every field's
//! problem named, and the refusals of starting put back by their field.

use safepref_core::judge::{self, Template};
use uuid::Uuid;

use super::fields::form_field;
use crate::judge::client::chat_url;
use crate::judge::run::MAX_CONCURRENCY;
use crate::judge::{JudgeError, Origin, Plan};
use crate::projects::Project;

/// Calls in flight unless the admin asks for another number (as `suggest`).
const DEFAULT_CONCURRENCY: usize = 4;

/// The form's values as the admin typed them.
#[derive(Debug, Clone)]
pub struct RunForm {
    pub endpoint: String,
    pub model: String,
    pub batch: String,
    pub limit: String,
    pub concurrency: String,
    pub template: String,
}

/// What is wrong with one field (`field` is its id), or with the run as a
/// whole (`field` None).
#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: Option<&'static str>,
    pub message: String,
}

impl FieldError {
    fn at(field: &'static str, message: impl Into<String>) -> FieldError {
        FieldError {
            field: Some(field),
            message: message.into(),
        }
    }

    /// The field's label, as the form shows it.
    pub fn label(&self) -> &'static str {
        match self.field {
            Some("endpoint") => "Endpoint",
            Some("model") => "Model",
            Some("batch") => "Batch",
            Some("limit") => "Limit",
            Some("concurrency") => "Calls at once",
            Some("template") => "Template",
            _ => "",
        }
    }
}

impl RunForm {
    /// A new form: the endpoint and model of the project's last run (the
    /// usual next run is the same model again), and the built-in template.
    pub fn new(endpoint: &str, model: &str) -> RunForm {
        RunForm {
            endpoint: endpoint.to_string(),
            model: model.to_string(),
            batch: String::new(),
            limit: String::new(),
            concurrency: DEFAULT_CONCURRENCY.to_string(),
            template: Template::default_template().text().to_string(),
        }
    }

    pub fn from_fields(fields: &[(String, String)]) -> RunForm {
        let get = |name| form_field(fields, name).unwrap_or_default().to_string();
        RunForm {
            endpoint: get("endpoint"),
            model: get("model"),
            batch: get("batch"),
            limit: get("limit"),
            concurrency: get("concurrency"),
            // Browsers send a textarea's line breaks as CR LF. The version
            // is the hash of the text, so the built-in template sent back
            // unchanged must stay byte for byte the same, or its source
            // would differ from the command line's.
            template: get("template").replace("\r\n", "\n"),
        }
    }

    /// The run the form asks for, or every field's problem at once.
    pub fn plan(&self, project: Project, actor: Uuid) -> Result<Plan, Vec<FieldError>> {
        let mut errors = Vec::new();
        let endpoint = self.endpoint.trim();
        if let Err(message) = chat_url(endpoint) {
            errors.push(FieldError::at("endpoint", message));
        }
        let parsed = Template::parse(&self.template);
        // The name is checked as part of the source it makes; with a broken
        // template, against the built-in one's version (same length).
        let version = parsed
            .as_ref()
            .unwrap_or(&Template::default_template())
            .version();
        let model = self.model.trim();
        if let Err(message) = judge::source_name(model, &version) {
            errors.push(FieldError::at("model", message));
        }
        let batch = optional(
            &self.batch,
            "batch",
            "a batch number",
            "every batch",
            &mut errors,
        );
        let limit = optional(
            &self.limit,
            "limit",
            "a number of items",
            "every item",
            &mut errors,
        );
        let concurrency = match self.concurrency.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_CONCURRENCY).contains(&n) => n,
            _ => {
                errors.push(FieldError::at(
                    "concurrency",
                    format!(
                        "{:?} is out of range: give a whole number from 1 to {MAX_CONCURRENCY}",
                        self.concurrency
                    ),
                ));
                DEFAULT_CONCURRENCY
            }
        };
        // Last, as the form shows the fields.
        let template = parsed
            .map_err(|e| errors.push(FieldError::at("template", e.to_string())))
            .ok();
        match template {
            Some(template) if errors.is_empty() => Ok(Plan {
                project,
                batch,
                limit,
                concurrency,
                template,
                model: model.to_string(),
                endpoint: endpoint.to_string(),
                origin: Origin::Page,
                actor: Some(actor),
            }),
            _ => Err(errors),
        }
    }
}

/// An optional whole number from 1; empty means none. `T` is `i32` for a
/// batch number, `i64` for a limit.
fn optional<T: std::str::FromStr + PartialOrd + From<u8>>(
    value: &str,
    field: &'static str,
    what: &str,
    empty: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    match value.parse::<T>() {
        Ok(n) if n >= T::from(1) => Some(n),
        _ => {
            errors.push(FieldError::at(
                field,
                format!(
                    "{value:?} is not {what}: give a whole number from 1, or leave it empty for {empty}"
                ),
            ));
            None
        }
    }
}

/// How a refusal to start shows on the form: by its field where it has
/// one. Errors that are no fault of the form (the database) are given back.
pub enum Refusal {
    /// A field's or the whole form's problem: 400.
    Form(FieldError),
    /// A run of the project is going on: 409.
    Busy(String),
}

pub fn refusal(error: JudgeError) -> Result<Refusal, JudgeError> {
    let message = error.to_string();
    Ok(match error {
        JudgeError::Endpoint(m) => Refusal::Form(FieldError::at("endpoint", m)),
        JudgeError::Model(m) => Refusal::Form(FieldError::at("model", m)),
        JudgeError::Template(e) => Refusal::Form(FieldError::at("template", e.to_string())),
        JudgeError::NoSuchBatch { .. } => Refusal::Form(FieldError::at("batch", message)),
        JudgeError::BadOptions(m) => Refusal::Form(FieldError {
            field: None,
            message: m,
        }),
        JudgeError::AlreadyRunning => Refusal::Busy(message),
        other => return Err(other),
    })
}
