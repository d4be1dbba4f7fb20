-- Share links (core/shares.py): an end user's live view of one object, by an unguessable token.
-- Only the token's SHA-256 is kept. ``ref`` names the object within the account, per kind.

CREATE TABLE share_links (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    token_hash  TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL CHECK (kind IN ('parking', 'timing', 'paging')),
    ref         TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
);
CREATE INDEX share_links_by_object ON share_links (account_id, kind, ref);
