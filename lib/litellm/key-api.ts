import type { LiteLlmClient } from './client.ts';

/**
 * The part of LiteLLM's key API the lab operations use: what a target's client offers, and what
 * the protocol's tests fake in memory.
 */
export type KeyApi = Pick<
  LiteLlmClient,
  | 'release'
  | 'listModels'
  | 'listModelGroups'
  | 'generateKey'
  | 'getKeyInfo'
  | 'getKeysInfo'
  | 'listKeys'
  | 'listKeysByAlias'
  | 'deleteKeys'
  | 'extendKey'
  | 'probeKey'
>;
