import type { FastifyReply } from 'fastify';
import { etagOf } from './conditional.js';

/**
 * The headers of a resource's representation. Responses depend on the caller's token, so
 * shared caches must keep them apart (Vary) and revalidate them (no-cache).
 */

/** Adds a token to Vary without dropping what other hooks (CORS) put there. */
function addVary(reply: FastifyReply, token: string): void {
  const current = reply.getHeader('vary');
  reply.header('vary', current === undefined ? token : `${String(current)}, ${token}`);
}

/** Private, revalidated, varying by Authorization: what every resource and page answer carries. */
export function privateResponse(reply: FastifyReply): FastifyReply {
  addVary(reply, 'Authorization');
  return reply.header('cache-control', 'private, no-cache');
}

/** One resource at `version`: its ETag as well. */
export function representation(reply: FastifyReply, version: number): FastifyReply {
  return privateResponse(reply).header('etag', etagOf(version));
}

/** 201 with Location and ETag; a replayed idempotent create says so. */
export function created(reply: FastifyReply, location: string, version: number, replayed: boolean): FastifyReply {
  if (replayed) reply.header('idempotent-replayed', 'true');
  return representation(reply, version).code(201).header('location', location);
}

/**
 * One route's serialised 200 bodies, by resource object. A read answered by the near cache
 * gets the very object the last read got, so its body is serialised once per version rather
 * than once per read (about 1 µs of a warm read: presenting it and the schema's serialiser).
 * Held weakly: a body goes when its resource does. One per route, as the body is the route's
 * response schema applied to the resource.
 */
export class SerializedBodies<R extends object> {
  readonly #bodies = new WeakMap<R, ReturnType<FastifyReply['serialize']>>();
  readonly #present: (resource: R) => unknown;

  constructor(present: (resource: R) => unknown) {
    this.#present = present;
  }

  /** Sends `resource` as the route's 200 body. */
  send(reply: FastifyReply, resource: R): FastifyReply {
    let body = this.#bodies.get(resource);
    if (body === undefined) {
      body = reply.serialize(this.#present(resource));
      this.#bodies.set(resource, body);
    }
    return reply.type('application/json; charset=utf-8').send(body);
  }
}
