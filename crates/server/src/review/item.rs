//! One item under review: what its page shows, and the lead's two
//! decisions on it, adjudicate (final labels) and send back (one more
//! annotation), both audited.

use safepref_core::consolidation::Consolidated;
use safepref_core::labels::Labels;
use safepref_core::suggestions::Suggestion;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::flags::{consolidate, model_reasons, reasons};
use super::{ReviewError, check_reason, subject_item};
use crate::db::{
    self,
    adjudications::Adjudication,
    items::ItemState,
    projects::Project,
    review::{ItemAnnotation, ItemDetail, Skip},
    users::User,
};
use crate::queue;

/// The item as its review page shows it, with its project, if `viewer`
/// may see that project; an item of a project they may not see is
/// [`ReviewError::NoSuchItem`], exactly like one that does not exist.
pub async fn find_item_for(
    pool: &PgPool,
    viewer: &User,
    item_id: Uuid,
) -> Result<(ItemDetail, Project), ReviewError> {
    let item = db::review::item(pool, item_id)
        .await?
        .ok_or(ReviewError::NoSuchItem)?;
    let project = db::projects::find_visible(pool, item.project_id, viewer.id)
        .await?
        .ok_or(ReviewError::NoSuchItem)?;
    Ok((item, project))
}

/// What an item's review page shows besides the item itself.
pub struct ItemReview {
    /// Every annotation, invalid ones too, oldest first.
    pub annotations: Vec<ItemAnnotation>,
    pub skips: Vec<Skip>,
    /// Newest first: the first is the one that counts.
    pub adjudications: Vec<Adjudication>,
    /// Machine suggestions, by source.
    pub suggestions: Vec<Suggestion>,
    /// The valid votes consolidated, adjudications left out: the support
    /// and the reasons shown are the people's.
    pub from_votes: Consolidated,
    /// The item's final record: the newest adjudication wins.
    pub record: Consolidated,
    /// Why the item needs review, as the queue words it.
    pub reasons: Vec<String>,
}

/// Reads the item's annotations, skips, adjudications and suggestions, and
/// judges them as the review queue does.
pub async fn item_review(
    pool: &PgPool,
    project: &Project,
    item: &ItemDetail,
) -> Result<ItemReview, ReviewError> {
    let annotations = db::review::item_annotations(pool, item.id).await?;
    let skips = db::review::item_skips(pool, item.id).await?;
    let adjudications = db::adjudications::for_item(pool, item.id).await?;
    let valid: Vec<(String, Labels)> = annotations
        .iter()
        .filter(|a| a.invalidated_at.is_none())
        .map(|a| (a.annotator.clone(), a.labels.0.clone()))
        .collect();
    let votes: Vec<Labels> = valid.iter().map(|(_, l)| l.clone()).collect();
    let newest = adjudications.first().map(|a| a.labels.0.clone());
    let from_votes = consolidate(project, &votes, None);
    let record = consolidate(project, &votes, newest);
    let unclear = skips.iter().filter(|s| s.reason == "unclear").count() as i64;
    let suggestions = db::suggestions::of_item(pool, item.id).await?;
    let mut reasons = reasons(
        &from_votes,
        item.gold.as_ref().map(|g| &g.0),
        &valid,
        unclear,
    );
    reasons.extend(model_reasons(project, &valid, &suggestions));
    Ok(ItemReview {
        annotations,
        skips,
        adjudications,
        suggestions,
        from_votes,
        record,
        reasons,
    })
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
) -> Result<(), ReviewError> {
    queue::check_labels(project, labels)?;
    let reason = check_reason(reason)?;
    let after = serde_json::to_value(labels)?;
    let mut tx = pool.begin().await?;
    let item = db::review::lock_item(&mut *tx, item_id)
        .await?
        .filter(|i| i.project_id == project.id)
        .ok_or(ReviewError::NoSuchItem)?;
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
) -> Result<(), ReviewError> {
    let reason = check_reason(reason)?;
    let mut tx = pool.begin().await?;
    let item = db::review::lock_item(&mut *tx, item_id)
        .await?
        .filter(|i| i.project_id == project.id)
        .ok_or(ReviewError::NoSuchItem)?;
    if item.state == ItemState::Adjudicated {
        return Err(ReviewError::Adjudicated);
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
