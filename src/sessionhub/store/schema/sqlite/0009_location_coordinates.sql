-- Where a parking location is (WGS 84 degrees, both or neither): Coord's Parking Search finds
-- locations around a point (latitude, longitude, radius_km). Existing locations have none.

ALTER TABLE parking_locations ADD COLUMN latitude REAL;
ALTER TABLE parking_locations ADD COLUMN longitude REAL;
