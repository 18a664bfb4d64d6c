import { log } from '../log.ts';

/** The oldest LiteLLM release this service is tested against, and the newest. */
export const OLDEST_SUPPORTED = '1.81.0';
/**
 * The newest release checked: a release candidate of v1.105.0 (v1.104.2 is the newest stable). The
 * final v1.105.0, a later candidate, and anything after are newer than anything checked.
 */
export const NEWEST_TESTED = '1.105.0-rc.1';
/** When LiteLLM's releases were last checked against this service. */
export const NEWEST_CHECKED_ON = '2026-12-07';

/** Where a proxy's release stands against the supported range. */
export type ReleaseVerdict = 'supported' | 'newer' | 'older' | 'unknown';

export interface ProxyRelease {
  readonly version?: string;
  readonly verdict: ReleaseVerdict;
}

type Parts = [major: number, minor: number, patch: number, candidate: number];

/**
 * `1.81.0`, `v1.103.0-stable`, `1.82.6.rc.2`, `1.105.0-rc.1`: the three numbers, then the release
 * candidate's number (a final or `-stable` release comes after all its candidates); undefined for
 * anything else.
 */
function parts(version: string): Parts | undefined {
  const match = /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-.]rc\.?(\d+))?/i.exec(version.trim());
  if (!match) return undefined;
  const candidate = match[4] === undefined ? Number.POSITIVE_INFINITY : Number(match[4]);
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0), candidate];
}

function compare(a: Parts, b: Parts): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return (a[i] as number) < (b[i] as number) ? -1 : 1;
  }
  return 0;
}

/** Whether the proxy runs `version` or later; undefined when its release is unknown. */
export function releaseAtLeast(release: ProxyRelease, version: string): boolean | undefined {
  const found = release.version === undefined ? undefined : parts(release.version);
  return found && compare(found, parts(version) as Parts) >= 0;
}

export function judgeRelease(version: string | undefined): ProxyRelease {
  const found = version === undefined ? undefined : parts(version);
  if (!version || !found) return { verdict: 'unknown', ...(version ? { version } : {}) };
  const oldest = parts(OLDEST_SUPPORTED) as Parts;
  const newest = parts(NEWEST_TESTED) as Parts;
  if (compare(found, oldest) < 0) return { version, verdict: 'older' };
  if (compare(found, newest) > 0) return { version, verdict: 'newer' };
  return { version, verdict: 'supported' };
}

/** How long a container trusts what it read: proxies are upgraded in place. */
const KEEP_MS = 3_600_000;
/** A failed read is retried after this, not on every call. */
const KEEP_FAILED_MS = 60_000;

const known = new Map<string, { release: Promise<ProxyRelease>; until: number }>();
/** Proxy and release pairs already logged. */
const told = new Set<string>();

/**
 * The release of the proxy at `url`, read once per container (and again after an hour) with
 * `read`, and logged when read; a read that fails gives `unknown` and never throws.
 */
export function releaseOf(
  url: string,
  read: () => Promise<string | undefined>,
  /** Read again now: what to advise depends on the release, which may have changed within the hour. */
  fresh = false,
): Promise<ProxyRelease> {
  const cached = known.get(url);
  if (cached && cached.until > Date.now() && !fresh) return cached.release;
  const entry = {
    until: Date.now() + KEEP_MS,
    release: Promise.resolve<ProxyRelease>({ verdict: 'unknown' }),
  };
  entry.release = read().then(
    (version) => {
      const release = judgeRelease(version);
      if (release.verdict === 'unknown') entry.until = Date.now() + KEEP_FAILED_MS;
      const fields = { litellm_version: release.version ?? null, verdict: release.verdict };
      // Said once per proxy and release in a container, not at every hourly re-read.
      const news = `${url} ${release.version ?? ''}`;
      if (told.has(news)) return release;
      told.add(news);
      if (release.verdict === 'supported') log.info('LiteLLM release', fields);
      else if (release.verdict === 'newer')
        log.warn('LiteLLM release not checked: newer than the newest checked, handled as that one', {
          ...fields,
          newest_checked: NEWEST_TESTED,
        });
      else
        log.warn('LiteLLM release outside the tested range', {
          ...fields,
          supported: `${OLDEST_SUPPORTED} to ${NEWEST_TESTED}`,
        });
      return release;
    },
    (error: unknown) => {
      entry.until = Date.now() + KEEP_FAILED_MS;
      log.warn('LiteLLM release could not be read', { err: error });
      return { verdict: 'unknown' } as ProxyRelease;
    },
  );
  known.set(url, entry);
  return entry.release;
}

/**
 * Forget what was read (tests that change the proxy's release); with `reads`, only the reads, as
 * when they lapse after an hour, and what was logged stays logged.
 */
export function forgetReleases(what: 'all' | 'reads' = 'all'): void {
  known.clear();
  if (what === 'all') told.clear();
}
