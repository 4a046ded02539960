-- The trigger function of `audit_log_append_only` (on audit_log, made in
-- migration 0001): any update or delete of an audit log row fails, so the
-- log can only grow.
create or replace function audit_log_is_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only';
end $$;
