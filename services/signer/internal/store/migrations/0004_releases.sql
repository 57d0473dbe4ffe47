-- Workspace releases and how long each is supported: the supported-versions
-- document (PROTOCOL.md 7) lists each with released_at + support_months as
-- its expiration, and the newest updated_at as its timestamp.
CREATE TABLE releases (
    version        text        PRIMARY KEY
                               CHECK (version ~ '^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$'),
    released_at    timestamptz NOT NULL,
    support_months integer     NOT NULL DEFAULT 6 CHECK (support_months BETWEEN 1 AND 120),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

INSERT INTO releases (version, released_at) VALUES
    ('6.12.0', '2025-06-10T00:00:00Z'),
    ('6.13.0', '2025-09-09T00:00:00Z'),
    ('7.0.0',  '2025-12-09T00:00:00Z'),
    ('7.1.0',  '2026-03-10T00:00:00Z'),
    ('7.2.0',  '2026-06-09T00:00:00Z'),
    ('7.3.0',  '2026-09-08T00:00:00Z');
