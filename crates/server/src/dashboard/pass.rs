//! The one pass over a scope's annotations that feeds the report, the trend of `safe`'s alpha per batch and the severity confusion.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::TryStreamExt;
use safepref_core::consolidation::{DecodedItem, Fitter, Memo, Method, Model, TieRule};
use safepref_core::labels::{Decoded, Labels};
use safepref_core::report::Builder as CoreBuilder;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::cache::{Agreement, Confusion, TrendPoint};
use super::{CHUNK_ITEMS, DashboardError, TREND_BATCHES};
use crate::db::{
    self,
    projects::Project,
    report::{AnnotationRow, ItemRange},
};
use crate::report::{self, ReportScope};

/// Every cached figure from one pass over the scope's annotations (in item
/// order, its two halves read at once: `Reader::halves`): each row goes to
/// the report, to its batch's trend builder and to the severity confusion;
/// the halves' counts are then merged, first half first.
pub(super) async fn compute_agreement(
    pool: &PgPool,
    project: &Project,
    scope: &ReportScope,
) -> Result<Agreement, DashboardError> {
    let started = std::time::Instant::now();
    let (mut reader, adjudicated, batches) = tokio::try_join!(
        async { Ok::<_, DashboardError>(report::Reader::new(pool, project, scope).await?) },
        async { Ok(db::adjudications::newest(pool, project.id, scope.batch).await?) },
        async { Ok(db::dashboard::batch_seqs(pool, project.id).await?) },
    )?;
    let adjudicated: Arc<HashMap<Uuid, Labels>> =
        Arc::new(adjudicated.into_iter().map(|(id, l)| (id, l.0)).collect());
    let reads: Vec<_> = reader
        .halves(pool, project, scope)
        .await?
        .into_iter()
        .map(|(tx, range)| {
            let half = Half {
                part: reader.part(),
                trend: Trend::new(project, scope, &batches),
                confusion: ConfusionCounter::new(project, Arc::clone(&adjudicated)),
            };
            tokio::spawn(half.read(tx, project.id, scope.clone(), range))
        })
        .collect();
    let queried = started.elapsed();
    let mut trend = Trend::new(project, scope, &batches);
    let mut confusion = Confusion::default();
    for read in reads {
        let (part, half_trend, half_confusion) = report::joined(read).await??;
        let annotators = reader.merge(part);
        trend.merge(half_trend, &annotators);
        confusion.merge(&half_confusion);
    }
    let read = started.elapsed();
    let report = reader.finish(pool).await?;
    let figures = Agreement {
        trend: trend.finish(&report),
        confusion,
        report,
    };
    // Where the time goes, for whoever tunes this (scripts/bench-dashboard
    // prints these lines).
    tracing::info!(
        project = %project.id,
        setup_ms = queried.as_millis(),
        pass_ms = (read - queried).as_millis(),
        finish_ms = (started.elapsed() - read).as_millis(),
        "dashboard figures computed"
    );
    Ok(figures)
}

/// What one half of the pass counts.
pub(super) struct Half {
    part: report::Part,
    trend: Trend,
    confusion: ConfusionCounter,
}

impl Half {
    /// Reads the half's rows (in its own transaction) into its counts.
    async fn read(
        mut self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        project_id: Uuid,
        scope: ReportScope,
        range: ItemRange,
    ) -> Result<(report::Part, Trend, Confusion), DashboardError> {
        // Only a trend per batch needs each row's batch (see `Trend`).
        let batches = match self.trend {
            Trend::Batches(_) => db::report::Batches::Named,
            Trend::Single(_) => db::report::Batches::Unnamed,
        };
        let mut rows = db::report::annotations(&mut *tx, project_id, &scope, range, batches);
        while let Some(row) = rows.try_next().await? {
            let row = AnnotationRow::read(&row)?;
            let (annotator, labels) = self.part.add(&row)?;
            self.trend
                .add(row.batch_seq, row.item_id, annotator, &labels);
            self.confusion.add(row.item_id, annotator, labels).await?;
        }
        Ok((self.part, self.trend, self.confusion.finish().await?))
    }
}

/// A batch's point from its `safe` question's figures.
pub(super) fn trend_point(batch: i32, safe: &Value) -> TrendPoint {
    TrendPoint {
        batch,
        alpha: safe["alpha"].as_f64(),
        ci95: safe["ci95"]
            .as_array()
            .and_then(|p| Some((p.first()?.as_f64()?, p.get(1)?.as_f64()?))),
        units: safe["units"].as_i64().unwrap_or(0),
    }
}

/// `safe`'s alpha per batch (the newest `TREND_BATCHES`): a report builder
/// per batch, fed the batch's rows in the report's order, so each point is
/// `safepref report --batch N`'s (alpha and its interval depend on the
/// items and their order only, not on annotator activity). A scope of one
/// batch, or a project with one batch, is its own trend.
pub(super) enum Trend {
    /// The scope's report is the only point (one batch in scope).
    Single(i32),
    /// A builder per batch, each with its own item numbering.
    Batches(Vec<(i32, CoreBuilder, HashMap<Uuid, usize>)>),
}

impl Trend {
    fn new(project: &Project, scope: &ReportScope, batches: &[i32]) -> Trend {
        match (scope.batch, batches) {
            (Some(batch), _) | (None, &[batch]) => Trend::Single(batch),
            _ => {
                let categories = project.category_names();
                let k = project.responses_per_item;
                let newest = &batches[batches.len().saturating_sub(TREND_BATCHES)..];
                Trend::Batches(
                    newest
                        .iter()
                        .map(|&b| (b, CoreBuilder::new(k, &categories), HashMap::new()))
                        .collect(),
                )
            }
        }
    }

    fn add(&mut self, batch: i32, item: Uuid, annotator: usize, labels: &Decoded) {
        let Trend::Batches(batches) = self else {
            return;
        };
        if let Some((_, builder, items)) = batches.iter_mut().find(|(seq, ..)| *seq == batch) {
            let next = items.len();
            builder.add_decoded(*items.entry(item).or_insert(next), annotator, labels);
        }
    }

    /// Appends the trend of the next range of items; `annotators` numbers
    /// its annotators here (see `Reader::merge`).
    fn merge(&mut self, other: Trend, annotators: &[usize]) {
        if let (Trend::Batches(mine), Trend::Batches(theirs)) = (self, other) {
            for ((_, builder, items), (_, next, next_items)) in mine.iter_mut().zip(theirs) {
                let offset = items.len();
                builder.append(next, annotators, offset);
                items.extend(next_items.into_iter().map(|(id, i)| (id, i + offset)));
            }
        }
    }

    fn finish(self, report: &Value) -> Vec<TrendPoint> {
        match self {
            Trend::Single(batch) => vec![trend_point(batch, &report["questions"]["safe"])],
            Trend::Batches(batches) => batches
                .into_iter()
                .map(|(batch, builder, _)| trend_point(batch, &builder.safe_figures()))
                .collect(),
        }
    }
}

impl Confusion {
    /// Adds the counts of another range of items.
    fn merge(&mut self, other: &Confusion) {
        for (row, more) in self.counts.iter_mut().zip(&other.counts) {
            for (n, m) in row.iter_mut().zip(more) {
                *n += m;
            }
        }
        self.items_without_consensus += other.items_without_consensus;
    }
}

/// One item's votes: (item, [(annotator, labels)]).
pub(super) type ItemVotes = (Uuid, Vec<(usize, Decoded)>);

/// The severity confusion, fed the scope's votes in item order: every
/// `CHUNK_ITEMS` items go to a worker thread, which consolidates them by
/// majority vote as the export consolidates them (an adjudication's labels
/// win: they are the item's final labels) and counts each vote's
/// severities against the result. Consolidating is the pass's dearest
/// step, so it runs beside the reading and decoding rather than after it.
/// Memory stays bounded by a few chunks.
pub(super) struct ConfusionCounter {
    chunk: Vec<ItemVotes>,
    chunks: tokio::sync::mpsc::Sender<Vec<ItemVotes>>,
    worker: tokio::task::JoinHandle<Confusion>,
}

impl ConfusionCounter {
    fn new(project: &Project, adjudicated: Arc<HashMap<Uuid, Labels>>) -> ConfusionCounter {
        let model = Fitter::new(
            project.responses_per_item,
            &project.taxonomy,
            &project.questions,
            Method::Majority,
        )
        .finish();
        let (chunks, mut received) = tokio::sync::mpsc::channel::<Vec<ItemVotes>>(4);
        let worker = tokio::task::spawn_blocking(move || {
            let (mut confusion, mut memo) = (Confusion::default(), Memo::default());
            while let Some(chunk) = received.blocking_recv() {
                count(&model, &adjudicated, &chunk, &mut memo, &mut confusion);
            }
            confusion
        });
        ConfusionCounter {
            chunk: Vec::with_capacity(CHUNK_ITEMS),
            chunks,
            worker,
        }
    }

    async fn add(
        &mut self,
        item: Uuid,
        annotator: usize,
        labels: Decoded,
    ) -> Result<(), DashboardError> {
        if self.chunk.last().is_none_or(|(id, _)| *id != item) {
            if self.chunk.len() == CHUNK_ITEMS {
                self.send().await?;
            }
            self.chunk.push((item, Vec::new()));
        }
        if let Some((_, votes)) = self.chunk.last_mut() {
            votes.push((annotator, labels));
        }
        Ok(())
    }

    async fn send(&mut self) -> Result<(), DashboardError> {
        let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK_ITEMS));
        self.chunks
            .send(full)
            .await
            .map_err(|_| DashboardError::ConfusionWorkerStopped)
    }

    async fn finish(mut self) -> Result<Confusion, DashboardError> {
        if !self.chunk.is_empty() {
            self.send().await?;
        }
        drop(self.chunks);
        self.worker.await.map_err(DashboardError::ConfusionFailed)
    }
}

/// Consolidates a chunk of items and counts their votes' severities
/// against the consensus.
pub(super) fn count(
    model: &Model,
    adjudicated: &HashMap<Uuid, Labels>,
    chunk: &[ItemVotes],
    memo: &mut Memo,
    confusion: &mut Confusion,
) {
    let items: Vec<DecodedItem> = chunk
        .iter()
        .enumerate()
        .map(|(item, (_, votes))| DecodedItem { item, votes })
        .collect();
    let adjudicated: HashMap<usize, Labels> = chunk
        .iter()
        .enumerate()
        .filter_map(|(n, (id, _))| Some((n, adjudicated.get(id)?.clone())))
        .collect();
    // Only the consensus severities are counted: naming every category's
    // support, or building records at all, would cost more than the rest.
    let consensus = model.consensus_severities(&items, TieRule::Review, &adjudicated, memo);
    for (agreed, (_, votes)) in consensus.iter().zip(chunk) {
        let Some(agreed) = agreed else {
            confusion.items_without_consensus += 1;
            continue;
        };
        for (_, labels) in votes {
            for (given, agreed) in labels.severities().zip(agreed) {
                let (row, col) = (usize::from(given), usize::from(*agreed));
                if row < 4 && col < 4 {
                    confusion.counts[row][col] += 1;
                }
            }
        }
    }
}
