import { randomUUID } from 'node:crypto';

const unique = () => randomUUID().slice(0, 8);

export function productInput(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const id = unique();
  return { sku: `SKU-${id}`, name: `Product ${id}`, price: 19.99, ...overrides };
}

export function userInput(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const id = unique();
  return { email: `user-${id}@example.com`, name: `User ${id}`, ...overrides };
}

export { unique };
