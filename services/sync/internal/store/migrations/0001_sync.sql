-- Every change to a view's artifacts takes the next value, so a revision is
-- higher than any handed out before it and a watcher can resume from one.
CREATE SEQUENCE view_revision;

-- What each workspace must have now. Sync stamps last_synced_at on every call,
-- so the table leaves room in each page for those updates to stay HOT (no
-- index touched, no new page).
CREATE TABLE views (
    workspace_id     text PRIMARY KEY,
    revision         bigint      NOT NULL DEFAULT nextval('view_revision'),
    -- The signer's per-workspace sequence of the license held; 0 before any.
    license_sequence bigint      NOT NULL DEFAULT 0,
    license          text        NOT NULL DEFAULT '',
    -- The (stripped) site address the license is bound to.
    license_address  text        NOT NULL DEFAULT '',
    remove_license   boolean     NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_synced_at   timestamptz,
    -- What the last report said about the installation, and when a
    -- workspace.synced event last announced it: the event goes out when
    -- these change or an hour has passed, not on every sync.
    reported_unique_id text,
    reported_address   text,
    reported_version   text,
    announced_at       timestamptz
) WITH (fillfactor = 80);
CREATE INDEX views_revision ON views (revision);

-- Every usage report received on sync: the latest and the history.
CREATE TABLE usage_reports (
    id                      bigserial PRIMARY KEY,
    workspace_id            text        NOT NULL,
    unique_id               text        NOT NULL,
    address                 text        NOT NULL,
    version                 text        NOT NULL,
    seats                   bigint      NOT NULL CHECK (seats >= 0),
    monthly_active_contacts bigint      NOT NULL CHECK (monthly_active_contacts >= 0),
    site_name               text        NOT NULL DEFAULT '',
    connection_disabled     boolean     NOT NULL DEFAULT false,
    -- The registration data as sent; NULL when it was not valid JSON.
    raw                     jsonb,
    received_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_reports_workspace ON usage_reports (workspace_id, received_at DESC);
