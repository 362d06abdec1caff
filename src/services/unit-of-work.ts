/**
 * A transaction, as the use cases see it: `work` gets repositories whose writes all commit
 * together when it resolves, or none of them when it throws. The storage adapter decides
 * how (the PostgreSQL one: one connection, BEGIN … COMMIT).
 */
export interface UnitOfWork<Repositories> {
  transaction<T>(work: (repositories: Repositories) => Promise<T>): Promise<T>;
}
