import type { HeldLab } from '../ledger/lease.ts';
import type { KeyApi } from '../litellm/key-api.ts';
import type { Targets } from './target-connections.ts';

/**
 * A target's client for the holder of a lab's lease: every call that changes a key checks first
 * that the lease is still this holder's, so a request that ran past its lease (another may hold
 * the lab now) changes nothing in LiteLLM. Reads pass straight through.
 */
function guardedBy(held: HeldLab, litellm: KeyApi): KeyApi {
  const changing = <T>(call: () => Promise<T>) => {
    held.ensureHeld();
    return call();
  };
  return {
    release: (fresh) => litellm.release(fresh),
    listModels: () => litellm.listModels(),
    listModelGroups: () => litellm.listModelGroups(),
    getKeyInfo: (key) => litellm.getKeyInfo(key),
    getKeysInfo: (keys) => litellm.getKeysInfo(keys),
    listKeys: (query) => litellm.listKeys(query),
    listKeysByAlias: (alias) => litellm.listKeysByAlias(alias),
    probeKey: (key) => litellm.probeKey(key),
    generateKey: (request) => changing(() => litellm.generateKey(request)),
    deleteKeys: (keys) => changing(() => litellm.deleteKeys(keys)),
    extendKey: (key, duration) => changing(() => litellm.extendKey(key, duration)),
  };
}

/** An operation's dependencies for the holder of the lab's lease: every target's client guarded. */
export function forHolder<D extends { readonly litellm: KeyApi; readonly targets: Targets }>(
  held: HeldLab,
  deps: D,
): D {
  const { targets } = deps;
  return {
    ...deps,
    litellm: guardedBy(held, deps.litellm),
    targets: {
      names: targets.names,
      recorded: (name) => targets.recorded(name),
      requested: (name, shown) => targets.requested(name, shown),
      connect: async (target) => {
        const connected = await targets.connect(target);
        return { ...connected, litellm: guardedBy(held, connected.litellm) };
      },
    },
  };
}
