//! The lead's review rules, shared by the review pages: requeue an
//! annotator's work, pause / resume / release / disable an annotator,
//! adjudicate an item, send it back for one more annotation, and the review
//! queue. Handlers call these; the SQL is in `db::review` and
//! `db::adjudications`; the locks follow `crate::queue`'s rules.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use safepref_core::consolidation::{
    Consolidated, Fitter, ItemAnnotations, Method, Model, ReviewReason, TieRule,
};
use safepref_core::export::min_support;
use safepref_core::labels::{self, Labels};
use safepref_core::machine;
use safepref_core::suggestions::Suggestion;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::{
    self,
    items::ItemState,
    projects::Project,
    review::{Candidate, QueueFilter},
    users::{Role, User},
};
use crate::error::AppError;
use crate::{accounts, queue};

/// The longest reason a lead may give, in characters (the tables' limit).
pub const MAX_REASON_CHARS: usize = 2_000;
/// Candidate items consolidated together while the queue's flags are built.
const CHUNK_ITEMS: usize = 500;
/// How far before the last refresh of the review flags a refresh looks for
/// changes (see `refresh_flags`).
const FLAGS_MARGIN: time::Duration = time::Duration::minutes(1);

fn subject_user(id: Uuid) -> String {
    format!("user:{id}")
}

/// The audit subject of an item (the audit page filters on it).
pub fn subject_item(id: Uuid) -> String {
    format!("item:{id}")
}

/// A reason must say something and fit the table.
fn check_reason(reason: &str) -> Result<&str, AppError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::BadRequest(
            "give a reason: it goes to the audit log for whoever reads this decision later".into(),
        ));
    }
    let chars = reason.chars().count();
    if chars > MAX_REASON_CHARS {
        return Err(AppError::BadRequest(format!(
            "the reason is {chars} characters long; the limit is {MAX_REASON_CHARS}"
        )));
    }
    if reason.contains('\0') {
        return Err(AppError::BadRequest(
            "the reason contains a NUL character, which cannot be stored".into(),
        ));
    }
    Ok(reason)
}

/// Leads act on annotators only; admins on anyone but themselves.
fn check_may_act_on(actor: &User, target: &User) -> Result<(), AppError> {
    if actor.id == target.id {
        return Err(AppError::Forbidden(
            "you cannot take this action on your own account".into(),
        ));
    }
    if actor.role < Role::Admin && target.role != Role::Annotator {
        return Err(AppError::Forbidden(format!(
            "{} is a {}; a lead may act on annotators only. Ask an admin.",
            target.username, target.role
        )));
    }
    Ok(())
}

// ------------------------------------------------------------ annotators

/// Pauses the annotator in the project (no new leases there, see
/// queue::lease) or lets them work again; audited when it changes anything.
pub async fn set_paused(
    pool: &PgPool,
    project: &Project,
    actor: &User,
    target: &User,
    paused: bool,
) -> Result<(), AppError> {
    check_may_act_on(actor, target)?;
    let mut tx = pool.begin().await?;
    let changed = if paused {
        db::review::pause(&mut *tx, project.id, target.id, actor.id).await?
    } else {
        db::review::resume(&mut *tx, project.id, target.id).await?
    };
    if changed {
        db::audit::record(
            &mut *tx,
            Some(actor.id),
            if paused {
                "annotator paused"
            } else {
                "annotator resumed"
            },
            &subject_user(target.id),
            Some(json!({"project": project.id, "paused": !paused})),
            Some(json!({"project": project.id, "paused": paused})),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Ends the annotator's live leases in the project; returns how many.
pub async fn release(
    pool: &PgPool,
    project: &Project,
    actor: &User,
    target: &User,
) -> Result<u64, AppError> {
    check_may_act_on(actor, target)?;
    let released = queue::release_in_project(pool, project, target.id).await?;
    db::audit::record(
        pool,
        Some(actor.id),
        "leases released",
        &subject_user(target.id),
        None,
        Some(json!({"project": project.id, "released": released})),
    )
    .await?;
    Ok(released)
}

/// Disables the account (accounts' rules and audit) and gives back the
/// items it holds.
pub async fn disable(pool: &PgPool, actor: &User, target: &User) -> Result<(), AppError> {
    check_may_act_on(actor, target)?;
    accounts::set_disabled(pool, Some(actor.id), target, true).await?;
    queue::release_all(pool, target.id).await?;
    Ok(())
}

/// What a requeue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequeueOutcome {
    pub invalidated: usize,
    pub reopened: i64,
}

/// Marks the annotator's annotations on `batches` invalid (kept, never
/// deleted), gives their slots back so other annotators label the items,
/// and audits it, all in one transaction.
pub async fn requeue(
    pool: &PgPool,
    project: &Project,
    actor: &User,
    target: &User,
    batches: &[i32],
    reason: &str,
) -> Result<RequeueOutcome, AppError> {
    check_may_act_on(actor, target)?;
    if batches.is_empty() {
        return Err(AppError::BadRequest(
            "choose at least one batch whose work should be requeued".into(),
        ));
    }
    let reason = check_reason(reason)?;
    let op = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    let done = db::review::requeue(
        &mut tx,
        project.id,
        target.id,
        batches,
        actor.id,
        reason,
        db::review::shard_of(op),
    )
    .await?;
    if done.annotations.is_empty() {
        return Err(AppError::Conflict(format!(
            "{} has no valid annotations in the chosen batches; nothing was changed",
            target.username
        )));
    }
    db::audit::record(
        &mut *tx,
        Some(actor.id),
        "annotations invalidated",
        &subject_user(target.id),
        Some(json!({"project": project.id, "batches": batches, "valid": done.annotations})),
        Some(
            json!({"project": project.id, "invalidated": done.annotations,
                    "items_reopened": done.reopened, "reason": reason}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(RequeueOutcome {
        invalidated: done.annotations.len(),
        reopened: done.reopened,
    })
}

// ------------------------------------------------------------ consolidation

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
pub fn consolidate(
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
        )
        .remove(0)
}

/// Why an item is in the review queue, as a person reads it.
pub fn reasons(
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
pub fn model_reasons(
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
pub async fn refresh_flags(pool: &PgPool, project: &Project) -> Result<(), AppError> {
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
) -> Result<Vec<db::review::Flag>, AppError> {
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
/// and paged in SQL.
pub async fn queue_page(
    pool: &PgPool,
    project: &Project,
    filter: &QueueFilter,
    limit: usize,
    offset: usize,
) -> Result<(Vec<db::review::QueueEntry>, usize), AppError> {
    refresh_flags(pool, project).await?;
    let mut conn = pool.acquire().await?;
    let (rows, total) =
        db::review::queue_page(&mut conn, project.id, filter, limit as i64, offset as i64).await?;
    Ok((rows, total as usize))
}

// ------------------------------------------------------------ one item

fn no_such_item() -> AppError {
    AppError::NotFound("there is no such item".into())
}

/// Sets the item's final labels with a reason (the newest adjudication
/// wins in consolidation and export); the item becomes `adjudicated`. The
/// audit row has the labels before (the previous adjudication, else the
/// consolidated votes) and after.
pub async fn adjudicate(
    pool: &PgPool,
    project: &Project,
    lead: &User,
    item_id: Uuid,
    labels: &Labels,
    reason: &str,
) -> Result<(), AppError> {
    queue::check_labels(project, labels)?;
    let reason = check_reason(reason)?;
    let after = serde_json::to_value(labels).map_err(|e| AppError::Internal(e.into()))?;
    let mut tx = pool.begin().await?;
    let item = db::review::lock_item(&mut *tx, item_id)
        .await?
        .filter(|i| i.project_id == project.id)
        .ok_or_else(no_such_item)?;
    let previous = db::adjudications::for_item(&mut *tx, item_id).await?;
    let before = match previous.into_iter().next() {
        Some(p) => json!({"state": item.state, "source": "adjudication", "labels": p.labels.0}),
        None => {
            let votes: Vec<Labels> = db::review::item_annotations(&mut *tx, item_id)
                .await?
                .into_iter()
                .filter(|a| a.invalidated_at.is_none())
                .map(|a| a.labels.0)
                .collect();
            let record = consolidate(project, &votes, None);
            json!({"state": item.state, "source": "consolidation", "labels": record.labels,
                   "review": record.review})
        }
    };
    let id = Uuid::now_v7();
    db::adjudications::insert(&mut *tx, id, item_id, lead.id, &after, reason).await?;
    db::review::set_item_state(&mut *tx, item_id, ItemState::Adjudicated, 0).await?;
    db::audit::record(
        &mut *tx,
        Some(lead.id),
        "item adjudicated",
        &subject_item(item_id),
        Some(before),
        Some(
            json!({"state": ItemState::Adjudicated, "labels": after, "reason": reason, "adjudication": id}),
        ),
    )
    .await?;
    if item.state == ItemState::Pending {
        // Last lock of the transaction (queue rule 4).
        db::review::add_progress(&mut *tx, project.id, db::review::shard_of(id), 1).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Asks for one more annotation of the item: `extra_annotations + 1`, the
/// item back to pending. An item the routing rule completed at one
/// annotation goes back to the usual k instead (the decision to stop at one
/// is what the lead doubts). Refused for an adjudicated item (its
/// adjudication would still win; adjudicate again instead).
pub async fn send_back(
    pool: &PgPool,
    project: &Project,
    lead: &User,
    item_id: Uuid,
    reason: &str,
) -> Result<(), AppError> {
    let reason = check_reason(reason)?;
    let mut tx = pool.begin().await?;
    let item = db::review::lock_item(&mut *tx, item_id)
        .await?
        .filter(|i| i.project_id == project.id)
        .ok_or_else(no_such_item)?;
    if item.state == ItemState::Adjudicated {
        return Err(AppError::Conflict(
            "This item is adjudicated, and an adjudication wins over any new annotation. \
             To change its labels, adjudicate it again."
                .into(),
        ));
    }
    let extra = if item.routed { 0 } else { 1 };
    // A gold item takes every annotator's submit, so it may already have
    // all it now wants: it stays complete (pending, no one could take it).
    let wanted = project.annotations_per_item + item.extra_annotations + extra;
    let state = if item.done < wanted {
        ItemState::Pending
    } else {
        item.state
    };
    db::review::set_item_state(&mut *tx, item_id, state, extra).await?;
    let counters = |extra: i32, state: ItemState| {
        json!({"state": state, "done": item.done, "leased": item.leased,
               "wanted": project.annotations_per_item + extra})
    };
    db::audit::record(
        &mut *tx,
        Some(lead.id),
        "item sent back",
        &subject_item(item_id),
        Some(counters(item.extra_annotations, item.state)),
        Some(
            json!({"reason": reason, "counters": counters(item.extra_annotations + extra, state)}),
        ),
    )
    .await?;
    if item.state == ItemState::Complete && state == ItemState::Pending {
        // Last lock of the transaction (queue rule 4).
        let shard = db::review::shard_of(Uuid::new_v4());
        db::review::add_progress(&mut *tx, project.id, shard, -1).await?;
    }
    tx.commit().await?;
    Ok(())
}
