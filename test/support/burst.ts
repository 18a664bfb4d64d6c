import { BUILT_IN_PACKAGES } from '../../lib/packages.ts';

export interface BurstRequest {
  readonly guid: string;
  readonly package: string;
}

/**
 * A workshop morning's provisions: `labs` labs taking the built-in packages in turn, and for every
 * fifth lab a second caller (`labs / 5` in all), each placed among the first callers so that it
 * races the provision it repeats. The test and the bench use the same shape.
 */
export function burstRequests(labs: number, guidPrefix: string): BurstRequest[] {
  const packages = Object.keys(BUILT_IN_PACKAGES);
  const firsts = Array.from({ length: labs }, (_, i) => ({
    guid: `${guidPrefix}${i}`,
    package: packages[i % packages.length] as string,
  }));
  const requests = [...firsts];
  for (let i = 0; i < Math.floor(labs / 5); i++) requests.splice(i * 6 + 1, 0, firsts[i * 5] as BurstRequest);
  return requests;
}
