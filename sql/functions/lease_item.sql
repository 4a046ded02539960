-- The annotator's lease in a project (crates/server/src/db/assignments.rs,
-- `lease`, whose comment explains each part; the caller retries on `Raced`
-- or a unique violation). A function, so that a submit can take the
-- annotator's next lease in its own transaction and round trip
-- (submit_and_lease.sql): under scripts/bench's 64 annotators every round
-- trip to PostgreSQL, and every commit, costs CPU on both sides. Its plans
-- are PL/pgSQL's, kept per connection like a prepared statement's.
--
-- Two statements. The first renews the annotator's live lease, or takes a
-- gold item (the caller's draw), a started item among the first 100, or a
-- new one: nearly every lease ends there, on its own cached plan. The
-- window of 100 keeps that statement cheap, but on its own it would strand
-- work: every started item past the window that the annotator has not done
-- would wait for someone else. So the second statement, run only when the
-- first found nothing, is a last stage (written into the first statement it
-- cost every lease about a tenth more PostgreSQL CPU in scripts/bench,
-- though it never ran there):
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
-- The first statement's window also leaves out the started items before
-- the annotator's cursor (below) without looking at their assignments:
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
-- the new cursor, with the number it read. New items need no cursor: they
-- are the first statement's. A lease past its time is not "finished", so
-- the cursor never passes one.
--
-- The comments inside the body are part of the function as the database
-- holds it, so they stay as written: "Migration 0026's statement" is the
-- first statement.
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
    -- The annotator's frontier: every item before it is not pending or
    -- finished by them.
    from_batch integer;
    from_seq   integer;
begin
    -- 0. The annotator's cursor, if it is of the project's current epoch.
    select c.batch_seq, c.seq into from_batch, from_seq
      from lease_cursors c
     where c.project_id = p_project and c.annotator_id = p_annotator
       and c.epoch = coalesce((select q.epoch from queue_epochs q where q.project_id = p_project), 0);
    -- 1. Migration 0026's statement: renew the live lease, or take a gold
    --    item (the draw), a started item among the first 100, or a new
    --    one. Nearly every lease ends here, on its own cached plan.
    return query
    with paused as (
         select exists (select 1 from paused_annotators pa
                         where pa.project_id = p_project and pa.annotator_id = p_annotator) as yes
     ),
     renewed as (
         update assignments a
            set expires_at = now() + p_lease_seconds * interval '1 second'
          where a.project_id = p_project and a.annotator_id = p_annotator and a.state = 'leased'
            and not (select yes from paused)
      returning a.id, a.item_id, a.expires_at
     ),
     gold_candidate as (
         select i.id
           from items i
          where p_gold_draw and i.project_id = p_project and i.gold is not null
            and not (select yes from paused)
            and not exists (select 1 from renewed)
            and not exists (select 1 from assignments a
                             where a.item_id = i.id and a.annotator_id = p_annotator and a.state <> 'expired')
          order by hashtext(i.id::text || p_annotator::text)
          limit 1
            for no key update skip locked
     ),
     started_candidate as (
         select i.id
           from (select w.id, w.done, w.batch_seq, w.seq
                   from items w
                  where w.project_id = p_project and w.state = 'pending' and w.done > 0
                  order by w.done desc, w.batch_seq, w.seq
                  limit 100) s
           join items i on i.id = s.id
          where (s.batch_seq, s.seq) >= (coalesce(from_batch, -2147483648), coalesce(from_seq, -2147483648))
            and i.state = 'pending' and (i.gold is null or not p_gold_mixed)
            and i.done + i.leased < p_k + i.extra_annotations
            and not (select yes from paused)
            and not exists (select 1 from renewed)
            and not exists (select 1 from gold_candidate)
            and not exists (select 1 from assignments a
                             where a.item_id = s.id and a.annotator_id = p_annotator and a.state <> 'expired')
          order by s.done desc, s.batch_seq, s.seq
          limit 1
            for no key update of i skip locked
     ),
     new_candidate as (
         select i.id
           from items i
          where i.project_id = p_project and i.state = 'pending' and i.done < 1
            and (i.gold is null or not p_gold_mixed)
            and i.leased < p_k + i.extra_annotations
            and not (select yes from paused)
            and not exists (select 1 from renewed)
            and not exists (select 1 from gold_candidate)
            and not exists (select 1 from started_candidate)
            and not exists (select 1 from assignments a
                             where a.item_id = i.id and a.annotator_id = p_annotator and a.state <> 'expired')
          order by i.done desc, i.batch_seq, i.seq
          limit 1
            for no key update skip locked
     ),
     candidate as (
         select id from gold_candidate
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
         select id, item_id, expires_at from renewed
         union all
         select id, item_id, expires_at from leased
     )
     -- The item's columns as `item_content!` (db/assignments.rs) gives them.
     select (select yes from paused), f.found, l.id, l.expires_at,
            i.id, i.prompt, i.prompt_source,
            array(select r.position from responses r where r.item_id = i.id order by r.position),
            array(select r.text from responses r where r.item_id = i.id order by r.position),
            i.severe
       from (select count(*) as found from candidate) f
       left join lease l on true
       left join items i on i.id = l.item_id
      -- No row when it found nothing: the second statement answers.
      where l.id is not null or (select yes from paused) or f.found > 0;
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
    with paused as (
         select exists (select 1 from paused_annotators pa
                         where pa.project_id = p_project and pa.annotator_id = p_annotator) as yes
     ),
     epoch as (
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
          where not (select yes from paused)
            and i.project_id = p_project
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
         select not (select yes from paused)
                and not exists (select 1 from candidate)
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
     select (select yes from paused), f.found + (select yes from waiting)::int, l.id, l.expires_at,
            i.id, i.prompt, i.prompt_source,
            array(select r.position from responses r where r.item_id = i.id order by r.position),
            array(select r.text from responses r where r.item_id = i.id order by r.position),
            i.severe
       from (select count(*) as found from candidate) f
       left join leased l on true
       left join items i on i.id = l.item_id;
end
$$;
