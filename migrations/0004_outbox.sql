-- Up Migration

-- Domain events, written by the statement that makes the change (one transaction), and read
-- by the relay that publishes them and by GET /api/v1/events.
--   id        the order rows were written in; not commit order (see position).
--   position  commit order, given by the one relay that holds the outbox lock: a row is only
--             numbered once it has committed, so the feed never shows a later row before an
--             earlier one commits (a sequence value taken at insert would).
--   data      json, not jsonb: it keeps the key order of the REST representation.
CREATE TABLE outbox (
  id               bigserial PRIMARY KEY,
  event_id         uuid NOT NULL DEFAULT gen_random_uuid(),
  type             text NOT NULL,
  source           text NOT NULL,
  subject          uuid NOT NULL,
  resource_version integer NOT NULL,
  time             timestamptz(3) NOT NULL DEFAULT now(),
  data             json NOT NULL,
  traceparent      text,
  position         bigint CONSTRAINT outbox_position_key UNIQUE,
  attempts         integer NOT NULL DEFAULT 0,
  parked_at        timestamptz,
  parked_reason    text
);

-- The relay's next batch: rows not yet numbered, in the order they were written.
CREATE INDEX outbox_unsequenced_idx ON outbox (id) WHERE position IS NULL;
-- The feed filtered by subject (one resource's history).
CREATE INDEX outbox_subject_position_idx ON outbox (subject, position) WHERE position IS NOT NULL;
-- Events the relay set aside (refused by the broker too often): few, counted often.
CREATE INDEX outbox_parked_idx ON outbox (position) WHERE parked_at IS NOT NULL;

-- The relay's own state, one row: the last position given, and how far publishing has got.
CREATE TABLE outbox_relay (
  singleton         boolean PRIMARY KEY DEFAULT true CONSTRAINT outbox_relay_one_row CHECK (singleton),
  last_position     bigint NOT NULL DEFAULT 0,
  published_through bigint NOT NULL DEFAULT 0
);
INSERT INTO outbox_relay DEFAULT VALUES;

-- Down Migration

DROP TABLE IF EXISTS outbox_relay;
DROP TABLE IF EXISTS outbox;
