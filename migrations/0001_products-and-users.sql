-- Up Migration

-- Prices are NUMERIC(10,2): exact decimals, never binary floating point.
-- Timestamps are timestamptz(3): the API speaks milliseconds, and keyset cursors must
-- compare equal to what the database stores.
CREATE TABLE products (
  id          uuid PRIMARY KEY,
  sku         text NOT NULL CONSTRAINT products_sku_format CHECK (sku ~ '^[A-Za-z0-9._-]{1,64}$'),
  name        text NOT NULL CONSTRAINT products_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
  description text NOT NULL DEFAULT '' CONSTRAINT products_description_length CHECK (char_length(description) <= 2000),
  price       numeric(10, 2) NOT NULL CONSTRAINT products_price_positive CHECK (price > 0),
  currency    text NOT NULL DEFAULT 'USD' CONSTRAINT products_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
  created_at  timestamptz(3) NOT NULL DEFAULT now(),
  updated_at  timestamptz(3) NOT NULL DEFAULT now(),
  version     integer NOT NULL DEFAULT 1 CONSTRAINT products_version_positive CHECK (version >= 1)
);

-- Unique ignoring case: "ab-1" and "AB-1" are the same SKU. Also serves the sku filter.
CREATE UNIQUE INDEX products_sku_lower_key ON products (lower(sku));
-- One index per sort order; (value, id) matches the keyset predicate and its ORDER BY,
-- and a backward scan serves the descending sorts.
CREATE INDEX products_created_at_id_idx ON products (created_at, id);
CREATE INDEX products_name_id_idx ON products (name, id);
CREATE INDEX products_price_id_idx ON products (price, id);

CREATE TABLE users (
  id         uuid PRIMARY KEY,
  email      text NOT NULL CONSTRAINT users_email_lower_case CHECK (email = lower(email) AND char_length(email) <= 254),
  name       text NOT NULL CONSTRAINT users_name_length CHECK (char_length(name) BETWEEN 2 AND 100),
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz(3) NOT NULL DEFAULT now(),
  version    integer NOT NULL DEFAULT 1 CONSTRAINT users_version_positive CHECK (version >= 1)
);

CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
CREATE INDEX users_name_id_idx ON users (name, id);
CREATE INDEX users_email_id_idx ON users (email, id);

-- Trigram indexes make the `q` substring filter (ILIKE '%…%') an index scan. pg_trgm is a
-- trusted contrib extension on PostgreSQL 13+, but a stripped-down server may not ship it:
-- the filter is still correct without the index, only slower on large tables.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX products_name_trgm_idx ON products USING gin (name gin_trgm_ops);
    CREATE INDEX users_name_trgm_idx ON users USING gin (name gin_trgm_ops);
  END IF;
END
$$;

-- Down Migration

DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS products;
-- pg_trgm is left installed: other schemas in the database may use it.
