-- Up Migration

-- The transaction that wrote each outbox row, so that readers can follow changes in commit
-- order without a lock on the writers: a reader that keeps the snapshot's xmin of its last
-- read and next reads the rows with xid >= it misses no committed row (every transaction
-- below xmin had ended), whatever order transactions committed in. The read caches of every
-- replica follow changes this way (src/postgres/outbox-changes.ts). Rows written before this
-- migration all carry its own transaction id.
ALTER TABLE outbox ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX outbox_xid_idx ON outbox (xid);

-- Down Migration

DROP INDEX IF EXISTS outbox_xid_idx;
ALTER TABLE outbox DROP COLUMN IF EXISTS xid;
