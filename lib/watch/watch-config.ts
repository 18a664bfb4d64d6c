import { type Env, text } from '../env.ts';

/** The in-flight watch reads the ledger's index only: the table's name is all it needs. */
export interface WatchConfig {
  readonly labsTable: string;
}

export function readWatchConfig(env: Env): WatchConfig {
  return { labsTable: text(env, 'LABS_TABLE') };
}
