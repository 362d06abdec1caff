interface Waiter<Out> {
  readonly resolve: (value: Out) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Batches the calls made during one turn of the event loop: at the turn's end `run` gets the
 * input of each distinct key once, and returns one answer per input, in order. Callers that
 * asked with the same key share its answer.
 *
 * Nothing is sent before every caller of the turn has asked, so each answer still reflects
 * every write acknowledged before its caller asked, as a statement of its own would.
 */
export class TurnBatcher<In, Out> {
  readonly #run: (inputs: readonly In[]) => readonly Promise<Out>[];
  #pending: Map<string, { readonly input: In; readonly waiters: Waiter<Out>[] }> | null = null;

  constructor(run: (inputs: readonly In[]) => readonly Promise<Out>[]) {
    this.#run = run;
  }

  load(key: string, input: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      if (this.#pending === null) {
        this.#pending = new Map();
        setImmediate(() => this.#flush());
      }
      const entry = this.#pending.get(key);
      if (entry === undefined) this.#pending.set(key, { input, waiters: [{ resolve, reject }] });
      else entry.waiters.push({ resolve, reject });
    });
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = null;
    if (batch === null) return;
    const entries = [...batch.values()];
    let answers: readonly Promise<Out>[];
    try {
      answers = this.#run(entries.map((entry) => entry.input));
    } catch (err) {
      const failure = err instanceof Error ? err : new Error(String(err));
      answers = entries.map(() => Promise.reject(failure));
    }
    entries.forEach(({ waiters }, i) => {
      const answer = answers[i] ?? Promise.reject(new Error('the batch gave no answer for a call'));
      answer.then(
        (value) => {
          for (const waiter of waiters) waiter.resolve(value);
        },
        (err: unknown) => {
          for (const waiter of waiters) waiter.reject(err);
        },
      );
    });
  }
}

/**
 * Each id's row from one statement for the batch (`many`), or from `one` when the batch holds
 * a single id: a statement of its own, named and planned once per connection.
 */
export function findEach<T>(
  ids: readonly string[],
  one: (id: string) => Promise<T | null>,
  many: (ids: readonly string[]) => Promise<ReadonlyMap<string, T>>,
): Promise<T | null>[] {
  if (ids.length === 1) return ids.map(one);
  const found = many(ids);
  return ids.map((id) => found.then((rows) => rows.get(id) ?? null));
}

/**
 * Each row inserted by one statement for the batch (`many`, which leaves out a row that loses
 * a unique-key race), else by `one`: a row the batch left out is inserted alone so its caller
 * gets the precise error, and so is every row of a batch that failed as a whole (a bad value
 * in one row), so no caller pays for another's error.
 */
export function insertEach<T>(
  rows: readonly (readonly unknown[])[],
  one: (row: readonly unknown[]) => Promise<T>,
  many: (rows: readonly (readonly unknown[])[]) => Promise<ReadonlyMap<string, T>>,
): Promise<T>[] {
  if (rows.length === 1) return rows.map(one);
  const inserted = many(rows).catch(() => new Map<string, T>());
  return rows.map((row) => inserted.then((created) => created.get(row[0] as string) ?? one(row)));
}
