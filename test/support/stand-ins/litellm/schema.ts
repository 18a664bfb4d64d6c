/**
 * LiteLLM's key tables and its user table as Prisma creates them (schema.prisma:
 * LiteLLM_VerificationToken, LiteLLM_DeletedVerificationToken, LiteLLM_UserTable): case-sensitive
 * quoted names, text[] for String[], jsonb for Json, timestamp(3) without time zone (UTC) for
 * DateTime. Columns this service never touches are kept so that direct-database code meets the
 * real shape.
 */
const KEY_COLUMNS = `
  key_name text,
  key_alias text,
  soft_budget_cooldown boolean NOT NULL DEFAULT false,
  spend double precision NOT NULL DEFAULT 0,
  total_spend double precision NOT NULL DEFAULT 0,
  expires timestamp(3),
  models text[],
  aliases jsonb NOT NULL DEFAULT '{}',
  config jsonb NOT NULL DEFAULT '{}',
  router_settings jsonb DEFAULT '{}',
  user_id text,
  team_id text,
  agent_id text,
  project_id text,
  permissions jsonb NOT NULL DEFAULT '{}',
  max_parallel_requests integer,
  metadata jsonb NOT NULL DEFAULT '{}',
  blocked boolean,
  tpm_limit bigint,
  rpm_limit bigint,
  max_budget double precision,
  budget_duration text,
  budget_reset_at timestamp(3),
  allowed_cache_controls text[] DEFAULT ARRAY[]::text[],
  allowed_routes text[] DEFAULT ARRAY[]::text[],
  policies text[] DEFAULT ARRAY[]::text[],
  access_group_ids text[] DEFAULT ARRAY[]::text[],
  model_spend jsonb NOT NULL DEFAULT '{}',
  model_max_budget jsonb NOT NULL DEFAULT '{}',
  budget_id text,
  organization_id text,
  object_permission_id text,
  created_by text,
  updated_by text,
  last_active timestamp(3),
  rotation_count integer DEFAULT 0,
  auto_rotate boolean DEFAULT false,
  rotation_interval text,
  last_rotation_at timestamp(3),
  key_rotation_at timestamp(3)`;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS "LiteLLM_VerificationToken" (
  token text PRIMARY KEY,
  ${KEY_COLUMNS},
  created_at timestamp(3) DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamp(3) DEFAULT CURRENT_TIMESTAMP,
  budget_limits jsonb
);
CREATE INDEX IF NOT EXISTS "LiteLLM_VerificationToken_user_id_team_id_idx" ON "LiteLLM_VerificationToken" (user_id, team_id);
CREATE INDEX IF NOT EXISTS "LiteLLM_VerificationToken_team_id_idx" ON "LiteLLM_VerificationToken" (team_id);
CREATE INDEX IF NOT EXISTS "LiteLLM_VerificationToken_budget_reset_at_expires_idx" ON "LiteLLM_VerificationToken" (budget_reset_at, expires);

CREATE TABLE IF NOT EXISTS "LiteLLM_DeletedVerificationToken" (
  id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  token text NOT NULL,
  ${KEY_COLUMNS},
  created_at timestamp(3),
  updated_at timestamp(3),
  deleted_at timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  deleted_by text,
  deleted_by_api_key text,
  litellm_changed_by text
);
CREATE INDEX IF NOT EXISTS "LiteLLM_DeletedVerificationToken_token_idx" ON "LiteLLM_DeletedVerificationToken" (token);
CREATE INDEX IF NOT EXISTS "LiteLLM_DeletedVerificationToken_deleted_at_idx" ON "LiteLLM_DeletedVerificationToken" (deleted_at);
CREATE INDEX IF NOT EXISTS "LiteLLM_DeletedVerificationToken_key_alias_idx" ON "LiteLLM_DeletedVerificationToken" (key_alias);

CREATE TABLE IF NOT EXISTS "LiteLLM_UserTable" (
  user_id text PRIMARY KEY,
  user_alias text,
  team_id text,
  sso_user_id text,
  organization_id text,
  object_permission_id text,
  password text,
  teams text[] DEFAULT ARRAY[]::text[],
  user_role text,
  max_budget double precision,
  spend double precision NOT NULL DEFAULT 0,
  user_email text,
  models text[],
  metadata jsonb NOT NULL DEFAULT '{}',
  max_parallel_requests integer,
  tpm_limit bigint,
  rpm_limit bigint,
  budget_duration text,
  budget_reset_at timestamp(3),
  allowed_cache_controls text[] DEFAULT ARRAY[]::text[],
  policies text[] DEFAULT ARRAY[]::text[],
  model_spend jsonb NOT NULL DEFAULT '{}',
  model_max_budget jsonb NOT NULL DEFAULT '{}',
  created_at timestamp(3) DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamp(3) DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX IF NOT EXISTS "LiteLLM_UserTable_sso_user_id_key" ON "LiteLLM_UserTable" (sso_user_id);
`;

/** The columns copied into the deleted-keys table, as LiteLLM's delete does. */
export const COPIED_COLUMNS = KEY_COLUMNS.split(',')
  .map((line) => line.trim().split(/\s+/)[0])
  .filter((name): name is string => Boolean(name));
