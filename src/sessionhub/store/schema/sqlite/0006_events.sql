-- Race events (RUFUS §7): events, their timing points (devices, each with a name), participants.
-- Within an event a participant's participant_id, bib and chip are each unique.

CREATE TABLE timing_events (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    token       TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    edition     TEXT,
    location    TEXT,
    start_ms    INTEGER,
    end_ms      INTEGER,
    status      TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL,
    seq         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX timing_events_by_account ON timing_events (account_id, id);

CREATE TABLE timing_points (
    event_id   INTEGER NOT NULL REFERENCES timing_events(id),
    device_id  INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    PRIMARY KEY (event_id, device_id)
);
CREATE INDEX timing_points_by_device ON timing_points (device_id);

CREATE TABLE participants (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES timing_events(id),
    participant_id  TEXT    NOT NULL,
    bib             TEXT    NOT NULL,
    chip            TEXT,
    first_name      TEXT,
    last_name       TEXT,
    gender          TEXT,
    category        TEXT,
    created_ms      INTEGER NOT NULL,
    UNIQUE (event_id, participant_id),
    UNIQUE (event_id, bib),
    UNIQUE (event_id, chip)
);
