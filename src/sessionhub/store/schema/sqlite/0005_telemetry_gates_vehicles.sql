-- Device telemetry (RUFUS §8), gated parking locations, and parking users' vehicles.
-- devices.telemetry_ms: when the device took its latest report (NULL before any); the other
--   telemetry columns are that report's fields (a report replaces them all). charging is 0/1.
-- parking_locations.gated: 1 where a gate scans barcodes (new sessions are pending with one).
-- parking_vehicles: a user's one current vehicle per account; plate is the normalised form a
--   gate's camera matches, unique per account.

ALTER TABLE devices ADD COLUMN telemetry_ms INTEGER;
ALTER TABLE devices ADD COLUMN device_status TEXT;
ALTER TABLE devices ADD COLUMN battery_percentage INTEGER;
ALTER TABLE devices ADD COLUMN charging INTEGER;
ALTER TABLE devices ADD COLUMN telemetry_latitude REAL;
ALTER TABLE devices ADD COLUMN telemetry_longitude REAL;
ALTER TABLE devices ADD COLUMN temperature REAL;

ALTER TABLE parking_locations ADD COLUMN gated INTEGER NOT NULL DEFAULT 0;

CREATE TABLE parking_vehicles (
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    user_id      TEXT    NOT NULL,
    plate        TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    country      TEXT,
    subdivision  TEXT,
    updated_ms   INTEGER NOT NULL,
    PRIMARY KEY (account_id, user_id),
    UNIQUE (account_id, plate)
);
