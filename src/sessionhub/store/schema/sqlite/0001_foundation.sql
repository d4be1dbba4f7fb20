-- Accounts, keys, the change feed, and race timing (devices, sessions, passings).
-- Times are integer milliseconds since the epoch (UTC). `seq` columns hold the change
-- sequence of the row's last change: the object's version and ETag.

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    is_test     INTEGER NOT NULL DEFAULT 0,
    created_ms  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    key_hash    TEXT    NOT NULL UNIQUE,
    access      TEXT    NOT NULL CHECK (access IN ('READ', 'WRITE', 'READ_WRITE')),
    unbind      INTEGER NOT NULL DEFAULT 0,
    alias       TEXT    NOT NULL DEFAULT '',
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
);

CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL,
    topic       TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL
);

CREATE TABLE devices (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    deviceid      TEXT    NOT NULL UNIQUE,
    type          TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    serial_number TEXT    NOT NULL,
    alias         TEXT    NOT NULL,
    firmware      TEXT,
    created_ms    INTEGER NOT NULL,
    last_seen_ms  INTEGER,
    seq           INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, serial_number)
);

CREATE TABLE timing_sessions (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL,
    device_id   INTEGER NOT NULL REFERENCES devices(id),
    token       TEXT    NOT NULL UNIQUE,
    alias       TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL,
    closed_ms   INTEGER,
    passings    INTEGER NOT NULL DEFAULT 0,
    first_ms    INTEGER,
    last_ms     INTEGER,
    seq         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX timing_sessions_by_device ON timing_sessions (device_id, id);
-- A device has at most one active session, whatever the writers do.
CREATE UNIQUE INDEX timing_sessions_one_active ON timing_sessions (device_id) WHERE closed_ms IS NULL;

CREATE TABLE passings (
    session_id      INTEGER NOT NULL,
    num_passing     INTEGER NOT NULL,
    device_id       INTEGER NOT NULL,
    ts_ms           INTEGER NOT NULL,
    bib             TEXT    NOT NULL,
    chip            TEXT,
    participant_id  TEXT,
    latitude        TEXT,
    longitude       TEXT,
    status          TEXT,
    timezone        TEXT,
    gender          TEXT,
    PRIMARY KEY (session_id, num_passing)
) WITHOUT ROWID;
CREATE INDEX passings_by_device_time ON passings (device_id, ts_ms);
