//! The per-chunk work of an export: consolidation (majority vote, or a
//! Dawid–Skene model fitted in a first pass), the agreement figures of the
//! items read, and handing each item to the format's rows (`rows`).

use std::collections::HashMap;
use std::io;

use futures_util::TryStreamExt;
use safepref_core::consolidation::{
    CategorySupport, Consolidated, Fitter, ItemAnnotations, Method, Model, TieRule, add_source_vote,
};
use safepref_core::labels::Labels;
use safepref_core::report;
use serde_json::Value;
use sqlx::PgConnection;

use super::{Counts, Encoder, ExportError, Format, Options};
use crate::db::{
    self,
    export::{ItemRow, Scope},
    projects::Project,
};

/// The per-chunk work: consolidation, rows, encoding.
pub(super) struct Pipeline<'a> {
    pub(super) project: &'a Project,
    pub(super) options: &'a Options,
    pub(super) encoders: Vec<Encoder>,
    /// Raw exports: username → pseudonym, numbered in order of appearance.
    pub(super) pseudonyms: HashMap<String, String>,
    /// Dense annotator indices for consolidation, shared by the fitting
    /// pass and the export pass.
    pub(super) annotators: HashMap<uuid::Uuid, usize>,
    /// The consolidation model (fitted over the whole scope first for
    /// Dawid–Skene); `None` for raw exports.
    pub(super) model: Option<Model>,
    /// The agreement figures of the items read, built as they pass.
    pub(super) agreement: report::Builder,
    pub(super) items_seen: usize,
    /// Per output: whether the sink keeps it.
    pub(super) wanted: Vec<bool>,
}

impl<'a> Pipeline<'a> {
    pub(super) fn new(project: &'a Project, options: &'a Options) -> Result<Self, ExportError> {
        let categories = project.category_names();
        let columns = options.columns();
        let encoders = options
            .format
            .outputs()
            .iter()
            .map(|_| {
                Encoder::new(options.encoding, columns.clone(), categories.clone())
                    .map(|encoder| encoder.csv_safe(options.csv_safe))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Pipeline {
            project,
            options,
            encoders,
            pseudonyms: HashMap::new(),
            annotators: HashMap::new(),
            model: None,
            agreement: report::Builder::new(project.responses_per_item, &categories),
            items_seen: 0,
            wanted: Vec::new(),
        })
    }

    /// The agreement report of everything read; annotators are named by
    /// their index (the manifest shows the questions' figures only). It is
    /// made on a thread of its own: it takes a few tenths of a second for a
    /// large export, which the sink spends syncing its files meanwhile.
    pub(super) fn agreement_report(&mut self, items: u64) -> tokio::task::JoinHandle<Value> {
        let builder = std::mem::replace(&mut self.agreement, report::Builder::new(0, &[]));
        let names: Vec<String> = (0..self.annotators.len().max(self.pseudonyms.len()))
            .map(|n| format!("annotator-{n}"))
            .collect();
        tokio::task::spawn_blocking(move || {
            builder.finish(Value::Null, items as i64, &names, &HashMap::new())
        })
    }

    /// Adds one item's annotations to the agreement figures.
    pub(super) fn count_agreement(&mut self, votes: &[(usize, Labels)]) {
        let item = self.items_seen;
        self.items_seen += 1;
        for (annotator, labels) in votes {
            self.agreement.add(item, *annotator, labels);
        }
    }

    pub(super) fn annotator(&mut self, id: uuid::Uuid) -> usize {
        let next = self.annotators.len();
        *self.annotators.entry(id).or_insert(next)
    }

    /// The consolidation model. Dawid–Skene learns each annotator's
    /// reliability from all their work in the scope, so it first streams the
    /// scope's votes into a compact fitter (a few dozen bytes per vote);
    /// majority vote needs no pass.
    pub(super) async fn fit(
        &mut self,
        conn: &mut PgConnection,
        scope: &Scope,
    ) -> Result<Model, ExportError> {
        let project = self.project;
        let mut fitter = Fitter::new(
            project.responses_per_item,
            &project.taxonomy,
            &project.questions,
            self.options.method,
        );
        if self.options.method == Method::Majority {
            return Ok(fitter.finish());
        }
        let mut votes = db::export::votes(conn, scope, self.options.ds_source.as_deref());
        let mut item: Option<uuid::Uuid> = None;
        let mut labels: Vec<(usize, Labels)> = Vec::new();
        let mut source: Option<Labels> = None;
        let mut items = 0;
        let add = |fitter: &mut Fitter,
                   labels: &mut Vec<(usize, Labels)>,
                   source: Option<Labels>,
                   n: usize| {
            add_source_vote(labels, source);
            fitter.add(&ItemAnnotations {
                item: n,
                votes: labels.iter().map(|(a, l)| (*a, l)).collect(),
            })
        };
        while let Some(vote) = votes.try_next().await? {
            if item != Some(vote.item_id) {
                if !labels.is_empty() {
                    add(&mut fitter, &mut labels, source.take(), items);
                    items += 1;
                }
                labels.clear();
                item = Some(vote.item_id);
                source = vote.source_labels.map(|l| l.0);
            }
            let annotator = self.annotator(vote.annotator_id);
            labels.push((annotator, vote.labels.0));
        }
        if !labels.is_empty() {
            add(&mut fitter, &mut labels, source, items);
        }
        Ok(fitter.finish())
    }

    pub(super) fn chunk(
        &mut self,
        mut items: Vec<ItemRow>,
        counts: &mut Counts,
    ) -> Result<(), ExportError> {
        counts.items_read += items.len() as u64;
        counts.annotations_read += items
            .iter()
            .map(|i| i.annotator_ids.as_ref().map_or(0, Vec::len) as u64)
            .sum::<u64>();
        match self.options.format {
            Format::Raw => {
                for item in items {
                    self.raw_rows(item, counts)?;
                }
                return Ok(());
            }
            Format::RawSuggestions => {
                for item in items {
                    self.suggestion_rows(item, counts)?;
                }
                return Ok(());
            }
            _ => {}
        }
        let records = self.consolidate(&mut items, counts)?;
        for (item, record) in items.into_iter().zip(records) {
            self.item_rows(item, &record, counts)?;
        }
        Ok(())
    }

    /// One consolidated record per item of the chunk (takes the labels
    /// out of the rows: nothing after consolidation needs them).
    fn consolidate(
        &mut self,
        items: &mut [ItemRow],
        counts: &mut Counts,
    ) -> Result<Vec<Consolidated>, ExportError> {
        let mut labels: Vec<Vec<(usize, Labels)>> = Vec::with_capacity(items.len());
        let mut adjudicated: HashMap<usize, Labels> = HashMap::new();
        for (n, item) in items.iter_mut().enumerate() {
            let ids = item.annotator_ids.take().unwrap_or_default();
            let given = item.labels.take().unwrap_or_default();
            labels.push(
                ids.into_iter()
                    .zip(given)
                    .map(|(id, l)| (self.annotator(id), l.0))
                    .collect(),
            );
            if let Some(verdict) = item.adjudication.take() {
                adjudicated.insert(n, verdict.0);
            }
        }
        // The agreement figures are the people's; then the source joins.
        for votes in &labels {
            self.count_agreement(votes);
        }
        if let Some(source) = &self.options.ds_source {
            for (votes, item) in labels.iter_mut().zip(items.iter()) {
                let before = votes.len();
                let suggested = item.suggestions.iter().find(|s| &s.source == source);
                add_source_vote(votes, suggested.map(|s| s.labels.clone()));
                counts.items_with_source_vote += (votes.len() - before) as u64;
            }
        }
        let grouped: Vec<ItemAnnotations> = labels
            .iter()
            .enumerate()
            .map(|(n, votes)| ItemAnnotations {
                item: n,
                votes: votes.iter().map(|(a, l)| (*a, l)).collect(),
            })
            .collect();
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no consolidation model"))?;
        // Only the `min_support` filter looks at each category's support.
        let support = if self.options.min_support.is_some() {
            CategorySupport::Named
        } else {
            CategorySupport::Skipped
        };
        Ok(model.consolidate(&grouped, TieRule::Review, 0.0, &adjudicated, support))
    }
}
