-- Announcements workspaces show their users (PROTOCOL.md section 5). A
-- workspace's plan for plan targeting comes from the license its view holds.
CREATE TABLE announcements (
    id              text PRIMARY KEY,
    idempotency_key text        NOT NULL UNIQUE,
    target          text        NOT NULL CHECK (target IN ('all', 'plans', 'workspaces')),
    plan_ids        text[]      NOT NULL DEFAULT '{}',
    workspace_ids   text[]      NOT NULL DEFAULT '{}',
    dictionary      jsonb       NOT NULL,
    ui_view         jsonb       NOT NULL,
    surface         text        NOT NULL CHECK (surface IN ('banner', 'modal')),
    platforms       text[]      NOT NULL,
    roles           text[]      NOT NULL DEFAULT '{}',
    start_at        timestamptz NOT NULL,
    expire_at       timestamptz NOT NULL CHECK (expire_at > start_at),
    created_by      text        NOT NULL CHECK (created_by IN ('cloud', 'system')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    withdrawn_at    timestamptz
);
-- Delivery reads what has not expired yet; expired rows stay for the record.
CREATE INDEX announcements_expire ON announcements (expire_at);
CREATE INDEX announcements_workspace_ids ON announcements USING gin (workspace_ids);

-- Deregistration is final: once a view is marked deregistered it says
-- removeLicense whatever else is applied to it later (a license issued before
-- the deregistration and consumed after it, a reinstatement).
ALTER TABLE views ADD COLUMN deregistered_at timestamptz;

-- A workspace applies a license from the legacy fetch only when its
-- updatedAt is newer than its own, compared as JavaScript dates (whole
-- milliseconds). So a change of license moves updated_at forward by at least
-- one millisecond, even against a clock that stepped back.
CREATE FUNCTION views_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.deregistered_at IS NOT NULL THEN
        NEW.remove_license := true;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.license_sequence IS DISTINCT FROM OLD.license_sequence THEN
        NEW.updated_at := GREATEST(NEW.updated_at, date_trunc('milliseconds', OLD.updated_at) + interval '1 millisecond');
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER views_guard BEFORE UPDATE ON views FOR EACH ROW
    -- The sequence, not the license text: every sync updates the row, and
    -- comparing the (compressed) license bodies would cost each one.
    WHEN ((NEW.deregistered_at IS NOT NULL AND NOT NEW.remove_license) OR NEW.license_sequence IS DISTINCT FROM OLD.license_sequence)
    EXECUTE FUNCTION views_guard();
