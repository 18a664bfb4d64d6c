/*
 * The master-key secrets of the deployment's LiteLLM targets, as the IAM resources of the roles
 * that read them: each granted by name (or by the ARN given), never by wildcard. From the stage
 * parameter litellmTargets when set (the JSON of LITELLM_TARGETS), else masterKeySecretId.
 * The functions check the whole of LITELLM_TARGETS at start (lib/target-config.ts); what a
 * deployment must not get past is checked here too, so a bad parameter fails the deploy instead.
 */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;
const TARGET_NAME = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

function resourceOf(secretId) {
  if (secretId.startsWith('arn:')) return secretId;
  // Secrets Manager appends "-" and six characters to a secret's name in its ARN.
  return {
    'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${secretId}-??????`,
  };
}

function secretIdOf(name, target) {
  const fault = (what) => new Error(`param litellmTargets: target "${name}" ${what}`);
  if (!TARGET_NAME.test(name)) throw fault('must be named with 1-32 lowercase letters, digits or "-"');
  if (!target || typeof target.url !== 'string' || !/^https?:\/\/\S+$/.test(target.url.trim()))
    throw fault('field url must be an http(s) URL');
  const id = typeof target.master_key_secret_id === 'string' ? target.master_key_secret_id.trim() : '';
  if (!id) throw fault('field master_key_secret_id is required');
  if (id.startsWith('arn:') && !SECRET_ARN.test(id))
    throw fault('field master_key_secret_id is not a whole secret ARN (its name and six-character suffix)');
  return id;
}

function secretIdsOf(targetsJson) {
  let targets;
  try {
    targets = JSON.parse(targetsJson);
  } catch (error) {
    throw new Error(`param litellmTargets is not JSON: ${error.message}`);
  }
  if (!targets || typeof targets !== 'object' || Array.isArray(targets))
    throw new Error('param litellmTargets must be a JSON object of targets by name');
  if (!Object.hasOwn(targets, 'default'))
    throw new Error('param litellmTargets must name one target "default"');
  return Object.entries(targets).map(([name, target]) => secretIdOf(name, target));
}

module.exports = async ({ resolveVariable }) => {
  const targets = String((await resolveVariable('param:litellmTargets')) ?? '').trim();
  const ids = targets ? secretIdsOf(targets) : [String(await resolveVariable('param:masterKeySecretId'))];
  const resources = [...new Set(ids)].map(resourceOf);
  // One target keeps the template a single-target deployment always had.
  return { resources: resources.length === 1 ? resources[0] : resources };
};
