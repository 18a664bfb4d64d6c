import type { KeyApi } from './key-api.ts';

/**
 * Whether the proxy serves `model`, given the names `/v1/models` lists. A wildcard deployment is
 * listed as its pattern (`*`, `openai/*`; BerriAI/litellm#4903) and serves every name it matches.
 */
export function isServed(model: string, served: readonly string[]): boolean {
  return served.some((name) => name === model || (name.includes('*') && wildcard(name).test(model)));
}

function wildcard(pattern: string): RegExp {
  const parts = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.+')}$`, 's');
}

/**
 * The models of `wanted` the proxy does not serve. `/v1/models` answers first; a model missing there
 * is looked for in `/model/info` before it is called unserved, since from v1.104 a model marked not
 * `discoverable` is left out of `/v1/models` (PR #42825). There only an exact deployment name counts
 * (`/model/info` names a wildcard deployment by its pattern, `*`, which would match anything), and
 * only where `mayUseUnlisted` allows it: an operator who hides a model still lets a package or a
 * client's own model limit grant it. One call when every model is listed.
 */
export async function unservedModels(
  litellm: Pick<KeyApi, 'listModels' | 'listModelGroups'>,
  wanted: readonly string[],
  mayUseUnlisted: (model: string) => boolean = () => true,
): Promise<string[]> {
  const listed = await litellm.listModels();
  const missing = [...new Set(wanted.filter((model) => !isServed(model, listed)))];
  if (missing.length === 0) return [];
  const deployed = new Set(await litellm.listModelGroups());
  return missing.filter((model) => !(deployed.has(model) && mayUseUnlisted(model)));
}
