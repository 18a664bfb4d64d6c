import { eachLimited } from '../concurrency.ts';
import { expiryOf } from '../key-identity.ts';
import type { LiteLlmClient } from '../litellm/client.ts';
import { LiteLlmResponseError } from '../litellm/errors.ts';
import type { ExpiryFilter, KeyRecord } from '../litellm/types.ts';
import { log } from '../log.ts';

/**
 * What became of an expiry filter: `honoured` (only matching keys came back), `ignored` (a proxy
 * without the filter answers with every key: the scan was a full listing), `refused` (a 4xx; no
 * keys were read), `none` (no filter asked for).
 */
export type FilterOutcome = 'honoured' | 'ignored' | 'refused' | 'none';

export interface ScanOutcome {
  readonly filter: FilterOutcome;
  readonly pages: number;
  /** Every page was read. */
  readonly complete: boolean;
  /** Why not: out of time, or a page LiteLLM would not serve even after retries. */
  readonly stoppedBy?: 'time' | 'error';
}

export interface ScanOptions {
  readonly filter?: ExpiryFilter;
  readonly concurrency: number;
  readonly now: Date;
  /** Checked before each page. */
  readonly shouldStop: () => boolean;
  readonly onKeys: (keys: readonly KeyRecord[]) => void;
}

/** Clock skew between us and the proxy that still counts as its filter at work. */
const SKEW_MS = 60_000;

function contradictsFilter(record: KeyRecord, filter: ExpiryFilter, now: number): boolean {
  const expires = expiryOf(record)?.getTime();
  if (filter === 'expired') return expires === undefined || expires > now + SKEW_MS;
  return expires !== undefined && expires < now - SKEW_MS;
}

/**
 * Read every key, page by page (size 100, full objects, in token order: unique, so offset paging
 * over an unchanged table neither repeats nor skips a key). Nothing is deleted while this runs.
 * Pages after the first are read a few at a time; the first says how many there are.
 */
export async function scanKeys(litellm: LiteLlmClient, options: ScanOptions): Promise<ScanOutcome> {
  const { filter } = options;
  let ignored = false;
  const read = async (page: number) => {
    const result = await litellm.listKeys({
      page,
      sort_by: 'token',
      sort_order: 'asc',
      ...(filter ? { expires: filter } : {}),
    });
    if (filter && !ignored && result.keys.some((k) => contradictsFilter(k, filter, options.now.getTime()))) {
      ignored = true;
      log.info('LiteLLM ignores the expires filter of /key/list; reading every key', { filter });
    }
    options.onKeys(result.keys);
    return result.total_pages;
  };

  let totalPages: number;
  try {
    totalPages = await read(1);
  } catch (error) {
    if (
      filter &&
      error instanceof LiteLlmResponseError &&
      (error.upstreamStatus === 400 || error.upstreamStatus === 422)
    ) {
      log.info('LiteLLM refuses the expires filter of /key/list', { filter, status: error.upstreamStatus });
      return { filter: 'refused', pages: 1, complete: false };
    }
    throw error;
  }

  let pages = 1;
  let stoppedBy: ScanOutcome['stoppedBy'];
  const rest = Array.from({ length: Math.max(0, totalPages - 1) }, (_, i) => i + 2);
  await eachLimited(rest, options.concurrency, async (page) => {
    if (stoppedBy) return;
    if (options.shouldStop()) {
      stoppedBy = 'time';
      return;
    }
    try {
      await read(page);
      pages++;
    } catch (error) {
      // The transport has retried already; without this page the listing is not whole.
      stoppedBy ??= 'error';
      log.error('could not read a page of /key/list', { err: error, page, filter });
    }
  });
  const outcome = filter ? (ignored ? 'ignored' : 'honoured') : 'none';
  return { filter: outcome, pages, complete: !stoppedBy, ...(stoppedBy ? { stoppedBy } : {}) };
}
