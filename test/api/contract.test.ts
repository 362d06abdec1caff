import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import type { OpenAPIV3_1 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput, userInput } from '../helpers/factories.js';

/**
 * The generative contract test: requests derived from the served OpenAPI document, every one
 * valid by it, sent to the real app over real PostgreSQL. It fails on a 5xx, on a 400 (the
 * document allowed what the server refuses), on a status the operation does not document,
 * and on a response body that does not match its documented schema. Seeded and bounded, so
 * a failure reproduces and the run takes seconds.
 */

const SEED = 20_261_203;
const RUNS_PER_OPERATION = 60;

type Schema = OpenAPIV3_1.SchemaObject & { $ref?: string; minProperties?: number };
type Operation = OpenAPIV3_1.OperationObject;

let db: TestDatabase;
let app: App;
let document: OpenAPIV3_1.Document;
const existing: { products: string[]; users: string[] } = { products: [], users: [] };

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildTestApp(db);
  document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<OpenAPIV3_1.Document>();
  for (let i = 0; i < 3; i++) {
    const product = await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() });
    existing.products.push(product.json<{ id: string }>().id);
    const user = await app.inject({ method: 'POST', url: '/api/v1/users', payload: userInput() });
    existing.users.push(user.json<{ id: string }>().id);
  }
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

function resolve(schema: Schema): Schema {
  if (schema.$ref === undefined) return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  const target = document.components?.schemas?.[name];
  if (target === undefined) throw new Error(`unresolved ${schema.$ref}`);
  return resolve(target);
}

/** Characters, as JSON Schema counts them. */
const characters = (text: string) => [...text].length;

/** Values the schema allows: the subset of JSON Schema the document uses, every keyword honoured. */
function valuesOf(given: Schema): fc.Arbitrary<unknown> {
  const schema = resolve(given);
  if (schema.anyOf !== undefined) return fc.oneof(...schema.anyOf.map((branch) => valuesOf(branch as Schema)));
  if (schema.enum !== undefined) return fc.constantFrom(...(schema.enum as unknown[]));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6 });
    case 'number': {
      if (schema.multipleOf !== 0.01) throw new Error('only cents are described as numbers');
      const exclusive = typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum : undefined;
      const min = exclusive !== undefined ? Math.round(exclusive * 100) + 1 : Math.round((schema.minimum ?? 0) * 100);
      const max = Math.round((schema.maximum ?? 1e6) * 100);
      // Bounds and round numbers are where servers disagree with documents most often.
      return fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max, 100)).map((cents) => cents / 100);
    }
    case 'string': {
      const min = schema.minLength ?? 0;
      const max = schema.maxLength ?? 300;
      if (schema.format === 'uuid') return fc.uuid();
      const text =
        schema.pattern !== undefined
          ? fc.stringMatching(new RegExp(schema.pattern, 'u'))
          : fc.string({ minLength: min, maxLength: max, unit: 'binary' });
      return text.filter((value) => characters(value) >= min && characters(value) <= max);
    }
    case 'object': {
      const properties = Object.entries(schema.properties ?? {});
      const record = fc.record(
        Object.fromEntries(properties.map(([name, property]) => [name, valuesOf(property as Schema)])),
        { requiredKeys: schema.required ?? [] },
      );
      return record.filter((value) => Object.keys(value).length >= (schema.minProperties ?? 0));
    }
    default:
      throw new Error(`no generator for ${JSON.stringify(schema)}`);
  }
}

/** Stands for a resource made just before the request, so that a DELETE finds one too. */
const FRESH = 'fresh';

/** An id that exists now and then, so that reads and writes reach the database, not only 404. */
function idFor(path: string): fc.Arbitrary<string> {
  const ids = path.includes('/users') ? existing.users : existing.products;
  return fc.oneof(fc.constantFrom(...ids, FRESH), fc.uuid());
}

async function withFreshId(request: InjectOptions): Promise<InjectOptions> {
  const url = typeof request.url === 'string' ? request.url : '';
  if (!url.endsWith(`/${FRESH}`)) return request;
  const users = url.includes('/users/');
  const created = await app.inject({
    method: 'POST',
    url: users ? '/api/v1/users' : '/api/v1/products',
    payload: users ? userInput() : productInput(),
  });
  return { ...request, url: url.replace(FRESH, created.json<{ id: string }>().id) };
}

function requestsFor(path: string, method: string, operation: Operation): fc.Arbitrary<InjectOptions> {
  const parameters = (operation.parameters ?? []) as OpenAPIV3_1.ParameterObject[];
  // A cursor is opaque and signed: only one the service issued is valid, so none is made up.
  const query = parameters.filter((p) => p.in === 'query' && p.name !== 'cursor');
  const headers = parameters.filter((p) => p.in === 'header');
  const body = (operation.requestBody as OpenAPIV3_1.RequestBodyObject | undefined)?.content['application/json'];
  return fc
    .record({
      id: idFor(path),
      query: fc.record(Object.fromEntries(query.map((p) => [p.name, valuesOf(p.schema as Schema)])), {
        requiredKeys: query.filter((p) => p.required === true).map((p) => p.name),
      }),
      headers: fc.record(Object.fromEntries(headers.map((p) => [p.name, valuesOf(p.schema as Schema)])), {
        requiredKeys: [],
      }),
      body: body === undefined ? fc.constant(undefined) : valuesOf(body.schema as Schema),
    })
    .map(({ id, query, headers, body }) => ({
      method: method.toUpperCase(),
      url: path.replace('{id}', id),
      query: Object.fromEntries(Object.entries(query).map(([name, value]) => [name, String(value)])),
      headers: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, String(value)])),
      ...(body !== undefined && { payload: body as Record<string, unknown> }),
    }));
}

function operations(): [string, string, string, Operation][] {
  return Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
    (['get', 'post', 'put', 'patch', 'delete'] as const)
      .filter((method) => item?.[method] !== undefined)
      .map((method): [string, string, string, Operation] => [
        `${method.toUpperCase()} ${path}`,
        path,
        method,
        item?.[method] as Operation,
      ]),
  );
}

describe('generative contract test (every request derived from /openapi.json)', () => {
  it('derives requests for every operation under /api/v1', () => {
    const names = operations()
      .map(([name]) => name)
      .filter((name) => name.includes('/api/v1/'));
    expect(names).toHaveLength(13);
  });

  it('answers every documented-valid request as documented: no 5xx, no 400, bodies match', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: false });
    // ajv-formats is CommonJS: its function is the default export's `default` as well.
    addFormats.default(ajv);
    ajv.addSchema({ $id: 'doc', components: document.components });
    const validators = new Map<string, ReturnType<typeof ajv.compile>>();
    const validatorFor = (schema: Schema) => {
      const key = JSON.stringify(schema);
      let validate = validators.get(key);
      if (validate === undefined) {
        const rebased = JSON.parse(key.replaceAll('"#/components/', '"doc#/components/')) as Schema;
        validate = ajv.compile(rebased);
        validators.set(key, validate);
      }
      return validate;
    };

    for (const [name, path, method, operation] of operations()) {
      if (!path.startsWith('/api/v1/')) continue;
      const documented = operation.responses ?? {};
      const statuses: number[] = [];
      await fc.assert(
        fc.asyncProperty(requestsFor(path, method, operation), async (request) => {
          const response = await app.inject(await withFreshId(request));
          const status = response.statusCode;
          statuses.push(status);
          const where = `${name} → ${status} ${response.body.slice(0, 300)}`;
          expect(status, where).toBeLessThan(500);
          expect(status, where).not.toBe(400);
          const entry = documented[String(status)] as OpenAPIV3_1.ResponseObject | undefined;
          expect(entry, `${where}: status not documented`).toBeDefined();
          const [contentType, media] = Object.entries(entry?.content ?? {})[0] ?? [];
          if (media?.schema === undefined || response.body === '') return;
          expect(response.headers['content-type'], where).toContain(contentType);
          const validate = validatorFor(media.schema);
          const valid = validate(response.json());
          expect(valid, `${where}: ${JSON.stringify(validate.errors)}`).toBe(true);
        }),
        { seed: SEED, numRuns: RUNS_PER_OPERATION, endOnFailure: true },
      );
      // Not only 404s and conflicts: the generated requests reach the success path too.
      expect(statuses.filter((status) => status < 300).length, `${name}: ${statuses.join(' ')}`).toBeGreaterThan(5);
    }
  });
});
