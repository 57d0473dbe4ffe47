-- Message ids a consumer has applied, written in the same transaction as the
-- effect, so a redelivered message is acknowledged without a second effect.
CREATE TABLE IF NOT EXISTS inbox (
    msg_id       text        PRIMARY KEY,
    subject      text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS inbox_processed_at ON inbox (processed_at);
