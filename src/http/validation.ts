import fastJson from 'fast-json-stringify';
import { z } from 'zod';
import type { FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';

/** One failing input field, located by its path inside the validated part of the request. */
export interface FieldIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Thrown by the validator compiler; the error handler renders it as a 400 problem. */
export class RequestValidationError extends Error {
  readonly issues: readonly FieldIssue[];
  /** Filled in by Fastify: 'body', 'querystring', 'params' or 'headers'. */
  validationContext?: string;
  constructor(issues: readonly FieldIssue[], validationContext?: string) {
    super('Request validation failed');
    this.name = 'RequestValidationError';
    this.issues = issues;
    this.validationContext = validationContext;
  }
}

type Issue = z.core.$ZodRawIssue;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Client-facing wording for zod's issues; a message set on the schema itself wins. */
function describe(issue: Issue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      if (issue.input === null) return 'must not be null';
      if (issue.expected === 'object') return 'must be a JSON object';
      if (issue.expected === 'int') return 'must be an integer';
      return `must be ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'string')
        return min <= 1 ? 'must not be empty' : `must be at least ${plural(min, 'character')}`;
      if (issue.origin === 'array') return `must have at least ${plural(min, 'item')}`;
      return issue.inclusive ? `must be greater than or equal to ${min}` : `must be greater than ${min}`;
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'string') return `must be at most ${plural(max, 'character')}`;
      if (issue.origin === 'array') return `must have at most ${plural(max, 'item')}`;
      return issue.inclusive ? `must be less than or equal to ${max}` : `must be less than ${max}`;
    }
    case 'invalid_format':
      if (issue.format === 'email') return 'must be a valid email address';
      if (issue.format === 'uuid') return 'must be a UUID';
      return 'has an invalid format';
    case 'invalid_value':
      return `must be one of: ${issue.values.map(String).join(', ')}`;
    case 'unrecognized_keys':
      return 'is not allowed';
    default:
      return undefined;
  }
}

/** Unknown fields are reported one by one, each at its own path, so clients see which. */
function toFieldIssues(issues: readonly z.core.$ZodIssue[]): FieldIssue[] {
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: [...issue.path.map(toSegment), key], message: 'is not allowed' }))
      : [{ path: issue.path.map(toSegment), message: issue.message }],
  );
}

const toSegment = (segment: PropertyKey): string | number => (typeof segment === 'symbol' ? String(segment) : segment);

/**
 * Validates `data` by a request schema with the wording clients of every transport see;
 * throws RequestValidationError. For callers other than Fastify's validator (gRPC).
 */
export function validate<S extends z.ZodType>(schema: S, data: unknown): z.output<S> {
  const result = schema.safeParse(data, { error: describe });
  if (!result.success) throw new RequestValidationError(toFieldIssues(result.error.issues));
  return result.data;
}

/** Set by parseQuery (text-input.ts) on a query whose percent-encoding is not UTF-8: those parameters. */
export const INVALID_QUERY_TEXT = Symbol('invalid query text');

function invalidQueryText(data: unknown): RequestValidationError | undefined {
  if (data === null || typeof data !== 'object' || !(INVALID_QUERY_TEXT in data)) return undefined;
  const names = (data as Record<symbol, readonly string[]>)[INVALID_QUERY_TEXT] ?? [];
  return new RequestValidationError(names.map((name) => ({ path: [name], message: 'is not valid UTF-8 text' })));
}

export const validatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema, httpPart }) =>
  (data) => {
    const invalid = httpPart === 'querystring' ? invalidQueryText(data) : undefined;
    if (invalid !== undefined) return { error: invalid };
    const result = schema.safeParse(data, { error: describe });
    return result.success
      ? { value: result.data }
      : { error: new RequestValidationError(toFieldIssues(result.error.issues)) };
  };

/**
 * Responses are serialised by fast-json-stringify from the JSON Schema of each route's zod
 * response schema: several times faster than JSON.stringify, and a field that is not in the
 * schema can never leak into a response.
 */
export const serializerCompiler: FastifySerializerCompiler<z.ZodType> = ({ schema }) =>
  fastJson(
    z.toJSONSchema(schema, { target: 'draft-07', io: 'output', unrepresentable: 'any' }) as Parameters<
      typeof fastJson
    >[0],
  );
