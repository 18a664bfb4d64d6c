/**
 * User ids LiteLLM gives a meaning of its own; a key owned by one of them may act as the proxy's
 * admin, its UI or its internal jobs. From LiteLLM's source: `LITELLM_PROXY_ADMIN_NAME`
 * (`default_user_id`, the proxy admin the password UI logs in as), `UI_SESSION_TOKEN_TEAM_ID`,
 * `SPECIAL_LITELLM_AUTH_TOKEN` and the service-account names in `litellm/constants.py`;
 * `litellm_proxy_budget_name` in `proxy_server.py`; and the `user` master-key calls carry with
 * `overwrite_user_with_key_hash`. The proxy's own admin ids (`PROXY_ADMIN_ID`, UI logins) come
 * from the deployment's configuration.
 */
export const LITELLM_SPECIAL_USER_IDS = [
  'default_user_id',
  'litellm-dashboard',
  'ui-token',
  'litellm-internal-health-check',
  'litellm-cli',
  'litellm_internal_jobs',
  'litellm-proxy-budget',
  'litellm_proxy_master_key',
] as const;
