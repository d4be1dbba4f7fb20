-- Webhooks (docs/webhooks.md): subscriptions of an account's URL to kinds of change, each with its
-- durable cursor on the change log, and the log of delivery attempts (pruned per subscription).
-- cursor_seq: the seq of the last change delivered (or passed over as not of its kinds); delivery
--   resumes after it, so a restart loses nothing (at-least-once).
-- failures: consecutive failed attempts; at the configured limit the subscription is disabled.
-- lease_owner/lease_until_ms: the delivering process that holds the subscription (one at a time,
--   across processes and hosts), until when; another may take it over once the lease has expired.

CREATE TABLE webhook_subscriptions (
    id               INTEGER PRIMARY KEY,
    account_id       INTEGER NOT NULL REFERENCES accounts(id),
    url              TEXT    NOT NULL,
    kinds            TEXT    NOT NULL,
    secret           TEXT    NOT NULL,
    enabled          INTEGER NOT NULL DEFAULT 1,
    failures         INTEGER NOT NULL DEFAULT 0,
    cursor_seq       INTEGER NOT NULL,
    created_ms       INTEGER NOT NULL,
    disabled_reason  TEXT,
    lease_owner      TEXT,
    lease_until_ms   INTEGER
);
CREATE INDEX webhook_subscriptions_by_account ON webhook_subscriptions (account_id, id);

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    subscription_id  INTEGER NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    topic            TEXT    NOT NULL,
    attempt          INTEGER NOT NULL,
    status           INTEGER,
    error            TEXT,
    duration_ms      INTEGER NOT NULL,
    at_ms            INTEGER NOT NULL,
    next_retry_ms    INTEGER
);
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id);
