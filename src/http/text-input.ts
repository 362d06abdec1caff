import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import querystring from 'fast-querystring';
import { HttpProblem } from './error-handler.js';
import { INVALID_QUERY_TEXT, RequestValidationError, type FieldIssue } from './validation.js';

/**
 * Text is stored as it was sent, or refused (RFC 8259 §8.1, §8.2): a body that is not UTF-8,
 * a JSON string holding a lone surrogate, or a query value whose percent-encoding is not UTF-8
 * is a 400 naming the field, never a U+FFFD in the database.
 */

const MERGE_PATCH = 'application/merge-patch+json';
const NOT_UTF8 = 'is not valid UTF-8';
const LONE_SURROGATE = 'holds a lone surrogate, which is not Unicode text';
/** A lone surrogate: with the `u` flag, paired surrogates are one code point and do not match. */
const LONE_SURROGATE_CHAR = /\p{Cs}/u;
/** A `\uD800`–`\uDFFF` escape: only then can parsed JSON hold a lone surrogate. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const REPLACEMENT_CHAR = '\uFFFD';

type Path = (string | number)[];

/** The paths of the strings (keys and values) in `value` that `bad` picks out. */
function badStrings(value: unknown, bad: (text: string) => boolean, path: Path = [], found: Path[] = []): Path[] {
  if (typeof value === 'string') {
    if (bad(value)) found.push(path);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => badStrings(item, bad, [...path, index], found));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      // A bad key is reported at its own place; the key cannot be named, so it is marked.
      if (bad(key)) found.push([...path, '(name)']);
      badStrings(item, bad, [...path, key], found);
    }
  }
  return found;
}

function bodyError(paths: readonly Path[], message: string): RequestValidationError {
  const issues: FieldIssue[] = paths.length > 0 ? paths.map((path) => ({ path, message })) : [{ path: [], message }];
  return new RequestValidationError(issues, 'body');
}

/** Which fields the invalid bytes landed in: decoded with U+FFFD, they are the strings holding one. */
function whereNotUtf8(body: Buffer): Path[] {
  try {
    return badStrings(JSON.parse(body.toString('utf8')), (text) => text.includes(REPLACEMENT_CHAR));
  } catch {
    return [];
  }
}

const unsupportedEncoding = () =>
  new HttpProblem(
    415,
    'unsupported-media-type',
    'Unsupported media type',
    'The body’s Content-Encoding is not supported; send it unencoded',
  );

/**
 * JSON bodies (and merge patches, on PATCH only): read as bytes, so that text that is not
 * UTF-8 is seen rather than replaced, then parsed by Fastify's own parser, which refuses
 * `__proto__` and `constructor.prototype` keys.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const parse = (request: FastifyRequest, body: Buffer, done: (err: Error | null, value?: unknown) => void) => {
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      done(unsupportedEncoding());
      return;
    }
    if (!isUtf8(body)) {
      done(bodyError(whereNotUtf8(body), NOT_UTF8));
      return;
    }
    const text = body.toString('utf8');
    // parseJson calls back synchronously; it returns nothing to wait for.
    void parseJson(request, text, (err, value) => {
      if (err !== null || !SURROGATE_ESCAPE.test(text)) {
        done(err, value);
        return;
      }
      const paths = badStrings(value, (s) => LONE_SURROGATE_CHAR.test(s));
      if (paths.length > 0) done(bodyError(paths, LONE_SURROGATE));
      else done(null, value);
    });
  };

  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    // parseAs 'buffer': the body is a Buffer (the type allows a string).
    parse(request, body as Buffer, done);
  });
  // A merge patch only means something on PATCH; refused in the parser rather than by a
  // hook, which every request (bodyless GETs included) would run.
  app.addContentTypeParser(MERGE_PATCH, { parseAs: 'buffer' }, (request, body, done) => {
    if (request.method === 'PATCH') {
      parse(request, body as Buffer, done);
      return;
    }
    const detail = `${MERGE_PATCH} is accepted on PATCH only; send application/json`;
    done(new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', detail), undefined);
  });
}

const decode = (part: string): string | null => {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return null;
  }
};

/**
 * The query string parser: Fastify's own where nothing is percent-encoded. Otherwise each
 * part is decoded strictly, and parameters that are not UTF-8 are listed under
 * INVALID_QUERY_TEXT for the validator to refuse, where Fastify's would keep them raw.
 */
export function parseQuery(query: string): Record<string, unknown> {
  if (!query.includes('%')) return query.length === 0 ? {} : querystring.parse(query);
  const result: Record<string | symbol, unknown> = Object.create(null) as Record<string, unknown>;
  const invalid: string[] = [];
  for (const pair of query.split('&')) {
    if (pair.length === 0) continue;
    const at = pair.indexOf('=');
    const key = decode(at === -1 ? pair : pair.slice(0, at));
    const value = at === -1 ? '' : decode(pair.slice(at + 1));
    if (key === null || value === null) {
      invalid.push(key ?? '(name)');
      continue;
    }
    const previous = result[key];
    if (previous === undefined) result[key] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else result[key] = [previous, value];
  }
  if (invalid.length > 0) result[INVALID_QUERY_TEXT] = invalid;
  return result;
}
