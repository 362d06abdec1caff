import type pg from 'pg';
import type { Product, ProductFields, ProductSortField } from '../domain/product.js';
import type { ProductListQuery, ProductRepository, ProductTransaction } from '../services/product-service.js';
import type { UnitOfWork } from '../services/unit-of-work.js';
import type { WriteOutcome } from '../services/write-outcome.js';
import { firstRow, type Database, type Row, type Sql } from './database.js';
import { translateDatabaseError, type UniqueConstraints } from './errors.js';
import { PostgresIdempotencyRecords, type SnapshotCodec } from './idempotency-records.js';
import { containsPattern, ListStatement, type KeysetColumn } from './list-statement.js';
import { currentTraceparent, isoMillis, type Outbox, type RowTraces } from './outbox.js';
import { findEach, insertEach, TurnBatcher } from './turn-batcher.js';
import { deleteStatement, updateStatement, whyNotWritten } from './versioned-writes.js';

const COLUMNS = 'id, sku, name, description, price, currency, created_at, updated_at, version';
const INSERT = `INSERT INTO products (id, sku, name, description, price, currency)
  VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`;
// DO NOTHING: a row that loses a unique-key race (even to another row of its batch) is left
// out of RETURNING instead of failing every other row's insert.
const INSERT_BATCH = `INSERT INTO products (id, sku, name, description, price, currency)
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::text[])
  ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`;
// The event's data: the product as the REST API presents it (http/product-schemas.ts).
const PRODUCT_JSON = `json_build_object('id', changed.id, 'sku', changed.sku, 'name', changed.name,
  'description', changed.description, 'price', changed.price::float8, 'currency', changed.currency,
  'created_at', ${isoMillis('changed.created_at')}, 'updated_at', ${isoMillis('changed.updated_at')},
  'version', changed.version)`;
const SELECT_BY_ID = `SELECT ${COLUMNS} FROM products WHERE id = $1`;
const SELECT_BY_IDS = `SELECT ${COLUMNS} FROM products WHERE id = ANY($1::uuid[])`;

const SORT_COLUMNS: Readonly<Record<ProductSortField, KeysetColumn>> = {
  created_at: { column: 'created_at', type: 'timestamptz' },
  name: { column: 'name', type: 'text' },
  price: { column: 'price', type: 'numeric' },
};

const UNIQUE: UniqueConstraints = {
  products_sku_lower_key: {
    field: 'sku',
    message: 'A product with this SKU already exists (SKUs are unique ignoring case)',
  },
};

/**
 * Products in PostgreSQL. On the pool, the reads by id and the inserts of one event-loop turn
 * are batched: one `WHERE id = ANY($1)` and one multi-row INSERT; every other call, and every
 * call inside a transaction, is a statement of its own.
 */
export class PostgresProductRepository implements ProductRepository {
  readonly #sql: Sql;
  readonly #outbox: Outbox;
  readonly #batches:
    | {
        readonly reads: TurnBatcher<string, Product | null>;
        readonly inserts: TurnBatcher<readonly unknown[], Product>;
      }
    | undefined;

  constructor(sql: Sql, outbox: Outbox) {
    this.#sql = sql;
    this.#outbox = outbox;
    this.#batches = sql.shared
      ? {
          reads: new TurnBatcher((ids) => this.#findMany(ids)),
          inserts: new TurnBatcher((rows) => this.#insertMany(rows)),
        }
      : undefined;
  }

  insert(id: string, fields: ProductFields): Promise<Product> {
    // toFixed(2): the validated number as the exact decimal text NUMERIC stores.
    const row = [
      id,
      fields.sku,
      fields.name,
      fields.description,
      fields.price.toFixed(2),
      fields.currency,
      currentTraceparent(),
    ];
    return this.#batches?.inserts.load(id, row) ?? this.#insertOne(row);
  }

  findById(id: string): Promise<Product | null> {
    return this.#batches?.reads.load(id, id) ?? this.#findOne(id);
  }

  list(query: ProductListQuery, signal?: AbortSignal): Promise<readonly Product[]> {
    const { filter, sort } = query;
    const statement = new ListStatement();
    if (filter.q !== undefined) statement.where((p) => `name ILIKE ${p}`, containsPattern(filter.q));
    if (filter.sku !== undefined) statement.where((p) => `lower(sku) = lower(${p})`, filter.sku);
    if (filter.currency !== undefined) statement.where((p) => `currency = ${p}`, filter.currency);
    if (filter.minPrice !== undefined) statement.where((p) => `price >= ${p}::numeric`, filter.minPrice.toFixed(2));
    if (filter.maxPrice !== undefined) statement.where((p) => `price <= ${p}::numeric`, filter.maxPrice.toFixed(2));
    const select = statement.build(`SELECT ${COLUMNS} FROM products`, SORT_COLUMNS[sort.field], {
      ...query,
      direction: sort.direction,
    });
    return this.#select(select, signal);
  }

  async update(
    id: string,
    changes: Partial<ProductFields>,
    expectedVersion?: number,
    signal?: AbortSignal,
  ): Promise<WriteOutcome<Product>> {
    const { sku, name, description, price, currency } = changes;
    const columns = { sku, name, description, price: price?.toFixed(2), currency };
    const change = updateStatement('products', id, columns, expectedVersion, COLUMNS);
    const result = await this.#query(this.#outbox.updated(change, 'product', PRODUCT_JSON, id), signal);
    const row = result.rows[0];
    return row === undefined ? whyNotWritten(this.#sql, 'products', id, expectedVersion) : toProduct(row);
  }

  async delete(id: string, expectedVersion?: number, signal?: AbortSignal): Promise<WriteOutcome<true>> {
    const change = deleteStatement('products', id, expectedVersion);
    const result = await this.#query(this.#outbox.deleted(change, 'product', id), signal);
    return result.rowCount === 1 ? true : whyNotWritten(this.#sql, 'products', id, expectedVersion);
  }

  async #insertOne(row: readonly unknown[]): Promise<Product> {
    // Named: parsed and planned once per connection.
    const insert = { name: 'products-insert', text: INSERT, values: row.slice(0, 6) };
    const result = await this.#query(this.#outbox.created(insert, 'product', PRODUCT_JSON, traces([row])));
    return toProduct(firstRow(result));
  }

  #insertMany(rows: readonly (readonly unknown[])[]): Promise<(Product | Error)[]> {
    return insertEach(
      rows,
      (row) => this.#insertOne(row),
      async (batch) => {
        const columns = Array.from({ length: 6 }, (_, column) => batch.map((row) => row[column]));
        const insert = { name: 'products-insert-batch', text: INSERT_BATCH, values: columns };
        const result = await this.#query(this.#outbox.created(insert, 'product', PRODUCT_JSON, traces(batch)));
        return new Map(result.rows.map((row) => [row.id as string, toProduct(row)]));
      },
    );
  }

  async #findOne(id: string): Promise<Product | null> {
    const result = await this.#query({ name: 'products-by-id', text: SELECT_BY_ID, values: [id] });
    const row = result.rows[0];
    return row === undefined ? null : toProduct(row);
  }

  #findMany(ids: readonly string[]): Promise<(Product | null)[]> {
    return findEach(
      ids,
      (id) => this.#findOne(id),
      async (batch) => {
        const result = await this.#query({ name: 'products-by-ids', text: SELECT_BY_IDS, values: [batch] });
        return new Map(result.rows.map((row) => [row.id as string, toProduct(row)]));
      },
    );
  }

  async #select(statement: pg.QueryConfig, signal?: AbortSignal): Promise<Product[]> {
    const result = await this.#query(statement, signal);
    return result.rows.map(toProduct);
  }

  async #query(statement: pg.QueryConfig, signal?: AbortSignal): Promise<pg.QueryResult<Row>> {
    try {
      return await this.#sql.query(statement, signal);
    } catch (err) {
      throw translateDatabaseError(err, UNIQUE);
    }
  }
}

/** Each row's id and trace context (a row is [id, …columns, traceparent]). */
function traces(rows: readonly (readonly unknown[])[]): RowTraces {
  return rows.map((row) => [row[0] as string, row[6] as string | null] as const);
}

/** Product writes in one transaction: the change and the records that must commit with it. */
export function productTransactions(db: Database, outbox: Outbox): UnitOfWork<ProductTransaction> {
  return {
    transaction: (work) =>
      db.transaction((sql) =>
        work({
          products: new PostgresProductRepository(sql, outbox),
          idempotency: new PostgresIdempotencyRecords(sql, SNAPSHOT),
        }),
      ),
  };
}

function toProduct(row: Row): Product {
  return {
    id: row.id as string,
    sku: row.sku as string,
    name: row.name as string,
    description: row.description as string,
    // NUMERIC arrives as text ("19.99"); a value with two decimals below 1e8 converts to the
    // double nearest to it, which prints back as the same two decimals.
    price: Number(row.price),
    currency: row.currency as string,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
    version: row.version as number,
  };
}

/** A product as an idempotency record keeps it: its row as JSON (the REST representation's fields). */
const SNAPSHOT: SnapshotCodec<Product> = {
  encode: (product) =>
    JSON.stringify({
      id: product.id,
      sku: product.sku,
      name: product.name,
      description: product.description,
      price: product.price,
      currency: product.currency,
      created_at: product.createdAt.toISOString(),
      updated_at: product.updatedAt.toISOString(),
      version: product.version,
    }),
  decode: (text) => {
    const row = JSON.parse(text) as Row;
    return toProduct({
      ...row,
      created_at: new Date(row.created_at as string),
      updated_at: new Date(row.updated_at as string),
    });
  },
};
