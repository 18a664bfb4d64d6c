import { z } from 'zod';
import type { Config } from '../config.ts';
import { BadRequestError } from '../errors.ts';
import { RESERVED_METADATA } from '../key-identity.ts';
import type { Trigger } from '../lab/lifecycle.ts';
import { LITELLM_METADATA_NAMES, LITELLM_METADATA_PREFIXES } from '../litellm/reserved-metadata.ts';
import { LITELLM_SPECIAL_USER_IDS } from '../litellm/special-user-ids.ts';
import { packageOf } from '../packages.ts';
import { guidSchema, NAME_PATTERN, parseInput, termSchema, USER_BASE_PATTERN } from '../schemas.ts';

/** A provision request after validation, with the package resolved. */
export interface ProvisionRequest {
  readonly guid: string;
  readonly packageName: string;
  readonly models: readonly string[];
  /** Whether the caller chose the models (they must exist) or the package did. */
  readonly customModels: boolean;
  readonly duration: string;
  readonly userId: string;
  readonly maxBudget: number | null;
  readonly tpmLimit?: number;
  readonly rpmLimit?: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** Multi-user labs: the users' names (a count is numbered from the user base); absent for a single-user lab. */
  readonly users?: readonly string[];
  /** The LiteLLM target the request names; absent: the lab's own, or `default` for a new lab. */
  readonly target?: string;
}

const MAX_USERS = 200;
const MIN_BUDGET = 0.000001;
const MAX_BUDGET = 1_000_000_000;

const fields = {
  guid: guidSchema,
  package: z.string({ error: 'must be a string' }).min(1).max(64).optional(),
  models: z
    .array(z.string().min(1, 'must not be empty').max(256), { error: 'must be a list of model names' })
    .min(1, 'must name at least one model')
    .max(100)
    .refine((models) => new Set(models).size === models.length, 'must not repeat a model')
    .optional(),
  duration: termSchema.optional(),
  target: z.string({ error: 'must be a string' }).min(1).max(64).optional(),
  user_id: z
    .string({ error: 'must be a string' })
    .min(1)
    .max(255)
    .regex(/^[^\s\p{Cc}]+$/u, 'must not contain spaces or control characters')
    .optional(),
  users: z
    .union(
      [
        z.number().int().min(1).max(MAX_USERS),
        z
          .array(z.string().regex(NAME_PATTERN, 'user names follow the guid rules'))
          .min(1)
          .max(MAX_USERS)
          .refine((users) => new Set(users).size === users.length, 'must not repeat a user'),
      ],
      { error: `must be a count 1-${MAX_USERS} or a list of up to ${MAX_USERS} distinct user names` },
    )
    .optional(),
  user_base: z
    .string({ error: 'must be a string' })
    .regex(USER_BASE_PATTERN, 'must be 1-37 lowercase letters, digits or "-", not starting with "-"')
    .optional(),
  // USD to the millionth, as DynamoDB keeps numbers of 1e-130 and up and LiteLLM counts spend in floats.
  max_budget: z
    .number({ error: 'must be a number or null' })
    .nonnegative()
    .max(MAX_BUDGET, `must be at most ${MAX_BUDGET}`)
    .refine((budget) => budget === 0 || budget >= MIN_BUDGET, `must be 0 or at least ${MIN_BUDGET}`)
    .nullable()
    .optional(),
  metadata: z
    .record(
      z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'names are 1-64 of letters, digits, _ . : -'),
      z.string({ error: 'values must be strings' }).max(256, 'values are at most 256 characters'),
      { error: 'must be an object of strings' },
    )
    .refine((metadata) => Object.keys(metadata).length <= 20, 'has at most 20 entries')
    .superRefine((metadata, context) => {
      for (const name of Object.keys(metadata)) {
        const why = reservedBecause(name);
        if (why) context.addIssue({ code: 'custom', path: [name], message: why });
      }
    })
    .optional(),
};

const OURS = new Set<string>(RESERVED_METADATA);
const LITELLMS = new Set<string>(LITELLM_METADATA_NAMES);

/** Why a caller may not use a metadata name (names compare without regard to case); undefined if it may. */
function reservedBecause(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (OURS.has(lower)) return `is set by the service (reserved: ${RESERVED_METADATA.join(', ')})`;
  if (LITELLMS.has(lower) || LITELLM_METADATA_PREFIXES.some((prefix) => lower.startsWith(prefix))) {
    return 'is a name LiteLLM acts on; a lab key must not carry it';
  }
  return undefined;
}

/** HTTP bodies name only known fields (a typo must not fall back to a default); event details may carry more. */
const httpSchema = z.strictObject(fields);
const eventSchema = z.looseObject(fields);

/** Validate a provision body or event detail and resolve its package; throws 400 naming each bad field. */
export function parseProvisionRequest(
  input: unknown,
  trigger: Trigger,
  config: Pick<
    Config,
    'packages' | 'defaultPackage' | 'labUserDomain' | 'labUserBase' | 'userIdDomains' | 'adminUserIds'
  >,
): ProvisionRequest {
  const body = parseInput(trigger === 'http' ? httpSchema : eventSchema, input, 'provision request');
  const users = labUsers(body, config);
  const packageName = body.package ?? config.defaultPackage;
  const pkg = packageOf(config.packages, packageName);
  if (!pkg) {
    const known = Object.keys(config.packages).join(', ');
    throw new BadRequestError(`unknown package "${packageName}"`, [
      { field: 'package', message: `must be one of ${known}` },
    ]);
  }
  if (body.user_id !== undefined) refuseUserId(body.user_id, config);
  else refuseAdminOwners(body.guid, users, config);
  return {
    guid: body.guid,
    packageName,
    models: body.models ?? pkg.models,
    customModels: body.models !== undefined,
    duration: body.duration ?? pkg.duration,
    userId: body.user_id ?? `${body.guid}@${config.labUserDomain}`,
    maxBudget: body.max_budget !== undefined ? body.max_budget : (pkg.max_budget ?? null),
    ...(pkg.tpm_limit === undefined ? {} : { tpmLimit: pkg.tpm_limit }),
    ...(pkg.rpm_limit === undefined ? {} : { rpmLimit: pkg.rpm_limit }),
    metadata: body.metadata ?? {},
    ...(users ? { users } : {}),
    ...(body.target === undefined ? {} : { target: body.target }),
  };
}

const SPECIAL_USER_IDS = new Set<string>(LITELLM_SPECIAL_USER_IDS);
/** ASCII only, tested before any case folding: a folded character (the Kelvin sign) must not pass for its ASCII twin. */
const EMAIL = /^[a-z0-9._%+-]{1,64}@([a-z0-9.-]{1,253})$/i;
const ADMIN_ID = 'is a user id LiteLLM gives admin or internal powers; a lab key may not be owned by it';

/**
 * A key's owner decides what the key may do in LiteLLM (an admin's key acts as admin), so the
 * owner is a lab user's e-mail address in an allowed domain, never one of LiteLLM's own ids.
 */
function refuseUserId(userId: string, config: Pick<Config, 'userIdDomains' | 'adminUserIds'>): void {
  const id = userId.toLowerCase();
  const refuse = (message: string) => {
    throw new BadRequestError(`user_id ${message}`, [{ field: 'user_id', message }]);
  };
  if (SPECIAL_USER_IDS.has(id) || config.adminUserIds.includes(id)) refuse(ADMIN_ID);
  const domain = EMAIL.exec(userId)?.[1]?.toLowerCase();
  if (domain === undefined) refuse('must be an e-mail address');
  if (!config.userIdDomains.includes(domain as string)) {
    refuse(`must be an address in ${config.userIdDomains.join(', ')}`);
  }
}

/** The owners the service makes up (`<guid>@…`, `<user>@…`) must not be an admin's id either. */
function refuseAdminOwners(
  guid: string,
  users: readonly string[] | undefined,
  config: Pick<Config, 'labUserDomain' | 'adminUserIds'>,
): void {
  const field = users ? 'users' : 'guid';
  const owner = (users ?? [guid])
    .map((name) => `${name}@${config.labUserDomain}`.toLowerCase())
    .find((id) => config.adminUserIds.includes(id));
  if (owner)
    throw new BadRequestError(`${field} makes ${owner} a key's owner, which ${ADMIN_ID}`, [
      { field, message: `makes ${owner} a key's owner, which ${ADMIN_ID}` },
    ]);
}

/** The users of a multi-user lab, named; a request mixing single- and multi-user fields is refused. */
function labUsers(
  body: { users?: number | string[]; user_base?: string; user_id?: string },
  config: Pick<Config, 'labUserDomain' | 'labUserBase'>,
): readonly string[] | undefined {
  if (body.user_base !== undefined && typeof body.users !== 'number') {
    throw new BadRequestError('user_base names users given as a count', [
      { field: 'user_base', message: 'applies only when users is a count' },
    ]);
  }
  if (body.users !== undefined && body.user_id !== undefined) {
    throw new BadRequestError('user_id is for single-user labs', [
      {
        field: 'user_id',
        message: `cannot be combined with users: each user's key is owned by <user>@${config.labUserDomain}`,
      },
    ]);
  }
  if (typeof body.users !== 'number') return body.users;
  const base = body.user_base ?? config.labUserBase;
  return Array.from({ length: body.users }, (_, i) => `${base}${i + 1}`);
}
