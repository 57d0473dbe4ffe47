-- A signing keyset: every key with its window and state. The private half is
-- held by a keys.Backend; material is that backend's reference (for the
-- sealed backend, AES-256-GCM ciphertext under a key-encryption key that
-- never enters the database).
CREATE TABLE signing_keys (
    kid            text        PRIMARY KEY,
    algorithm      text        NOT NULL CHECK (algorithm = 'RS256'),
    state          text        NOT NULL CHECK (state IN ('next', 'active', 'retired', 'revoked')),
    public_spki    bytea       NOT NULL,
    backend        text        NOT NULL,
    material       bytea       NOT NULL,
    created_at     timestamptz NOT NULL,
    not_before     timestamptz,
    retired_at     timestamptz,
    not_after      timestamptz,
    revoked_at     timestamptz,
    revoked_reason text        NOT NULL DEFAULT '',
    -- A next key has not signed; an imported key may have signed before it
    -- was imported, so its start is open (NULL).
    CHECK (state <> 'next' OR not_before IS NULL),
    CHECK (state <> 'retired' OR retired_at IS NOT NULL),
    CHECK (state <> 'revoked' OR revoked_at IS NOT NULL)
);
-- At most one active and one next key: signing must never have to choose.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys ((true)) WHERE state = 'next';

-- Every change of the keyset, numbered: the sequence of the
-- keyset.changed events.
CREATE TABLE keyset_changes (
    version    bigint      PRIMARY KEY CHECK (version >= 1),
    change     text        NOT NULL,
    kid        text        NOT NULL,
    changed_at timestamptz NOT NULL
);
