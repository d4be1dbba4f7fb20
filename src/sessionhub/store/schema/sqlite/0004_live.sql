-- Live updates (docs/live.md): what resumable streams and conditional GETs read from the change log.
-- changes.data: the changed object as it was right after the change (a small JSON snapshot the
--   service writes in the same transaction), so a stream resumed with Last-Event-ID replays every
--   intermediate state exactly once even when the current row has moved on. NULL: nothing to replay
--   (e.g. the object was deleted, or the change is a location's creation).
-- changes_by_topic: the latest change of a topic (or of every topic under a prefix) for an ETag,
--   and a topic's changes after a seq for a resumed stream, without scanning the log.
-- passings.seq: the change that stored the passing, so "which passings came in which batch" survives.

ALTER TABLE changes ADD COLUMN data BLOB;
CREATE INDEX changes_by_topic ON changes (account_id, topic, seq);
ALTER TABLE passings ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
