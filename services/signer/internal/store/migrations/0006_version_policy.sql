-- The version policy (PROTOCOL.md 7): one row. Releases recorded without a
-- window of their own follow default_support_months; from enforce_from on,
-- registration and sync refuse unsupported versions (NULL: never).
CREATE TABLE version_policy (
    singleton              boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    default_support_months integer     NOT NULL DEFAULT 6 CHECK (default_support_months BETWEEN 1 AND 120),
    enforce_from           timestamptz,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
INSERT INTO version_policy DEFAULT VALUES;

-- A release's own window, or NULL to follow the policy's default. Until now
-- every release without a window of its own was stored with the default of
-- 6, so those follow the default from here on.
ALTER TABLE releases ALTER COLUMN support_months DROP NOT NULL,
                     ALTER COLUMN support_months DROP DEFAULT;
UPDATE releases SET support_months = NULL WHERE support_months = 6;

-- Exceptions extend one release line's support for a customer's workspaces,
-- or for the workspace a license was issued to, through the end of the UTC
-- day "until". The caller's idempotency key is kept with the request's hash:
-- the same key and request find the row again, another request is refused.
CREATE TABLE version_exceptions (
    id              text        PRIMARY KEY,
    customer_id     text,
    license_id      text,
    workspace_id    text,
    line            text        NOT NULL CHECK (line ~ '^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$'),
    until           timestamptz NOT NULL,
    reason          text        NOT NULL DEFAULT '',
    idempotency_key text        NOT NULL UNIQUE,
    request_hash    bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    removed_at      timestamptz,
    CHECK ((customer_id IS NULL) <> (license_id IS NULL)),
    CHECK ((license_id IS NULL) = (workspace_id IS NULL))
);
CREATE INDEX version_exceptions_customer ON version_exceptions (customer_id) WHERE customer_id IS NOT NULL;
