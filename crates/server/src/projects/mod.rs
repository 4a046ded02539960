//! Project rules shared by the admin pages and `safepref project …`: valid
//! settings, settings that freeze once labels exist, and the audit trail;
//! what the project pages read (`pages`).

pub mod members;
mod pages;

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
pub use crate::db::batches::{Batch, Progress};
pub use crate::db::items::{BatchStates, StateCounts};
pub use crate::db::projects::{Project, Settings, Summary, Wellbeing};
pub use pages::{
    BatchPage, Editable, ItemStates, Overview, batch_page, editable, item_states, overview,
    summaries,
};

/// Why label-defining settings cannot change any more, for pages and errors.
pub const FROZEN_REASON: &str = "Responses per item, annotations per item, the taxonomy and the questions are \
     frozen because this project has annotations: changing them would change the meaning of labels already \
     given, or the queue's count of them.";

/// What went wrong with a project, one of its batches or its crowd link.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// Settings (or crowd link settings) that break the rules: every problem.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("a project named {0:?} exists already")]
    NameTaken(String),
    /// A label-defining setting changed in a project with annotations.
    #[error("{}", FROZEN_REASON)]
    Frozen,
    /// K changed in a project with items.
    #[error(
        "responses per item (K) cannot change from {from} to {to}: the project already has items with {from} responses each"
    )]
    ResponsesFixed { from: i32, to: i32 },
    #[error("there is no such project")]
    NoSuchProject,
    #[error("there is no project named {0:?}")]
    NoProjectNamed(String),
    #[error("there is no such batch in this project")]
    NoSuchBatch,
    #[error("this batch has annotations and cannot be deleted")]
    BatchAnnotated,
    #[error("another project's link is called {0:?} already")]
    LinkTaken(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Says everything that is wrong with `s`, one message per problem.
pub fn check(s: &Settings) -> Result<(), ProjectError> {
    let mut problems = Vec::new();
    let name_len = s.name.trim().chars().count();
    if name_len == 0 || name_len > 200 {
        problems.push("the name must have 1 to 200 characters".to_string());
    }
    if !(2..=8).contains(&s.responses_per_item) {
        problems.push(format!(
            "responses per item (K) must be 2 to 8, not {}",
            s.responses_per_item
        ));
    }
    if !(1..=10).contains(&s.annotations_per_item) {
        problems.push(format!(
            "annotations per item (k) must be 1 to 10, not {}",
            s.annotations_per_item
        ));
    }
    if !(30..=86_400).contains(&s.lease_seconds) {
        problems.push(format!(
            "the lease time must be 30 seconds to 24 hours, not {} seconds",
            s.lease_seconds
        ));
    }
    if !(0..=50).contains(&s.revisable_recent) {
        problems.push(format!(
            "the number of recent submissions an annotator may revise must be 0 to 50, not {}",
            s.revisable_recent
        ));
    }
    if !(0.0..=1.0).contains(&s.review_min_support) {
        problems.push(format!(
            "the review threshold must be between 0% and 100%, not {}%",
            s.review_min_support * 100.0
        ));
    }
    if !(0.0..=0.2).contains(&s.gold_rate) {
        problems.push(format!(
            "the gold rate must be 0% to 20%, not {}%",
            s.gold_rate * 100.0
        ));
    }
    let q = &s.questions;
    if !(q.safety || q.helpfulness || q.harmlessness || q.overall) {
        problems.push(
            "ask at least one of: safety labels, helpfulness, harmlessness, overall preference"
                .into(),
        );
    }
    if s.taxonomy.categories.is_empty() && q.safety {
        problems.push("the safety question needs a taxonomy with at least one category".into());
    }
    let w = &s.wellbeing;
    for (what, value) in [
        ("a break every N items", w.break_every_items),
        ("a break every N minutes", w.break_every_minutes),
        ("the daily cap", w.daily_cap),
    ] {
        if value == Some(0) {
            problems.push(format!(
                "{what} must be at least 1 (leave it empty for none)"
            ));
        }
    }
    if let Err(problem) = s.suggestions.check() {
        problems.push(problem);
    }
    if s.guidelines.len() > 200_000 {
        problems.push("the guidelines must be under 200,000 characters".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ProjectError::Invalid(problems))
    }
}

pub async fn create(
    pool: &PgPool,
    actor: Option<Uuid>,
    settings: Settings,
) -> Result<Project, ProjectError> {
    let settings = Settings {
        name: settings.name.trim().to_string(),
        ..settings
    };
    check(&settings)?;
    let mut tx = pool.begin().await?;
    let project = match db::projects::insert(&mut *tx, &settings, actor).await {
        Ok(project) => project,
        Err(e) if db::unique_violation(&e).is_some() => {
            return Err(ProjectError::NameTaken(settings.name));
        }
        Err(e) => return Err(e.into()),
    };
    let after = json!({"name": project.name, "K": project.responses_per_item, "k": project.annotations_per_item});
    db::audit::record(
        &mut *tx,
        actor,
        "project created",
        &subject(project.id),
        None,
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok(project)
}

/// Saves new settings, refusing changes to frozen ones.
pub async fn update(
    pool: &PgPool,
    actor: Option<Uuid>,
    project: &Project,
    new: Settings,
) -> Result<(), ProjectError> {
    let new = Settings {
        name: new.name.trim().to_string(),
        ..new
    };
    check(&new)?;
    let old = project.settings();
    // k is frozen too: the queue's counters and item states follow it.
    let meaning_changed = new.responses_per_item != old.responses_per_item
        || new.annotations_per_item != old.annotations_per_item
        || new.taxonomy != old.taxonomy
        || new.questions != old.questions;
    if meaning_changed && db::projects::has_annotations(pool, project.id).await? {
        return Err(ProjectError::Frozen);
    }
    if new.responses_per_item != old.responses_per_item
        && db::projects::has_items(pool, project.id).await?
    {
        return Err(ProjectError::ResponsesFixed {
            from: old.responses_per_item,
            to: new.responses_per_item,
        });
    }
    let mut tx = pool.begin().await?;
    match db::projects::update(&mut *tx, project.id, &new).await {
        Ok(()) => {}
        Err(e) if db::unique_violation(&e).is_some() => {
            return Err(ProjectError::NameTaken(new.name));
        }
        Err(e) => return Err(e.into()),
    }
    let (before, after) = (summary(&old), summary(&new));
    db::audit::record(
        &mut *tx,
        actor,
        "project settings changed",
        &subject(project.id),
        Some(before),
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn summary(s: &Settings) -> serde_json::Value {
    json!({
        "name": s.name, "K": s.responses_per_item, "k": s.annotations_per_item, "lease_seconds": s.lease_seconds,
        "revisable_recent": s.revisable_recent, "questions": s.questions, "taxonomy": s.taxonomy.preset, "categories": s.taxonomy.names(),
        "gold_rate": s.gold_rate, "review_min_support": s.review_min_support, "wellbeing": s.wellbeing, "suggestions": s.suggestions, "guidelines_chars": s.guidelines.chars().count(),
    })
}

pub fn subject(id: Uuid) -> String {
    format!("project:{id}")
}

pub async fn find(pool: &PgPool, id: Uuid) -> Result<Project, ProjectError> {
    db::projects::find(pool, id)
        .await?
        .ok_or(ProjectError::NoSuchProject)
}

pub async fn find_by_name(pool: &PgPool, name: &str) -> Result<Project, ProjectError> {
    db::projects::find_by_name(pool, name)
        .await?
        .ok_or_else(|| ProjectError::NoProjectNamed(name.to_string()))
}

/// One of the project's batches.
async fn find_batch(
    pool: &PgPool,
    project_id: Uuid,
    batch_id: Uuid,
) -> Result<Batch, ProjectError> {
    db::batches::find(pool, batch_id)
        .await?
        .filter(|b| b.project_id == project_id)
        .ok_or(ProjectError::NoSuchBatch)
}

/// One of the project's batches that may be deleted: nobody has annotated it.
pub async fn deletable_batch(
    pool: &PgPool,
    project_id: Uuid,
    batch_id: Uuid,
) -> Result<Batch, ProjectError> {
    let batch = find_batch(pool, project_id, batch_id).await?;
    if db::batches::has_annotations(pool, batch_id).await? {
        return Err(ProjectError::BatchAnnotated);
    }
    Ok(batch)
}

/// Deletes one of the project's batches that nobody has annotated, with its
/// items, and audits it.
pub async fn delete_batch(
    pool: &PgPool,
    actor: Option<Uuid>,
    project_id: Uuid,
    batch_id: Uuid,
) -> Result<(), ProjectError> {
    let batch = find_batch(pool, project_id, batch_id).await?;
    let mut tx = pool.begin().await?;
    if db::batches::has_annotations(&mut *tx, batch.id).await? {
        return Err(ProjectError::BatchAnnotated);
    }
    db::batches::delete(&mut *tx, batch.id).await?;
    let before =
        json!({"batch": batch.seq, "file": batch.file_name, "items": batch.items_imported});
    db::audit::record(
        &mut *tx,
        actor,
        "batch deleted",
        &subject(batch.project_id),
        Some(before),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What the admin does to a project's crowd entry link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryAction {
    /// Keep the token (or keep the link closed).
    Save,
    /// A new token: the old link stops working (this also opens the link).
    Rotate,
    /// No token: the link admits nobody.
    Close,
}

/// The crowd entry settings an admin gives.
#[derive(Debug, Clone)]
pub struct CrowdEntry {
    pub slug: String,
    pub quota: i32,
    /// Empty: keep the current one, or make one up.
    pub completion_code: String,
}

/// Says everything that is wrong with the entry settings.
fn check_entry(e: &CrowdEntry) -> Result<(), ProjectError> {
    let mut problems = Vec::new();
    let slug_ok = (1..=23).contains(&e.slug.len())
        && e.slug
            .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && e.slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !slug_ok {
        problems.push(format!(
            "the link name must be 1 to 23 lowercase letters, digits or '-', starting with a letter or digit, not {:?}",
            e.slug
        ));
    }
    if !(1..=100_000).contains(&e.quota) {
        problems.push(format!(
            "the items per worker must be 1 to 100000, not {}",
            e.quota
        ));
    }
    let code = &e.completion_code;
    let code_ok = (4..=100).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !code.is_empty() && !code_ok {
        problems.push(format!(
            "the completion code must be 4 to 100 letters, digits, '-' or '_', not {code:?}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ProjectError::Invalid(problems))
    }
}

/// Saves the project's crowd entry link (`/p/{slug}/join`), rotating or
/// closing its token as asked; audited (the token itself is not logged).
pub async fn set_crowd_entry(
    pool: &PgPool,
    actor: Option<Uuid>,
    project: &Project,
    entry: CrowdEntry,
    action: EntryAction,
) -> Result<(), ProjectError> {
    check_entry(&entry)?;
    let token = match action {
        EntryAction::Save => project.crowd_token.clone(),
        EntryAction::Rotate => Some(crate::auth::random_token()),
        EntryAction::Close => None,
    };
    let code = match (
        entry.completion_code.as_str(),
        &project.crowd_completion_code,
    ) {
        ("", Some(current)) => current.clone(),
        ("", None) => crate::auth::random_token()[..10].to_uppercase(),
        (given, _) => given.to_string(),
    };
    let mut tx = pool.begin().await?;
    match db::crowd::set_entry(
        &mut *tx,
        project.id,
        &entry.slug,
        token.as_deref(),
        entry.quota,
        &code,
    )
    .await
    {
        Ok(()) => {}
        Err(e) if db::unique_violation(&e).is_some() => {
            return Err(ProjectError::LinkTaken(entry.slug));
        }
        Err(e) => return Err(e.into()),
    }
    let after = json!({"slug": entry.slug, "quota": entry.quota, "open": token.is_some(),
                       "token_rotated": action == EntryAction::Rotate});
    db::audit::record(
        &mut *tx,
        actor,
        "crowd entry changed",
        &subject(project.id),
        None,
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The project if `viewer` may see it (`project_visible`: an admin every
/// project, a crowd worker the one they joined, anyone else the open ones
/// and those they are a member of). One they may not see is
/// [`ProjectError::NoSuchProject`], exactly like one that does not exist:
/// its existence is not disclosed. Every route a person reaches a
/// project's data by resolves it here, pages and API alike.
pub async fn find_for(
    pool: &PgPool,
    viewer: &db::users::User,
    id: Uuid,
) -> Result<Project, ProjectError> {
    db::projects::find_visible(pool, id, viewer.id)
        .await?
        .ok_or(ProjectError::NoSuchProject)
}

/// Whose view a list of projects (or of what happened in them) shows:
/// None, everything, for an admin; else the person's own.
pub fn seen_by(viewer: &db::users::User) -> Option<Uuid> {
    (viewer.role < db::users::Role::Admin).then_some(viewer.id)
}
