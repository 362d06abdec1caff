interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Identical requests that arrive in the same turn of the event loop are answered once: the
 * work of the first runs when the turn ends, after every request that shares it has
 * arrived, so each answer still reflects every write acknowledged before its request did.
 * Nothing is kept past the turn.
 */
export class TurnCoalescer<T> {
  #pending: Map<string, { readonly work: () => Promise<T>; readonly waiters: Waiter<T>[] }> | null = null;

  share(key: string, work: () => Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.#pending === null) {
        this.#pending = new Map();
        setImmediate(() => this.#flush());
      }
      const entry = this.#pending.get(key);
      if (entry === undefined) this.#pending.set(key, { work, waiters: [{ resolve, reject }] });
      else entry.waiters.push({ resolve, reject });
    });
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = null;
    for (const { work, waiters } of batch?.values() ?? []) {
      Promise.resolve()
        .then(work)
        .then(
          (value) => {
            for (const waiter of waiters) waiter.resolve(value);
          },
          (err: unknown) => {
            for (const waiter of waiters) waiter.reject(err);
          },
        );
    }
  }
}
