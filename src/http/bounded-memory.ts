/**
 * Remembers `value` under `key` in a Map used as a bounded memory of verified things
 * (tokens, cursors): when it is full, the oldest entry (a Map keeps insertion order) goes.
 */
export function rememberBounded<K, V>(memory: Map<K, V>, key: K, value: V, limit: number): void {
  if (!memory.has(key) && memory.size >= limit) {
    const oldest = memory.keys().next();
    if (oldest.done !== true) memory.delete(oldest.value);
  }
  memory.set(key, value);
}
