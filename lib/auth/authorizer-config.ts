import { type Env, integer, text } from '../env.ts';

/** The authorizer needs only its tokens: it neither reaches LiteLLM nor reads the master key. */
export interface AuthorizerConfig {
  readonly apiTokensSecretId: string;
  /** Short, so a token removed from the secret stops working within about a minute. */
  readonly apiTokensCacheMs: number;
}

export function readAuthorizerConfig(env: Env): AuthorizerConfig {
  return {
    apiTokensSecretId: text(env, 'API_TOKENS_SECRET_ID'),
    apiTokensCacheMs: integer(env, 'API_TOKENS_CACHE_MS', 0),
  };
}
