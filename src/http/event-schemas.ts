import { z } from 'zod';
import { ProductResponse } from './product-schemas.js';
import { Cursor, Limit, pageOf, Timestamp } from './schemas.js';
import { UserResponse } from './user-schemas.js';

/** What a deleted resource's event carries: enough to drop a copy. */
const Deleted = z.object({ id: z.uuid(), version: z.number().int().describe('The version it had when deleted') });

/** The CloudEvents 1.0 envelope (structured JSON) of one event type. */
function eventOf(resource: 'product' | 'user', action: 'created' | 'updated' | 'deleted', data: z.ZodType) {
  const capital = (word: string): string => `${word.charAt(0).toUpperCase()}${word.slice(1)}`;
  const name = `${capital(resource)}${capital(action)}Event`;
  return z
    .object({
      specversion: z.literal('1.0'),
      id: z.uuid().describe('Unique; the same on every delivery (de-duplicate by it)'),
      source: z.string(),
      type: z
        .string()
        .regex(new RegExp(`^[a-z0-9.-]+\\.${resource}\\.${action}\\.v1$`))
        .describe(`<EVENTS_TYPE_PREFIX>.${resource}.${action}.v1`),
      subject: z.uuid().describe(`The ${resource} id`),
      time: Timestamp.describe('When the change was made'),
      datacontenttype: z.literal('application/json'),
      resourceversion: z
        .number()
        .int()
        .min(1)
        .describe("The resource's version after this change (a delete: one past the last); keep the highest seen"),
      traceparent: z
        .string()
        .optional()
        .describe('W3C trace context of the request that made the change (CloudEvents distributed tracing)'),
      data: action === 'deleted' ? Deleted : data,
    })
    .meta({ id: name, description: `${resource} ${action}: CloudEvents 1.0, structured mode` });
}

export const EventResponse = z.union([
  eventOf('product', 'created', ProductResponse),
  eventOf('product', 'updated', ProductResponse),
  eventOf('product', 'deleted', Deleted),
  eventOf('user', 'created', UserResponse),
  eventOf('user', 'updated', UserResponse),
  eventOf('user', 'deleted', Deleted),
]);

export const EventPage = pageOf(EventResponse).meta({ id: 'EventPage' });

export const EventListQuery = z
  .strictObject({
    limit: Limit,
    cursor: Cursor.optional(),
    type: z
      .string()
      .regex(/^[a-z0-9.-]{1,200}$/, 'must be an event type such as com.example.productuser.product.created.v1')
      .optional()
      .describe('Only events of this type'),
    subject: z.uuid().optional().describe("Only this resource's events"),
  })
  .transform(({ limit, cursor, type, subject }) => ({ limit, cursor, filter: { type, subject } }));

/** What an events cursor may carry: a position. */
export const EVENT_POSITION = /^\d{1,15}$/;
