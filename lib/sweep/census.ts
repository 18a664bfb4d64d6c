import { expiryOf, ownerOf } from '../key-identity.ts';
import { packageOf } from '../lab/lab-keys.ts';
import type { KeyRecord } from '../litellm/types.ts';

/** A key of ours the sweep acts on: deletes (expired) or warns about (expiring). */
export interface SweptKey {
  readonly keyId: string;
  readonly alias: string;
  readonly guid: string;
  readonly user?: string;
  readonly expires: Date;
  /** The package it was made for (metrics count swept keys per package). */
  readonly package: string;
}

/**
 * Sorts every key the listing returns. Ours means our alias form, our marker and a guid (and user)
 * matching the alias; a key with no expiry is never expired. A key listed twice (pages shift when
 * keys come and go while we read) counts once.
 */
export class KeyCensus {
  scanned = 0;
  managed = 0;
  skippedUnmanaged = 0;
  readonly expired: SweptKey[] = [];
  readonly expiring: SweptKey[] = [];
  /** Aliases that hold a key of ours, whatever its state: their stored keys are not orphans. */
  readonly ourAliases = new Set<string>();
  private readonly seen = new Set<string>();
  private readonly deleteBefore: number;
  private readonly warnUntil: number;

  constructor(
    private readonly now: Date,
    graceMs: number,
    warnBeforeMs: number,
  ) {
    this.deleteBefore = now.getTime() - graceMs;
    this.warnUntil = now.getTime() + warnBeforeMs;
  }

  add(records: readonly KeyRecord[]): void {
    for (const record of records) {
      if (!record.token || this.seen.has(record.token)) continue;
      this.seen.add(record.token);
      this.scanned++;
      const expires = expiryOf(record)?.getTime();
      const owner = ownerOf(record);
      if (!owner) {
        if (expires !== undefined && expires <= this.now.getTime()) this.skippedUnmanaged++;
        continue;
      }
      this.managed++;
      const alias = record.key_alias as string;
      this.ourAliases.add(alias);
      if (expires === undefined) continue;
      const key = {
        keyId: record.token,
        alias,
        ...owner,
        expires: new Date(expires),
        package: packageOf(record),
      };
      if (expires < this.deleteBefore) this.expired.push(key);
      else if (expires > this.now.getTime() && expires <= this.warnUntil) this.expiring.push(key);
    }
  }
}
