-- The task queue: leases (assignments), queue counters on items, and what a
-- submitted annotation records about how it was made. The rules that keep
-- these consistent (which lock guards what) are in crates/server/src/queue.rs.

-- How many of an annotator's newest submissions they may still revise.
alter table projects
    add column revisable_recent int not null default 5 check (revisable_recent between 0 and 50);

-- Queue state kept on the item itself, so choosing the next item is one
-- index scan. `done` and `leased` change only under the item's row lock.
alter table items
    add column batch_seq int,                                            -- batches.seq, for the queue's order
    add column done      int not null default 0 check (done >= 0),       -- submitted annotations
    add column leased    int not null default 0 check (leased >= 0);     -- live leases
update items i set batch_seq = b.seq from batches b where b.id = i.batch_id;
alter table items alter column batch_seq set not null;
-- Room on each page for the new row version of a lease's counter update
-- (`leased` is in no index, so such updates can stay on the page: HOT).
alter table items set (fillfactor = 90);

-- The queue's order: closest to k first, then batch order, then file order.
create index items_queue_idx on items (project_id, done desc, batch_seq, seq) where state = 'pending';

create type assignment_state as enum ('leased', 'submitted', 'skipped', 'expired');
create type skip_reason as enum ('unclear', 'wrong_language', 'too_disturbing', 'other');

-- One row per item and annotator: a lease, and what became of it. A lease
-- that expired and is taken up again by the same annotator is the same row
-- (same id), leased anew.
create table assignments (
    id            uuid primary key,
    project_id    uuid not null references projects(id) on delete cascade,
    item_id       uuid not null references items(id) on delete cascade,
    annotator_id  uuid not null references users(id),
    state         assignment_state not null default 'leased',
    leased_at     timestamptz not null default now(),
    expires_at    timestamptz not null,
    ended_at      timestamptz,                                  -- submitted, skipped or expired
    skip_reason   skip_reason,
    skip_note     text check (length(skip_note) <= 2000),
    unique (item_id, annotator_id),
    check ((state = 'skipped') = (skip_reason is not null))
);
-- At most one live lease per annotator and project.
create unique index assignments_live_idx on assignments (project_id, annotator_id) where state = 'leased';
-- The expiry sweep's scan.
create index assignments_expiry_idx on assignments (expires_at) where state = 'leased';

-- Annotations: which lease they came from, the client's submission id
-- (idempotent submit), the active time measured by the page, revisions.
alter table annotations
    add column project_id     uuid references projects(id),
    add column assignment_id  uuid unique references assignments(id),
    add column submission_id  uuid unique,
    add column seconds_spent  double precision check (seconds_spent between 0 and 86400),
    add column revisions      int not null default 0,
    add column updated_at     timestamptz not null default now();
update annotations a set project_id = i.project_id from items i where i.id = a.item_id;
alter table annotations alter column project_id set not null;
-- Annotations made before the queue get the submitted assignment they would have.
insert into assignments (id, project_id, item_id, annotator_id, state, leased_at, expires_at, ended_at)
    select gen_random_uuid(), project_id, item_id, annotator_id, 'submitted', submitted_at, submitted_at, submitted_at
    from annotations;
update annotations an set assignment_id = s.id
    from assignments s where s.item_id = an.item_id and s.annotator_id = an.annotator_id;
update items i set done = c.n
    from (select item_id, count(*) as n from annotations group by item_id) c
    where c.item_id = i.id;
update items i set state = 'complete' from projects p
    where p.id = i.project_id and i.state = 'pending' and i.done >= p.annotations_per_item;
-- An annotator's submissions in a project, newest first (progress, recent, revise).
create index annotations_annotator_idx on annotations (project_id, annotator_id, submitted_at desc, id desc);

-- How many items of a project are no longer pending, for progress bars that
-- must not count a million rows on every page. Kept by the queue's submit
-- (the item that reaches k adds one); anything else that moves an item out
-- of or back into `pending` must keep it too. Split into shards (a submit
-- picks one at random) so concurrent completions do not queue on one row.
create table project_progress (
    project_id  uuid not null references projects(id) on delete cascade,
    shard       smallint not null,
    complete    bigint not null default 0,
    primary key (project_id, shard)
);
insert into project_progress (project_id, shard, complete)
    select project_id, 0, count(*) from items where state <> 'pending' group by project_id;
