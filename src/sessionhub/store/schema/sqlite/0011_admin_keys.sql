-- Admin keys (keys create --admin): a key that may also manage its own account (keys, locations,
-- rates). Only READ_WRITE keys carry it (core.access.check_new_key); existing keys are not admins.

ALTER TABLE api_keys ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
