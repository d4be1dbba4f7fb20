-- One snapshot mechanism (issue 10): the PostgreSQL twin of schema/sqlite/0008_one_snapshot.sql.
-- Paging's snapshots move from paging_events to their changes' data, and the table goes.

UPDATE changes c SET data = e.snapshot FROM paging_events e WHERE e.seq = c.seq AND c.data IS NULL;
DROP TABLE paging_events;
