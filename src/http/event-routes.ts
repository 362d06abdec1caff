import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { cloudEvent } from '../domain/event.js';
import type { EventFeed } from '../services/event-feed.js';
import { EVENT_POSITION, EventListQuery, EventPage } from './event-schemas.js';
import { problems } from './openapi.js';
import { cursorScope, sendPage, serializePage, type CursorCodec } from './pagination.js';

const COMMIT_ORDER = { field: 'position', direction: 'asc' } as const;

/** /events: the change feed, oldest first, resumable from any cursor. Registered under /api/v1. */
export function eventRoutes(events: EventFeed, cursors: CursorCodec): FastifyPluginAsyncZod {
  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions by contract.
  return async (app) => {
    app.get(
      '/events',
      {
        config: { scope: 'events:read' },
        schema: {
          tags: ['events'],
          summary: 'Every change in commit order, as CloudEvents (replay from any cursor)',
          operationId: 'listEvents',
          querystring: EventListQuery,
          response: { 200: EventPage, ...problems(400, 401, 403, 429, 503) },
        },
      },
      async (request, reply) => {
        const { cursor, ...query } = request.query;
        const scope = cursorScope('/events', COMMIT_ORDER, query.filter);
        const after = cursors.decode(scope, cursor, EVENT_POSITION);
        const found = await events.list({ ...query, after });
        const page = serializePage(reply, found.items.map(cloudEvent), cursors.encode(scope, found.next));
        return sendPage(reply, request.url, page);
      },
    );
  };
}
