import { type FieldError, Problem } from '../errors.ts';
import type { Lab } from '../ledger/lab-record.ts';
import type { ProvisionRequest } from './request.ts';

/** A provision of a live lab asking for something else than the lab has. */
export class LabDiffersError extends Problem {
  override name = 'LabDiffersError';
  constructor(guid: string, errors: readonly FieldError[]) {
    super(
      409,
      'lab-differs',
      'The lab exists with other settings',
      `lab ${guid} is live with other ${errors.map((e) => e.field).join(', ')}; destroy it first to change them`,
      errors,
    );
  }
}

const same = (a: readonly string[] | undefined, b: readonly string[]) =>
  a !== undefined && a.length === b.length && a.every((value, i) => value === b[i]);

/** What a repeat asks for that the live lab does not have, field by field; none for an identical repeat. */
export function differencesFrom(request: ProvisionRequest, lab: Lab): FieldError[] {
  const errors: FieldError[] = [];
  if (lab.package !== undefined && lab.package !== request.packageName) {
    errors.push({ field: 'package', message: `the lab has package ${lab.package}` });
  }
  if (lab.models !== undefined && !same(lab.models, request.models)) {
    errors.push({ field: 'models', message: `the lab has models ${lab.models.join(', ')}` });
  }
  if (lab.maxBudget !== undefined && lab.maxBudget !== request.maxBudget) {
    errors.push({ field: 'max_budget', message: `the lab has max_budget ${lab.maxBudget ?? 'unlimited'}` });
  }
  const multi = lab.users !== undefined;
  if (multi !== (request.users !== undefined)) {
    errors.push({
      field: 'users',
      message: multi ? 'the lab is a multi-user lab (one key per user)' : 'the lab is a single-user lab',
    });
  }
  return errors;
}

/**
 * A repeat must ask for what the live lab has: package, models, budget and shape (single-user, or
 * multi-user; a multi-user lab may gain users). Identical repeats are answered with the same keys.
 */
export function refuseDifferentLab(request: ProvisionRequest, lab: Lab): void {
  const errors = differencesFrom(request, lab);
  if (errors.length > 0) throw new LabDiffersError(request.guid, errors);
}
