//! The queue invariants (docs/ARCHITECTURE.md, "The task queue"), checked in the
//! database after a run, for one project. Each check counts offending rows:
//! zero everywhere means the invariants hold.

use std::fmt;

use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

/// (what is wrong when the count is not zero, the count's query: `$1` the
/// project, `$2` the annotation ids the server acknowledged).
const CHECKS: &[(&str, &str)] = &[
    (
        "items with more valid annotations than they ask for (invariant 1)",
        "select count(*) from items i join projects p on p.id = i.project_id
          where i.project_id = $1
            and (select count(*) from annotations a where a.item_id = i.id and a.invalidated_at is null)
                > p.annotations_per_item + i.extra_annotations",
    ),
    (
        "items with two annotations from one annotator (invariant 1)",
        "select count(*) from (select 1 from annotations where project_id = $1
                                group by item_id, annotator_id having count(*) > 1) twice",
    ),
    (
        "items whose live leases and valid annotations exceed what they ask for (invariant 2)",
        "select count(*) from items i join projects p on p.id = i.project_id
          where i.project_id = $1
            and (select count(*) from annotations a where a.item_id = i.id and a.invalidated_at is null)
              + (select count(*) from assignments s where s.item_id = i.id and s.state = 'leased')
                > p.annotations_per_item + i.extra_annotations",
    ),
    (
        "items whose `done` counter is not their number of valid annotations (invariant 3)",
        "select count(*) from items i where i.project_id = $1
            and i.done <> (select count(*) from annotations a where a.item_id = i.id and a.invalidated_at is null)",
    ),
    (
        "items whose `leased` counter is not their number of live leases (invariant 3)",
        "select count(*) from items i where i.project_id = $1
            and i.leased <> (select count(*) from assignments s where s.item_id = i.id and s.state = 'leased')",
    ),
    (
        "items whose state disagrees with their count (complete exactly when done reaches k, \
         or at one annotation when the routing rule settled the item)",
        "select count(*) from items i join projects p on p.id = i.project_id
          where i.project_id = $1 and i.state <> 'adjudicated'
            and (i.state = 'complete') <> (i.done >= p.annotations_per_item + i.extra_annotations
                                           or (i.routed and i.extra_annotations = 0 and i.done >= 1))",
    ),
    (
        "submitted assignments without exactly one annotation (invariant 4)",
        "select count(*) from assignments s where s.project_id = $1 and s.state = 'submitted'
            and (select count(*) from annotations a where a.assignment_id = s.id) <> 1",
    ),
    (
        "annotations without a submitted assignment",
        "select count(*) from annotations a where a.project_id = $1
            and not exists (select 1 from assignments s where s.id = a.assignment_id and s.state = 'submitted')",
    ),
    (
        "annotations the server acknowledged that are not stored (lost)",
        "select count(*) from unnest($2::uuid[]) acked(id)
          where not exists (select 1 from annotations a where a.id = acked.id and a.project_id = $1)",
    ),
    (
        "finished items not counted in project_progress, or counted twice",
        "select case when (select coalesce(sum(complete), 0) from project_progress where project_id = $1)
                          = (select count(*) from items where project_id = $1 and state <> 'pending')
                     then 0 else 1 end::int8",
    ),
];

/// What the database holds after a run, and which invariants it breaks.
#[derive(Debug, Clone)]
pub struct Invariants {
    pub items: i64,
    pub complete: i64,
    pub annotations: i64,
    pub live_leases: i64,
    /// (what is wrong, how many rows) for every check that failed.
    pub violations: Vec<(String, i64)>,
}

impl Invariants {
    pub fn hold(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for Invariants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let summary = format!(
            "{} items, {} complete, {} valid annotations, {} live leases",
            self.items, self.complete, self.annotations, self.live_leases
        );
        if self.hold() {
            return write!(f, "queue invariants: all {} hold ({summary})", CHECKS.len());
        }
        writeln!(f, "queue invariants: BROKEN ({summary})")?;
        for (what, n) in &self.violations {
            writeln!(f, "  {n} {what}")?;
        }
        Ok(())
    }
}

/// Runs every check against the database at `url` for `project`.
pub async fn check(url: &str, project: Uuid, acknowledged: &[Uuid]) -> anyhow::Result<Invariants> {
    let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
    let mut violations = Vec::new();
    for (what, sql) in CHECKS {
        let n: i64 = sqlx::query_scalar(*sql)
            .bind(project)
            .bind(acknowledged)
            .fetch_one(&pool)
            .await?;
        if n != 0 {
            violations.push((what.to_string(), n));
        }
    }
    let (items, complete, annotations, live_leases): (i64, i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from items where project_id = $1),
                (select count(*) from items where project_id = $1 and state <> 'pending'),
                (select count(*) from annotations where project_id = $1 and invalidated_at is null),
                (select count(*) from assignments where project_id = $1 and state = 'leased')",
    )
    .bind(project)
    .fetch_one(&pool)
    .await?;
    pool.close().await;
    Ok(Invariants {
        items,
        complete,
        annotations,
        live_leases,
        violations,
    })
}
