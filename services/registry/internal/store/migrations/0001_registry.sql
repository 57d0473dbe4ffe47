CREATE TABLE customers (
    id         text PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspaces (
    id              text PRIMARY KEY,
    customer_id     text        NOT NULL REFERENCES customers (id),
    state           text        NOT NULL CHECK (state IN ('pending', 'registered', 'disconnected', 'deregistered')),
    client_name     text        NOT NULL DEFAULT '',
    contact_email   text        NOT NULL DEFAULT '',
    initial_plan_id text        NOT NULL DEFAULT '',
    unique_id       text        NOT NULL DEFAULT '',
    address         text        NOT NULL DEFAULT '',
    version         text        NOT NULL DEFAULT '',
    registered_at   timestamptz NOT NULL DEFAULT now(),
    last_synced_at  timestamptz,
    -- The workspace aggregate's event counter (Licensing-Aggregate-Seq).
    event_seq       bigint      NOT NULL DEFAULT 0
);
CREATE INDEX workspaces_customer ON workspaces (customer_id, registered_at DESC);
