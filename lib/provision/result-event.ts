import type { BusEvent } from '../events/bus.ts';
import { DETAIL_TYPES } from '../events/detail-types.ts';
import { labDetail } from '../lab/lab-detail.ts';
import type { Trigger } from '../lab/lifecycle.ts';
import type { ProvisionedLab } from './provision-lab.ts';

/** `Virtual Key Provisioned`: the lab's keys (never their values), created or found. */
export function provisionedEvent(lab: ProvisionedLab, trigger: Trigger): BusEvent {
  const first = lab.keys[0];
  const facts = {
    guid: lab.guid,
    aliases: lab.keys.map((key) => key.spec.alias),
    models: first?.models ?? [],
    expires: first?.expires,
    secretArns: lab.keys.map((key) => key.secretArn),
  };
  return {
    detailType: DETAIL_TYPES.provisioned,
    detail: {
      ...labDetail(facts, trigger),
      subscription_package: first?.packageName,
      litellm_key_duration: first?.duration,
      litellm_key_ids: lab.keys.map((key) => key.keyId),
      created: lab.created,
    },
  };
}
