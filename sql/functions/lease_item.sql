-- The annotator's lease in a project (crates/server/src/db/assignments.rs,
-- `lease`, whose comment explains each part; the caller retries on `Raced`
-- or a unique violation). A function, so that a submit can take the
-- annotator's next lease in its own transaction and round trip
-- (submit_and_lease.sql): under scripts/bench's 64 annotators every round
-- trip to PostgreSQL, and every commit, costs CPU on both sides. Its plans
-- are PL/pgSQL's, kept per connection like a prepared statement's.
--
-- First one read of what decides the path (a lead's pause, the live
-- lease, the annotator's cursor). Then the live lease renewed, or a gold
-- item taken (the caller's draw), each a statement of its own run only
-- when needed; then one statement takes a started item among the first
-- 100, or a new one: nearly every lease ends there, on its own cached
-- plan. The window of 100 keeps that statement cheap, but on its own it
-- would strand work: every started item past the window that the
-- annotator has not done would wait for someone else. So a last
-- statement, run only when the one before found nothing, is a last stage
-- (written into the statement before it cost every lease about a tenth
-- more PostgreSQL CPU in scripts/bench, though it never ran there):
--
-- - `candidate`: every pending item below its wanted number of
--   annotations that is not this annotator's, in batch and file order,
--   without a window. In a project that mixes gold in, gold items are
--   included here (bounded by k like any item): otherwise an annotator
--   whose draws say "regular" would be told "nothing left" while a gold
--   item still waits for its k-th annotation, and it would never complete.
-- - `waiting`: when no stage could lock a row (`skip locked` passes rows
--   other transactions hold for a moment: a submit, another lease), the
--   same question without locks. A free item that was only locked makes
--   `found` 1, so the caller retries (`LeaseOutcome::Raced`) instead of
--   answering "nothing left".
--
-- So the lease answers "nothing left" only when no pending item exists that
-- this annotator may take (the liveness rule, docs/ARCHITECTURE.md).
--
-- The started window also leaves out the started items before the
-- annotator's cursor (below) without looking at their assignments:
-- those are all finished by this annotator. An annotator far ahead of the
-- others has finished every started item, and probing each of the 100 was
-- most of their lease's cost. So when the window's first item is one they
-- finished, the lease moves the cursor up to their frontier, as the last
-- stage does; moving it passes each item once.
--
-- The last stage must not read, on every lease, every item the annotator
-- has done: at a project's tail that is most of them. `lease_cursors`
-- keeps, per annotator and project, a position in batch and file order
-- before which every item is either not pending or submitted or skipped by
-- this annotator. Both last for good, except that an item can become
-- pending again (a lead's requeue or send-back): every such change bumps
-- the project's number in `queue_epochs` (bump_queue_epoch.sql), and a
-- cursor saved under an older number is not used. A lease that reaches the
-- last stage starts at its cursor, finds the first item past it that is
-- pending and not finished by this annotator (the `frontier`: an item they
-- hold, had expire, or may take), starts the search there and saves it as
-- the new cursor, with the number it read. New items need no cursor: the
-- statement before the last stage takes them. A lease past its time is not
-- "finished", so the cursor never passes one.
--
-- The comments inside the body are part of the function as the database
-- holds it.
create or replace function lease_item(
    p_project       uuid,
    p_annotator     uuid,
    p_k             integer,
    p_lease_seconds integer,
    p_new           uuid,
    p_gold_draw     boolean,
    p_gold_mixed    boolean
) returns table (
    paused        boolean,
    found         bigint,
    assignment_id uuid,
    expires_at    timestamp with time zone,
    item_id       uuid,
    prompt        text,
    prompt_source text,
    positions     smallint[],
    texts         text[],
    severe        boolean
) language plpgsql as $$
-- The output columns share names with table columns: names in the
-- statements mean the columns.
#variable_conflict use_column
declare
    answered   bigint;
    paused_now boolean;
    -- The annotator's live lease, and what renewing it gave.
    live       uuid;
    renewed    uuid;
    renewed_item uuid;
    renewed_expires timestamp with time zone;
    -- The gold item the caller's draw took, if any.
    drawn      uuid;
    -- The annotator's frontier: every item before it is not pending or
    -- finished by them.
    from_batch integer;
    from_seq   integer;
begin
    -- 0. One read of what decides the path: a pause, the live lease, and
    --    the annotator's cursor if it is of the project's current epoch.
    select exists (select 1 from paused_annotators pa
                    where pa.project_id = p_project and pa.annotator_id = p_annotator),
           (select a.id from assignments a
             where a.project_id = p_project and a.annotator_id = p_annotator and a.state = 'leased'),
           c.batch_seq, c.seq
      into paused_now, live, from_batch, from_seq
      from (select) one
      left join lease_cursors c
        on c.project_id = p_project and c.annotator_id = p_annotator
       and c.epoch = coalesce((select q.epoch from queue_epochs q where q.project_id = p_project), 0);
    if paused_now then
        return query select true, 0::bigint, null::uuid, null::timestamptz, null::uuid, null::text,
                            null::text, null::smallint[], null::text[], null::boolean;
        return;
    end if;
    -- Each branch below is a statement of its own, run only when it is
    -- needed: a statement's plan sets up every branch it has on every
    -- call (in scripts/bench, executor start-up was the largest share of
    -- PostgreSQL's CPU), and renewals and gold draws are rare.
    if live is not null then
        -- Not renewed when it ended meanwhile (a submit in another tab,
        -- the sweeper): then the lease goes on to take an item.
        update assignments a
           set expires_at = now() + p_lease_seconds * interval '1 second'
         where a.id = live and a.state = 'leased'
        returning a.id, a.item_id, a.expires_at into renewed, renewed_item, renewed_expires;
    end if;
    if renewed is null and p_gold_draw then
        select i.id into drawn
          from items i
         where i.project_id = p_project and i.gold is not null
           and not exists (select 1 from assignments a
                            where a.item_id = i.id and a.annotator_id = p_annotator and a.state <> 'expired')
         order by hashtext(i.id::text || p_annotator::text)
         limit 1
           for no key update skip locked;
    end if;
    -- 1. The renewed lease or the drawn gold item, else a started item
    --    among the first 100 with room, or a new one. Nearly every lease
    --    ends here.
    return query
    with started_candidate as (
         select i.id
           from (select w.id, w.done, w.batch_seq, w.seq
                   from items w
                  where w.project_id = p_project and w.state = 'pending' and w.done > 0
                    -- Items full of leases are not in the window (tested
                    -- here on the row the index scan read anyway, and again
                    -- on the locked row below), so 100 blocked items
                    -- cannot hide a started item with room behind them.
                    and w.done + w.leased < p_k + w.extra_annotations
                    and (w.gold is null or not p_gold_mixed)
                  order by w.done desc, w.batch_seq, w.seq
                  limit 100) s
           join items i on i.id = s.id
          where renewed is null and drawn is null
            and (s.batch_seq, s.seq) >= (coalesce(from_batch, -2147483648), coalesce(from_seq, -2147483648))
            and i.state = 'pending' and (i.gold is null or not p_gold_mixed)
            and i.done + i.leased < p_k + i.extra_annotations
            and not exists (select 1 from assignments a
                             where a.item_id = s.id and a.annotator_id = p_annotator and a.state <> 'expired')
          order by s.done desc, s.batch_seq, s.seq
          limit 1
            for no key update of i skip locked
     ),
     new_candidate as (
         select i.id
           from items i
          where renewed is null and drawn is null
            and i.project_id = p_project and i.state = 'pending' and i.done < 1
            and (i.gold is null or not p_gold_mixed)
            and i.leased < p_k + i.extra_annotations
            and not exists (select 1 from started_candidate)
            and not exists (select 1 from assignments a
                             where a.item_id = i.id and a.annotator_id = p_annotator and a.state <> 'expired')
          order by i.done desc, i.batch_seq, i.seq
          limit 1
            for no key update skip locked
     ),
     candidate as (
         select drawn as id where drawn is not null
         union all select id from started_candidate
         union all select id from new_candidate
     ),
     leased as (
         insert into assignments as a (id, project_id, item_id, annotator_id, state, leased_at, expires_at)
         select p_new, p_project, c.id, p_annotator, 'leased', now(), now() + p_lease_seconds * interval '1 second'
           from candidate c
         on conflict (item_id, annotator_id) do update
            set state = 'leased', leased_at = excluded.leased_at, expires_at = excluded.expires_at,
                ended_at = null
          where a.state = 'expired'
      returning a.id, a.item_id, a.expires_at
     ),
     counted as (
         update items set leased = items.leased + 1
           from leased where items.id = leased.item_id
     ),
     lease as (
         select renewed as id, renewed_item as item_id, renewed_expires as expires_at where renewed is not null
         union all
         select id, item_id, expires_at from leased
     )
     -- The item's columns as `item_content!` (db/assignments.rs) gives them.
     select false, f.found, l.id, l.expires_at,
            i.id, i.prompt, i.prompt_source,
            array(select r.position from responses r where r.item_id = i.id order by r.position),
            array(select r.text from responses r where r.item_id = i.id order by r.position),
            i.severe
       from (select count(*) as found from candidate) f
       left join lease l on true
       left join items i on i.id = l.item_id
      -- No row when it found nothing: the last stage answers.
      where l.id is not null or f.found > 0;
    get diagnostics answered = row_count;
    if answered > 0 then
        -- The window's first item is one they finished: the next lease's
        -- window would probe their own items again. (In a crowd it is
        -- mostly items others hold.) Move the cursor up to their frontier,
        -- with the same steps as the last stage's, written out twice: the
        -- last stage must find its frontier in the snapshot of its own
        -- search (it alone may answer "nothing left"), so it cannot call a
        -- statement of its own.
        if exists (select 1
                     from (select w.id from items w
                            where w.project_id = p_project and w.state = 'pending' and w.done > 0
                              and (w.batch_seq, w.seq) >= (coalesce(from_batch, -2147483648),
                                                           coalesce(from_seq, -2147483648))
                            order by w.done desc, w.batch_seq, w.seq
                            limit 1) t
                    where exists (select 1 from assignments a
                                   where a.item_id = t.id and a.annotator_id = p_annotator
                                     and a.state in ('submitted', 'skipped'))) then
            with epoch as (
                 select coalesce((select q.epoch from queue_epochs q where q.project_id = p_project), 0) as n
             ),
             saved as (
                 select c.batch_seq, c.seq
                   from lease_cursors c
                  where c.project_id = p_project and c.annotator_id = p_annotator
                    and c.epoch = (select n from epoch)
             ),
             frontier as (
                 select i.batch_seq, i.seq
                   from items i
                  where i.project_id = p_project
                    and (i.batch_seq, i.seq) >= (coalesce((select batch_seq from saved), -2147483648),
                                                 coalesce((select seq from saved), -2147483648))
                    and i.state = 'pending'
                    and not exists (select 1 from assignments a
                                     where a.item_id = i.id and a.annotator_id = p_annotator
                                       and a.state in ('submitted', 'skipped'))
                  order by i.batch_seq, i.seq
                  limit 1
             ),
             start as (
                 select coalesce((select batch_seq from frontier), 2147483647) as batch_seq,
                        coalesce((select seq from frontier), 2147483647) as seq
             ),
             moved as (
                 update lease_cursors c
                    set batch_seq = s.batch_seq, seq = s.seq, epoch = (select n from epoch)
                   from start s
                  where c.project_id = p_project and c.annotator_id = p_annotator
                    and (c.batch_seq, c.seq, c.epoch) is distinct from (s.batch_seq, s.seq, (select n from epoch))
                    and c.ctid in (select l.ctid from lease_cursors l
                                    where l.project_id = p_project and l.annotator_id = p_annotator
                                      for no key update skip locked)
             ),
             first_cursor as (
                 insert into lease_cursors (project_id, annotator_id, batch_seq, seq, epoch)
                 select p_project, p_annotator, s.batch_seq, s.seq, (select n from epoch)
                   from start s
                  where not exists (select 1 from lease_cursors l
                                     where l.project_id = p_project and l.annotator_id = p_annotator)
                 on conflict (project_id, annotator_id) do nothing
             )
            select s.batch_seq, s.seq into from_batch, from_seq from start s;
        end if;
        return;
    end if;
    -- 2. Nothing there: every pending item this annotator may take, from
    --    their cursor (see the top of this file).
    return query
    with epoch as (
         select coalesce((select q.epoch from queue_epochs q where q.project_id = p_project), 0) as n
     ),
     saved as (
         select c.batch_seq, c.seq
           from lease_cursors c
          where c.project_id = p_project and c.annotator_id = p_annotator
            and c.epoch = (select n from epoch)
     ),
     frontier as (
         select i.batch_seq, i.seq
           from items i
          where i.project_id = p_project
            and (i.batch_seq, i.seq) >= (coalesce((select batch_seq from saved), -2147483648),
                                         coalesce((select seq from saved), -2147483648))
            and i.state = 'pending'
            and not exists (select 1 from assignments a
                             where a.item_id = i.id and a.annotator_id = p_annotator
                               and a.state in ('submitted', 'skipped'))
          order by i.batch_seq, i.seq
          limit 1
     ),
     -- Past every item: nothing is left before the end.
     start as (
         select coalesce((select batch_seq from frontier), 2147483647) as batch_seq,
                coalesce((select seq from frontier), 2147483647) as seq
     ),
     candidate as (
         select i.id
           from items i
          where i.project_id = p_project
            and (i.batch_seq, i.seq) >= ((select batch_seq from start), (select seq from start))
            and i.state = 'pending'
            and i.done + i.leased < p_k + i.extra_annotations
            and not exists (select 1 from assignments a
                             where a.item_id = i.id and a.annotator_id = p_annotator and a.state <> 'expired')
          order by i.batch_seq, i.seq
          limit 1
            for no key update skip locked
     ),
     -- Another lease of this annotator saving its cursor at the same moment
     -- holds the row: skip it rather than wait (the next lease saves one).
     moved as (
         update lease_cursors c
            set batch_seq = s.batch_seq, seq = s.seq, epoch = (select n from epoch)
           from start s
          where c.project_id = p_project and c.annotator_id = p_annotator
            and (c.batch_seq, c.seq, c.epoch) is distinct from (s.batch_seq, s.seq, (select n from epoch))
            and c.ctid in (select l.ctid from lease_cursors l
                            where l.project_id = p_project and l.annotator_id = p_annotator
                              for no key update skip locked)
     ),
     first_cursor as (
         insert into lease_cursors (project_id, annotator_id, batch_seq, seq, epoch)
         select p_project, p_annotator, s.batch_seq, s.seq, (select n from epoch)
           from start s
          where not exists (select 1 from lease_cursors l
                             where l.project_id = p_project and l.annotator_id = p_annotator)
         on conflict (project_id, annotator_id) do nothing
     ),
     -- No row could be locked: is one free that other transactions held
     -- for a moment? Then the caller tries again.
     waiting as (
         select not exists (select 1 from candidate)
                and (exists (select 1 from items i
                              where p_gold_draw and i.project_id = p_project and i.gold is not null
                                and not exists (select 1 from assignments a
                                                 where a.item_id = i.id and a.annotator_id = p_annotator
                                                   and a.state <> 'expired'))
                     or exists (select 1 from items i
                                 where i.project_id = p_project
                                   and (i.batch_seq, i.seq) >= ((select batch_seq from start),
                                                                (select seq from start))
                                   and i.state = 'pending'
                                   and i.done + i.leased < p_k + i.extra_annotations
                                   and not exists (select 1 from assignments a
                                                    where a.item_id = i.id and a.annotator_id = p_annotator
                                                      and a.state <> 'expired'))) as yes
     ),
     leased as (
         insert into assignments as a (id, project_id, item_id, annotator_id, state, leased_at, expires_at)
         select p_new, p_project, c.id, p_annotator, 'leased', now(), now() + p_lease_seconds * interval '1 second'
           from candidate c
         on conflict (item_id, annotator_id) do update
            set state = 'leased', leased_at = excluded.leased_at, expires_at = excluded.expires_at,
                ended_at = null
          where a.state = 'expired'
      returning a.id, a.item_id, a.expires_at
     ),
     counted as (
         update items set leased = items.leased + 1
           from leased where items.id = leased.item_id
     )
     select false, f.found + (select yes from waiting)::int, l.id, l.expires_at,
            i.id, i.prompt, i.prompt_source,
            array(select r.position from responses r where r.item_id = i.id order by r.position),
            array(select r.text from responses r where r.item_id = i.id order by r.position),
            i.severe
       from (select count(*) as found from candidate) f
       left join leased l on true
       left join items i on i.id = l.item_id;
end
$$;
