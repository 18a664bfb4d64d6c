import type { BusEvent } from '../events/bus.ts';
import { DETAIL_TYPES } from '../events/detail-types.ts';
import { type LabFacts, labDetail } from '../lab/lab-detail.ts';
import type { Trigger } from '../lab/lifecycle.ts';
import type { ProvisionedLab } from './provision-lab.ts';

/** What result events say of a lab's keys as a provision (or a move) leaves them: the first key's models and expiry. */
export function keysFacts(lab: ProvisionedLab): LabFacts {
  const first = lab.keys[0];
  return {
    guid: lab.guid,
    aliases: lab.keys.map((key) => key.spec.alias),
    models: first?.models ?? [],
    expires: first?.expires,
  };
}

/** `Virtual Key Provisioned`: the lab's keys (never their values), created or found. */
export function provisionedEvent(lab: ProvisionedLab, trigger: Trigger): BusEvent {
  const first = lab.keys[0];
  return {
    detailType: DETAIL_TYPES.provisioned,
    detail: {
      ...labDetail(keysFacts(lab), trigger),
      subscription_package: first?.packageName,
      litellm_key_duration: first?.duration,
      litellm_key_ids: lab.keys.map((key) => key.keyId),
      created: lab.created,
    },
  };
}
