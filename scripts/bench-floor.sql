-- scripts/bench step 5: an annotation's writes alone, as one function call
-- with none of the queue's reads or rules: what PostgreSQL does at the
-- least for an annotation, on the benchmark's own tables (their indexes,
-- foreign keys and triggers). Each call takes the next item in file order
-- (a sequence, so that calls do not draw an item twice until they have
-- passed every item: such a call stores nothing), leases it to the
-- client's annotator (an assignment row), stores an annotation under the
-- lease, ends it, counts the item done, counts another item leased and
-- reads that one's text, as a submit with `?next=1` does. Scratch objects
-- in the benchmark's throwaway database, named floor_*.
create table floor_items as
    select row_number() over (order by batch_seq, seq)::integer as n, id from items;
create unique index floor_items_n on floor_items (n);
create sequence floor_next;
-- One annotator per pgbench client (the lease index allows one live lease each).
insert into users (id, username, role, password_hash)
    select gen_random_uuid(), 'floor-' || n, 'annotator', 'no sign-in' from generate_series(1, 16) n;
create table floor_users as
    select row_number() over (order by username)::integer as n, id from users where username like 'floor-%';
create function floor_annotation(p_records integer, p_user integer)
returns table (prompt text, texts text[]) language plpgsql as $$
declare
    item       uuid;
    next_item  uuid;
    annotator  uuid;
    project    uuid;
    assignment uuid := gen_random_uuid();
    drawn      bigint := nextval('floor_next');
begin
    select f.id into item from floor_items f where f.n = drawn % p_records + 1;
    -- Half the file away: no other call holds that item's lock.
    select f.id into next_item from floor_items f where f.n = (drawn + p_records / 2) % p_records + 1;
    select u.id into annotator from floor_users u where u.n = p_user;
    select i.project_id into project from items i where i.id = item for no key update;
    insert into assignments (id, project_id, item_id, annotator_id, state, leased_at, expires_at)
    values (assignment, project, item, annotator, 'leased', now(), now() + interval '10 minutes')
    on conflict do nothing;
    if not found then
        return;  -- this client's annotator had the item before
    end if;
    insert into annotations (id, project_id, item_id, annotator_id, assignment_id, submission_id,
                             labels, seconds_spent, suggestion_mode)
    values (gen_random_uuid(), project, item, annotator, assignment, gen_random_uuid(),
            '{"responses":[{"safe":true,"categories":[],"severity":0},{"safe":false,"categories":["privacy_violation"],"severity":1}],"helpfulness":[0,1],"harmlessness":[0,1]}',
            12.5, 'blind');
    update assignments set state = 'submitted', ended_at = now() where id = assignment;
    update items set done = done + 1 where id = item;
    update items set leased = leased + 1 where id = next_item;
    return query
        select i.prompt, array(select r.text from responses r where r.item_id = i.id order by r.position)
          from items i where i.id = next_item;
end
$$;
