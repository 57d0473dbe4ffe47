-- The change feed watchers read (Watch). Every change of what a view says
-- (its license, its removeLicense) leaves a row here, written by a trigger in
-- the transaction that changes the view, so the feed holds exactly the
-- committed changes and every writer (the license consumer, a sync bringing a
-- license, a withdrawal, a deregistration, and any batched form of them)
-- feeds it without knowing about it. The write path pays one INSERT per
-- change, and nothing on the plain usage reports that only stamp a view.
--
-- Revisions are not taken here: a sequence value taken inside a transaction
-- is not in commit order (a later value can commit first), and a watcher that
-- had moved past it would miss the earlier one. One sequencer (the replica
-- holding an advisory lock) numbers the committed rows afterwards, in id
-- order, in transactions of its own; since it is alone, revision order is
-- the order in which the numbered rows became visible, so a reader that
-- follows revisions never skips one. Two changes of one workspace are
-- ordered by the view's row lock (the second trigger runs only after the
-- first transaction committed), so their ids, and then their revisions, keep
-- the workspace's order.
CREATE TABLE view_changes (
    id               bigserial PRIMARY KEY,
    -- NULL until the sequencer numbers the row.
    revision         bigint UNIQUE,
    workspace_id     text        NOT NULL,
    license_sequence bigint      NOT NULL,
    license          text        NOT NULL,
    license_address  text        NOT NULL,
    remove_license   boolean     NOT NULL,
    view_revision    bigint      NOT NULL,
    updated_at       timestamptz NOT NULL,
    last_synced_at   timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX view_changes_unsequenced ON view_changes (id) WHERE revision IS NULL;

-- The highest revision pruned away: resuming from below it cannot be served.
CREATE TABLE view_changes_floor (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    revision bigint  NOT NULL
);
INSERT INTO view_changes_floor (revision) VALUES (0);

-- The search path is fixed to this schema: a writer connected with another
-- search path (an administrator, a tool) must still reach view_changes.
CREATE FUNCTION views_record_change() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO view_changes (workspace_id, license_sequence, license, license_address, remove_license,
                              view_revision, updated_at, last_synced_at)
    VALUES (NEW.workspace_id, NEW.license_sequence, NEW.license, NEW.license_address, NEW.remove_license,
            NEW.revision, NEW.updated_at, NEW.last_synced_at);
    RETURN NULL;
END $$;

CREATE TRIGGER views_record_insert AFTER INSERT ON views FOR EACH ROW
    EXECUTE FUNCTION views_record_change();
-- A sync stamps the view on every call; only a change of what the view says
-- is a change for watchers. The license body moves only with its sequence,
-- so the bodies are not compared.
CREATE TRIGGER views_record_update AFTER UPDATE ON views FOR EACH ROW
    WHEN (NEW.license_sequence IS DISTINCT FROM OLD.license_sequence
          OR NEW.remove_license IS DISTINCT FROM OLD.remove_license)
    EXECUTE FUNCTION views_record_change();
