import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/** What readiness depends on; main.ts supplies it (pool ping, shutdown state). */
export interface Readiness {
  /** False from the moment a shutdown starts: Kubernetes must stop routing traffic here. */
  isAcceptingTraffic(): boolean;
  /** Rejects when the database does not answer within the probe's bound (1 s). */
  pingDatabase(): Promise<void>;
}

const Liveness = z.object({ status: z.literal('ok') });
const ReadinessReport = z.object({
  status: z.enum(['ready', 'not_ready', 'shutting_down', 'overloaded']),
  checks: z.object({ database: z.enum(['up', 'down']) }),
});

/** Probes: liveness never touches the database; readiness does, with a bound. */
export function healthRoutes(readiness: Readiness, isShedding: () => boolean): FastifyPluginAsyncZod {
  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions by contract.
  return async (app) => {
    const live = (operationId: string) => ({
      schema: {
        tags: ['operations'],
        summary: 'Liveness: answers from memory, never touches the database',
        operationId,
        security: [],
        response: { 200: Liveness },
      },
    });
    // Liveness answers from memory: restarting a pod because its database is down would
    // only add a cold start to the outage.
    app.get('/healthz', live('liveness'), () => ({ status: 'ok' as const }));
    app.get('/livez', live('livenessAlias'), () => ({ status: 'ok' as const }));

    app.get(
      '/readyz',
      {
        schema: {
          tags: ['operations'],
          summary: 'Readiness: pings the database within 1 s; 503 while shutting down or shedding load',
          operationId: 'readiness',
          security: [],
          response: { 200: ReadinessReport, 503: ReadinessReport },
        },
      },
      async (_request, reply) => {
        const database = await readiness.pingDatabase().then(
          () => 'up' as const,
          () => 'down' as const,
        );
        const accepting = readiness.isAcceptingTraffic();
        const status = !accepting
          ? 'shutting_down'
          : database === 'down'
            ? 'not_ready'
            : isShedding()
              ? 'overloaded'
              : 'ready';
        reply.header('cache-control', 'no-store');
        return reply.code(status === 'ready' ? 200 : 503).send({ status, checks: { database } });
      },
    );
  };
}
