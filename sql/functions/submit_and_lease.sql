-- submit_annotation.sql, then, when it stored the annotation or finds this
-- same submission stored, lease_item.sql with no gold draw: a submit and
-- the annotator's next lease in one transaction and round trip
-- (crates/server/src/db/assignments.rs, `submit_and_lease`). The server
-- calls this only for projects whose lease needs nothing decided in
-- between: no gold rate, no daily cap, no routing rule.
--
-- Lock order (crates/server/src/queue/mod.rs, "Locks"): the lease starts
-- after the submit's last lock and takes its item `skip locked`, so it
-- waits for no item; at most for a twin lease of the same annotator (rule
-- 4). Such a twin's unique violation rolls the submit back too, and the
-- server then submits alone. The `next_` columns are null when no lease
-- was tried.
--
-- The result's columns are submit_annotation's, then lease_item's with
-- `next_` before each name: a function's result type is part of its
-- signature, so they are written out here rather than derived.
create or replace function submit_and_lease(
    p_assignment    uuid,
    p_annotation    uuid,
    p_project       uuid,
    p_annotator     uuid,
    p_submission    uuid,
    p_labels        json,
    p_seconds       double precision,
    p_k             integer,
    p_shard         smallint,
    p_gold_mixed    boolean,
    p_display       text,
    p_source        text,
    p_lease_seconds integer,
    p_next          uuid
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
    existing_submission uuid,
    next_paused         boolean,
    next_found          bigint,
    next_assignment_id  uuid,
    next_expires_at     timestamp with time zone,
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
