//! Why an item needs a lead: its votes consolidated (majority vote, as the
//! exporter's default), the reasons read from the result, gold labels,
//! unclear skips and disagreeing suggestions; those reasons kept as the
//! project's review flags, and the review queue paged from them.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use safepref_core::consolidation::{
    CategorySupport, Consolidated, Fitter, ItemAnnotations, Method, Model, ReviewReason, TieRule,
};
use safepref_core::export::min_support;
use safepref_core::labels::{self, Labels};
use safepref_core::machine;
use safepref_core::suggestions::Suggestion;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::ReviewError;
use crate::db::{
    self,
    projects::Project,
    review::{Candidate, QueueFilter},
};

/// Candidate items consolidated together while the queue's flags are built.
const CHUNK_ITEMS: usize = 500;
/// How far before the last refresh of the review flags a refresh looks for
/// changes (see `refresh_flags`).
const FLAGS_MARGIN: time::Duration = time::Duration::minutes(1);

/// Majority vote, as the exporter's default.
fn model(project: &Project) -> Model {
    Fitter::new(
        project.responses_per_item,
        &project.taxonomy,
        &project.questions,
        Method::Majority,
    )
    .finish()
}

/// Consolidates one item's valid votes (annotators by position), with an
/// adjudication when given.
pub(super) fn consolidate(
    project: &Project,
    votes: &[Labels],
    adjudication: Option<Labels>,
) -> Consolidated {
    let items = [ItemAnnotations {
        item: 0,
        votes: votes.iter().enumerate().collect(),
    }];
    let adjudicated: HashMap<usize, Labels> = adjudication.map(|l| (0, l)).into_iter().collect();
    model(project)
        .consolidate(
            &items,
            TieRule::Review,
            project.review_min_support,
            &adjudicated,
            CategorySupport::Named,
        )
        .remove(0)
}

/// Why an item is in the review queue, as a person reads it.
pub(super) fn reasons(
    record: &Consolidated,
    gold: Option<&Labels>,
    votes: &[(String, Labels)],
    unclear: i64,
) -> Vec<String> {
    let mut out: Vec<String> = record
        .review
        .iter()
        .map(|r| match r {
            ReviewReason::Tie { field } => format!("tie on {field}"),
            ReviewReason::RuleConflict { rule } => format!("rule conflict: {rule}"),
            ReviewReason::LowSupport { field, support } => {
                format!("low support on {field} ({:.0}%)", support * 100.0)
            }
            ReviewReason::NoVotes { field } => format!("no votes on {field}"),
        })
        .collect();
    if let Some(gold) = gold {
        for (who, given) in votes {
            if !labels::matches_gold(given, gold) {
                out.push(format!("gold miss by {who}"));
            }
        }
    }
    if unclear > 0 {
        out.push(format!("skipped as unclear ({unclear})"));
    }
    out
}

/// The kinds of review reason, as each reason starts (the queue filters on
/// them).
pub const REASON_KINDS: [&str; 7] = [
    "tie on",
    "rule conflict",
    "low support",
    "no votes",
    "gold miss",
    "skipped as unclear",
    "model disagrees",
];

/// "model disagrees" reasons: each field where a source's suggestion
/// contradicts a confident human majority (`machine::disagreements`).
pub(super) fn model_reasons(
    project: &Project,
    votes: &[(String, Labels)],
    suggestions: &[Suggestion],
) -> Vec<String> {
    let votes: Vec<&Labels> = votes.iter().map(|(_, l)| l).collect();
    suggestions
        .iter()
        .flat_map(|s| {
            machine::disagreements(0, &votes, &s.labels, project.review_min_support)
                .into_iter()
                .map(|d| d.reason(&s.source))
        })
        .collect()
}

fn votes_of(c: &mut Candidate) -> Vec<(String, Labels)> {
    let names = c.annotators.take().unwrap_or_default();
    let labels = c.labels.take().unwrap_or_default();
    names
        .into_iter()
        .zip(labels.into_iter().map(|l| l.0))
        .collect()
}

/// Consolidates a chunk of candidates (votes taken out of them); returns
/// the flags of those with a reason.
fn judge(project: &Project, model: &Model, chunk: &mut [Candidate]) -> Vec<db::review::Flag> {
    let votes: Vec<Vec<(String, Labels)>> = chunk.iter_mut().map(votes_of).collect();
    let grouped: Vec<ItemAnnotations> = votes
        .iter()
        .enumerate()
        .map(|(n, v)| ItemAnnotations {
            item: n,
            votes: v.iter().enumerate().map(|(a, (_, l))| (a, l)).collect(),
        })
        .collect();
    // Adjudications are left out on purpose: an adjudicated item shows
    // (under status=adjudicated) why it needed a lead.
    let records = model.consolidate(
        &grouped,
        TieRule::Review,
        project.review_min_support,
        &HashMap::new(),
        CategorySupport::Named,
    );
    records
        .iter()
        .zip(chunk.iter())
        .zip(&votes)
        .filter_map(|((record, c), v)| {
            let gold = c.gold.as_ref().map(|g| &g.0);
            let mut reasons = reasons(record, gold, v, c.unclear);
            let suggestions = c.suggestions.as_ref().map_or(&[][..], |s| &s.0);
            reasons.extend(model_reasons(project, v, suggestions));
            (!reasons.is_empty()).then(|| db::review::Flag {
                item_id: c.id,
                batch_seq: c.batch_seq,
                seq: c.seq,
                min_support: if v.is_empty() {
                    0.0
                } else {
                    min_support(record)
                },
                annotations: v.len() as i32,
                reasons,
            })
        })
        .collect()
}

/// What the flags are computed with besides the votes: a change makes
/// every item's flags stale.
fn flag_settings(project: &Project) -> String {
    json!([
        project.review_min_support,
        project.responses_per_item,
        project.taxonomy,
        project.questions
    ])
    .to_string()
}

/// Brings the project's review flags (migration 0009) up to date: the
/// items whose votes, invalidations or skips changed since the last refresh
/// — looking `FLAGS_MARGIN` further back, for transactions that stamped
/// their rows before the last refresh but committed after it — are
/// consolidated again; everything when the settings or gold labels changed
/// or nothing is stored yet. Refreshes of a project run one at a time.
pub async fn refresh_flags(pool: &PgPool, project: &Project) -> Result<(), ReviewError> {
    let mut tx = pool.begin().await?;
    db::review::lock_flags(&mut tx, project.id).await?;
    let (stored, now, gold) = db::review::flags_state(&mut tx, project.id).await?;
    let settings = flag_settings(project);
    let changed = match stored {
        Some(s) if s.settings == settings && s.gold == gold => Some(
            db::review::changed_items(&mut tx, project.id, s.refreshed_at - FLAGS_MARGIN).await?,
        ),
        _ => None,
    };
    if changed.as_ref().is_none_or(|c| !c.is_empty()) {
        let started = std::time::Instant::now();
        db::review::clear_flags(&mut tx, project.id, changed.as_deref()).await?;
        let flags = judge_all(&mut tx, project, changed.as_deref()).await?;
        db::review::insert_flags(&mut tx, project.id, &flags).await?;
        tracing::info!(
            project = %project.id,
            items = changed.as_ref().map_or("all".to_string(), |c| c.len().to_string()),
            flagged = flags.len(),
            ms = started.elapsed().as_millis(),
            "review flags refreshed"
        );
    }
    let state = db::review::FlagsState {
        refreshed_at: now,
        settings,
        gold,
    };
    db::review::save_flags_state(&mut tx, project.id, &state).await?;
    tx.commit().await?;
    Ok(())
}

/// The flags of the candidate items (all, or these), consolidated in
/// chunks of `CHUNK_ITEMS`: memory holds a chunk's votes and the flags.
async fn judge_all(
    tx: &mut sqlx::PgConnection,
    project: &Project,
    ids: Option<&[Uuid]>,
) -> Result<Vec<db::review::Flag>, ReviewError> {
    let model = model(project);
    let mut candidates: Vec<Candidate> = Vec::with_capacity(CHUNK_ITEMS);
    let mut flags = Vec::new();
    let mut stream = db::review::candidates(tx, project.id, ids);
    while let Some(row) = stream.try_next().await? {
        candidates.push(row);
        if candidates.len() == CHUNK_ITEMS {
            flags.extend(judge(project, &model, &mut candidates));
            candidates.clear();
        }
    }
    flags.extend(judge(project, &model, &mut candidates));
    Ok(flags)
}

/// The review queue: items with a reason, lowest minimum support first
/// (then batch and file order); one page of them and the total. The flags
/// are refreshed first (cheap when little changed), then filtered, ordered
/// and paged in SQL; each row's summary is written from its reasons and
/// the page's votes (the stored flags keep no counts).
pub async fn queue_page(
    pool: &PgPool,
    project: &Project,
    filter: &QueueFilter,
    limit: usize,
    offset: usize,
) -> Result<(Vec<db::review::QueueEntry>, usize), ReviewError> {
    refresh_flags(pool, project).await?;
    let mut conn = pool.acquire().await?;
    let (mut rows, total) =
        db::review::queue_page(&mut conn, project.id, filter, limit as i64, offset as i64).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.item_id).collect();
    let mut votes: HashMap<Uuid, Vec<Labels>> = db::review::votes(&mut conn, &ids)
        .await?
        .into_iter()
        .map(|(id, labels)| (id, labels.into_iter().map(|l| l.0).collect()))
        .collect();
    for row in &mut rows {
        let votes = votes.remove(&row.item_id).unwrap_or_default();
        row.summary = super::summary::summary(&row.reasons, &votes);
    }
    Ok((rows, total as usize))
}
