-- The trigger function of `audit_log_project` (on audit_log, made in
-- migration 0029): fills each new entry's project_id, so no caller can
-- forget it.
create or replace function audit_log_project() returns trigger language plpgsql as $$
begin
    new.project_id := coalesce(new.project_id, audit_entry_project(new.subject, new.before, new.after));
    return new;
end $$;
