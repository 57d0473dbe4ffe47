-- Plans are data: each row maps to the modules, limits, validity and support
-- entitlement a license carries. definition holds everything but the modules,
-- in the license document's JSON shapes (see domain.Definition).
CREATE TABLE plans (
    id         text PRIMARY KEY,
    name       text        NOT NULL,
    version    integer     NOT NULL CHECK (version >= 1),
    free       boolean     NOT NULL,
    modules    text[]      NOT NULL DEFAULT '{}',
    definition jsonb       NOT NULL,
    -- The plan of a workspace whose registration named none. At most one.
    is_default boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX plans_one_default ON plans (is_default) WHERE is_default;

-- What signer learned about a workspace, from workspace.registered or, when
-- the event has not arrived yet, from the registry.
CREATE TABLE workspaces (
    workspace_id    text PRIMARY KEY,
    customer_id     text        NOT NULL DEFAULT '',
    initial_plan_id text        NOT NULL DEFAULT '',
    client_name     text        NOT NULL DEFAULT '',
    registered_at   timestamptz NOT NULL
);

-- One subscription per workspace: the plan it is on and the site address its
-- licenses are bound to.
CREATE TABLE subscriptions (
    workspace_id text PRIMARY KEY REFERENCES workspaces (workspace_id),
    plan_id      text        NOT NULL REFERENCES plans (id),
    plan_version integer     NOT NULL,
    -- 0: the plan's own activeUsers limits.
    seats        integer     NOT NULL DEFAULT 0 CHECK (seats >= 0),
    status       text        NOT NULL DEFAULT 'active' CHECK (status IN ('active')),
    period_start timestamptz NOT NULL,
    -- NULL for free plans, whose licenses have a rolling validity instead.
    period_end   timestamptz,
    -- Stripped (license.StripAddress); '' until the workspace reports one.
    address      text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Every license ever issued. Rows are never changed: a new binding, plan or
-- period is a new row with the next sequence of its workspace.
CREATE TABLE licenses (
    id           text PRIMARY KEY,
    workspace_id text        NOT NULL REFERENCES workspaces (workspace_id),
    sequence     bigint      NOT NULL CHECK (sequence >= 1),
    plan_id      text        NOT NULL,
    plan_version integer     NOT NULL,
    address      text        NOT NULL DEFAULT '',
    token        text        NOT NULL,
    kid          text        NOT NULL,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz,
    modules      text[]      NOT NULL DEFAULT '{}',
    UNIQUE (workspace_id, sequence)
);

-- The issuance log is evidence of what was signed; the database refuses to
-- rewrite it, whatever the code does.
CREATE FUNCTION licenses_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'licenses are append-only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER licenses_append_only BEFORE UPDATE OR DELETE ON licenses
    FOR EACH ROW EXECUTE FUNCTION licenses_append_only();
CREATE TRIGGER licenses_no_truncate BEFORE TRUNCATE ON licenses
    FOR EACH STATEMENT EXECUTE FUNCTION licenses_append_only();
