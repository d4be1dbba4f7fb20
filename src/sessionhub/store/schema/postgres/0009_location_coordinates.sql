-- Where a parking location is (WGS 84 degrees, both or neither): Coord's Parking Search finds
-- locations around a point (latitude, longitude, radius_km). Existing locations have none.
-- Same as schema/sqlite/0009_location_coordinates.sql.

ALTER TABLE parking_locations ADD COLUMN latitude double precision;
ALTER TABLE parking_locations ADD COLUMN longitude double precision;
