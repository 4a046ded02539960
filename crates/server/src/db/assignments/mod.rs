//! The `assignments` table (leases) and the queue counters on `items`.
//!
//! The locking rules these statements follow, and why they cannot deadlock,
//! are set out in `crate::queue`; each function says which rule it relies on.
//!
//! `lease` finds and takes the next item, `submit` stores an annotation
//! (and may lease the next item in the same call), `ending` ends leases
//! (a skip, the expiry sweep, releases); this file holds the types they
//! share and two lookups.

mod ending;
mod lease;
mod submit;

use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use super::projects::{Project, ProjectRow};

pub use ending::{lock_item, overdue_for, release, release_all, skip, sweep};
pub use lease::{GoldMode, LeaseOutcome, lease};
pub use submit::{NewAnnotation, SubmitResult, complete_routed, submit, submit_and_lease};

/// Where a lease stands (the `assignment_state` type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "assignment_state", rename_all = "snake_case")]
pub enum AssignmentState {
    Leased,
    Submitted,
    Skipped,
    Expired,
}

/// For a column that holds the state as text (`submit_annotation`'s).
impl TryFrom<String> for AssignmentState {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "leased" => Ok(Self::Leased),
            "submitted" => Ok(Self::Submitted),
            "skipped" => Ok(Self::Skipped),
            "expired" => Ok(Self::Expired),
            _ => Err(format!("no assignment state {s:?}")),
        }
    }
}

/// The columns of an item as an annotator sees it, for `ItemContent`; `i`
/// is the item. A macro, so statements stay `&'static str`.
macro_rules! item_content {
    () => {
        // Responses as arrays in key order: no JSON to build and parse, no
        // sort. `severe` is stored (migration 0021).
        "i.id as item_id, i.prompt, i.prompt_source,
         array(select r.position from responses r where r.item_id = i.id order by r.position) as positions,
         array(select r.text from responses r where r.item_id = i.id order by r.position) as texts,
         i.severe"
    };
}
pub(crate) use item_content;

/// An item with its responses, as an annotator sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemContent {
    pub item_id: Uuid,
    pub prompt: String,
    pub prompt_source: Option<String>,
    /// The responses' positions and texts, in position order.
    pub positions: Vec<i16>,
    pub texts: Vec<String>,
    /// The source labels say severity 3 for some response.
    pub severe: bool,
}

/// A live lease with its item.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LeaseRow {
    pub assignment_id: Uuid,
    pub expires_at: OffsetDateTime,
    #[sqlx(flatten)]
    pub item: ItemContent,
}

/// The item of one of the annotator's assignments (whatever its state).
pub async fn item_of(
    db: impl PgExecutor<'_>,
    assignment_id: Uuid,
    annotator: Uuid,
) -> Result<Option<ItemContent>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        item_content!(),
        " from assignments a join items i on i.id = a.item_id
          where a.id = $1 and a.annotator_id = $2"
    ))
    .bind(assignment_id)
    .bind(annotator)
    .fetch_optional(db)
    .await
}

/// The project an assignment belongs to, if the assignment is the
/// annotator's and they may still see the project (`project_visible`).
pub async fn project_of(
    db: impl PgExecutor<'_>,
    assignment_id: Uuid,
    annotator: Uuid,
) -> Result<Option<Project>, sqlx::Error> {
    // `p.*`: `ProjectRow` reads the columns it knows by name.
    sqlx::query_as::<_, ProjectRow>(
        "select p.* from projects p join assignments a on a.project_id = p.id
          where a.id = $1 and a.annotator_id = $2 and project_visible(p.id, p.access, $2)",
    )
    .bind(assignment_id)
    .bind(annotator)
    .fetch_optional(db)
    .await?
    .map(Project::try_from)
    .transpose()
}
