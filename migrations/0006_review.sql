-- Review: invalid annotations (requeue), paused annotators, the review
-- threshold, and one more annotation for an item a lead sends back.

-- A lead may declare an annotator's work invalid ("requeue"). The rows are
-- kept (the audit log says who and why); every statistic, the exporter,
-- consolidation and revising skip them. The item's slot is given back
-- (`items.done` counts valid annotations only).
alter table annotations
    add column invalidated_at timestamptz,
    add column invalidated_by uuid references users(id),
    add column invalid_reason text check (length(invalid_reason) <= 2000),
    add constraint annotations_invalid_has_reason
        check (invalidated_at is null or invalid_reason is not null);

-- Support below this sends an item to the review queue.
alter table projects
    add column review_min_support double precision not null default 0.67
        check (review_min_support between 0 and 1);

-- Annotations asked for beyond k (a lead sent the item back). The queue's
-- condition is `done + leased < k + extra_annotations`. Not indexed, so the
-- lease's counter updates stay HOT.
alter table items
    add column extra_annotations int not null default 0 check (extra_annotations >= 0);

-- Annotators a lead has paused in a project: they get no new leases there.
create table paused_annotators (
    project_id    uuid not null references projects(id) on delete cascade,
    annotator_id  uuid not null references users(id),
    paused_by     uuid references users(id),
    paused_at     timestamptz not null default now(),
    primary key (project_id, annotator_id)
);

-- The audit page's filters: by actor, by subject.
create index audit_log_actor_idx on audit_log (actor_id, id desc);
create index audit_log_subject_idx on audit_log (subject, id desc);
