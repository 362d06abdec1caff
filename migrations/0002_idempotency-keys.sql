-- Up Migration

-- Responses of POSTs made with an Idempotency-Key, kept 24 hours so that any replica can
-- replay them. The body is text, not jsonb: jsonb reorders keys, and a replay must be the
-- same bytes as the original answer.
CREATE TABLE idempotency_keys (
  caller       text NOT NULL,
  route        text NOT NULL,
  key          text NOT NULL,
  request_hash text NOT NULL,
  status_code  integer NOT NULL,
  headers      jsonb NOT NULL,
  body         text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (caller, route, key)
);

-- Serves the periodic clean-up of expired keys.
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

-- Down Migration

DROP TABLE IF EXISTS idempotency_keys;
