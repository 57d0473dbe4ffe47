-- When a credential was first exchanged for an access token: a registration
-- by e-mail confirmation holds the client secret for the workspace's repeated
-- poll only until then.
ALTER TABLE client_credentials ADD COLUMN first_used_at timestamptz;

CREATE INDEX registration_tokens_customer ON registration_tokens (customer_id, created_at DESC);

-- Revocations of a workspace's credentials, one row per revoking call: they
-- count in the credentials aggregate's event sequence.
CREATE TABLE credential_revocations (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id text        NOT NULL,
    client_ids   text[]      NOT NULL,
    revoked_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credential_revocations_workspace ON credential_revocations (workspace_id);
