//! The task queue: leasing the next item, submitting, skipping, expiry,
//! revisions, and an annotator's progress. Pages and the JSON API share it.
//!
//! # State
//!
//! - `assignments`: one row per item and annotator — a lease and what became
//!   of it: `leased` → `submitted` | `skipped` | `expired` (and `expired` →
//!   `leased` again, same row and id, if the same annotator gets the item
//!   back, or → `submitted` by a late submit while a slot is free). At most
//!   one `leased` row per annotator and project (a partial unique index).
//! - `items.done` (submitted annotations) and `items.leased` (live leases),
//!   kept by the statements below, so the next item is found by one scan of
//!   `items_queue_idx` (pending items of the project by `done desc,
//!   batch_seq, seq`: closest to k first, then batch and file order), or,
//!   when that finds nothing, by one walk in batch order from the
//!   annotator's cursor (`db::assignments::lease`): the lease never
//!   answers "nothing left" while an item this annotator may take exists.
//!   `state` becomes `complete` when `done` reaches k, and that completion
//!   is counted in `project_progress` (sharded), so progress bars never
//!   count items.
//!
//! # Invariants (DESIGN.md, "The task queue")
//!
//! The counters and assignment states change only together and only under
//! the item's row lock, and every change keeps `done + leased <= k`: a lease
//! is taken only while `done + leased < k`; a submit either consumes its own
//! lease (`leased - 1, done + 1`) or, for a lease that expired, needs a free
//! slot. Unique `(item_id, annotator_id)` on both `assignments` and
//! `annotations` makes "never two from one annotator" structural, and
//! `annotations.submission_id` is unique, so a repeated submit finds the
//! annotation it made before and answers with it. Nothing is kept in process
//! memory: any number of `safepref serve` processes share the queue.
//!
//! Gold items, in a project with a gold rate, are the one exception to the
//! k bound (with no rate they are ordinary items): each annotator may get
//! every gold item once (so the gold rate can hold for everyone), and a
//! submit on a gold item is taken whatever `done` is. The lease's gold
//! candidate is locked `skip locked` like the regular one, so the lock
//! argument below is unchanged.
//!
//! # Locks, and why there are no deadlocks
//!
//! Rules every statement here follows:
//!
//! 1. A transaction that *waits* for an item lock holds no other item lock
//!    and no assignment row lock at that moment — except `release_all` (and
//!    a lead's release) and `review::requeue`, which take several item locks
//!    in item id order and wait for nothing but item locks (and, last, one
//!    `project_progress` shard).
//! 2. Item locks that are taken while another one is held are taken with
//!    `skip locked` (the lease's candidate; the sweep), i.e. without waiting.
//! 3. An assignment's `state` is changed only by a transaction holding its
//!    item's lock. The one change made without it — renewing the expiry of a
//!    live lease — holds nothing else and waits for nothing after it.
//! 4. After its item lock, a transaction waits at most on unique-index
//!    checks against a concurrent insert of the *same* annotator's lease
//!    (whose transaction holds no lock we hold and waits for nothing) or
//!    of the same submission id (likewise), and — a submit completing its
//!    item — on one `project_progress` shard row, the last lock it takes
//!    (so its holder waits for nothing more).
//!
//! Who waits for whom, then. Lease (one statement) first renews the
//! caller's live lease, before it holds any item lock; that update may wait
//! for a sweep or a sign-out ending the same lease, neither of which waits
//! for the lease. Its candidate item is `skip locked`, so it never waits for
//! an item, and after it it may only wait for a twin lease of the same
//! annotator (rule 4). Submit and skip first wait for their one item, then
//! touch only rows that item's lock guards. A submit that takes the next
//! lease in its transaction (`submit_then_lease`) does so after its last
//! lock, and only when the annotator holds no live lease in the project, so
//! its lease renews nothing: it waits for no item and no lease row, only
//! for a twin lease (rule 4). Revise waits for one item (`for
//! share`), then updates its own annotation. The sweep never waits for an
//! item (`skip locked`); it may wait for a renewal of a lease it is
//! expiring, and a renewal waits for nothing. `release_all` (sign-out) waits
//! for item locks in id order, and every holder of one of those is a
//! transaction of the kinds above, none of which waits for a second item or
//! for anything `release_all` holds. The lead's actions (`crate::review`)
//! follow the same rules: adjudicate and send-back wait for one item (first
//! lock of their transaction) and then touch only that item's rows and,
//! last, one `project_progress` shard; requeue is ordered like
//! `release_all`. Invalidated annotations give their slot back (`done - 1`),
//! so `done` counts valid annotations and `done + leased <= k +
//! extra_annotations` holds throughout. A wait-for cycle would need a
//! transaction that holds an item lock and waits, out of id order, for
//! another; none exists.

use std::time::Duration;

use safepref_core::labels::{self, Labels};
use safepref_core::suggestions::{self, Display, Suggestion};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{
    self,
    annotations::ProjectListing,
    assignments::{GoldMode, ItemContent, LeaseOutcome, LeaseRow, NewAnnotation, SubmitResult},
    projects::Project,
    users::User,
};
use crate::error::AppError;

/// How often `safepref serve` sweeps expired leases.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Leases expired per sweep transaction.
const SWEEP_BATCH: i64 = 5_000;
/// Attempts of a lease racing another lease of the same annotator.
const LEASE_ATTEMPTS: usize = 5;
/// The longest skip note, in characters.
pub const MAX_SKIP_NOTE_CHARS: usize = 2_000;

/// An item as the annotator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeasedItem {
    pub id: Uuid,
    pub prompt: String,
    pub prompt_source: Option<String>,
    pub responses: Vec<LeasedResponse>,
    /// The item's source labels say severity 3 (severe) for some response:
    /// for the content note.
    pub severe: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeasedResponse {
    pub position: i16,
    pub text: String,
}

impl From<ItemContent> for LeasedItem {
    fn from(c: ItemContent) -> Self {
        LeasedItem {
            id: c.item_id,
            prompt: c.prompt,
            prompt_source: c.prompt_source,
            responses: c
                .positions
                .into_iter()
                .zip(c.texts)
                .map(|(position, text)| LeasedResponse { position, text })
                .collect(),
            severe: c.severe,
        }
    }
}

/// An annotator's hold on one item until `expires_at`.
#[derive(Debug, Clone)]
pub struct Lease {
    pub assignment_id: Uuid,
    pub item: LeasedItem,
    pub expires_at: OffsetDateTime,
}

impl From<LeaseRow> for Lease {
    fn from(row: LeaseRow) -> Self {
        Lease {
            assignment_id: row.assignment_id,
            item: row.item.into(),
            expires_at: row.expires_at,
        }
    }
}

/// The caller's live lease in the project if it has one (coming back within
/// the lease gives the same item, and its time starts again), else a new
/// one; None when nothing is left for this annotator. TooManyRequests once
/// the annotator has done the project's daily cap today.
pub async fn lease(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
) -> Result<Option<Lease>, AppError> {
    // The daily cap: 429 "come back tomorrow".
    crate::wellbeing::check_daily_cap(pool, project, annotator).await?;
    let gold = GoldMode {
        mixed: project.gold_rate > 0.0,
        draw: draw_gold(pool, project, annotator).await?,
    };
    let mut swept = false;
    for attempt in 0..LEASE_ATTEMPTS {
        let outcome = db::assignments::lease(
            pool,
            project.id,
            annotator,
            project.annotations_per_item,
            project.lease_seconds,
            Uuid::now_v7(),
            gold,
        )
        .await;
        match outcome {
            Ok(LeaseOutcome::Leased(row)) => return Ok(Some(row.into())),
            // A lead paused this annotator here: no lease, not even the
            // live one.
            Ok(LeaseOutcome::Paused) => {
                return Err(AppError::Paused(
                    "A lead has paused your work in this project, so no items are given to you for now. \
                     Ask your lead when you can continue."
                        .into(),
                ));
            }
            // Another request of this annotator leased at the same moment
            // (the next attempt finds its lease), or the only free items
            // were locked for a moment by other transactions (a submit, a
            // lease): try again rather than say nothing is left.
            Ok(LeaseOutcome::Raced) => {
                tokio::time::sleep(Duration::from_millis(1 << attempt)).await;
            }
            // Twin leases of one annotator saving their first cursor at
            // once can deadlock (PostgreSQL ends one): the next attempt
            // finds the other's lease.
            Err(e) if db::unique_violation(&e).is_some() || db::deadlock(&e) => {}
            Ok(LeaseOutcome::Empty) => {
                // Leases past their time may hold the last free slots.
                if !swept {
                    swept = true;
                    if release_expired(pool).await? > 0 {
                        continue;
                    }
                }
                // A sweep running elsewhere, or one that passed an item
                // locked for a moment, may still free a slot this annotator
                // may take: wait for it rather than say nothing is left.
                if attempt + 1 < LEASE_ATTEMPTS
                    && db::assignments::overdue_for(pool, project.id, annotator).await?
                {
                    swept = false;
                    tokio::time::sleep(Duration::from_millis(1 << attempt)).await;
                    continue;
                }
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Conflict(
        "the queue was busy with other requests for your next item; please try again".into(),
    ))
}

/// Whether the annotator's next new item should be a gold item: a
/// Bernoulli draw at the project's gold rate, seeded by the project, the
/// annotator and how many items they have submitted there. So a reload
/// draws the same, annotators differ, and there is no pattern to spot
/// (a fixed "every tenth item" would give gold items away). When no gold
/// item is left for the annotator, the lease falls back to a regular one.
async fn draw_gold(pool: &PgPool, project: &Project, annotator: Uuid) -> Result<bool, AppError> {
    if project.gold_rate <= 0.0 {
        return Ok(false);
    }
    let n = db::annotations::submitted_count(pool, project.id, annotator).await?;
    Ok(gold_draw(project.id, annotator, n) < project.gold_rate)
}

/// A number in [0, 1), uniform and fixed for (project, annotator, n).
pub fn gold_draw(project: Uuid, annotator: Uuid, n: i64) -> f64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(project.as_bytes())
        .chain_update(annotator.as_bytes())
        .chain_update(n.to_le_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// What a gold item expected, shown once it is submitted when the project
/// gives feedback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoldFeedback {
    /// One line per statement (see `labels::describe_gold`).
    pub expected: Vec<String>,
    /// The submitted labels got it right (`labels::matches_gold`).
    pub matched: bool,
}

/// The feedback on the annotator's submission of an assignment: None unless
/// the project gives feedback and the item is a gold item.
pub async fn gold_feedback(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    assignment_id: Uuid,
) -> Result<Option<GoldFeedback>, AppError> {
    if !project.gold_feedback {
        return Ok(None);
    }
    let Some((given, gold)) =
        db::annotations::gold_of_submission(pool, assignment_id, annotator).await?
    else {
        return Ok(None);
    };
    // Gold that is not a labels object (a lenient import) has nothing to show.
    let (Ok(given), Ok(gold)) = (
        serde_json::from_value::<Labels>(given),
        serde_json::from_value::<Labels>(gold),
    ) else {
        return Ok(None);
    };
    Ok(Some(GoldFeedback {
        expected: labels::describe_gold(&gold),
        matched: labels::matches_gold(&given, &gold),
    }))
}

/// A BadRequest listing every broken label rule, one per line.
pub fn broken_rules(errors: &[labels::LabelError]) -> AppError {
    AppError::BadRequest(
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Checks labels against the project's K, taxonomy and questions; the
/// message lists every broken rule, one per line.
pub fn check_labels(project: &Project, labels: &Labels) -> Result<(), AppError> {
    labels::validate(
        labels,
        project.responses_per_item as usize,
        &project.taxonomy.0,
        &project.questions.0,
    )
    .map_err(|errors| broken_rules(&errors))
}

fn no_such_assignment() -> AppError {
    AppError::NotFound("there is no such assignment of yours in this project".into())
}

fn labels_json(labels: &Labels) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(labels).map_err(|e| AppError::Internal(e.into()))
}

/// Stores the annotation for the assignment; returns its id.
///
/// Idempotent on `submission_id`: a repeat gets the same id and stores
/// nothing. Labels are checked with `safepref_core::labels::validate`
/// (BadRequest listing every broken rule, one per line). A late submit (the
/// lease expired) is accepted while the item has a free slot, else refused
/// with Conflict. `seconds_spent` is the active time the page measured,
/// clamped to 0..=86400; not finite (NaN) means not measured (stored as null).
pub async fn submit(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    assignment_id: Uuid,
    submission_id: Uuid,
    labels: &Labels,
    seconds_spent: f64,
) -> Result<Uuid, AppError> {
    let submitted = submit_then_lease(
        pool,
        project,
        annotator,
        (assignment_id, submission_id),
        labels,
        seconds_spent,
        false,
    )
    .await?;
    Ok(submitted.annotation_id)
}

/// A stored submission, and the annotator's next lease when it was taken
/// in the submit's own transaction.
pub struct Submitted {
    pub annotation_id: Uuid,
    /// None: not asked for, or not given there (the project leases with a
    /// call of its own, or the lease found nothing, a pause or a race): ask
    /// [`lease`], which says why.
    pub next: Option<Lease>,
}

/// [`submit`]; with `lease_next`, also the annotator's next lease in the
/// same transaction and round trip, in projects whose lease needs nothing
/// decided between the two ([`leases_with_submit`]).
pub async fn submit_then_lease(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    (assignment_id, submission_id): (Uuid, Uuid),
    labels: &Labels,
    seconds_spent: f64,
    lease_next: bool,
) -> Result<Submitted, AppError> {
    check_labels(project, labels)?;
    let (display, source) = shown_policy(project);
    let labels_text = serde_json::to_string(labels).map_err(|e| AppError::Internal(e.into()))?;
    let new = NewAnnotation {
        id: Uuid::now_v7(),
        project_id: project.id,
        annotator,
        assignment_id,
        submission_id,
        labels: &labels_text,
        seconds_spent: seconds_spent
            .is_finite()
            .then(|| seconds_spent.clamp(0.0, 86_400.0)),
        k: project.annotations_per_item,
        gold_mixed: project.gold_rate > 0.0,
        display: display.as_str(),
        source,
    };
    // Without a routing rule the call is the whole transaction (one round
    // trip); the rule needs the item's lock until it has decided.
    let (result, tx, next) = if project.suggestions.0.routing.is_some() {
        let mut tx = pool.begin().await?;
        (
            db::assignments::submit(&mut *tx, &new).await,
            Some(tx),
            None,
        )
    } else if lease_next && leases_with_submit(project) {
        let (result, next) = submit_and_lease(pool, project, &new).await;
        (result, None, next)
    } else {
        (db::assignments::submit(pool, &new).await, None, None)
    };
    let result = match result {
        Ok(result) => result.ok_or_else(no_such_assignment)?,
        Err(e) if db::unique_violation(&e).as_deref() == Some("annotations_submission_id_key") => {
            return Err(AppError::Conflict(
                "this submission id was already used for another item; reload the page and submit again"
                    .into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(mut tx) = tx {
        if let Some(id) = result.annotation_id
            && result.done == 0
            && result.wanted > 1
            && result.item_state == "pending"
            && !result.gold
        {
            route(&mut tx, project, result.item_id, labels, id).await?;
        }
        tx.commit().await?;
    }
    Ok(Submitted {
        annotation_id: answer(project, &result, submission_id)?,
        next: match next {
            Some(LeaseOutcome::Leased(row)) => Some(row.into()),
            _ => None,
        },
    })
}

/// Whether the next lease can be taken in the submit's transaction: not
/// when the server decides something first ([`lease`]: the gold draw, the
/// daily cap).
fn leases_with_submit(project: &Project) -> bool {
    project.gold_rate <= 0.0 && project.wellbeing.0.daily_cap.is_none()
}

/// `db::assignments::submit_and_lease`. When its lease loses a race (a twin
/// lease of the same annotator at the same moment: a unique violation; or,
/// rarer still, a sign-out of theirs that PostgreSQL resolves as a
/// deadlock), the submit is rolled back with it, so the submit then runs
/// alone and the caller leases as usual.
async fn submit_and_lease(
    pool: &PgPool,
    project: &Project,
    new: &NewAnnotation<'_>,
) -> (
    Result<Option<SubmitResult>, sqlx::Error>,
    Option<LeaseOutcome>,
) {
    let outcome =
        db::assignments::submit_and_lease(pool, new, project.lease_seconds, Uuid::now_v7()).await;
    match outcome {
        Ok(Some((result, next))) => (Ok(Some(result)), next),
        Ok(None) => (Ok(None), None),
        Err(e)
            if db::deadlock(&e)
                || db::unique_violation(&e)
                    .is_some_and(|name| name != "annotations_submission_id_key") =>
        {
            (db::assignments::submit(pool, new).await, None)
        }
        Err(e) => (Err(e), None),
    }
}

/// The answer to a submit: the new annotation's id, or the one a repeat of
/// the same submission stored; else why nothing was stored (the function
/// has already ended a dead lease, or remembered a refused late submit so
/// that its retry is refused too).
fn answer(project: &Project, result: &SubmitResult, submission_id: Uuid) -> Result<Uuid, AppError> {
    if let Some(id) = result.annotation_id {
        return Ok(id);
    }
    match result.state.as_str() {
        "submitted" => match (result.existing_id, result.existing_submission) {
            (Some(id), Some(earlier)) if earlier == submission_id => Ok(id),
            _ => Err(AppError::Conflict(
                "You have already submitted this item (perhaps from another tab); your labels are saved. \
                 To change them, revise it from your recent submissions."
                    .into(),
            )),
        },
        "skipped" => Err(AppError::Conflict(
            "You skipped this item, so it went back to the queue; it can no longer be submitted.".into(),
        )),
        "leased" => {
            // The item was completed or adjudicated under this lease (k was
            // lowered, or a lead decided it): the lease is of no use now.
            Err(AppError::Conflict(if result.adjudicated {
                "A lead has adjudicated this item in the meantime, so these labels could not be saved. \
                 Load the next item to continue."
                    .into()
            } else {
                "This item already has all the annotations it needs, so these labels could not be saved. \
                 Load the next item to continue."
                    .into()
            }))
        }
        _ => Err(AppError::Conflict(format!(
                "Your time on this item ran out ({} minutes) and other annotators have since taken all of \
                 its places, so these labels could not be saved. Load the next item to continue.",
                project.lease_seconds / 60
            ))),
    }
}

/// What annotators of the project are shown of an item's suggestions: the
/// display mode, and the source whose suggestion is shown (None: every
/// source's); blind when nothing is. (Pre-filling needs a source: a policy
/// check refuses it without one.)
fn shown_policy(project: &Project) -> (Display, Option<&str>) {
    let policy = &project.suggestions.0;
    match (policy.display, &policy.source) {
        (Display::Blind, _) | (Display::Prefill, None) => (Display::Blind, None),
        (display, source) => (display, source.as_deref()),
    }
}

/// The suggestions the annotator is shown for an item under the project's
/// policy ([`shown_policy`]).
pub async fn shown_suggestions(
    db: impl sqlx::PgExecutor<'_>,
    project: &Project,
    item_id: Uuid,
) -> Result<Vec<Suggestion>, AppError> {
    Ok(match shown_policy(project) {
        (Display::Blind, _) => Vec::new(),
        (_, Some(source)) => db::suggestions::from_source(db, item_id, source)
            .await?
            .into_iter()
            .collect(),
        (_, None) => db::suggestions::of_item(db, item_id).await?,
    })
}

/// The routing rule, on an item's first annotation: when the project's
/// routing source is confident and the person agrees with it
/// (`suggestions::settles_at_one`), the item is complete with this one
/// annotation. Runs in the submit's transaction, under the item's lock.
async fn route(
    conn: &mut sqlx::PgConnection,
    project: &Project,
    item_id: Uuid,
    given: &Labels,
    annotation_id: Uuid,
) -> Result<(), AppError> {
    let Some(routing) = &project.suggestions.0.routing else {
        return Ok(());
    };
    let Some(suggestion) =
        db::suggestions::from_source(&mut *conn, item_id, &routing.source).await?
    else {
        return Ok(());
    };
    if suggestions::settles_at_one(&suggestion, given, routing.threshold) {
        db::assignments::complete_routed(conn, item_id, project.id, annotation_id).await?;
    }
    Ok(())
}

/// Why an annotator skipped an item (recorded for leads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Unclear,
    WrongLanguage,
    TooDisturbing,
    Other,
}

impl SkipReason {
    pub const ALL: [SkipReason; 4] = [
        SkipReason::Unclear,
        SkipReason::WrongLanguage,
        SkipReason::TooDisturbing,
        SkipReason::Other,
    ];

    /// The stored name (the `skip_reason` enum in SQL; the JSON value).
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Unclear => "unclear",
            SkipReason::WrongLanguage => "wrong_language",
            SkipReason::TooDisturbing => "too_disturbing",
            SkipReason::Other => "other",
        }
    }

    /// As a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::Unclear => "Unclear",
            SkipReason::WrongLanguage => "Wrong language",
            SkipReason::TooDisturbing => "Too disturbing",
            SkipReason::Other => "Other",
        }
    }
}

/// Gives the item back with a reason; it never comes back to this
/// annotator. Repeating a skip is harmless; skipping what was submitted is
/// a Conflict.
pub async fn skip(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    assignment_id: Uuid,
    reason: SkipReason,
    note: Option<&str>,
) -> Result<(), AppError> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if let Some(note) = note {
        let chars = note.chars().count();
        if chars > MAX_SKIP_NOTE_CHARS {
            return Err(AppError::BadRequest(format!(
                "the note is {chars} characters long; the limit is {MAX_SKIP_NOTE_CHARS}"
            )));
        }
        if note.contains('\0') {
            return Err(AppError::BadRequest(
                "the note contains a NUL character, which cannot be stored".into(),
            ));
        }
    }
    let mut tx = pool.begin().await?;
    db::assignments::lock_item(&mut *tx, assignment_id, annotator, project.id)
        .await?
        .ok_or_else(no_such_assignment)?;
    let before = db::assignments::skip(&mut *tx, assignment_id, reason.as_str(), note).await?;
    if before == "submitted" {
        return Err(AppError::Conflict(
            "You have already submitted this item; there is nothing to skip.".into(),
        ));
    }
    tx.commit().await?;
    Ok(())
}

/// An annotator's progress in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Submitted today (UTC) in this project.
    pub done_today: i64,
    pub done_in_project: i64,
    pub project_items: i64,
    /// Items with all their annotations (or adjudicated).
    pub project_complete: i64,
}

pub async fn progress(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
) -> Result<Progress, AppError> {
    let row = db::annotations::progress(pool, project.id, annotator).await?;
    Ok(Progress {
        done_today: row.done_today,
        done_in_project: row.done_in_project,
        project_items: row.project_items,
        project_complete: row.project_complete,
    })
}

/// One of the annotator's recent submissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recent {
    pub annotation_id: Uuid,
    pub item_id: Uuid,
    /// The first 120 characters of the prompt.
    pub prompt_start: String,
    #[serde(with = "time::serde::rfc3339")]
    pub submitted_at: OffsetDateTime,
    /// Within the project's `revisable_recent` newest and not adjudicated.
    pub revisable: bool,
}

/// The annotator's newest submissions in the project, newest first.
pub async fn recent(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    limit: i64,
) -> Result<Vec<Recent>, AppError> {
    let rows = db::annotations::recent(
        pool,
        project.id,
        annotator,
        project.revisable_recent,
        limit.clamp(0, 1000),
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Recent {
            annotation_id: r.annotation_id,
            item_id: r.item_id,
            prompt_start: r.prompt_start,
            submitted_at: r.submitted_at,
            revisable: r.revisable,
        })
        .collect())
}

fn no_such_annotation() -> AppError {
    AppError::NotFound("there is no such annotation of yours in this project".into())
}

/// The annotation with its item, for the revise form; NotFound unless it is
/// the annotator's own.
pub async fn annotation_for_revision(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    annotation_id: Uuid,
) -> Result<(LeasedItem, Labels), AppError> {
    let own = db::annotations::own_with_item(pool, project.id, annotator, annotation_id)
        .await?
        .ok_or_else(no_such_annotation)?;
    let labels: Labels =
        serde_json::from_value(own.labels).map_err(|e| AppError::Internal(e.into()))?;
    Ok((own.item.into(), labels))
}

/// Replaces the labels of one of the annotator's submissions: only within
/// their `revisable_recent` newest in the project and while the item is not
/// adjudicated. The audit log records before and after.
pub async fn revise(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    annotation_id: Uuid,
    labels: &Labels,
) -> Result<(), AppError> {
    check_labels(project, labels)?;
    let after = labels_json(labels)?;
    let mut tx = pool.begin().await?;
    let found = db::annotations::lock_for_revision(&mut *tx, project.id, annotator, annotation_id)
        .await?
        .ok_or_else(no_such_annotation)?;
    if found.adjudicated {
        return Err(AppError::Conflict(
            "A lead has adjudicated this item, so its annotations can no longer be revised.".into(),
        ));
    }
    // The expected answer was shown after the submit: a changed answer
    // would measure nothing.
    if found.gold && project.gold_feedback {
        return Err(AppError::Conflict(
            "This was a check item whose expected answer you have seen, so your answer is final."
                .into(),
        ));
    }
    let allowed = i64::from(project.revisable_recent);
    if found.newer >= allowed {
        return Err(AppError::Conflict(match allowed {
            0 => "This project does not allow revising submissions.".into(),
            1 => "Only your most recent submission can be revised; this one is older.".into(),
            n => {
                format!("Only your {n} most recent submissions can be revised; this one is older.")
            }
        }));
    }
    if found.labels == after {
        return Ok(());
    }
    db::annotations::set_labels(&mut *tx, annotation_id, &after).await?;
    db::audit::record(
        &mut *tx,
        Some(annotator),
        "annotation revised",
        &format!("annotation:{annotation_id}"),
        Some(found.labels),
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks expired leases expired and frees their slots; returns how many.
/// Called every [`SWEEP_EVERY`] by `safepref serve` and by [`lease`] when it
/// finds nothing. One sweep runs at a time across all processes (an advisory
/// lock; a second one returns 0 at once).
pub async fn release_expired(pool: &PgPool) -> Result<u64, AppError> {
    let mut total = 0;
    loop {
        let mut tx = pool.begin().await?;
        let Some(ended) = db::assignments::sweep(&mut tx, SWEEP_BATCH).await? else {
            return Ok(total);
        };
        tx.commit().await?;
        total += ended;
        if ended < SWEEP_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Releases all of an annotator's live leases (at sign-out); returns how many.
pub async fn release_all(pool: &PgPool, annotator: Uuid) -> Result<u64, AppError> {
    Ok(db::assignments::release_all(pool, annotator).await?)
}

/// Releases an annotator's live leases in one project (a lead's action);
/// returns how many.
pub async fn release_in_project(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
) -> Result<u64, AppError> {
    Ok(db::assignments::release(pool, annotator, Some(project.id)).await?)
}

/// Runs [`release_expired`] every [`SWEEP_EVERY`], forever.
pub async fn sweep_periodically(pool: PgPool) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match release_expired(&pool).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(leases = n, "released expired leases"),
            Err(e) => tracing::warn!(error = %e, "releasing expired leases"),
        }
    }
}

/// How often `safepref serve` looks for queue tables that outgrew the
/// statistics of their first, near-empty days (`db::statistics`: one small
/// catalog query).
pub const STATISTICS_EVERY: Duration = Duration::from_secs(2);

/// Runs [`db::statistics::analyze_grown`] every [`STATISTICS_EVERY`],
/// forever, for queue tables of at least 1,000 rows.
pub async fn keep_statistics_periodically(pool: PgPool) {
    let mut tick = tokio::time::interval(STATISTICS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let analyzed = match pool.acquire().await {
            Ok(mut conn) => db::statistics::analyze_grown(&mut conn, 1_000).await,
            Err(e) => Err(e),
        };
        match analyzed {
            Ok(tables) if tables.is_empty() => {}
            Ok(tables) => tracing::info!(
                ?tables,
                "analyzed: their statistics were from a near-empty table"
            ),
            Err(e) => tracing::warn!(error = %e, "keeping the queue tables' statistics"),
        }
    }
}

/// The item of one of the annotator's assignments, whatever became of it
/// (to show the form again after a refused submit); NotFound unless it is
/// theirs.
pub async fn assigned_item(
    pool: &PgPool,
    annotator: Uuid,
    assignment_id: Uuid,
) -> Result<LeasedItem, AppError> {
    db::assignments::item_of(pool, assignment_id, annotator)
        .await?
        .map(LeasedItem::from)
        .ok_or_else(no_such_assignment)
}

/// The project of one of the annotator's assignments; NotFound unless it is
/// theirs.
pub async fn project_of_assignment(
    pool: &PgPool,
    annotator: Uuid,
    assignment_id: Uuid,
) -> Result<Project, AppError> {
    db::assignments::project_of(pool, assignment_id, annotator)
        .await?
        .ok_or_else(no_such_assignment)
}

/// A project in an annotator's list.
pub type ProjectSummary = ProjectListing;

/// The projects an annotator may work in: all of them for now.
pub async fn projects_for(pool: &PgPool, user: &User) -> Result<Vec<ProjectSummary>, AppError> {
    Ok(db::annotations::project_listings(pool, user.id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gold_draw_is_fixed_and_near_uniform() {
        let (project, annotator) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            gold_draw(project, annotator, 7),
            gold_draw(project, annotator, 7)
        );
        let below = (0..10_000)
            .filter(|n| gold_draw(project, annotator, *n) < 0.1)
            .count();
        // Binomial(10000, 0.1): sd 30; five sd either side.
        assert!((850..=1150).contains(&below), "{below}");
    }
}
