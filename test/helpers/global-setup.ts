import type { TestProject } from 'vitest/node';
import { startDatabaseServer } from './database-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startDatabaseServer();
  process.stdout.write(`test database: ${server.kind} PostgreSQL\n`);
  project.provide('databaseUrl', server.url);
  return () => server.stop();
}
