//! An export's rows: each item in the format's shape
//! (`safepref_core::export`), the raw formats' pseudonyms, and writing the
//! rows to the output's encoder.

use safepref_core::consolidation::Consolidated;
use safepref_core::export::{self as rows, Column, Dimension, ExportItem, RawAnnotation};
use safepref_core::labels::Labels;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

use super::pipeline::Pipeline;
use super::{Counts, ExportError, Format};
use crate::db::export::ItemRow;

impl Pipeline<'_> {
    pub(super) fn item_rows(
        &mut self,
        item: ItemRow,
        record: &Consolidated,
        counts: &mut Counts,
    ) -> Result<(), ExportError> {
        let Some(labels) = &record.labels else {
            counts.items_needing_review += 1;
            return Ok(());
        };
        if self
            .options
            .min_support
            .is_some_and(|min| !record.adjudicated && rows::min_support(record) < min)
        {
            counts.items_below_min_support += 1;
            return Ok(());
        }
        let suggestions = self
            .options
            .with_suggestions
            .then(|| rows::suggestions_value(&item.suggestions));
        let item = export_item(item);
        let taxonomy = &self.project.taxonomy;
        let (output, mut new_rows) = match self.options.format {
            Format::Pku => (
                0,
                rows::pku_row(item, labels, taxonomy).into_iter().collect(),
            ),
            Format::SafeRlhf => {
                let side = usize::from(rows::in_test_split(&item.prompt, self.options.test_ratio));
                if !self.wanted[side] {
                    return Ok(());
                }
                (
                    side,
                    rows::pku_row(item, labels, taxonomy).into_iter().collect(),
                )
            }
            Format::DpoHelpful => (0, rows::dpo_rows(&item, record, Dimension::Helpful)),
            Format::DpoHarmless => (0, rows::dpo_rows(&item, record, Dimension::Harmless)),
            Format::Raw | Format::RawSuggestions => {
                unreachable!("raw rows are not consolidated")
            }
        };
        if let Some(value) = suggestions {
            for row in &mut new_rows {
                row.push(value.clone());
            }
        }
        self.emit(output, new_rows, counts)
    }

    /// An item's `raw-suggestions` rows. Its annotations still feed the
    /// manifest's agreement figures, as for `raw`.
    pub(super) fn suggestion_rows(
        &mut self,
        mut item: ItemRow,
        counts: &mut Counts,
    ) -> Result<(), ExportError> {
        let ids = item.annotator_ids.take().unwrap_or_default();
        let labels = item.labels.take().unwrap_or_default();
        let votes: Vec<(usize, Labels)> = ids
            .into_iter()
            .zip(labels)
            .map(|(id, l)| (self.annotator(id), l.0))
            .collect();
        self.count_agreement(&votes);
        let suggestions = std::mem::take(&mut item.suggestions);
        let rows = rows::raw_suggestion_rows(&export_item(item), &suggestions);
        self.emit(0, rows, counts)
    }

    pub(super) fn raw_rows(
        &mut self,
        mut item: ItemRow,
        counts: &mut Counts,
    ) -> Result<(), ExportError> {
        let names = item.annotators.take().unwrap_or_default();
        let labels = item.labels.take().unwrap_or_default();
        let ids = item.annotator_ids.take().unwrap_or_default();
        let votes: Vec<(usize, Labels)> = ids
            .into_iter()
            .zip(&labels)
            .map(|(id, l)| (self.annotator(id), l.0.clone()))
            .collect();
        self.count_agreement(&votes);
        let seconds = item.seconds.take().unwrap_or_default();
        let submitted = item.submitted.take().unwrap_or_default();
        let revisions = item.revisions.take().unwrap_or_default();
        let modes = item.modes.take().unwrap_or_default();
        let export = export_item(item);
        let mut rows = Vec::with_capacity(names.len());
        for (n, name) in names.into_iter().enumerate() {
            let annotator = if self.options.with_usernames {
                name
            } else {
                let next = self.pseudonyms.len() + 1;
                self.pseudonyms
                    .entry(name)
                    .or_insert_with(|| format!("annotator-{next:04}"))
                    .clone()
            };
            let labels = serde_json::to_value(&labels[n].0).map_err(anyhow::Error::from)?;
            rows.push(rows::raw_row(
                &export,
                &RawAnnotation {
                    annotator,
                    labels,
                    seconds_spent: seconds.get(n).copied().flatten(),
                    submitted_at: submitted
                        .get(n)
                        .and_then(|t| t.format(&Rfc3339).ok())
                        .unwrap_or_default(),
                    revisions: revisions.get(n).copied().map_or(0, i64::from),
                    suggestion_mode: modes.get(n).cloned().unwrap_or_default(),
                },
            ));
        }
        self.emit(0, rows, counts)
    }

    fn emit(
        &mut self,
        output: usize,
        rows: Vec<Vec<Value>>,
        counts: &mut Counts,
    ) -> Result<(), ExportError> {
        counts.rows[output] += rows.len() as u64;
        for row in rows {
            self.encoders[output].write_row(row)?;
        }
        Ok(())
    }
}

fn export_item(row: ItemRow) -> ExportItem {
    ExportItem {
        id: row.id.to_string(),
        external_id: row.external_id,
        batch: row.batch_seq,
        prompt: row.prompt,
        prompt_source: row.prompt_source,
        responses: row.texts.into_iter().zip(row.sources).collect(),
        gold: row.gold,
    }
}

/// The columns of a format.
impl Format {
    pub fn columns(self) -> Vec<Column> {
        match self {
            Format::Pku | Format::SafeRlhf => rows::pku_columns(),
            Format::DpoHelpful | Format::DpoHarmless => rows::dpo_columns(),
            Format::Raw => rows::raw_columns(),
            Format::RawSuggestions => rows::raw_suggestion_columns(),
        }
    }
}
