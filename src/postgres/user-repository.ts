import type pg from 'pg';
import type { User } from '../domain/user.js';
import type { UserRepository } from '../services/user-service.js';
import type { DatabaseGate } from './gate.js';
import { containsPattern, TableRepository } from './table-repository.js';

export function createUserRepository(pool: pg.Pool, gate: DatabaseGate): UserRepository {
  return new TableRepository(pool, gate, {
    table: 'users',
    writable: ['email', 'name'],
    columnTypes: { email: 'text', name: 'text' },
    toParam: (_field, value) => value,
    selectList: 'id, email, name, created_at, updated_at, version',
    fromRow: toUser,
    sortColumns: {
      created_at: { column: 'created_at', type: 'timestamptz' },
      name: { column: 'name', type: 'text' },
      email: { column: 'email', type: 'text' },
    },
    filterConditions: (filter, params) => {
      const conditions: string[] = [];
      if (filter.email !== undefined) {
        params.push(filter.email);
        conditions.push(`lower(email) = lower($${params.length})`);
      }
      if (filter.q !== undefined) {
        params.push(containsPattern(filter.q));
        conditions.push(`name ILIKE $${params.length}`);
      }
      return conditions;
    },
    uniqueConstraints: {
      users_email_lower_key: { field: 'email', message: 'A user with this email address already exists' },
    },
  });
}

function toUser(row: Record<string, unknown>): User {
  return {
    id: row.id as string,
    email: row.email as string,
    name: row.name as string,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
    version: row.version as number,
  };
}
