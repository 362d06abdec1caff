/**
 * A domain event: what changed, recorded with the change. Its fields are the attributes of a
 * CloudEvents 1.0 event, which is how every consumer receives it (the feed, the broker).
 */
export interface DomainEvent {
  /** Unique, and the same on every delivery: consumers and the broker de-duplicate by it. */
  readonly id: string;
  /** `<prefix>.<resource>.<action>.v1`, e.g. com.example.productuser.product.updated.v1. */
  readonly type: string;
  readonly source: string;
  /** The id of the resource that changed. */
  readonly subject: string;
  readonly time: Date;
  /** The resource's version after the change; a delete counts as one more change. */
  readonly resourceVersion: number;
  /** The resource as the REST API presents it after the change (a delete: its id and last version). */
  readonly data: unknown;
  /** W3C trace context of the request that made the change, when it was traced. */
  readonly traceparent: string | null;
  /** Commit order across all resources: where the feed is. */
  readonly position: number;
}

export const eventResources = ['product', 'user'] as const;
export type EventResource = (typeof eventResources)[number];
export const eventActions = ['created', 'updated', 'deleted'] as const;
export type EventAction = (typeof eventActions)[number];

/** The type attribute of one kind of event, under the configured reverse-DNS prefix. */
export function eventType(prefix: string, resource: EventResource, action: EventAction): string {
  return `${prefix}.${resource}.${action}.v1`;
}

/** The event as CloudEvents 1.0 JSON (structured mode); `resourceversion` and `traceparent` are extensions. */
export function cloudEvent(event: DomainEvent): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: event.id,
    source: event.source,
    type: event.type,
    subject: event.subject,
    time: event.time.toISOString(),
    datacontenttype: 'application/json',
    resourceversion: event.resourceVersion,
    ...(event.traceparent !== null && { traceparent: event.traceparent }),
    data: event.data,
  };
}
