-- Several paging stations per account (a restaurant group runs one per site): each station has a
-- name within its account, and every key of paging data includes it. What was there moves to the
-- station 'default' (core.paging.DEFAULT_STATION), which `--coap ADDR=ACCOUNT` still serves.
-- SQLite cannot change a primary key or a table's UNIQUE constraint in place: the two keyed tables
-- are rebuilt, rows copied as they are.

CREATE TABLE paging_stations_0007 (
    account_id        INTEGER NOT NULL REFERENCES accounts(id),
    station           TEXT    NOT NULL,
    global_seq        INTEGER NOT NULL,
    next_id           INTEGER NOT NULL,
    clock_offset_ms   INTEGER NOT NULL,
    system_id         INTEGER NOT NULL,
    default_goal_s    INTEGER NOT NULL,
    stats_clear_mark  INTEGER NOT NULL,
    stats_since_ms    INTEGER NOT NULL,
    stats_sessions    INTEGER NOT NULL,
    stats_served      INTEGER NOT NULL,
    stats_late        INTEGER NOT NULL,
    stats_served_s    INTEGER NOT NULL,
    seq               INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, station)
);
INSERT INTO paging_stations_0007 (account_id, station, global_seq, next_id, clock_offset_ms, system_id,
    default_goal_s, stats_clear_mark, stats_since_ms, stats_sessions, stats_served, stats_late, stats_served_s, seq)
SELECT account_id, 'default', global_seq, next_id, clock_offset_ms, system_id, default_goal_s, stats_clear_mark,
    stats_since_ms, stats_sessions, stats_served, stats_late, stats_served_s, seq FROM paging_stations;
DROP TABLE paging_stations;
ALTER TABLE paging_stations_0007 RENAME TO paging_stations;

CREATE TABLE paging_sessions_0007 (
    row_id       INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL,
    station      TEXT    NOT NULL,
    id           INTEGER NOT NULL,
    uuid         TEXT    NOT NULL,
    number       INTEGER NOT NULL,
    party_size   INTEGER NOT NULL,
    goal_s       INTEGER NOT NULL,
    label        TEXT,
    state        TEXT    NOT NULL CHECK (state IN ('started', 'paged', 'cleared')),
    created_ms   INTEGER NOT NULL,
    notified_ms  INTEGER,
    cleared_ms   INTEGER,
    clear_type   TEXT CHECK (clear_type IN ('STOP', 'REMOVED')),
    session_seq  INTEGER NOT NULL,
    page_mode    TEXT,
    UNIQUE (account_id, station, id)
);
INSERT INTO paging_sessions_0007 (row_id, account_id, station, id, uuid, number, party_size, goal_s, label, state,
    created_ms, notified_ms, cleared_ms, clear_type, session_seq, page_mode)
SELECT row_id, account_id, 'default', id, uuid, number, party_size, goal_s, label, state, created_ms, notified_ms,
    cleared_ms, clear_type, session_seq, page_mode FROM paging_sessions;
DROP TABLE paging_sessions;
ALTER TABLE paging_sessions_0007 RENAME TO paging_sessions;
-- One active session per pager number of a station, whatever the writers do.
CREATE UNIQUE INDEX paging_sessions_one_active ON paging_sessions (account_id, station, number)
    WHERE state <> 'cleared';
CREATE INDEX paging_sessions_history ON paging_sessions (account_id, station, state, id);

ALTER TABLE paging_pages ADD COLUMN station TEXT NOT NULL DEFAULT 'default';
CREATE INDEX paging_pages_by_station ON paging_pages (account_id, station, id);

-- The change log's paging topics name the station now (core.changes): paging/session/<account>/<n>
-- becomes paging/<account>/default/session/<n>, paging/station/<account> paging/<account>/default/station,
-- so a stream resumed across the upgrade still finds the changes it missed under its station.
UPDATE changes SET topic = 'paging/' || substr(topic, 16, instr(substr(topic, 16), '/') - 1) || '/default/session/'
    || substr(topic, 16 + instr(substr(topic, 16), '/'))
    WHERE substr(topic, 1, 15) = 'paging/session/' AND instr(substr(topic, 16), '/') > 0;
UPDATE changes SET topic = 'paging/' || substr(topic, 16) || '/default/station'
    WHERE substr(topic, 1, 15) = 'paging/station/';
