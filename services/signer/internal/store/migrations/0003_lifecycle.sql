-- The license lifecycle: versioned plans, subscriptions that move through
-- trials, paid periods, cancellation and suspension, license withdrawals,
-- trials taken, and idempotency records of mutating calls.

CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END;
$$;

-- Every version a plan ever had. plans keeps the current one (and which plan
-- is the default); a subscription and each of its licenses name the version
-- they were granted on, so a published version changes only what is granted,
-- renewed or converted after it.
CREATE TABLE plan_versions (
    plan_id    text        NOT NULL REFERENCES plans (id),
    version    integer     NOT NULL CHECK (version >= 1),
    name       text        NOT NULL,
    free       boolean     NOT NULL,
    modules    text[]      NOT NULL DEFAULT '{}',
    definition jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_id, version)
);
INSERT INTO plan_versions (plan_id, version, name, free, modules, definition, created_at)
    SELECT id, version, name, free, modules, definition, updated_at FROM plans;
CREATE TRIGGER plan_versions_append_only BEFORE UPDATE OR DELETE ON plan_versions
    FOR EACH ROW EXECUTE FUNCTION append_only();

ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_status_check;
ALTER TABLE subscriptions
    ADD CONSTRAINT subscriptions_status_check CHECK (status IN ('active', 'trialing', 'suspended')),
    -- Overrides of the plan's limits: {"guestUsers": 10, ...} (see domain.LimitOverrides).
    ADD COLUMN limits               jsonb   NOT NULL DEFAULT '{}',
    ADD COLUMN auto_renew           boolean NOT NULL DEFAULT false,
    ADD COLUMN cancel_at_period_end boolean NOT NULL DEFAULT false,
    -- manual, self-service, sales, support or reseller (information.grantedBy).
    ADD COLUMN grant_method         text    NOT NULL DEFAULT '',
    ADD COLUMN seller               text    NOT NULL DEFAULT '',
    -- While suspended: the status to return to, and why.
    ADD COLUMN suspended_status     text    NOT NULL DEFAULT '',
    ADD COLUMN suspend_reason       text    NOT NULL DEFAULT '',
    -- When the background loop falls back to the free plan; NULL: never.
    ADD COLUMN lapses_at            timestamptz;
UPDATE subscriptions s SET
    auto_renew = coalesce((p.definition ->> 'autoRenew')::boolean, false),
    grant_method = CASE WHEN s.period_end IS NULL THEN 'self-service' ELSE 'manual' END,
    lapses_at = s.period_end
    FROM plans p WHERE p.id = s.plan_id;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_plan_version
    FOREIGN KEY (plan_id, plan_version) REFERENCES plan_versions (plan_id, version);
CREATE INDEX subscriptions_due ON subscriptions (lapses_at) WHERE lapses_at IS NOT NULL AND status <> 'suspended';

ALTER TABLE licenses
    ADD COLUMN trial   boolean NOT NULL DEFAULT false,
    ADD COLUMN offline boolean NOT NULL DEFAULT false;

-- Licenses withdrawn (suspensions). A withdrawal takes the workspace's next
-- license sequence: the sequences of licenses and withdrawals of one
-- workspace never collide, since both are taken under the workspace's
-- advisory lock.
CREATE TABLE license_withdrawals (
    workspace_id text        NOT NULL REFERENCES workspaces (workspace_id),
    sequence     bigint      NOT NULL CHECK (sequence >= 1),
    reason       text        NOT NULL DEFAULT '',
    withdrawn_at timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, sequence)
);
CREATE TRIGGER license_withdrawals_append_only BEFORE UPDATE OR DELETE ON license_withdrawals
    FOR EACH ROW EXECUTE FUNCTION append_only();

-- Every trial started: at most one per workspace and plan, unless support
-- overrode it.
CREATE TABLE trials (
    workspace_id text        NOT NULL REFERENCES workspaces (workspace_id),
    plan_id      text        NOT NULL REFERENCES plans (id),
    started_at   timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    override     boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (workspace_id, plan_id, started_at)
);

-- The answer to each mutating call, by its idempotency key: the same key
-- and request get it again, the same key with another request is refused.
-- Kept for a while (the background loop removes old ones).
CREATE TABLE idempotency_keys (
    key          text        PRIMARY KEY,
    method       text        NOT NULL,
    request_hash bytea       NOT NULL,
    response     bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Version 2 of the paid plans spells out their period rules: at the end of
-- the paid period the workspace starts the fair-use policy, and the license
-- is invalidated after a grace (15 days for Pro, 30 for Enterprise); admins
-- are warned 30 days and users 7 days before the end; trials run 30 days.
INSERT INTO plan_versions (plan_id, version, name, free, modules, definition)
    SELECT id, 2, name, free, modules, definition || '{
        "endBehaviors": [
            {"graceDays": 0, "behavior": "start_fair_policy"},
            {"graceDays": 15, "behavior": "invalidate_license"}
        ],
        "notice": {"adminsDays": 30, "usersDays": 7},
        "trial": {"days": 30, "adminsDays": 7, "usersDays": 3}
    }'::jsonb FROM plans WHERE id = 'pro' AND version = 1;
INSERT INTO plan_versions (plan_id, version, name, free, modules, definition)
    SELECT id, 2, name, free, modules, definition || '{
        "endBehaviors": [
            {"graceDays": 0, "behavior": "start_fair_policy"},
            {"graceDays": 30, "behavior": "invalidate_license"}
        ],
        "notice": {"adminsDays": 30, "usersDays": 7},
        "trial": {"days": 30, "adminsDays": 7, "usersDays": 3}
    }'::jsonb FROM plans WHERE id = 'enterprise' AND version = 1;
UPDATE plans p SET version = v.version, definition = v.definition, updated_at = now()
    FROM plan_versions v WHERE v.plan_id = p.id AND v.version = 2 AND p.version = 1;

-- A license (and its license.issued event) is about 3 KB of base64 that
-- hardly compresses: kept inline, a write costs no compression attempt and no
-- TOAST rows, and the relay reads it back without detoasting.
ALTER TABLE licenses SET (toast_tuple_target = 8160);
ALTER TABLE outbox SET (toast_tuple_target = 8160);
