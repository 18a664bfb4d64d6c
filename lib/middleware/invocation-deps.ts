import type middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Config } from '../config.ts';
import { type InvocationDeps, invocationDeps } from '../invocation/deps.ts';
import { MasterKeys } from '../targets/master-keys.ts';
import { InvocationSlot } from './invocation-slot.ts';

const deps = new InvocationSlot<InvocationDeps>('the invocation’s dependencies');
let masterKeys: MasterKeys | undefined;

/**
 * Builds the invocation's dependencies, with `marginMs` of the invocation kept back from every
 * call; the handler reads them with `depsOf(context)`. No master key is read here: each target's
 * is read (and cached for the container) when an operation first needs that target.
 */
export function loadInvocationDeps(
  config: Config,
  marginMs = 1000,
): middy.MiddlewareObj<unknown, unknown, Error, Context> {
  masterKeys ??= new MasterKeys(config.secretsCacheMs);
  const keys = masterKeys;
  return {
    before: (request) => {
      deps.set(request.context, invocationDeps(config, request.context, keys, marginMs));
    },
  };
}

export function depsOf(context: Context): InvocationDeps {
  return deps.of(context);
}
