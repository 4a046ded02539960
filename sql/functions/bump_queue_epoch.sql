-- The trigger function of `items_reopened` (on items, made in migration
-- 0027): each time an item becomes pending again (a lead's requeue or
-- send-back), its project's number in `queue_epochs` goes up by one. A lease
-- cursor saved under an older number is then not used (see lease_item.sql).
-- A trigger, so that no code path that reopens an item can forget it.
create or replace function bump_queue_epoch() returns trigger language plpgsql as $$
begin
    insert into queue_epochs as q (project_id, epoch) values (new.project_id, 1)
    on conflict (project_id) do update set epoch = q.epoch + 1;
    return null;
end
$$;
