import type pg from 'pg';
import type { Sql } from './database.js';

/**
 * Writes to a table whose rows carry a `version`: the version check sits in the statement's
 * WHERE clause, so racing writers that name one version get exactly one success.
 */

/** An UPDATE of the given columns that bumps version and updated_at, only while the row has `expectedVersion`. */
export function updateStatement(
  table: string,
  id: string,
  columns: Readonly<Record<string, unknown>>,
  expectedVersion: number | undefined,
  returning: string,
): pg.QueryConfig {
  const values: unknown[] = [id];
  const assignments: string[] = [];
  for (const [column, value] of Object.entries(columns)) {
    if (value === undefined) continue;
    values.push(value);
    assignments.push(`${column} = $${values.length}`);
  }
  assignments.push('version = version + 1', 'updated_at = now()');
  const where = `id = $1${versionCheck(expectedVersion, values)}`;
  return { text: `UPDATE ${table} SET ${assignments.join(', ')} WHERE ${where} RETURNING ${returning}`, values };
}

/** A DELETE, only while the row has `expectedVersion`. */
export function deleteStatement(table: string, id: string, expectedVersion: number | undefined): pg.QueryConfig {
  const values: unknown[] = [id];
  return { text: `DELETE FROM ${table} WHERE id = $1${versionCheck(expectedVersion, values)}`, values };
}

/** Why a conditional write touched no row: the row is gone, or its version moved on. */
export async function whyNotWritten(
  sql: Sql,
  table: string,
  id: string,
  expectedVersion: number | undefined,
): Promise<'not_found' | 'version_mismatch'> {
  if (expectedVersion === undefined) return 'not_found';
  const exists = await sql.query({ text: `SELECT 1 FROM ${table} WHERE id = $1`, values: [id] });
  return exists.rowCount === 0 ? 'not_found' : 'version_mismatch';
}

function versionCheck(expectedVersion: number | undefined, values: unknown[]): string {
  if (expectedVersion === undefined) return '';
  values.push(expectedVersion);
  return ` AND version = $${values.length}`;
}
