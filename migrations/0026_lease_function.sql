-- The lease as a function, so that a submit can take the annotator's next
-- lease in its own transaction and round trip (issue 10): under
-- scripts/bench's 64 annotators every round trip to PostgreSQL, and every
-- commit, costs CPU on both sides.
--
-- `lease_item` is the lease statement that crates/server/src/db/assignments.rs
-- (`lease`, whose comment explains each part) used to send; the caller
-- retries on `Raced` or a unique violation, as before. Its plans are
-- PL/pgSQL's, kept per connection like a prepared statement's.
create function lease_item(
    p_project       uuid,
    p_annotator     uuid,
    p_k             int,
    p_lease_seconds int,
    p_new           uuid,
    p_gold_draw     boolean,
    p_gold_mixed    boolean
) returns table (
    paused        boolean,
    found         bigint,
    assignment_id uuid,
    expires_at    timestamptz,
    item_id       uuid,
    prompt        text,
    prompt_source text,
    positions     smallint[],
    texts         text[],
    severe        boolean
) language plpgsql as $$
-- The output columns share names with table columns: names in the
-- statement mean the columns.
#variable_conflict use_column
begin
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
          where i.state = 'pending' and (i.gold is null or not p_gold_mixed)
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
       left join items i on i.id = l.item_id;
end
$$;

-- `submit_annotation` (migration 0018), then, when it stored the annotation
-- or finds this same submission stored, `lease_item` with no gold draw
-- (the server calls this only for projects whose lease needs nothing
-- decided in between: no gold rate, no daily cap, no routing rule). Lock
-- order (crates/server/src/queue.rs, "Locks"): the lease starts after the
-- submit's last lock and takes its item `skip locked`, so it waits for no
-- item; at most for a twin lease of the same annotator (rule 4). Such a
-- twin's unique violation rolls the submit back too, and the server then
-- submits alone. The `next_` columns are null when no lease was tried.
create function submit_and_lease(
    p_assignment    uuid,
    p_annotation    uuid,
    p_project       uuid,
    p_annotator     uuid,
    p_submission    uuid,
    p_labels        json,
    p_seconds       double precision,
    p_k             int,
    p_shard         smallint,
    p_gold_mixed    boolean,
    p_display       text,
    p_source        text,
    p_lease_seconds int,
    p_next          uuid
) returns table (
    item_id             uuid,
    state               text,
    expired             boolean,
    done                int,
    leased              int,
    item_state          text,
    wanted              int,
    gold                boolean,
    adjudicated         boolean,
    annotation_id       uuid,
    existing_id         uuid,
    existing_submission uuid,
    next_paused         boolean,
    next_found          bigint,
    next_assignment_id  uuid,
    next_expires_at     timestamptz,
    next_item_id        uuid,
    next_prompt         text,
    next_prompt_source  text,
    next_positions      smallint[],
    next_texts          text[],
    next_severe         boolean
) language plpgsql as $$
-- The output columns are the function's variables: the submit's are read
-- into the first twelve, the lease's into the `next_` ones (null unless it
-- ran), and `return next` returns them as one row.
begin
    select * into item_id, state, expired, done, leased, item_state, wanted, gold, adjudicated,
                  annotation_id, existing_id, existing_submission
      from submit_annotation(p_assignment, p_annotation, p_project, p_annotator, p_submission, p_labels,
                             p_seconds, p_k, p_shard, p_gold_mixed, p_display, p_source);
    if not found then
        return;
    end if;
    -- Not when the annotator holds another live lease here (a second tab,
    -- or this was a late submit): the server's own lease call renews it,
    -- and this transaction, holding the submit's item, waits on no lease
    -- row that a sign-out may hold.
    if (annotation_id is not null or (state = 'submitted' and existing_submission = p_submission))
       and not exists (select 1 from assignments a
                        where a.project_id = p_project and a.annotator_id = p_annotator
                          and a.state = 'leased') then
        select * into next_paused, next_found, next_assignment_id, next_expires_at, next_item_id,
                      next_prompt, next_prompt_source, next_positions, next_texts, next_severe
          from lease_item(p_project, p_annotator, p_k, p_lease_seconds, p_next, false, p_gold_mixed);
    end if;
    return next;
end
$$;
