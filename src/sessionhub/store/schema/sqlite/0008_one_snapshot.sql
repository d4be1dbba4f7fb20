-- One snapshot mechanism (issue 10): "the object as it was at change N" is the change's own
-- `data` in every domain. Paging kept a second copy in paging_events (pruned at 10,000 changes);
-- its snapshots move to their changes' data and the table goes. Retention is one policy for all:
-- service.snapshots (data pruned beyond 2 x --replay-retention changes).

UPDATE changes SET data = (SELECT e.snapshot FROM paging_events e WHERE e.seq = changes.seq)
    WHERE data IS NULL AND seq IN (SELECT seq FROM paging_events);
DROP TABLE paging_events;
