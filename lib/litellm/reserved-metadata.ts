/**
 * Key-metadata names LiteLLM itself acts on, so a lab key must never carry one a caller chose
 * (tags, guardrails, logging callbacks, rate limits, spend-log fields...). From LiteLLM's source:
 * `LiteLLM_ManagementEndpoint_MetadataFields` and `..._Premium` in `litellm/proxy/_types.py`
 * (fields `/key/generate` folds into metadata), and the names `litellm_pre_call_utils.py` reads from
 * a key's metadata on every request. Names starting with `user_api_key_` are the ones LiteLLM
 * strips from callers as spoofing attempts. Compared without regard to case.
 */
export const LITELLM_METADATA_NAMES = [
  // _types.py: LiteLLM_ManagementEndpoint_MetadataFields
  'model_rpm_limit',
  'model_tpm_limit',
  'rpm_limit_type',
  'tpm_limit_type',
  'enforced_params',
  'temp_budget_increase',
  'temp_budget_expiry',
  'allowed_vector_store_indexes',
  'enforced_batch_output_expires_after',
  'enforced_file_expires_after',
  // _types.py: LiteLLM_ManagementEndpoint_MetadataFields_Premium
  'guardrails',
  'policies',
  'tags',
  'team_member_key_duration',
  'prompts',
  'logging',
  'secret_manager_settings',
  'allowed_passthrough_routes',
  // litellm_pre_call_utils.py: read from the key's metadata at request time
  'cache',
  'spend_logs_metadata',
  'disable_global_guardrails',
  'disable_fallbacks',
  'allow_client_mock_response',
  'allow_client_message_redaction_opt_out',
  'allow_client_tags',
  'litellm_disabled_callbacks',
  'service_account_id',
] as const;

export const LITELLM_METADATA_PREFIXES = ['user_api_key_'] as const;
