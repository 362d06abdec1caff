import { describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/id.js';
import { toPage } from '../../src/domain/page.js';
import { productSortValue, type Product } from '../../src/domain/product.js';
import { userSortValue, type User } from '../../src/domain/user.js';

describe('newId', () => {
  it('is a version 7, variant 10 UUID carrying the time in its first 48 bits', () => {
    const now = Date.UTC(2026, 10, 21, 12, 0, 0, 123);
    const id = newId(now);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(now);
  });

  it('sorts by creation time and never repeats', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => newId(1_700_000_000_000 + i));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(1000);
  });
});

describe('toPage', () => {
  it('keeps `limit` rows and points after the last one when more exist', () => {
    const rows = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
    expect(toPage(rows, 2, (r) => r.id.toUpperCase())).toEqual({
      items: [{ id: 'a' }, { id: 'b' }],
      next: { value: 'B', id: 'b' },
    });
    expect(toPage(rows, 3, (r) => r.id)).toEqual({ items: rows, next: null });
  });
});

describe('productSortValue', () => {
  it('renders each sort key as exact text', () => {
    const product = { id: 'x', name: 'Mug', price: 0.1, createdAt: new Date('2026-01-02T03:04:05.006Z') } as Product;
    expect(productSortValue(product, 'price')).toBe('0.10');
    expect(productSortValue(product, 'name')).toBe('Mug');
    expect(productSortValue(product, 'created_at')).toBe('2026-01-02T03:04:05.006Z');
  });
});

describe('userSortValue', () => {
  it('renders each sort key as text', () => {
    const user = {
      id: 'x',
      name: 'Ada',
      email: 'ada@example.com',
      createdAt: new Date('2026-01-02T03:04:05.006Z'),
    } as User;
    expect(userSortValue(user, 'name')).toBe('Ada');
    expect(userSortValue(user, 'email')).toBe('ada@example.com');
    expect(userSortValue(user, 'created_at')).toBe('2026-01-02T03:04:05.006Z');
  });
});
