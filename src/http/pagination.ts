import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { Position, Sort } from '../domain/page.js';
import { privateResponse } from './representation.js';
import { RequestValidationError } from './validation.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Opaque, tamper-evident cursors. A cursor is the last row's (sort value, id) plus an HMAC
 * over that position *and* the resource, sort and filters it was issued for, so a cursor
 * that was edited, truncated, or issued for another query is refused with a 400 instead of
 * silently paging through something else.
 */
export class CursorCodec {
  readonly #secret: string;

  constructor(secret: string) {
    this.#secret = secret;
  }

  /** The cursor of the page that starts after `position`; null on the last page. */
  encode(scope: string, position: Position): string;
  encode(scope: string, position: Position | null): string | null;
  encode(scope: string, position: Position | null): string | null {
    if (position === null) return null;
    const payload = Buffer.from(JSON.stringify([position.value, position.id])).toString('base64url');
    return `${payload}.${this.#mac(scope, payload).toString('base64url')}`;
  }

  /**
   * The position inside `cursor` (null without one) if it is genuine, was issued for `scope`
   * and carries a sort value of the expected shape; throws a 400 otherwise.
   */
  decode(scope: string, cursor: string | undefined, sortValue: RegExp): Position | null {
    if (cursor === undefined) return null;
    const position = this.#verify(scope, cursor);
    if (position !== null && sortValue.test(position.value)) return position;
    throw new RequestValidationError(
      [
        {
          path: ['cursor'],
          message: 'is not a valid cursor for this query: it is corrupt, or was issued for another sort or filter',
        },
      ],
      'querystring',
    );
  }

  #verify(scope: string, cursor: string): Position | null {
    const [payload, mac, extra] = cursor.split('.');
    if (payload === undefined || mac === undefined || extra !== undefined) return null;
    const expected = this.#mac(scope, payload);
    const given = Buffer.from(mac, 'base64url');
    return given.length === expected.length && timingSafeEqual(given, expected) ? parsePosition(payload) : null;
  }

  #mac(scope: string, payload: string): Buffer {
    return createHmac('sha256', this.#secret).update(scope).update('\n').update(payload).digest().subarray(0, 16);
  }
}

function parsePosition(payload: string): Position | null {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    if (Array.isArray(decoded) && decoded.length === 2) {
      const [value, id] = decoded as unknown[];
      if (typeof value === 'string' && typeof id === 'string' && UUID.test(id)) return { value, id };
    }
  } catch {
    // Falls through: not JSON, so not one of ours.
  }
  return null;
}

/** What a cursor is bound to: the collection, the sort and the filters of the query that issued it. */
export function cursorScope(collection: string, sort: Sort<string>, filter: object): string {
  return `${collection}\n${JSON.stringify([sort, filter])}`;
}

/** RFC 8288 `Link` to the next page: the request's own query with the new cursor. */
export function nextPageLink(requestUrl: string, cursor: string): string {
  const url = new URL(requestUrl, 'http://localhost');
  url.searchParams.set('cursor', cursor);
  return `<${url.pathname}${url.search}>; rel="next"`;
}

/** A page as the list routes answer it: the serialised body, and the cursor of the next page (null on the last). */
export interface SerializedPage {
  readonly body: string;
  readonly next: string | null;
}

/** Serialises a page of presented items with the route's response schema. */
export function serializePage(reply: FastifyReply, items: unknown[], next: string | null): SerializedPage {
  // The serializer compiler (validation.ts) always produces a string.
  return { body: reply.serialize({ items, next_cursor: next }) as string, next };
}

/** Sends a page; `Link` names the next page in the spelling of this request's own query. */
export function sendPage(reply: FastifyReply, requestUrl: string, page: SerializedPage): FastifyReply {
  if (page.next !== null) reply.header('link', nextPageLink(requestUrl, page.next));
  return privateResponse(reply).type('application/json; charset=utf-8').send(page.body);
}
