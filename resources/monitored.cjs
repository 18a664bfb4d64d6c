/*
 * What the alarms and the dashboard watch one by one: the LiteLLM targets (parameter litellmTargets,
 * checked in full by iam/master-key-secrets.cjs; else the single target "default") and the
 * functions of serverless.yml with their logical ids as osls names them.
 */
async function targetsOf(resolveVariable) {
  const json = String((await resolveVariable('param:litellmTargets')) ?? '').trim();
  return json ? Object.keys(JSON.parse(json)) : ['default'];
}

/** osls's logical id part of a name: first letter upper-cased, "-" and "_" spelled out. */
const logicalPart = (name) => {
  const spelled = name.replace(/-/g, 'Dash').replace(/_/g, 'Underscore');
  return spelled.charAt(0).toUpperCase() + spelled.slice(1);
};

async function functionsOf(resolveVariable) {
  const functions = await resolveVariable('self:functions');
  return Object.keys(functions).map((key) => ({ key, logicalId: `${logicalPart(key)}LambdaFunction` }));
}

/** The lab operations counted in Failures {operation} (lib/metrics.ts publishOutcome). */
const OPERATIONS = ['provision', 'destroy', 'extend', 'move', 'status', 'sweep'];

const NAMESPACE = 'LiteLLMVirtualKeys';
/** Powertools' default dimension on every metric of lib/metrics.ts but AwsThrottled, whose own `service` replaces it. */
const SERVICE = { Name: 'service', Value: 'litellm-virtual-keys' };

module.exports = { targetsOf, functionsOf, logicalPart, OPERATIONS, NAMESPACE, SERVICE };
