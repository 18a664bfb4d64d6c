import { z } from 'zod';
import { durationSchema } from './schemas.ts';

/** A subscription package: which models a lab's key may use, and for how long. */
export interface SubscriptionPackage {
  readonly models: readonly string[];
  readonly duration: string;
  readonly max_budget?: number;
  readonly tpm_limit?: number;
  readonly rpm_limit?: number;
}
export type PackageCatalogue = Readonly<Record<string, SubscriptionPackage>>;

const GRANITE = 'granite-3-2-8b-instruct';
const MISTRAL = 'mistral-7b-instruct';
const LLAMA = 'llama-scout-17b';

export const BUILT_IN_PACKAGES: PackageCatalogue = {
  'ai-beginner': { models: [GRANITE], duration: '7d' },
  'ai-developer': { models: [GRANITE, MISTRAL], duration: '30d' },
  'ai-researcher': { models: [GRANITE, MISTRAL, LLAMA], duration: '90d' },
  'lab-dev': { models: [GRANITE, MISTRAL], duration: '14d' },
  'lab-prod': { models: [GRANITE, MISTRAL], duration: '90d' },
};

const packageSchema = z.strictObject({
  models: z.array(z.string().min(1)).min(1),
  duration: durationSchema,
  max_budget: z.number().nonnegative().optional(),
  tpm_limit: z.number().int().positive().optional(),
  rpm_limit: z.number().int().positive().optional(),
});
const catalogueSchema = z.record(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/), packageSchema);

/** The catalogue's own package of that name: never an inherited property such as `constructor`. */
export function packageOf(catalogue: PackageCatalogue, name: string): SubscriptionPackage | undefined {
  return Object.hasOwn(catalogue, name) ? catalogue[name] : undefined;
}

/** Parse `PACKAGES_JSON`; the message names the first offending entry. */
export function parseCatalogue(text: string): PackageCatalogue {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('is not valid JSON');
  }
  const parsed = catalogueSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  if (Object.keys(parsed.data).length === 0) throw new Error('defines no package');
  return parsed.data;
}
