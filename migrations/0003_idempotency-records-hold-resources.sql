-- Up Migration

-- An idempotency record now holds the resource a create made, not an HTTP response, and is
-- keyed by the use case ("products.create") rather than an HTTP route: every transport
-- replays the same create in its own presentation. Records written before keep working:
-- their body already is the resource's JSON (the REST representation has the same fields).
UPDATE idempotency_keys SET route = 'products.create' WHERE route = 'POST /api/v1/products';
UPDATE idempotency_keys SET route = 'users.create' WHERE route = 'POST /api/v1/users';
ALTER TABLE idempotency_keys RENAME COLUMN route TO operation;
ALTER TABLE idempotency_keys RENAME COLUMN body TO resource;
ALTER TABLE idempotency_keys DROP COLUMN status_code, DROP COLUMN headers;

-- Down Migration

ALTER TABLE idempotency_keys ADD COLUMN status_code integer NOT NULL DEFAULT 201, ADD COLUMN headers jsonb;
ALTER TABLE idempotency_keys RENAME COLUMN resource TO body;
ALTER TABLE idempotency_keys RENAME COLUMN operation TO route;
UPDATE idempotency_keys SET route = 'POST /api/v1/products' WHERE route = 'products.create';
UPDATE idempotency_keys SET route = 'POST /api/v1/users' WHERE route = 'users.create';
UPDATE idempotency_keys SET headers = jsonb_build_object(
  'location', substr(route, 6) || '/' || (body::jsonb ->> 'id'),
  'etag', '"' || (body::jsonb ->> 'version') || '"'
);
ALTER TABLE idempotency_keys ALTER COLUMN status_code DROP DEFAULT, ALTER COLUMN headers SET NOT NULL;
