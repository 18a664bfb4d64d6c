import { z } from 'zod';
import { unexpectedBody } from './errors.ts';
import type { GenerateKeyResponse, KeyListPage, KeyRecord } from './types.ts';

/*
 * LiteLLM's answers, checked where they enter: a changed shape is a 502 naming the endpoint and
 * the field, never a TypeError further in. Objects are loose (LiteLLM adds fields every release);
 * fields some releases leave out get the value that means "not set".
 */

const keyRecord = z.looseObject({
  token: z.string().optional(),
  key_alias: z.string().nullable().default(null),
  key_name: z.string().nullish(),
  expires: z.string().nullable().default(null),
  models: z.array(z.string()).default([]),
  metadata: z.record(z.string(), z.unknown()).nullable().default(null),
  user_id: z.string().nullable().default(null),
  team_id: z.string().nullish(),
  spend: z
    .number()
    .nullish()
    .transform((spend) => spend ?? undefined),
  total_spend: z
    .number()
    .nullish()
    .transform((spend) => spend ?? undefined),
  max_budget: z.number().nullish(),
  blocked: z.boolean().nullish(),
  created_at: z.string().nullish(),
  /** `deleted` on keys v1.103 reads back from its archive (PR #41311). */
  status: z.string().optional(),
  deleted_at: z.string().nullish(),
});
export type CheckedKeyRecord = KeyRecord & { readonly status?: string; readonly deleted_at?: string | null };

const generated = z.looseObject({
  key: z.string(),
  token_id: z.string().nullish(),
  token: z.string().nullish(),
  key_alias: z.string().nullish(),
  expires: z.string().nullable().default(null),
  models: z.array(z.string()).optional(),
});

const listPage = z.looseObject({
  keys: z.array(z.unknown()),
  total_count: z.number(),
  current_page: z.number(),
  total_pages: z.number(),
});

const infoAnswer = z.looseObject({ info: z.record(z.string(), z.unknown()), status: z.string().optional() });
const bulkInfoAnswer = z.looseObject({ info: z.array(z.unknown()) });
const modelList = z.looseObject({ data: z.array(z.looseObject({ id: z.string() })) });
const modelInfoList = z.looseObject({ data: z.array(z.looseObject({ model_name: z.string() })) });

function check<T>(schema: z.ZodType<T>, body: unknown, endpoint: string): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.length ? issue.path.join('.') : 'the body';
  throw unexpectedBody(endpoint, `${field} ${issue?.message ?? 'is not as expected'}`);
}

export const keyRecordOf = (body: unknown, endpoint: string): CheckedKeyRecord =>
  check(keyRecord, body, endpoint);
export const generatedKeyOf = (body: unknown, endpoint: string): GenerateKeyResponse =>
  check(generated, body, endpoint);
export const modelIdsOf = (body: unknown, endpoint: string): string[] =>
  check(modelList, body, endpoint).data.map((model) => model.id);
export const modelGroupsOf = (body: unknown, endpoint: string): string[] => [
  ...new Set(check(modelInfoList, body, endpoint).data.map((model) => model.model_name)),
];
export const infoOf = (body: unknown, endpoint: string) => check(infoAnswer, body, endpoint);
export const bulkInfoOf = (body: unknown, endpoint: string) => check(bulkInfoAnswer, body, endpoint).info;

/** A /key/list page with each row checked as a key. */
export function listPageOf(body: unknown, endpoint: string): KeyListPage & { keys: CheckedKeyRecord[] } {
  const page = check(listPage, body, endpoint);
  return { ...page, keys: page.keys.map((key, index) => check(keyRecord, key, `${endpoint} keys.${index}`)) };
}
