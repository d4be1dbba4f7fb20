-- Several paging stations per account: the PostgreSQL twin of schema/sqlite/0007_paging_stations.sql.
-- Each station has a name within its account and every key of paging data includes it; what was
-- there moves to the station 'default' (core.paging.DEFAULT_STATION), which `--coap ADDR=ACCOUNT`
-- still serves.

ALTER TABLE paging_stations ADD COLUMN station text NOT NULL DEFAULT 'default';
ALTER TABLE paging_stations ALTER COLUMN station DROP DEFAULT;
ALTER TABLE paging_stations DROP CONSTRAINT paging_stations_pkey;
ALTER TABLE paging_stations ADD PRIMARY KEY (account_id, station);

ALTER TABLE paging_sessions ADD COLUMN station text NOT NULL DEFAULT 'default';
ALTER TABLE paging_sessions ALTER COLUMN station DROP DEFAULT;
ALTER TABLE paging_sessions DROP CONSTRAINT paging_sessions_account_id_id_key;
ALTER TABLE paging_sessions ADD CONSTRAINT paging_sessions_station_id_key UNIQUE (account_id, station, id);
-- One active session per pager number of a station, whatever the writers do.
DROP INDEX paging_sessions_one_active;
CREATE UNIQUE INDEX paging_sessions_one_active ON paging_sessions (account_id, station, number)
    WHERE state <> 'cleared';
DROP INDEX paging_sessions_history;
CREATE INDEX paging_sessions_history ON paging_sessions (account_id, station, state, id);

ALTER TABLE paging_pages ADD COLUMN station text NOT NULL DEFAULT 'default';
CREATE INDEX paging_pages_by_station ON paging_pages (account_id, station, id);

-- The change log's paging topics name the station now (core.changes): paging/session/<account>/<n>
-- becomes paging/<account>/default/session/<n>, paging/station/<account> paging/<account>/default/station.
UPDATE changes SET topic = 'paging/' || split_part(topic, '/', 3) || '/default/session/' || split_part(topic, '/', 4)
    WHERE topic LIKE 'paging/session/%/%';
UPDATE changes SET topic = 'paging/' || split_part(topic, '/', 3) || '/default/station'
    WHERE topic LIKE 'paging/station/%';
