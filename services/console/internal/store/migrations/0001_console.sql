-- The console's accounts. Organizations are the registry's customers: the
-- console keeps only the link (customer_id) and who belongs to them.
CREATE TABLE organizations (
    id          text PRIMARY KEY,
    customer_id text NOT NULL UNIQUE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id            text PRIMARY KEY,
    email         text NOT NULL,
    -- argon2id in PHC form; NULL for an invited member who has not chosen one.
    password_hash text,
    -- The organization a sign-up asked for, created when the address is verified.
    org_name      text NOT NULL DEFAULT '',
    verified_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_email ON accounts (lower(email));

CREATE TABLE members (
    organization_id text NOT NULL REFERENCES organizations (id),
    account_id      text NOT NULL REFERENCES accounts (id),
    role            text NOT NULL CHECK (role IN ('owner', 'member')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, account_id)
);
CREATE INDEX members_account ON members (account_id, created_at);

-- Sessions and e-mailed links are looked up by the SHA-256 of the secret.
CREATE TABLE sessions (
    id_hash    bytea PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE email_tokens (
    token_hash bytea PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('verify', 'reset')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- Failed sign-ins, keyed 'account:<email>' and 'address:<client address>',
-- counted over a sliding window.
CREATE TABLE signin_failures (
    key text        NOT NULL,
    at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signin_failures_key ON signin_failures (key, at);

-- Mails to send, written in the transaction of the change they announce;
-- the sender erases the body (it carries one-time links) once sent.
CREATE TABLE mail_queue (
    id              bigserial PRIMARY KEY,
    message_id      text NOT NULL UNIQUE,
    to_addr         text NOT NULL,
    subject         text NOT NULL,
    body            text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    last_error      text NOT NULL DEFAULT ''
);
CREATE INDEX mail_queue_pending ON mail_queue (next_attempt_at) WHERE sent_at IS NULL;
