-- Registration tokens: only the hash of the secret is kept.
CREATE TABLE registration_tokens (
    id          text PRIMARY KEY,
    secret_hash text        NOT NULL UNIQUE,
    customer_id text        NOT NULL,
    plan_id     text        NOT NULL DEFAULT '',
    max_uses    integer     NOT NULL CHECK (max_uses >= 1),
    uses        integer     NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- One row per workspace that redeemed a token: the primary key makes a
-- second redemption for the same workspace impossible.
CREATE TABLE redemptions (
    workspace_id text PRIMARY KEY,
    token_id     text        NOT NULL REFERENCES registration_tokens (id),
    redeemed_at  timestamptz NOT NULL DEFAULT now(),
    released_at  timestamptz
);

-- Workspace client credentials (OAuth client id and hashed secret).
CREATE TABLE client_credentials (
    client_id     text PRIMARY KEY,
    workspace_id  text        NOT NULL,
    secret_hash   text        NOT NULL,
    client_name   text        NOT NULL DEFAULT '',
    redirect_uris text[]      NOT NULL DEFAULT '{}',
    scopes        text[]      NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE INDEX client_credentials_workspace ON client_credentials (workspace_id);

-- Internal API keys with their role.
CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    name        text        NOT NULL,
    role        text        NOT NULL,
    secret_hash text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
