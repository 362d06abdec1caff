interface Waiter<Out> {
  readonly resolve: (value: Out) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Batches the calls made during one turn of the event loop: at the turn's end `run` gets the
 * input of each distinct key once and answers with one value per input, in order; an answer
 * that is an Error fails the callers of its input, a rejection fails every caller of the
 * batch. Callers that asked with the same key share its answer.
 *
 * Nothing is sent before every caller of the turn has asked, so each answer still reflects
 * every write acknowledged before its caller asked, as a statement of its own would.
 */
export class TurnBatcher<In, Out> {
  readonly #run: (inputs: readonly In[]) => Promise<readonly (Out | Error)[]>;
  #pending: Map<string, { readonly input: In; readonly waiters: Waiter<Out>[] }> | null = null;

  constructor(run: (inputs: readonly In[]) => Promise<readonly (Out | Error)[]>) {
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
    let answers: Promise<readonly (Out | Error)[]>;
    try {
      answers = this.#run(entries.map((entry) => entry.input));
    } catch (err) {
      answers = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    answers.then(
      (answers) => {
        entries.forEach(({ waiters }, i) => {
          const answer = answers[i];
          if (answer instanceof Error) for (const waiter of waiters) waiter.reject(answer);
          else if (answer === undefined) for (const waiter of waiters) waiter.reject(new Error('no answer'));
          else for (const waiter of waiters) waiter.resolve(answer);
        });
      },
      (err: unknown) => {
        for (const { waiters } of entries) for (const waiter of waiters) waiter.reject(err);
      },
    );
  }
}

/**
 * Each id's row from one statement for the batch (`many`), or from `one` when the batch holds
 * a single id: a statement of its own, named and planned once per connection.
 */
export async function findEach<T>(
  ids: readonly string[],
  one: (id: string) => Promise<T | null>,
  many: (ids: readonly string[]) => Promise<ReadonlyMap<string, T>>,
): Promise<(T | null)[]> {
  if (ids.length === 1) return [await one(ids[0] ?? '')];
  const rows = await many(ids);
  return ids.map((id) => rows.get(id) ?? null);
}

/**
 * Each row inserted by one statement for the batch (`many`, which leaves out a row that loses
 * a unique-key race), else by `one`: a row the batch left out is inserted alone so its caller
 * gets the precise error, and so is every row of a batch that failed as a whole (a bad value
 * in one row), so no caller pays for another's error.
 */
export async function insertEach<T>(
  rows: readonly (readonly unknown[])[],
  one: (row: readonly unknown[]) => Promise<T>,
  many: (rows: readonly (readonly unknown[])[]) => Promise<ReadonlyMap<string, T>>,
): Promise<(T | Error)[]> {
  const created = rows.length === 1 ? new Map<string, T>() : await many(rows).catch(() => new Map<string, T>());
  return Promise.all(
    rows.map(async (row) => {
      const inserted = created.get(row[0] as string);
      if (inserted !== undefined) return inserted;
      return one(row).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
    }),
  );
}
