-- The issuance log: every signed artifact (license, supported-versions
-- document, keyset) appended to an RFC 6962 Merkle tree whose heads the
-- signer signs, so anyone can check that what they hold was logged and that
-- the log only ever grew (pkg/translog verifies).

-- Issuance only queues a leaf, in its own transaction (one INSERT); the
-- sequencer takes queued leaves in batches, gives them their indexes and
-- signs a tree head, so appending never holds up issuing.
CREATE TABLE log_queue (
    id              bigserial   PRIMARY KEY,
    kind            text        NOT NULL CHECK (kind IN ('license', 'supported-versions', 'keyset')),
    workspace_id    text        NOT NULL DEFAULT '',
    sequence        bigint      NOT NULL DEFAULT 0 CHECK (sequence >= 0),
    artifact_sha256 bytea       NOT NULL CHECK (length(artifact_sha256) = 32),
    queued_at       timestamptz NOT NULL DEFAULT now()
);

-- The leaves, by index: what each records (pkg/translog.Leaf) and its hash.
CREATE TABLE log_leaves (
    leaf_index      bigint      PRIMARY KEY CHECK (leaf_index >= 0),
    kind            text        NOT NULL,
    workspace_id    text        NOT NULL,
    sequence        bigint      NOT NULL,
    artifact_sha256 bytea       NOT NULL,
    leaf_hash       bytea       NOT NULL,
    queued_at       timestamptz NOT NULL,
    sequenced_at    timestamptz NOT NULL
);
-- leaf_index ends each lookup index: "the first leaf with this hash" then
-- reads one index entry, where the planner would otherwise walk the primary
-- key in order hoping to meet the hash soon (a full scan at a million).
CREATE INDEX log_leaves_by_hash ON log_leaves (leaf_hash, leaf_index);
CREATE INDEX log_leaves_by_artifact ON log_leaves (workspace_id, sequence, kind, leaf_index);
CREATE INDEX log_leaves_keysets ON log_leaves (sequence) WHERE kind = 'keyset';

-- Every complete subtree once it is full: node (level, idx) is the hash of
-- leaves [idx * 2^level, (idx + 1) * 2^level). Any proof is O(log n) of
-- these, read in one query.
CREATE TABLE log_nodes (
    level smallint NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx   bigint   NOT NULL CHECK (idx >= 0),
    hash  bytea    NOT NULL,
    PRIMARY KEY (level, idx)
);

-- A signed tree head per sequenced batch (and one of the empty tree).
CREATE TABLE log_tree_heads (
    tree_size bigint      PRIMARY KEY CHECK (tree_size >= 0),
    root_hash bytea       NOT NULL,
    signed_at timestamptz NOT NULL,
    kid       text        NOT NULL,
    jws       text        NOT NULL
);

CREATE TRIGGER log_leaves_append_only BEFORE UPDATE OR DELETE ON log_leaves
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER log_nodes_append_only BEFORE UPDATE OR DELETE ON log_nodes
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER log_tree_heads_append_only BEFORE UPDATE OR DELETE ON log_tree_heads
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER log_leaves_no_truncate BEFORE TRUNCATE ON log_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER log_nodes_no_truncate BEFORE TRUNCATE ON log_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER log_tree_heads_no_truncate BEFORE TRUNCATE ON log_tree_heads
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
