-- Admin keys: the PostgreSQL twin of schema/sqlite/0011_admin_keys.sql.

ALTER TABLE api_keys ADD COLUMN admin boolean NOT NULL DEFAULT false;
