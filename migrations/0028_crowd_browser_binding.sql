-- A crowd worker's account is bound to the browser that first joined as
-- that worker (issue 23): the SHA-256 of a random cookie that browser
-- keeps. A later join by the same worker id must bring the cookie, so a
-- study link and someone else's worker id are not enough to become them.
-- Null: not bound yet (accounts made before this migration bind at their
-- next join).
alter table users add column crowd_browser_hash bytea;
