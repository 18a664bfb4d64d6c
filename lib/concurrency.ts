export interface EachOptions {
  /** Start no new item once one has failed (those already running finish). */
  readonly stopAfterFailure?: boolean;
}

/**
 * Run `work` over `items`, at most `limit` at a time; the first failure is rethrown once the
 * running items are done. Every item runs unless `stopAfterFailure` says otherwise.
 */
export async function eachLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
  options: EachOptions = {},
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  const failures: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length && !(options.stopAfterFailure && failures.length > 0)) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures[0];
  return results;
}
