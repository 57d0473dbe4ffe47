-- Jobs re-issuing current licenses with a new key (the keyset's own tables,
-- signing_keys and keyset_changes, come from pkg/keyset). cursor is the last
-- workspace id visited: a restarted job goes on from there.
CREATE TABLE resign_jobs (
    id         text        PRIMARY KEY,
    target_kid text        NOT NULL REFERENCES signing_keys (kid),
    state      text        NOT NULL CHECK (state IN ('running', 'done')),
    cursor     text        NOT NULL DEFAULT '',
    total      bigint      NOT NULL DEFAULT 0,
    visited    bigint      NOT NULL DEFAULT 0,
    resigned   bigint      NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX resign_jobs_one_running ON resign_jobs ((true)) WHERE state = 'running';
