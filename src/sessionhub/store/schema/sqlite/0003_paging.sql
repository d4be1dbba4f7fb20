-- Guest paging (LRS T7470 dialect): one station per account, its guest sessions, the pages it
-- sent, and the snapshots its change notifications are rendered from.
-- Times are station-local milliseconds (the station clock has no zone); see core/paging.py.

CREATE TABLE paging_stations (
    account_id        INTEGER PRIMARY KEY REFERENCES accounts(id),
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
    seq               INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE paging_sessions (
    row_id       INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL,
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
    UNIQUE (account_id, id)
);
-- One active session per pager number, whatever the writers do.
CREATE UNIQUE INDEX paging_sessions_one_active ON paging_sessions (account_id, number) WHERE state <> 'cleared';
CREATE INDEX paging_sessions_history ON paging_sessions (account_id, state, id);

CREATE TABLE paging_pages (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL,
    number      INTEGER NOT NULL,
    page_mode   TEXT    NOT NULL,
    system_id   INTEGER NOT NULL,
    message     TEXT,
    session_id  INTEGER,
    at_ms       INTEGER NOT NULL
);

-- What a change looked like when it was committed (msgspec JSON of core.paging.StationEvent),
-- keyed by the change's seq: Observe notifications render from it. Pruned as it ages.
CREATE TABLE paging_events (
    seq         INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL,
    snapshot    BLOB    NOT NULL
);
