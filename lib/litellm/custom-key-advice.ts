import { type ProxyRelease, releaseAtLeast } from './release.ts';

const KEPT =
  'This service stores each key’s value before creating it, so that every retry returns the same key; ' +
  'nothing was created, and a retry uses the same value';

/** v1.104 enforces the config.yaml value, and (since v1.103) a value declared there is locked in the Admin UI (PR #42437). */
const FROM_1_104 =
  'set general_settings.disable_custom_api_keys to false in config.yaml and restart the proxy (it enforces the ' +
  'config.yaml value, and the Admin UI cannot change a setting declared there); where config.yaml does not ' +
  'declare it, turning it off in the Admin UI (Settings) applies at once';

/** Before v1.104 only the Admin UI value counts, and it reaches the other workers late. */
const BEFORE_1_104 =
  'turn it off in the Admin UI (Settings): only that value counts (config.yaml’s is not enforced), and it ' +
  'reaches the other workers within 10 minutes, so retry after 10 minutes; on v1.103 remove the setting from ' +
  'config.yaml first (and restart the proxy) if it is declared there, or the Admin UI refuses the change';

/** What turns `disable_custom_api_keys` off on the proxy's release, and when a retry can succeed. */
export function customKeyAdvice(release: ProxyRelease): string {
  const recent = releaseAtLeast(release, '1.104.0');
  const how =
    recent === undefined
      ? `the proxy’s release is unknown: from v1.104, ${FROM_1_104}; before v1.104, ${BEFORE_1_104}`
      : recent
        ? `this proxy runs v1.104 or later: ${FROM_1_104}`
        : `this proxy runs a release before v1.104: ${BEFORE_1_104}`;
  return `LiteLLM refused the key value this service chose, because disable_custom_api_keys is on; ${how}. ${KEPT}`;
}
