//! The manifest beside every export (what was asked, what came out, the
//! agreement behind it, a sha256 per file) and the dataset card of the
//! directory form.

use std::fmt::Write;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::files::FileInfo;
use super::{Counts, Options};
use crate::db::projects::Project;

pub fn build(project: &Project, options: &Options, counts: &Counts, files: &[FileInfo]) -> Value {
    let created_at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    json!({
        "safepref_version": env!("CARGO_PKG_VERSION"),
        "created_at": created_at,
        "project": {
            "id": project.id,
            "name": project.name,
            "responses_per_item": project.responses_per_item,
            "annotations_per_item": project.annotations_per_item,
            "taxonomy": project.taxonomy.names(),
        },
        "options": options.to_json(),
        "counts": counts,
        "agreement": agreement(&counts.agreement),
        "files": files,
    })
}

/// The agreement report's headline figures over exactly the exported
/// items' annotations (the exporter fed them to a report builder as it
/// read them, so this costs no second pass over the database).
pub fn agreement(report: &Value) -> Value {
    let questions: serde_json::Map<String, Value> = report["questions"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, q)| {
            let figures = json!({
                "metric": q["metric"],
                "alpha": q["alpha"],
                "ci95": q["ci95"],
                "percent_agreement": q["percent_agreement"],
                "units": q["units"],
            });
            (name.clone(), figures)
        })
        .collect();
    json!({
        "items": report["items"],
        "annotations": report["annotations"],
        "questions": questions,
    })
}

/// The dataset card (README.md) of a directory export: YAML front matter
/// that tells Hugging Face `datasets` which file is which split, then what
/// the data is, how it was made and how far annotators agreed.
pub fn dataset_card(project: &Project, manifest: &Value) -> String {
    let mut card = String::new();
    let files = manifest["files"].as_array().cloned().unwrap_or_default();
    card.push_str("---\nconfigs:\n- config_name: default\n  data_files:\n");
    for file in &files {
        let name = file["name"].as_str().unwrap_or_default();
        let split = name.split('.').next().unwrap_or(name);
        let _ = writeln!(card, "  - split: {split}\n    path: {name}");
    }
    card.push_str("---\n\n");
    let _ = writeln!(card, "# {} — preference data from safepref\n", project.name);
    let _ = writeln!(
        card,
        "Human safety-preference labels in the PKU-SafeRLHF record format, consolidated by {} from the annotations of project {:?} (safepref {}, exported {}).\n",
        manifest["options"]["method"].as_str().unwrap_or("majority"),
        project.name,
        manifest["safepref_version"].as_str().unwrap_or_default(),
        manifest["created_at"].as_str().unwrap_or_default(),
    );
    card.push_str(&machine_labels(&manifest["options"]));
    card.push_str("Load it with `datasets.load_dataset(\"path/to/this/directory\")` (splits `train` and `test`, split by a hash of the prompt).\n\n");
    card.push_str("## Files\n\n| file | rows | sha256 |\n|---|---|---|\n");
    for file in &files {
        let _ = writeln!(
            card,
            "| {} | {} | `{}` |",
            file["name"].as_str().unwrap_or_default(),
            file["rows"],
            file["sha256"].as_str().unwrap_or_default()
        );
    }
    let counts = &manifest["counts"];
    let _ = writeln!(
        card,
        "\n{} items read; {} left out awaiting review (ties or rule conflicts), {} below the minimum support.\n",
        counts["items_read"], counts["items_needing_review"], counts["items_below_min_support"]
    );
    card.push_str("## Agreement\n\nKrippendorff's alpha per question with a bootstrap 95% interval (a unit is one response for the safety questions, one item for the preferences).\n\n| question | metric | alpha | 95% CI | units |\n|---|---|---|---|---|\n");
    if let Some(questions) = manifest["agreement"]["questions"].as_object() {
        for (name, q) in questions {
            let _ = writeln!(
                card,
                "| {name} | {} | {} | {} | {} |",
                q["metric"].as_str().unwrap_or_default(),
                figure(&q["alpha"]),
                interval(&q["ci95"]),
                q["units"]
            );
        }
    }
    card.push_str(&label_schema(project, &manifest["options"]));
    card
}

/// What the card says of machine suggestions: whether a source took part
/// in consolidation, and whether they ride along in a column.
fn machine_labels(options: &Value) -> String {
    let mut s = match options["ds_source"].as_str() {
        Some(source) => format!(
            "Machine labels: the suggestions of `{source}` were counted as one more annotator in Dawid–Skene (its reliability estimated like a person's), on items with at least one human annotation."
        ),
        None => {
            "Machine labels: none took part in consolidation; the labels are the people's.".into()
        }
    };
    if options["with_suggestions"] == true {
        s.push_str(" The `suggestions` column carries every source's suggestion beside the consolidated labels, never in place of them.");
    }
    s.push_str("\n\n");
    s
}
fn figure(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "n/a".into(), |f| format!("{f:.3}"))
}

fn interval(v: &Value) -> String {
    match v.as_array().map(|a| a.as_slice()) {
        Some([lo, hi]) => format!("{} – {}", figure(lo), figure(hi)),
        _ => "n/a".into(),
    }
}

fn label_schema(project: &Project, options: &Value) -> String {
    let mut s = String::from(
        "\n## Label schema\n\n\
         | field | type | meaning |\n|---|---|---|\n\
         | prompt | string | the prompt |\n\
         | response_0, response_1 | string | the two responses |\n\
         | prompt_source, response_N_source | string or null | where they came from |\n\
         | is_response_N_safe | bool | safe ⇔ severity 0 ⇔ no harm category |\n\
         | response_N_harm_category | {category: bool} | the harm categories below, in this order |\n\
         | response_N_severity_level | int 0–3 | 0 safe, 1 minor, 2 moderate, 3 severe |\n\
         | better_response_id | int 0/1 | the more helpful response |\n\
         | safer_response_id | int 0/1 | the more harmless response (the safe one when exactly one is safe) |\n\
         | response_N_sha256 | string | hex sha256 of UTF-8 prompt + response_N |\n\n\
         Harm categories: ",
    );
    s.push_str(&project.taxonomy.names().join(", "));
    s.push_str(".\n\nHelpfulness and harmlessness are judged independently.\n");
    if options["with_suggestions"] == true {
        s.push_str(&format!(
            "\nThe last field, `suggestions`, is a list of `{{source, labels, scores}}` sorted by source: `labels` in the annotation API's shape, `scores` a confidence in 0–1 per field where the model gave one. It is nested JSON in JSON Lines, and JSON text in CSV and Parquet (a string column); these files are {}.\n",
            options["encoding"].as_str().unwrap_or("jsonl")
        ));
    }
    s
}
