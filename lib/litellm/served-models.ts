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
