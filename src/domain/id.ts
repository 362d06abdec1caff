/**
 * UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits. Time-ordered ids keep
 * B-tree inserts on the right-hand edge of the primary-key index. Generated here rather
 * than in SQL because uuidv7() only exists from PostgreSQL 18 on.
 */
// Random bytes are drawn 4 KiB at a time: a getRandomValues call per id would be a kernel
// round trip per insert.
const POOL = new Uint8Array(4096);
let poolOffset = POOL.length;

function randomBytes(bytes: Uint8Array): void {
  if (poolOffset + bytes.length > POOL.length) {
    globalThis.crypto.getRandomValues(POOL);
    poolOffset = 0;
  }
  bytes.set(POOL.subarray(poolOffset, poolOffset + bytes.length));
  poolOffset += bytes.length;
}

export function newId(now: number = Date.now()): string {
  const bytes = new Uint8Array(16);
  randomBytes(bytes);
  let ms = now;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = 0x70 | ((bytes[6] ?? 0) & 0x0f); // version 7
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f); // variant 10xx
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
