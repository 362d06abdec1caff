import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export function findPgbench(): string | null {
  for (const dir of (process.env.PATH ?? '').split(':'))
    if (existsSync(join(dir, 'pgbench'))) return join(dir, 'pgbench');
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
  for (const version of versions)
    if (existsSync(join(base, version, 'bin', 'pgbench'))) return join(base, version, 'bin', 'pgbench');
  return null;
}

/** The same statements the service runs for W1 (read by id) and W3 (insert), as custom scripts. */
export const PGBENCH_SCRIPTS = {
  W1: `\\set n random(1, 10000)
SELECT id, sku, name, description, price, currency, created_at, updated_at, version FROM products
  WHERE id = ('01900000-0000-7000-8000-' || lpad(to_hex(:n::bigint), 12, '0'))::uuid;
`,
  W3: `\\set n random(1, 1000000000000)
INSERT INTO products (id, sku, name, description, price, currency)
  VALUES (gen_random_uuid(), 'PGB-' || :client_id::text || '-' || :n::text, 'pgbench product', '', 19.99, 'USD')
  RETURNING id, sku, name, description, price, currency, created_at, updated_at, version;
`,
};

/** Transactions per second of one custom script: 16 clients, one thread, prepared statements. */
export async function pgbenchTps(
  pgbench: string,
  databaseUrl: string,
  script: string,
  seconds: number,
  dir: string,
): Promise<number> {
  const file = join(dir, `pgbench-${Math.random().toString(36).slice(2)}.sql`);
  await writeFile(file, script);
  const { stdout } = await run(
    pgbench,
    ['-n', '-M', 'prepared', '-c', '16', '-j', '1', '-T', String(seconds), '-f', file, databaseUrl],
    { maxBuffer: 1 << 22 },
  );
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  if (match === null) throw new Error(`unexpected pgbench output:\n${stdout}`);
  return Number(match[1]);
}
