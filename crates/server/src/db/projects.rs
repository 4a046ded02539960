//! The `projects` table.

use safepref_core::labels::Questions;
use safepref_core::suggestions::Policy;
use safepref_core::taxonomy::Taxonomy;
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

/// How a project looks after the people who read harmful text all day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wellbeing {
    /// Response text stays blurred until the annotator reveals it.
    pub blur_responses: bool,
    /// A content note before items whose source labels say "severe".
    pub content_note_for_severe: bool,
    /// Suggest a break after this many items in a row (None: never).
    pub break_every_items: Option<u32>,
    /// Suggest a break after this many minutes of work (None: never).
    pub break_every_minutes: Option<u32>,
    /// Items one annotator may do per day in this project (None: no cap).
    pub daily_cap: Option<u32>,
}

impl Default for Wellbeing {
    fn default() -> Self {
        Wellbeing {
            blur_responses: true,
            content_note_for_severe: true,
            break_every_items: Some(50),
            break_every_minutes: Some(45),
            daily_cap: None,
        }
    }
}

/// Who may work on a project besides admins: every annotator and lead
/// (`open`), or only its members (`members`, see `db::members`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, sqlx::Type, Serialize, Deserialize)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Access {
    #[default]
    Open,
    Members,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Open => "open",
            Access::Members => "members",
        }
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Access {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(Access::Open),
            "members" => Ok(Access::Members),
            _ => Err(format!("{s:?} is not a project access (open or members)")),
        }
    }
}

/// Everything about a project that people set.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub name: String,
    pub guidelines: String,
    pub responses_per_item: i32,
    pub annotations_per_item: i32,
    pub lease_seconds: i32,
    /// How many of an annotator's newest submissions they may still revise.
    pub revisable_recent: i32,
    pub questions: Questions,
    pub taxonomy: Taxonomy,
    pub gold_rate: f64,
    /// Show the expected labels after an annotator submits a gold item
    /// (false: gold items stay silent).
    pub gold_feedback: bool,
    pub wellbeing: Wellbeing,
    /// Support below this sends an item to the review queue (0..=1).
    pub review_min_support: f64,
    /// What annotators see of machine suggestions, and the routing rule.
    pub suggestions: Policy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            name: String::new(),
            guidelines: String::new(),
            responses_per_item: 2,
            annotations_per_item: 3,
            lease_seconds: 600,
            revisable_recent: 5,
            questions: Questions::default(),
            taxonomy: Taxonomy::default(),
            gold_rate: 0.0,
            gold_feedback: false,
            wellbeing: Wellbeing::default(),
            review_min_support: 0.67,
            suggestions: Policy::default(),
        }
    }
}

/// A project as the server uses it: its row read once, the counts in the
/// types they are used as and the JSON settings decoded.
#[derive(Debug, Clone)]
pub struct Project {
    pub id: Uuid,
    pub name: String,
    pub guidelines: String,
    /// K.
    pub responses_per_item: usize,
    /// k, the overlap (an `i32` like the items' counters it is added to).
    pub annotations_per_item: i32,
    pub lease_seconds: i32,
    pub revisable_recent: i32,
    pub questions: Questions,
    pub taxonomy: Taxonomy,
    pub gold_rate: f64,
    pub gold_feedback: bool,
    pub wellbeing: Wellbeing,
    pub review_min_support: f64,
    pub suggestions: Policy,
    pub created_at: OffsetDateTime,
    /// The name in the crowd entry link (`/p/{slug}/join`).
    pub slug: Option<String>,
    /// The entry link's token; None: the link is closed.
    pub crowd_token: Option<String>,
    /// Items a crowd worker does before getting the completion code.
    pub crowd_quota: Option<i32>,
    pub crowd_completion_code: Option<String>,
    pub access: Access,
}

impl Project {
    /// The taxonomy's category names, owned (as report builders and pages
    /// keep them).
    pub fn category_names(&self) -> Vec<String> {
        self.taxonomy
            .names()
            .into_iter()
            .map(String::from)
            .collect()
    }

    pub fn settings(&self) -> Settings {
        Settings {
            name: self.name.clone(),
            guidelines: self.guidelines.clone(),
            // K is 2..=8 (the table's check).
            responses_per_item: self.responses_per_item as i32,
            annotations_per_item: self.annotations_per_item,
            lease_seconds: self.lease_seconds,
            revisable_recent: self.revisable_recent,
            questions: self.questions,
            taxonomy: self.taxonomy.clone(),
            gold_rate: self.gold_rate,
            gold_feedback: self.gold_feedback,
            wellbeing: self.wellbeing.clone(),
            review_min_support: self.review_min_support,
            suggestions: self.suggestions.clone(),
        }
    }
}

/// A `projects` row as stored, read by name ([`COLUMNS`] or `*`); only
/// [`Project`] is seen outside `db`.
#[derive(sqlx::FromRow)]
pub(super) struct ProjectRow {
    id: Uuid,
    name: String,
    guidelines: String,
    responses_per_item: i32,
    annotations_per_item: i32,
    lease_seconds: i32,
    revisable_recent: i32,
    questions: Json<Questions>,
    taxonomy: Json<Taxonomy>,
    gold_rate: f64,
    gold_feedback: bool,
    wellbeing: Json<Wellbeing>,
    review_min_support: f64,
    suggestions: Json<Policy>,
    created_at: OffsetDateTime,
    slug: Option<String>,
    crowd_token: Option<String>,
    crowd_quota: Option<i32>,
    crowd_completion_code: Option<String>,
    access: Access,
}

impl TryFrom<ProjectRow> for Project {
    type Error = sqlx::Error;

    fn try_from(row: ProjectRow) -> Result<Self, sqlx::Error> {
        let responses_per_item = usize::try_from(row.responses_per_item)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        Ok(Project {
            id: row.id,
            name: row.name,
            guidelines: row.guidelines,
            responses_per_item,
            annotations_per_item: row.annotations_per_item,
            lease_seconds: row.lease_seconds,
            revisable_recent: row.revisable_recent,
            questions: row.questions.0,
            taxonomy: row.taxonomy.0,
            gold_rate: row.gold_rate,
            gold_feedback: row.gold_feedback,
            wellbeing: row.wellbeing.0,
            review_min_support: row.review_min_support,
            suggestions: row.suggestions.0,
            created_at: row.created_at,
            slug: row.slug,
            crowd_token: row.crowd_token,
            crowd_quota: row.crowd_quota,
            crowd_completion_code: row.crowd_completion_code,
            access: row.access,
        })
    }
}

const COLUMNS: &str = "id, name, guidelines, responses_per_item, annotations_per_item, lease_seconds, \
     revisable_recent, questions, taxonomy, gold_rate, gold_feedback, wellbeing, review_min_support, suggestions, created_at, \
     slug, crowd_token, crowd_quota, crowd_completion_code, access";

pub async fn insert(
    db: impl PgExecutor<'_>,
    s: &Settings,
    created_by: Option<Uuid>,
) -> Result<Project, sqlx::Error> {
    sqlx::query_as::<_, ProjectRow>(sqlx::AssertSqlSafe(format!(
        "insert into projects (id, name, guidelines, responses_per_item, annotations_per_item, lease_seconds,
                               questions, taxonomy, gold_rate, wellbeing, created_by, revisable_recent,
                               review_min_support, gold_feedback, suggestions)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) returning {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(&s.name)
    .bind(&s.guidelines)
    .bind(s.responses_per_item)
    .bind(s.annotations_per_item)
    .bind(s.lease_seconds)
    .bind(Json(&s.questions))
    .bind(Json(&s.taxonomy))
    .bind(s.gold_rate)
    .bind(Json(&s.wellbeing))
    .bind(created_by)
    .bind(s.revisable_recent)
    .bind(s.review_min_support)
    .bind(s.gold_feedback)
    .bind(Json(&s.suggestions))
    .fetch_one(db)
    .await?
    .try_into()
}

pub async fn update(db: impl PgExecutor<'_>, id: Uuid, s: &Settings) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update projects set name = $2, guidelines = $3, responses_per_item = $4, annotations_per_item = $5,
                lease_seconds = $6, questions = $7, taxonomy = $8, gold_rate = $9, wellbeing = $10,
                revisable_recent = $11, review_min_support = $12, gold_feedback = $13, suggestions = $14,
                updated_at = now()
         where id = $1",
    )
    .bind(id)
    .bind(&s.name)
    .bind(&s.guidelines)
    .bind(s.responses_per_item)
    .bind(s.annotations_per_item)
    .bind(s.lease_seconds)
    .bind(Json(&s.questions))
    .bind(Json(&s.taxonomy))
    .bind(s.gold_rate)
    .bind(Json(&s.wellbeing))
    .bind(s.revisable_recent)
    .bind(s.review_min_support)
    .bind(s.gold_feedback)
    .bind(Json(&s.suggestions))
    .execute(db)
    .await?;
    Ok(())
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Project>, sqlx::Error> {
    sqlx::query_as::<_, ProjectRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from projects where id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?
    .map(Project::try_from)
    .transpose()
}

/// The project if `viewer` may see it (`project_visible`): None for one
/// they may not, exactly as for one that does not exist.
pub async fn find_visible(
    db: impl PgExecutor<'_>,
    id: Uuid,
    viewer: Uuid,
) -> Result<Option<Project>, sqlx::Error> {
    sqlx::query_as::<_, ProjectRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from projects where id = $1 and project_visible(id, access, $2)"
    )))
    .bind(id)
    .bind(viewer)
    .fetch_optional(db)
    .await?
    .map(Project::try_from)
    .transpose()
}

/// Sets who may work on the project; the access it had before.
pub async fn set_access(
    db: impl PgExecutor<'_>,
    id: Uuid,
    access: Access,
) -> Result<Access, sqlx::Error> {
    sqlx::query_scalar(
        "update projects p set access = $2, updated_at = now()
           from (select access from projects where id = $1 for update) old
          where p.id = $1
          returning old.access",
    )
    .bind(id)
    .bind(access)
    .fetch_one(db)
    .await
}

/// Projects with at least one annotation (whose dashboards are kept warm).
pub async fn annotated(db: impl PgExecutor<'_>) -> Result<Vec<Project>, sqlx::Error> {
    sqlx::query_as::<_, ProjectRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from projects p
         where exists (select 1 from annotations a where a.project_id = p.id)
         order by created_at"
    )))
    .fetch_all(db)
    .await?
    .into_iter()
    .map(Project::try_from)
    .collect()
}

pub async fn find_by_name(
    db: impl PgExecutor<'_>,
    name: &str,
) -> Result<Option<Project>, sqlx::Error> {
    sqlx::query_as::<_, ProjectRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from projects where name = $1"
    )))
    .bind(name)
    .fetch_optional(db)
    .await?
    .map(Project::try_from)
    .transpose()
}

/// A project with its counts, for lists.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Summary {
    pub id: Uuid,
    pub name: String,
    pub responses_per_item: i32,
    pub annotations_per_item: i32,
    pub batches: i64,
    pub items: i64,
    pub complete: i64,
    pub created_at: OffsetDateTime,
    pub access: Access,
}

/// Every project (`viewer` None), or those `viewer` may see.
pub async fn summaries(
    db: impl PgExecutor<'_>,
    viewer: Option<Uuid>,
) -> Result<Vec<Summary>, sqlx::Error> {
    sqlx::query_as(
        "select p.id, p.name, p.responses_per_item, p.annotations_per_item, p.created_at, p.access,
                (select count(*) from batches b where b.project_id = p.id) as batches,
                (select count(*) from items i where i.project_id = p.id) as items,
                (select count(*) from items i where i.project_id = p.id and i.state <> 'pending') as complete
         from projects p
         where $1::uuid is null or project_visible(p.id, p.access, $1)
         order by p.name",
    )
    .bind(viewer)
    .fetch_all(db)
    .await
}

/// Whether anyone has annotated an item of the project: from then on the
/// settings that give labels their meaning are frozen.
pub async fn has_annotations(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from annotations a join items i on i.id = a.item_id where i.project_id = $1)",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// Whether the project has items (K cannot change under them).
pub async fn has_items(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from items where project_id = $1)")
        .bind(id)
        .fetch_one(db)
        .await
}

/// Keeps the project from being deleted until the transaction ends.
pub async fn lock_against_deletion(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("select 1 from projects where id = $1 for key share")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
