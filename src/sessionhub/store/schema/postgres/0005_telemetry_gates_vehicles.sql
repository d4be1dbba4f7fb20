-- Device telemetry (RUFUS §8), gated parking locations, and parking users' vehicles.
-- The PostgreSQL twin of schema/sqlite/0005_telemetry_gates_vehicles.sql (see it for the columns).

ALTER TABLE devices ADD COLUMN telemetry_ms bigint;
ALTER TABLE devices ADD COLUMN device_status text;
ALTER TABLE devices ADD COLUMN battery_percentage bigint;
ALTER TABLE devices ADD COLUMN charging bigint;
ALTER TABLE devices ADD COLUMN telemetry_latitude double precision;
ALTER TABLE devices ADD COLUMN telemetry_longitude double precision;
ALTER TABLE devices ADD COLUMN temperature double precision;

ALTER TABLE parking_locations ADD COLUMN gated bigint NOT NULL DEFAULT 0;

CREATE TABLE parking_vehicles (
    account_id   bigint NOT NULL REFERENCES accounts(id),
    user_id      text   NOT NULL,
    plate        text   NOT NULL,
    text         text   NOT NULL,
    country      text,
    subdivision  text,
    updated_ms   bigint NOT NULL,
    PRIMARY KEY (account_id, user_id),
    UNIQUE (account_id, plate)
);
