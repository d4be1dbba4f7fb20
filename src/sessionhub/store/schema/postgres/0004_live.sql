-- Live updates (docs/live.md): the PostgreSQL twin of schema/sqlite/0004_live.sql.
-- changes.data: the changed object right after the change (JSON snapshot written in the same
--   transaction) for exact Last-Event-ID replay; NULL when there is nothing to replay.
-- changes_by_topic: latest change of a topic or topic prefix (ETags), a topic's changes after a seq.
-- passings.seq: the change that stored the passing (which passings came in which batch).

ALTER TABLE changes ADD COLUMN data bytea;
-- COLLATE "C": byte order, so a topic prefix is one index range whatever the database collation.
CREATE INDEX changes_by_topic ON changes (account_id, topic COLLATE "C", seq);
ALTER TABLE passings ADD COLUMN seq bigint NOT NULL DEFAULT 0;
