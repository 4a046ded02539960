-- A submit in one round trip (crates/server/src/db/assignments.rs,
-- `submit`): called on its own (no open transaction) the call is the whole
-- transaction.
--
-- Why a PL/pgSQL function and not one statement: the submit must read the
-- assignment and the item as they are once it holds the item's lock (see
-- crates/server/src/queue/mod.rs, "Locks"). One statement's snapshot is
-- taken before it waits for the lock; in a function, each statement of a
-- READ COMMITTED transaction takes a new snapshot, so the second one, run
-- after the lock is held, sees every change made under that lock.
--
-- `p_display`/`p_source`: what the project shows annotators
-- (crates/server/src/queue/submit.rs, `shown_policy`): a display mode other
-- than blind shows the suggestion of `p_source` for the item, or every
-- source's when it is null.
--
-- Returns no row when the assignment is not the annotator's in the project;
-- otherwise one row: what the submit found (the assignment's state before,
-- the item's counters) and did (`annotation_id` when it stored one). When it
-- stored nothing it also does what the refusal needs, under the same lock:
-- a lease whose item was completed or adjudicated meanwhile is ended (its
-- slot freed), and a late submit that found no free slot is remembered, so
-- a retry of it is refused too.
create or replace function submit_annotation(
    p_assignment uuid,
    p_annotation uuid,
    p_project    uuid,
    p_annotator  uuid,
    p_submission uuid,
    p_labels     json,
    p_seconds    double precision,
    p_k          integer,
    p_shard      smallint,
    p_gold_mixed boolean,
    p_display    text,
    p_source     text
) returns table (
    item_id             uuid,
    state               text,
    expired             boolean,
    done                integer,
    leased              integer,
    item_state          text,
    wanted              integer,
    gold                boolean,
    adjudicated         boolean,
    annotation_id       uuid,
    existing_id         uuid,
    existing_submission uuid
) language plpgsql as $$
declare
    item uuid;
    shown text := 'blind';
    r    record;
begin
    -- The item lock first, waiting for it, holding nothing else.
    select i.id into item
      from items i
     where i.id = (select a.item_id from assignments a
                    where a.id = p_assignment and a.annotator_id = p_annotator
                      and a.project_id = p_project)
       for no key update;
    if item is null then
        return;
    end if;
    -- What the annotator saw (annotations.suggestion_mode): the project's
    -- display mode if it showed them a suggestion for this item (from
    -- `p_source`, or from any source when null), else blind.
    -- (Two tests: the first alone is a plain expression, which PL/pgSQL
    -- evaluates without setting up a query.)
    if p_display <> 'blind' then
        if exists (select 1 from suggestions s
                    where s.item_id = item and (p_source is null or s.source = p_source)) then
            shown := p_display;
        end if;
    end if;
    with cur as (
        select a.id, a.state, a.item_id, a.expires_at <= now() as expired, a.refused_submission,
               i.done, i.leased, i.state as item_state, p_k + i.extra_annotations as wanted,
               p_gold_mixed and i.gold is not null as gold
          from assignments a join items i on i.id = a.item_id
         where a.id = p_assignment
    ),
    ok as (
        select * from cur
         where (cur.gold or (cur.item_state = 'pending' and cur.done < cur.wanted))
           and (cur.state = 'leased'
                or (cur.state = 'expired' and (cur.gold or cur.done + cur.leased < cur.wanted)
                    and cur.refused_submission is distinct from p_submission))
    ),
    stored as (
        insert into annotations (id, project_id, item_id, annotator_id, assignment_id, submission_id,
                                 labels, seconds_spent, suggestion_mode)
        select p_annotation, p_project, ok.item_id, p_annotator, ok.id, p_submission,
               p_labels, p_seconds, shown
          from ok
     returning id
    ),
    ended as (
        update assignments a set state = 'submitted', ended_at = now()
          from ok where a.id = ok.id
    ),
    counted as (
        update items i
           set done = i.done + 1,
               leased = i.leased - (ok.state = 'leased')::int,
               -- An item's first annotation clears a routing decision left
               -- from annotations a lead has since requeued.
               routed = i.routed and i.done > 0,
               state = case when ok.item_state = 'pending' and i.done + 1 >= ok.wanted
                            then 'complete'::item_state else i.state end
          from ok where i.id = ok.item_id
    )
    select cur.item_id, cur.state::text as state, cur.expired, cur.done, cur.leased,
           cur.item_state::text as item_state, cur.wanted, cur.gold,
           cur.item_state = 'adjudicated' as adjudicated,
           (select id from stored) as annotation_id,
           an.id as existing_id, an.submission_id as existing_submission
      into r
      from cur left join annotations an on an.assignment_id = cur.id;
    -- A statement of its own, run only when the item completed: written
    -- into the one above it was set up on every submit.
    if r.annotation_id is not null and r.item_state = 'pending' and r.done + 1 >= r.wanted then
        insert into project_progress as p (project_id, shard, complete)
        values (p_project, p_shard, 1)
        on conflict (project_id, shard) do update set complete = p.complete + 1;
    end if;
    if r.annotation_id is null and r.state = 'leased' then
        -- Completed or adjudicated under this lease: the lease is of no use.
        update assignments a set state = 'expired', ended_at = now()
         where a.id = p_assignment and a.state = 'leased';
        update items i set leased = i.leased - 1 where i.id = item;
    elsif r.annotation_id is null and r.state = 'expired' then
        update assignments a set refused_submission = p_submission where a.id = p_assignment;
    end if;
    return query select r.item_id, r.state, r.expired, r.done, r.leased, r.item_state, r.wanted, r.gold,
                        r.adjudicated, r.annotation_id, r.existing_id, r.existing_submission;
end
$$;
