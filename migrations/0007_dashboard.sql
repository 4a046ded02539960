-- The review dashboard: a cache of its expensive figures (the agreement
-- report, the per-batch trend and the severity confusion need a pass over
-- every annotation of the scope), and an index for its work-over-time chart.

-- One row per project and scope (the dashboard's filters, canonically
-- written). `fingerprint` summarises the project's data when the figures
-- were computed (counts and newest change times of annotations,
-- assignments, items); a page whose fingerprint differs recomputes, so a
-- cached row is never shown for data it was not computed from.
create table dashboard_cache (
    project_id   uuid not null references projects(id) on delete cascade,
    scope_key    text not null,
    fingerprint  text not null,
    figures      jsonb not null,
    computed_at  timestamptz not null default now(),
    primary key (project_id, scope_key)
);

-- Annotations per hour over a time range (and the last 24 hours' pace).
create index annotations_project_time_idx on annotations (project_id, submitted_at);
