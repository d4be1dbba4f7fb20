-- Parking access: locations with their rates, sessions, barcodes; and server secrets (the JWT key).
-- Amounts are integers in minor units of the location's currency; times are ms since the epoch.
-- A session is pending while start_ms is NULL, started while end_ms is NULL, else ended.

CREATE TABLE parking_locations (
    id                 INTEGER PRIMARY KEY,
    account_id         INTEGER NOT NULL REFERENCES accounts(id),
    name               TEXT    NOT NULL,
    rate_per_hour      INTEGER NOT NULL,
    currency           TEXT    NOT NULL,
    increment_minutes  INTEGER NOT NULL,
    daily_max          INTEGER,
    created_ms         INTEGER NOT NULL,
    seq                INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX parking_locations_by_account ON parking_locations (account_id, name);

CREATE TABLE parking_sessions (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL,
    location_id  INTEGER NOT NULL REFERENCES parking_locations(id),
    user_id      TEXT    NOT NULL,
    barcode      TEXT,
    start_ms     INTEGER,
    end_ms       INTEGER,
    cost         INTEGER,
    currency     TEXT,
    created_ms   INTEGER NOT NULL,
    seq          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX parking_sessions_by_location ON parking_sessions (location_id, id);
CREATE INDEX parking_sessions_by_user ON parking_sessions (account_id, user_id, id);
CREATE INDEX parking_sessions_by_barcode ON parking_sessions (account_id, barcode) WHERE barcode IS NOT NULL;
-- A user has at most one active (pending or started) session per account, whatever the writers do.
CREATE UNIQUE INDEX parking_sessions_one_active ON parking_sessions (account_id, user_id) WHERE end_ms IS NULL;

CREATE TABLE parking_barcodes (
    code         TEXT    PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    user_id      TEXT    NOT NULL,
    location_id  INTEGER,
    session_id   INTEGER,
    created_ms   INTEGER NOT NULL
);

CREATE TABLE server_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
