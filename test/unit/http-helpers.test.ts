import type { FastifyReply } from 'fastify';
import { describe, expect, it } from 'vitest';
import { rememberBounded } from '../../src/http/bounded-memory.js';
import { etagOf, isNotModified, requiredVersion } from '../../src/http/conditional.js';
import { HttpProblem } from '../../src/http/error-handler.js';
import { CursorCodec, nextPageLink } from '../../src/http/pagination.js';
import { SerializedBodies } from '../../src/http/representation.js';
import { RequestValidationError } from '../../src/http/validation.js';

function failureOf(work: () => unknown): unknown {
  try {
    work();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('conditional request headers', () => {
  it('renders a strong ETag from the version', () => {
    expect(etagOf(3)).toBe('"3"');
  });

  it('If-None-Match matches by weak comparison, lists and *', () => {
    expect(isNotModified(undefined, 3)).toBe(false);
    expect(isNotModified('"3"', 3)).toBe(true);
    expect(isNotModified('W/"3"', 3)).toBe(true);
    expect(isNotModified('"1", "3"', 3)).toBe(true);
    expect(isNotModified('*', 3)).toBe(true);
    expect(isNotModified('"2"', 3)).toBe(false);
  });

  it('If-Match yields the one version required, or none for *', () => {
    expect(requiredVersion(undefined)).toBeUndefined();
    expect(requiredVersion('*')).toBeUndefined();
    expect(requiredVersion('"7"')).toBe(7);
  });

  it('If-Match with a weak, malformed or ambiguous tag can never match', () => {
    for (const header of ['W/"7"', '7', '"x"', '"1", "2"', '']) {
      expect(() => requiredVersion(header), header).toThrow(HttpProblem);
      expect(failureOf(() => requiredVersion(header))).toMatchObject({ status: 412, type: 'precondition-failed' });
    }
  });
});

describe('CursorCodec', () => {
  const codec = new CursorCodec('a-secret-of-at-least-thirty-two-chars');
  const position = { value: '2026-11-21T12:00:00.000Z', id: '01890000-0000-7000-8000-000000000001' };
  const any = /^/;
  const none = /(?!)/;

  it('round-trips a position within the same scope', () => {
    const cursor = codec.encode('scope-a', position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(codec.decode('scope-a', cursor, any)).toEqual(position);
  });

  it('refuses a cursor from another scope, a forged one, a corrupt one, or one with a bad value', () => {
    const cursor = codec.encode('scope-a', position);
    const [payload, mac] = cursor.split('.') as [string, string];
    const forgedPayload = Buffer.from(JSON.stringify(['1999-01-01T00:00:00.000Z', position.id])).toString('base64url');
    const otherKey = new CursorCodec('another-secret-of-thirty-two-chars!').encode('scope-a', position);
    for (const bad of [
      `${forgedPayload}.${mac}`,
      `${payload}.AAAA${mac.slice(4)}`,
      'garbage',
      `${payload}`,
      `${cursor}.x`,
      otherKey,
    ]) {
      expect(() => codec.decode('scope-a', bad, any), bad).toThrow(RequestValidationError);
    }
    expect(() => codec.decode('scope-b', cursor, any)).toThrow(RequestValidationError);
    expect(() => codec.decode('scope-a', cursor, none)).toThrow(RequestValidationError);
  });

  it('once it accepted a cursor, still refuses it for another scope or value', () => {
    const cursor = codec.encode('scope-a', position);
    expect(codec.decode('scope-a', cursor, any)).toEqual(position);
    expect(() => codec.decode('scope-b', cursor, any)).toThrow(RequestValidationError);
    expect(() => codec.decode('scope-a', cursor, none)).toThrow(RequestValidationError);
    expect(codec.decode('scope-a', cursor, any)).toEqual(position);
  });
});

describe('rememberBounded', () => {
  it('drops the oldest entry when full, and updates a known key without dropping anything', () => {
    const memory = new Map<string, number>();
    for (const [i, key] of ['a', 'b', 'c'].entries()) rememberBounded(memory, key, i, 3);
    rememberBounded(memory, 'b', 10, 3);
    expect([...memory]).toEqual([
      ['a', 0],
      ['b', 10],
      ['c', 2],
    ]);
    rememberBounded(memory, 'd', 3, 3);
    expect([...memory]).toEqual([
      ['b', 10],
      ['c', 2],
      ['d', 3],
    ]);
  });
});

describe('nextPageLink', () => {
  it('keeps the request’s query and replaces the cursor', () => {
    expect(nextPageLink('/api/v1/products?limit=5&cursor=old&q=a%20b', 'new')).toBe(
      '</api/v1/products?limit=5&cursor=new&q=a+b>; rel="next"',
    );
  });
});

describe('SerializedBodies', () => {
  /** What SerializedBodies uses of a reply: the route's serialiser, the type, the send. */
  function fakeReply() {
    const sent: { type?: string; body?: unknown } = {};
    const reply = {
      serialize: (payload: unknown) => JSON.stringify(payload),
      type(type: string) {
        sent.type = type;
        return reply;
      },
      send(body: unknown) {
        sent.body = body;
        return reply;
      },
    };
    return { reply: reply as unknown as FastifyReply, sent };
  }

  it('serialises each resource object once, and a new object (a new version) again', () => {
    let presented = 0;
    const bodies = new SerializedBodies((thing: { id: string; version: number }) => {
      presented += 1;
      return { id: thing.id, version: thing.version };
    });
    const first = { id: 'a', version: 1 };
    for (let i = 0; i < 3; i++) {
      const { reply, sent } = fakeReply();
      bodies.send(reply, first);
      expect(sent).toEqual({ type: 'application/json; charset=utf-8', body: '{"id":"a","version":1}' });
    }
    expect(presented).toBe(1);
    const { reply, sent } = fakeReply();
    bodies.send(reply, { id: 'a', version: 2 });
    expect(sent.body).toBe('{"id":"a","version":2}');
    expect(presented).toBe(2);
  });
});
