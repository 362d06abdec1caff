import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import type pg from 'pg';
import { eventType, type EventAction, type EventResource } from '../domain/event.js';

/** What the events of this service are called: CloudEvents `source` and the `type` prefix. */
export interface EventNaming {
  readonly source: string;
  readonly typePrefix: string;
}

/** One change's event, as the statement that makes the change records it. */
interface ChangeEvent {
  readonly resource: EventResource;
  readonly action: EventAction;
  /** SQL over the changed row (`changed.<column>`): the resource as the REST API presents it. */
  readonly data: string;
  /** Each changed row's id with the trace context of the request that changes it. */
  readonly traces: readonly (readonly [string, string | null])[];
}

/** Each inserted row's id and the trace context of the request that inserts it. */
export type RowTraces = readonly (readonly [string, string | null])[];

/** A delete's data: what a consumer needs to drop its copy. */
const DELETED_JSON = `json_build_object('id', changed.id, 'version', changed.version)`;

/** RFC 3339 UTC with milliseconds, as Date.toISOString() writes it (the REST representation). */
export const isoMillis = (column: string): string =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Records events in the outbox with the change itself: the change becomes a CTE, and the
 * statement inserts one outbox row per row it changed. One statement is one transaction, so
 * a change is never committed without its event, nor an event without its change, on the
 * pool (batched, one round trip as before) as inside a transaction.
 */
export class Outbox {
  readonly #naming: EventNaming;

  constructor(naming: EventNaming) {
    this.#naming = naming;
  }

  /** An INSERT … RETURNING (one row or many) that records a created event per row; `data` as in ChangeEvent. */
  created(insert: pg.QueryConfig, resource: EventResource, data: string, traces: RowTraces): pg.QueryConfig {
    return this.#withEvent(insert, { resource, action: 'created', data, traces });
  }

  /** An UPDATE … RETURNING of one row that records its updated event. */
  updated(update: pg.QueryConfig, resource: EventResource, data: string, id: string): pg.QueryConfig {
    return this.#withEvent(update, { resource, action: 'updated', data, traces: [[id, currentTraceparent()]] });
  }

  /** A DELETE of one row (without RETURNING) that records its deleted event. */
  deleted(remove: pg.QueryConfig, resource: EventResource, id: string): pg.QueryConfig {
    const change = { ...remove, text: `${remove.text} RETURNING id, version` };
    return this.#withEvent(change, {
      resource,
      action: 'deleted',
      data: DELETED_JSON,
      traces: [[id, currentTraceparent()]],
    });
  }

  /** `change` returns the changed rows' `id` and `version`; the statement's result is those rows. */
  #withEvent(change: pg.QueryConfig, event: ChangeEvent): pg.QueryConfig {
    const values: unknown[] = [...((change.values as unknown[] | undefined) ?? [])];
    const parameter = (value: unknown): string => {
      values.push(value);
      return `$${values.length}`;
    };
    const type = parameter(eventType(this.#naming.typePrefix, event.resource, event.action));
    const source = parameter(this.#naming.source);
    // A delete is one more change: consumers that keep the highest version seen discard older news.
    const version = event.action === 'deleted' ? 'changed.version + 1' : 'changed.version';
    const traced = event.traces.filter(([, traceparent]) => traceparent !== null);
    let traceparent = 'NULL';
    let join = '';
    if (traced.length > 0) {
      const ids = parameter(traced.map(([id]) => id));
      const parents = parameter(traced.map(([, parent]) => parent));
      traceparent = 't.traceparent';
      join = ` LEFT JOIN unnest(${ids}::uuid[], ${parents}::text[]) AS t(id, traceparent) ON t.id = changed.id`;
    }
    const text = `WITH changed AS (${change.text}),
      recorded AS (
        INSERT INTO outbox (type, source, subject, resource_version, data, traceparent)
        SELECT ${type}, ${source}, changed.id, ${version}, ${event.data}, ${traceparent}
        FROM changed${join}
      )
      SELECT * FROM changed`;
    // A named statement's text must never change: traced and untraced ones differ by the join.
    const name = change.name === undefined ? undefined : `${change.name}${traced.length === 0 ? '' : '-traced'}`;
    return { text, values, ...(name !== undefined && { name }) };
  }
}

/** The W3C traceparent of the active span, so that a consumer's span joins the request's trace. */
export function currentTraceparent(): string | null {
  const span = trace.getSpanContext(context.active());
  if (span === undefined || !isSpanContextValid(span)) return null;
  return `00-${span.traceId}-${span.spanId}-${(span.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}
