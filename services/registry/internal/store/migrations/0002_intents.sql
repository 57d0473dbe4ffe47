-- A customer's contact e-mail: a workspace registering by e-mail
-- confirmation with this contact joins the customer.
ALTER TABLE customers ADD COLUMN contact_email text NOT NULL DEFAULT '';
CREATE INDEX customers_contact_email ON customers (lower(contact_email)) WHERE contact_email <> '';

-- A workspace registering by e-mail confirmation exists, pending, before its
-- customer is known (the confirmation decides it).
ALTER TABLE workspaces ALTER COLUMN customer_id DROP NOT NULL;
ALTER TABLE workspaces ADD CONSTRAINT workspaces_customer_unless_pending
    CHECK (customer_id IS NOT NULL OR state IN ('pending', 'deregistered'));

-- Registration intents (PROTOCOL.md 2a and 2c). Codes are looked up by hash;
-- the values the registry must give out again (the device code on a
-- re-send, the confirmation code in each mail, the client secret on each
-- poll until first used) are sealed with INTENT_SECRET_KEY.
CREATE TABLE registration_intents (
    id                   text PRIMARY KEY,
    workspace_id         text        NOT NULL REFERENCES workspaces (id),
    device_code_hash     text        NOT NULL UNIQUE,
    device_code_sealed   bytea       NOT NULL,
    confirm_code_hash    text        NOT NULL UNIQUE,
    confirm_code_sealed  bytea,
    user_code            text        NOT NULL,
    unique_id            text        NOT NULL,
    contact_email        text        NOT NULL,
    address              text        NOT NULL,
    site_name            text        NOT NULL DEFAULT '',
    account_name         text        NOT NULL DEFAULT '',
    version              text        NOT NULL DEFAULT '',
    data                 jsonb       NOT NULL DEFAULT '{}',
    verification_url     text        NOT NULL,
    state                text        NOT NULL CHECK (state IN ('pending', 'confirmed', 'rejected')),
    created_at           timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL,
    last_polled_at       timestamptz,
    mails_requested      integer     NOT NULL DEFAULT 1,
    decided_at           timestamptz,
    client_id            text        NOT NULL DEFAULT '',
    client_secret_sealed bytea,
    secret_erased_at     timestamptz
);
CREATE INDEX registration_intents_pending ON registration_intents (unique_id, lower(contact_email)) WHERE state = 'pending';
CREATE INDEX registration_intents_held ON registration_intents (expires_at) WHERE client_secret_sealed IS NOT NULL;

-- Every confirmation e-mail sent: the mailer sends mail (intent, number)
-- once and records it in the transaction that acknowledges the request.
CREATE TABLE intent_mails (
    intent_id   text        NOT NULL REFERENCES registration_intents (id),
    mail_number integer     NOT NULL,
    message_id  text        NOT NULL,
    -- sent, or skipped when the intent was no longer pending.
    outcome     text        NOT NULL CHECK (outcome IN ('sent', 'skipped')),
    sent_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (intent_id, mail_number)
);
